"""COCO caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr) via pycocoevalcap, scaled x100.

The scorers are called directly on PTB-tokenized text: SPICE and COCOEvalCap.evaluate()
need downloads and cannot run offline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge

from ..core.errors import InputError
from .ptb import ptb_tokenize

METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")


def cider(references: Mapping[object, Sequence[str]], generated: Mapping[object, str],
          tokenized_refs: Mapping | None = None) -> float:
    """CIDEr-D x100 only (cheap enough for every validation epoch)."""
    refs = tokenized_refs or ptb_tokenize(references)
    res = ptb_tokenize({k: [generated[k]] for k in references})
    score, _ = Cider().compute_score(dict(refs), res)
    return 100.0 * float(score)


def score_captions(references: Mapping[object, Sequence[str]], generated: Mapping[object, str],
                   meteor: bool = True) -> tuple[dict[str, float], dict[object, dict[str, float]]]:
    """Corpus scores and per-image scores (x100) of generated captions against references."""
    missing = [k for k in references if k not in generated]
    if missing:
        raise InputError(f"no generated caption for {len(missing)} image(s), e.g. {missing[0]}")
    keys = list(references)
    gts = ptb_tokenize(references)
    res = ptb_tokenize({k: [generated[k]] for k in keys})
    overall: dict[str, float] = {}
    per_image: dict[object, dict[str, float]] = {k: {} for k in keys}
    bleu, bleu_each = Bleu(4).compute_score(gts, res, verbose=0)
    for n in range(4):
        overall[f"BLEU-{n + 1}"] = 100 * bleu[n]
        for k, v in zip(keys, bleu_each[n]):
            per_image[k][f"BLEU-{n + 1}"] = 100 * v
    scorers = [("ROUGE-L", Rouge()), ("CIDEr", Cider())]
    if meteor:
        scorers.insert(0, ("METEOR", Meteor()))
    for name, scorer in scorers:
        score, each = scorer.compute_score(gts, res)
        overall[name] = 100 * float(score)
        for k, v in zip(keys, each):
            per_image[k][name] = 100 * float(v)
    return {m: overall[m] for m in METRICS if m in overall}, per_image


def format_table(rows: Mapping[str, Mapping[str, float]], extra: Sequence[str] = ()) -> str:
    """A plain-text table: one row per decoding setting, one column per metric."""
    cols = [m for m in (*METRICS, *extra) if any(m in r for r in rows.values())]
    width = max(len(name) for name in rows) + 2
    cells = {name: [f"{r[c]:.1f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols]
             for name, r in rows.items()}
    col_w = [max(8, len(c), *(len(v[i]) for v in cells.values())) + 1 for i, c in enumerate(cols)]
    lines = ["".ljust(width) + "".join(c.rjust(w) for c, w in zip(cols, col_w))]
    for name, values in cells.items():
        lines.append(name.ljust(width) + "".join(v.rjust(w) for v, w in zip(values, col_w)))
    return "\n".join(lines)
