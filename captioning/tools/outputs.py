"""Caption files (.jsonl, .json, .csv) written so that a killed run loses nothing and a rerun resumes.

JSONL is the log itself: one flushed line per image, a torn last line is cut off on resume.
JSON and CSV cannot be appended to, so records go to a JSONL sidecar `.NAME.partial.jsonl`
beside the output while running; `finish()` merges it with any earlier output, sorts, and
replaces the output atomically. The output is thus always absent or complete, never half-written.
Records name each image as given and by absolute path (resume works from any folder), and the
decoding settings that made it. An output that is a symlink is replaced, never written through;
`-` streams JSONL to standard output."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..core.config import ConfigError
from ..core.errors import InputError
from ..core.io import atomic_write, fitted_name
from .job import FORMATS, STDOUT, TO_STDOUT, output_problem
from .settings import SettingsChanged, distinct, settings_changes
from .stdout import StdoutLog

try:
    import fcntl
except ImportError:  # Windows: no locking
    fcntl = None

# Reading: undecodable file names (surrogates) round-trip. Writing JSON: such a name becomes a
# "\udcXX" escape, so the file stays valid UTF-8 and json.load gives the same name back.
_ENC = {"encoding": "utf-8", "errors": "surrogateescape"}
_JSON_OUT = {"encoding": "utf-8", "errors": "backslashreplace"}


def image_key(name: str) -> str:
    """What resume matches images by: the resolved path, however it was spelled."""
    return os.path.realpath(name)


def record_key(record: Mapping[str, Any]) -> str:
    """A record's image_key: from its absolute "path" (the same from any folder), or for records
    written before it existed, from "image" (read against the current folder)."""
    path = record.get("path")
    return image_key(path if isinstance(path, str) else record["image"])


def output_format(path: str | Path, fmt: str | None = None) -> str:
    """fmt when given, else the output's suffix; an unknown one is a ValueError."""
    if str(path) == STDOUT and fmt in (None, "jsonl"):
        return "jsonl"
    fmt = fmt or Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ConfigError("output", f"{path}: unknown format '{fmt or Path(path).name}' "
                                    "(use a .jsonl, .json or .csv name, or give the format)")
    return fmt


def sidecar_path(path: str | Path) -> Path:
    """Where a JSON/CSV output keeps its records while a run is in progress."""
    path = Path(path)
    return path.with_name(fitted_name(f".{path.name}", ".partial.jsonl"))


def iter_jsonl(path: str | Path) -> Iterator[dict]:
    """Records of a JSONL file, ignoring a torn last line (no newline: the writer was killed)."""
    with open(path, **_ENC) as f:
        for number, line in enumerate(f, 1):
            if not line.endswith("\n"):
                return
            if line.strip():
                yield _record(line, path, number)


def _record(line: str, path: str | Path, number: int) -> dict:
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    return _check(record, path, number)


def _check(record: object, path: str | Path, number: int) -> dict:
    if not isinstance(record, dict) or not isinstance(record.get("image"), str):
        raise InputError(f"{path}:{number}: not a captions record; move the file away or "
                         "choose another output file")
    return record


def repair_jsonl(path: str | Path) -> None:
    """Cut a torn last line off a JSONL file so appending continues on a fresh line."""
    with open(path, "rb+") as f:
        end = f.seek(0, os.SEEK_END)
        if not end:
            return
        f.seek(end - 1)
        if f.read(1) == b"\n":
            return
        keep, pos = 0, end
        while pos > 0 and not keep:  # scan backwards for the last newline
            step = min(pos, 1 << 16)
            pos -= step
            f.seek(pos)
            last = f.read(step).rfind(b"\n")
            keep = pos + last + 1 if last >= 0 else 0
        f.truncate(keep)


def read_records(path: str | Path, fmt: str) -> list[dict]:
    """All records of a finished caption file (as written by finish())."""
    if fmt == "jsonl":
        return list(iter_jsonl(path))
    text = Path(path).read_text(**_ENC)
    if fmt == "json":
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, list):
            raise InputError(f"{path}: not a captions JSON list; move it away or choose another output file")
        return [_check(r, path, i) for i, r in enumerate(data, 1)]
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    for i, row in enumerate(rows, 2):
        if not isinstance(row.get("image"), str) or "caption" not in row:
            raise InputError(f"{path}:{i}: not a captions CSV (needs image and caption columns)")
        if row.get("logprob") not in (None, ""):
            row["logprob"] = float(row["logprob"])
        if row.get("alternatives"):
            row["alternatives"] = [{"caption": c} for c in row["alternatives"].split(" | ")]
        for column in ("alternatives", "path", "decoding"):
            if not row.get(column):
                row.pop(column, None)
        if "decoding" in row:
            row["decoding"] = _csv_decoding(row["decoding"], path, i)
    return rows


