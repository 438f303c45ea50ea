"""Choosing beam width and length penalty on val: every grid pair is scored once (greedy once),
the best is the highest val CIDEr, the record is written where the report reads it."""

from __future__ import annotations

import pytest

from captioning.core.io import read_json
from captioning.features.config import EncoderSpec
from captioning.lab.recipe_report import write_report
from captioning.training.decoding_search import (
    decoding_markdown,
    decoding_path,
    grid_config,
    tune_decoding,
)
from captioning.training.recipe import Search, Trial

from .test_recipe import _records

CE = Trial(name="ce", kind="ce", lever="tiny ce", model={"embed_dim": 16, "hidden_dim": 16, "dropout": 0.0},
           train={"epochs": 2, "batch_size": 8, "min_count": 1, "warmup_epochs": 0.5})


def test_greedy_ignores_the_penalty_and_beams_carry_it():
    assert grid_config(1, 1.0).num_beams == 1
    beam = grid_config(3, 0.5)
    assert (beam.num_beams, beam.length_penalty) == (3, 0.5)


def test_markdown_puts_beams_in_rows_and_penalties_in_columns():
    record = {"name": "x", "command": "captioning recipe --tune-decoding x",
              "rows": [{"beam": 1, "length_penalty": None, "val_cider": 60.0, "distinct": 200},
                       {"beam": 3, "length_penalty": 0.0, "val_cider": 62.5, "distinct": 190},
                       {"beam": 3, "length_penalty": 1.0, "val_cider": 63.3, "distinct": 195}],
              "best": {"beam": 3, "length_penalty": 1.0, "val_cider": 63.3, "distinct": 195}}
    text = decoding_markdown(record)
    assert "| beam | penalty 0 | penalty 1 |" in text
    assert "| 1 (greedy) | 60.0 (200 distinct) |" in text
    assert "| 3 | 62.5 (190) | 63.3 (195) |" in text
    assert "Best on val: beam 3, length penalty 1 (63.3)" in text


@pytest.mark.integration  # pycocoevalcap's PTB tokenizer runs Java
def test_a_trial_is_tuned_on_val_and_the_report_shows_it(tmp_path):
    recs, feats = _records()
    search = Search(recs, feats, EncoderSpec(feature_dim=8), tmp_path / "records", tmp_path / "work", {"ce": CE})
    (tmp_path / "records").mkdir()
    record = tune_decoding(search, "ce", tmp_path / "records", "cmd", beams=(1, 2), penalties=(0.0, 1.0))
    assert [(r["beam"], r["length_penalty"]) for r in record["rows"]] == [(1, None), (2, 0.0), (2, 1.0)]
    assert record["best"] == max(record["rows"], key=lambda r: r["val_cider"])
    assert read_json(decoding_path(tmp_path / "records", "ce")) == record
    report = write_report([CE], tmp_path / "records").read_text()
    assert "## Decoding chosen on val: ce" in report
