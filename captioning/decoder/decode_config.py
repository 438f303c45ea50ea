"""DecodeConfig and the one resolver that turns "checkpoint default + overrides" into it.

Two settings choose the search, as in Hugging Face's generate: num_beams (1: one caption word by
word, K > 1: beam search) and do_sample (pick words at random, with temperature, top-k and top-p,
instead of the most likely). The earlier spelling, strategy ("greedy", "beam", "sample") with
beam_size, is still read: in checkpoints' decoding sections, as keyword arguments and as the
`strategy` and `beam` flags. The CLI and `Captioner` both call `resolve_decoding`, so the same
options always mean the same decoding. No torch here, so the CLI can show these options cheaply."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from ..core.config import SEED_RANGE, Config, ConfigError, check, field_value, option

STRATEGIES = ("greedy", "beam", "sample")
EARLIER = ("strategy", "beam_size")  # the earlier spelling of num_beams and do_sample
# Bounds that keep decoding within memory and float32: more beams or captions, longer captions or a
# stronger length penalty only exhaust memory or overflow the scores.
MAX_BEAMS, MAX_TOKENS, MAX_LENGTH_PENALTY = 100, 1000, 10.0
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-6, 1e3  # logits / temperature overflow float32 (NaN) below ~1e-37
MIN_TOP_P = 1e-6  # any mass this small keeps only the most likely word; below float32's range it keeps none


@dataclass(init=False)
class DecodeConfig(Config):
    """How to turn image features into words."""

    num_beams: int = option(1, "beam search with K beams (1: the most likely word at each step, or a sample)",
                            flag="beam", metavar="K", bounds=(1, MAX_BEAMS))
    do_sample: bool = option(False, "sample each word (temperature, top-k, top-p) instead of taking the most "
                                    "likely one", flag="sample")
    n_best: int = option(1, "captions per image (beam search or sampling)", bounds=(1, MAX_BEAMS))
    max_len: int = option(20, "tokens generated at most, <end> included", bounds=(1, MAX_TOKENS))
    min_len: int = option(1, "words before <end> may be chosen (at most max_len)", bounds=(0, MAX_TOKENS))
    length_penalty: float = option(0.0, "GNMT alpha: score = logprob / ((5 + length) / 6) ** alpha",
                                   bounds=(-MAX_LENGTH_PENALTY, MAX_LENGTH_PENALTY))
    block_trigrams: bool = option(False, "forbid repeated trigrams in beams")
    temperature: float = option(1.0, f"sampling temperature (0 = the most likely word; else {MIN_TEMPERATURE:g} "
                                     f"to {MAX_TEMPERATURE:g})", bounds=(0, MAX_TEMPERATURE))
    top_k: int = option(0, "sample from the k most likely words only (0 = all)", bounds=(0, None))
    top_p: float = option(1.0, "nucleus sampling: the smallest set of words reaching this mass",
                          bounds=(MIN_TOP_P, 1.0))
    seed: int | None = option(None, "seed for sampling (default: torch's global generator)", bounds=SEED_RANGE)
    allow_unk: bool = option(False, "let captions contain <unk>")
    EXTRA_FLAGS: ClassVar[dict[str, dict[str, Any]]] = {
        "strategy": {"choices": STRATEGIES, "help": "the earlier spelling: greedy (a beam of 1), beam (a beam of "
                                                    "K, default 3) or sample"}}
    STANDALONE: ClassVar[bool] = False  # the flags override a checkpoint's decoding (resolve_decoding)

    def __init__(self, strategy: str | None = None, **values: Any) -> None:
        """Fields by name; `strategy` (also positional) and `beam_size` are the earlier spelling."""
        values = _modern(strategy, values)
        for f in fields(self):
            setattr(self, f.name, values.pop(f.name, f.default))
        if values:
            raise ConfigError(sorted(values)[0], "unknown DecodeConfig field")
        self.__post_init__()

    def __post_init__(self) -> None:
        """Each number's type and bounds are checked before this (Config.check_fields)."""
        check(self.min_len <= self.max_len, "min_len", f"{self.min_len} words do not fit in max_len "
                                                       f"{self.max_len} tokens")
        check(not (self.do_sample and self.num_beams > 1), "num_beams",
              f"{self.num_beams} beams contradict sample decoding; choose beam search or the other")
        check(self.do_sample or self.num_beams > 1 or self.n_best == 1, "n_best",
              f"{self.n_best} captions need beam search (beam_size >= {self.n_best}) or sampling; "
              "greedy decoding gives one")
        check(self.do_sample or self.n_best <= self.num_beams, "n_best",
              f"{self.n_best} captions need beam_size >= {self.n_best}, got {self.num_beams}")
        check(self.temperature == 0 or self.temperature >= MIN_TEMPERATURE, "temperature",
              f"must be 0 or at least {MIN_TEMPERATURE:g}, got {self.temperature:g}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecodeConfig:
        """Strict, like every config, and reading the earlier keys strategy and beam_size."""
        if not isinstance(data, dict):
            return super().from_dict(data)
        modern = super().from_dict({k: v for k, v in data.items() if k not in EARLIER})
        earlier = {k: data[k] for k in EARLIER if k in data}
        return cls(**{**modern.to_dict(), **earlier}) if earlier else modern

    @property
    def strategy(self) -> str:
        """greedy, beam or sample (the earlier name of the search)."""
        return "sample" if self.do_sample else "beam" if self.num_beams > 1 else "greedy"

    @property
    def beam_size(self) -> int:
        return self.num_beams

    @property
    def name(self) -> str:
        """A short label: greedy, beam-3, sample."""
        return f"beam-{self.num_beams}" if self.strategy == "beam" else self.strategy


def _modern(strategy: str | None, values: dict[str, Any]) -> dict[str, Any]:
    """num_beams and do_sample from the earlier strategy/beam_size, where those are given."""
    values = dict(values)
    beams = _given(values.pop("beam_size", None), "beam_size")
    if strategy is None:
        if beams is not None:
            values["num_beams"] = beams
        return values
    if strategy not in STRATEGIES:
        raise ConfigError("strategy", f"unknown '{strategy}' (greedy, beam or sample)")
    now = _given(values.get("num_beams", 1), "num_beams")
    values["do_sample"] = strategy == "sample"
    values["num_beams"] = 1 if strategy != "beam" else beams if beams is not None else now if now > 1 else 3
    return values


def _given(value: Any, key: str) -> Any:
    """A given decoding option checked against its field (beam_size against num_beams), so that
    beam_size=3.5 is a ConfigError naming beam_size; a strategy or a non-number passes as it is."""
    if value is None or key == "strategy":
        return value
    return field_value(DecodeConfig, "num_beams" if key == "beam_size" else key, value, key)


DECODE_FIELDS = frozenset(f.name for f in fields(DecodeConfig)) | set(EARLIER)


def resolve_decoding(default: DecodeConfig | dict | None = None, *, sample: bool | None = None,
                     **overrides: Any) -> DecodeConfig:
    """The default decoding (a checkpoint's, else DecodeConfig()) with overrides. None counts as
    not given. The rules: sample (or do_sample, or strategy) turns sampling on or off; a beam
    count that is given (beam_size, num_beams; 1 is greedy) is kept and means searching, not
    sampling; otherwise, when n_best asks for more captions than the default's beams give and
    nothing samples, the beam widens to n_best. What still contradicts is an error naming it."""
    base = DecodeConfig.from_dict(default) if isinstance(default, dict) else default or DecodeConfig()
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - DECODE_FIELDS)
    if unknown:
        raise ConfigError(unknown[0], "unknown decoding option")
    given = {k: _given(v, k) for k, v in given.items()}
    sample = given.pop("do_sample", None) if sample is None else sample
    beams = given.pop("beam_size", given.pop("num_beams", None))
    strategy = given.pop("strategy", None)
    if strategy is not None:
        if sample is not None and sample != (strategy == "sample"):
            raise ConfigError("strategy", f"'{strategy}' contradicts sample={sample}")
        if beams is not None and beams > 1 and strategy != "beam":
            raise ConfigError("beam_size", f"{beams} beams contradict {strategy} decoding; "
                                           "choose beam search or the other")
        earlier = _modern(strategy, {"num_beams": base.num_beams, "beam_size": beams})
        sample, beams = earlier["do_sample"], earlier["num_beams"]
    do_sample = sample if sample is not None else base.do_sample and beams is None
    num_beams = beams if beams is not None else 1 if do_sample else base.num_beams
    n_best = given.get("n_best", base.n_best)
    if beams is None and not do_sample and n_best > num_beams:
        num_beams = n_best
    return base.replace(**given, num_beams=num_beams, do_sample=do_sample)
