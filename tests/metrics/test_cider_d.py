"""CiderD (df once, many candidates) reproduces pycocoevalcap's CIDEr-D exactly.

The main test uses a real split of the shared COCO subset (skipped when it is absent): the 250
val images' PTB-tokenized references and, as candidates, one reference of each *other* image
(so scores are neither 0 nor perfect), plus hand-made edge cases."""

from __future__ import annotations

import math
import random

import pytest
from pycocoevalcap.cider.cider import Cider

from captioning.data.coco import load_coco
from captioning.data.split import make_split
from captioning.metrics.cider_d import CiderD, ngram_counts, ptb_word_map
from captioning.metrics.ptb import ptb_tokenize
from tests.metrics.refs import REFS
from tests.shared import shared_coco


def _pycoco(refs, cands):
    score, each = Cider().compute_score({k: list(v) for k, v in refs.items()},
                                        {k: [cands[k]] for k in refs})
    return float(score), [float(s) for s in each]


def test_ngram_counts():
    c = ngram_counts(["a", "dog", "a", "dog"])
    assert c[("a",)] == 2 and c[("a", "dog")] == 2 and c[("dog", "a")] == 1
    assert c[("a", "dog", "a", "dog")] == 1 and len(c) == 2 + 2 + 2 + 1


@pytest.mark.parametrize("cands", [
    {"dog": "a brown dog runs across the green grass", "bus": "a red bus", "pizza": "pizza"},
    {"dog": "a plate of food on a table", "bus": "two cats sleep on a sofa", "pizza": "a man rides a horse"},
    {"dog": "dog dog dog dog dog dog dog dog", "bus": "zebra", "pizza": "a a a a"},
])
def test_matches_pycocoevalcap_on_hand_made_captions(cands):
    ours = CiderD(REFS)
    corpus, each = _pycoco(REFS, cands)
    assert ours.corpus_score(cands) == pytest.approx(corpus, abs=1e-9)
    assert ours.score_many(REFS, [cands[k] for k in REFS]) == pytest.approx(each, abs=1e-9)


def test_references_added_later_use_the_corpus_df():
    ours = CiderD(REFS)
    ours.set_references("new", ["a dog on the grass"])
    assert ours.score("new", "a dog on the grass") > ours.score("new", "a red bus")
    assert ours.num_documents == 3  # the df corpus did not grow
    with pytest.raises(KeyError):
        ours.score("missing", "a dog")


def test_perfect_single_reference_scores_ten_times_the_mean_of_cosines():
    refs = {"a": ["a small dog"], "b": ["a big cat sleeping"]}
    # every n-gram of "a small dog" except "a" occurs only in image a: its cosine is 1 for each n
    # it has (1-, 2-, 3-grams; no 4-gram -> 0), so the score is 10 * 3/4
    assert CiderD(refs).score("a", "a small dog") == pytest.approx(7.5)


@pytest.fixture(scope="module")
def val_references():
    shared = shared_coco()
    if shared is None:
        pytest.skip("the shared COCO subset is not available")
    records = [r for r in make_split(load_coco(shared / "captions_val2017.json", shared / "images"))
               if r.split == "val"]
    return ptb_tokenize({r.image_id: r.captions for r in records})


@pytest.mark.integration
def test_reproduces_pycocoevalcap_corpus_score_on_the_val_split(val_references):
    refs = val_references
    keys = list(refs)
    rng = random.Random(0)
    # candidates: a reference of another image, some truncated, one empty and a one-word caption
    cands = {}
    for i, k in enumerate(keys):
        other = refs[keys[(i + 1 + rng.randrange(len(keys) - 1)) % len(keys)]]
        words = rng.choice(other).split()
        cands[k] = " ".join(words[: rng.randint(1, len(words))]) if i % 3 else " ".join(words)
    cands[keys[0]], cands[keys[1]] = "", "dog"
    cands[keys[2]] = refs[keys[2]][0]  # and one that matches a reference exactly
    corpus, each = _pycoco(refs, cands)
    ours = CiderD(refs)
    assert ours.corpus_score(cands) == pytest.approx(corpus, abs=1e-6)
    mine = ours.score_many(keys, [cands[k] for k in keys])
    assert max(abs(a - b) for a, b in zip(mine, each)) < 1e-6
    assert 0 < corpus < 1 and not any(math.isnan(s) for s in mine)


def test_ptb_word_map_splits_words_as_the_ptb_tokenizer_does():
    table = ptb_word_map(["man's", "dog", "t-shirt", "can't"])
    assert table["dog"] == ["dog"] and table["man's"] == ["man", "'s"]
    whole = ptb_tokenize({0: ["man's dog can't"]})[0][0].split()
    assert table["man's"] + table["dog"] + table["can't"] == whole
