"""SCST: it samples through decoder.search, its log-probabilities are those of the samples, it
raises the reward on a toy problem, and its runs resume exactly and chain (SCST after SCST)."""

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
from captioning.training.config import ScstConfig, TrainConfig
from captioning.training.loop import SelfCritical, fit
from captioning.training.objectives import Share
from captioning.training.provenance import TrainingRecord
from captioning.training.scst import HumanCaptions, advantages, sample, sequence_logprobs
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
    """Drawn first words are distributed as exp(recomputed log-probability): on-policy, with the
    masks of decoder.search (<pad>, <start>, <unk>, and <end> before min_len)."""
    dec = tiny().eval()
    feats = torch.randn(1, 6, generator=torch.Generator().manual_seed(1))
    draws = sample(dec, feats, 20_000, 1, temperature, gen=torch.Generator().manual_seed(0))
    words, counts = draws[:, 0].unique(return_counts=True)
    tok, _ = sequence_logprobs(dec, feats.expand(len(words), -1), words[:, None], temperature=temperature)
    assert torch.allclose(counts / counts.sum(), tok[:, 0].exp(), atol=0.015)
    assert not {0, 1, 2, 3} & set(words.tolist())  # <pad>, <start>, <end> (min_len 1), <unk>


def test_sampling_with_dropout_masks_is_recomputed_under_the_same_masks():
    dec = tiny(dropout=0.5).eval()
    feats = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    masks = dec.dropout_masks(4, 6, torch.Generator().manual_seed(3))
    seqs = sample(dec, feats, 1, 6, 1.0, masks, gen=torch.Generator().manual_seed(0))
    with_masks, mask = sequence_logprobs(dec, feats, seqs, masks)
    assert torch.isfinite(with_masks[mask]).all()  # every sampled word is possible under those masks
    assert not torch.allclose(with_masks, sequence_logprobs(dec, feats, seqs)[0])


def test_the_greedy_baseline_is_the_batched_decoders_greedy_caption():
    dec = tiny().eval()
    feats = torch.randn(3, 6, generator=torch.Generator().manual_seed(1))
    seqs = sample(dec, feats, 1, 10, greedy=True)
    hyps = decode(dec, feats, DecodeConfig(max_len=10))
    assert [[w for w in s if w not in (0, 2)] for s in seqs.tolist()] == [h[0].tokens for h in hyps]


def test_human_captions_are_drawn_from_each_images_own():
    _, split, _ = toy_splits()
    train = split["train"]
    images = torch.tensor([0, 5, 5, 19])
    rows = HumanCaptions(train).draw(images)
    for image, row in zip(images.tolist(), rows):
        own = train.tokens[train.owner == image]
        assert any(torch.equal(row, r) for r in own)


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


def start_checkpoint(tmp_path, dropout=0.2):
    """A cross-entropy checkpoint (untrained weights) with its training record."""
    vocab, split, _ = toy_splits()
    torch.manual_seed(0)
    dec = CaptionDecoder(DecoderConfig(vocab_size=len(vocab), feature_dim=6, embed_dim=8, hidden_dim=12,
                                       dropout=dropout))
    record = TrainingRecord("cross-entropy", TrainConfig(max_words=12).to_dict(), 3)
    folder = Checkpoint(dec, vocab, EncoderSpec(feature_dim=6), record.to_dict(),
                        decoding={"strategy": "greedy"}).save(tmp_path / "ce")
    return folder, split


@pytest.mark.parametrize("baseline", ["greedy", "mean"])
@pytest.mark.parametrize("sample_dropout", [False, True])
def test_scst_raises_the_reward_on_a_toy_problem(tmp_path, baseline, sample_dropout):
    """Reward: the share of a caption's words that are "dog". Policy gradient must learn it."""
    folder, split = start_checkpoint(tmp_path, dropout=0.3 if sample_dropout else 0.0)
    ckpt = Checkpoint.load(folder)
    target = ckpt.vocab.stoi["dog"]

    def reward(keys, seqs):
        words = [[w for w in s if w > 3] for s in seqs]
        return [sum(w == target for w in ws) / max(len(ws), 1) for ws in words]

    cfg = ScstConfig(lr=3e-2, samples=4, batch_images=8, max_len=6, baseline=baseline, sample_dropout=sample_dropout,
                     ce_weight=0.0)
    objective = SelfCritical(cfg, ckpt)
    objective.prepare(split["train"])
    objective.reward = reward
    opt = objective.optimizer(ckpt.decoder)
    images, history = torch.arange(8), []
    torch.manual_seed(0)
    for _ in range(60):
        loss, stats = objective.loss(ckpt.decoder, Share(images, images, 1.0, 1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(stats["reward"])
    assert history[0] < 0.3 and sum(history[-5:]) / 5 > 0.8


def run(tmp_path, out, epochs, resume=False, init=None):
    folder, split = start_checkpoint(tmp_path)
    cfg = ScstConfig(epochs=epochs, lr=1e-2, batch_images=6, samples=3, patience=10, ce_weight=0.5)
    return fit(SelfCritical(cfg, Checkpoint.load(init or folder)), split["train"], split["val"], tmp_path / out,
               resume=resume, progress=False)


def test_runs_log_reward_baseline_and_val_cider_and_resume_exactly(tmp_path):
    straight = run(tmp_path, "straight", 2)
    run(tmp_path, "resumed", 1)
    resumed = run(tmp_path, "resumed", 2, resume=True)
    assert straight == {**resumed, "train_seconds": straight["train_seconds"]}
    metrics = read_metrics(tmp_path / "straight")
    assert [m["epoch"] for m in metrics] == [0, 1, 2]
    assert {"train_reward", "train_baseline", "train_ce", "grad_norm", "val_cider", "val_dangling"} <= set(metrics[1])
    strip = lambda ms: [{k: v for k, v in m.items() if k != "seconds"} for m in ms]  # noqa: E731
    assert strip(read_metrics(tmp_path / "resumed")) == strip(metrics)
    best = json.loads((tmp_path / "straight" / "best" / "config.json").read_text())
    assert best["training"]["objective"] == "scst" and best["training"]["init"].endswith("ce")
    assert best["decoding"] == {"strategy": "greedy"}


def test_scst_chains_from_an_scst_checkpoint(tmp_path):
    """SCST twice: the second run starts from the first's best/ (its epoch 0 scores what the first
    run's best scored), and the record chain reads back to the cross-entropy run."""
    first = run(tmp_path, "scst-1", 1)
    second = run(tmp_path, "scst-2", 1, init=tmp_path / "scst-1" / "best")
    assert second["epochs_run"] == 1
    assert read_metrics(tmp_path / "scst-2")[0]["val_cider"] == pytest.approx(first["best_val_cider"])
    record = TrainingRecord.read(Checkpoint.load(tmp_path / "scst-2" / "latest").training)
    assert [r.objective for r in record.chain()] == ["scst", "scst", "cross-entropy"]
    assert record.init.endswith("best") and record.parent.init.endswith("ce")
    assert record.cross_entropy().max_words == 12 and isinstance(record.typed_config(), ScstConfig)
