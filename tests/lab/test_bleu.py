"""bleu_steps: from nltk's sentence BLEU on raw text to pycocoevalcap's BLEU on PTB tokens, on a
hand-made corpus, with the differences between the steps demonstrated one by one."""

import pytest

from captioning.lab.bleu import bleu_steps, bleu_table
from captioning.metrics.coco import score_captions

REFS = {
    1: ["A man riding a wave on top of a surfboard.", "A surfer rides a large wave in the ocean."],
    2: ["Two dogs playing with a frisbee in the grass.", "A couple of dogs running on a green field."],
    3: ["A plate of food with broccoli and rice.", "A white plate topped with meat and vegetables."],
}
GEN = {1: "a man riding a wave on a surfboard", 2: "Two dogs running in the grass.",
       3: "A plate of food on a table."}
TOLERANCE = 1e-6  # BLEU points (x100): steps 4 and 5 differ by ~1e-8 here, ~1e-11 on 600 COCO images


@pytest.fixture(scope="module")
def rows():
    return bleu_steps(REFS, GEN)


def _row(rows, step):
    return next(r for r in rows if r["step"] == step)


def test_five_explained_steps_ending_with_what_papers_report(rows):
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(r["name"].strip() and r["why"].strip() for r in rows)
    assert [r["reported"] for r in rows] == [False] * 4 + [True]
    assert "pycocoevalcap" in rows[-1]["name"] and "papers" in rows[-1]["name"]
    assert all(0 <= r["BLEU-4"] <= r["BLEU-1"] <= 100 for r in rows)


def test_the_last_step_is_the_projects_own_coco_bleu(rows):
    overall, _ = score_captions(REFS, GEN, meteor=False)
    assert rows[-1]["BLEU-1"] == pytest.approx(overall["BLEU-1"], abs=1e-9)
    assert rows[-1]["BLEU-4"] == pytest.approx(overall["BLEU-4"], abs=1e-9)


def test_nltk_corpus_bleu_on_ptb_tokens_matches_pycocoevalcap(rows):
    for metric in ("BLEU-1", "BLEU-4"):
        assert _row(rows, 4)[metric] == pytest.approx(_row(rows, 5)[metric], abs=TOLERANCE)


def test_each_earlier_step_changes_the_number(rows):
    b4 = [r["BLEU-4"] for r in rows]
    assert b4[0] < b4[1]  # smoothing lifts the captions without a 4-gram match
    assert b4[1] != pytest.approx(b4[2], abs=0.5)  # sentence mean is not corpus BLEU
    assert b4[2] < b4[3]  # case and punctuation: "A plate" and "grass." now match


def test_sentence_average_differs_from_corpus_counts():
    """A perfect 8-word caption and a 4-word one with 1 matching word: the mean of sentence
    BLEU-1 is (100 + 25) / 2, corpus BLEU-1 counts words: 9 of 12 = 75."""
    refs = {"long": ["a man riding a wave on a surfboard"], "short": ["two dogs on grass"]}
    gen = {"long": "a man riding a wave on a surfboard", "short": "three cats near grass"}
    rows = bleu_steps(refs, gen)
    assert _row(rows, 1)["BLEU-1"] == pytest.approx(62.5)
    assert _row(rows, 3)["BLEU-1"] == pytest.approx(75.0)
    assert _row(rows, 5)["BLEU-1"] == pytest.approx(75.0, abs=TOLERANCE)


def test_where_nltk_and_pycocoevalcap_differ():
    """What step 5's text says: a caption shorter than 4 words adds one 4-gram to nltk's
    denominator (none in pycocoevalcap), and no 4-gram match at all is ~1e-75 in nltk only."""
    short = bleu_steps(REFS, {**GEN, 3: "A plate."})
    assert _row(short, 4)["BLEU-1"] == pytest.approx(_row(short, 5)["BLEU-1"], abs=TOLERANCE)
    assert _row(short, 4)["BLEU-4"] < _row(short, 5)["BLEU-4"] - 1
    none = bleu_steps({1: ["a b c d e"]}, {1: "a b c x e"})
    assert _row(none, 4)["BLEU-4"] < 1e-50 and 1e-4 < _row(none, 5)["BLEU-4"] < 0.1
    assert _row(none, 4)["BLEU-1"] == pytest.approx(_row(none, 5)["BLEU-1"], abs=TOLERANCE)


def test_errors_and_table(rows):
    with pytest.raises(ValueError, match="no generated caption"):
        bleu_steps(REFS, {1: GEN[1]})
    with pytest.raises(ValueError, match="at least one image"):
        bleu_steps({}, {})
    table = bleu_table(rows).splitlines()
    assert len(table) == 2 + len(rows) and table[0].startswith("| step")
    assert "**pycocoevalcap" in table[-1] and f"{rows[-1]['BLEU-4']:.1f}" in table[-1]
