"""The live notebook's view (lab.live), headless: controls set programmatically fire their observers,
and the panels show what the package's decoding gives; uploads of a JPEG, an RGBA PNG and a
corrupt file; every failure is one line in the message area; the declared widths fit a 960-px
output area, figures are drawn at the size they are shown, the picker names the photo on show,
and notebook 07 run top to bottom leaves the view at its default. Also lab.stepwise's numbers."""

from __future__ import annotations

import copy
import datetime
import io
import json
import shutil
from pathlib import Path

import ipywidgets as w
import numpy as np
import pytest
import torch
from PIL import Image

from captioning.decoder.ensemble import Ensemble
from captioning.lab import live
from captioning.lab.live import LiveApp, try_it
from captioning.lab.live_controls import MARGIN_PX, PHOTO_PX, VIEW_PX, WIDE_PX, default_values
from captioning.lab.live_panels import gate_figure
from captioning.lab.stepwise import next_words, next_words_html
from captioning.tools.captioner import Captioner

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
JPEG = SAMPLES / "000000574520.jpg"


@pytest.fixture(scope="module")
def ensemble(tiny_checkpoint: Path) -> Captioner:
    """The tiny checkpoint and a perturbed copy of it, as a two-member ensemble (greedy default)."""
    base = Captioner.from_pretrained(tiny_checkpoint, device="cpu", runtime="torch")
    other = copy.deepcopy(base.decoder)
    torch.manual_seed(1)
    with torch.no_grad():
        other.out.weight.add_(3 * torch.randn_like(other.out.weight))
    return Captioner(base.encoder, Ensemble([base.decoder, other]), base.vocab, base.default_decoding)


@pytest.fixture
def app(ensemble: Captioner, core_one_thread) -> LiveApp:
    app = LiveApp(ensemble, SAMPLES, dpi=40)
    app.controls["sample"].value = str(JPEG)  # fires the photo's load and the first update
    return app


def _message(app: LiveApp) -> str:
    return app.panels["message"].value


def _upload(app: LiveApp, name: str, data: bytes) -> None:
    """What the browser does: set FileUpload's value (ipywidgets 8 format); the observer runs."""
    when = datetime.datetime.now(datetime.timezone.utc)
    app.controls["upload"].value = ({"name": name, "type": "", "size": len(data),
                                     "content": memoryview(data), "last_modified": when},)


def _is_picture(value, magic: bytes) -> bool:
    return bytes(value).startswith(magic)


def test_controls_drive_the_decoding_and_the_panels(app: LiveApp, ensemble: Captioner) -> None:
    c = app.controls
    assert [name for name, _ in c["sample"].options] == sorted(p.name for p in SAMPLES.glob("*.jpg"))
    assert app.state["caption"] == ensemble(JPEG)["caption"]  # the checkpoint's default: greedy
    c["strategy"].value, c["n_best"].value = "beam", 5
    c["beam"].value = 1
    assert app.state["decoding"].name == "greedy" and len(app.state["hypotheses"]) == 1
    assert app.panels["nbest"].value.count("<tr") == 2 and _message(app).endswith("· greedy</span>")
    c["beam"].value = 5
    hyps = app.state["hypotheses"]
    assert app.state["decoding"].name == "beam-5" and len(hyps) == 5
    assert app.panels["nbest"].value.count("<tr") == 6 and "beam-5, 5 captions" in _message(app)
    expected = ensemble(JPEG, beam_size=5, n_best=5)
    assert [h.text for h in hyps] == [a["caption"] for a in expected["alternatives"]]
    assert app.state["caption"] == expected["caption"] and expected["caption"] in app.panels["nbest"].value
    assert _is_picture(app.panels["photo"].value, b"\xff\xd8")  # the photo with its caption: JPEG
    assert _is_picture(app.panels["gates"].value, b"\x89PNG")
    steps = app.panels["steps"].value  # one row per step, the word taken boxed in each
    assert steps.count("<tr>") == len(hyps[0].tokens) + hyps[0].finished + 1 == steps.count("outline") + 1
    assert "\n" not in _message(app) and "#b00020" not in _message(app)
    assert app.state["gates_drawn"] and 0 < app.state["first_seconds"] <= app.state["seconds"]
    assert "caption in" in app.panels["timing"].value and "gates in" in app.panels["timing"].value


