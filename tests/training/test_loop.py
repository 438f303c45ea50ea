"""Teacher-forced training: the loss falls, runs resume exactly, run folders hold no pickles."""

import json

import pytest
import torch
from safetensors.torch import load_file

from captioning.core.config import ConfigError
from captioning.data.tensors import prepare_splits
from captioning.decoder.checkpoint import Checkpoint
from captioning.decoder.config import DecoderConfig
from captioning.decoder.decode_config import DecodeConfig
from captioning.decoder.model import CaptionDecoder
from captioning.features.config import EncoderSpec
from captioning.training import loop
from captioning.training.config import TrainConfig
from captioning.training.loop import CrossEntropy, fit
from captioning.training.loop import lr_schedule as _schedule
from captioning.training.losses import caption_loss
from captioning.training.state import read_metrics

from .toy import toy_records

pytestmark = pytest.mark.usefixtures("core_one_thread")

F = 16
COLORS, ANIMALS = ["red", "blue", "green", "black"], ["dog", "cat", "bird"]


def toy_data(n_train=24, n_val=6, seed=0):
    """Images whose features encode a colour and an animal; captions name them."""
    records, features = toy_records(n_train, n_val, F, COLORS, ANIMALS, 8, "sits here",
                                    torch.Generator().manual_seed(seed))
    return prepare_splits(records, features, min_count=1, max_words=20)


def run(out, epochs, resume=False, amp=False, device="cpu", hidden_dim=16, **kw):
    vocab, split, _ = toy_data()
    model_cfg = DecoderConfig(vocab_size=len(vocab), feature_dim=F, embed_dim=8, hidden_dim=hidden_dim, dropout=0.2)
    cfg = TrainConfig(**{"epochs": epochs, "batch_size": 8, "lr": 1e-2, "patience": 50, "min_count": 1, **kw})
    objective = CrossEntropy(cfg, vocab, model_cfg, EncoderSpec(feature_dim=F))
    return fit(objective, split["train"], split["val"], out, resume=resume, progress=False, amp=amp, device=device)


def without_seconds(metrics):
    """Per-epoch records without their wall-clock time (the only field two equal runs differ in)."""
    return [{k: v for k, v in m.items() if k != "seconds"} for m in metrics]


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before core_one_thread
    try:
        return out, run(out, epochs=3)
    finally:
        torch.set_num_threads(threads)


def test_caption_loss_ignores_padding():
    torch.manual_seed(0)
    dec = CaptionDecoder(DecoderConfig(vocab_size=10, feature_dim=4, embed_dim=4, hidden_dim=6, dropout=0.0))
    feats = torch.randn(2, 4)
    tokens = torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0]])
    padded = torch.cat([tokens, torch.zeros(2, 3, dtype=torch.long)], 1)
    assert torch.allclose(caption_loss(dec, feats, tokens), caption_loss(dec, feats, padded))
    logits = dec(feats, tokens[:, :-1])  # [2, 3, V]; targets 4 5 2 / 6 2 <pad>
    kept = torch.stack([logits[0, 0], logits[0, 1], logits[0, 2], logits[1, 0], logits[1, 1]])
    by_hand = torch.nn.functional.cross_entropy(kept, torch.tensor([4, 5, 2, 6, 2]))
    assert torch.allclose(caption_loss(dec, feats, tokens), by_hand)


