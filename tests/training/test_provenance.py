"""Typed provenance: every checkpoint's `training` section reads back as a versioned record of
the objective that made it, chained to the checkpoint it started from; older sections (the
shipped model's, format 1's) still read; the vocabulary section is checked on load."""

import json
import shutil

import pytest
import torch

from captioning.core.config import ConfigError
from captioning.core.errors import InputError
from captioning.decoder.checkpoint import PRETRAINED, Checkpoint
from captioning.decoder.config import DecoderConfig
from captioning.decoder.model import CaptionDecoder
from captioning.features.config import EncoderSpec
from captioning.text.vocabulary import Vocabulary
from captioning.training.config import ScstConfig, TrainConfig
from captioning.training.provenance import (
    RECORD_VERSION,
    TrainingRecord,
    caption_words,
    trained_on_val,
)


def test_the_shipped_format_2_members_load_and_their_records_read():
    for member in sorted(PRETRAINED.glob("member-*")):
        ckpt = Checkpoint.load(member)
        record = TrainingRecord.read(ckpt.training, str(member))
        assert [r.objective for r in record.chain()] == ["scst", "cross-entropy"]
        assert isinstance(record.typed_config(), ScstConfig) and record.typed_config().samples == 5
        assert isinstance(record.parent.typed_config(), TrainConfig)
        assert caption_words(ckpt.training) == record.cross_entropy().max_words == 20


def test_records_round_trip_through_json_with_their_version():
    parent = TrainingRecord("cross-entropy", TrainConfig(max_words=12).to_dict(), 4)
    record = TrainingRecord("scst", ScstConfig().to_dict(), 2, "bf16", "runs/ce/best", parent)
    data = json.loads(json.dumps(record.to_dict()))
    assert data["version"] == RECORD_VERSION and data["parent"]["objective"] == "cross-entropy"
    assert TrainingRecord.read(data) == record and record.cross_entropy().max_words == 12


def test_format_1_and_missing_sections_read():
    assert TrainingRecord.read({"config": {"epochs": 3, "max_words": 9}, "epoch": 2}).cross_entropy().max_words == 9
    assert TrainingRecord.read({}) is None and caption_words({}) == TrainConfig().max_words


@pytest.mark.parametrize("section, field", [
    ({"version": RECORD_VERSION + 1, "objective": "scst"}, "version"),
    ({"version": 1, "objective": "reinforce"}, "objective"),
    ({"version": 1, "objective": "scst", "colour": "red"}, "colour"),
])
def test_a_bad_record_is_one_line_naming_the_checkpoint_and_field(section, field):
    with pytest.raises(InputError, match=f"^ckpt/config.json: training record: {field}: "):
        TrainingRecord.read(section, "ckpt/config.json")


@pytest.fixture
def saved(tmp_path):
    vocab = Vocabulary.build([["a", "dog"]] * 3, min_count=1)
    dec = CaptionDecoder(DecoderConfig(vocab_size=len(vocab), feature_dim=4, embed_dim=4, hidden_dim=4))
    return Checkpoint(dec, vocab, EncoderSpec(feature_dim=4)).save(tmp_path / "ckpt")


@pytest.mark.parametrize("change, message", [
    ({"tokenizer": "whitespace-v0"}, "vocabulary.tokenizer is 'whitespace-v0'"),
    ({"size": 99}, "vocabulary.size is 99"),
    ({"min_count": 7}, "vocabulary.min_count is 7"),
])
def test_the_vocabulary_section_is_checked_on_load(saved, change, message):
    config = json.loads((saved / "config.json").read_text())
    config["vocabulary"].update(change)
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match=message):
        Checkpoint.load(saved)


def test_a_copy_of_a_shipped_member_still_loads(tmp_path):
    copy = shutil.copytree(PRETRAINED / "member-0", tmp_path / "m0")
    a, b = Checkpoint.load(copy), Checkpoint.load(PRETRAINED / "member-0")
    assert all(torch.equal(x, y) for x, y in zip(a.decoder.state_dict().values(), b.decoder.state_dict().values()))


def test_trained_on_val_reads_the_whole_chain():
    plain = TrainingRecord("cross-entropy", TrainConfig().to_dict(), 4)
    on_val = TrainingRecord("cross-entropy", TrainConfig(train_val=True, epochs=8, patience=8).to_dict(), 8)
    assert not trained_on_val(TrainingRecord("scst", ScstConfig().to_dict(), 2, parent=plain).to_dict())
    assert trained_on_val(TrainingRecord("scst", ScstConfig().to_dict(), 2, parent=on_val).to_dict())
    assert not trained_on_val(None) and not trained_on_val(Checkpoint.load(PRETRAINED / "member-0").training)


@pytest.mark.parametrize("cls", [TrainConfig, ScstConfig])
def test_train_val_needs_the_full_epochs(cls):
    with pytest.raises(ConfigError, match=r"patience.*set patience >= epochs \(6\), got 2"):
        cls(train_val=True, epochs=6, patience=2)
    assert cls(train_val=True, epochs=6, patience=6).train_val
