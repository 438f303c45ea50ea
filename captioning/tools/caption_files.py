"""`captioning caption PATH...`: caption files, folders and globs in flat memory, resumably.

JPEG decoding and preprocessing run in DataLoader workers while the main process runs the
network; bad files are reported in one line and skipped. Records are written as they are
produced (see outputs.py), so a rerun with the same output file skips what is already there."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..core.config import ConfigError
from ..core.errors import InputError
from ..core.io import fitted_name
from ..core.progress import counter
from ..decoder.decode_config import DecodeConfig
from ..decoder.search import Hypothesis
from ..features.extraction import image_batches
from ..images.discovery import discover_images
from ..images.errors import ImageError, printable
from ..images.loading import load_image
from ..render.captions import caption_grid, show_caption, show_nbest
from ..render.layout import save_figure
from ..render.targets import is_own_figure, target_problem
from .captioner import Captioner
from .job import GRID_MAX, CaptionJob
from .outputs import CaptionWriter, image_key

_OVERLAY_SIDE, _THUMB_SIDE = 1024, 320
OVERLAP = os.environ.get("CAPTIONING_OVERLAP") != "0"  # CNN in a thread beside decoding (0: off, to measure)
log = logging.getLogger(__name__)


def _done(value: Any) -> Future:
    """A finished Future holding value (the CNN ran inline)."""
    future: Future = Future()
    future.set_result(value)
    return future


@dataclass
class CaptionSummary:
    """What a caption_paths run did: images captioned now, skipped (bad), resumed (done before)."""

    captioned: int = 0
    skipped: int = 0
    resumed: int = 0
    output: Path | None = None


def _echo(message: str) -> None:
    """One "path<TAB>caption" line on stdout without breaking the progress bar."""
    tqdm.write(message, file=sys.stdout)
    sys.stdout.flush()


def _record(path: str, hyps: Sequence[Hypothesis], decoding: dict) -> dict:
    """One output record: the image as given and by absolute path (so a resume from another
    folder finds it), its caption(s) and the decoding settings that made them. Log-probs are
    rounded so batch-size noise cannot change the file."""
    best = hyps[0]
    record = {"image": path, "caption": best.text, "logprob": round(best.logprob, 4)}
    if decoding["n_best"] > 1:
        record["alternatives"] = [{"caption": h.text, "logprob": round(h.logprob, 4)} for h in hyps]
    return {**record, "path": os.path.abspath(path), "decoding": decoding}


def overlay_names(paths: Sequence[Path]) -> dict[str, Path]:
    """A PNG name per image: its path relative to the inputs' common folder, suffix -> .png;
    names that would collide (a.jpg, a.png) keep their suffix (a.jpg.png), then get -2, -3.
    A file name too long for the file system is cut short and given a hash (core.io.fitted_name)."""
    absolute = [os.path.abspath(p) for p in paths]
    root = os.path.commonpath([os.path.dirname(a) for a in absolute]) if absolute else ""
    relative = [os.path.relpath(a, root) for a in absolute]
    plain = [os.path.splitext(r)[0] + ".png" for r in relative]
    clashes = Counter(p.casefold() for p in plain)
    names, taken = {}, set()
    for path, rel, name in zip(paths, relative, plain):
        name = rel + ".png" if clashes[name.casefold()] > 1 else name
        stem, k = name[:-4], 2
        name = _fitted(name)
        while name.casefold() in taken:
            name, k = _fitted(f"{stem}-{k}.png"), k + 1
        taken.add(name.casefold())
        names[str(path)] = Path(name)
    return names


def _fitted(name: str) -> str:
    """A relative .png name whose last part fits the file system's limit on one name."""
    folder, base = os.path.split(name)
    return os.path.join(folder, fitted_name(base[:-4], ".png"))


def _is_ours(path: Path, overlay_dir: str | Path | None, grid: str | Path | None) -> bool:
    """Whether a discovered file is one of this command's own figures (from an earlier run): where
    a figure goes, and marked as ours. A photo at the grid's path stays an input."""
    if grid is None and overlay_dir is None:
        return False
    full = os.path.realpath(path)
    there = (grid is not None and full == os.path.realpath(grid)) or (
        overlay_dir is not None and full.startswith(os.path.join(os.path.realpath(overlay_dir), "")))
    return there and is_own_figure(path)


def _check_targets(paths: Sequence[Path], job: CaptionJob, names: dict[str, Path]) -> list[Path]:
    """Refuse (ConfigError naming the flag) figure paths that are inputs or files of another kind,
    unless job.force; a forced grid over an input drops that input. Returns the inputs."""
    inputs = {os.path.realpath(p) for p in paths}
    targets = [("grid", job.grid)] if job.grid is not None else []
    targets += [("overlay", Path(job.overlay) / name) for name in names.values()]
    for flag, target in targets:
        problem = target_problem(target, inputs, job.force)
        if problem:
            raise ConfigError(flag, problem)
    grid = os.path.realpath(job.grid) if job.grid is not None else None
    return [p for p in paths if os.path.realpath(p) != grid]


def _load_small(path: Path, side: int):
    """The original image again (for figures), shrunk to at most side pixels; None if unreadable."""
    try:
        image = load_image(path)
    except ImageError as exc:
        log.warning("no overlay for %s", exc)
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
    image = _load_small(path, _OVERLAY_SIDE)
    if image is None:
        return
    title = printable(path.name)
    with _drawing():
        fig = (show_nbest(image, [(h.text, h.logprob) for h in hyps], title=title) if n_best > 1
               else show_caption(image, hyps[0].text, title=title))
        save_figure(fig, target)


