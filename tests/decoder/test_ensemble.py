"""Ensembles decode with the renormalized mean of their members' log-probabilities, through the
same greedy, beam and sampling code; incompatible members are refused in one line."""

import shutil

import pytest
import torch

from captioning.decoder.checkpoint import Checkpoint
from captioning.decoder.config import DecoderConfig
from captioning.decoder.decode_config import DecodeConfig
from captioning.decoder.ensemble import (
    Ensemble,
    compatible,
    load_decoders,
    save_ensemble,
    weights_digest,
)
from captioning.decoder.model import CaptionDecoder
from captioning.decoder.search import decode
from captioning.features.config import EncoderSpec, Preprocessing
from captioning.text.vocabulary import Vocabulary

pytestmark = pytest.mark.usefixtures("core_one_thread")
WORDS = ["a", "dog", "cat", "on", "grass", "runs", "red"]


def member(seed, **kw):
    torch.manual_seed(seed)
    return CaptionDecoder(DecoderConfig(vocab_size=len(WORDS) + 4, feature_dim=6, embed_dim=8,
                                        hidden_dim=8, **kw)).eval()


FEATURES = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))


def test_one_member_and_identical_members_decode_like_the_member():
    m = member(0)
    for cfg in (DecodeConfig(), DecodeConfig("beam", beam_size=3, n_best=2)):
        alone = decode(m, FEATURES, cfg)
        for ens in (Ensemble([m]), Ensemble([m, member(0)])):
            got = decode(ens, FEATURES, cfg)
            assert [[h.tokens for h in r] for r in got] == [[h.tokens for h in r] for r in alone]
            assert [h.logprob for r in got for h in r] == pytest.approx([h.logprob for r in alone for h in r], abs=1e-5)


def test_each_step_is_the_renormalized_mean_of_log_probabilities():
    a, b = member(0), member(1, cell="gru")
    ens = Ensemble([a, b])
    tokens = torch.tensor([1, 1, 1, 1, 1])
    with torch.no_grad():
        logp, _ = ens.step(tokens, ens.init_state(FEATURES))
        pa, _ = a.step(tokens, a.init_state(FEATURES))
        pb, _ = b.step(tokens, b.init_state(FEATURES))
    assert torch.allclose(logp, ((pa + pb) / 2).log_softmax(-1), atol=1e-6)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(5), atol=1e-5)


@pytest.mark.parametrize("cfg", [DecodeConfig(), DecodeConfig("beam", beam_size=4, n_best=3),
                                 DecodeConfig("sample", n_best=3, seed=1)])
def test_every_strategy_runs_on_an_ensemble(cfg):
    out = decode(Ensemble([member(0), member(1), member(2, cell="cifg")]), FEATURES, cfg)
    assert len(out) == 5 and all(1 <= len(r) <= cfg.n_best for r in out)


def save(decoder, folder, vocab=None, spec=None):
    return Checkpoint(decoder, vocab or Vocabulary(WORDS), spec or EncoderSpec(feature_dim=6)).save(folder)


def test_load_decoders_makes_an_ensemble_of_several_folders(tmp_path):
    a, b = save(member(0), tmp_path / "a"), save(member(1), tmp_path / "b")
    single, first = load_decoders([a])
    assert isinstance(single, CaptionDecoder) and first.folder == a
    both, first = load_decoders([a, b])
    assert isinstance(both, Ensemble) and len(both.members) == 2 and first.folder == a


def test_mismatched_vocabularies_and_encoders_are_one_line_errors(tmp_path):
    a = save(member(0), tmp_path / "a")
    other_vocab = save(member(1), tmp_path / "v", vocab=Vocabulary(list(reversed(WORDS))))
    other_encoder = save(member(2), tmp_path / "e",
                         spec=EncoderSpec("efficientnet_lite2", 6, Preprocessing(292, 260)))
    with pytest.raises(ValueError, match=r"cannot ensemble .*v vs .*a: different vocabularies") as err:
        load_decoders([a, other_vocab])
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"different encoders \(name efficientnet_lite2 vs efficientnet_lite0, "
                       r"preprocessing\.resize 292 vs 256, preprocessing\.crop 260 vs 224\)"):
        load_decoders([a, other_encoder])
    shutil.rmtree(other_vocab)
    with pytest.raises(ValueError, match="no such checkpoint folder"):
        load_decoders([a, other_vocab])
    compatible([Checkpoint.load(a)])  # one checkpoint is always compatible


def test_an_ensemble_folder_loads_as_one_model_with_its_own_defaults(tmp_path):
    a, b = Checkpoint.load(save(member(0), tmp_path / "a")), Checkpoint.load(save(member(1), tmp_path / "b"))
    folder = save_ensemble([a, b], tmp_path / "ens", {"strategy": "beam", "beam_size": 3}, {"val_cider": 9.0}, half=True)
    assert sorted(p.name for p in folder.iterdir()) == ["ensemble.json", "member-0", "member-1"]
    model, first = load_decoders([folder])
    assert isinstance(model, Ensemble) and len(model.members) == 2
    assert first.decoding == {"strategy": "beam", "beam_size": 3} and first.scores == {"val_cider": 9.0}
    assert first.folder == folder
    (folder / "ensemble.json").write_text('{"members": []}')
    with pytest.raises(ValueError, match=r"ensemble\.json: needs a non-empty 'members' list"):
        load_decoders([folder])


def test_weights_digest_names_the_weights_not_the_folder(tmp_path):
    a, b = Checkpoint.load(save(member(0), tmp_path / "a")), Checkpoint.load(save(member(1), tmp_path / "b"))
    ens = save_ensemble([a, b], tmp_path / "ens", None)
    shutil.copytree(ens, tmp_path / "moved")
    assert weights_digest(ens) == weights_digest(tmp_path / "moved") != weights_digest(tmp_path / "a")
    assert weights_digest(tmp_path / "a") != weights_digest(tmp_path / "b")
    assert len(weights_digest(ens)) == 16
    assert weights_digest(save_ensemble([b, a], tmp_path / "swapped", None)) != weights_digest(ens)
    (tmp_path / "a" / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"a/model\.safetensors: no weights file"):
        weights_digest(tmp_path / "a")
