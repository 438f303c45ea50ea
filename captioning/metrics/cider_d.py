"""CIDEr-D as a reusable scorer: document frequencies once, then many candidates fast.

pycocoevalcap's `Cider().compute_score(refs, cands)` recomputes the document frequencies (df)
from the references it is given every time, and scores one corpus in one go. Self-critical
training needs the opposite: df fixed once from a reference corpus (the train split's
references), then tens of thousands of sampled captions per epoch, each scored against its own
image's references. `CiderD` does that in pure Python (no torch, numpy only for the log/exp),
with the same arithmetic as pycocoevalcap 1.2, so that

    CiderD(refs).corpus_score(cands) == Cider().compute_score(refs, cands)[0]   (to ~1e-12)

All text is PTB-tokenized and space-joined, as pycocoevalcap expects. The score of one
candidate c against references R (n = 1..4, each n-gram weighted tf * (log N - log max(1, df))):

    CIDEr-D(c, R) = 10 / |R| * sum_r mean_n  sum_g min(v_c[g], v_r[g]) * v_r[g] / (|v_c| |v_r|)
                                              * exp(-(l_c - l_r)^2 / (2 sigma^2))

Two details follow pycocoevalcap exactly, because reproducing its numbers is the point:
- the clipped numerator `min(v_c, v_r) * v_r` ("CIDEr-D clipping"), and
- the length l used by the Gaussian penalty is the caption's number of *bigrams*
  (len(words) - 1), not of words: pycocoevalcap counts `length` where its n-gram index n == 1.
  Only differences of lengths enter the penalty, so this matters only for 1-word captions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from ..text.vocabulary import Vocabulary
from .ptb import ptb_tokenize

Ngram = tuple[str, ...]


def ngram_counts(words: Sequence[str], n: int = 4) -> dict[Ngram, int]:
    """Counts of every 1..n-gram of a word list."""
    counts: dict[Ngram, int] = {}
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            g = tuple(words[i:i + k])
            counts[g] = counts.get(g, 0) + 1
    return counts


class CiderD:
    """CIDEr-D with document frequencies fixed from `corpus` (key -> list of tokenized references).

    `score(key, candidate)` scores a candidate against the references of `key`: a key of the
    df corpus, or one added later with `set_references` (whose n-grams then use the corpus df;
    adding references never changes the df). Reference vectors are computed once per key and
    cached, so scoring many candidates of the same images is cheap."""

    def __init__(self, corpus: Mapping[object, Sequence[str]], n: int = 4, sigma: float = 6.0) -> None:
        if not corpus:
            raise ValueError("CiderD needs a non-empty reference corpus for its document frequencies")
        self.n, self.sigma = n, sigma
        self._two_sigma2 = 2.0 * sigma * sigma
        df: dict[Ngram, float] = {}
        self._refs_text: dict[object, list[list[str]]] = {}
        for key, refs in corpus.items():
            split = [r.split() for r in refs]
            self._refs_text[key] = split
            seen: set[Ngram] = set()
            for words in split:
                seen.update(ngram_counts(words, n))
            for g in seen:
                df[g] = df.get(g, 0.0) + 1.0
        self.num_documents = len(corpus)
        self.ref_len = math.log(float(self.num_documents))  # log N
        # idf of every n-gram seen in the corpus; unseen n-grams get log N (df clamped to 1)
        self._idf = {g: self.ref_len - math.log(max(1.0, d)) for g, d in df.items()}
        self._ref_vecs: dict[object, list[tuple[dict[Ngram, float], list[float], int]]] = {}

    def _vec(self, words: Sequence[str]) -> tuple[dict[Ngram, float], list[float], int]:
        """tf-idf weights (one dict over all n), the norm per n, and the bigram count."""
        vec: dict[Ngram, float] = {}
        sq = [0.0] * self.n
        length = 0
        idf, ref_len = self._idf, self.ref_len
        for g, tf in ngram_counts(words, self.n).items():
            w = float(tf) * idf.get(g, ref_len)
            vec[g] = w
            sq[len(g) - 1] += w * w
            if len(g) == 2:
                length += tf
        return vec, [math.sqrt(s) for s in sq], length

    def set_references(self, key: object, refs: Sequence[str]) -> None:
        """Score candidates of `key` against these tokenized references (df unchanged)."""
        self._refs_text[key] = [r.split() for r in refs]
        self._ref_vecs.pop(key, None)

    def _references(self, key: object):
        vecs = self._ref_vecs.get(key)
        if vecs is None:
            try:
                refs = self._refs_text[key]
            except KeyError:
                raise KeyError(f"CiderD: no references for {key!r}") from None
            vecs = self._ref_vecs[key] = [self._vec(r) for r in refs]
        return vecs

    def score_words(self, key: object, words: Sequence[str]) -> float:
        """CIDEr-D (x10, like pycocoevalcap) of one candidate word list against key's references."""
        refs = self._references(key)
        vec, norm, length = self._vec(words)
        n = self.n
        total = 0.0
        for vec_r, norm_r, length_r in refs:
            delta = float(length - length_r)
            penalty = math.exp(-(delta * delta) / self._two_sigma2)
            val = [0.0] * n
            for g, w in vec.items():
                wr = vec_r.get(g)
                if wr is not None:
                    val[len(g) - 1] += (w if w < wr else wr) * wr
            for k in range(n):
                if norm[k] != 0 and norm_r[k] != 0:
                    val[k] /= norm[k] * norm_r[k]
                total += val[k] * penalty
        return total / n / len(refs) * 10.0

    def score(self, key: object, candidate: str) -> float:
        """CIDEr-D of one tokenized candidate string."""
        return self.score_words(key, candidate.split())

    def score_many(self, keys: Iterable[object], candidates: Iterable[str | Sequence[str]]) -> list[float]:
        """Scores of candidates (strings or word lists), each against its own key's references."""
        return [self.score_words(k, c.split() if isinstance(c, str) else c) for k, c in zip(keys, candidates)]

    def corpus_score(self, candidates: Mapping[object, str | Sequence[str]]) -> float:
        """Mean CIDEr-D over {key: candidate}: pycocoevalcap's corpus score when df came from
        exactly these keys' references."""
        scores = self.score_many(candidates.keys(), candidates.values())
        return sum(scores) / len(scores)


