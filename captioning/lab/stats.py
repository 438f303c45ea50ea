"""Small, plot-ready numbers for the notebooks: caption lengths, word frequencies, vocabulary
coverage per minimum count, split summaries, what the CNN sees, how varied the captions are, and
what a decoding setting costs.

Everything here only counts and summarizes; models, training and decoding live in their modules."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import torch
from pycocoevalcap.cider.cider import Cider

from ..data.records import SPLITS, ImageRecord
from ..decoder.decode_config import DecodeConfig
from ..decoder.model import CaptionDecoder
from ..decoder.search import decode
from ..features.backbones import imagenet_categories
from ..features.encoder import Encoder
from ..metrics.ptb import ptb_tokenize
from ..text.tokenizer import tokenize
from ..text.vocabulary import Vocabulary
from ..training.evaluation import caption_features


# ----------------------------------------------------------------------------- data set
def captions_of(records: Iterable[ImageRecord], split: str | None = None) -> list[str]:
    """Every human caption of the records (of one split when given), in record order."""
    return [c for r in records if split is None or r.split == split for c in r.captions]


def caption_lengths(captions: Iterable[str]) -> list[int]:
    """Number of words of each caption, as the tokenizer counts them."""
    return [len(tokenize(c)) for c in captions]


def word_counts(captions: Iterable[str]) -> Counter[str]:
    """How often each word occurs in the captions."""
    counts: Counter[str] = Counter()
    for caption in captions:
        counts.update(tokenize(caption))
    return counts


def rank_frequency(counts: Mapping[str, int]) -> tuple[list[int], list[int]]:
    """(ranks 1..V, counts sorted descending): the Zipf plot's x and y."""
    freqs = sorted(counts.values(), reverse=True)
    return list(range(1, len(freqs) + 1)), freqs


def coverage_by_min_count(train_captions: Sequence[str], heldout_captions: Sequence[str],
                          min_counts: Iterable[int] = (1, 2, 3, 5, 8, 10, 15, 20, 30)) -> list[dict]:
    """For each minimum count: vocabulary size, the share of train and held-out words it covers,
    the held-out <unk> rate and the share of held-out captions with at least one <unk>.

    The vocabulary is built from the train captions only, as in training."""
    train_counts = word_counts(train_captions)
    heldout = [tokenize(c) for c in heldout_captions]
    held_counts = Counter(w for words in heldout for w in words)
    n_train, n_held = sum(train_counts.values()), sum(held_counts.values())
    rows = []
    for m in min_counts:
        kept = {w for w, n in train_counts.items() if n >= m}
        train_cov = sum(n for w, n in train_counts.items() if w in kept) / max(n_train, 1)
        held_cov = sum(n for w, n in held_counts.items() if w in kept) / max(n_held, 1)
        with_unk = sum(any(w not in kept for w in words) for words in heldout) / max(len(heldout), 1)
        rows.append({"min_count": m, "vocab_size": len(kept) + len(Vocabulary([])),
                     "train_coverage": train_cov, "heldout_coverage": held_cov,
                     "unk_rate": 1 - held_cov, "captions_with_unk": with_unk})
    return rows


def split_summary(records: Sequence[ImageRecord]) -> dict[str, dict]:
    """Per split (train, val, test, then any other): images, captions, smallest and largest id."""
    names = [s for s in SPLITS if any(r.split == s for r in records)]
    names += sorted({r.split for r in records} - set(names))
    out = {}
    for s in names:
        rs = [r for r in records if r.split == s]
        ids = sorted(r.image_id for r in rs)
        out[s] = {"images": len(rs), "captions": sum(len(r.captions) for r in rs),
                  "first_id": ids[0], "last_id": ids[-1]}
    return out


def subsample_splits(records: Sequence[ImageRecord], sizes: Mapping[str, int]) -> list[ImageRecord]:
    """The first sizes[split] records of each split named in sizes (others dropped), order kept.

    A size of 0 or less keeps the whole split. Deterministic, so notebooks share feature caches."""
    seen: Counter[str] = Counter()
    out = []
    for r in records:
        if r.split in sizes and (sizes[r.split] <= 0 or seen[r.split] < sizes[r.split]):
            seen[r.split] += 1
            out.append(r)
    return out


