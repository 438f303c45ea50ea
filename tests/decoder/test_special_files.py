"""Issue 29, items 4 and 5: a FIFO, device, socket or folder in place of a checkpoint's files is
refused before it is opened (a FIFO would hang the open for ever), and an ensemble.json that lists
a member more than once is refused before any member is loaded. One line, naming the file."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from captioning.core.errors import InputError
from captioning.decoder.checkpoint import Checkpoint
from captioning.decoder.ensemble import load_decoders, save_ensemble
from captioning.tools.captioner import Captioner
from tests.cli.test_cli import assert_usage_error, run_main

WATCHDOG = """
import os, sys, time
time.sleep(float(sys.argv[1]))
for _ in range(100):  # open every FIFO for writing: a reader blocked in open() then returns
    for root, _, names in os.walk(sys.argv[2]):
        for name in names:
            try:
                os.close(os.open(os.path.join(root, name), os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    time.sleep(0.1)
"""


@contextlib.contextmanager
def deadline(folder: Path, seconds: float = 30):
    """Fail, instead of hanging the test run, when something opens a FIFO under folder and waits
    for a writer: after `seconds` a watchdog process opens every FIFO there for writing, which
    lets the blocked open return (no signal or thread of this process could: safetensors retries
    an interrupted open, holding the GIL)."""
    watchdog = subprocess.Popen([sys.executable, "-c", WATCHDOG, str(seconds), str(folder)])
    started = time.monotonic()
    try:
        yield
    finally:
        watchdog.kill()
        watchdog.wait()
    assert time.monotonic() - started < seconds, f"a FIFO under {folder} was opened and blocked for {seconds} s"


def _replace(path: Path, kind: str) -> str:
    """Put a special file of `kind` where path was; returns the word the error uses."""
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
        return "a FIFO"
    if kind == "directory":
        path.mkdir()
        return "a directory"
    if kind == "device":
        path.symlink_to("/dev/null")  # a device (not /dev/zero: a regression would read it for ever)
        return "a character device"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()
    return "a socket"


@pytest.fixture
def ckpt(tiny_checkpoint, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_checkpoint, tmp_path / "ckpt"))


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "vocab.json"])
@pytest.mark.parametrize("kind", ["fifo", "directory", "device", "socket"])
def test_a_special_file_in_a_checkpoint_is_refused_before_it_is_opened(ckpt, name, kind):
    if kind == "device" and not Path("/dev/null").exists():
        pytest.skip("no /dev/null")
    word = _replace(ckpt / name, kind)
    with deadline(ckpt), pytest.raises(InputError) as err:
        Checkpoint.load(ckpt)
    assert str(err.value).startswith(f"{ckpt / name}: ") and f"is {word}" in str(err.value)
    assert "not a regular file" in str(err.value)


def test_a_fifo_checkpoint_fails_on_the_command_line_in_one_line(ckpt):
    _replace(ckpt / "model.safetensors", "fifo")
    started = time.monotonic()
    with deadline(ckpt):
        code, _, err = run_main(["caption", "data/samples", "--checkpoint", ckpt])
    assert_usage_error(code, err, ckpt / "model.safetensors", "FIFO", "not a regular file")
    assert time.monotonic() - started < 60
    assert (ckpt / "model.safetensors").is_fifo()  # left as it was


@pytest.fixture
def ensemble(tiny_checkpoint, tmp_path) -> Path:
    return save_ensemble([Checkpoint.load(tiny_checkpoint)] * 2, tmp_path / "ens", {"strategy": "greedy"})


def test_a_fifo_ensemble_index_is_refused(ensemble):
    _replace(ensemble / "ensemble.json", "fifo")
    with deadline(ensemble), pytest.raises(InputError, match=r"ensemble\.json: the ensemble index is a FIFO"):
        load_decoders([ensemble])
    with deadline(ensemble):
        code, _, err = run_main(["caption", "data/samples", "--checkpoint", ensemble])
    assert_usage_error(code, err, ensemble / "ensemble.json", "not a regular file")


def test_a_fifo_in_a_member_is_refused(ensemble):
    _replace(ensemble / "member-1" / "vocab.json", "fifo")
    with deadline(ensemble), pytest.raises(InputError, match=r"member-1/vocab\.json: the vocabulary is a FIFO"):
        Captioner.from_pretrained(ensemble, device="cpu")


@pytest.mark.parametrize(("members", "problem"), [
    (["member-0"] * 1000, "member 'member-0' is listed more than once"),
    (["member-0", "member-1", "./member-0"], "member './member-0' is listed more than once (as 'member-0')"),
    (["member-0", "member-0/"], "member 'member-0/' is listed more than once (as 'member-0')"),
])
def test_an_ensemble_listing_a_member_twice_is_refused_before_loading(ensemble, members, problem):
    index = ensemble / "ensemble.json"
    index.write_text(json.dumps({**json.loads(index.read_text()), "members": members}))
    before = index.read_bytes()
    started = time.monotonic()
    with pytest.raises(InputError) as err:
        load_decoders([ensemble])
    assert str(err.value).startswith(f"{index}: ") and problem in str(err.value)
    code, _, err = run_main(["caption", "data/samples", "--checkpoint", ensemble])
    assert_usage_error(code, err, index, problem)
    assert time.monotonic() - started < 60 and index.read_bytes() == before


def test_a_member_linked_under_two_names_counts_once(ensemble):
    (ensemble / "alias").symlink_to("member-1")
    index = ensemble / "ensemble.json"
    index.write_text(json.dumps({**json.loads(index.read_text()), "members": ["member-0", "member-1", "alias"]}))
    with pytest.raises(InputError, match="member 'alias' is listed more than once \\(as 'member-1'\\)"):
        load_decoders([ensemble])