def _save_grid(grid: str | Path, cells: list) -> None:
    if not cells:
        log.warning("no grid written to %s: nothing was captioned", grid)
        return
    images, captions, titles = zip(*cells)
    with _drawing():
        save_figure(caption_grid(list(images), list(captions), titles=list(titles)), grid)


def caption_paths(captioner: Captioner, inputs: Sequence[str | Path], job: CaptionJob | None = None, *,
                  decode: DecodeConfig | None = None, num_workers: int | None = None,
                  progress: bool = True, echo: bool = True, **options: Any) -> CaptionSummary:
    """Caption every image found in inputs (files, folders, globs); write records to job.output
    (.jsonl/.json/.csv), print "path<TAB>caption" lines when echo, optionally save overlays and
    a grid. Bad files are reported on stderr and skipped; images already in the output are resumed.
    `options` are CaptionJob fields (output=..., overlay=..., ...) overriding `job`.

    JSONL lines appear in completion order; JSON/CSV are sorted by discovery order. Records are
    written a whole batch at a time, so a killed run restarted with the same batch size sees the
    same batches and gives the same file as an uninterrupted one (seeded sampling excepted)."""
    job = (job or CaptionJob()).replace(**options) if options else job or CaptionJob()
    cfg = decode or captioner.default_decoding
    writer = None if job.output is None else CaptionWriter(job.output, job.format, decoding=cfg.to_dict(),
                                                           mixed=job.force)
    run = _Run(captioner, job, cfg, echo and not (writer and writer.stdout), writer)
    paths, problems = discover_images(inputs)
    paths = [p for p in paths if not _is_ours(p, job.overlay, job.grid)]
    for problem in problems:
        log.warning("skipped %s", problem)
    run.summary.skipped = len(problems)
    if not paths:
        raise InputError("no images to caption in " + " ".join(printable(str(i)) for i in inputs))
    run.names = overlay_names(paths) if job.overlay is not None else {}
    paths = _check_targets(paths, job, run.names)
    done = run.writer.open() if run.writer else set()
    try:
        todo = [p for p in paths if image_key(str(p)) not in done]
        run.summary.resumed = len(paths) - len(todo)
        del done
        run.loop(todo, num_workers, progress)
        if run.writer:
            run.writer.finish({image_key(str(p)): i for i, p in enumerate(paths)})
    finally:
        if run.writer:
            run.writer.close()
    resumed = f", resumed {run.summary.resumed} (already in {job.output})" if writer and not writer.stdout else ""
    log.info("captioned %d images, skipped %d%s", run.summary.captioned, run.summary.skipped, resumed)
    return run.summary


@dataclass
class _Run:
    """One caption_paths run: what it writes to, and what it has done so far."""

    captioner: Captioner
    job: CaptionJob
    cfg: DecodeConfig
    echo: bool
    writer: CaptionWriter | None
    names: dict = field(default_factory=dict)  # image path -> overlay file name
    cells: list = field(default_factory=list)  # (thumbnail, caption, title) for the grid
    summary: CaptionSummary = field(default_factory=CaptionSummary)

    def __post_init__(self) -> None:
        self.summary.output = Path(self.job.output) if self.job.output is not None else None

    def loop(self, todo: list[Path], num_workers: int | None, progress: bool) -> None:
        """Workers decode JPEGs; a thread runs the CNN on batch i+1 while the main thread decodes
        captions for batch i and writes them (OVERLAP), so both cores stay busy."""
        job, enc = self.job, self.captioner.encoder
        want = len(todo) if job.limit is None else min(job.limit, len(todo))
        loader = image_batches(todo, enc.pixels, job.batch_size, num_workers,
                               enc.spec.preprocessing.resize) if want else []
        queued, pending = 0, None
        with (counter(want, "captioning", progress, unit="img") as bar,
              ThreadPoolExecutor(1, thread_name_prefix="cnn") as cnn):
            for indices, x, bad in loader:
                room = want - queued
                if x is not None and len(indices) > room:  # the limit is reached inside this batch
                    indices, x = indices[:room], x[:room]
                    bad = [(i, e) for i, e in bad if i < indices[-1]]
                for _, error in bad:
                    log.warning("skipped %s", error)
                self.summary.skipped += len(bad)
                bar.update(len(bad) if job.limit is None else 0)
                if x is not None:
                    features = cnn.submit(enc, x) if OVERLAP else _done(enc(x))
                    queued += len(indices)
                    if pending is not None:
                        bar.update(self._batch(*pending))
                    pending = ([todo[i] for i in indices], features)
                if queued >= want:
                    break
            if pending is not None:
                bar.update(self._batch(*pending))
        if job.grid is not None:
            _save_grid(job.grid, self.cells)

    def _batch(self, paths: list[Path], features: Future) -> int:
        hyps = self.captioner.caption_features(features.result(), self.cfg)
        if self.writer:  # the whole batch in one write: a restart then sees the same batches
            decoding = self.cfg.to_dict()
            self.writer.write(*(_record(str(p), h, decoding) for p, h in zip(paths, hyps)))
        for path, h in zip(paths, hyps):
            self._show(path, h)
        self.summary.captioned += len(paths)
        return len(paths)

    def _show(self, path: Path, hyps: Sequence[Hypothesis]) -> None:
        """Print and draw one captioned image."""
        if self.echo:
            _echo(f"{printable(str(path))}\t{hyps[0].text}")
        if self.job.overlay is not None:
            _save_overlay(path, Path(self.job.overlay) / self.names[str(path)], hyps, self.cfg.n_best)
        if self.job.grid is not None and len(self.cells) < GRID_MAX:
            thumb = _load_small(path, _THUMB_SIDE)
            if thumb is not None:
                self.cells.append((thumb, hyps[0].text, printable(path.name)))
