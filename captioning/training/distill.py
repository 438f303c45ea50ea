"""Knowledge distillation: one decoder trained to imitate an ensemble (Hinton et al. 2015; for
sequences, Kim & Rush 2016), so that decoding costs one member's steps instead of three.

The student trains under teacher forcing on the human captions plus the teacher's own beam
caption of each train image (sequence-level distillation), with the loss

    L = (1 - a) * CE(student, next word) + a * T^2 * KL(teacher_T || student_T)

at every position: the teacher's next-word distribution is the ensemble's (the mean of its
members' log-probabilities, renormalized, as in decoding), both softened by temperature T.
By default the teacher runs once, before training, and keeps its top-k words per position
(sparse soft targets): an epoch then costs what a cross-entropy epoch costs, where running the
three teacher members at every step made it about three times slower."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core.config import Config, check, option
from ..data.tensors import SplitTensors
from ..decoder.decode_config import DecodeConfig
from ..decoder.ensemble import Ensemble
from ..decoder.model import CaptionDecoder
from ..decoder.search import decode
from ..text.vocabulary import Vocabulary
from .objectives import CrossEntropy, Share


@dataclass
class DistillConfig(Config):
    """What the student imitates and how much."""

    kd_weight: float = option(0.5, "weight of the KL term to the teacher's next-word distribution (the rest "
                              "is cross-entropy on the caption's next word)")
    kd_temperature: float = option(1.0, "soften both distributions by this temperature in the KL term")
    teacher_beam: int = option(3, "beam width of the teacher captions added to the human ones (0: add none)")
    kd_top_k: int = option(64, "keep the teacher's k most likely words per position, computed once before "
                           "training (0: the full distribution, the teacher run at every step)")

    def __post_init__(self) -> None:
        check(0 <= self.kd_weight <= 1, "kd_weight", f"must be in [0, 1], got {self.kd_weight}")
        check(self.kd_temperature > 0, "kd_temperature", f"must be > 0, got {self.kd_temperature}")
        check(self.teacher_beam >= 0, "teacher_beam", f"must be >= 0, got {self.teacher_beam}")
        check(self.kd_top_k >= 0, "kd_top_k", f"must be >= 0, got {self.kd_top_k}")


def teacher_logprobs(teacher: Ensemble | CaptionDecoder, features: Tensor, inputs: Tensor) -> Tensor:
    """The teacher's next-word log-probabilities [B, T, V] under teacher forcing: for an ensemble the
    mean of the members' log-softmax, renormalized (the distribution its decoding steps use)."""
    members = teacher.members if isinstance(teacher, Ensemble) else [teacher]
    mean = torch.stack([m(features, inputs).float().log_softmax(-1) for m in members]).mean(0)
    return mean.log_softmax(-1)


def with_teacher_captions(train: SplitTensors, teacher: Ensemble | CaptionDecoder, beam: int,
                          max_words: int) -> SplitTensors:
    """The split with one more caption per image: the teacher's beam-`beam` caption (truncated to
    max_words words), appended after the human captions."""
    cfg = DecodeConfig("beam", beam_size=beam) if beam > 1 else DecodeConfig()
    feats = train.features
    hyps = [h for i in range(0, len(feats), 256) for h in decode(teacher, feats[i:i + 256], cfg)]
    rows = [torch.tensor([Vocabulary.start_id, *h[0].tokens[:max_words], Vocabulary.end_id]) for h in hyps]
    width = max(train.tokens.size(1), max(len(r) for r in rows))
    pad = torch.full((len(rows), width), Vocabulary.pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        pad[i, :len(r)] = r
    human = F.pad(train.tokens, (0, width - train.tokens.size(1)), value=Vocabulary.pad_id)
    return SplitTensors(train.store, train.image_ids, train.references, torch.cat([human, pad]),
                        torch.cat([train.owner, torch.arange(len(rows))]), train.rows)


@torch.no_grad()
def sparse_targets(teacher: Ensemble | CaptionDecoder, train: SplitTensors, k: int, temperature: float,
                   chunk: int = 512) -> tuple[Tensor, Tensor]:
    """The teacher's k most likely next words at every position of every caption row, softened by
    `temperature`: (word ids [R, T, k] int32, their log-probabilities [R, T, k] float32)."""
    inputs, ids, logp = train.tokens[:, :-1], [], []
    for lo in range(0, len(inputs), chunk):
        rows = torch.arange(lo, min(lo + chunk, len(inputs)))
        soft = (teacher_logprobs(teacher, train.batch_features(rows), inputs[rows]) / temperature).log_softmax(-1)
        top = soft.topk(min(k, soft.size(-1)), dim=-1)
        ids.append(top.indices.int())
        logp.append(top.values)
    return torch.cat(ids), torch.cat(logp)


def partial_kl(teacher_logp: Tensor, student_logp: Tensor) -> Tensor:
    """sum_w p(w) (log p(w) - log q(w)) over the words given ([..., k] each): the KL term restricted
    to the teacher's kept words (equal to the full KL when they are the whole vocabulary)."""
    return (teacher_logp.exp() * (teacher_logp - student_logp)).sum(-1)


class Distill(CrossEntropy):
    """Cross-entropy training from fresh weights (CrossEntropy's optimizer, schedule and seeding)
    with the teacher's soft targets mixed in, on human plus teacher captions."""

    name = "distill"

    def __init__(self, config, vocab, model, encoder, teacher: Ensemble | CaptionDecoder,
                 distill: DistillConfig) -> None:
        super().__init__(config, vocab, model, encoder)
        self.teacher, self.distill = teacher.eval(), distill

    def prepare(self, train: SplitTensors) -> int:
        d = self.distill
        if d.teacher_beam:
            train = with_teacher_captions(train, self.teacher, d.teacher_beam, self.config.max_words)
        self.sparse = sparse_targets(self.teacher, train, d.kd_top_k, d.kd_temperature) if d.kd_top_k else None
        return super().prepare(train)

    def loss(self, decoder: CaptionDecoder, part: Share) -> tuple[Tensor, dict[str, float]]:
        train, dev, d = self.train, next(decoder.parameters()).device, self.distill
        tokens = train.tokens[part.items].to(dev)
        tokens = tokens[:, : int((tokens != Vocabulary.pad_id).sum(1).max())]
        feats, inputs, targets = train.batch_features(part.items).to(dev), tokens[:, :-1], tokens[:, 1:]
        mask = targets != Vocabulary.pad_id
        count = int((train.tokens[part.whole, 1:] != Vocabulary.pad_id).sum()) / part.ranks
        logits = decoder(feats, inputs).float()
        ce = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=Vocabulary.pad_id,
                             label_smoothing=self.config.label_smoothing, reduction="sum")
        student = (logits / d.kd_temperature).log_softmax(-1)
        if self.sparse is not None:
            ids, teacher = (t[part.items, : inputs.size(1)].to(dev) for t in self.sparse)
            kl = partial_kl(teacher, student.gather(-1, ids.long()))
        else:
            with torch.no_grad():
                teacher = (teacher_logprobs(self.teacher, feats, inputs) / d.kd_temperature).log_softmax(-1)
            kl = partial_kl(teacher, student)
        kl = kl.masked_fill(~mask, 0.0).sum()
        loss = ((1 - d.kd_weight) * ce + d.kd_weight * d.kd_temperature ** 2 * kl) / count * part.weight
        return loss, {"loss": float(loss.detach()), "ce": float(ce.detach()) / count,
                      "kl": float(kl.detach()) / count}