def _csv_decoding(text: str, path: str | Path, line: int) -> dict:
    try:
        decoding = json.loads(text)
    except ValueError:
        decoding = None
    if not isinstance(decoding, dict):
        raise InputError(f"{path}:{line}: the decoding column is not a JSON object")
    return decoding


def _csv_text(records: list[dict]) -> str:
    """image, caption, logprob (+ alternatives joined by ' | ', path, and decoding as compact
    JSON, each when any record has it)."""
    columns = ["image", "caption", "logprob"]
    columns += [c for c in ("alternatives", "path", "decoding") if any(c in r for r in records)]
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in records:
        alts = " | ".join(a["caption"] for a in r.get("alternatives", []))
        decoding = json.dumps(r["decoding"], separators=(",", ":")) if "decoding" in r else ""
        writer.writerow({**r, "alternatives": alts, "decoding": decoding})
    return buf.getvalue()


def _own_file(path: Path) -> None:
    """A symlink at path becomes a regular file holding what it pointed to (nothing when it
    dangles), so nothing is ever written through a link, whatever the format."""
    if not path.is_symlink():
        return
    if path.is_file():
        atomic_write(path, lambda tmp: shutil.copyfile(path, tmp))
    else:
        path.unlink()


class CaptionWriter:
    """Appends caption records crash-safely and knows which images an earlier run already did.

    Use `done = w.open()`, then `w.write(*records)` per batch and `w.finish(order)` at the end;
    `close()` without finish() keeps the sidecar for the next run to resume from. With `decoding`
    (this run's settings), open() refuses an output whose records name other settings, unless
    `mixed`. The path "-" writes JSONL to standard output and resumes nothing."""

    def __init__(self, path: str | Path, fmt: str | None = None, *,
                 decoding: Mapping[str, Any] | None = None, mixed: bool = False) -> None:
        self.path, self.stdout = Path(path), str(path) == STDOUT
        self.fmt = output_format(path, fmt)
        self.log = self.path if self.fmt == "jsonl" else sidecar_path(self.path)
        self.decoding, self.mixed = decoding, mixed
        self._fh = None

    def open(self) -> set[str]:
        """Read and check what is already there; return the images it holds; repair and lock the log."""
        if self.stdout:
            self._fh = StdoutLog()
            return set()
        for path in dict.fromkeys([self.path, self.log]):
            problem = output_problem(path)
            if problem:
                raise ConfigError("output", f"{problem} ({TO_STDOUT})")
        done: set[str] = set()
        settings: dict[str, Mapping[str, Any]] = {}
        for record in self._earlier():
            done.add(record_key(record))
            distinct(settings, record)
        changes = settings_changes(settings.values(), self.decoding) if self.decoding is not None else {}
        if changes and not self.mixed:
            raise SettingsChanged(self.path, changes)
        for path in dict.fromkeys([self.path, self.log]):
            _own_file(path)
        if self.log.exists():
            repair_jsonl(self.log)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.log, "a", **_JSON_OUT)  # noqa: SIM115 (held until finish/close)
        if fcntl is not None:  # POSIX record locks are not inherited by DataLoader workers
            try:
                fcntl.lockf(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self.close()
                raise ConfigError("output", f"{self.path}: another run is writing it") from None
        return done

    def _earlier(self) -> Iterator[dict]:
        """The records already there: a JSON/CSV output's, then the log's (validated whole before
        its torn last line is cut)."""
        if self.fmt != "jsonl" and self.path.exists():
            yield from read_records(self.path, self.fmt)
        if self.log.exists():
            yield from iter_jsonl(self.log)

    def write(self, *records: Mapping) -> None:
        """Append records, one line each, in a single flushed write (a batch lands whole).
        An OSError (disk full) names the file; the lines written before it are kept."""
        text = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records)
        try:
            self._fh.write(text)
            self._fh.flush()
        except OSError as exc:
            fh, self._fh = self._fh, None
            with contextlib.suppress(OSError):  # its buffer cannot be flushed; the file still closes
                fh.close()
            raise OSError(exc.errno, exc.strerror, "standard output" if self.stdout else str(self.log)) from None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def finish(self, order: Mapping[str, int] | None = None) -> None:
        """JSON/CSV: merge earlier output and sidecar, sort by `order`, replace atomically."""
        self.close()
        if self.fmt == "jsonl":
            return
        records: dict[str, dict] = {}
        for r in self._earlier():
            records.setdefault(record_key(r), r)
        keys = list(records)
        if order is not None:  # images from other runs' inputs go last, in their old order
            keys.sort(key=lambda k: order.get(k, len(order)))
        rows = [records[k] for k in keys]
        if self.fmt == "json":
            text, enc = json.dumps(rows, indent=2, ensure_ascii=False, allow_nan=False) + "\n", _JSON_OUT
        else:
            text, enc = _csv_text(rows), _ENC  # CSV keeps an undecodable name's own bytes
        atomic_write(self.path, lambda tmp: tmp.write_text(text, newline="", **enc))
        self.log.unlink(missing_ok=True)
