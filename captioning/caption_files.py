"""`captioning caption PATH...`: caption files, folders and globs in flat memory, resumably.

JPEG decoding and preprocessing run in DataLoader workers while the main process runs the
network; bad files are reported in one line and skipped. Records are written as they are
produced (see outputs.py), so a rerun with the same --output skips what is already there."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from .features import image_batches
from .images import ImageError, _printable, discover_images, load_image
from .outputs import CaptionWriter

if TYPE_CHECKING:
    from .captioner import Captioner
    from .decoding import DecodeConfig, Hypothesis

GRID_MAX = 50  # images in the --grid figure
_OVERLAY_SIDE, _THUMB_SIDE = 1024, 320


@dataclass
class CaptionSummary:
    """What a caption_paths run did: images captioned now, skipped (bad), resumed (done before)."""

    captioned: int = 0
    skipped: int = 0
    resumed: int = 0
    output: Path | None = None


def _say(message: str, file=None) -> None:
    """One line on stderr (or file) without breaking the progress bar."""
    tqdm.write(message, file=file or sys.stderr)
    (file or sys.stderr).flush()


def _record(path: str, hyps: Sequence[Hypothesis], n_best: int) -> dict:
    """One output record; log-probs are rounded so batch-size noise cannot change the file."""
    best = hyps[0]
    record = {"image": path, "caption": best.text, "logprob": round(best.logprob, 4)}
    if n_best > 1:
        record["alternatives"] = [{"caption": h.text, "logprob": round(h.logprob, 4)} for h in hyps]
    return record


def overlay_names(paths: Sequence[Path]) -> dict[str, Path]:
    """A PNG name per image: its path relative to the inputs' common folder, suffix -> .png;
    names that would collide (a.jpg, a.png) keep their suffix (a.jpg.png), then get -2, -3."""
    absolute = [os.path.abspath(p) for p in paths]
    root = os.path.commonpath([os.path.dirname(a) for a in absolute]) if absolute else ""
    relative = [os.path.relpath(a, root) for a in absolute]
    plain = [os.path.splitext(r)[0] + ".png" for r in relative]
    clashes = Counter(p.casefold() for p in plain)
    names, taken = {}, set()
    for path, rel, name in zip(paths, relative, plain):
        name = rel + ".png" if clashes[name.casefold()] > 1 else name
        stem, k = name[:-4], 2
        while name.casefold() in taken:
            name, k = f"{stem}-{k}.png", k + 1
        taken.add(name.casefold())
        names[str(path)] = Path(name)
    return names


def _is_ours(path: Path, overlay_dir: str | Path | None, grid: str | Path | None) -> bool:
    """Whether a discovered file is one of this command's own figures (from an earlier run)."""
    full = os.path.abspath(path)
    if grid is not None and full == os.path.abspath(grid):
        return True
    return overlay_dir is not None and full.startswith(os.path.join(os.path.abspath(overlay_dir), ""))


def _load_small(path: Path, side: int):
    """The original image again (for figures), shrunk to at most side pixels; None if unreadable."""
    try:
        image = load_image(path)
    except ImageError as exc:
        _say(f"no overlay for {exc}")
        return None
    image.thumbnail((side, side))
    return image


