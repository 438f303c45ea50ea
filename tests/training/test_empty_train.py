"""Issue 29, item 6: a train split with no captions to learn from is refused in one line before
any file is written, instead of an epoch of zero steps failing with KeyError 'grad_norm'."""

from pathlib import Path

import pytest
import torch

from captioning.core.errors import InputError
from captioning.data.records import ImageRecord
from captioning.data.tensors import build_split
from captioning.decoder.config import DecoderConfig
from captioning.features.config import EncoderSpec
from captioning.text.vocabulary import Vocabulary
from captioning.training.config import TrainConfig
from captioning.training.loop import CrossEntropy, fit


def test_fit_refuses_a_train_split_with_no_captions(tmp_path):
    vocab = Vocabulary(["a", "dog"])
    records = [ImageRecord(Path(f"/toy/{i}.jpg"), "train", [], i) for i in range(4)]
    train = build_split(records, torch.zeros(4, 8), vocab, max_words=10)
    val = build_split([ImageRecord(Path("/toy/v.jpg"), "val", ["a dog"], 9)], torch.zeros(1, 8), vocab, 10)
    objective = CrossEntropy(TrainConfig(epochs=1), vocab, DecoderConfig(vocab_size=len(vocab), feature_dim=8,
                                                                         embed_dim=4, hidden_dim=4),
                             EncoderSpec(feature_dim=8))
    with pytest.raises(InputError, match="the train split has no non-empty captions"):
        fit(objective, train, val, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
