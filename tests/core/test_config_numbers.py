"""Numbers in configs (issue 29, item 7): every int and float field is checked against its type and
bounds before a config's own checks, so a bad value is a ConfigError naming the field, never an
OverflowError or a TypeError from deep inside torch."""

import dataclasses
import json

import numpy as np
import pytest

from captioning.core.config import INT_RANGE, SEED_RANGE, Config, ConfigError, field_value, option
from captioning.decoder.config import DecoderConfig
from captioning.features.config import ComputeConfig, Preprocessing
from captioning.tools.job import CaptionJob
from captioning.training.config import MAX_LR, ScstConfig, TrainConfig


@dataclasses.dataclass
class Toy(Config):
    """A config without its own __post_init__: its numbers are checked all the same."""

    count: int = option(1, "an int", bounds=(1, 10))
    ratio: float = option(0.5, "a float")
    limit: int | None = option(None, "an optional int")


@pytest.mark.parametrize(("changes", "problem"), [
    ({"count": 3.5}, "must be an integer, got 3.5"),
    ({"count": 3.0}, "must be an integer, got 3.0"),  # JSON's 3.0 too: as strict as the command line
    ({"count": True}, "must be an integer, got True"),
    ({"count": "3"}, "must be an integer, got '3'"),
    ({"count": None}, "must be an integer, got None"),
    ({"count": 0}, "must be >= 1, got 0"),
    ({"count": 11}, "must be at most 10, got 11"),
    ({"count": 10**30}, "must be at most 10, got an integer of about 31 digits"),
    ({"limit": 2**63}, "must be at most 9,223,372,036,854,775,807, got 9,223,372,036,854,775,808"),
    ({"limit": -(2**63) - 1}, "must be >= -9,223,372,036,854,775,808, got -9,223,372,036,854,775,809"),
    ({"ratio": float("nan")}, "must be a finite number, got nan"),
    ({"ratio": float("inf")}, "must be a finite number, got inf"),
    ({"ratio": -float("inf")}, "must be a finite number, got -inf"),
    ({"ratio": 10**400}, "must be a finite number, got an integer of about 401 digits"),
    ({"ratio": False}, "must be a number, got False"),
    ({"ratio": "0.5"}, "must be a number, got '0.5'"),
])
def test_a_bad_number_is_a_config_error_naming_its_field(changes, problem):
    (name,) = changes
    for make in (lambda: Toy(**changes), lambda: Toy().replace(**changes),
                 lambda: Toy.from_dict(json.loads(json.dumps({**Toy().to_dict(), **changes})))):
        with pytest.raises(ConfigError) as err:
            make()
        assert (err.value.field, err.value.problem) == (name, problem)


def test_numbers_are_stored_as_plain_ints_and_floats():
    toy = Toy(count=np.int64(3), ratio=np.float32(0.25), limit=np.uint8(7))
    assert (type(toy.count), type(toy.ratio), type(toy.limit)) == (int, float, int)
    assert json.loads(json.dumps(toy.to_dict())) == {"count": 3, "ratio": 0.25, "limit": 7}
    assert Toy(ratio=1).ratio == 1.0 and type(Toy(ratio=1).ratio) is float  # an int is a fine float
    frozen = Preprocessing(resize=np.int32(256))  # frozen configs too
    assert type(frozen.resize) is int


def test_field_value_checks_one_value_and_names_what_the_caller_gave():
    assert field_value(Toy, "count", np.int16(4)) == 4
    with pytest.raises(ConfigError) as err:
        field_value(Toy, "count", 2.5, label="how_many")
    assert err.value.field == "how_many"
    assert field_value(Toy, "limit", None) is None


@pytest.mark.parametrize(("cls", "changes", "field"), [
    (TrainConfig, {"seed": -1}, "seed"), (TrainConfig, {"seed": SEED_RANGE[1] + 1}, "seed"),
    (ScstConfig, {"seed": 10**23}, "seed"), (TrainConfig, {"lr": 1e23}, "lr"),
    (TrainConfig, {"lr": MAX_LR * 2}, "lr"), (ScstConfig, {"lr": float("nan")}, "lr"),
    (TrainConfig, {"clip_norm": 0.0}, "clip_norm"), (ScstConfig, {"clip_norm": -1.0}, "clip_norm"),
    (TrainConfig, {"weight_decay": -0.1}, "weight_decay"), (ScstConfig, {"weight_decay": 1e308}, "weight_decay"),
    (TrainConfig, {"epochs": 2.5}, "epochs"), (TrainConfig, {"batch_size": True}, "batch_size"),
    (TrainConfig, {"warmup_epochs": float("inf")}, "warmup_epochs"), (TrainConfig, {"max_words": 10**6}, "max_words"),
    (ScstConfig, {"temperature": 1e-300}, "temperature"), (ScstConfig, {"temperature": 1e308}, "temperature"),
    (ScstConfig, {"ce_weight": 1e308}, "ce_weight"), (ScstConfig, {"max_len": 10**9}, "max_len"),
    (ScstConfig, {"samples": 10**6}, "samples"), (DecoderConfig, {"forget_bias": float("nan")}, "forget_bias"),
    (DecoderConfig, {"dropout": float("nan")}, "dropout"), (ComputeConfig, {"workers": 2.0}, "workers"),
    (CaptionJob, {"batch_size": 10**30}, "batch_size"), (CaptionJob, {"limit": 1.5}, "limit"),
])
def test_every_config_refuses_numbers_nobody_could_mean(cls, changes, field):
    with pytest.raises(ConfigError) as err:
        cls().replace(**changes)
    assert err.value.field == field


def test_every_seed_a_config_takes_is_one_the_generators_take():
    import torch

    from captioning.training.loop import epoch_seed

    top = TrainConfig(seed=SEED_RANGE[1]).seed
    torch.Generator().manual_seed(epoch_seed(top, epoch=10**6, rank=1023))  # training's per-epoch seeds
    torch.Generator().manual_seed(top + 10**6)  # its shuffling
    np.random.seed(top)
    torch.tensor(list(INT_RANGE), dtype=torch.int64)  # and every int fits where torch keeps ints
