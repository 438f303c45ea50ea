"""Training on several views of each train image (issue 27, lever 1): the views setting is checked
and serialized, each epoch draws one view per image from (seed, epoch), so a resumed run is the
uninterrupted one; val always sees view 0; SCST samples from the drawn views; the recipe hands a
trial the views it asks for."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from captioning.cli.options import build
from captioning.cli.parser import build_parser
from captioning.core.config import ConfigError
from captioning.data.tensors import prepare_splits
from captioning.decoder.checkpoint import Checkpoint
from captioning.decoder.config import DecoderConfig
from captioning.decoder.model import CaptionDecoder
from captioning.features.config import MAX_VIEWS, EncoderSpec
from captioning.training import loop, objectives, recipe
from captioning.training.config import ScstConfig, TrainConfig
from captioning.training.loop import CrossEntropy, SelfCritical, fit, view_generator
from captioning.training.provenance import TrainingRecord
from captioning.training.state import read_metrics

from .toy import toy_records

pytestmark = pytest.mark.usefixtures("core_one_thread")
F, V = 8, 3
COLORS, ANIMALS = ["red", "blue", "green", "black"], ["dog", "cat"]


def toy(n_train=16, n_val=4, views=V):
    """(records, features [N, F], views 1..V-1 of the train images [n_train, V-1, F]): an image's
    features say its colour and animal; its other views are noisy copies."""
    g = torch.Generator().manual_seed(0)
    records, features = toy_records(n_train, n_val, F, COLORS, ANIMALS, 4, "sits", g)
    extra = features[:n_train, None] + 0.3 * torch.randn(n_train, views - 1, F, generator=g)
    return records, features, extra


def ce_run(out, epochs, resume=False, views=V, **kw):
    records, features, extra = toy(views=max(views, 2))
    vocab, split, _ = prepare_splits(records, features, 1, 20, views=extra if views > 1 else None)
    model = DecoderConfig(vocab_size=len(vocab), feature_dim=F, embed_dim=8, hidden_dim=16, dropout=0.2)
    cfg = TrainConfig(epochs=epochs, batch_size=8, lr=1e-2, patience=50, min_count=1, views=views, **kw)
    summary = fit(CrossEntropy(cfg, vocab, model, EncoderSpec(feature_dim=F)), split["train"], split["val"], out,
                  resume=resume, progress=False)
    return summary, split


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


def start_checkpoint(tmp_path, vocab):
    """An untrained cross-entropy checkpoint for the toy vocabulary, saved once per test."""
    folder = tmp_path / "ce"
    if not folder.is_dir():
        torch.manual_seed(0)
        decoder = CaptionDecoder(DecoderConfig(vocab_size=len(vocab), feature_dim=F, embed_dim=8, hidden_dim=8))
        record = TrainingRecord("cross-entropy", TrainConfig(min_count=1).to_dict(), 1)
        Checkpoint(decoder, vocab, EncoderSpec(feature_dim=F), record.to_dict(), decoding={"strategy": "greedy"}).save(
            folder)
    return Checkpoint.load(folder)


def test_views_are_checked_serialized_and_default_to_one():
    for cls in (TrainConfig, ScstConfig):
        assert cls().views == 1 and cls(views=MAX_VIEWS).views == MAX_VIEWS
        assert cls.from_dict(cls(views=4).to_dict()).views == 4
        for bad in (0, MAX_VIEWS + 1):
            with pytest.raises(ConfigError, match="views"):
                cls(views=bad)
        old = cls().to_dict()
        del old["views"]  # a checkpoint's training record from before views
        assert cls.from_dict(old).views == 1


def test_train_and_scst_take_views_on_the_command_line_and_compare_cells_does_not():
    parser = build_parser()
    assert build(parser.parse_args(["train", "--out", "x", "--views", "8"]), TrainConfig).views == 8
    assert build(parser.parse_args(["scst", "--init", "c", "--out", "x", "--views", "4"]), ScstConfig).views == 4
    with pytest.raises(SystemExit):
        parser.parse_args(["compare-cells", "--views", "2"])


def test_each_epoch_draws_its_views_from_seed_and_epoch(tmp_path, monkeypatch):
    drawn = []
    real = loop.run_epoch

    def spy(model, objective, *args, **kwargs):
        drawn.append(objective.train.rows.clone())
        return real(model, objective, *args, **kwargs)

    monkeypatch.setattr(loop, "run_epoch", spy)
    _, split = ce_run(tmp_path / "run", epochs=3, seed=5)
    n = len(split["train"])
    for epoch, rows in enumerate(drawn, 1):
        want = torch.arange(n) + n * torch.randint(V, (n,), generator=view_generator(5, epoch))
        assert torch.equal(rows, want), epoch
    assert not torch.equal(drawn[0], drawn[1]) and set((drawn[0] // n).tolist()) == set(range(V))


def test_a_resumed_run_draws_the_same_views_and_ends_the_same(tmp_path):
    ce_run(tmp_path / "straight", epochs=3)
    ce_run(tmp_path / "resumed", epochs=1)
    ce_run(tmp_path / "resumed", epochs=3, resume=True)
    for name in ("latest", "best"):
        a, b = weights(tmp_path / "straight" / name), weights(tmp_path / "resumed" / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    strip = lambda ms: [{k: v for k, v in m.items() if k != "seconds"} for m in ms]  # noqa: E731
    assert strip(read_metrics(tmp_path / "resumed")) == strip(read_metrics(tmp_path / "straight"))
    ce_run(tmp_path / "one-view", epochs=3, views=1)
    a, b = weights(tmp_path / "straight" / "latest"), weights(tmp_path / "one-view" / "latest")
    assert not all(torch.equal(a[k], b[k]) for k in a)  # the views changed what it trained on
    assert Checkpoint.load(tmp_path / "straight" / "latest").training["config"]["views"] == V


def test_validation_sees_view_0(tmp_path, monkeypatch):
    records, features, _ = toy()
    seen = []
    real = loop.validate

    def spy(decoder, val, *args, **kwargs):
        seen.append(val.features.clone())
        return real(decoder, val, *args, **kwargs)

    monkeypatch.setattr(loop, "validate", spy)
    ce_run(tmp_path / "run", epochs=2)
    val = torch.stack([features[i] for i, r in enumerate(records) if r.split == "val"])
    assert len(seen) == 2 and all(torch.equal(s, val) for s in seen)


def test_a_split_without_the_asked_views_is_refused_before_any_file(tmp_path):
    records, features, _ = toy()
    vocab, split, _ = prepare_splits(records, features, 1, 20)
    cfg = TrainConfig(epochs=1, min_count=1, views=V)
    model = DecoderConfig(vocab_size=len(vocab), feature_dim=F, embed_dim=8, hidden_dim=8)
    with pytest.raises(ConfigError, match=f"views: the run asks for {V} views"):
        fit(CrossEntropy(cfg, vocab, model, EncoderSpec(feature_dim=F)), split["train"], split["val"],
            tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_scst_samples_from_each_images_drawn_view(tmp_path, monkeypatch):
    records, features, extra = toy()
    vocab, split, _ = prepare_splits(records, features, 1, 20, views=extra)
    decoder = start_checkpoint(tmp_path, vocab).decoder
    objective = SelfCritical(ScstConfig(views=V, baseline="mean", samples=2), Checkpoint.load(tmp_path / "ce"))
    train = split["train"]
    objective.prepare(train)
    train.draw_views(view_generator(0, 1))
    images = torch.tensor([0, 3, 7, 12])

    class Seen(Exception):
        pass

    def spy(decoder, feats, *args, **kwargs):
        raise Seen(feats)

    monkeypatch.setattr(objectives, "sample", spy)
    with pytest.raises(Seen) as seen:
        objective.loss(decoder, objectives.Share(images, images, 1.0, 1))
    assert torch.equal(seen.value.args[0], train.features[images])
    assert not torch.equal(train.features[images], train.store[images])  # not every image is at view 0


def test_the_recipe_hands_each_trial_the_views_it_asks_for(tmp_path, monkeypatch):
    records, features, extra = toy()
    asked, got = [], []
    monkeypatch.setattr(recipe, "train_model", lambda *a, **k: got.append(("ce", k["views"])))
    monkeypatch.setattr(recipe, "fine_tune", lambda *a, **k: got.append(("scst", k["views"])))
    monkeypatch.setattr(recipe, "ensure_checkpoint", lambda s, name: tmp_path / name)
    monkeypatch.setattr(recipe.Checkpoint, "load", lambda *a, **k: None)

    def views(v):
        asked.append(v)
        return extra

    trials = [recipe.Trial(name="ce-v", kind="ce", train={"views": V}), recipe.Trial(name="ce-1", kind="ce"),
              recipe.Trial(name="scst-v", kind="scst", init="ce-v", train={"views": V})]
    search = recipe.Search(records, features, EncoderSpec(feature_dim=F), tmp_path, tmp_path / "work",
                           {t.name: t for t in trials}, views=views)
    for t in trials:
        recipe._train(search, t)
    assert asked == [V, V] and [k for k, _ in got] == ["ce", "ce", "scst"]
    assert got[0][1] is extra and got[1][1] is None and got[2][1] is extra
    search.views = None
    with pytest.raises(recipe.InputError, match="views"):
        recipe._train(search, trials[0])


def test_the_plan_holds_the_views_trials():
    plan = {t.name: t for t in recipe.read_plan(Path(__file__).resolve().parents[2] / "results/recipe/plan.json")}
    ce, scst = plan["ce-views-s1"], plan["scst-views-s1"]
    assert ce.kind == "ce" and ce.train["views"] > 1 and ce.train["seed"] == 1 and ce.model == plan["ce-s1"].model
    assert scst.kind == "scst" and scst.init == "ce-views-s1" and scst.keep == "last"
    assert scst.train == {"epochs": 20, "patience": 20, "seed": 1, "views": ce.train["views"]}


def scst_run(tmp_path, out, epochs, resume=False):
    records, features, extra = toy()
    vocab, split, _ = prepare_splits(records, features, 1, 20, views=extra)
    cfg = ScstConfig(epochs=epochs, lr=1e-2, batch_images=6, samples=2, patience=10, views=V)
    return fit(SelfCritical(cfg, start_checkpoint(tmp_path, vocab)), split["train"], split["val"], tmp_path / out,
               resume=resume, progress=False)


def test_a_resumed_scst_run_with_views_ends_the_same(tmp_path):
    straight = scst_run(tmp_path, "straight", 2)
    scst_run(tmp_path, "resumed", 1)
    resumed = scst_run(tmp_path, "resumed", 2, resume=True)
    assert straight == {**resumed, "train_seconds": straight["train_seconds"]}
    a, b = weights(tmp_path / "straight" / "latest"), weights(tmp_path / "resumed" / "latest")
    assert all(torch.equal(a[k], b[k]) for k in a)
