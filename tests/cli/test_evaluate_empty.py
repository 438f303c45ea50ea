"""Issue 19: `captioning evaluate` on a split whose images are all missing stops at once with a
usage error, instead of hanging on METEOR's Java child."""

import time

from captioning.cli import exit_codes
from captioning.data.karpathy import write_karpathy
from captioning.data.records import ImageRecord
from tests.cli.test_cli import run_main


def test_evaluate_with_no_readable_test_image_fails_fast(tmp_path, tiny_checkpoint):
    records = [ImageRecord(tmp_path / f"gone-{i}.jpg", split, ["a dog on the grass"], i)
               for i, split in enumerate(["train", "val", "test", "test"])]
    dataset = write_karpathy(records, tmp_path / "split.json")
    started = time.monotonic()
    code, _, err = run_main(["evaluate", "--checkpoint", tiny_checkpoint, "--dataset", dataset, "--runtime", "torch",
                             "--cache", tmp_path / "features.pt", "--workers", "0", "-q"])
    assert code == exit_codes.USAGE_ERROR and time.monotonic() - started < 60
    lines = err.strip().splitlines()
    assert lines[-1] == ("captioning: error: none of the 2 images of the test split could be read "
                         "(see the lines above); nothing to evaluate")
    assert sum(line.startswith("skipped ") for line in lines) == 2
