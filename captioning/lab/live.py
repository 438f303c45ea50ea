"""try_it: a photo, its caption and what is behind it, live, as a learner moves the controls.

The view is ipywidgets wired to a `Captioner`: the package's decoding (`resolve_decoding`, `decode`),
its caption figure (`render.captions.show_caption`), the next-word table (`lab.stepwise`) and the
gate heatmaps of notebook 04 (`decoder.search.trace_gates`, `lab.plots.plot_gates`). A photo's CNN
features are computed once and cached, and each figure is kept per (photo, checkpoint, caption),
so moving a control redraws only what changed. Every failure (an unreadable upload, an
inconsistent setting) becomes one line in the message area, never a traceback. The widgets and
their layout are in lab.live_controls, what the panels draw in lab.live_panels."""

from __future__ import annotations

import hashlib
import html
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from IPython.display import HTML, display
from IPython.display import Image as ImageOutput
from PIL import Image

from ..decoder.decode_config import DecodeConfig
from ..decoder.ensemble import Ensemble
from ..decoder.search import Hypothesis
from ..images.discovery import discover_images
from ..images.errors import ImageError, printable
from ..images.loading import load_image
from ..render.captions import show_caption
from ..tools.captioner import Captioner
from .live_controls import (
    DECODING,
    PHOTO_PX,
    WIDE_PX,
    arrange,
    decoding_for,
    default_values,
    describe,
    grey_out,
    make_controls,
    make_panels,
    show_in_picker,
)
from .live_panels import (
    Photo,
    checkpoint_options,
    figure_bytes,
    gate_figure,
    image_from_bytes,
    nbest_html,
    nbest_title,
)
from .stepwise import next_words, next_words_html

STATIC_NOTE = "(the live view's controls and panels: run this notebook in Jupyter, e.g. with make lab)"


