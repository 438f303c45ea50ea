"""Fixtures and helpers shared by the `captioning caption` tests: small generated pictures, one
in-process captioner built once per session, and `run` to call the command in-process."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captioning.cli.main import main
from captioning.tools.captioner import Captioner


def picture(seed: int, size: tuple[int, int] = (32, 24)) -> Image.Image:
    """A noisy picture of one random colour: different seeds get different captions."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, 3)
    arr = np.clip(base + rng.integers(-60, 60, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def one_line(err: str) -> str:
    """The only line of a refusal's stderr (fails when there are more)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def run(*args: str | Path, batch: int = 2) -> tuple[int, str, str]:
    """main(["caption", ...]) with the shared captioner; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["caption", *map(str, args), "--checkpoint", "unused", "--device", "cpu",
                   "--batch-size", str(batch)])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def captioner(tiny_checkpoint: Path) -> Captioner:
    """The tiny checkpoint's captioner, built once (EfficientNet-Lite0 takes a second or more)."""
    return Captioner.from_pretrained(tiny_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def reuse_captioner(captioner: Captioner) -> Iterator[None]:
    """In-process runs get the already-built captioner instead of loading it again."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Captioner, "from_pretrained", classmethod(lambda cls, *a, **k: captioner))
        yield


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three photos: a.jpg, b.png, c.jpg."""
    root = tmp_path / "photos"
    root.mkdir()
    for i, name in enumerate(["a.jpg", "b.png", "c.jpg"]):
        picture(i).save(root / name)
    return root
