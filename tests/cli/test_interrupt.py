"""Ctrl-C at any moment (issue 29, item 3): while modules are still importing (torch among them), the
parser is being built or the captions are being written, the command ends with one line,
"captioning: error: interrupted", and exit 130; never a traceback or another exit code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from captioning.cli import exit_codes
from tests.badfiles import encode, two_colour

EXE = Path(sys.executable).parent / "captioning"
DELAYS = (0.0, 0.3, 0.8, 1.4, 2.0)  # seconds after Python itself has started


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """300 small JPEGs: a caption job that imports torch and runs for a while."""
    folder = tmp_path_factory.mktemp("photos")
    data = encode(two_colour(), "JPEG")
    for i in range(300):
        (folder / f"{i:03d}.jpg").write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def startup() -> float:
    """Seconds for Python to start and import captioning.cli.main: before that the command's code
    has not run, so no delay is shorter (a busy machine's start-up is measured, not guessed)."""
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", "import captioning.cli.main"], check=True, timeout=60)
    return 1.5 * (time.monotonic() - start)


@pytest.fixture(autouse=True)
def interruptible():
    """Children start with SIGINT at its default even where this test runs with it ignored (a
    background job): Python ignores it then, as a shell's `cmd &` does."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _caption(photos: Path, out: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen([str(EXE), "caption", str(photos), "-o", str(out), "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _assert_interrupted(proc: subprocess.Popen, what: str) -> None:
    _, err = proc.communicate(timeout=120)
    assert (proc.returncode, err) == (exit_codes.INTERRUPTED, "captioning: error: interrupted\n"), what


def test_ctrl_c_during_start_up_is_one_line_and_exit_130(photos, startup, tmp_path):
    for delay in DELAYS:
        proc = _caption(photos, tmp_path / f"{delay}.jsonl")
        time.sleep(startup + delay)
        proc.send_signal(signal.SIGINT)
        _assert_interrupted(proc, f"SIGINT {startup + delay:.2f} s after the start")


def test_ctrl_c_mid_run_stops_every_process_and_keeps_the_output_whole(photos, tmp_path):
    """A terminal's Ctrl-C goes to the whole process group, image-decoding workers included."""
    out = tmp_path / "captions.jsonl"
    proc = _caption(photos, out, start_new_session=True)
    deadline = time.monotonic() + 110
    while not (out.exists() and out.read_text().count("\n")) and proc.poll() is None:
        assert time.monotonic() < deadline, "no caption written"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _assert_interrupted(proc, "SIGINT to the process group mid-run")
    lines = out.read_text().splitlines()
    assert 0 < len(lines) < 300 and all(json.loads(line) for line in lines)  # each line whole


def test_a_lost_worker_connection_in_the_sharing_thread_prints_nothing(monkeypatch):
    """Under a Ctrl-C to the process group the DataLoader workers die first, and multiprocessing's
    descriptor-sharing thread (target _serve) loses its peer: that is not a second error to print."""
    import threading
    from types import SimpleNamespace

    from captioning.cli import main as cli_main

    shown = []
    monkeypatch.setattr(cli_main, "_DEFAULT_HOOK", lambda args: shown.append(args.exc_type))
    serve, other = threading.Thread(name="Thread-3 (_serve)"), threading.Thread(name="Thread-4 (work)")
    for exc, thread in ((ConnectionResetError, serve), (EOFError, serve), (ConnectionResetError, other),
                        (ValueError, serve)):
        cli_main._quiet_peer_loss(SimpleNamespace(exc_type=exc, exc_value=exc(), exc_traceback=None, thread=thread))
    assert shown == [ConnectionResetError, ValueError]  # only the sharing thread's lost peer is quiet


def test_the_sharing_thread_reporting_a_lost_peer_through_sys_excepthook_prints_nothing(monkeypatch):
    """multiprocessing.resource_sharer._serve catches its own errors and hands them to sys.excepthook
    (the mid-run Ctrl-C test caught one such traceback): quiet for a lost peer in that thread only."""
    import threading

    from captioning.cli import main as cli_main

    shown = []
    monkeypatch.setattr(cli_main, "_DEFAULT_SYS_HOOK", lambda exc_type, exc, tb: shown.append(exc_type))

    def serve(exc_type: type[BaseException]) -> None:
        try:
            raise exc_type()
        except BaseException:
            cli_main._quiet_peer_loss_sys(*sys.exc_info())

    for exc, name in ((EOFError, "Thread-3 (_serve)"), (BrokenPipeError, "Thread-3 (_serve)"),
                      (ConnectionResetError, "Thread-4 (work)"), (ValueError, "Thread-3 (_serve)")):
        thread = threading.Thread(target=serve, args=(exc,), name=name)
        thread.start()
        thread.join()
    cli_main._quiet_peer_loss_sys(EOFError, EOFError(), None)  # the main thread is never quiet
    assert shown == [ConnectionResetError, ValueError, EOFError]


def test_a_half_built_object_failing_in_its_destructor_after_ctrl_c_is_not_printed(monkeypatch):
    """Ctrl-C inside a DataLoader iterator's constructor leaves an object whose __del__ fails
    ("Exception ignored in ..."): after an interrupt that is part of it; before one it is shown."""
    from types import SimpleNamespace

    from captioning.cli import main as cli_main

    shown = []
    monkeypatch.setattr(cli_main, "_DEFAULT_UNRAISABLE", lambda args: shown.append(args.exc_type))
    interrupts = cli_main._Interrupts(keep_ignoring=False)
    hook = cli_main._quiet_after_interrupt(interrupts)
    hook(SimpleNamespace(exc_type=AttributeError))
    interrupts.caught = True
    hook(SimpleNamespace(exc_type=AttributeError))
    assert shown == [AttributeError]  # only the one before the interrupt
