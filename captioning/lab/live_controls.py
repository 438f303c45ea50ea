"""The live view's controls (lab.live): the widgets, set to a checkpoint's default decoding, and
how their values become a DecodeConfig, through the same resolver as the CLI and the API."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..decoder.decode_config import DecodeConfig
from ..tools.captioner import Captioner

STRATEGIES = ("greedy", "beam", "sample")
DECODING = ("strategy", "beam", "n_best", "length_penalty", "temperature", "top_p", "seed", "checkpoint")


def make_controls(default: DecodeConfig, samples: Sequence[Path], checkpoints: Sequence[str]) -> dict[str, w.Widget]:
    """The widgets, by name, set to the checkpoint's default decoding."""
    def slider(kind: type, label: str, value: float, lo: float, hi: float, step: float) -> w.Widget:
        return kind(value=value, min=lo, max=hi, step=step, description=label, continuous_update=False,
                    style={"description_width": "110px"})

    return {
        "sample": w.Dropdown(options=[(p.name, str(p)) for p in samples], value=None, description="sample"),
        "path": w.Text(placeholder="a path, then Enter", description="path", continuous_update=False),
        "upload": w.FileUpload(accept="image/*", multiple=False, description="upload"),
        "strategy": w.ToggleButtons(options=STRATEGIES, value=default.strategy, description="decoding"),
        "beam": slider(w.IntSlider, "beam width", default.beam_size, 1, 10, 1),
        "n_best": slider(w.IntSlider, "n-best (≤ beam)", max(default.n_best, 3), 1, 10, 1),
        "length_penalty": slider(w.FloatSlider, "length penalty", default.length_penalty, 0, 2, 0.1),
        "temperature": slider(w.FloatSlider, "temperature", default.temperature, 0, 2, 0.05),
        "top_p": slider(w.FloatSlider, "top-p", default.top_p, 0.05, 1, 0.05),
        "seed": w.IntText(value=default.seed or 0, description="seed"),
        "checkpoint": w.Dropdown(options=list(checkpoints), description="checkpoint"),
    }


def decoding_for(captioner: Captioner, values: dict[str, Any]) -> DecodeConfig:
    """The controls' values as the checkpoint's decoding with overrides (resolve_decoding's rules):
    greedy, beam search of `beam` (n-best at most the beam width, ranked with the length penalty)
    or n_best seeded samples. A control greyed out for the strategy has no effect."""
    n, beam = int(values["n_best"]), int(values["beam"])
    if values["strategy"] == "sample":
        return captioner.decode_config(sample=True, n_best=n, temperature=float(values["temperature"]),
                                       top_p=float(values["top_p"]), seed=int(values["seed"]),
                                       length_penalty=0.0)
    if values["strategy"] == "greedy" or beam == 1:
        return captioner.decode_config(beam_size=1, n_best=1, length_penalty=0.0)
    return captioner.decode_config(beam_size=beam, n_best=min(n, beam),
                                   length_penalty=float(values["length_penalty"]))


def describe(cfg: DecodeConfig) -> str:
    """The decoding in a few words: "beam-5, 5 captions, length penalty 0.6", "sample, T 0.7, ..."."""
    parts = [cfg.name] + ([f"{cfg.n_best} captions"] if cfg.n_best > 1 else [])
    if cfg.strategy == "sample":
        parts += [f"temperature {cfg.temperature:g}", f"top-p {cfg.top_p:g}", f"seed {cfg.seed}"]
    if cfg.length_penalty:
        parts.append(f"length penalty {cfg.length_penalty:g}")
    return ", ".join(parts)


def grey_out(controls: dict[str, w.Widget]) -> None:
    """Disable the controls the chosen strategy ignores (the length penalty ranks beams only)."""
    strategy = controls["strategy"].value
    controls["beam"].disabled = controls["length_penalty"].disabled = strategy != "beam"
    controls["n_best"].disabled = strategy == "greedy"
    for name in ("temperature", "top_p", "seed"):
        controls[name].disabled = strategy != "sample"
