"""The live notebook's view (lab.live), headless: controls set programmatically fire their observers,
and the panels show what the package's decoding gives; uploads of a JPEG, an RGBA PNG and a
corrupt file; every failure is one line in the message area. Also lab.stepwise's numbers."""

from __future__ import annotations

import copy
import datetime
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from captioning.decoder.ensemble import Ensemble
from captioning.lab import live
from captioning.lab.live import LiveApp, try_it
from captioning.lab.stepwise import next_words, next_words_html
from captioning.tools.captioner import Captioner

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
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
