"""COCO caption metrics on hand-made captions: keys, x100 scale, per-image rows, errors, table."""


import pytest

from captioning.metrics.coco import METRICS, cider, format_table, score_captions
from captioning.metrics.ptb import ptb_tokenize
from tests.metrics.refs import REFS

PERFECT = {k: v[0] for k, v in REFS.items()}
WRONG = {"dog": "a plate of food on a table", "bus": "two cats sleep on a sofa", "pizza": "a man rides a horse"}


@pytest.fixture(scope="module")
def perfect():
    return score_captions(REFS, PERFECT)


def test_keys_are_exactly_the_coco_metrics(perfect):
    overall, per_image = perfect
    assert list(overall) == ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"]
    assert tuple(overall) == METRICS
    assert set(per_image) == set(REFS)
    assert all(set(row) == set(METRICS) for row in per_image.values())


def test_perfect_captions_score_high_on_a_x100_scale(perfect):
    overall, per_image = perfect
    for m in ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L"):
        assert 99.0 < overall[m] <= 100.0 + 1e-6, m
    assert overall["METEOR"] > 90
    assert overall["CIDEr"] > 200  # CIDEr x100 exceeds 100 for exact matches of a reference
    assert all(row["BLEU-4"] > 99 for row in per_image.values())


def test_wrong_captions_score_low():
    overall, per_image = score_captions(REFS, WRONG, meteor=False)
    assert "METEOR" not in overall and list(overall) == [m for m in METRICS if m != "METEOR"]
    assert overall["BLEU-4"] < 5 and overall["CIDEr"] < 20
    assert all(set(row) == set(overall) for row in per_image.values())
    perfect_rows = score_captions(REFS, PERFECT, meteor=False)[1]
    assert all(per_image[k]["CIDEr"] < perfect_rows[k]["CIDEr"] for k in REFS)


def test_missing_generated_caption_is_an_error():
    with pytest.raises(ValueError, match=r"no generated caption for 1 image\(s\), e.g. bus"):
        score_captions(REFS, {"dog": "a dog", "pizza": "a pizza"}, meteor=False)


def test_cider_alone_matches_score_captions():
    overall, _ = score_captions(REFS, WRONG | {"dog": PERFECT["dog"]}, meteor=False)
    assert cider(REFS, WRONG | {"dog": PERFECT["dog"]}) == pytest.approx(overall["CIDEr"])
    refs_tok = ptb_tokenize(REFS)
    assert cider(REFS, PERFECT, refs_tok) == pytest.approx(cider(REFS, PERFECT))


def test_ptb_tokenize_keeps_keys_and_lowercases():
    out = ptb_tokenize({7: ["A Dog, running!"], "x": ["Two cats.", "A bus"]})
    assert out == {7: ["a dog running"], "x": ["two cats", "a bus"]}


def test_format_table_lists_every_metric_and_row(perfect):
    overall, _ = perfect
    table = format_table({"greedy": {**overall, "distinct_captions": 3},
                          "beam-3": {**overall, "distinct_captions": 2}}, extra=("distinct_captions",))
    lines = table.splitlines()
    assert len(lines) == 3
    for name in (*METRICS, "distinct_captions"):
        assert name in lines[0]
    assert lines[1].startswith("greedy") and lines[2].startswith("beam-3")
    assert f"{overall['CIDEr']:.1f}" in lines[1] and lines[1].rstrip().endswith("3")
    no_meteor = format_table({"x": {"BLEU-4": 12.345}})
    assert "METEOR" not in no_meteor and "12.3" in no_meteor
