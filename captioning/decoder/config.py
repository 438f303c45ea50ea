"""DecoderConfig: everything needed to rebuild a decoder. No torch here (the CLI reads it to build its options)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.config import Config, check, option

CELL_NAMES = ("lstm", "peephole", "cifg", "gru", "rnn")  # the chapter's LSTM family, see stack.CELLS
ABLATION_NAMES = ("lstm-open-output", "gru-open-reset")  # one gate fixed open, see ablations.py
ALL_CELLS = CELL_NAMES + ABLATION_NAMES
INJECT = ("init", "pre")
# Sane upper bounds, so a hostile config.json fails in one line instead of exhausting memory.
LIMITS = {"vocab_size": 1_000_000, "feature_dim": 65_536, "embed_dim": 16_384, "hidden_dim": 16_384,
          "num_layers": 64}
MAX_PARAMETERS = 500_000_000  # 2 GB of float32 weights


@dataclass
class DecoderConfig(Config):
    """The decoder's shape; serialized into a checkpoint's config.json ("model" section)."""

    vocab_size: int = option(1, "output vocabulary size (set from the data)", cli=False)
    feature_dim: int = option(1280, "image feature size (set from the encoder)", cli=False)
    embed_dim: int = option(512, "word embedding size")
    hidden_dim: int = option(512, "recurrent state size")
    num_layers: int = option(1, "stacked recurrent layers", flag="layers")
    dropout: float = option(0.5, "dropout on embeddings, outputs and between layers")
    cell: str = option("lstm", "recurrent cell (the last two are gate ablations)", choices=ALL_CELLS)
    inject: str = option("init", "init: the image gives (h0, c0); pre: it is the first input",
                         choices=INJECT)
    tie_weights: bool = option(False, "share the output matrix with the word embedding")
    forget_bias: float = option(1.0, "initial bias of the forget gate (the GRU's update gate; "
                                "CIFG's input gate gets its negative)", bounds=(-100.0, 100.0))  # sigmoid is flat past 20

    def __post_init__(self) -> None:
        check(self.cell in ALL_CELLS, "cell", f"unknown '{self.cell}' (choose from {', '.join(ALL_CELLS)})")
        check(self.inject in INJECT, "inject", f"unknown '{self.inject}' (choose init or pre)")
        for name, most in LIMITS.items():
            value = getattr(self, name)
            check(isinstance(value, int) and not isinstance(value, bool), name, f"must be an integer, got {value!r}")
            check(value >= 1, name, f"must be >= 1, got {value}")
            check(value <= most, name, f"must be at most {most:,}, got {value:,}")
        check(self.parameter_bound() <= MAX_PARAMETERS, "hidden_dim", f"the decoder would have about "
              f"{self.parameter_bound():,} parameters (over {MAX_PARAMETERS:,}); make it smaller")
        check(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")

    def parameter_bound(self) -> int:
        """An upper bound on the decoder's parameter count (4 gates per layer, the widest cell)."""
        h, e = self.hidden_dim, self.embed_dim
        recurrent = 4 * h * (e + h + 2) + (self.num_layers - 1) * 4 * h * (2 * h + 2)
        return self.vocab_size * (e + h + 1) + 2 * self.num_layers * h * (self.feature_dim + 1) + recurrent