@contextlib.contextmanager
def _drawing() -> Iterator[None]:
    """Silence matplotlib's per-glyph warnings for file names in scripts its font lacks."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from")
        yield


def _save_overlay(path: Path, target: Path, hyps: Sequence[Hypothesis], n_best: int) -> None:
    from .visualize import save_figure, show_caption, show_nbest

    image = _load_small(path, _OVERLAY_SIDE)
    if image is None:
        return
    title = _printable(path.name)
    with _drawing():
        fig = (show_nbest(image, [(h.text, h.logprob) for h in hyps], title=title) if n_best > 1
               else show_caption(image, hyps[0].text, title=title))
        save_figure(fig, target)


def _save_grid(grid: str | Path, cells: list) -> None:
    from .visualize import caption_grid, save_figure

    if not cells:
        _say(f"no grid written to {grid}: nothing was captioned")
        return
    images, captions, titles = zip(*cells)
    with _drawing():
        save_figure(caption_grid(list(images), list(captions), titles=list(titles)), grid)


def caption_paths(captioner: Captioner, inputs: Sequence[str | Path], output: str | Path | None = None,
                  fmt: str | None = None, decode: DecodeConfig | None = None, batch_size: int = 32,
                  overlay_dir: str | Path | None = None, grid: str | Path | None = None,
                  limit: int | None = None, num_workers: int | None = None, progress: bool = True,
                  echo: bool = True) -> CaptionSummary:
    """Caption every image found in inputs (files, folders, globs); write records to output
    (.jsonl/.json/.csv), print "path<TAB>caption" lines when echo, optionally save overlays and
    a grid. Bad files are reported on stderr and skipped; images already in output are resumed.

    JSONL lines appear in completion order; JSON/CSV are sorted by discovery order. Records are
    written a whole batch at a time, so a killed run restarted with the same batch size sees the
    same batches and gives the same file as an uninterrupted one (seeded sampling excepted)."""
    if batch_size < 1 or (limit is not None and limit < 1) or (num_workers or 0) < 0:
        raise ValueError("--batch-size and --limit must be >= 1, --workers >= 0")
    if output is None and fmt is not None:
        raise ValueError("--format needs --output FILE")
    writer = CaptionWriter(output, fmt) if output is not None else None
    if overlay_dir is not None and Path(overlay_dir).is_file():
        raise ValueError(f"--overlay {overlay_dir}: is a file, not a folder")
    if grid is not None and Path(grid).is_dir():
        raise ValueError(f"--grid {grid}: is a folder")
    cfg = decode or captioner.decode_config()
    summary = CaptionSummary(output=Path(output) if output is not None else None)

    paths, problems = discover_images(inputs)
    paths = [p for p in paths if not _is_ours(p, overlay_dir, grid)]
    for problem in problems:
        _say(f"skipped {problem}")
    summary.skipped = len(problems)
    if not paths:
        raise ValueError("no images to caption in " + " ".join(_printable(str(i)) for i in inputs))
    names = overlay_names(paths) if overlay_dir is not None else {}

    done = writer.open() if writer else set()
    try:
        todo = [p for p in paths if str(p) not in done]
        summary.resumed = len(paths) - len(todo)
        del done
        _run(captioner, todo, writer, cfg, summary, batch_size, num_workers, limit, progress, echo,
             overlay_dir, names, grid)
        if writer:
            writer.finish({str(p): i for i, p in enumerate(paths)})
    finally:
        if writer:
            writer.close()
    resumed = f", resumed {summary.resumed} (already in {output})" if output is not None else ""
    _say(f"captioned {summary.captioned} images, skipped {summary.skipped}{resumed}")
    return summary


def _run(captioner: Captioner, todo: list[Path], writer: CaptionWriter | None, cfg: DecodeConfig,
         summary: CaptionSummary, batch_size: int, num_workers: int | None, limit: int | None,
         progress: bool, echo: bool, overlay_dir, names: dict, grid) -> None:
    """The loop: workers decode batches, the main process encodes, decodes and writes."""
    want = len(todo) if limit is None else min(limit, len(todo))
    cells: list = []  # (thumbnail, caption, title) for the first GRID_MAX images only
    loader = image_batches(todo, captioner.encoder.pixels, batch_size, num_workers,
                           captioner.encoder.spec.preprocessing.resize) if want else []
    with tqdm(total=want, desc="captioning", unit="img", disable=not progress, file=sys.stderr) as bar:
        for indices, x, bad in loader:
            room = want - summary.captioned
            if x is not None and len(indices) > room:  # --limit reached inside this batch
                indices, x = indices[:room], x[:room]
                bad = [(i, e) for i, e in bad if i < indices[-1]]
            for _, error in bad:
                _say(f"skipped {error}")
            summary.skipped += len(bad)
            if x is not None:
                hyps = captioner.caption_features(captioner.encoder(x), cfg)
                if writer:  # the whole batch in one write: a restart then sees the same batches
                    writer.write(*(_record(str(todo[i]), h, cfg.n_best) for i, h in zip(indices, hyps)))
                for i, h in zip(indices, hyps):
                    _show(todo[i], h, cfg.n_best, echo, overlay_dir, names, grid, cells)
                summary.captioned += len(indices)
            bar.update(len(indices) + (len(bad) if limit is None else 0))
            if summary.captioned >= want:
                break
    if grid is not None:
        _save_grid(grid, cells)


def _show(path: Path, hyps: Sequence[Hypothesis], n_best: int, echo: bool, overlay_dir,
          names: dict, grid, cells: list) -> None:
    """Print and draw one captioned image."""
    if echo:
        _say(f"{_printable(str(path))}\t{hyps[0].text}", file=sys.stdout)
    if overlay_dir is not None:
        _save_overlay(path, Path(overlay_dir) / names[str(path)], hyps, n_best)
    if grid is not None and len(cells) < GRID_MAX:
        thumb = _load_small(path, _THUMB_SIDE)
        if thumb is not None:
            cells.append((thumb, hyps[0].text, _printable(path.name)))
