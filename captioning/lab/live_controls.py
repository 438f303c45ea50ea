"""The live view's widgets (lab.live): the controls, set to a checkpoint's default decoding, how their
values become a DecodeConfig (through the same resolver as the CLI and the API), the panels, and
their layout. Every widget declares its width in pixels, so that the whole view fits JupyterLab's
output area with the file browser open (VIEW_PX); tests/lab/test_live.py adds the widths up."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..decoder.decode_config import DecodeConfig
from ..tools.captioner import Captioner

STRATEGIES = ("greedy", "beam", "sample")
DECODING = ("strategy", "beam", "n_best", "length_penalty", "temperature", "top_p", "seed", "checkpoint")
NBEST_LABELS = {"greedy": "n-best", "beam": "n-best (≤ beam)", "sample": "draws"}

VIEW_PX = 960  # the output area's width: 968 px in a 1400-px window with JupyterLab's file browser open
MARGIN_PX = 4  # ipywidgets' margin around every widget that is not a box: 2 px on each side
SOURCE_PX, CONTROL_PX = 300, 316  # the photo-source column; the search and the sampling columns
PHOTO_PX, NBEST_PX = 480, 456  # the captioned photo, and the n-best list beside it
WIDE_PX = 940  # the step-by-step table and the gate figure
MESSAGE_PX, TIMING_PX = 690, 246  # the line under the controls
LABEL_PX, BUTTON_PX = 80, 70  # the decoding buttons' description and each button


def px(width: int, **layout: Any) -> w.Layout:
    """A layout of this many pixels' width (and any other layout settings)."""
    return w.Layout(width=f"{width}px", **layout)


def default_values(default: DecodeConfig, checkpoints: Sequence[str]) -> dict[str, Any]:
    """The controls' values for a checkpoint's default decoding: what the view opens on, and what
    LiveApp.reset() goes back to. n-best starts at 3 (at most the beam width is listed)."""
    return {"strategy": default.strategy, "beam": default.beam_size, "n_best": max(default.n_best, 3),
            "length_penalty": default.length_penalty, "temperature": default.temperature,
            "top_p": default.top_p, "seed": default.seed or 0, "checkpoint": checkpoints[0]}


def make_controls(default: DecodeConfig, samples: Sequence[Path], checkpoints: Sequence[str]) -> dict[str, w.Widget]:
    """The widgets, by name, set to the checkpoint's default decoding."""
    start = default_values(default, checkpoints)
    style = {"description_width": "110px"}

    def slider(kind: type, name: str, label: str, lo: float, hi: float, step: float) -> w.Widget:
        return kind(value=start[name], min=lo, max=hi, step=step, description=label, continuous_update=False,
                    style=style, layout=px(CONTROL_PX))

    short = {"description_width": "60px"}
    return {
        "sample": w.Dropdown(options=[(p.name, str(p)) for p in samples], value=None, description="photo",
                             style=short, layout=px(SOURCE_PX)),
        "path": w.Text(placeholder="a path, then Enter", description="path", continuous_update=False,
                       style=short, layout=px(SOURCE_PX)),
        "upload": w.FileUpload(accept="image/*", multiple=False, description="upload", layout=px(150)),
        "strategy": w.ToggleButtons(options=STRATEGIES, value=start["strategy"], description="decoding",
                                    style={"description_width": f"{LABEL_PX}px", "button_width": f"{BUTTON_PX}px"},
                                    layout=px(CONTROL_PX)),
        "beam": slider(w.IntSlider, "beam", "beam width", 1, 10, 1),
        "n_best": slider(w.IntSlider, "n_best", NBEST_LABELS[start["strategy"]], 1, 10, 1),
        "length_penalty": slider(w.FloatSlider, "length_penalty", "length penalty", 0, 2, 0.1),
        "temperature": slider(w.FloatSlider, "temperature", "temperature", 0, 2, 0.05),
        "top_p": slider(w.FloatSlider, "top_p", "top-p", 0.05, 1, 0.05),
        "seed": w.IntText(value=start["seed"], description="seed", style=style, layout=px(CONTROL_PX)),
        "checkpoint": w.Dropdown(options=list(checkpoints), value=start["checkpoint"], description="checkpoint",
                                 style=style, layout=px(CONTROL_PX)),
    }