def ptb_word_map(words: Sequence[str]) -> dict[str, list[str]]:
    """How the PTB tokenizer (pycocoevalcap's, Java) splits each vocabulary word, in one call.

    Model outputs are vocabulary words; mapping each through this table gives the same tokens
    that tokenizing the whole caption would (the PTB tokenizer splits within words only, e.g.
    "man's" -> "man 's", and drops punctuation), without a Java call per caption."""
    tok = ptb_tokenize({i: [w] for i, w in enumerate(words)})
    return {w: tok[i][0].split() for i, w in enumerate(words)}


class TokenWords:
    """Decoded word ids -> the PTB tokens pycocoevalcap would score, without calling Java per caption."""

    def __init__(self, vocab: Vocabulary) -> None:
        table = ptb_word_map(vocab.itos)
        self.words = [table[w] for w in vocab.itos]

    def __call__(self, ids: Iterable[int]) -> list[str]:
        out: list[str] = []
        for i in ids:
            if i == Vocabulary.end_id:
                break
            if i not in (Vocabulary.pad_id, Vocabulary.start_id):
                out.extend(self.words[i])
        return out


class SplitCider:
    """Corpus CIDEr-D (x100) of decoded captions on one split, equal to pycocoevalcap's (df from
    the split's own references), scored in Python: validation needs no Java call per epoch."""

    def __init__(self, references: Mapping[object, Sequence[str]], vocab: Vocabulary) -> None:
        self.keys = list(references)
        self.scorer = CiderD(ptb_tokenize(references))
        self.words = TokenWords(vocab)

    def __call__(self, token_ids: Sequence[Sequence[int]]) -> float:
        """token_ids[i]: the caption of the i-th key, as word ids."""
        words = [self.words(t) for t in token_ids]
        return 100.0 * sum(self.scorer.score_many(self.keys, words)) / max(len(words), 1)
