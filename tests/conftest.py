"""Shared fixtures; names start with tiny_ (small, fast stand-ins for real models and data)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from captioning.decoder.checkpoint import Checkpoint
from captioning.decoder.config import DecoderConfig
from captioning.decoder.model import CaptionDecoder
from captioning.features.config import EncoderSpec
from captioning.text.vocabulary import Vocabulary

TINY_WORDS = ("a", "dog", "cat", "on", "the", "red", "blue", "grass", "sits", "runs", "with", "ball")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 16-unit LSTM decoder for EfficientNet-Lite0 features, saved as a checkpoint folder
    whose default decoding is greedy with at most 8 tokens. Its image and output weights are
    scaled up so that different images get different captions."""
    torch.manual_seed(0)
    vocab = Vocabulary(list(TINY_WORDS))
    decoder = CaptionDecoder(DecoderConfig(vocab_size=len(vocab), feature_dim=1280, embed_dim=16,
                                           hidden_dim=16))
    with torch.no_grad():
        decoder.image.weight.mul_(30)
        decoder.out.weight.mul_(5)
    folder = tmp_path_factory.mktemp("tiny") / "checkpoint"
    decoding = {"strategy": "greedy", "max_len": 8}
    return Checkpoint(decoder.eval(), vocab, EncoderSpec(), decoding=decoding).save(folder)


# ---- core_ fixtures: the shared COCO subset, its features and a tiny model trained on them ----
# (imports are local so these fixtures stay independent of the ones above)

CORE_SUBSET = {"train": 160, "val": 20, "test": 40}  # images of each split used from the shared set


class _core_threads:
    """with _core_threads(1): ... -- torch intra-op threads, restored afterwards. On a busy
    2-core machine one thread is 5-10x faster for these small models (and even for the CNN)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> None:
        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self.before)


@pytest.fixture(scope="session")
def core_encoder():
    """The default (pretrained EfficientNet-Lite0) encoder, built once."""
    from captioning.features.encoder import build_encoder

    return build_encoder()


@pytest.fixture(scope="session")
def core_shared_coco() -> Path:
    """The shared COCO val2017 folder; integration tests are skipped without it."""
    from tests.shared import shared_coco

    root = shared_coco()
    if root is None:
        pytest.skip("../shared/data/coco-val2017 not found")
    return root


@pytest.fixture(scope="session")
def core_coco_records(core_shared_coco):
    """All 2,709 shared COCO images with the deterministic train/val/test split."""
    from captioning.data.datasets import load_dataset

    return load_dataset(core_shared_coco / "captions_val2017.json", core_shared_coco / "images")


@pytest.fixture(scope="session")
def core_coco_features(core_coco_records, core_encoder, tmp_path_factory):
    """(features, records) of the first CORE_SUBSET images of each split, extracted once.

    Set CORE_FEATURE_CACHE=FILE to keep the cache between runs (it is validated, never stale)."""
    import os

    from captioning.features.cache import record_features

    subset = [r for split, n in CORE_SUBSET.items()
              for r in [r for r in core_coco_records if r.split == split][:n]]
    cache = os.environ.get("CORE_FEATURE_CACHE") or tmp_path_factory.mktemp("core_features") / "coco.safetensors"
    with _core_threads(1):
        features, kept, errors = record_features(subset, core_encoder, cache, progress=False)
    assert not errors and len(kept) == len(subset)
    return features, kept


@pytest.fixture(scope="session")
def core_prefill_cache(core_coco_features, core_encoder):
    """prefill(cache, paths): write a valid feature cache for (a subset of) the core images from
    the already extracted features, so CLI tests skip re-running the CNN."""
    from captioning.features import cache as feats

    features, kept = core_coco_features
    row = {Path(r.path).resolve(): i for i, r in enumerate(kept)}

    def lookup(encoder, paths, *args, **kwargs):
        return features[[row[Path(p).resolve()] for p in paths]].clone(), {}

    def prefill(cache, paths):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(feats, "extract_features", lookup)  # the name cache.py calls
            feats.cached_features(core_encoder, paths, cache, progress=False)
        assert feats.stale_reason(cache, core_encoder.spec, paths) is None
        return cache

    return prefill


@pytest.fixture(scope="session")
def core_onnx_cache(tmp_path_factory):
    """seeded(folder): make `folder` a CAPTIONING_CACHE that already holds the default encoder's
    ONNX export (exported once per session), for tests whose commands would otherwise each
    export it again into a fresh cache (5-8 s a time). Exports themselves are tested in
    tests/features/test_onnx.py."""
    import shutil

    from captioning.features import onnx
    from captioning.features.config import DEFAULT_ENCODER

    home = tmp_path_factory.mktemp("onnx_home")
    if onnx.onnx_available():
        onnx.onnx_encoder(DEFAULT_ENCODER, cache_dir=home / "onnx")

    def seeded(folder: Path) -> Path:
        shutil.copytree(home, folder, dirs_exist_ok=True)
        return folder

    return seeded


@pytest.fixture(scope="session")
def core_coco_run(core_coco_features, core_encoder, tmp_path_factory):
    """A small LSTM decoder trained for 4 epochs on the core COCO subset's train split."""
    from types import SimpleNamespace

    from captioning.data.tensors import prepare_splits
    from captioning.decoder.config import DecoderConfig
    from captioning.training.config import TrainConfig
    from captioning.training.loop import fit

    features, kept = core_coco_features
    vocab, split, recs = prepare_splits(kept, features, min_count=2, max_words=20)
    out = tmp_path_factory.mktemp("core_run")
    model_cfg = DecoderConfig(vocab_size=len(vocab), embed_dim=64, hidden_dim=128, dropout=0.1)
    cfg = TrainConfig(epochs=4, batch_size=32, lr=3e-3, warmup_epochs=0.5, patience=10, min_count=2)
    with _core_threads(1):
        summary = fit(split["train"], split["val"], vocab, model_cfg, cfg, core_encoder.spec, out,
                      progress=False)
    return SimpleNamespace(out=out, vocab=vocab, split=split, records=recs, summary=summary)


@pytest.fixture
def core_one_thread():
    """Run a test with one torch thread: tiny tensors gain nothing from more, and on a busy
    machine the thread hand-offs make them up to 100x slower."""
    with _core_threads(1):
        yield


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker (and every process it starts) uses one torch thread: two
    workers of two threads each on two cores make the small models here several times slower."""
    import os

    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`-n 2 --dist loadgroup`), run the notebooks on one worker, in order:
    they share ../.cache/features and notebook 06 resumes notebook 02's run."""
    for item in items:
        if str(item.path).endswith(".ipynb"):
            item.add_marker(pytest.mark.xdist_group("notebooks"))
