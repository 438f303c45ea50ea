"""The same decoding options give the same captions from the command line and from the API: both
resolve them with decoder.decode_config.resolve_decoding."""

import contextlib
import io
import json
from pathlib import Path

import pytest

from captioning.cli.main import main
from captioning.core.config import ConfigError
from captioning.tools.captioner import Captioner

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
OPTION_SETS = {  # name: (flags, API keyword arguments)
    "greedy": (["--beam", "1"], {"beam_size": 1}),
    "beam": (["--beam", "3"], {"beam_size": 3}),
    "beam-lp-trigrams": (["--beam", "3", "--length-penalty", "0.6", "--block-trigrams"],
                         {"beam_size": 3, "length_penalty": 0.6, "block_trigrams": True}),
    "n-best": (["--beam", "4", "--n-best", "3"], {"beam_size": 4, "n_best": 3}),
    "n-best-default-beam": (["--n-best", "3"], {"n_best": 3}),
    "sampling": (["--sample", "--seed", "5", "--temperature", "0.8", "--n-best", "2"],
                 {"sample": True, "seed": 5, "temperature": 0.8, "n_best": 2}),
    "checkpoint-default": ([], {}),
}


@pytest.fixture(scope="module")
def api(tiny_checkpoint):
    return Captioner.from_pretrained(tiny_checkpoint, device="cpu")


def cli(checkpoint, flags, tmp_path):
    out = tmp_path / "captions.json"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["caption", str(SAMPLES), "--checkpoint", str(checkpoint), "--output", str(out),
                     "--device", "cpu", "--workers", "0", "--quiet", *flags])
    return code, (json.loads(out.read_text()) if out.exists() else None), err.getvalue()


@pytest.mark.parametrize("name", list(OPTION_SETS))
def test_cli_and_api_give_the_same_captions(name, api, tiny_checkpoint, tmp_path, core_one_thread):
    flags, kwargs = OPTION_SETS[name]
    code, records, err = cli(tiny_checkpoint, flags, tmp_path)
    assert code == 0, err
    results = api(sorted(SAMPLES.glob("*.jpg")), **kwargs)
    assert [r["caption"] for r in records] == [r["caption"] for r in results]
    for record, result in zip(records, results):
        assert record["logprob"] == pytest.approx(result["logprob"], abs=1e-3)
        alternatives = [a["caption"] for a in record.get("alternatives", [])]
        assert alternatives == [a["caption"] for a in result.get("alternatives", [])]


def test_greedy_with_n_best_is_the_same_error_in_both(api, tiny_checkpoint, tmp_path):
    code, records, err = cli(tiny_checkpoint, ["--beam", "1", "--n-best", "3"], tmp_path)
    assert code == 2 and records is None
    line, = err.strip().splitlines()
    assert line.startswith("captioning: error: --n-best: 3 captions need beam search")
    with pytest.raises(ConfigError, match="3 captions need beam search") as raised:
        api(SAMPLES / "000000574520.jpg", beam_size=1, n_best=3)
    assert raised.value.field == "n_best"
