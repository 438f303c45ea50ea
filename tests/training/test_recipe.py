"""The recipe search on tiny synthetic data: every trial kind runs, writes its record, resumes from
records, retrains a missing start, and the report's stopping rules score as documented."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from captioning.core.errors import InputError
from captioning.data.records import ImageRecord
from captioning.features.config import EncoderSpec
from captioning.lab.recipe_report import (
    card_table,
    chosen_score,
    patience_choice,
    rule_scores,
    update_block,
    write_report,
)
from captioning.training.recipe import Search, Trial, average_weights, read_plan, run_trial, status

WORDS = ["a dog runs on grass", "a cat sits on a sofa", "a man rides a bike", "two birds on a wire"]


def _records(n: int = 24) -> tuple[list[ImageRecord], torch.Tensor]:
    """n images in four classes; each image's feature says its class, its captions describe it."""
    torch.manual_seed(0)
    recs, feats = [], torch.randn(n, 8) * 0.1
    for i in range(n):
        split = "train" if i < n - 8 else ("val" if i < n - 4 else "test")
        cls = i % 4
        feats[i, cls] += 3.0
        recs.append(ImageRecord(Path(f"img{i}.jpg"), split, [WORDS[cls], WORDS[cls] + " today"] * 3, i))
    return recs, feats


TINY = {"embed_dim": 16, "hidden_dim": 16, "dropout": 0.0}
PLAN = [
    Trial(name="ce", kind="ce", lever="tiny ce", model=TINY,
          train={"epochs": 2, "batch_size": 8, "min_count": 1, "warmup_epochs": 0.5}),
    Trial(name="scst", kind="scst", init="ce", keep="average-2", lever="tiny scst",
          train={"epochs": 3, "patience": 3, "batch_images": 8, "samples": 2}),
    Trial(name="ens", kind="ensemble", members=("ce", "scst"), lever="both"),
    Trial(name="kd", kind="distill", members=("ce", "scst"), lever="distilled", model=TINY,
          train={"epochs": 1, "batch_size": 8, "min_count": 1, "warmup_epochs": 0.5}, distill={"teacher_beam": 2}),
]


@pytest.mark.integration  # pycocoevalcap's PTB tokenizer runs Java
def test_every_kind_writes_a_record_and_a_clone_resumes(tmp_path):
    recs, feats = _records()
    records, work = tmp_path / "records", tmp_path / "work"
    records.mkdir()
    search = Search(recs, feats, EncoderSpec(feature_dim=8), records, work, {t.name: t for t in PLAN})
    for t in PLAN:
        run_trial(search, t, records, f"captioning recipe --only {t.name}")
    assert "4 of 4 trials done" in status(PLAN, records)
    scst = json.loads((records / "scst.json").read_text())
    assert scst["curves"]["epoch"] == [0, 1, 2, 3]  # epoch 0 is the cross-entropy start
    assert sorted(scst["val_per_image"], key=int) == ["0", "1", "2", "3"]
    assert all(len(v) == 4 for v in scst["val_per_image"].values())  # the 4 val images
    assert "last-3" in scst["averaged"] and scst["kept_epoch"] == 3
    for name in ("ce", "ens", "kd"):
        kept = json.loads((records / f"{name}.json").read_text())["kept"]
        assert kept["greedy"]["cider"] >= 0 and 1 <= kept["beam-3"]["distinct"] <= 4
    # a clone has the records but not the work folder: a new trial from "scst" retrains its chain
    shutil.rmtree(work)
    more = Trial(name="scst2", kind="scst", init="scst", keep="best", lever="again", train={"epochs": 1, "samples": 2})
    search.trials["scst2"] = more
    run_trial(search, more, records, "x")
    assert (work / "ce" / "kept").is_dir() and (work / "scst" / "kept").is_dir()
    report = write_report([*PLAN, more], records, {"0": "scst"}).read_text()
    assert "5 of 5 planned trials" in report and "| scst2 | scst |" in report and "Stopping rules" in report


