"""Tokenizer and Vocabulary: lowercasing, punctuation, special ids, encode/decode, JSON files."""

import json

import pytest

from captioning.text.vocabulary import END, PAD, SPECIALS, START, UNK, Vocabulary


def test_special_ids_are_0_to_3():
    vocab = Vocabulary(["dog", "cat"])
    assert vocab.itos[:4] == [PAD, START, END, UNK] == list(SPECIALS)
    assert (vocab.pad_id, vocab.start_id, vocab.end_id, vocab.unk_id) == (0, 1, 2, 3)
    assert [vocab.stoi[s] for s in SPECIALS] == [0, 1, 2, 3]
    assert vocab.stoi["dog"] == 4 and vocab.stoi["cat"] == 5 and len(vocab) == 6


def test_duplicate_words_are_rejected():
    with pytest.raises(ValueError, match=r"unique"):
        Vocabulary(["dog", "dog"])


def test_build_applies_min_count_and_orders_by_frequency():
    captions = ["a dog runs", "A dog sits.", "a cat sits", "a bird"]
    vocab = Vocabulary.build(captions, min_count=2)
    # a:4, dog:2, sits:2 kept (ties alphabetical); runs, cat, bird dropped
    assert vocab.itos[4:] == ["a", "dog", "sits"]
    assert vocab.min_count == 2
    assert Vocabulary.build(captions, min_count=1).itos[4:] == ["a", "dog", "sits", "bird", "cat", "runs"]
    assert len(Vocabulary.build(captions, min_count=5)) == 4  # specials only


def test_build_accepts_pretokenized_captions():
    vocab = Vocabulary.build([["red", "ball"], ["red", "car"]], min_count=2)
    assert vocab.itos[4:] == ["red"]


def test_encode_wraps_in_start_end_and_maps_unknown_words_to_unk():
    vocab = Vocabulary(["a", "dog", "runs"])
    assert vocab.encode("A dog runs!") == [1, 4, 5, 6, 2]
    assert vocab.encode("a zebra runs") == [1, 4, 3, 6, 2]
    assert vocab.encode(["dog", "zebra"], add_special=False) == [5, 3]


def test_encode_decode_round_trip():
    vocab = Vocabulary.build(["a dog runs on the grass", "a cat sits on the mat"], min_count=1)
    text = "a cat runs on the grass"
    assert vocab.decode(vocab.encode(text)) == text


def test_decode_stops_at_end_and_drops_start_pad_and_optionally_unk():
    vocab = Vocabulary(["a", "dog", "runs"])
    ids = [1, 4, 3, 5, 0, 2, 6, 6]
    assert vocab.decode(ids) == "a <unk> dog"
    assert vocab.decode(ids, keep_unk=False) == "a dog"
    assert vocab.decode([4, 99, 5]) == "a <unk> dog"  # out-of-range ids read as <unk>
    assert vocab.decode([2, 4, 5]) == ""


def test_save_load_round_trip(tmp_path):
    vocab = Vocabulary.build(["a dog runs", "a dog sits", "a cat"], min_count=2)
    path = tmp_path / "sub" / "vocab.json"
    vocab.save(path)
    loaded = Vocabulary.load(path)
    assert loaded.itos == vocab.itos and loaded.stoi == vocab.stoi
    assert loaded.min_count == 2
    assert json.loads(path.read_text())["itos"][:4] == list(SPECIALS)
    assert [p.name for p in path.parent.iterdir()] == ["vocab.json"]  # no temp file left behind


@pytest.mark.parametrize("content", [
    "{not json",
    '{"words": ["a"]}',
    '["<pad>", "<start>"]',
    '{"itos": ["a", "<pad>", "<start>", "<end>", "<unk>"]}',
    '{"itos": 5}',
    '{"itos": null}',
    '"itos"',
    '{"itos": ["<pad>", "<start>", "<end>", "<unk>", "a"], "min_count": "many"}',
    '{"itos": ["<pad>", "<start>", "<end>", "<unk>", "a", "a"]}',
])
def test_malformed_vocab_file_raises_value_error_naming_it(tmp_path, content):
    path = tmp_path / "broken-vocab.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"broken-vocab.json"):
        Vocabulary.load(path)


def test_missing_vocab_file_raises_value_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match=r"nowhere.json"):
        Vocabulary.load(tmp_path / "nowhere.json")


def test_coverage_is_the_known_word_fraction():
    vocab = Vocabulary(["a", "dog"])
    assert vocab.coverage(["a dog", "A DOG!"]) == 1.0
    assert vocab.coverage(["a dog runs fast"]) == 0.5
    assert vocab.coverage(["zebra"]) == 0.0
    assert vocab.coverage([]) == 0.0
