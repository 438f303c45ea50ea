"""Issue 29 (hostile inputs, round two), for training, evaluation and feature caches: a full disk
is exit 3 naming the file and loses nothing (item 1); empty captions are dropped with a line, and
a split left with nothing is exit 2 naming it (item 6); --out and --resume say what they find in
the folder (item 10). Every failure is one line, no traceback, and leaves the user's files as
they were."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import torch
from safetensors import SafetensorError
from safetensors import torch as safetensors_torch
from safetensors.torch import load_file

from captioning.cli import exit_codes
from captioning.data.karpathy import read_karpathy, write_karpathy
from captioning.data.records import ImageRecord
from captioning.decoder.checkpoint import Checkpoint
from captioning.features import cache as feature_cache
from captioning.training.state import read_metrics

from .test_cli import assert_usage_error, run_main

ENOSPC = "Error while serializing: I/O error: No space left on device (os error 28)"  # safetensors' own words


class FullDisk:
    """safetensors' writer fails as on a full disk (its SafetensorError, not an OSError) from its
    n-th call on."""

    def __init__(self, n: int) -> None:
        self.n, self.calls, self.real = n, 0, safetensors_torch.serialize_file

    def __call__(self, tensors, filename, metadata=None):
        self.calls += 1
        if self.calls >= self.n:
            raise SafetensorError(ENOSPC)
        return self.real(tensors, filename, metadata=metadata)


def one_error_line(err: str) -> str:
    """The command's one error line: the last, and the only one from main, with no traceback."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err and sum(line.startswith("captioning: ") for line in lines) == 1, err
    return lines[-1]


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- item 10: what --out and --resume find in the folder ----

@pytest.fixture(params=[["train"], ["scst", "--init", "nowhere"]], ids=["train", "scst"])
def command(request, tmp_path):
    """A train or scst command line up to its --out. Its dataset (and scst's --init) are missing:
    a claim that passes ends at that error (PAST_CLAIM), before any work."""
    return [*request.param, "--dataset", tmp_path / "missing.json", "--device", "cpu", "--out"]


def past_claim(code, err):
    """The claim on --out passed: the command stopped at its missing dataset or --init."""
    assert_usage_error(code, err)
    assert "missing.json: no such dataset file" in err or "nowhere: no such checkpoint folder" in err, err


def test_an_existing_folder_with_other_files_is_refused_without_force(tmp_path, command):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"mine")
    code, _, err = run_main([*command, out])
    assert_usage_error(code, err, f"--out {out}", "holds no run but other files (holiday.jpg)", "--force")
    assert snapshot(out) == {out.joinpath("holiday.jpg").relative_to(out): b"mine"}
    past_claim(*run_main([*command, out, "--force"])[::2])  # --force writes the run beside them


def test_an_empty_existing_folder_starts_a_new_run(tmp_path, command):
    (tmp_path / "empty").mkdir()
    past_claim(*run_main([*command, tmp_path / "empty"])[::2])


@pytest.mark.parametrize("present", [False, True], ids=["missing", "empty"])
def test_resume_with_no_run_in_the_folder_is_refused(tmp_path, command, present):
    out = tmp_path / "run"
    if present:
        out.mkdir()
    code, _, err = run_main([*command, out, "--resume"])
    where = "holds no run" if present else "does not exist"
    assert_usage_error(code, err, f"--out {out}: nothing to resume: the folder {where}", "drop --resume")
    assert out.exists() == present and (not present or not any(out.iterdir()))


def test_resume_of_a_run_cut_off_before_its_first_epoch_was_saved_says_so(tmp_path, command):
    out = tmp_path / "run"
    (out / ".latest.new").mkdir(parents=True)  # what a kill during the first save leaves
    code, _, err = run_main([*command, out, "--resume"])
    lines = err.strip().splitlines()
    assert len(lines) == 2
    past_claim(code, lines[1])
    assert lines[0] == f"--out {out}: no finished epoch to resume (no latest/trainer.json); starting the run afresh"


# ---- item 6: empty captions ----

def _records(tmp_path, splits):
    """(image path, split, captions) rows as a Karpathy split file; the images need not exist."""
    return write_karpathy([ImageRecord(tmp_path / f"img-{i}.jpg", split, caps, i)
                           for i, (split, caps) in enumerate(splits)], tmp_path / "split.json")


