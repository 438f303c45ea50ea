"""Captioning a split and scoring it: evaluate_split's scores and per-image rows."""

from pathlib import Path

import pytest
import torch

from captioning.data.records import ImageRecord
from captioning.decoder.config import DecoderConfig
from captioning.decoder.decode_config import DecodeConfig
from captioning.decoder.model import CaptionDecoder
from captioning.metrics.coco import METRICS
from captioning.text.vocabulary import Vocabulary
from captioning.training.evaluation import caption_features, evaluate_split
from tests.metrics.refs import REFS


def test_evaluate_split_with_a_tiny_decoder(core_one_thread):
    torch.manual_seed(0)
    vocab = Vocabulary(["a", "dog", "bus", "pizza", "red", "on"])
    dec = CaptionDecoder(DecoderConfig(vocab_size=len(vocab), feature_dim=6, embed_dim=4, hidden_dim=8))
    records = [ImageRecord(Path(f"/img/{k}.jpg"), "test", refs, k) for k, refs in REFS.items()]
    feats = torch.randn(3, 6)
    hyps = caption_features(dec, feats, vocab, DecodeConfig(max_len=5), batch_size=2)
    assert len(hyps) == 3 and all(len(h) == 1 for h in hyps)
    out = evaluate_split(dec, feats, records, vocab, DecodeConfig(max_len=5), meteor=False)
    scores = out["scores"]
    assert set(scores) == {m for m in METRICS if m != "METEOR"} | {"distinct_captions", "dangling_share", "n_images"}
    assert scores["n_images"] == 3 and 1 <= scores["distinct_captions"] <= 3
    assert [r["image_id"] for r in out["images"]] == list(REFS)
    row = out["images"][0]
    assert row["caption"] == hyps[0][0].text and row["references"] == REFS["dog"]
    assert row["logprob"] == pytest.approx(hyps[0][0].logprob)
    assert set(row["scores"]) == set(scores) - {"distinct_captions", "dangling_share", "n_images"}
