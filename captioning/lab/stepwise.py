"""A caption word by word: at each step, the model's k most likely next words and the probability
of the word the caption actually took, and a small HTML table of them.

The caption is fed back through the decoder's own `step` (teacher forcing), so the numbers are the
distributions decoding saw: the chosen words' log-probabilities add up to the hypothesis' logprob.
They are the model's distributions before decoding's masks (no <pad>/<start>, <unk> only when
allowed) and before sampling's temperature and top-p."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..decoder.search import StepDecoder
from ..text.vocabulary import Vocabulary


@dataclass
class NextWords:
    """Per step t: the word read (inputs[t]), the word taken next (chosen[t]) and its probability,
    and the k most likely next words (top_words[t], top_probs[t], most likely first)."""

    inputs: list[str]
    chosen: list[str]
    chosen_probs: list[float]
    top_words: list[list[str]]
    top_probs: list[list[float]]

    @property
    def logprob(self) -> float:
        """The caption's log-probability: the sum of the chosen words' log-probabilities."""
        return float(np.log(np.asarray(self.chosen_probs, dtype=np.float64)).sum())


@torch.inference_mode()
def next_words(decoder: StepDecoder, feature: Tensor, tokens: Sequence[int], vocab: Vocabulary,
               k: int = 5, finished: bool = True) -> NextWords:
    """Feed one image's caption (word ids, no specials) through decoder.step and record each step's
    k most likely next words. finished=True adds the final step that chose <end> (a hypothesis'
    .finished); decoder is a CaptionDecoder or an Ensemble (its averaged distribution)."""
    was_training = decoder.training
    decoder.eval()
    try:
        feature = feature.reshape(1, -1).to(next(decoder.parameters()).device, torch.float32)
        states = decoder.init_state(feature)
        inputs = [Vocabulary.start_id, *tokens][: len(tokens) + bool(finished)]
        targets = [*tokens, Vocabulary.end_id][: len(inputs)]
        rows = []
        for word in inputs:
            logp, states = decoder.step(torch.tensor([word], device=feature.device), states)
            rows.append(logp[0].float().exp())
    finally:
        decoder.train(was_training)
    if not rows:
        return NextWords([], [], [], [], [])
    probs = torch.stack(rows).cpu()
    top = probs.topk(min(k, probs.size(1)), dim=1)
    name = vocab.itos.__getitem__
    return NextWords([name(w) for w in inputs], [name(w) for w in targets],
                     probs[torch.arange(len(targets)), targets].tolist(),
                     [[name(i) for i in row] for row in top.indices.tolist()], top.values.tolist())


def _cell(word: str, p: float, taken: bool) -> str:
    """One table cell: the word and its probability, shaded by it; the word taken is bold, boxed."""
    style = f"background:rgba(31,119,180,{p:.2f});color:{'white' if p > 0.6 else 'black'};padding:1px 6px"
    text = f"{html.escape(word)} {p:.2f}"
    if taken:  # <b> too, for pages that drop styles
        style, text = style + ";outline:2px solid #d62728", f"<b>{text}</b>"
    return f"<td style='{style}'>{text}</td>"


def next_words_html(table: NextWords) -> str:
    """An HTML table, one row per step: the word read, then the k most likely next words with their
    probabilities (shaded by probability). The word the caption took is bold and boxed; when it is
    not among the k (sampling, or a beam's runner-up), a last column gives it."""
    k = max((len(row) for row in table.top_words), default=0)
    outside = [c not in row for c, row in zip(table.chosen, table.top_words)]
    head = "".join(f"<th>{j + 1}</th>" for j in range(k)) + ("<th>taken</th>" if any(outside) else "")
    rows = []
    for t, word in enumerate(table.inputs):
        cells = [_cell(w, p, w == table.chosen[t]) for w, p in zip(table.top_words[t], table.top_probs[t])]
        if outside[t]:
            cells.append(_cell(table.chosen[t], table.chosen_probs[t], True))
        elif any(outside):
            cells.append("<td></td>")
        rows.append(f"<tr><td style='text-align:right'>after {html.escape(word)}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"
