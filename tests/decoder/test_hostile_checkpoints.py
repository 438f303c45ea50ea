"""Issue 19: hostile or damaged checkpoint and ensemble folders fail at load in one line that
names the file and field: sane config ranges, NaN weights, ensemble.json gaps and escapes."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from captioning.core.errors import InputError
from captioning.decoder.checkpoint import Checkpoint
from captioning.decoder.ensemble import compatible, load_decoders, save_ensemble
from captioning.features.config import Preprocessing
from captioning.tools.captioner import Captioner
from tests.cli.test_cli import assert_usage_error, run_main


def _copy(tiny_checkpoint: Path, tmp_path: Path, name: str = "ckpt") -> Path:
    return Path(shutil.copytree(tiny_checkpoint, tmp_path / name))


def _edit(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    for dotted, value in changes.items():
        *outer, key = dotted.split("__")
        node = data
        for part in outer:
            node = node[part]
        node[key] = value
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("num_layers", 1_000_000, "num_layers: must be at most 64, got 1,000,000"),
    ("hidden_dim", 1e9, "hidden_dim: must be an integer, got 1000000000.0"),
    ("hidden_dim", 16_000, "the decoder would have about"),
])
def test_hostile_model_sizes_are_refused_naming_file_and_field(tiny_checkpoint, tmp_path, field, value, problem):
    ckpt = _copy(tiny_checkpoint, tmp_path)
    _edit(ckpt / "config.json", **{f"model__{field}": value})
    with pytest.raises(InputError) as err:
        Checkpoint.load(ckpt)
    assert str(err.value).startswith(f"{ckpt / 'config.json'}: invalid checkpoint config (")
    assert problem in str(err.value)


def test_hostile_ensemble_member_fails_fast_on_the_command_line(tiny_checkpoint, tmp_path):
    members = [Checkpoint.load(tiny_checkpoint)] * 2
    ens = save_ensemble(members, tmp_path / "ens", None)
    _edit(ens / "member-1" / "config.json", model__num_layers=1_000_000)
    code, _, err = run_main(["caption", "data/samples", "--checkpoint", ens])
    assert_usage_error(code, err, ens / "member-1" / "config.json", "num_layers")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_weights_are_refused_naming_the_file(tiny_checkpoint, tmp_path, bad):
    ckpt = _copy(tiny_checkpoint, tmp_path)
    state = load_file(ckpt / "model.safetensors")
    state["out.bias"][3] = bad
    save_file(state, ckpt / "model.safetensors")
    with pytest.raises(InputError, match=r"model\.safetensors: weights hold NaN or infinite values \(out\.bias\)"):
        Checkpoint.load(ckpt)
    code, _, err = run_main(["caption", "data/samples", "--checkpoint", ckpt, "--beam", "1"])
    assert_usage_error(code, err, ckpt / "model.safetensors", "NaN")


@pytest.fixture
def ensemble(tiny_checkpoint, tmp_path) -> Path:
    return save_ensemble([Checkpoint.load(tiny_checkpoint)] * 2, tmp_path / "ens", {"strategy": "greedy"})


@pytest.mark.parametrize(("index", "problem"), [
    ([], "needs a non-empty 'members' list of folder names"),
    ({"members": [0, 1]}, "needs a non-empty 'members' list of folder names"),
    ({"members": ["../../../etc"]}, "member '../../../etc' is outside the ensemble folder"),
    ({"members": ["/etc"]}, "member '/etc' is outside the ensemble folder"),
    ({"members": ["member-0"], "decoding": {"strategy": "beam", "beam_size": 0}}, "beam_size: must be >= 1, got 0)"),
    ({"members": ["member-0"], "decoding": {"beam_size": "3"}}, "invalid decoding ("),
    ({"members": ["member-0"], "decoding": [3]}, "decoding must be a JSON object"),
])
def test_ensemble_index_problems_name_the_file(ensemble, index, problem):
    (ensemble / "ensemble.json").write_text(json.dumps(index))
    with pytest.raises(InputError) as err:
        load_decoders([ensemble])
    assert str(err.value).startswith(f"{ensemble / 'ensemble.json'}: ") and problem in str(err.value)
    code, _, err = run_main(["caption", "data/samples", "--checkpoint", ensemble])
    assert_usage_error(code, err, ensemble / "ensemble.json")
    assert "--beam" not in err


def test_a_member_decoding_problem_names_its_config(tiny_checkpoint, tmp_path):
    ckpt = _copy(tiny_checkpoint, tmp_path)
    _edit(ckpt / "config.json", decoding__max_len=0)
    with pytest.raises(InputError, match=r"config\.json: invalid decoding \(max_len: must be >= 1, got 0\)"):
        Checkpoint.load(ckpt)


def test_preprocessing_mismatch_says_what_differs(tiny_checkpoint):
    a, b = Checkpoint.load(tiny_checkpoint), Checkpoint.load(tiny_checkpoint)
    b.encoder = b.encoder.replace(preprocessing=Preprocessing(resize=292))
    with pytest.raises(InputError) as err:
        compatible([a, b])
    assert "different encoders (preprocessing.resize 292 vs 256)" in str(err.value)


def test_export_never_mixes_a_checkpoint_with_an_ensemble(tiny_checkpoint, ensemble, tmp_path):
    ckpt = Checkpoint.load(tiny_checkpoint)
    with pytest.raises(InputError, match="holds an ensemble"):
        ckpt.save(ensemble)
    assert load_decoders([ensemble])[1].folder == ensemble  # still the intact ensemble
    single = ckpt.save(tmp_path / "single")
    with pytest.raises(InputError, match="holds a single checkpoint"):
        save_ensemble([ckpt, ckpt], single, None)


def test_from_pretrained_with_no_checkpoint_is_an_error(tiny_checkpoint):
    with pytest.raises(InputError, match="no checkpoint given"):
        Captioner.from_pretrained([], device="cpu")
    assert isinstance(load_decoders([tiny_checkpoint])[0], torch.nn.Module)
