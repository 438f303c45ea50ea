"""Configs: defaults and help live in the dataclass, JSON round trips, unknown keys are errors
that name the key, and validation errors name the field."""

import dataclasses
import json

import pytest

from captioning.core.config import Config, ConfigError, option
from captioning.data.split import SplitConfig
from captioning.decoder.config import DecoderConfig
from captioning.decoder.decode_config import DecodeConfig
from captioning.features.config import ComputeConfig, EncoderConfig, EncoderSpec, Preprocessing
from captioning.lab.config import ComparisonConfig
from captioning.tools.job import CaptionJob
from captioning.training.config import TrainConfig

CONFIGS = [SplitConfig, DecoderConfig, DecodeConfig, ComputeConfig, EncoderConfig, EncoderSpec,
           Preprocessing, ComparisonConfig, CaptionJob, TrainConfig]


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_config_round_trips_through_json(cls):
    cfg = cls()
    assert cls.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_config_rejects_unknown_keys_by_name(cls):
    with pytest.raises(ConfigError, match=rf"^no_such_key: unknown {cls.__name__} field") as err:
        cls.from_dict({**cls().to_dict(), "no_such_key": 1})
    assert err.value.field == "no_such_key"


@pytest.mark.parametrize("cls", [c for c in CONFIGS if c not in (EncoderSpec, Preprocessing)],
                         ids=lambda c: c.__name__)
def test_command_line_fields_have_help(cls):
    for f in dataclasses.fields(cls):
        if f.metadata.get("cli", True):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"


@pytest.mark.parametrize(("cls", "changes", "field"), [
    (TrainConfig, {"lr": 0}, "lr"), (TrainConfig, {"batch_size": 0}, "batch_size"),
    (DecoderConfig, {"cell": "transformer"}, "cell"), (DecodeConfig, {"top_p": 0}, "top_p"),
    (DecodeConfig, {"strategy": "greedy", "n_best": 2}, "n_best"), (SplitConfig, {"val": -1}, "val"),
    (ComputeConfig, {"runtime": "tpu"}, "runtime"), (ComparisonConfig, {"cells": ("lstm", "x")}, "cells"),
    (CaptionJob, {"format": "csv"}, "format"), (Preprocessing, {"crop": 300}, "crop"),
])
def test_validation_errors_name_the_field(cls, changes, field):
    with pytest.raises(ConfigError) as err:
        cls().replace(**changes)
    assert err.value.field == field and str(err.value).startswith(f"{field}: ")
    assert "\n" not in str(err.value)


def test_nested_configs_and_tuples_come_back_typed():
    spec = EncoderSpec.from_dict(json.loads(json.dumps(EncoderSpec(flip=True).to_dict())))
    assert isinstance(spec.preprocessing, Preprocessing) and isinstance(spec.preprocessing.mean, tuple)
    assert spec.flip is True and spec == EncoderSpec(flip=True)


def test_load_and_save_name_the_file(tmp_path):
    path = TrainConfig(lr=0.5).save(tmp_path / "train.json")
    assert TrainConfig.load(path) == TrainConfig(lr=0.5)
    path.write_text(json.dumps({"lr": 0.5, "wings": 2}))
    with pytest.raises(ValueError, match=r"train\.json: wings: unknown TrainConfig field"):
        TrainConfig.load(path)


def test_option_metadata():
    @dataclasses.dataclass
    class Toy(Config):
        size: int = option(3, "how big", flag="big", metavar="N")

    (f,) = dataclasses.fields(Toy)
    assert f.default == 3 and f.metadata["help"] == "how big" and f.metadata["flag"] == "big"
    assert Toy.from_dict({"size": 4}) == Toy(4)
