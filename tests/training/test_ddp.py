"""DDP training under torchrun (2 gloo ranks on the CPU) follows the single-process run step for
step: same global batches, gradients averaged over ranks equal to the whole batch's. Dropout is 0
here, since each rank draws its own dropout masks. Resuming under torchrun continues exactly, after
a clean stop or after one rank is killed mid-epoch."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from captioning.data.karpathy import read_karpathy, write_karpathy

pytestmark = pytest.mark.integration
TORCHRUN = Path(sys.executable).with_name("torchrun")
TINY = ["--embed-dim", "16", "--hidden-dim", "24", "--dropout", "0", "--min-count", "3", "--batch-size", "30",
        "--lr", "3e-3", "--warmup-epochs", "1", "--patience", "5", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def data(core_coco_records, core_prefill_cache, core_onnx_cache, tmp_path_factory):
    """A split of 120 train / 20 val / 5 test shared images and its feature cache, prefilled from
    the session's extraction (these are core images), so no run here repeats the CNN pass; the
    runs' CAPTIONING_CACHE holds the session's ONNX export."""
    root = tmp_path_factory.mktemp("ddp")
    picked = [r for s, n in (("train", 120), ("val", 20), ("test", 5))
              for r in [r for r in core_coco_records if r.split == s][:n]]
    write_karpathy(picked, root / "split.json")
    core_prefill_cache(root / "features.safetensors", [r.path for r in read_karpathy(root / "split.json")])
    core_onnx_cache(root / "cache")
    return root


def train(data: Path, out: str, ranks: int, epochs: int, resume: bool = False) -> Path:
    launch = [str(TORCHRUN), "--standalone", f"--nproc-per-node={ranks}"] if ranks > 1 else [sys.executable]
    argv = [*launch, "-m", "captioning", "train", "--dataset", str(data / "split.json"), "--out", str(data / out),
            "--cache", str(data / "features.safetensors"), "--epochs", str(epochs), *TINY]
    env = {**os.environ, "CAPTIONING_CACHE": str(data / "cache"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(argv + ["--resume"] * resume, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return data / out


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def single(data):
    return train(data, "single", 1, 2)


def assert_same_run(a: Path, b: Path) -> None:
    ma, mb = metrics(a), metrics(b)
    assert [m["epoch"] for m in ma] == [m["epoch"] for m in mb] == [1, 2]
    for x, y in zip(ma, mb):
        for key in ("train_loss", "grad_norm", "val_loss", "val_cider"):
            assert x[key] == pytest.approx(y[key], rel=1e-5, abs=1e-7), key
    wa, wb = load_file(str(a / "latest" / "model.safetensors")), load_file(str(b / "latest" / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k], wb[k], rtol=1e-4, atol=1e-6), k


def test_two_gloo_ranks_follow_the_single_process_run_across_a_resume(data, single):
    """2 gloo ranks train epoch 1, stop, and resume for epoch 2: every figure and weight equals the
    single-process 2-epoch run. Epoch 1 is all warm-up, so its learning rates do not depend on the
    epoch budget, and a 1-epoch run resumed to 2 epochs must equal a 2-epoch run."""
    first = train(data, "ddp", 2, 1)
    assert [m["epoch"] for m in metrics(first)] == [1]
    assert sorted(p.name for p in first.iterdir()) == ["best", "latest", "metrics.jsonl"]  # rank 0 alone wrote
    resumed = train(data, "ddp", 2, 2, resume=True)
    assert_same_run(single, resumed)


def test_scst_runs_under_torchrun_and_rank_0_writes(data, single):
    argv = [str(TORCHRUN), "--standalone", "--nproc-per-node=2", "-m", "captioning", "scst", "--init",
            str(single / "best"), "--dataset", str(data / "split.json"), "--out", str(data / "scst"), "--cache",
            str(data / "features.safetensors"), "--epochs", "1", "--batch-images", "8", "--samples", "2",
            "--device", "cpu", "--quiet"]
    env = {**os.environ, "CAPTIONING_CACHE": str(data / "cache"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [m["epoch"] for m in metrics(data / "scst")] == [0, 1]
    assert len([line for line in done.stdout.splitlines() if line.startswith("{")]) == 1  # one summary


def _rank_pid(parent: int, rank: int) -> int | None:
    """The pid of torchrun worker `rank` (a child of the torchrun process), read from /proc."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and f"RANK={rank}".encode() in env:
            return int(proc.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="finds the torchrun ranks through /proc")
def test_a_rank_killed_mid_epoch_then_resume_reaches_the_uninterrupted_run(data, single):
    """Kill rank 1 of 2 with SIGKILL while epoch 2 trains (right after epoch 1's latest/ is in
    place): torchrun stops the job, only whole checkpoints remain, and --resume under torchrun
    ends with the same metrics and weights as the single-process run."""
    out = data / "killed"
    argv = [str(TORCHRUN), "--standalone", "--nproc-per-node=2", "-m", "captioning", "train", "--dataset",
            str(data / "split.json"), "--out", str(out), "--cache", str(data / "features.safetensors"),
            "--epochs", "2", *TINY]
    env = {**os.environ, "CAPTIONING_CACHE": str(data / "cache"), "OMP_NUM_THREADS": "1"}
    job = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 600
    while not (out / "latest" / "trainer.json").is_file() and job.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    victim = _rank_pid(job.pid, 1)
    assert victim is not None and job.poll() is None, "the job ended before epoch 2"
    os.kill(victim, signal.SIGKILL)
    _, err = job.communicate(timeout=300)
    assert job.returncode != 0, err[-2000:]
    assert [m["epoch"] for m in metrics(out)] == [1]  # epoch 2 never finished
    assert json.loads((out / "latest" / "trainer.json").read_text())["epoch"] == 1
    resumed = train(data, "killed", 2, 2, resume=True)
    assert_same_run(single, resumed)