@pytest.mark.parametrize("command", [["train"], ["scst"]])
def test_a_train_split_of_empty_captions_is_refused_naming_it(tmp_path, command, tiny_checkpoint):
    split = _records(tmp_path, [("train", ["", "  "]), ("train", [""]), ("val", ["a dog"]), ("test", ["a cat"])])
    argv = [*command, "--dataset", split, "--out", tmp_path / "run", "--device", "cpu", "-q"]
    if command == ["scst"]:
        argv += ["--init", tiny_checkpoint]
    started = time.monotonic()
    code, _, err = run_main(argv)
    line = one_error_line(err)
    assert code == exit_codes.USAGE_ERROR and time.monotonic() - started < 60
    assert line == ("captioning: error: the train split has no non-empty captions: every caption of its images "
                    "is empty or missing, so there is nothing to train on")
    assert f"{split}: dropped 3 empty captions (image 0, 1)" in err
    assert not (tmp_path / "run").exists()


def test_evaluate_with_no_reference_left_in_the_split_is_refused(tmp_path, tiny_checkpoint):
    split = _records(tmp_path, [("train", ["a dog"]), ("val", ["a dog"]), ("test", [""]), ("test", [" "])])
    code, _, err = run_main(["evaluate", "--checkpoint", tiny_checkpoint, "--dataset", split, "--device", "cpu",
                             "--cache", tmp_path / "features.safetensors", "-q"])
    assert code == exit_codes.USAGE_ERROR
    assert one_error_line(err) == ("captioning: error: none of the 2 images of the test split has a non-empty "
                                   "reference caption; nothing to evaluate")
    assert f"skipped {tmp_path / 'img-2.jpg'} (image 2): no non-empty reference caption" in err


@pytest.fixture(scope="module")
def coco_tiny(core_coco_features, core_prefill_cache, tmp_path_factory):
    """40 train, 10 val and 3 test shared COCO images, and a feature cache prefilled for them."""
    _, kept = core_coco_features
    by = {s: [r for r in kept if r.split == s] for s in ("train", "val", "test")}
    root = tmp_path_factory.mktemp("hostile-training")
    split = write_karpathy(by["train"][:40] + by["val"][:10] + by["test"][:3], root / "split.json")
    cache = core_prefill_cache(root / "cache.safetensors", [r.path for r in read_karpathy(split)])
    return root, split, cache


@pytest.mark.integration
def test_evaluate_skips_an_image_whose_reference_is_empty(coco_tiny, tiny_checkpoint, tmp_path, core_prefill_cache,
                                                          core_one_thread):
    _, split, _ = coco_tiny
    data = json.loads(split.read_text())
    test = [im for im in data["images"] if im["split"] == "test"]
    test[0]["sentences"] = [{"raw": "", "tokens": []}]  # its only reference is ""
    test[1]["sentences"][0]["raw"] = "   "  # one empty reference among others
    hostile = tmp_path / "split.json"
    hostile.write_text(json.dumps(data))
    image, *scored = read_karpathy(hostile)[-3:]
    core_prefill_cache(tmp_path / "test.safetensors", [r.path for r in scored])
    code, out, err = run_main(["evaluate", "--checkpoint", tiny_checkpoint, "--dataset", hostile, "--device", "cpu",
                               "--cache", tmp_path / "test.safetensors", "--runtime", "torch", "--json", "-q"])
    assert code == 0, err
    assert "Traceback" not in err
    assert f"skipped {image.path} (image {image.image_id}): no non-empty reference caption" in err
    assert f"dropped 2 empty captions (image {test[0]['cocoid']}, {test[1]['cocoid']})" in err
    assert json.loads(out.strip().splitlines()[-1])["n_images"] == 2


# ---- item 1: a full disk while training or caching features ----

TINY = ["--epochs", 2, "--embed-dim", 8, "--hidden-dim", 8, "--min-count", 2, "--device", "cpu", "-q"]


def _train(split, cache, out, *more):
    return run_main(["train", "--dataset", split, "--cache", cache, "--out", out, *TINY, *more])


