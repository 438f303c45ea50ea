"""DecodeConfig and the one resolver that turns "checkpoint default + overrides" into it.

The CLI and `Captioner` both call `resolve_decoding`, so the same options always mean the same
decoding. The rules, in order:
1. sample=True (or strategy="sample") samples; an explicit beam_size picks greedy (1) or beam
   search (K > 1); otherwise the strategy is the default's (sample=False turns a sampling default
   into greedy). A strategy and a beam_size that contradict each other are an error.
2. An explicit beam_size is never changed. When beam_size is not given and n_best > 1, the
   default beam widens to n_best (a greedy default becomes a beam of max(beam_size, n_best)).
3. Anything still inconsistent is an error naming the field, e.g. beam_size=1 with n_best=3:
   greedy decoding gives one caption. No torch here, so the CLI can show these options cheaply."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..core.config import Config, ConfigError, check, option

STRATEGIES = ("greedy", "beam", "sample")


@dataclass
class DecodeConfig(Config):
    """How to turn image features into words."""

    strategy: str = option("greedy", "greedy, beam or sample", choices=STRATEGIES,
                           shortcuts={"sample": "sample"})
    beam_size: int = option(3, "beam search with K beams (1 = greedy)", flag="beam", metavar="K")
    n_best: int = option(1, "captions per image (beam search or sampling)")
    max_len: int = option(20, "tokens generated at most, <end> included")
    min_len: int = option(1, "words before <end> may be chosen")
    length_penalty: float = option(0.0, "GNMT alpha: score = logprob / ((5 + length) / 6) ** alpha")
    block_trigrams: bool = option(False, "forbid repeated trigrams in beams")
    temperature: float = option(1.0, "sampling temperature (0 = greedy)")
    top_k: int = option(0, "sample from the k most likely words only (0 = all)")
    top_p: float = option(1.0, "nucleus sampling: the smallest set of words reaching this mass")
    seed: int | None = option(None, "seed for sampling (default: torch's global generator)")
    allow_unk: bool = option(False, "let captions contain <unk>")

    def __post_init__(self) -> None:
        check(self.strategy in STRATEGIES, "strategy", f"unknown '{self.strategy}' (greedy, beam or sample)")
        for name in ("beam_size", "n_best", "max_len"):
            check(getattr(self, name) >= 1, name, f"must be >= 1, got {getattr(self, name)}")
        check(self.min_len >= 0, "min_len", f"must be >= 0, got {self.min_len}")
        check(self.strategy != "greedy" or self.n_best == 1, "n_best",
              f"{self.n_best} captions need beam search (beam_size >= {self.n_best}) or sampling; "
              "greedy decoding gives one")
        check(self.strategy != "beam" or self.n_best <= self.beam_size, "n_best",
              f"{self.n_best} captions need beam_size >= {self.n_best}, got {self.beam_size}")
        check(self.temperature >= 0, "temperature", f"must be >= 0, got {self.temperature}")
        check(0 < self.top_p <= 1, "top_p", f"must be in (0, 1], got {self.top_p}")
        check(self.top_k >= 0, "top_k", f"must be >= 0, got {self.top_k}")

    @property
    def name(self) -> str:
        """A short label: greedy, beam-3, sample."""
        return f"beam-{self.beam_size}" if self.strategy == "beam" else self.strategy


DECODE_FIELDS = frozenset(f.name for f in fields(DecodeConfig))


def resolve_decoding(default: DecodeConfig | dict | None = None, *, sample: bool | None = None,
                     **overrides: Any) -> DecodeConfig:
    """The default decoding (a checkpoint's, else DecodeConfig()) with overrides applied by the
    rules in this module's docstring. Overrides that are None count as not given."""
    base = DecodeConfig.from_dict(default) if isinstance(default, dict) else default or DecodeConfig()
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - DECODE_FIELDS)
    if unknown:
        raise ConfigError(unknown[0], "unknown decoding option")
    if sample:
        if given.get("strategy", "sample") != "sample":
            raise ConfigError("strategy", f"'{given['strategy']}' contradicts sample=True")
        given["strategy"] = "sample"
    beam = given.get("beam_size")
    if beam is not None and "strategy" in given:
        if given["strategy"] in ("greedy", "sample") and beam > 1:
            raise ConfigError("beam_size", f"{beam} beams contradict {given['strategy']} decoding; "
                                           "choose beam search or the other")
    elif beam is not None:
        given["strategy"] = "greedy" if beam == 1 else "beam"
    elif sample is False and base.strategy == "sample":
        given["strategy"] = "greedy"
    strategy = given.get("strategy", base.strategy)
    n_best = given.get("n_best", base.n_best)
    widen = strategy == "beam" or (strategy == "greedy" and "strategy" not in given)
    if beam is None and n_best > 1 and widen:
        given.update(strategy="beam", beam_size=max(base.beam_size, n_best))
    return base.replace(**given)