def test_checkpoint_choice_sampling_and_greyed_out_controls(app: LiveApp, ensemble: Captioner) -> None:
    c = app.controls
    assert c["checkpoint"].options == ("ensemble of 2", "member 0", "member 1")
    c["checkpoint"].value = "member 1"
    alone = Captioner(ensemble.encoder, ensemble.decoder.members[1], ensemble.vocab, ensemble.default_decoding)
    assert app.state["caption"] == alone(JPEG)["caption"] and "member 1" in _message(app)
    assert c["temperature"].disabled and c["beam"].disabled
    c["strategy"].value, c["n_best"].value, c["seed"].value = "sample", 3, 7
    assert not c["temperature"].disabled and not c["top_p"].disabled and c["beam"].disabled
    first = [h.text for h in app.state["hypotheses"]]
    assert "seed 7" in _message(app) and 1 <= len(first) <= 3
    c["seed"].value = 8
    c["seed"].value = 7
    assert [h.text for h in app.state["hypotheses"]] == first  # seeded: the same samples again
    state = app.set(strategy="beam", beam=4, n_best=2, checkpoint="ensemble of 2")  # one update
    assert state["decoding"].name == "beam-4" and len(state["hypotheses"]) == 2


def test_features_are_computed_once_per_photo(app: LiveApp, ensemble: Captioner,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    encode = ensemble.encode
    monkeypatch.setattr(ensemble, "encode", lambda images: calls.append(1) or encode(images))
    for width in (2, 3, 4):
        app.controls["beam"].value = width
    app.controls["sample"].value = str(SAMPLES / "000000550691.jpg")
    app.controls["sample"].value = str(JPEG)
    _upload(app, "again.jpg", JPEG.read_bytes())
    _upload(app, "again.jpg", JPEG.read_bytes())
    assert len(calls) == 2  # the new sample and the upload (new bytes); the rest came from the cache
    assert app.controls["upload"].value == ()  # emptied, so the same file can be uploaded again


def test_uploads_a_jpeg_an_rgba_png_and_a_corrupt_file(app: LiveApp, ensemble: Captioner) -> None:
    _upload(app, "photo.jpg", JPEG.read_bytes())
    assert app.state["caption"] == ensemble(JPEG)["caption"] and "photo.jpg ·" in _message(app)
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, np.linspace(0, 255, 64, dtype=np.uint8)  # red, fading in
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    _upload(app, "alpha.png", buf.getvalue())
    png_caption = app.state["caption"]
    assert "alpha.png ·" in _message(app) and _is_picture(app.panels["photo"].value, b"\xff\xd8")
    assert png_caption == ensemble(Image.open(io.BytesIO(buf.getvalue())))["caption"]
    for name, data in (("broken.jpg", JPEG.read_bytes()[:300]), ("notes.png", b"not an image at all")):
        _upload(app, name, data)
        text = _message(app)
        assert text.count("\n") == 0 and "Traceback" not in text and "#b00020" in text
        assert f"{name}: " in text and ("corrupt" in text or "not an image" in text)
        assert app.state["caption"] == png_caption  # the last good photo stays on screen


def test_every_failure_is_one_line(app: LiveApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app.controls["path"].value = str(tmp_path / "missing.jpg")
    assert "missing.jpg: no such file" in _message(app)
    app.controls["path"].value = str(tmp_path)
    assert "is a folder" in _message(app)

    def broken(*args, **kwargs):
        raise RuntimeError("the decoder broke\nsomewhere deep")

    monkeypatch.setattr(app.options["ensemble of 2"], "caption_features", broken)
    app.controls["n_best"].value = 2
    assert "RuntimeError: the decoder broke somewhere deep" in _message(app)
    assert "\n" not in _message(app)


def test_snapshot_shows_the_state_as_plain_outputs(app: LiveApp, monkeypatch: pytest.MonkeyPatch) -> None:
    shown = []
    monkeypatch.setattr(live, "display", lambda *objs: shown.extend(objs))
    app.snapshot()
    kinds = [type(o).__name__ for o in shown]
    assert kinds == ["HTML", "Image", "HTML", "HTML", "HTML", "HTML", "Image"]
    assert shown[1].format == "jpeg" and shown[6].format == "png" and "after &lt;start&gt;" in shown[4].data
    assert app.state["caption"] in shown[2].data


def test_try_it_opens_on_the_first_sample(tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch,
                                          core_one_thread) -> None:
    shown = []
    monkeypatch.setattr(live, "display", lambda *objs, **kwargs: shown.extend(objs))
    app = try_it(tiny_checkpoint, samples=SAMPLES, device="cpu", runtime="torch")
    (bundle,) = shown  # the widget, and a line for pages that run no widgets
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == app.view.model_id
    assert "make lab" in bundle["text/plain"] and app.state["caption"]
    assert _message(app).startswith("<span style='color:#333'>000000529762.jpg ·")
    other = try_it(tiny_checkpoint, samples=SAMPLES, photo=JPEG, device="cpu", runtime="torch", show=False)
    assert other.controls["sample"].value == str(JPEG) and other.state["caption"]  # a sample: picked
    empty = try_it(tiny_checkpoint, samples=None, device="cpu", runtime="torch", show=False)
    assert "upload a photo" in _message(empty) and not empty.state


def test_next_words_add_up_to_the_caption_logprob(ensemble: Captioner) -> None:
    features = ensemble.encode(Image.open(JPEG))
    for decoder in (ensemble.decoder, ensemble.decoder.members[0]):
        one = Captioner(ensemble.encoder, decoder, ensemble.vocab)
        for hyp in one.caption_features(features, one.decode_config(beam_size=3, n_best=3))[0]:
            table = next_words(decoder, features[0], hyp.tokens, ensemble.vocab, k=4, finished=hyp.finished)
            assert table.logprob == pytest.approx(hyp.logprob, abs=1e-4)
            assert len(table.inputs) == len(hyp.tokens) + hyp.finished == len(table.top_words)
            assert table.chosen[-1] == ("<end>" if hyp.finished else ensemble.vocab.itos[hyp.tokens[-1]])
            assert all(p == sorted(p, reverse=True) and len(p) == 4 for p in table.top_probs)
    text = next_words_html(table)
    assert text.count("<tr>") == len(table.inputs) + 1 and text.count("outline") == len(table.inputs)


# ------------------------------------------------------------------ fits, tells the truth
def _px(widget: w.Widget) -> int:
    width = widget.layout.width or ""
    assert width.endswith("px"), f"{type(widget).__name__} {getattr(widget, 'description', '')!r} declares no width"
    return int(width[:-2])


def _across(widget: w.Widget) -> int:
    """The pixels a widget takes across: a box its declared width, which holds its content (an
    HBox's children side by side, a VBox's widest), any other widget its width plus its margin."""
    if not isinstance(widget, w.Box):
        return _px(widget) + MARGIN_PX
    inner = [_across(child) for child in widget.children]
    content = sum(inner) if isinstance(widget, w.HBox) else max(inner, default=0)
    if widget.layout.width:
        assert _px(widget) >= content, f"a box of {_px(widget)} px holds {content} px"
        return _px(widget)
    return content


def test_the_view_fits_a_960_px_output_area(app: LiveApp) -> None:
    rows = app.view.children
    assert [_across(row) for row in rows] and max(_across(row) for row in rows) <= VIEW_PX
    assert _across(app.view) <= VIEW_PX == int(app.view.layout.max_width[:-2])
    label = 8  # ipywidgets' gap after a description
    for name, control in app.controls.items():
        style = {k: int(v[:-2]) for k, v in control.style.get_state().items() if str(v).endswith("px")}
        inside = style.get("description_width", 0) + label * bool(control.description)
        if isinstance(control, w.ToggleButtons):  # each button has its width and 2 px a side
            inside += len(control.options) * (style["button_width"] + MARGIN_PX)
        elif isinstance(control, w.IntSlider | w.FloatSlider):  # a 100-px track at least, and the
            inside += 12 + 100 + 4 + 72  # handle's room, the readout's margin and its 72-px minimum
        assert inside <= _px(control), f"{name}: {inside} px of content in {_px(control)} px"


def test_figures_are_drawn_at_the_size_they_are_shown(app: LiveApp, ensemble: Captioner) -> None:
    for name, width in (("photo", PHOTO_PX), ("gates", WIDE_PX)):
        drawn = Image.open(io.BytesIO(bytes(app.panels[name].value)))
        assert drawn.width == width == _px(app.panels[name])  # no upscaling in the browser
    best = app.state["hypotheses"][0]
    words = ["<start>", *(ensemble.vocab.itos[t] for t in best.tokens)]
    fig = gate_figure(ensemble.decoder.members[0], app.photo.features[0], words, best.tokens, max_units=8,
                      width_in=WIDE_PX / 80)
    assert fig.get_size_inches()[0] * 80 == pytest.approx(WIDE_PX)
    heatmaps = [ax for ax in fig.axes if ax.get_ylabel() == "unit"]
    assert len(heatmaps) == 3  # the LSTM's input, forget and output gates
    fig.canvas.draw()
    for ax in fig.axes[:len(heatmaps) + 2]:  # the heatmaps, the mean and the cell-norm panels
        assert [label.get_text() for label in ax.get_xticklabels()] == words


def test_the_picker_names_the_photo_on_show(app: LiveApp, ensemble: Captioner, tmp_path: Path) -> None:
    picker, path = app.controls["sample"], app.controls["path"]
    mine = tmp_path / "mine.jpg"
    shutil.copy(SAMPLES / "000000550691.jpg", mine)
    path.value = str(mine)
    assert app.photo.name == "mine.jpg" and (picker.label, picker.value) == ("mine.jpg (path)", str(mine))
    assert path.value == ""  # emptied: Enter on the same path again is a change, so it reloads
    picker.value = str(JPEG)  # the sample shown before the path: chosen again, it is shown again
    assert app.photo.name == JPEG.name and picker.label == JPEG.name
    assert app.state["caption"] == ensemble(JPEG)["caption"]
    shutil.copy(JPEG, mine)  # the file changes, and the same path is typed again: it is read again
    path.value = str(mine)
    assert app.photo.name == "mine.jpg" and picker.value == str(mine)
    assert app.photo.image.size == Image.open(JPEG).size != Image.open(SAMPLES / "000000550691.jpg").size
    assert [label for label, _ in picker.options].count("mine.jpg (path)") == 1
    _upload(app, "up.jpg", (SAMPLES / "000000529762.jpg").read_bytes())
    assert app.photo.name == "up.jpg" and picker.label == "up.jpg (upload)"
    upload = picker.value
    picker.value = str(mine)
    picker.value = upload  # an upload stays in the picker while its features are kept
    assert app.photo.name == "up.jpg" and "up.jpg ·" in _message(app)
    before = len(picker.options)
    path.value = str(SAMPLES / "000000550691.jpg")  # a sample typed as a path: its own entry is chosen
    assert picker.value == str(SAMPLES / "000000550691.jpg") and len(picker.options) == before
    path.value = str(tmp_path / "missing.jpg")
    assert "no such file" in _message(app) and picker.label == "000000550691.jpg"  # still the photo on show


def test_sampling_says_how_many_distinct_captions_it_shows(app: LiveApp) -> None:
    state = app.set(strategy="sample", n_best=4, temperature=0.0)  # temperature 0: every draw is the argmax
    assert len(state["hypotheses"]) == 1 and app.controls["n_best"].description == "draws"
    assert "4 draws, 1 distinct" in _message(app) and "4 draws, 1 distinct" in app.panels["nbest_title"].value
    app.set(strategy="beam", beam=3, n_best=3)
    assert app.controls["n_best"].description == "n-best (≤ beam)"
    assert "3 captions" in app.panels["nbest_title"].value and "draws" not in _message(app)


def test_notebook_07_leaves_the_view_at_its_default(ensemble: Captioner, monkeypatch: pytest.MonkeyPatch,
                                                    core_one_thread) -> None:
    """The notebook's code cells, top to bottom, with the tiny ensemble in place of the shipped one:
    after the tour and the exercise the controls and the caption are those the view opened on."""
    monkeypatch.setattr(live.Captioner, "from_pretrained", staticmethod(lambda *args, **kwargs: ensemble))
    monkeypatch.setattr(live, "display", lambda *objs, **kwargs: None)
    monkeypatch.chdir(ROOT / "notebooks")
    (notebook,) = (ROOT / "notebooks").glob("07_*.ipynb")
    namespace, opened = {}, None
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "code":
            exec("".join(cell["source"]), namespace)  # the notebook's own code
            if opened is None and "app" in namespace:
                opened = namespace["app"].values(), namespace["app"].state["caption"]
    app = namespace["app"]
    assert len(namespace["tour"]) > 5 and namespace["check_nucleus"](namespace["my_nucleus"]).ok
    assert opened == (app.values(), app.state["caption"])
    assert app.values() == default_values(ensemble.default_decoding, list(app.options))
