"""The tokenizer: nltk's RegexpTokenizer with the COCO-style rule, and the shipped vocabulary is
exactly what it builds from the train split."""

import re

import pytest
from nltk.tokenize.regexp import RegexpTokenizer

from captioning.decoder.ensemble import load_decoders
from captioning.text import tokenizer
from captioning.text.tokenizer import tokenize
from captioning.text.vocabulary import Vocabulary


def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize("A Dog, running; on the GRASS!") == ["a", "dog", "running", "on", "the", "grass"]
    assert tokenize("  Two   cats...  ") == ["two", "cats"]


def test_tokenize_keeps_inner_apostrophes_hyphens_and_numbers():
    assert tokenize("The man's T-shirt has 3 stripes.") == ["the", "man's", "t-shirt", "has", "3", "stripes"]
    assert tokenize("'quoted' -dash- ?!") == ["quoted", "dash"]
    assert tokenize("") == []



def test_it_is_nltks_tokenizer_with_the_regex_the_first_release_used():
    assert isinstance(tokenizer._TOKENIZER, RegexpTokenizer)
    first_release = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")
    captions = ["A man's T-shirt, on 2 chairs!", "Don't -- stop...", "  ÉCOLE: a café's menu ", "x-ray's--edge", "back\\slash a\\b"]
    for caption in captions:
        assert tokenize(caption) == first_release.findall(caption.lower())


@pytest.mark.integration
def test_rebuilding_the_vocabulary_from_the_split_gives_the_shipped_vocab(core_coco_records):
    shipped = load_decoders(None)[1]
    min_count = shipped.training.get("config", {}).get("min_count", shipped.vocab.min_count)
    train = [c for r in core_coco_records if r.split == "train" for c in r.captions]
    assert Vocabulary.build(train, min_count).itos == shipped.vocab.itos
