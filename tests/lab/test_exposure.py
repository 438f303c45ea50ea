"""Exposure bias measured: human vs own greedy prefixes on a tiny decoder and toy captions."""

from pathlib import Path

import torch

from captioning.data.records import ImageRecord
from captioning.data.tensors import prepare_splits
from captioning.decoder.config import DecoderConfig
from captioning.decoder.model import CaptionDecoder
from captioning.lab.exposure import exposure_bias, own_prefixes


def _toy():
    words = ["a red dog runs on the grass here", "a blue cat sits on a sofa", "two birds fly over the sea"]
    records = [ImageRecord(Path(f"/toy/{i}.jpg"), "train" if i < 6 else "val", [words[i % 3], words[(i + 1) % 3]], i) for i in range(12)]
    vocab, split, _ = prepare_splits(records, torch.randn(12, 6, generator=torch.Generator().manual_seed(0)), 1, 20)
    torch.manual_seed(0)
    model = CaptionDecoder(DecoderConfig(vocab_size=len(vocab), feature_dim=6, embed_dim=8, hidden_dim=8)).eval()
    return model, split["val"], vocab


def test_own_prefixes_hold_the_greedy_caption_of_each_captions_image():
    model, data, vocab = _toy()
    rows, lengths = own_prefixes(model, data, vocab)
    assert rows.shape == (len(data.tokens), data.tokens.size(1) - 1)
    assert (rows[:, 0] == vocab.start_id).all()
    assert torch.equal(rows[0], rows[1]) and lengths[0] == lengths[1]  # captions 0 and 1 share image 0
    assert ((rows != vocab.pad_id).sum(1) == lengths + 1).all()


def test_first_position_is_the_same_for_both_prefixes_and_the_shares_are_fractions():
    model, data, vocab = _toy()
    out = exposure_bias(model, data, vocab, min_captions=1)
    assert out["position"][0] == 1 and len(out["human"]) == len(out["own"]) == len(out["differs"])
    assert abs(out["human"][0] - out["own"][0]) < 1e-5  # both read only <start>
    assert out["differs"][0] == 0.0 and all(0.0 <= d <= 1.0 for d in out["differs"])
    assert all(n >= 1 for n in out["captions"])