def test_average_weights_is_the_elementwise_mean(tmp_path):
    from safetensors.torch import save_file

    for i, v in enumerate((1.0, 2.0, 6.0)):
        save_file({"w": torch.full((2,), v)}, str(tmp_path / f"e{i}.safetensors"))
    avg = average_weights([tmp_path / f"e{i}.safetensors" for i in range(3)])
    assert torch.equal(avg["w"], torch.full((2,), 3.0))


def test_patience_keeps_the_best_epoch_before_it_runs_out():
    assert patience_choice([1, 2, 5, 4, 3, 2, 9], 3) == 2  # stopped at epoch 5; never sees the 9
    assert patience_choice([1, 2, 5, 4, 3, 2, 9], 5) == 6


def test_a_rule_that_picks_on_one_half_is_scored_on_the_other():
    # epoch 1 is lucky on the even images only: picking on evens, the odds say it was no better
    per_epoch = [[5, 5, 5, 5], [9, 5, 9, 5]]
    best = lambda c: max(range(len(c)), key=c.__getitem__)  # noqa: E731
    assert chosen_score(per_epoch, best) == pytest.approx((5 + 5) / 2)
    scores = rule_scores({"val_per_image": {"0": [5, 5, 5, 5], "1": [9, 5, 9, 5]}, "averaged": {"last-3": [6, 6]}})
    assert scores["fixed 5 epochs"] is None and scores["average of the last-3 epochs"] == 6


def test_plan_names_its_starts_before_use(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"trials": [{"name": "s", "kind": "scst", "init": "ce"}]}))
    with pytest.raises(InputError, match="starts from ce"):
        read_plan(plan)
    plan.write_text(json.dumps({"trials": [{"name": "a", "kind": "ce"}, {"name": "a", "kind": "ce"}]}))
    with pytest.raises(InputError, match="name used twice"):
        read_plan(plan)
    plan.write_text(json.dumps({"trials": [{"name": "f", "kind": "ce", "train": {"train_val": True}}]}))
    with pytest.raises(InputError, match="f: a trial is judged on val, so it cannot train on val"):
        read_plan(plan)


def test_the_committed_plan_reads():
    trials = read_plan(Path(__file__).resolve().parents[2] / "results" / "recipe" / "plan.json")
    assert trials and all(t.lever for t in trials)


def test_the_model_card_table_is_what_the_records_say():
    root = Path(__file__).resolve().parents[2]
    trials = read_plan(root / "results" / "recipe" / "plan.json")
    card = (root / "MODEL_CARD.md").read_text()
    block = card.split("<!-- recipe-trials -->\n", 1)[1].split("<!-- /recipe-trials -->", 1)[0]
    assert block.splitlines() == card_table(trials, root / "results" / "recipe")


def test_update_block_replaces_only_its_block(tmp_path):
    doc = tmp_path / "card.md"
    doc.write_text("before\n<!-- t -->\nold\n<!-- /t -->\nafter\n")
    assert update_block(doc, "t", ["new 1", "new 2"])
    assert doc.read_text() == "before\n<!-- t -->\nnew 1\nnew 2\n<!-- /t -->\nafter\n"
    assert not update_block(doc, "missing", ["x"])


def test_curves_line_up_by_epoch_and_budgets_read_their_epoch():
    from captioning.lab.recipe_report import curves_table

    ce = {"name": "ce", "curves": {"epoch": [1, 2], "val_cider": [10.0, 20.0]}}
    scst = {"name": "scst", "curves": {"epoch": [0, 1, 2], "val_cider": [20.0, 21.0, 22.0]}}
    assert curves_table([ce, scst])[2:] == ["| 0 |  | 20.0 |", "| 1 | 10.0 | 21.0 |", "| 2 | 20.0 | 22.0 |"]
    per_image = {str(e): [float(e)] * 2 for e in range(1, 7)}  # cross-entropy snapshots start at epoch 1
    assert rule_scores({"val_per_image": per_image})["fixed 5 epochs"] == 5.0
