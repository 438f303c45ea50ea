"""SCST: the toy problem where it must raise the reward, its baselines and log-probabilities, and
runs that resume exactly like cross-entropy ones."""

import json
from pathlib import Path

import pytest
import torch

from captioning.data.records import ImageRecord
from captioning.data.tensors import prepare_splits
from captioning.decoder.checkpoint import Checkpoint
from captioning.decoder.config import DecoderConfig
from captioning.decoder.decode_config import DecodeConfig
from captioning.decoder.model import CaptionDecoder
from captioning.decoder.search import decode
from captioning.features.config import EncoderSpec
from captioning.training.config import ScstConfig
from captioning.training.scst import advantages, sample, scst_loss, sequence_logprobs
from captioning.training.scst_run import fit_scst
from captioning.training.state import read_metrics

pytestmark = pytest.mark.usefixtures("core_one_thread")
WORDS = ["a", "dog", "cat", "red", "blue", "runs", "sits"]


def tiny(seed=0, dropout=0.0):
    torch.manual_seed(seed)
    return CaptionDecoder(DecoderConfig(vocab_size=len(WORDS) + 4, feature_dim=6, embed_dim=8, hidden_dim=12,
                                        dropout=dropout))


def test_the_mean_baseline_is_the_other_samples_mean_and_greedy_is_per_image():
    r = torch.tensor([1.0, 2.0, 3.0, 10.0, 10.0, 10.0])
    assert advantages(r, 3, "mean").tolist() == [-1.5, 0.0, 1.5, 0.0, 0.0, 0.0]
    assert advantages(r, 3, "greedy", torch.tensor([2.0, 4.0])).tolist() == [-1, 0, 1, 6, 6, 6]


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_recomputed_logprobs_are_the_sampling_distribution(temperature):
    """Drawn first words are distributed as exp(recomputed log-probability): on-policy."""
    dec = tiny().eval()
    feats = torch.randn(1, 6, generator=torch.Generator().manual_seed(1))
    draws = sample(dec, feats, 20_000, 1, temperature, gen=torch.Generator().manual_seed(0))
    words, counts = draws[:, 0].unique(return_counts=True)
    tok, _ = sequence_logprobs(dec, feats.expand(len(words), -1), words[:, None], temperature=temperature)
    assert torch.allclose(counts / counts.sum(), tok[:, 0].exp(), atol=0.015)
    assert not {0, 1, 3} & set(words.tolist())  # <pad>, <start>, <unk> are never sampled


def test_greedy_samples_are_greedy_decoding():
    dec = tiny().eval()
    feats = torch.randn(3, 6, generator=torch.Generator().manual_seed(1))
    seqs = sample(dec, feats, 1, 10, greedy=True)
    hyps = decode(dec, feats, DecodeConfig(max_len=10, min_len=0))
    assert [[w for w in s if w not in (0, 2)] for s in seqs.tolist()] == [h[0].tokens for h in hyps]


@pytest.mark.parametrize("baseline", ["greedy", "mean"])
@pytest.mark.parametrize("sample_dropout", [False, True])
def test_scst_raises_the_reward_on_a_toy_problem(baseline, sample_dropout):
    """Reward: the share of a caption's words that are "dog". Policy gradient must learn it."""
    dec = tiny(dropout=0.3 if sample_dropout else 0.0)
    target = 4 + WORDS.index("dog")

    def reward(keys, seqs):
        out = []
        for s in seqs:
            words = [w for w in s if w not in (0, 1)][:-1] if 2 in s else [w for w in s if w not in (0, 1)]
            out.append(sum(w == target for w in words) / max(len(words), 1))
        return out

    cfg = ScstConfig(lr=3e-2, samples=4, batch_images=8, max_len=6, baseline=baseline, sample_dropout=sample_dropout)
    opt = torch.optim.Adam(dec.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(8, 6, generator=torch.Generator().manual_seed(2))
    history = []
    for _ in range(60):
        terms, counts, stats = scst_loss(dec, feats, list(range(8)), reward, cfg, gen)
        opt.zero_grad()
        (terms[0] / counts[0]).backward()
        opt.step()
        history.append(stats["reward"])
    assert sum(history[:5]) / 5 < 0.3 and sum(history[-5:]) / 5 > 0.8


def toy_splits():
    g = torch.Generator().manual_seed(0)
    records, feats = [], []
    for i in range(24):
        color, animal = ("red", "blue")[i % 2], ("dog", "cat")[i // 2 % 2]
        f = torch.randn(6, generator=g) * 0.1
        f[i % 2] += 2
        f[2 + i // 2 % 2] += 2
        feats.append(f)
        caps = [f"a {color} {animal} runs", f"a {color} {animal} sits"]
        records.append(ImageRecord(Path(f"/toy/{i}.jpg"), "val" if i >= 20 else "train", caps, i))
    return prepare_splits(records, torch.stack(feats), 1, 20)


def start_checkpoint(tmp_path):
    vocab, split, _ = toy_splits()
    torch.manual_seed(0)
    dec = CaptionDecoder(DecoderConfig(vocab_size=len(vocab), feature_dim=6, embed_dim=8, hidden_dim=12, dropout=0.2))
    folder = Checkpoint(dec, vocab, EncoderSpec(feature_dim=6), decoding={"strategy": "greedy"}).save(tmp_path / "ce")
    return folder, split


def run(tmp_path, out, epochs, resume=False):
    folder, split = start_checkpoint(tmp_path)
    cfg = ScstConfig(epochs=epochs, lr=1e-2, batch_images=6, samples=3, patience=10, ce_weight=0.5)
    return fit_scst(Checkpoint.load(folder), split["train"], split["val"], cfg, tmp_path / out, resume=resume,
                    progress=False)


def test_runs_log_reward_baseline_and_val_cider_and_resume_exactly(tmp_path):
    straight = run(tmp_path, "straight", 2)
    run(tmp_path, "resumed", 1)
    resumed = run(tmp_path, "resumed", 2, resume=True)
    assert straight == {**resumed, "train_seconds": straight["train_seconds"]}
    metrics = read_metrics(tmp_path / "straight")
    assert [m["epoch"] for m in metrics] == [0, 1, 2]
    assert {"train_reward", "train_baseline", "train_ce", "val_cider", "val_dangling"} <= set(metrics[1])
    strip = lambda ms: [{k: v for k, v in m.items() if k != "seconds"} for m in ms]  # noqa: E731
    assert strip(read_metrics(tmp_path / "resumed")) == strip(metrics)
    best = json.loads((tmp_path / "straight" / "best" / "config.json").read_text())
    assert best["training"]["stage"] == "scst" and best["training"]["init"].endswith("ce")
    assert best["decoding"] == {"strategy": "greedy"}
