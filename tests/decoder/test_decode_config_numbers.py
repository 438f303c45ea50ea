"""Decoding numbers nobody validated (issue 29, item 7): each is a ConfigError naming the option, on
the command line and in the API alike, instead of an OverflowError, a NaN or a TypeError in torch."""

import math
from types import SimpleNamespace

import pytest
import torch

from captioning.core.config import ConfigError
from captioning.decoder.checkpoint import Checkpoint
from captioning.decoder.decode_config import (
    MAX_BEAMS,
    MAX_LENGTH_PENALTY,
    MAX_TOKENS,
    MIN_TEMPERATURE,
    MIN_TOP_P,
    DecodeConfig,
    resolve_decoding,
)
from captioning.decoder.search import decode
from captioning.tools.captioner import Captioner

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(("overrides", "field", "problem"), [
    ({"seed": 10**23}, "seed", "must be at most 4,294,967,295, got an integer of about 24 digits"),
    ({"seed": -1}, "seed", "must be >= 0, got -1"),
    ({"length_penalty": 1e308}, "length_penalty", f"must be at most {MAX_LENGTH_PENALTY:g}, got 1e+308"),
    ({"length_penalty": NAN}, "length_penalty", "must be a finite number, got nan"),
    ({"length_penalty": INF}, "length_penalty", "must be a finite number, got inf"),
    ({"length_penalty": -INF}, "length_penalty", "must be a finite number, got -inf"),
    ({"min_len": 50, "max_len": 5}, "min_len", "50 words do not fit in max_len 5 tokens"),
    ({"beam_size": 3.5}, "beam_size", "must be an integer, got 3.5"),
    ({"num_beams": 3.5}, "num_beams", "must be an integer, got 3.5"),
    ({"beam_size": True}, "beam_size", "must be an integer, got True"),
    ({"beam_size": "3"}, "beam_size", "must be an integer, got '3'"),
    ({"beam_size": MAX_BEAMS + 1}, "beam_size", f"must be at most {MAX_BEAMS}, got {MAX_BEAMS + 1}"),
    ({"n_best": 2.0}, "n_best", "must be an integer, got 2.0"),
    ({"max_len": 10**12}, "max_len", f"must be at most {MAX_TOKENS:,}, got 1,000,000,000,000"),
    ({"temperature": 1e-300, "sample": True}, "temperature", f"must be 0 or at least {MIN_TEMPERATURE:g}, got 1e-300"),
    ({"temperature": 1e308, "sample": True}, "temperature", "must be at most 1000, got 1e+308"),
    ({"top_p": NAN}, "top_p", "must be a finite number, got nan"),
    ({"top_p": 1e-300}, "top_p", "must be >= 1e-06, got 1e-300"),
    ({"top_k": 2.5}, "top_k", "must be an integer, got 2.5"),
])
def test_bad_numbers_are_config_errors_naming_the_option(overrides, field, problem):
    sample = overrides.pop("sample", None)
    with pytest.raises(ConfigError) as err:
        resolve_decoding(DecodeConfig("beam", beam_size=3), sample=sample, **overrides)
    assert (err.value.field, err.value.problem) == (field, problem)


def test_the_earlier_spelling_and_checkpoint_sections_are_checked_too():
    with pytest.raises(ConfigError, match=r"^beam_size: must be an integer, got 3\.5$"):
        DecodeConfig("beam", beam_size=3.5)
    with pytest.raises(ConfigError, match=r"^length_penalty: must be a finite number"):
        DecodeConfig.from_dict({"strategy": "beam", "beam_size": 3, "length_penalty": NAN})
    assert DecodeConfig(min_len=20, max_len=20).min_len == 20  # as many words as tokens: allowed


def test_the_api_refuses_beam_size_3_5_before_any_work(tiny_checkpoint):
    ckpt = Checkpoint.load(tiny_checkpoint)
    encoder = SimpleNamespace(spec=ckpt.encoder)  # never asked to encode: the options fail first
    captioner = Captioner(encoder, ckpt.decoder, ckpt.vocab, ckpt.decoding)
    for kwargs in ({"beam_size": 3.5}, {"max_len": 5, "min_len": 50}, {"length_penalty": 1e308},
                   {"sample": True, "seed": 10**23}):
        with pytest.raises(ConfigError) as err:
            captioner("never-read.jpg", **kwargs)
        assert err.value.field in kwargs


@pytest.mark.parametrize("cfg", [
    DecodeConfig(num_beams=MAX_BEAMS, n_best=MAX_BEAMS, length_penalty=MAX_LENGTH_PENALTY, max_len=40),
    DecodeConfig(num_beams=4, length_penalty=-MAX_LENGTH_PENALTY, min_len=40, max_len=40),
    DecodeConfig(do_sample=True, temperature=MIN_TEMPERATURE, n_best=3, seed=2**32 - 1, top_k=10**18),
    DecodeConfig(do_sample=True, temperature=1000.0, top_p=MIN_TOP_P, max_len=MAX_TOKENS),
], ids=["widest-beam", "negative-penalty", "coldest-sample", "hottest-sample"])
def test_the_extremes_that_are_accepted_decode(tiny_checkpoint, cfg):
    """What the bounds let through decodes to finite scores: they are where float32 still holds."""
    decoder = Checkpoint.load(tiny_checkpoint).decoder
    hyps = decode(decoder, torch.randn(2, decoder.cfg.feature_dim), cfg)
    assert len(hyps) == 2 and all(h and all(math.isfinite(x.score) for x in h) for h in hyps)
