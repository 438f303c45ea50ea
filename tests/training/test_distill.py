"""Distillation's loss on tiny tensors: the sparse soft targets computed once before training give
the same loss as running the teacher at every step when they keep every word, and the kept words
are the teacher's most likely ones."""

from __future__ import annotations

import pytest
import torch

from captioning.data.tensors import SplitTensors
from captioning.decoder.config import DecoderConfig
from captioning.decoder.ensemble import Ensemble
from captioning.decoder.model import CaptionDecoder
from captioning.features.config import EncoderSpec
from captioning.text.vocabulary import Vocabulary
from captioning.training.config import TrainConfig
from captioning.training.distill import (
    Distill,
    DistillConfig,
    partial_kl,
    sparse_targets,
    teacher_logprobs,
)
from captioning.training.objectives import Share

VOCAB = Vocabulary(["a", "dog", "cat", "runs", "sits", "on", "grass", "sofa"])
MODEL = DecoderConfig(vocab_size=len(VOCAB), feature_dim=6, embed_dim=8, hidden_dim=8, dropout=0.0)


def _split(images: int = 5, captions: int = 3) -> SplitTensors:
    torch.manual_seed(0)
    rows = images * captions
    tokens = torch.randint(4, len(VOCAB), (rows, 7))
    tokens[:, 0], tokens[:, -1] = Vocabulary.start_id, Vocabulary.end_id
    tokens[::2, 5:] = Vocabulary.pad_id
    tokens[::2, 4] = Vocabulary.end_id
    return SplitTensors(torch.randn(images, 6), list(range(images)), {}, tokens,
                        torch.arange(images).repeat_interleave(captions))


def _teacher() -> Ensemble:
    torch.manual_seed(1)
    return Ensemble([CaptionDecoder(MODEL), CaptionDecoder(MODEL)]).eval()


def _loss(top_k: int, temperature: float = 2.0) -> float:
    split, config = _split(), TrainConfig(batch_size=4, min_count=1)
    objective = Distill(config, VOCAB, MODEL, EncoderSpec(feature_dim=6), _teacher(),
                        DistillConfig(kd_weight=0.7, kd_temperature=temperature, teacher_beam=0, kd_top_k=top_k))
    objective.prepare(split)
    torch.manual_seed(2)
    student = CaptionDecoder(MODEL)
    items = torch.tensor([0, 3, 4, 9])
    loss, parts = objective.loss(student, Share(items, items, 1.0, 1))
    return float(loss.detach()), parts["kl"]


def test_sparse_targets_keeping_every_word_give_the_exact_loss():
    exact, sparse = _loss(top_k=0), _loss(top_k=len(VOCAB))
    assert exact[0] == pytest.approx(sparse[0], rel=1e-3)
    assert exact[1] == pytest.approx(sparse[1], rel=1e-3)
    assert sparse[1] > 0


def test_fewer_kept_words_only_drop_the_teachers_least_likely_mass():
    split, teacher = _split(), _teacher()
    ids, logp = sparse_targets(teacher, split, k=3, temperature=1.0, chunk=4)  # chunks of 4 rows
    assert ids.shape == logp.shape == (len(split.tokens), split.tokens.size(1) - 1, 3)
    full = teacher_logprobs(teacher, split.batch_features(slice(None)), split.tokens[:, :-1])
    assert torch.equal(ids.long(), full.topk(3, -1).indices)
    assert torch.allclose(logp, full.topk(3, -1).values, atol=1e-6)


def test_partial_kl_is_the_kl_over_the_whole_vocabulary_and_zero_for_the_same_distribution():
    p, q = torch.randn(4, 9).log_softmax(-1), torch.randn(4, 9).log_softmax(-1)
    exact = torch.nn.functional.kl_div(q, p, log_target=True, reduction="none").sum(-1)
    assert torch.allclose(partial_kl(p, q), exact, atol=1e-6)
    assert torch.allclose(partial_kl(p, p), torch.zeros(4))


def test_a_negative_top_k_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="kd_top_k"):
        DistillConfig(kd_top_k=-1)