def make_panels() -> dict[str, w.Widget]:
    """The output panels, by name; each image panel is as wide as the figure drawn into it."""
    return {"message": w.HTML(layout=px(MESSAGE_PX)), "timing": w.HTML(layout=px(TIMING_PX)),
            "photo": w.Image(format="jpeg", layout=px(PHOTO_PX, align_self="flex-start")),
            "nbest_title": w.HTML(layout=px(NBEST_PX - MARGIN_PX)), "nbest": w.HTML(layout=px(NBEST_PX - MARGIN_PX)),
            "steps_title": w.HTML(layout=px(WIDE_PX)), "steps": w.HTML(layout=px(WIDE_PX, overflow_x="auto")),
            "gates_title": w.HTML(layout=px(WIDE_PX)), "gates": w.Image(format="png", layout=px(WIDE_PX))}


def arrange(c: dict[str, w.Widget], p: dict[str, w.Widget]) -> w.Widget:
    """The view: three columns of controls, the message line, the photo beside the n-best list, then
    the step-by-step table and the gates. Each column (a box, no margin) is as wide as its widgets."""
    column = SOURCE_PX + MARGIN_PX, CONTROL_PX + MARGIN_PX
    source = w.VBox([c["sample"], c["path"], c["upload"]], layout=px(column[0]))
    search = w.VBox([c["strategy"], c["beam"], c["n_best"], c["length_penalty"]], layout=px(column[1]))
    sampling = w.VBox([c["temperature"], c["top_p"], c["seed"], c["checkpoint"]], layout=px(column[1]))
    result = w.HBox([p["photo"], w.VBox([p["nbest_title"], p["nbest"]], layout=px(NBEST_PX))])
    return w.VBox([w.HBox([source, search, sampling]), w.HBox([p["message"], p["timing"]]), result,
                   p["steps_title"], p["steps"], p["gates_title"], p["gates"]], layout=w.Layout(max_width=f"{VIEW_PX}px"))


def show_in_picker(picker: w.Dropdown, value: str, label: str) -> None:
    """Make the photo picker name the photo on show: select `value`, or the entry for the same file,
    adding (label, value) when there is none (a photo loaded by path or uploaded)."""
    def same(v: str) -> Any:
        return v if v.startswith("upload:") else Path(v).expanduser().resolve()

    options = [(name, v) for name, v in picker.options if name != label or same(v) == same(value)]
    match = next((v for _, v in options if same(v) == same(value)), None)
    if match is None:
        options.append((label, match := value))
    if options != list(picker.options):
        picker.options = options
    picker.value = match


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


def counts(cfg: DecodeConfig, shown: int | None = None) -> str:
    """How many captions a decoding lists: "5 captions", or for sampling "3 draws, 2 distinct"
    (decoding lists a caption drawn twice once); shown is how many it listed."""
    shown = cfg.n_best if shown is None else shown
    if cfg.strategy == "sample":
        return f"{cfg.n_best} draw{'s' * (cfg.n_best > 1)}, {shown} distinct"
    return f"{shown} caption{'s' * (shown > 1)}" + (f" of {cfg.n_best} asked" if shown < cfg.n_best else "")


def describe(cfg: DecodeConfig, shown: int | None = None) -> str:
    """The decoding in a few words: "beam-5, 5 captions, length penalty 0.6", "sample, 3 draws,
    2 distinct, temperature 0.7, ..." (shown: how many captions it listed)."""
    parts = [cfg.name] + ([counts(cfg, shown)] if cfg.n_best > 1 else [])
    if cfg.strategy == "sample":
        parts += [f"temperature {cfg.temperature:g}", f"top-p {cfg.top_p:g}", f"seed {cfg.seed}"]
    if cfg.length_penalty:
        parts.append(f"length penalty {cfg.length_penalty:g}")
    return ", ".join(parts)


def grey_out(controls: dict[str, w.Widget]) -> None:
    """Disable the controls the chosen strategy ignores (the length penalty ranks beams only), and
    name the n-best control for what it counts (captions of a beam, or draws)."""
    strategy = controls["strategy"].value
    controls["beam"].disabled = controls["length_penalty"].disabled = strategy != "beam"
    controls["n_best"].disabled = strategy == "greedy"
    controls["n_best"].description = NBEST_LABELS[strategy]
    for name in ("temperature", "top_p", "seed"):
        controls[name].disabled = strategy != "sample"
