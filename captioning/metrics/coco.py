"""COCO caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr) via pycocoevalcap, scaled x100.

The scorers are called directly on PTB-tokenized text: SPICE and COCOEvalCap.evaluate()
need downloads and cannot run offline."""

from __future__ import annotations

import contextlib
import errno
import threading
from collections.abc import Mapping, Sequence

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge

from ..core.errors import InputError
from .ptb import ptb_tokenize

METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")
# Seconds for METEOR's Java child to start and answer (plus 50 ms per image): its start-up alone
# took over a minute on a busy 2-core machine, so the limit only ends a child that hangs.
METEOR_TIMEOUT = 300


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
    if not references:  # METEOR's Java child would answer an empty request with an error line
        raise InputError("no images to score: the split is empty or none of its images could be read")
    bare = [k for k, refs in references.items() if not any(str(r).strip() for r in refs)]
    if bare:  # BLEU would fail on an assert; an empty reference alone scores nothing
        raise InputError(f"image {bare[0]} has no non-empty reference caption ({len(bare)} such image(s)); "
                         "leave such images out or give them a reference")
    references = {k: [r for r in refs if str(r).strip()] for k, refs in references.items()}
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
    scorers = [("ROUGE-L", Rouge().compute_score), ("CIDEr", Cider().compute_score)]
    if meteor:
        scorers.insert(0, ("METEOR", meteor_score))
    for name, compute in scorers:
        score, each = compute(gts, res)
        overall[name] = 100 * float(score)
        for k, v in zip(keys, each):
            per_image[k][name] = 100 * float(v)
    return {m: overall[m] for m in METRICS if m in overall}, per_image


def meteor_score(gts: dict, res: dict, timeout: float | None = None) -> tuple[float, list[float]]:
    """pycocoevalcap's METEOR, but failing fast: its Java child is given `timeout` seconds (default
    METEOR_TIMEOUT, plus 50 ms per image) and always ended; a missing Java, no answer in time or an error answer
    is a ChildProcessError (an OSError) instead of a hang (its own cleanup deadlocks after an error)."""
    try:
        scorer = Meteor()
    except FileNotFoundError:
        raise ChildProcessError(errno.ENOENT, "METEOR needs Java: install a JRE so that `java` is on "
                                              "PATH, or score without METEOR", "java") from None
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["value"] = scorer.compute_score(gts, res)
        except Exception as exc:  # Java answered with an error line instead of numbers
            outcome["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    limit = METEOR_TIMEOUT + 0.05 * len(gts) if timeout is None else timeout
    thread.join(limit)
    timed_out = thread.is_alive()
    process = scorer.meteor_p
    with contextlib.suppress(OSError):
        process.stdin.close()
    process.kill()
    process.wait()
    thread.join(5)
    scorer.lock = threading.Lock()  # pycocoevalcap's __del__ waits on it, and an error leaves it held
    if "value" in outcome:
        return outcome["value"]
    error = outcome.get("error")
    reason = f"gave no answer within {limit:g} s" if timed_out or not error else \
        f"failed ({(str(error) or repr(error)).splitlines()[0]})"
    raise ChildProcessError(errno.EIO, f"METEOR (Java) {reason}", "java")


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
