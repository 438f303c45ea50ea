"""captioning.stats: the counting helpers behind the notebooks' plots."""

from pathlib import Path

import pytest
import torch

from captioning.data.records import ImageRecord
from captioning.decoder.config import DecoderConfig
from captioning.decoder.decode_config import DecodeConfig
from captioning.decoder.model import CaptionDecoder
from captioning.lab import stats
from captioning.text.vocabulary import Vocabulary


def _records() -> list[ImageRecord]:
    caps = {
        1: ["A dog runs.", "a dog on grass"],
        2: ["A cat sleeps on a bed", "cat on the bed"],
        3: ["A dog and a cat"],
        4: ["Two zebras", "a zebra herd"],
        5: ["a red bus"],
    }
    splits = {1: "train", 2: "train", 3: "train", 4: "val", 5: "test"}
    return [ImageRecord(Path(f"{i}.jpg"), splits[i], c, i) for i, c in caps.items()]


def test_captions_lengths_and_word_counts():
    recs = _records()
    train = stats.captions_of(recs, "train")
    assert train == ["A dog runs.", "a dog on grass", "A cat sleeps on a bed", "cat on the bed",
                     "A dog and a cat"]
    assert len(stats.captions_of(recs)) == 8
    assert stats.caption_lengths(["A dog runs.", "", "two-tone car's seat"]) == [3, 0, 3]
    counts = stats.word_counts(train)
    assert counts["a"] == 6 and counts["dog"] == 3 and counts["cat"] == 3
    ranks, freqs = stats.rank_frequency({"x": 1, "y": 7, "z": 3})
    assert ranks == [1, 2, 3] and freqs == [7, 3, 1]


def test_coverage_by_min_count_monotone_and_exact():
    train = ["a dog", "a dog", "a cat"]
    held = ["a dog", "a zebra"]
    rows = stats.coverage_by_min_count(train, held, [1, 2, 3])
    assert [r["min_count"] for r in rows] == [1, 2, 3]
    assert [r["vocab_size"] for r in rows] == [4 + 3, 4 + 2, 4 + 1]  # specials + words
    assert rows[0]["train_coverage"] == 1.0
    assert rows[0]["heldout_coverage"] == pytest.approx(3 / 4)
    assert rows[0]["unk_rate"] == pytest.approx(1 / 4)
    assert rows[0]["captions_with_unk"] == pytest.approx(1 / 2)
    assert rows[2]["train_coverage"] == pytest.approx(3 / 6)  # only "a" survives
    covs = [r["heldout_coverage"] for r in rows]
    assert covs == sorted(covs, reverse=True)
    # consistent with the Vocabulary the training code builds
    vocab = Vocabulary.build(train, min_count=2)
    assert len(vocab) == rows[1]["vocab_size"]
    assert vocab.coverage(held) == pytest.approx(rows[1]["heldout_coverage"])


def test_coverage_with_no_captions_is_safe():
    rows = stats.coverage_by_min_count([], [], [1])
    assert rows[0]["heldout_coverage"] == 0 and rows[0]["captions_with_unk"] == 0


def test_split_summary_and_subsample():
    recs = _records()
    summary = stats.split_summary(recs)
    assert list(summary) == ["train", "val", "test"]
    assert summary["train"] == {"images": 3, "captions": 5, "first_id": 1, "last_id": 3}
    assert summary["test"]["captions"] == 1
    sub = stats.subsample_splits(recs, {"train": 2, "test": 0})
    assert [r.image_id for r in sub] == [1, 2, 5]
    assert stats.subsample_splits(recs, {}) == []
    odd = [*recs, ImageRecord(Path("x.jpg"), "", ["x"], 9)]
    assert list(stats.split_summary(odd)) == ["train", "val", "test", ""]


def test_generated_caption_stats():
    caps = ["a dog", "a dog", "a cat", "a dog"]
    assert stats.distinct_captions(caps) == {"captions": 4, "distinct": 2, "distinct_share": 0.5}
    assert stats.distinct_captions([])["distinct_share"] == 0.0
    assert stats.most_common_captions(caps, 1) == [("a dog", 3)]
    assert stats.novel_share(["A dog.", "a bird"], ["a dog", "a cat"]) == 0.5
    assert stats.novel_share([], ["a"]) == 0.0
    assert stats.mean_length(["a dog", "a big dog"]) == 2.5
    assert stats.mean_length([]) == 0.0
    assert stats.distinct_words(caps) == 3
    reps = ["a plate of food with a plate of food", "a dog on a dog", "a cat"]
    assert stats.repeated_ngram_share(reps, 3) == pytest.approx(1 / 3)
    assert stats.repeated_ngram_share(reps, 2) == pytest.approx(2 / 3)
    assert stats.repeated_ngram_share([], 3) == 0.0