class LiveApp:
    """The live view of one captioner: controls, a photo cache, and panels updated on every change
    (app.view is the widget to display; app.state holds the last update's numbers)."""

    def __init__(self, captioner: Captioner, samples: str | Path | None = None, *, top_k: int = 5,
                 max_units: int = 32, dpi: int = 80) -> None:
        self.options = checkpoint_options(captioner)
        self.default = captioner.default_decoding
        self.top_k, self.max_units, self.dpi = top_k, max_units, dpi
        found = discover_images([samples])[0] if samples and Path(samples).is_dir() else []
        self.controls = make_controls(self.default, found, list(self.options))
        self.panels = make_panels()
        self.photos: dict[str, Photo] = {}
        self.renders: dict[tuple, Any] = {}  # drawn panels (see _cached)
        self.photo: Photo | None = None
        self._entry = ("", "")  # the photo's (value, label) in the picker
        self.state: dict[str, Any] = {}
        self._held = False  # set() changes several controls, then updates once; the picker follows a photo
        self.view = arrange(self.controls, self.panels)
        self._wire()

    # ------------------------------------------------------------------ wiring
    def _wire(self) -> None:
        c = self.controls
        c["sample"].observe(lambda ch: ch["new"] and not self._held and self._pick(ch["new"]), "value")
        c["path"].observe(lambda ch: ch["new"].strip() and self._on_path(ch["new"].strip()), "value")
        c["upload"].observe(lambda ch: self._on_upload(ch["new"]), "value")
        for name in DECODING:
            c[name].observe(lambda _: self._held or self._guarded(self.update), "value")
        c["strategy"].observe(lambda _: grey_out(c), "value")
        grey_out(c)

    def _guarded(self, action: Callable[[], Any]) -> bool:
        """Run action; any error becomes one line in the message area (the last photo stays).
        True when it ran without one."""
        try:
            action()
        except Exception as err:  # the learner sees a line, not a traceback
            text = str(err) if isinstance(err, ImageError) else f"{type(err).__name__}: {err}"
            self.message(printable(" ".join(text.split())), error=True)
            return False
        return True

    def message(self, text: str, error: bool = False) -> None:
        """Show one line above the results (red for a problem)."""
        color = "#b00020" if error else "#333"
        if error:
            self.panels["timing"].value = ""
        self.panels["message"].value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    # ------------------------------------------------------------------ photos
    def load(self, source: str | Path) -> bool:
        """Caption a photo file (a sample or a path); its features are computed once per file version,
        and the photo picker names it. False when it could not be read (the message line says why)."""
        def read() -> None:
            path = Path(source).expanduser()
            key = f"path:{path.resolve()}:{path.stat().st_mtime_ns if path.is_file() else 0}"
            self._use(key, path.name, lambda: load_image(path), (str(source), f"{path.name} (path)"))
        return self._guarded(read)

    def upload(self, name: str, data: bytes) -> None:
        """Caption an uploaded file's bytes (as FileUpload gives them); the picker lists it."""
        key = "upload:" + hashlib.sha1(data).hexdigest()
        self._guarded(lambda: self._use(key, name, lambda: image_from_bytes(name, data), (key, f"{name} (upload)")))

    def _pick(self, value: str) -> None:
        """A photo chosen in the picker: a file, or an upload while it is still kept. When it cannot
        be shown, the picker goes back to the photo on show."""
        if value.startswith("upload:"):
            name = next(label for label, v in self.controls["sample"].options if v == value).removesuffix(" (upload)")
            shown = self._guarded(lambda: self._use(value, name, lambda: _gone(name), (value, f"{name} (upload)")))
        else:
            shown = self.load(value)
        if not shown and self.photo is not None:
            self._name_in_picker(self._entry)

    def _on_path(self, text: str) -> None:
        if self.load(text):  # the picker names it now; an empty box lets Enter on the same path reload
            self.controls["path"].value = ""

    def _on_upload(self, files: Sequence[dict]) -> None:
        if files:
            self.upload(files[0]["name"], bytes(files[0]["content"]))
            self.controls["upload"].value = ()  # so that uploading the same file again fires too

    def _use(self, key: str, name: str, read: Callable[[], Image.Image], entry: tuple[str, str]) -> None:
        if key not in self.photos:
            image = read()
            features = next(iter(self.options.values())).encode([image])
            self.photos = dict(list(self.photos.items())[-31:])  # keep the last 32 photos
            self.photos[key] = Photo(name, key, image, features)
        self.photo, self._entry = self.photos[key], entry
        self._name_in_picker(entry)
        self.update()

    def _name_in_picker(self, entry: tuple[str, str]) -> None:
        """Select the photo's entry in the picker (adding it if need be) without loading it again."""
        self._held = True
        try:
            show_in_picker(self.controls["sample"], *entry)
        finally:
            self._held = False

    # ------------------------------------------------------------------ one update
    def set(self, **values: Any) -> dict[str, Any]:
        """Set several controls by name (strategy="beam", beam=5, ...), then update once; returns
        the new state. What a learner does with the mouse, from code."""
        self._held = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._held = False
        self._guarded(self.update)
        return self.state

    def reset(self) -> dict[str, Any]:
        """Put every decoding control back to the checkpoint's default (what the view opened on)."""
        return self.set(**default_values(self.default, list(self.options)))

    def values(self) -> dict[str, Any]:
        return {name: self.controls[name].value for name in DECODING}

    def update(self) -> None:
        """Decode the current photo with the controls' settings and redraw the panels."""
        if self.photo is None:
            self.message("pick a sample, type a path or upload a photo")
            return
        start = time.perf_counter()
        values = self.values()
        captioner = self.options[values["checkpoint"]]
        cfg = decoding_for(captioner, values)
        hyps = captioner.caption_features(self.photo.features, cfg)[0]
        best, photo, p = hyps[0], self.photo, self.panels
        caption = (photo.key, tuple(best.tokens), best.finished)
        p["photo"].value = self._cached(("photo", photo.key, best.text), lambda: figure_bytes(
            show_caption(photo.image, best.text, width_in=PHOTO_PX / self.dpi), "jpeg", self.dpi))
        p["nbest_title"].value, p["nbest"].value = nbest_title(cfg, len(hyps)), nbest_html(hyps)
        p["steps_title"].value = (f"<b>next words, step by step</b> ({values['checkpoint']}): the "
                                  f"{self.top_k} most likely words after each word read, the word taken boxed")
        p["steps"].value = self._cached(("steps", values["checkpoint"], *caption), lambda: next_words_html(
            next_words(captioner.decoder, photo.features[0], best.tokens, captioner.vocab, self.top_k,
                       best.finished)))
        first = time.perf_counter() - start
        text = f"{photo.name} · {values['checkpoint']} · {describe(cfg, len(hyps))}"
        self._report(text, cfg, hyps, first, None)
        self._gates(captioner, values["checkpoint"], best, caption)  # last: the rest is on screen
        self._report(text, cfg, hyps, first, time.perf_counter() - start - first)

    def _report(self, text: str, cfg: DecodeConfig, hyps: list[Hypothesis], first: float,
                gates: float | None) -> None:
        """Record the state, show the line, and the seconds the caption panels took (what the
        learner sees first) and, once they are drawn, the gates."""
        self.state = {"decoding": cfg, "hypotheses": hyps, "caption": hyps[0].text, "first_seconds": first,
                      "seconds": first + (gates or 0.0), "gates_drawn": gates is not None}
        self.message(text)
        tail = "" if gates is None else f", gates in {1e3 * gates:.0f} ms"
        self.panels["timing"].value = f"<span style='color:#777'>&nbsp;· caption in {1e3 * first:.0f} ms{tail}</span>"

    def _cached(self, key: tuple, make: Callable[[], Any]) -> Any:
        """A panel's content, made once per key: the panels repeat while the controls move."""
        if key not in self.renders:
            if len(self.renders) >= 64:
                self.renders.pop(next(iter(self.renders)))
            self.renders[key] = make()
        return self.renders[key]

    def _gates(self, captioner: Captioner, name: str, best: Hypothesis, caption: tuple) -> None:
        """The gates of the decoder (an ensemble's first member) reading the caption, drawn as in
        notebook 04 at the panel's width: the most varying units, and where the forget gate dips."""
        decoder = captioner.decoder
        single = decoder.members[0] if isinstance(decoder, Ensemble) else decoder
        whose = "member 0 of the ensemble" if single is not decoder else name
        title = f"<b>gates of {whose}</b> reading the caption (the {self.max_units} most varying units)"
        if single.cfg.cell == "rnn":
            title, self.panels["gates"].value = f"<b>gates</b>: {whose} is a plain RNN, it has none", b""
        else:
            words = ["<start>", *(captioner.vocab.itos[t] for t in best.tokens)]
            self.panels["gates"].value = self._cached(("gates", id(single), *caption), lambda: figure_bytes(
                gate_figure(single, self.photo.features[0], words, best.tokens, max_units=self.max_units,
                            width_in=WIDE_PX / self.dpi), "png", self.dpi))
        self.panels["gates_title"].value = title

    # ------------------------------------------------------------------ static copy
    def snapshot(self) -> None:
        """Display the current state as plain outputs (photo, n-best table, the two charts): what a
        page that does not run widgets shows, and a way to keep one setting while trying another."""
        p = self.panels
        display(HTML(p["message"].value), ImageOutput(data=bytes(p["photo"].value), format="jpeg"),
                HTML(p["nbest_title"].value + p["nbest"].value), HTML(p["steps_title"].value),
                HTML(p["steps"].value), HTML(p["gates_title"].value))
        if len(p["gates"].value):
            display(ImageOutput(data=bytes(p["gates"].value), format="png"))


def _gone(name: str) -> Image.Image:
    raise ImageError(name, "uploaded earlier but no longer kept (the view keeps 32 photos): upload it again")


def try_it(checkpoint: str | Path | Sequence[str | Path] | None = None,
           samples: str | Path | None = "data/samples", photo: str | Path | None = None, *,
           device: str = "auto", runtime: str = "auto", top_k: int = 5, max_units: int = 32,
           show: bool = True) -> LiveApp:
    """Load a checkpoint (default: the shipped ensemble), build the live view on `photo` (a path,
    default: the first of the `samples` folder's photos) and display it; returns the app
    (app.set(...) moves its controls from code, app.reset() puts them back, app.snapshot() draws
    it statically)."""
    captioner = Captioner.from_pretrained(checkpoint, device=device, runtime=runtime)
    app = LiveApp(captioner, samples, top_k=top_k, max_units=max_units)
    first = photo if photo is not None else next((v for _, v in app.controls["sample"].options), None)
    if first is not None:
        app.load(first)  # the picker selects its sample, or lists it
    else:
        app.update()  # asks for a photo
    if show:  # a page that runs no widgets shows the text instead
        display(app.view._repr_mimebundle_() | {"text/plain": STATIC_NOTE}, raw=True)
    return app
