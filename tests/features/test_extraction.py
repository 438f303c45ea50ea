"""Image loader workers: batches arrive in shared memory, and a worker that cannot hand its batch
over (no shared memory left, a file size limit) stops the run at once with one line."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from captioning.features import extraction
from captioning.features.preprocessing import Pixels, Preprocessing

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
PIXELS = Pixels(Preprocessing(resize=40, crop=32))


def test_batches_keep_order_and_report_bad_files(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    paths = [*sorted(SAMPLES.glob("*.jpg"))[:3], bad]
    batches = list(extraction.image_batches(paths, PIXELS, batch_size=2, num_workers=1))
    indices = [i for b in batches for i in b[0]]
    errors = [e for b in batches for e in b[2]]
    assert indices == [0, 1, 2] and [i for i, _ in errors] == [3] and "broken.jpg" in errors[0][1]
    assert batches[0][1].shape == (2, 3, 32, 32) and batches[0][1].dtype == torch.uint8


def test_a_worker_failure_is_one_error_not_a_hang(monkeypatch):
    def no_memory(self):
        raise RuntimeError("unable to resize file </torch_1> to the right size: File too large (27)")

    monkeypatch.setattr(torch.Tensor, "share_memory_", no_memory)  # workers fork with it
    with pytest.raises(extraction.WorkerError, match="worker failed: RuntimeError: unable to resize file"):
        list(extraction.image_batches(sorted(SAMPLES.glob("*.jpg"))[:2], PIXELS, batch_size=2, num_workers=1))


SCRIPT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))  # `ulimit -f 1` (Python ignores SIGXFSZ)
from pathlib import Path
from captioning.features.extraction import WorkerError, image_batches
from captioning.features.preprocessing import Pixels, Preprocessing
paths = sorted(Path(sys.argv[1]).glob("*.jpg"))[:2]
try:
    list(image_batches(paths, Pixels(Preprocessing(resize=40, crop=32)), batch_size=2, num_workers=1))
except WorkerError as exc:
    print(exc)
    sys.exit(3)
"""


def test_under_a_file_size_limit_the_loader_stops_instead_of_waiting():
    """Issue 19: under `ulimit -f 1` a worker could not grow its shared-memory file, the batch
    was lost in the queue's feeder thread, and the main process waited forever."""
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(SAMPLES)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 3, done.stderr[-2000:]
    line, = done.stdout.strip().splitlines()
    assert "an image loading worker failed" in line and "File too large" in line