# ----------------------------------------------------------------------------- the CNN
def top_classes(encoder: Encoder, features: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
    """The encoder's top-k ImageNet classes and probabilities for each feature row [N, F]."""
    names = imagenet_categories()
    probs = encoder.classify(features).softmax(-1).cpu()
    top = probs.topk(k, dim=-1)
    return [[(names[i], float(p)) for p, i in zip(ps.tolist(), idx.tolist())]
            for ps, idx in zip(top.values, top.indices)]


# ----------------------------------------------------------------------------- generated captions
def distinct_captions(captions: Sequence[str]) -> dict[str, float]:
    """How many captions, how many different ones, and the distinct share."""
    n, d = len(captions), len(set(captions))
    return {"captions": n, "distinct": d, "distinct_share": d / n if n else 0.0}


def most_common_captions(captions: Iterable[str], k: int = 10) -> list[tuple[str, int]]:
    """The k most frequent captions with their counts (ties in first-seen order)."""
    return Counter(captions).most_common(k)


def novel_share(generated: Iterable[str], train_captions: Iterable[str]) -> float:
    """Share of generated captions that do not occur verbatim (after tokenizing) in training."""
    seen = {" ".join(tokenize(c)) for c in train_captions}
    gen = [" ".join(tokenize(c)) for c in generated]
    return sum(g not in seen for g in gen) / len(gen) if gen else 0.0


def repeated_ngram_share(captions: Sequence[str], n: int = 3) -> float:
    """Share of captions in which some word n-gram occurs twice ("a plate of food ... a plate of")."""
    def repeats(words: list[str]) -> bool:
        grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
        return len(grams) != len(set(grams))

    return sum(repeats(tokenize(c)) for c in captions) / len(captions) if captions else 0.0


def mean_length(captions: Sequence[str]) -> float:
    """Mean number of words per caption (0 for none)."""
    lengths = caption_lengths(captions)
    return sum(lengths) / len(lengths) if lengths else 0.0


def distinct_words(captions: Iterable[str]) -> int:
    """Number of different words used across the captions."""
    return len(word_counts(captions))


def decoding_sweep(decoder: CaptionDecoder, features: torch.Tensor, references: Sequence[Sequence[str]],
                   vocab: Vocabulary, settings: Mapping[str, DecodeConfig]) -> dict[str, dict]:
    """Caption features [N, F] with each decoding setting; per setting: CIDEr (x100, against the
    N reference lists), mean caption length, distinct captions, and the captions themselves.

    All captions are PTB-tokenized in one call, so a large sweep starts Java only twice."""
    texts = {name: [h[0].text for h in caption_features(decoder, features, vocab, cfg)]
             for name, cfg in settings.items()}
    refs = ptb_tokenize({i: list(r) for i, r in enumerate(references)})
    res = ptb_tokenize({(name, i): [t] for name, caps in texts.items() for i, t in enumerate(caps)})
    out = {}
    for name, caps in texts.items():
        score, _ = Cider().compute_score(refs, {i: res[(name, i)] for i in range(len(caps))})
        out[name] = {"CIDEr": 100.0 * float(score), "mean_length": mean_length(caps),
                     "distinct": len(set(caps)), "captions": caps}
    return out


def decoding_work(decoder: CaptionDecoder, features: torch.Tensor, cfg: DecodeConfig,
                  batch_size: int = 32) -> dict[str, float]:
    """What one decoding setting costs on features [N, F], decoded in batches: decoder rows (one
    word for one hypothesis) and milliseconds per image. The rows are counted, not estimated."""
    step, rows = decoder.step, 0

    def counting_step(tokens: torch.Tensor, states):
        nonlocal rows
        rows += tokens.size(0)
        return step(tokens, states)

    decoder.step = counting_step  # an instance attribute shadows the method until deleted
    try:
        start = time.perf_counter()
        for i in range(0, len(features), batch_size):
            decode(decoder, features[i:i + batch_size], cfg)
        seconds = time.perf_counter() - start
    finally:
        del decoder.step
    n = max(len(features), 1)
    return {"rows_per_image": rows / n, "ms_per_image": 1e3 * seconds / n}


def decoding_times(decoder: CaptionDecoder, features: torch.Tensor, settings: Mapping[object, DecodeConfig],
                   rounds: int = 3) -> dict[object, dict[str, float]]:
    """Milliseconds per image of each decoding setting on this machine: `rounds` interleaved rounds
    (every setting once per round, so a busy spell slows them alike); median, min and max."""
    times: dict[object, list[float]] = {key: [] for key in settings}
    for _ in range(rounds):
        for key, cfg in settings.items():
            times[key].append(decoding_work(decoder, features, cfg)["ms_per_image"])
    return {key: {"median": statistics.median(t), "min": min(t), "max": max(t)} for key, t in times.items()}


# ----------------------------------------------------------------------------- model state

def shared_and_specific(states: torch.Tensor) -> dict[str, float]:
    """How much of a batch of initial states [N, H] all images share: the sum of squares splits
    exactly into the per-unit mean over images (shared) and each image's deviation from it."""
    states = states.detach().double()
    mean = states.mean(0, keepdim=True)
    total = float(states.pow(2).sum()) or 1.0
    shared = float(mean.pow(2).sum()) * states.size(0) / total
    return {"shared": shared, "specific": 1.0 - shared, "mean_abs_offset": float(mean.abs().mean()),
            "std_across_images": float(states.std(0).mean())}


def changed_examples(before: Sequence[str], after: Sequence[str], gain: Sequence[float],
                     up: int = 2, down: int = 1) -> list[int]:
    """Indices of images whose caption changed: the `up` largest gains, then the `down` largest
    losses (gain[i] = score after - score before), so a before/after view shows both directions."""
    changed = sorted((i for i, (b, a) in enumerate(zip(before, after)) if b != a), key=lambda i: -gain[i])
    best = changed[:up]
    return best + [i for i in reversed(changed) if i not in best and gain[i] < 0][:down]
