"""The command's views of the train images: views 1..V-1 of the train records only, cached beside
the --cache file; one view asks for nothing."""

import argparse

import pytest
import torch

from captioning.cli import datasets
from captioning.data.records import ImageRecord
from captioning.features.extraction import extract_features
from tests.features.test_views import TinyEncoder, noise

pytestmark = pytest.mark.usefixtures("core_one_thread")


def test_train_views_are_the_train_records_other_views(tmp_path):
    records = []
    for i, split in enumerate(["train", "val", "train", "test"]):
        path = tmp_path / f"p{i}.png"
        noise(40, 32 + 4 * i, seed=i).save(path)
        records.append(ImageRecord(path, split, ["a cap"], i))
    args = argparse.Namespace(quiet=True, **{"ComputeConfig.cache": str(tmp_path / "c.safetensors"),
                                             "ComputeConfig.workers": 0})
    encoder = TinyEncoder()
    assert datasets.train_views(args, encoder, records, 1) is None
    extra = datasets.train_views(args, encoder, records, 3)
    want, _ = extract_features(encoder, [records[0].path, records[2].path], num_workers=0, progress=False,
                               views=[1, 2])
    assert torch.equal(extra, want) and (tmp_path / "c-views3.safetensors").is_file()
