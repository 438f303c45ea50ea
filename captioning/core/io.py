"""Small file helpers: atomic writes, so an interrupted run never leaves a corrupt file."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import InputError

NAME_MAX = 255  # bytes in one file name on Linux and macOS file systems (ext4, xfs, btrfs, tmpfs, APFS)


def fitted_name(stem: str, suffix: str = "", limit: int = NAME_MAX) -> str:
    """stem + suffix when it fits in `limit` bytes; else the stem cut short, "~", 12 hex digits of
    its hash, then suffix. A name derived from a long one (a temp file, a sidecar, an overlay)
    then still fits, and two long stems still give two names."""
    if len(os.fsencode(stem + suffix)) <= limit:
        return stem + suffix
    digest = hashlib.sha256(os.fsencode(stem)).hexdigest()[:12]
    room, cut = limit - len(os.fsencode(suffix)) - len(digest) - 1, stem[:limit]
    while cut and len(os.fsencode(cut)) > room:  # whole characters only
        cut = cut[:-1]
    return cut + "~" + digest + suffix


def _temp_beside(path: Path) -> Path:
    """Create an empty, unique temp file next to path with the usual permissions.

    os.open with mode 0o666 lets the kernel apply the process umask, as for any new file, so
    the umask is never read or changed (mkstemp would make the file 0600)."""
    for _ in range(100):
        tmp = path.with_name(fitted_name(f".{path.name}", f".{secrets.token_hex(4)}.tmp"))
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
        except OSError as exc:  # read-only, no space: name the file the caller asked for
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
    raise OSError(f"{path}: cannot create a temporary file beside it")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call write(tmp_path) on a temp file beside `path`, then rename it into place. An OSError
    (disk full, read-only) leaves any earlier file at `path` untouched and names `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        tmp = _temp_beside(path)
        write(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno and exc.filename in (None, str(tmp), tmp):
            raise OSError(exc.errno, exc.strerror, str(path)) from exc  # name the file, not the temp
        raise
    return path


def atomic_write_text(path: str | Path, text: str, **open_kwargs: Any) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, **open_kwargs))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def writer_os_error(exc: BaseException, path: str | Path) -> OSError | None:
    """The system error inside a writer's own exception, naming path: safetensors reports a full
    disk as SafetensorError('... I/O error: No space left on device (os error 28)'), which is no
    OSError. None when exc does not come from the system."""
    text = str(exc)
    found = re.search(r"os error (\d+)|code: (\d+)", text)
    if found:
        code = int(found.group(1) or found.group(2))
        return OSError(code, os.strerror(code), str(path))
    if "I/O error" in text or "IoError" in text:
        return OSError(errno.EIO, text.splitlines()[0] if text.strip() else "I/O error", str(path))
    return None


def save_tensors(path: str | Path, tensors: dict, metadata: dict[str, str] | None = None) -> Path:
    """safetensors.torch.save_file, atomically: a write the system refuses (a full disk, a quota,
    a read-only file system) is an OSError naming `path`, and any earlier file stays whole."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    def write(tmp: Path) -> None:
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except SafetensorError as exc:
            error = writer_os_error(exc, path)
            if error is None:
                raise
            raise error from exc
    return atomic_write(path, write)


def write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def regular_file(path: str | Path, what: str = "file") -> Path:
    """path, checked before anything opens it: a FIFO would block the open for ever and a device
    would be read without end, so what is not a regular file (or a link to one) is an InputError
    naming it. A missing path passes: its reader says it is missing, in its own words."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError:
        return path
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        raise InputError(f"{path}: the {what} is {kind}, not a regular file")
    return path


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """Load JSON or raise InputError with a one-line message naming the file (a FIFO or a device
    is refused before it is opened)."""
    try:
        return json.loads(regular_file(path, what).read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.__class__.__name__}: {exc})") from None
