"""The shared-data default lives in the CLI: $CAPTIONING_SHARED_COCO, else ../shared/data/coco-val2017."""

import argparse

import pytest

from captioning.cli import datasets


def args(**kw):
    return argparse.Namespace(dataset=None, images=None, **kw)


def test_the_environment_variable_wins(tmp_path, monkeypatch):
    (tmp_path / "images").mkdir()
    (tmp_path / "captions_val2017.json").write_text("{}")
    monkeypatch.setenv(datasets.SHARED_ENV, str(tmp_path))
    assert datasets.shared_coco() == tmp_path


def test_missing_shared_data_says_what_to_pass(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.SHARED_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match=r"no --dataset given .*nowhere.*pass --dataset SPLIT\.json.*CAPTIONING_SHARED_COCO"):
        datasets.records(args())


@pytest.mark.integration
def test_the_default_is_the_fixed_split_of_the_shared_subset(core_shared_coco, core_coco_records, monkeypatch):
    monkeypatch.setenv(datasets.SHARED_ENV, str(core_shared_coco))
    default = datasets.records(args())
    assert [(r.image_id, r.split) for r in default] == [(r.image_id, r.split) for r in core_coco_records]
    assert sum(r.split == "test" for r in default) == 250