class _FakeEncoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Linear(4, 1000)

    def classify(self, features):
        return self.head(features)


def test_top_classes_sorted_probabilities():
    torch.manual_seed(0)
    enc = _FakeEncoder()
    top = stats.top_classes(enc, torch.randn(3, 4), k=5)
    assert len(top) == 3 and all(len(t) == 5 for t in top)
    for row in top:
        probs = [p for _, p in row]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
        assert all(isinstance(name, str) and name for name, _ in row)


def test_decoding_sweep_scores_each_setting():
    torch.manual_seed(0)
    vocab = Vocabulary.build(["a dog runs", "a cat sleeps", "a dog"], min_count=1)
    decoder = CaptionDecoder(DecoderConfig(vocab_size=len(vocab), feature_dim=8, embed_dim=8,
                                           hidden_dim=8))
    feats = torch.randn(3, 8)
    refs = [["a dog runs"], ["a cat sleeps"], ["a dog"]]
    settings = {"greedy": DecodeConfig(max_len=5), "beam-2": DecodeConfig("beam", beam_size=2, max_len=5)}
    out = stats.decoding_sweep(decoder, feats, refs, vocab, settings)
    assert list(out) == ["greedy", "beam-2"]
    for row in out.values():
        assert len(row["captions"]) == 3 and row["CIDEr"] >= 0
        assert 1 <= row["mean_length"] <= 5 and 1 <= row["distinct"] <= 3


def test_decoding_work_counts_the_rows_each_strategy_runs():
    torch.manual_seed(0)
    decoder = CaptionDecoder(DecoderConfig(vocab_size=12, feature_dim=8, embed_dim=8, hidden_dim=8))
    with torch.no_grad():
        decoder.out.bias[Vocabulary.end_id] = -1e4  # no caption ends: every row runs max_len steps
    feats = torch.randn(5, 8)
    greedy = stats.decoding_work(decoder, feats, DecodeConfig(max_len=6), batch_size=2)
    beam = stats.decoding_work(decoder, feats, DecodeConfig("beam", beam_size=3, max_len=6))
    assert greedy["rows_per_image"] == 6  # one row per step
    assert beam["rows_per_image"] == 1 + 3 * 5  # one shared first step, then three beams
    assert greedy["ms_per_image"] > 0 and beam["ms_per_image"] > 0
    assert "step" not in vars(decoder)  # the counting wrapper is gone again
    with torch.no_grad():
        decoder.out.bias[Vocabulary.end_id] = 1e4  # every caption ends at once (after min_len)
    assert stats.decoding_work(decoder, feats, DecodeConfig(max_len=6))["rows_per_image"] == 2


def test_decoding_times_interleave_rounds_and_summarize_each_setting():
    torch.manual_seed(0)
    decoder = CaptionDecoder(DecoderConfig(vocab_size=12, feature_dim=8, embed_dim=8, hidden_dim=8))
    settings = {1: DecodeConfig(max_len=4), 3: DecodeConfig("beam", beam_size=3, max_len=4)}
    times = stats.decoding_times(decoder, torch.randn(3, 8), settings, rounds=2)
    assert list(times) == [1, 3]
    assert all(0 < t["min"] <= t["median"] <= t["max"] for t in times.values())


def test_shared_and_specific_split_the_sum_of_squares():
    same = torch.tensor([[0.5, -0.2, 0.9]]).repeat(4, 1)
    assert stats.shared_and_specific(same)["shared"] == pytest.approx(1.0)
    opposite = torch.tensor([[0.3, -0.4], [-0.3, 0.4]])
    split = stats.shared_and_specific(opposite)
    assert split["shared"] == pytest.approx(0.0) and split["specific"] == pytest.approx(1.0)
    mixed = stats.shared_and_specific(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    assert mixed["shared"] == pytest.approx(0.5)  # mean (0.5, 0): 2 * 0.25 of a total of 1


def test_changed_examples_pick_the_largest_gains_and_losses_among_changed_captions():
    before = ["a", "b", "c", "d", "e"]
    after = ["a", "B", "C", "d", "E"]
    gain = [9.0, 3.0, -4.0, 8.0, 5.0]  # images 0 and 3 did not change: never picked
    assert stats.changed_examples(before, after, gain, up=2, down=1) == [4, 1, 2]
    assert stats.changed_examples(before, after, [1.0] * 5, up=1, down=1) == [1]  # no loss to show
