"""`captioning train` and `scst` run folders: an existing run is never replaced by accident, a file
is not a run folder, a resume with other settings is one line naming the flag, and SCST continues
from an SCST checkpoint (the shipped model's member)."""

import json

import pytest
import torch

from captioning.data.karpathy import read_karpathy, write_karpathy
from captioning.decoder.checkpoint import PRETRAINED

from .test_cli import assert_usage_error, run_main


@pytest.mark.parametrize("command", [["train"], ["scst", "--init", "nowhere"]])
def test_out_that_is_a_file_fails_at_once(tmp_path, command):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    code, _, err = run_main([*command, "--out", target, "--dataset", tmp_path / "missing.json", "--device", "cpu"])
    assert_usage_error(code, err, "--out", "notes.txt", "is a file, not a run folder")
    assert target.read_text() == "mine"


@pytest.mark.parametrize("command", [["train"], ["scst", "--init", "nowhere"]])
def test_an_existing_run_is_refused_without_resume_or_force(tmp_path, command):
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n')
    code, _, err = run_main([*command, "--out", tmp_path, "--dataset", tmp_path / "missing.json", "--device", "cpu"])
    assert_usage_error(code, err, "already holds a run (metrics.jsonl)", "--resume", "--force")
    assert (tmp_path / "metrics.jsonl").read_text() == '{"epoch": 1}\n'


def test_resume_and_force_exclude_each_other(tmp_path):
    code, _, err = run_main(["train", "--out", tmp_path, "--resume", "--force"])
    assert code == 2 and "not allowed with argument" in err


@pytest.fixture(scope="module")
def tiny_split(core_coco_features, core_prefill_cache, tmp_path_factory):
    _, kept = core_coco_features
    by = {s: [r for r in kept if r.split == s] for s in ("train", "val")}
    root = tmp_path_factory.mktemp("runs")
    split = write_karpathy(by["train"][:40] + by["val"][:10], root / "split.json")
    core_prefill_cache(root / "cache.safetensors", [r.path for r in read_karpathy(split)])
    return root, split


@pytest.mark.integration
def test_rerun_resume_with_other_settings_and_force(tiny_split, core_one_thread):
    root, split = tiny_split
    argv = ["train", "--dataset", split, "--cache", root / "cache.safetensors", "--out", root / "run", "--epochs", 1,
            "--embed-dim", 8, "--hidden-dim", 8, "--min-count", 2, "--device", "cpu", "--quiet"]
    code, out, err = run_main(argv)
    assert code == 0, err
    first = (root / "run" / "best" / "model.safetensors").read_bytes()
    code, _, err = run_main(argv)
    assert_usage_error(code, err, "already holds a run")
    code, _, err = run_main([*argv, "--resume", "--epochs", 2, "--hidden-dim", 12])
    assert code == 2 and "Traceback" not in err  # after the data's log line, one line naming the flag
    assert_usage_error(code, err.strip().splitlines()[-1], "--hidden-dim", "hidden_dim=8", "asks for 12")
    assert (root / "run" / "best" / "model.safetensors").read_bytes() == first  # nothing lost
    code, out, err = run_main([*argv, "--force", "--seed", 1])
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["epochs_run"] == 1
    assert (root / "run" / "best" / "model.safetensors").read_bytes() != first


@pytest.mark.integration
def test_scst_continues_from_the_shipped_scst_member(core_coco_records, tmp_path, core_one_thread):
    """The acceptance command on a few images: SCST from an SCST checkpoint (issue 20)."""
    picked = [r for s, n in (("train", 12), ("val", 4)) for r in [r for r in core_coco_records if r.split == s][:n]]
    split = write_karpathy(picked, tmp_path / "split.json")
    code, out, err = run_main([
        "scst", "--init", PRETRAINED / "member-0", "--out", tmp_path / "X", "--epochs", 1, "--dataset", split,
        "--cache", tmp_path / "lite2.safetensors", "--batch-images", 6, "--samples", 2, "--device", "cpu",
        "--runtime", "torch", "-q"])
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["objective"] == "scst" and summary["epochs_run"] == 1
    config = json.loads((tmp_path / "X" / "latest" / "config.json").read_text())
    assert config["training"]["parent"]["objective"] == "scst"
    assert config["training"]["parent"]["parent"]["objective"] == "cross-entropy"
    assert torch.isfinite(torch.tensor(summary["best_val_cider"]))
