"""captioning.captioner.Captioner: every input kind, single vs list, n-best, greedy == beam 1,
and checkpoints that do not fit are refused with a message naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from captioning.core.config import ConfigError
from captioning.core.errors import InputError
from captioning.decoder.decode_config import DecodeConfig
from captioning.decoder.search import Hypothesis
from captioning.images.errors import ImageError
from captioning.tools.captioner import Captioner


@pytest.fixture(scope="module")
def captioner(tiny_checkpoint: Path) -> Captioner:
    return Captioner.from_pretrained(tiny_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    """A 40x30 picture: a red-green gradient over a blue square."""
    yy, xx = np.mgrid[0:30, 0:40]
    arr = np.stack([xx * 6, yy * 8, np.zeros_like(xx)], axis=-1).astype(np.uint8)
    arr[5:20, 10:25, 2] = 255
    return Image.fromarray(arr)


def test_from_pretrained_reads_default_decoding(captioner: Captioner) -> None:
    assert captioner.default_decoding == DecodeConfig(strategy="greedy", max_len=8)
    assert captioner.decode_config() == DecodeConfig(strategy="greedy", max_len=8)
    assert captioner.device == torch.device("cpu")
    assert "efficientnet_lite0" in repr(captioner)


def test_every_input_kind_gives_the_same_caption(captioner: Captioner, picture: Image.Image,
                                                 tmp_path: Path) -> None:
    path = tmp_path / "picture.png"
    picture.save(path)
    uint8 = torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1)
    inputs = [picture, path, uint8, uint8.float() / 255, np.asarray(picture)]
    results = captioner(inputs, batch_size=2)  # tests use batch shapes 1 and 2 only (warm-up)
    assert isinstance(results, list) and len(results) == len(inputs)
    single = captioner(picture)
    assert isinstance(single, dict) and set(single) == {"caption", "score", "logprob"}
    assert single["caption"] and single["score"] == single["logprob"] < 0
    for result in results:
        assert result["caption"] == single["caption"]
        assert result["logprob"] == pytest.approx(single["logprob"], abs=1e-4)
    batch = captioner(torch.stack([uint8, uint8]))  # a 4-D batch is a list of images
    assert [r["caption"] for r in batch] == [single["caption"]] * 2


def test_lists_keep_their_order_across_batches(captioner: Captioner, picture: Image.Image) -> None:
    images = [picture, Image.new("RGB", (8, 8), "white")]
    features = captioner.encode(images)
    assert features.shape == (2, 1280)
    expected = [h[0].text for h in captioner.caption_features(features)]
    assert [r["caption"] for r in captioner(images, batch_size=1)] == expected
    assert captioner([]) == []


@pytest.fixture(scope="module")
def features(captioner: Captioner, picture: Image.Image) -> torch.Tensor:
    return captioner.encode(picture)


def test_n_best_alternatives_are_sorted_best_first(captioner: Captioner, picture: Image.Image,
                                                   features: torch.Tensor) -> None:
    result = captioner(picture, beam_size=4, n_best=3)
    alternatives = result["alternatives"]
    assert 1 <= len(alternatives) <= 3
    assert set(alternatives[0]) == {"caption", "logprob", "score"}
    scores = [a["score"] for a in alternatives]
    assert scores == sorted(scores, reverse=True)
    assert alternatives[0]["caption"] == result["caption"]
    assert len({a["caption"] for a in alternatives}) == len(alternatives)
    # an explicit beam narrower than n_best is an error; the greedy default becomes a beam
    with pytest.raises(ConfigError, match="n_best: 3 captions need beam_size >= 3, got 2"):
        captioner.decode_config(beam_size=2, n_best=3)
    assert captioner.decode_config(n_best=3).beam_size == 3
    hyps = captioner.caption_features(features, captioner.decode_config(n_best=3))[0]
    assert [h.text for h in hyps] == [a["caption"] for a in alternatives]


def test_beam_size_one_is_greedy(captioner: Captioner, picture: Image.Image,
                                 features: torch.Tensor) -> None:
    greedy = captioner(picture, beam_size=1)
    assert greedy == captioner(picture)
    assert captioner.decode_config(beam_size=1).strategy == "greedy"
    for cfg in (DecodeConfig("beam", beam_size=1, max_len=8), DecodeConfig(max_len=8)):
        hyps = captioner.caption_features(features, cfg)
        assert isinstance(hyps[0][0], Hypothesis) and hyps[0][0].text == greedy["caption"]
        assert hyps[0][0].logprob == pytest.approx(greedy["logprob"])


def test_sampling_is_seeded_and_gives_distinct_alternatives(captioner: Captioner,
                                                            features: torch.Tensor) -> None:
    cfg = captioner.decode_config(sample=True, n_best=4, seed=3, temperature=1.5)
    assert cfg.strategy == "sample" and cfg.temperature == 1.5
    first = captioner.caption_features(features, cfg)[0]
    assert first == captioner.caption_features(features, cfg)[0]
    assert len({h.text for h in first}) == len(first) >= 1
    assert [h.score for h in first] == sorted((h.score for h in first), reverse=True)
    with pytest.raises(ValueError, match="choose beam search or"):
        captioner.decode_config(beam_size=3, sample=True)


def test_bad_inputs_and_options_raise_one_line_errors(captioner: Captioner, tmp_path: Path) -> None:
    with pytest.raises(ImageError) as err:
        captioner(tmp_path / "missing.jpg")
    assert "missing.jpg" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="not normalized"):
        captioner(torch.randn(3, 8, 8))
    with pytest.raises(ValueError, match="CHW"):
        captioner(torch.zeros(5, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match="cannot read an image from a int"):
        captioner(42)
    with pytest.raises(ConfigError, match="beams: unknown decoding option"):
        captioner(Image.new("RGB", (4, 4)), beams=3)
    with pytest.raises(ConfigError, match="n_best: 3 captions need beam search"):
        captioner(Image.new("RGB", (4, 4)), beam_size=1, n_best=3)


def _copy(checkpoint: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(checkpoint, tmp_path / "checkpoint"))


def test_vocabulary_that_does_not_fit_the_model_is_refused(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_checkpoint, tmp_path)
    vocab = json.loads((folder / "vocab.json").read_text())
    vocab["itos"] = vocab["itos"][:-2]
    (folder / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(ValueError, match=r"vocab\.json") as err:
        Captioner.from_pretrained(folder, device="cpu")
    assert str(folder) in str(err.value)


def test_encoder_that_does_not_fit_the_checkpoint_is_refused(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_checkpoint, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["encoder"]["preprocessing"]["crop"] = 192
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config\.json: expects encoder efficientnet_lite0") as err:
        Captioner.from_pretrained(folder, device="cpu")
    assert "config.json" in str(err.value)


@pytest.mark.parametrize(("pixels", "problem"), [
    (np.zeros((1, 100_000, 3), np.uint8), "image of shape (1, 100000, 3): extreme aspect ratio"),
    (np.zeros((0, 0, 3), np.uint8), "image of shape (0, 0, 3): image has zero width or height"),
    (Image.new("RGB", (20_000, 10)), "20000x10 image: extreme aspect ratio"),
])
def test_degenerate_pixels_are_refused_in_one_line(captioner: Captioner, pixels, problem) -> None:
    with pytest.raises(InputError) as err:
        captioner(pixels)
    assert str(err.value).startswith(problem) and "\n" not in str(err.value)


@pytest.mark.parametrize("batch_size", [0, -1, 1.5])
def test_batch_size_must_be_a_positive_integer(captioner: Captioner, picture: Image.Image, batch_size) -> None:
    with pytest.raises(InputError, match="batch_size must be an integer >= 1"):
        captioner([picture], batch_size=batch_size)