def test_a_few_steps_on_random_features_lower_the_loss():
    torch.manual_seed(0)
    dec = CaptionDecoder(DecoderConfig(vocab_size=12, feature_dim=8, embed_dim=8, hidden_dim=16, dropout=0.0))
    feats = torch.randn(16, 8)
    tokens = torch.cat([torch.ones(16, 1, dtype=torch.long), torch.randint(4, 12, (16, 6)),
                        torch.full((16, 1), 2)], 1)
    opt = torch.optim.Adam(dec.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = caption_loss(dec, feats, tokens)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    assert losses[-1] == min(losses)


def test_fit_lowers_the_train_loss_and_writes_metrics(toy_run):
    out, summary = toy_run
    metrics = read_metrics(out)
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    assert metrics[-1]["val_loss"] < metrics[0]["val_loss"]
    for m in metrics:
        assert {"train_loss", "val_loss", "val_cider", "val_distinct", "grad_norm", "lr", "seconds"} <= set(m)
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    assert summary["epochs_run"] == 3
    assert summary["best_val_cider"] == max(m["val_cider"] for m in metrics)
    assert summary["best_epoch"] == 1 + max(range(3), key=lambda i: (metrics[i]["val_cider"], -i))


def test_run_folders_hold_checkpoints_and_no_pickles(toy_run):
    out, summary = toy_run
    for name in ("best", "latest"):
        files = {p.name for p in (out / name).iterdir()}
        assert {"config.json", "vocab.json", "model.safetensors"} <= files
    assert {p.name for p in (out / "latest").iterdir()} == {
        "config.json", "vocab.json", "model.safetensors", "optimizer.safetensors", "trainer.json"}
    assert not [p for p in out.rglob("*") if p.suffix in (".pt", ".pth", ".pkl", ".pickle", ".bin")]
    for p in out.rglob("*.safetensors"):
        load_file(str(p))  # real safetensors files
    best = Checkpoint.load(out / "best")
    assert best.training["epoch"] == summary["best_epoch"] and best.training["objective"] == "cross-entropy"
    assert best.training["config"]["epochs"] == 3 and DecodeConfig.from_dict(best.decoding).strategy == "greedy"
    assert best.scores["val_cider"] == summary["best_val_cider"]
    assert Checkpoint.load(out / "latest").training["epoch"] == 3
    trainer = json.loads((out / "latest" / "trainer.json").read_text())
    assert trainer["epoch"] == 3 and trainer["best_epoch"] == summary["best_epoch"]


def test_resume_continues_exactly(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run(straight, epochs=2)
    first = run(resumed, epochs=1)
    assert first["epochs_run"] == 1 and len(read_metrics(resumed)) == 1
    run(resumed, epochs=2, resume=True)
    for folder in ("latest", "best"):
        a = load_file(str(straight / folder / "model.safetensors"))
        b = load_file(str(resumed / folder / "model.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), folder
    a = load_file(str(straight / "latest" / "optimizer.safetensors"))
    b = load_file(str(resumed / "latest" / "optimizer.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    ma, mb = read_metrics(straight), read_metrics(resumed)
    assert [m["epoch"] for m in mb] == [1, 2]
    assert without_seconds(ma) == without_seconds(mb)


def test_stop_after_ends_the_run_early_on_the_full_schedule(tmp_path):
    """stop_after=2 of 3 epochs trains exactly the first 2 epochs of the 3-epoch run (its learning
    rate still decays over 3), unlike a 2-epoch run; past the epochs it is refused."""
    run(tmp_path / "full", epochs=3)
    summary = run(tmp_path / "stopped", epochs=3, stop_after=2)
    run(tmp_path / "short", epochs=2)
    stopped = without_seconds(read_metrics(tmp_path / "stopped"))
    assert summary["epochs_run"] == 2 and stopped == without_seconds(read_metrics(tmp_path / "full"))[:2]
    assert stopped[1]["train_loss"] != read_metrics(tmp_path / "short")[1]["train_loss"]
    with pytest.raises(ConfigError, match="stop_after"):
        TrainConfig(epochs=3, stop_after=4)


def test_resume_of_a_finished_run_trains_nothing_more(tmp_path):
    run(tmp_path, epochs=1)
    before = load_file(str(tmp_path / "latest" / "model.safetensors"))
    summary = run(tmp_path, epochs=1, resume=True)
    assert summary["epochs_run"] == 1 and len(read_metrics(tmp_path)) == 1
    after = load_file(str(tmp_path / "latest" / "model.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_fresh_run_replaces_old_metrics(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 7}\n' * 5)
    run(tmp_path, epochs=1)
    assert [m["epoch"] for m in read_metrics(tmp_path)] == [1]


def test_the_earlier_call_form_trains_the_same(tmp_path):
    """fit(train, val, vocab, model_cfg, train_cfg, encoder, out) (notebooks, lab) is CrossEntropy."""
    vocab, split, _ = toy_data()
    model_cfg = DecoderConfig(vocab_size=len(vocab), feature_dim=F, embed_dim=8, hidden_dim=16, dropout=0.2)
    cfg = TrainConfig(epochs=1, batch_size=8, lr=1e-2, patience=50, min_count=1)
    fit(split["train"], split["val"], vocab, model_cfg, cfg, EncoderSpec(feature_dim=F), tmp_path / "a", progress=False)
    run(tmp_path / "b", epochs=1)
    a, b = (load_file(str(tmp_path / n / "latest" / "model.safetensors")) for n in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resuming_with_another_decoder_size_names_the_setting(tmp_path):
    run(tmp_path, epochs=1)
    with pytest.raises(ConfigError, match="hidden_dim=16, this run asks for 24") as err:
        run(tmp_path, epochs=2, resume=True, hidden_dim=24)
    assert err.value.field == "hidden_dim"  # the command line shows it as --hidden-dim


def test_amp_trains_under_autocast(tmp_path, monkeypatch):
    """--amp changes the training computation: under bf16 autocast the weights after an epoch
    differ from fp32's (but not by much), and the checkpoint records the precision. The dtype
    rule is forced here, since bf16 autocast runs (slowly) on most CPUs; where oneDNN has no bf16
    LSTM at all (AVX2-only CPUs) the product never picks bf16, and the test is skipped."""
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.nn.LSTM(4, 4, batch_first=True)(torch.zeros(1, 2, 4))
    except RuntimeError as exc:
        pytest.skip(f"this CPU runs no bf16 LSTM: {str(exc).splitlines()[0][:80]}")
    fp32 = run(tmp_path / "fp32", epochs=1)
    monkeypatch.setattr(loop, "amp_dtype", lambda device: torch.bfloat16)
    bf16 = run(tmp_path / "bf16", epochs=1, amp=True)
    assert (fp32["precision"], bf16["precision"]) == ("fp32", "bf16")
    a, b = (load_file(str(tmp_path / n / "latest" / "model.safetensors")) for n in ("fp32", "bf16"))
    assert not all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.allclose(a[k], b[k], atol=0.05) for k in a)
    assert Checkpoint.load(tmp_path / "bf16" / "best").training["precision"] == "bf16"
    ma, mb = read_metrics(tmp_path / "fp32")[0], read_metrics(tmp_path / "bf16")[0]
    assert ma["train_loss"] != mb["train_loss"] and mb["train_loss"] == pytest.approx(ma["train_loss"], rel=0.05)


def test_amp_without_a_fast_half_type_trains_in_fp32(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(loop, "amp_dtype", lambda device: None)
    assert run(tmp_path, epochs=1, amp=True)["precision"] == "fp32"
    assert "training in fp32" in caplog.text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [None, torch.float16])
def test_amp_on_cuda_trains_in_half_precision(tmp_path, monkeypatch, dtype):
    """bf16 where the GPU has it (the rule), and fp16 with a GradScaler (forced)."""
    if dtype is not None:
        monkeypatch.setattr(loop, "amp_dtype", lambda device: dtype)
    summary = run(tmp_path, epochs=2, amp=True, device="cuda")
    assert summary["precision"] in (("bf16", "fp16") if dtype is None else ("fp16",))
    metrics = read_metrics(tmp_path)
    assert all(torch.isfinite(torch.tensor(m["train_loss"])) for m in metrics)
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]


def test_schedule_warms_up_then_decays_to_min_ratio():
    cfg = TrainConfig(epochs=10, warmup_epochs=2, min_lr_ratio=0.1)
    f = _schedule(cfg, steps_per_epoch=5)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)
    assert f(49) == pytest.approx(0.1, abs=0.01)
    values = [f(s) for s in range(10, 50)]
    assert values == sorted(values, reverse=True)


def test_train_config_round_trips_and_rejects_unknown_keys():
    cfg = TrainConfig(epochs=3, lr=0.1, seed=4)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError, match="future_option: unknown TrainConfig field") as err:
        TrainConfig.from_dict({**cfg.to_dict(), "future_option": 1})
    assert err.value.field == "future_option"


@pytest.mark.integration
def test_training_on_shared_coco_lowers_the_loss(core_coco_run):
    metrics = read_metrics(core_coco_run.out)
    assert [m["epoch"] for m in metrics] == [1, 2, 3, 4]
    losses = [m["train_loss"] for m in metrics]
    assert losses[-1] < losses[0] - 0.5
    assert metrics[-1]["val_loss"] < metrics[0]["val_loss"]
    assert core_coco_run.summary["best_val_cider"] > 0
    best = Checkpoint.load(core_coco_run.out / "best")
    assert best.encoder.name == "efficientnet_lite0" and best.decoder.cfg.feature_dim == 1280
    assert len(best.vocab) == len(core_coco_run.vocab)
