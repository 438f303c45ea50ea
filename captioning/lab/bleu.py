"""Why "my BLEU does not match the paper": from nltk's sentence BLEU to coco-caption's, one step
at a time.

Captioning papers report BLEU from the COCO caption evaluation (coco-caption, pip package
pycocoevalcap): corpus-level counts over PTB-tokenized, lowercased, punctuation-free text.
What people usually write first, nltk's sentence_bleu averaged over images on raw text, can be far
from it; bleu_steps walks from one to the other and says what each step changes."""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence

from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, sentence_bleu
from pycocoevalcap.bleu.bleu import Bleu

from ..metrics.ptb import ptb_tokenize

WEIGHTS = ((1.0,), (0.25, 0.25, 0.25, 0.25))  # BLEU-1 and BLEU-4: uniform over orders 1..n
Corpus = tuple[list[list[list[str]]], list[list[str]]]  # (references per image, hypotheses), tokens

STEPS = (
    ("nltk sentence_bleu, averaged over images, raw text split on spaces",
     "What most people write first. Case and punctuation are kept ('Dog.' is not 'dog'), and a "
     "caption without a matching 4-gram scores 0 (nltk warns), dragging the mean down."),
    ("the same, smoothed (SmoothingFunction().method1)",
     "A zero match count becomes 0.1 (method1's epsilon), so those captions no longer score 0: "
     "higher, but still a mean of per-caption scores, which BLEU is not."),
    ("nltk corpus_bleu, raw text split on spaces",
     "BLEU as defined (Papineni et al. 2002): clipped n-gram matches and lengths summed over the "
     "corpus, one brevity penalty from the closest reference lengths. Still raw tokens."),
    ("nltk corpus_bleu, PTB tokens (lowercased, punctuation removed)",
     "The COCO evaluation's tokenization (the Stanford PTB tokenizer, metrics.ptb): 'Dog.' and "
     "'dog' now match."),
    ("pycocoevalcap Bleu(4), PTB tokens: what papers report",
     "coco-caption's scorer, same formula as step 4 (closest reference length, ties to the "
     "shorter): equal to about 1e-6 points, except that nltk counts one n-gram (max(1, 0)) in the "
     "denominator for a caption shorter than n words where coco-caption counts none (nltk lower), "
     "and where no n-gram of some order matches at all nltk scores about 1e-75 (effectively 0), "
     "coco-caption a small positive number from its 1e-15 guard."),
)


def _nltk_sentence_mean(corpus: Corpus, smoothing=None) -> list[float]:
    """BLEU-1 and BLEU-4, each the mean of nltk's sentence_bleu over the images."""
    refs, hyps = corpus
    return [sum(sentence_bleu(r, h, weights=w, smoothing_function=smoothing)
                for r, h in zip(refs, hyps)) / len(hyps) for w in WEIGHTS]


def _nltk_corpus(corpus: Corpus) -> list[float]:
    """BLEU-1 and BLEU-4 from nltk's corpus_bleu (counts summed over all images)."""
    return list(corpus_bleu(*corpus, weights=list(WEIGHTS)))


def _coco(corpus: Corpus) -> list[float]:
    """BLEU-1 and BLEU-4 from pycocoevalcap's Bleu(4) on the same tokens."""
    refs, hyps = corpus
    gts = {i: [" ".join(r) for r in rs] for i, rs in enumerate(refs)}
    res = {i: [" ".join(h)] for i, h in enumerate(hyps)}
    scores, _ = Bleu(4).compute_score(gts, res, verbose=0)
    return [scores[0], scores[3]]


def _corpora(references: Mapping[Hashable, Sequence[str]],
             generated: Mapping[Hashable, str]) -> tuple[Corpus, Corpus]:
    """The same captions split on whitespace, and PTB-tokenized (one Java run for both sides)."""
    keys = list(references)
    missing = [k for k in keys if k not in generated]
    if missing:
        raise ValueError(f"no generated caption for {len(missing)} image(s), e.g. {missing[0]!r}")
    raw = ([[c.split() for c in references[k]] for k in keys], [generated[k].split() for k in keys])
    tok = ptb_tokenize({**{("ref", i): list(references[k]) for i, k in enumerate(keys)},
                        **{("gen", i): [generated[k]] for i, k in enumerate(keys)}})
    ptb = ([[c.split() for c in tok["ref", i]] for i in range(len(keys))],
           [tok["gen", i][0].split() for i in range(len(keys))])
    return raw, ptb


def bleu_steps(references: Mapping[Hashable, Sequence[str]],
               generated: Mapping[Hashable, str]) -> list[dict]:
    """One row per step from nltk's sentence BLEU on raw text to pycocoevalcap's BLEU on PTB
    tokens (the last row, what papers report): step, name, BLEU-1 and BLEU-4 (x100), why.

    references: {image: [human captions]}, generated: {image: caption}, both raw text."""
    if not references:
        raise ValueError("bleu_steps needs at least one image")
    raw, ptb = _corpora(references, generated)
    with warnings.catch_warnings():  # nltk warns once per caption with a zero n-gram count
        warnings.filterwarnings("ignore", message=r"\s*The hypothesis contains 0 counts")
        scores = [_nltk_sentence_mean(raw), _nltk_sentence_mean(raw, SmoothingFunction().method1),
                  _nltk_corpus(raw), _nltk_corpus(ptb), _coco(ptb)]
    return [{"step": i, "name": name, "BLEU-1": 100 * b1, "BLEU-4": 100 * b4, "why": why,
             "reported": i == len(STEPS)}
            for i, ((name, why), (b1, b4)) in enumerate(zip(STEPS, scores), 1)]


def bleu_table(rows: Sequence[Mapping]) -> str:
    """bleu_steps' rows as a Markdown table. Papers report the row marked reported: coco-caption's
    (pycocoevalcap's) Bleu on PTB tokens, the scorer metrics.coco uses."""
    lines = ["| step | how | BLEU-1 | BLEU-4 | what changes |", "|---|---|---:|---:|---|"]
    for r in rows:
        name = f"**{r['name']}**" if r.get("reported") else r["name"]
        lines.append(f"| {r['step']} | {name} | {r['BLEU-1']:.1f} | {r['BLEU-4']:.1f} | {r['why']} |")
    return "\n".join(lines)
