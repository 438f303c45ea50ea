"""DecodeConfig (num_beams and do_sample choose the search; strategy/beam_size still read) and
resolve_decoding: the one place "checkpoint default + overrides" becomes a DecodeConfig."""

import pytest

from captioning.core.config import ConfigError
from captioning.decoder.decode_config import DecodeConfig, resolve_decoding

BEAM3 = DecodeConfig("beam", beam_size=3)
GREEDY = DecodeConfig()
SAMPLE = DecodeConfig("sample", temperature=0.7)


@pytest.mark.parametrize(("default", "overrides", "expected"), [
    (BEAM3, {}, BEAM3),
    (BEAM3.to_dict(), {}, BEAM3),
    (None, {}, GREEDY),
    (BEAM3, {"beam_size": 1}, DecodeConfig("greedy", beam_size=1)),
    (GREEDY, {"beam_size": 5}, DecodeConfig("beam", beam_size=5)),
    (BEAM3, {"n_best": 3}, DecodeConfig("beam", beam_size=3, n_best=3)),
    (BEAM3, {"n_best": 5}, DecodeConfig("beam", beam_size=5, n_best=5)),  # the default beam widens
    (GREEDY, {"n_best": 2}, DecodeConfig(num_beams=2, n_best=2)),  # greedy default -> a beam of n_best
    (GREEDY, {"num_beams": 4, "do_sample": False}, DecodeConfig(num_beams=4)),
    (SAMPLE, {"beam_size": 3}, DecodeConfig(num_beams=3, temperature=0.7)),  # a given beam searches
    (GREEDY, {"strategy": "beam"}, BEAM3),
    (GREEDY, {"do_sample": True}, DecodeConfig(do_sample=True)),
    (BEAM3, {"sample": True, "seed": 1}, DecodeConfig("sample", beam_size=3, seed=1)),
    (BEAM3, {"strategy": "sample"}, DecodeConfig("sample", beam_size=3)),
    (SAMPLE, {"sample": False}, DecodeConfig("greedy", temperature=0.7)),
    (SAMPLE, {"n_best": 3}, DecodeConfig("sample", temperature=0.7, n_best=3)),
    (BEAM3, {"beam_size": None, "max_len": None}, BEAM3),  # None means not given
    (BEAM3, {"length_penalty": 0.5, "block_trigrams": True},
     DecodeConfig("beam", beam_size=3, length_penalty=0.5, block_trigrams=True)),
])
def test_rules(default, overrides, expected):
    sample = overrides.pop("sample", None)
    assert resolve_decoding(default, sample=sample, **overrides) == expected


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"beam_size": 1, "n_best": 3}, "n_best", "3 captions need beam search"),
    ({"beam_size": 2, "n_best": 3}, "n_best", "3 captions need beam_size >= 3, got 2"),
    ({"beam_size": 3, "sample": True}, "num_beams", "choose beam search or"),
    ({"beam_size": 3, "strategy": "greedy"}, "beam_size", "contradict greedy"),
    ({"strategy": "greedy", "n_best": 2}, "n_best", "2 captions need beam search"),
    ({"strategy": "beam", "sample": True}, "strategy", "contradicts sample=True"),
    ({"beams": 3}, "beams", "unknown decoding option"),
    ({"beam_size": 0}, "beam_size", "must be >= 1"),
    ({"num_beams": 0}, "num_beams", "must be >= 1"),
    ({"strategy": "nucleus"}, "strategy", "unknown 'nucleus'"),
])
def test_errors_name_the_field(overrides, field, message):
    sample = overrides.pop("sample", None)
    with pytest.raises(ConfigError, match=message) as err:
        resolve_decoding(BEAM3, sample=sample, **overrides)
    assert err.value.field == field


def test_names():
    assert [c.name for c in (GREEDY, BEAM3, SAMPLE)] == ["greedy", "beam-3", "sample"]


def test_two_fields_hold_the_search_and_the_earlier_spelling_still_reads():
    assert (BEAM3.num_beams, BEAM3.do_sample, BEAM3.strategy, BEAM3.beam_size) == (3, False, "beam", 3)
    assert (SAMPLE.num_beams, SAMPLE.do_sample) == (1, True)
    assert set(GREEDY.to_dict()) >= {"num_beams", "do_sample"} and "strategy" not in GREEDY.to_dict()
    shipped = {"strategy": "greedy", "beam_size": 3, "n_best": 1, "max_len": 20, "min_len": 1,
               "length_penalty": 0.0, "block_trigrams": False, "temperature": 1.0, "top_k": 0, "top_p": 1.0,
               "seed": None, "allow_unk": False}  # a format-2 checkpoint's decoding section
    assert DecodeConfig.from_dict(shipped) == GREEDY  # greedy ignored its beam_size
    assert DecodeConfig.from_dict({**shipped, "strategy": "beam"}) == BEAM3
    assert DecodeConfig.from_dict(BEAM3.to_dict()) == BEAM3 == BEAM3.replace(strategy="beam")
    with pytest.raises(ConfigError, match="unknown DecodeConfig field"):
        DecodeConfig.from_dict({"beams": 3})
