"""Checkpoint folders: save -> load gives the same model; bad folders give errors naming the file."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from captioning.decoder.checkpoint import Checkpoint
from captioning.decoder.config import DecoderConfig
from captioning.decoder.model import CaptionDecoder
from captioning.features.config import EncoderSpec, Preprocessing
from captioning.text.vocabulary import Vocabulary

pytestmark = pytest.mark.usefixtures("core_one_thread")

WORDS = ["a", "dog", "cat", "on", "grass", "runs"]
CONFIGS = {
    "lstm": {},
    "gru-tied": {"cell": "gru", "tie_weights": True},
    "peephole-2-pre": {"cell": "peephole", "num_layers": 2, "inject": "pre"},
    "cifg-tied-2": {"cell": "cifg", "num_layers": 2, "tie_weights": True},
}


def make_ckpt(seed=0, **kw):
    torch.manual_seed(seed)
    vocab = Vocabulary(WORDS)
    cfg = DecoderConfig(vocab_size=len(vocab), feature_dim=12, embed_dim=8, hidden_dim=10, **kw)
    spec = EncoderSpec("timm:tiny", 12, Preprocessing(resize=160, crop=128))
    return Checkpoint(CaptionDecoder(cfg).eval(), vocab, spec, training={"epoch": 3},
                      decoding={"strategy": "beam", "beam_size": 5}, scores={"val_cider": 1.5})


def outputs(decoder):
    g = torch.Generator().manual_seed(1)
    feats, tokens = torch.randn(4, 12, generator=g), torch.randint(1, len(WORDS) + 4, (4, 6), generator=g)
    with torch.no_grad():
        return decoder.eval()(feats, tokens)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_save_load_gives_identical_outputs(tmp_path, name):
    ckpt = make_ckpt(**CONFIGS[name])
    folder = ckpt.save(tmp_path / "ckpt")
    loaded = Checkpoint.load(folder)
    assert torch.equal(outputs(loaded.decoder), outputs(ckpt.decoder))
    assert loaded.decoder.cfg == ckpt.decoder.cfg
    assert loaded.vocab.itos == ckpt.vocab.itos
    assert loaded.encoder == ckpt.encoder
    assert (loaded.training, loaded.decoding, loaded.scores) == (
        {"epoch": 3}, {"strategy": "beam", "beam_size": 5}, {"val_cider": 1.5})
    assert not loaded.decoder.training
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "vocab.json"]
    if ckpt.decoder.cfg.tie_weights:
        assert "out.weight" not in load_file(str(folder / "model.safetensors"))  # stored once
        assert loaded.decoder.out.weight is loaded.decoder.embed.weight


def test_half_precision_checkpoint_loads_close(tmp_path):
    ckpt = make_ckpt(cell="gru", tie_weights=True)
    full, half = ckpt.save(tmp_path / "full"), ckpt.save(tmp_path / "half", half=True)
    assert all(t.dtype == torch.float16 for t in load_file(str(half / "model.safetensors")).values())
    assert (half / "model.safetensors").stat().st_size < (full / "model.safetensors").stat().st_size
    loaded = Checkpoint.load(half)
    assert all(p.dtype == torch.float32 for p in loaded.decoder.parameters())
    a, b = outputs(loaded.decoder), outputs(ckpt.decoder)
    assert not torch.equal(a, b) and torch.allclose(a, b, atol=1e-2)


def test_load_maps_to_cpu(tmp_path):
    folder = make_ckpt().save(tmp_path / "c")
    loaded = Checkpoint.load(folder)
    assert {p.device.type for p in loaded.decoder.parameters()} == {"cpu"}
    assert {p.device.type for p in Checkpoint.load(folder, device="cpu").decoder.parameters()} == {"cpu"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_checkpoint_loads_on_cpu(tmp_path):
    ckpt = make_ckpt()
    ckpt.decoder.cuda()
    loaded = Checkpoint.load(ckpt.save(tmp_path / "c"))
    assert {p.device.type for p in loaded.decoder.parameters()} == {"cpu"}
    assert torch.allclose(outputs(loaded.decoder), outputs(ckpt.decoder.cpu()), atol=1e-6)


def test_vocab_size_mismatch(tmp_path):
    folder = make_ckpt().save(tmp_path / "c")
    Vocabulary([*WORDS, "extra"]).save(folder / "vocab.json")
    with pytest.raises(ValueError, match="mismatched") as info:
        Checkpoint.load(folder)
    assert "11 words but the model expects 10" in str(info.value)


def test_missing_folder(tmp_path):
    with pytest.raises(ValueError, match=r"nothing-here: no such checkpoint folder"):
        Checkpoint.load(tmp_path / "nothing-here")


@pytest.mark.parametrize("content", [b"", b"\x00" * 16, b"not a safetensors file at all"])
def test_corrupt_weights_name_the_file(tmp_path, content):
    folder = make_ckpt().save(tmp_path / "c")
    (folder / "model.safetensors").write_bytes(content)
    with pytest.raises(ValueError, match=r"model\.safetensors: cannot read weights"):
        Checkpoint.load(folder)


def test_missing_weights_file_names_it(tmp_path):
    folder = make_ckpt().save(tmp_path / "c")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"model\.safetensors"):
        Checkpoint.load(folder)


def test_weights_of_another_config_name_the_file(tmp_path):
    folder = make_ckpt().save(tmp_path / "c")
    make_ckpt(cell="gru").save(tmp_path / "g")
    (folder / "model.safetensors").write_bytes((tmp_path / "g" / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match=r"model\.safetensors"):
        Checkpoint.load(folder)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: "{broken", r"config\.json: cannot read checkpoint config"),
    (lambda c: json.dumps({k: v for k, v in c.items() if k != "model"}), r"config\.json: invalid checkpoint config"),
    (lambda c: json.dumps({**c, "model": {**c["model"], "cell": "lstmx"}}), r"config\.json: invalid.*lstmx"),
    (lambda c: json.dumps({**c, "model": {**c["model"], "wings": 2}}), r"config\.json: invalid.*wings"),
    (lambda c: json.dumps({**c, "encoder": {"name": "x"}}), r"config\.json: invalid checkpoint config"),
    (lambda c: json.dumps({**c, "extras": {}}), r"config\.json: invalid.*extras: unknown section"),
    (lambda c: json.dumps({**c, "format_version": 9}), r"config\.json: checkpoint format_version 9 is newer"),
])
def test_bad_config_names_the_file(tmp_path, edit, message):
    folder = make_ckpt().save(tmp_path / "c")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(edit(config))
    with pytest.raises(ValueError, match=message):
        Checkpoint.load(folder)


def test_missing_config_and_bad_vocab_name_the_file(tmp_path):
    folder = make_ckpt().save(tmp_path / "c")
    (folder / "vocab.json").write_text('{"itos": 5}')
    with pytest.raises(ValueError, match=r"vocab\.json"):
        Checkpoint.load(folder)
    (folder / "config.json").unlink()
    with pytest.raises(ValueError, match=r"config\.json: no such checkpoint config"):
        Checkpoint.load(folder)


def test_saving_again_replaces_the_files(tmp_path):
    folder = tmp_path / "c"
    make_ckpt(seed=0).save(folder)
    second = make_ckpt(seed=1)
    second.save(folder)
    assert torch.equal(outputs(Checkpoint.load(folder).decoder), outputs(second.decoder))
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "vocab.json"]


def test_format_1_folders_still_load(tmp_path):
    """config.json as the first release wrote it (the old shipped model's, kept as a fixture):
    decoder/encoder/training/decoding at the top, scores loose."""
    old = json.loads((Path(__file__).parents[1] / "fixtures" / "checkpoint_config_v1.json").read_text())
    cfg = DecoderConfig.from_dict({**old["decoder"], "vocab_size": len(WORDS) + 4, "embed_dim": 8,
                                   "hidden_dim": 10})
    folder = Checkpoint(CaptionDecoder(cfg).eval(), Vocabulary(WORDS), EncoderSpec()).save(tmp_path / "c")
    (folder / "config.json").write_text(json.dumps({**old, "decoder": cfg.to_dict()}))
    ckpt = Checkpoint.load(folder)
    assert ckpt.decoder.cfg == cfg and ckpt.encoder == EncoderSpec.from_dict(old["encoder"])
    assert ckpt.decoding == old["decoding"] and ckpt.training["config"] == old["training"]
    assert ckpt.training["epoch"] == 10 and ckpt.scores["val_cider"] == old["val_cider"]
    assert ckpt.scores["decoding_choice"]["split"] == "val"
    again = Checkpoint.load(ckpt.save(tmp_path / "v2"))
    assert json.loads((tmp_path / "v2" / "config.json").read_text())["format_version"] == 2
    assert (again.training, again.decoding, again.scores) == (ckpt.training, ckpt.decoding, ckpt.scores)
