"""The vocabulary: caption words <-> integer ids, with four special tokens, saved as JSON."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..core.errors import InputError
from ..core.io import atomic_write_text
from .tokenizer import tokenize

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)


class Vocabulary:
    """Word <-> id table with the special tokens <pad>=0, <start>=1, <end>=2, <unk>=3."""

    def __init__(self, words: Sequence[str], min_count: int = 1) -> None:
        self.itos: list[str] = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise InputError("vocabulary words must be unique")
        self.min_count = min_count

    pad_id, start_id, end_id, unk_id = 0, 1, 2, 3

    @classmethod
    def build(cls, captions: Iterable[str | Sequence[str]], min_count: int) -> Vocabulary:
        """Keep words seen at least `min_count` times, most frequent first (ties alphabetical)."""
        counts: Counter[str] = Counter()
        for caption in captions:
            counts.update(tokenize(caption) if isinstance(caption, str) else caption)
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls(kept, min_count=min_count)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str | Sequence[str], add_special: bool = True) -> list[int]:
        """Caption (or its tokens) -> ids, wrapped in <start> ... <end> by default."""
        tokens = tokenize(text) if isinstance(text, str) else text
        ids = [self.stoi.get(t, self.unk_id) for t in tokens]
        return [self.start_id, *ids, self.end_id] if add_special else ids

    def decode(self, ids: Iterable[int], keep_unk: bool = True) -> str:
        """Ids -> caption text: stops at <end>, drops <start>/<pad>."""
        words = []
        for i in ids:
            i = int(i)
            if i == self.end_id:
                break
            if i in (self.pad_id, self.start_id) or (i == self.unk_id and not keep_unk):
                continue
            words.append(self.itos[i] if 0 <= i < len(self.itos) else UNK)
        return " ".join(words)

    def to_dict(self) -> dict:
        return {"min_count": self.min_count, "itos": self.itos}

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=0))

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a vocab.json; a malformed file raises ValueError naming it."""
        try:
            data = json.loads(Path(path).read_text())
            itos = list(data["itos"])
            min_count = int(data.get("min_count", 1))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"{path}: not a valid vocabulary file ({exc})") from None
        if itos[: len(SPECIALS)] != list(SPECIALS):
            raise InputError(f"{path}: vocabulary must start with {', '.join(SPECIALS)}")
        try:
            return cls(itos[len(SPECIALS):], min_count=min_count)
        except ValueError as exc:  # duplicate words
            raise InputError(f"{path}: {exc}") from None

    def coverage(self, captions: Iterable[str]) -> float:
        """Fraction of caption words that are in the vocabulary (1 - <unk> rate)."""
        total = known = 0
        for caption in captions:
            for token in tokenize(caption):
                total += 1
                known += token in self.stoi
        return known / max(total, 1)