@pytest.mark.integration
@pytest.mark.parametrize("n", [2, 4, 5])  # epoch 1: latest/model; epoch 2: its first and second write
def test_a_full_disk_while_training_is_exit_3_and_resume_finishes_the_run(coco_tiny, tmp_path, monkeypatch, n,
                                                                          core_one_thread):
    root, split, cache = coco_tiny
    straight = root / "straight"
    if not straight.exists():
        code, _, err = _train(split, cache, straight)
        assert code == 0, err
    out = tmp_path / "run"
    with monkeypatch.context() as mp:
        mp.setattr(safetensors_torch, "serialize_file", FullDisk(n))
        code, _, err = _train(split, cache, out)
    line = one_error_line(err)
    assert code == exit_codes.SYSTEM_ERROR, err
    assert line.startswith(f"captioning: error: {out}/") and ".new" not in line
    assert ".safetensors: No space left on device (free some space and rerun" in line
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no half-written copy left
    if (out / "latest").exists():  # whole: its weights, config and trainer state are one epoch's
        trainer = json.loads((out / "latest" / "trainer.json").read_text())
        assert Checkpoint.load(out / "latest").training["epoch"] == trainer["epoch"] == 1
    code, _, err = _train(split, cache, out, "--resume")
    assert code == 0, err
    strip = lambda ms: [{k: v for k, v in m.items() if k != "seconds"} for m in ms]  # noqa: E731
    assert strip(read_metrics(out)) == strip(read_metrics(straight))
    for name in ("best", "latest"):
        a, b = load_file(straight / name / "model.safetensors"), load_file(out / name / "model.safetensors")
        assert all(torch.equal(a[k], b[k]) for k in a), name


@pytest.mark.integration
def test_a_full_disk_while_fine_tuning_is_exit_3_and_resume_finishes_the_run(coco_tiny, tmp_path, monkeypatch,
                                                                            core_one_thread):
    root, split, cache = coco_tiny
    straight = root / "straight"
    if not straight.exists():
        code, _, err = _train(split, cache, straight)
        assert code == 0, err
    argv = ["scst", "--init", straight / "best", "--dataset", split, "--cache", cache, "--out", tmp_path / "scst",
            "--epochs", 1, "--batch-images", 8, "--samples", 2, "--device", "cpu", "-q"]
    with monkeypatch.context() as mp:
        mp.setattr(safetensors_torch, "serialize_file", FullDisk(3))  # epoch 0's latest/optimizer.safetensors
        code, _, err = run_main(argv)
    assert code == exit_codes.SYSTEM_ERROR
    assert one_error_line(err) == (f"captioning: error: {tmp_path / 'scst' / 'latest' / 'optimizer.safetensors'}: "
                                   "No space left on device (free some space and rerun: finished outputs are kept "
                                   "and the run resumes)")
    code, out, err = run_main([*argv, "--resume"])
    assert code == 0, err
    assert [m["epoch"] for m in read_metrics(tmp_path / "scst")] == [0, 1]
    assert json.loads(out.strip().splitlines()[-1])["epochs_run"] == 1


def test_a_full_disk_while_caching_features_is_exit_3_and_keeps_the_old_cache(tmp_path, monkeypatch):
    images = [tmp_path / f"img-{i}.jpg" for i in range(3)]
    split = _records(tmp_path, [("train", ["a dog"]), ("val", ["a cat"]), ("test", ["a bird"])])
    cache = tmp_path / "features.safetensors"
    cache.write_bytes(b"an older cache, stale now")
    monkeypatch.setattr(feature_cache, "extract_features",
                        lambda encoder, paths, *args, **kwargs: (torch.zeros(len(paths), 1280), {}))
    monkeypatch.setattr(safetensors_torch, "serialize_file", FullDisk(1))
    code, _, err = run_main(["extract-features", "--dataset", split, "--cache", cache, "--device", "cpu",
                             "--runtime", "torch", "-q"])
    assert code == exit_codes.SYSTEM_ERROR
    assert one_error_line(err).startswith(f"captioning: error: {cache}: No space left on device")
    assert cache.read_bytes() == b"an older cache, stale now" and sorted(os.listdir(tmp_path)) == sorted(
        [cache.name, "split.json"])
    assert not any(p.exists() for p in images)


# ---- item 1 on a real full disk: a small tmpfs, where the machine lets a test mount one ----

