"""resolve_decoding: the one place "checkpoint default + overrides" becomes a DecodeConfig."""

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
    (GREEDY, {"n_best": 2}, DecodeConfig("beam", beam_size=3, n_best=2)),  # greedy default -> beam
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
    ({"beam_size": 3, "sample": True}, "beam_size", "choose beam search or"),
    ({"beam_size": 3, "strategy": "greedy"}, "beam_size", "contradict greedy"),
    ({"strategy": "greedy", "n_best": 2}, "n_best", "2 captions need beam search"),
    ({"strategy": "beam", "sample": True}, "strategy", "contradicts sample=True"),
    ({"beams": 3}, "beams", "unknown decoding option"),
    ({"beam_size": 0}, "beam_size", "must be >= 1"),
])
def test_errors_name_the_field(overrides, field, message):
    sample = overrides.pop("sample", None)
    with pytest.raises(ConfigError, match=message) as err:
        resolve_decoding(BEAM3, sample=sample, **overrides)
    assert err.value.field == field


def test_names():
    assert [c.name for c in (GREEDY, BEAM3, SAMPLE)] == ["greedy", "beam-3", "sample"]
