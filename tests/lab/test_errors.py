"""Error analysis: the worst-captioned images of a split, and the labelled analysis file."""

import json
from pathlib import Path

import pytest
import torch

from captioning.core.errors import InputError
from captioning.data.records import ImageRecord
from captioning.decoder.decode_config import DecodeConfig
from captioning.lab.errors import (
    CATEGORIES,
    category_counts,
    compare_worst,
    rank_worst,
    read_analysis,
    stock_phrases,
    worst_images,
)
from captioning.text.vocabulary import Vocabulary
from tests.metrics.refs import REFS

WORDS = ["a", "dog", "bus", "pizza", "red", "on", "plate", "grass", "the", "cat"]


class ScriptedDecoder(torch.nn.Module):
    """Writes, for each image, the word ids its feature row holds (then <end>): a decoder whose
    captions are known in advance, for greedy and beam search alike."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def init_state(self, features):
        return features.long(), torch.zeros(features.size(0), dtype=torch.long)

    def step(self, tokens, states):
        script, t = states
        word = script.gather(1, t.clamp(max=script.size(1) - 1)[:, None]).squeeze(1)
        logits = torch.full((script.size(0), len(WORDS) + 4), -20.0)
        logits[torch.arange(script.size(0)), word] = 0.0
        return logits.log_softmax(-1), (script, t + 1)


def _script(vocab: Vocabulary, captions: list[str], length: int = 8) -> torch.Tensor:
    rows = [[*vocab.encode(c, add_special=False), Vocabulary.end_id] for c in captions]
    return torch.tensor([r + [Vocabulary.end_id] * (length - len(r)) for r in rows], dtype=torch.float)


def test_worst_images_are_the_lowest_cider_captions_lowest_first(core_one_thread):
    vocab = Vocabulary(WORDS)
    records = [ImageRecord(Path(f"/img/{k}.jpg"), "val", refs, k) for k, refs in REFS.items()]
    captions = ["a red bus", "a red bus", "a pizza on a plate"]  # the dog's photo gets the bus caption
    for cfg in (DecodeConfig(max_len=8), DecodeConfig("beam", beam_size=3, max_len=8)):
        worst = worst_images(ScriptedDecoder(), _script(vocab, captions), records, vocab, n=3, cfg=cfg)
        assert worst[0] == {"image_id": "dog", "file_name": "dog.jpg", "caption": "a red bus", "cider": 0.0}
        assert sorted(w["caption"] for w in worst[1:]) == ["a pizza on a plate", "a red bus"]
        assert 0 < worst[1]["cider"] <= worst[2]["cider"]
    assert len(worst_images(ScriptedDecoder(), _script(vocab, captions), records, vocab, n=1)) == 1
    with pytest.raises(InputError, match="2 feature rows for 3 records"):
        worst_images(ScriptedDecoder(), _script(vocab, captions[:2]), records, vocab)


def test_rank_worst_breaks_ties_by_id_and_keeps_n():
    rows = [{"image_id": i, "image": f"/x/{i}.jpg", "caption": c, "scores": {"CIDEr": s}}
            for i, c, s in [(3, "c", 5.0), (2, "b", 0.0), (1, "a", 0.0), (4, "d", 1.234)]]
    assert [(r["image_id"], r["cider"]) for r in rank_worst(rows, 3)] == [(1, 0.0), (2, 0.0), (4, 1.23)]
    assert rank_worst(rows, 9)[-1]["file_name"] == "3.jpg"
    with pytest.raises(InputError, match="at least 1"):
        rank_worst(rows, 0)


def _entry(image_id, **changes):
    entry = {"image_id": image_id, "file_name": f"{image_id}.jpg", "caption": "a cat", "cider": 1.5,
             "categories": ["wrong object"], "note": "a dog"}
    return {**entry, **changes}


def test_compare_worst_names_each_difference():
    fresh = [_entry(1), _entry(2)]
    assert compare_worst(fresh, [dict(e) for e in fresh]) == []
    assert compare_worst([_entry(1, cider=1.53)], [_entry(1)]) == []  # within the tolerance
    problems = compare_worst([_entry(1, caption="a dog", cider=2.0), _entry(3)], fresh)
    assert problems == ["image 1: caption 'a dog' vs 'a cat'", "image 1: CIDEr 2.0 vs 1.5",
                        "rank 2: committed image 3, computed 2"]
    assert compare_worst([_entry(1)], fresh)[0] == "1 committed images, 2 computed"


def test_read_analysis_checks_every_entry_and_counts_categories(tmp_path):
    path = tmp_path / "a.json"
    good = [_entry(1), _entry(2, categories=["wrong object", "wrong count"])]
    path.write_text(json.dumps({"images": good}))
    entries = read_analysis(path)["images"]
    counts = category_counts(entries)
    assert list(counts) == list(CATEGORIES) and counts["wrong object"] == 2 and counts["wrong count"] == 1
    assert sum(counts.values()) == 3
    bad = {"unknown category 'blurry'": [_entry(1, categories=["blurry"])],
           r"images\[1\].categories: expected a non-empty": [_entry(1), _entry(2, categories=[])],
           "missing field 'note'": [{k: v for k, v in _entry(1).items() if k != "note"}],
           "appears twice": [_entry(1), _entry(1)]}
    for message, images in bad.items():
        path.write_text(json.dumps({"images": images}))
        with pytest.raises(InputError, match=message):
            read_analysis(path)
    path.write_text("{not json")
    with pytest.raises(InputError, match=r"a\.json: cannot read"):
        read_analysis(path)


def test_stock_phrases_counts_common_openings_and_reused_captions():
    everything = ["a group of people standing", "a group of people sitting", "a group of people standing",
                  "a man riding a horse", "a man riding a wave", "a cat on a bed"]
    worst = ["a group of people standing", "a cat on a bed"]
    phrases = stock_phrases(worst, everything, top=2, words=3)
    assert phrases["openings"] == [("a group of", 1, 3), ("a man riding", 0, 2)]
    assert phrases["reused"] == (1, 2)
