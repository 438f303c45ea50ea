"""torchrun extract-features: each rank extracts a contiguous shard, rank 0 merges them into the
normal cache, bit-identical to a single process; a rerun after a crash redoes only missing shards."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from captioning.data.karpathy import write_karpathy
from captioning.features import cache as feats

pytestmark = pytest.mark.integration
TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.fixture(scope="module")
def split(core_coco_records, tmp_path_factory):
    """A Karpathy JSON of 130 shared images: two whole extraction batches and a bit."""
    path = tmp_path_factory.mktemp("sharded") / "split.json"
    write_karpathy(core_coco_records[:130], path)
    return path


def extract(cache: Path, split: Path, ranks: int, home: Path) -> None:
    """`captioning extract-features` with `ranks` processes, CAPTIONING_CACHE=home."""
    launch = [str(TORCHRUN), "--standalone", f"--nproc-per-node={ranks}"] if ranks > 1 else [sys.executable]
    env = {"CAPTIONING_CACHE": str(home), "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run([*launch, "-m", "captioning", "extract-features", "--dataset", str(split), "--cache",
                           str(cache), "--device", "cpu", "--quiet"], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-3000:]


def meta(path: Path) -> dict:
    with safe_open(str(path), "pt") as f:
        return json.loads(f.metadata()["captioning"])


@pytest.fixture
def home(core_onnx_cache, tmp_path) -> Path:
    """A fresh CAPTIONING_CACHE holding the session's ONNX export (exporting is not tested here)."""
    return core_onnx_cache(tmp_path / "home-cache")


@pytest.fixture(scope="module")
def single(split, core_onnx_cache, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("single")
    extract(tmp / "single.safetensors", split, 1, core_onnx_cache(tmp / "home-cache"))
    return tmp / "single.safetensors"


def test_two_gloo_ranks_give_the_single_process_cache(split, single, home, tmp_path):
    cache = tmp_path / "ddp.safetensors"
    extract(cache, split, 2, home)
    assert torch.equal(load_file(str(cache))["features"], load_file(str(single))["features"])
    assert meta(cache) == meta(single)  # same staleness fingerprint: either run reuses the other's cache
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".safetensors") == ["ddp.safetensors"]


def test_a_rerun_redoes_only_the_missing_shards(split, single, home, tmp_path):
    """Shard 0 survived a crash (planted here with doubled features and valid metadata); the
    rerun keeps it and extracts shard 1 only."""
    cache = tmp_path / "ddp.safetensors"
    paths = [r["filepath"] + "/" + r["filename"] for r in json.loads(split.read_text())["images"]]
    paths = [(split.parent / p).resolve() for p in paths]
    start, stop = feats._shard_bounds(len(paths), 0, 2, feats.BATCH)
    full = load_file(str(single))["features"]
    shard0 = cache.with_name("ddp.shard0of2.safetensors")
    planted = {**meta(single), **feats._cache_meta(_spec(single), paths[start:stop]), "errors": {}}
    feats._write(shard0, 2 * full[start:stop], planted)
    extract(cache, split, 2, home)
    merged = load_file(str(cache))["features"]
    assert torch.equal(merged[start:stop], 2 * full[start:stop])  # reused, not recomputed
    assert torch.equal(merged[stop:], full[stop:])
    assert not shard0.exists()


def _spec(cache: Path):
    from captioning.features.config import EncoderSpec

    return EncoderSpec.from_dict(meta(cache)["encoder"])