MOUNT = """
set -u
mount -t tmpfs -o size="$SIZE" tmpfs "$DISK" || exit 99
cd "$DISK"
[ -z "${OLD:-}" ] || printf %s "$OLD" > "$DISK/features.safetensors"
"$PYTHON" -m captioning "$@" 2> "$KEEP/full.err"
echo $? > "$KEEP/full.rc"
cp -a "$DISK/." "$KEEP/after-full"
mount -o remount,size=64m "$DISK"
if [ "$1" = train ]; then
  "$PYTHON" -m captioning "$@" --resume 2> "$KEEP/resumed.err"
  echo $? > "$KEEP/resumed.rc"
  cp -a "$DISK/run" "$KEEP/resumed"
fi
"""


def _in_a_private_tmpfs(tmp_path, size: int, argv, old: str = ""):
    """Run `captioning ARGV` in a tmpfs of `size` bytes mounted in a private mount namespace (so
    nothing outside the test sees it); skip where the machine does not allow that."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1) to mount a private tmpfs")
    keep, disk = tmp_path / "keep", tmp_path / "disk"
    keep.mkdir()
    disk.mkdir()
    env = {**os.environ, "SIZE": str(size), "DISK": str(disk), "KEEP": str(keep), "OLD": old,
           "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "CAPTIONING_CACHE": str(tmp_path / "default-cache")}
    started = time.monotonic()
    done = subprocess.run([unshare, "--user", "--map-root-user", "--mount", "bash", "-c", MOUNT, "mount",
                           *map(str, argv)], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode == 99 or (done.returncode and "unshare" in done.stderr):
        pytest.skip(f"cannot mount a private tmpfs here ({done.stderr.strip()[:200]})")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 300
    return keep


def _bytes_on_tmpfs(folder) -> int:
    """What a folder takes on a tmpfs: every file in whole 4 KiB pages, plus a page per folder."""
    return sum(-(-p.stat().st_size // 4096) * 4096 if p.is_file() else 4096 for p in folder.rglob("*"))


@pytest.mark.integration
def test_training_into_a_full_tmpfs_is_exit_3_and_resume_finishes_the_run(coco_tiny, tmp_path, core_one_thread,
                                                                          core_onnx_cache):
    root, split, cache = coco_tiny
    core_onnx_cache(tmp_path / "default-cache")  # the runs' CAPTIONING_CACHE: no ONNX export of their own
    straight = root / "straight"
    if not straight.exists():
        code, _, err = _train(split, cache, straight)
        assert code == 0, err
    best, latest = _bytes_on_tmpfs(straight / "best"), _bytes_on_tmpfs(straight / "latest")
    size = best + latest + latest // 2 + 64 * 1024  # epoch 1 fits; epoch 2's new latest/ does not
    keep = _in_a_private_tmpfs(tmp_path, size, ["train", "--dataset", split, "--cache", cache, "--out", "run", *TINY])
    err = (keep / "full.err").read_text()
    assert (keep / "full.rc").read_text().strip() == "3", err
    line = one_error_line(err)
    assert line.startswith("captioning: error: run/") and "No space left on device" in line, line
    trainer = json.loads((keep / "after-full" / "run" / "latest" / "trainer.json").read_text())
    assert Checkpoint.load(keep / "after-full" / "run" / "latest").training["epoch"] == trainer["epoch"] == 1
    assert (keep / "resumed.rc").read_text().strip() == "0", (keep / "resumed.err").read_text()
    strip = lambda ms: [{k: v for k, v in m.items() if k != "seconds"} for m in ms]  # noqa: E731
    assert strip(read_metrics(keep / "resumed")) == strip(read_metrics(straight))


@pytest.mark.integration
def test_caching_features_onto_a_full_tmpfs_is_exit_3(tmp_path, core_coco_features):
    _, kept = core_coco_features
    split = write_karpathy([r for s in ("train", "val", "test") for r in [r for r in kept if r.split == s][:1]],
                           tmp_path / "split.json")
    keep = _in_a_private_tmpfs(tmp_path, 8192, ["extract-features", "--dataset", split, "--cache",
                                                "features.safetensors", "--runtime", "torch", "--device", "cpu",
                                                "-q"], old="an older cache")
    err = (keep / "full.err").read_text()
    assert (keep / "full.rc").read_text().strip() == "3", err
    assert one_error_line(err).startswith("captioning: error: features.safetensors: No space left on device")
    assert sorted(os.listdir(keep / "after-full")) == ["features.safetensors"]
    assert (keep / "after-full" / "features.safetensors").read_text() == "an older cache"
