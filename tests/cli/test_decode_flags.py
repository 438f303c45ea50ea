"""Decoding flags: --beam K and --sample/--no-sample set the two fields that choose the search;
the earlier --strategy flag is still accepted and means the same."""

import pytest

from captioning.cli.options import given
from captioning.cli.parser import build_parser
from captioning.decoder.decode_config import DecodeConfig, resolve_decoding

BEAM3 = DecodeConfig(num_beams=3)


@pytest.mark.parametrize(("flags", "expected"), [
    ([], BEAM3),
    (["--beam", "1"], DecodeConfig()),
    (["--strategy", "greedy"], DecodeConfig()),
    (["--strategy", "beam", "--beam", "5"], DecodeConfig(num_beams=5)),
    (["--sample", "--seed", "2"], DecodeConfig(do_sample=True, seed=2)),
    (["--strategy", "sample", "--temperature", "0.5"], DecodeConfig(do_sample=True, temperature=0.5)),
    (["--n-best", "4"], DecodeConfig(num_beams=4, n_best=4)),
])
def test_flags_resolve_against_a_checkpoints_default(flags, expected):
    args = build_parser().parse_args(["evaluate", *flags])
    assert resolve_decoding(BEAM3.to_dict(), **given(args, DecodeConfig)) == expected


def test_no_sample_turns_a_sampling_default_into_search():
    args = build_parser().parse_args(["caption", "x.jpg", "--no-sample"])
    assert resolve_decoding(DecodeConfig(do_sample=True), **given(args, DecodeConfig)) == DecodeConfig()
