"""What the live view (lab.live) draws in its panels: the checkpoints to choose from, an uploaded
photo, the n-best table, and the photo and gate figures as image bytes, each drawn at the pixel
width its panel declares (lab.live_controls), so a browser shows it at its own size."""

from __future__ import annotations

import html
import io
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor

from ..decoder.decode_config import DecodeConfig
from ..decoder.ensemble import Ensemble
from ..decoder.model import CaptionDecoder
from ..decoder.search import Hypothesis, trace_gates
from ..images.errors import ImageError
from ..images.loading import load_image
from ..tools.captioner import Captioner
from .gates import gate_events
from .live_controls import counts
from .plots import plot_gates


@dataclass
class Photo:
    """A photo ready to caption: its name, a cache key, the RGB image and its CNN features [1, F]."""

    name: str
    key: str
    image: Image.Image
    features: Tensor


def checkpoint_options(captioner: Captioner) -> dict[str, Captioner]:
    """The checkpoints to choose from: the model itself and, for an ensemble, each member alone
    (sharing the encoder, vocabulary and default decoding)."""
    decoder = captioner.decoder
    if not isinstance(decoder, Ensemble):
        return {"the checkpoint": captioner}
    members = {f"member {i}": Captioner(captioner.encoder, m, captioner.vocab, captioner.default_decoding)
               for i, m in enumerate(decoder.members)}
    return {f"ensemble of {len(members)}": captioner, **members}


def image_from_bytes(name: str, data: bytes) -> Image.Image:
    """An uploaded file's bytes as an RGB image, read by images.load_image (EXIF, alpha, bombs);
    a bad file raises ImageError whose message names the upload, not a temporary file."""
    safe = re.sub(r"[^\w.-]", "_", Path(name).name)[-100:] or "upload"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / safe
        path.write_bytes(data)
        try:
            return load_image(path)
        except ImageError as err:
            raise ImageError(name, err.reason) from None


def nbest_title(cfg: DecodeConfig, shown: int) -> str:
    """The heading over the n-best table: what it lists and, when sampling, how many of the draws
    were distinct (a caption drawn twice is listed once)."""
    if cfg.strategy == "sample":
        return f"<b>samples</b>: {counts(cfg, shown)}, highest log p first"
    if cfg.strategy == "greedy":
        return "<b>the greedy caption</b>"
    return f"<b>n-best list</b>: {counts(cfg, shown)}, best score first"


def nbest_html(hyps: Sequence[Hypothesis]) -> str:
    """The n-best list as an HTML table, best (highest score) first and bold: caption, its total
    log-probability and the ranking score (log p over the length penalty's norm)."""
    rows = []
    for i, h in enumerate(hyps):
        text = html.escape(h.text or "(no caption)") + ("" if h.finished else " (cut at max length)")
        cells = [str(i + 1), text, f"{h.logprob:.2f}", f"{h.score:.2f}"]
        cells = [f"<b>{c}</b>" for c in cells] if i == 0 else cells
        rows.append("<tr><td>{}</td><td style='text-align:left'>{}</td><td>{}</td><td>{}</td></tr>".format(*cells))
    head = "<tr><th>#</th><th style='text-align:left'>caption</th><th>log p</th><th>score</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def figure_bytes(fig: Figure, fmt: str, dpi: int) -> bytes:
    """A figure as JPEG (photos: a tenth of a PNG's bytes) or PNG (charts) bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, **({"pil_kwargs": {"quality": 85}} if fmt == "jpeg" else {}))
    return buf.getvalue()


def gate_figure(decoder: CaptionDecoder, feature: Tensor, words: list[str], tokens: list[int], *,
                max_units: int, width_in: float) -> Figure:
    """The gates of `decoder` reading the caption (words: <start> and the caption's words), drawn as
    in notebook 04 (the most varying units, the words where the forget or update gate dips), at
    width_in inches with the words under every panel."""
    gates = trace_gates(decoder, feature, tokens)
    events = next((gate_events(words, gates, g) for g in ("forget", "update") if g in gates), [])
    return plot_gates(words, gates, max_units=max_units, units="variance", events=events, width=width_in,
                      words_on_every_panel=True)
