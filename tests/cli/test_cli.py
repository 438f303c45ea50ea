"""The `captioning` command: help, split, usage errors (exit 2, one line), train and evaluate."""

import argparse
import contextlib
import io
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from PIL import Image

from captioning.cli.main import main
from captioning.cli.parser import build_parser
from captioning.data.karpathy import read_karpathy, write_karpathy

SUBCOMMANDS = sorted(next(a for a in build_parser()._actions
                          if isinstance(a, argparse._SubParsersAction)).choices)


def run_main(argv):
    """main(argv) -> (exit code, stdout, stderr), --help's SystemExit included."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def assert_usage_error(code, err, *names):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("captioning: error: ")
    for name in names:
        assert str(name) in lines[0]


def test_entry_point_help():
    exe = Path(sys.executable).parent / "captioning"
    done = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0
    for name in ("split", "extract-features", "train", "evaluate", "caption", "compare-cells"):
        assert name in done.stdout


def test_subcommands_are_the_documented_ones():
    assert {"split", "extract-features", "train", "evaluate", "caption", "compare-cells"} <= set(SUBCOMMANDS)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command):
    code, out, _ = run_main([command, "--help"])
    assert code == 0
    assert out.startswith(f"usage: captioning {command}") and "--quiet" in out


def test_version():
    code, out, _ = run_main(["--version"])
    assert code == 0 and out.startswith("captioning ")


def test_unknown_subcommand_is_a_usage_error():
    code, _, err = run_main(["fly"])
    assert code == 2 and "invalid choice" in err


@pytest.mark.parametrize("command", ["extract-features", "train", "evaluate"])
def test_missing_dataset_file(tmp_path, command):
    missing = tmp_path / "no-such-split.json"
    argv = [command, "--dataset", missing, "--cache", tmp_path / "c.safetensors", "--device", "cpu"]
    if command == "train":
        argv += ["--out", tmp_path / "run"]
    if command == "evaluate":
        argv += ["--checkpoint", make_checkpoint(tmp_path)]
    code, _, err = run_main(argv)
    assert_usage_error(code, err, missing, "no such dataset file")


def test_bad_dataset_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run_main(["extract-features", "--dataset", bad, "--cache", tmp_path / "c"])
    assert_usage_error(code, err, bad)


def test_evaluate_missing_checkpoint(tmp_path):
    missing = tmp_path / "missing_dir"
    code, _, err = run_main(["evaluate", "--checkpoint", missing, "--dataset", tmp_path / "x.json"])
    assert_usage_error(code, err, missing, "no such checkpoint folder")


def test_split_needs_a_source(tmp_path):
    code, _, err = run_main(["split", "--out", tmp_path / "s.json"])
    assert_usage_error(code, err, "--coco-annotations")
    assert not (tmp_path / "s.json").exists()


def test_bad_device_is_a_usage_error(tmp_path):
    split = tmp_path / "s.json"
    (tmp_path / "a.jpg").write_bytes(b"")
    split.write_text(json.dumps({"images": [{"filename": "a.jpg", "split": "train", "sentences": []}]}))
    code, _, err = run_main(["extract-features", "--dataset", split, "--device", "tpu9", "--cache", tmp_path / "c"])
    assert_usage_error(code, err, "tpu9")


def make_checkpoint(tmp_path):
    from captioning.decoder.checkpoint import Checkpoint
    from captioning.decoder.config import DecoderConfig
    from captioning.decoder.model import CaptionDecoder
    from captioning.features.config import EncoderSpec
    from captioning.text.vocabulary import Vocabulary

    vocab = Vocabulary(["a", "dog"])
    dec = CaptionDecoder(DecoderConfig(vocab_size=len(vocab), embed_dim=4, hidden_dim=4))
    return Checkpoint(dec, vocab, EncoderSpec()).save(tmp_path / "ckpt")


def test_extract_features_reports_unreadable_images(tmp_path, core_one_thread):
    for i, color in enumerate([(200, 10, 10), (10, 10, 200)]):
        Image.new("RGB", (40, 30), color).save(tmp_path / f"ok{i}.png")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"images": [
        {"filename": n, "split": "train", "sentences": [{"raw": "a picture"}]}
        for n in ("ok0.png", "broken.jpg", "ok1.png")]}))
    cache = tmp_path / "cache.safetensors"
    code, out, err = run_main(["extract-features", "--dataset", split, "--cache", cache, "--device", "cpu", "-q"])
    assert code == 1  # some images skipped
    assert "features for 2 of 3 images: (2, 1280)" in out
    assert "skipped" in err and "broken.jpg" in err
    assert cache.is_file()


# ---- integration: the shared COCO set ---------------------------------------------------------

@pytest.mark.integration
def test_split_on_shared_coco(tmp_path, core_shared_coco):
    out = tmp_path / "splits" / "coco.json"
    code, stdout, _ = run_main(["split", "--coco-annotations", core_shared_coco / "captions_val2017.json",
                                "--images", core_shared_coco / "images", "--out", out])
    assert code == 0
    assert "2709 images (2209 train, 250 val, 250 test)" in stdout
    data = json.loads(out.read_text())
    assert data["dataset"] == "coco" and len(data["images"]) == 2709
    assert Counter(im["split"] for im in data["images"]) == {"train": 2209, "val": 250, "test": 250}
    ids = [im["cocoid"] for im in data["images"]]
    assert ids == sorted(ids)
    assert [im["cocoid"] for im in data["images"] if im["split"] == "test"] == ids[-250:]
    recs = read_karpathy(out)
    assert recs[0].path.is_file() and recs[0].path.resolve() == (core_shared_coco / "images" / "000000000285.jpg")


@pytest.mark.integration
def test_split_on_shared_flickr8k(tmp_path, core_shared_coco):
    out = tmp_path / "f8k.json"
    code, stdout, _ = run_main(["split", "--flickr8k", core_shared_coco.parent / "flickr8k", "--out", out])
    assert code == 0 and "94 images (75 train, 10 val, 8 test)" in stdout
    assert json.loads(out.read_text())["dataset"] == "flickr8k"


@pytest.fixture(scope="module")
def cli_run(core_coco_features, core_prefill_cache, core_onnx_cache, tmp_path_factory):
    """`captioning train` for one epoch on 60 train / 20 val / 20 test shared COCO images
    (feature caches prefilled from the session's extraction, so no CNN pass is repeated; the
    default cache holds the session's ONNX export, so none is made again)."""
    _, kept = core_coco_features
    by = {s: [r for r in kept if r.split == s] for s in ("train", "val", "test")}
    root = tmp_path_factory.mktemp("cli")
    split = write_karpathy(by["train"][:60] + by["val"][:20] + by["test"][:20], root / "split.json")
    records = read_karpathy(split)
    core_prefill_cache(root / "train-cache.safetensors", [r.path for r in records])
    core_prefill_cache(root / "test-cache.safetensors", [r.path for r in records if r.split == "test"])
    core_prefill_cache(root / "val-cache.safetensors", [r.path for r in records if r.split == "val"])  # export's
    core_onnx_cache(root / "default-cache")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CAPTIONING_CACHE", str(root / "default-cache"))
            code, out, err = run_main([
                "train", "--dataset", split, "--cache", root / "train-cache.safetensors", "--out", root / "run",
                "--epochs", 1, "--embed-dim", 16, "--hidden-dim", 16, "--min-count", 2, "--batch-size", 32,
                "--device", "cpu", "--quiet"])
    finally:
        torch.set_num_threads(threads)
    return {"root": root, "split": split, "code": code, "out": out, "err": err}


@pytest.mark.integration
def test_train_writes_a_run_folder(cli_run):
    assert cli_run["code"] == 0, cli_run["err"]
    run = cli_run["root"] / "run"
    for name in ("config.json", "vocab.json", "model.safetensors"):
        assert (run / "best" / name).is_file()
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1]
    summary = json.loads(cli_run["out"].strip().splitlines()[-1])
    assert summary["epochs_run"] == 1 and summary["best_epoch"] == 1
    assert re.search(r"on 60 images / 3\d\d captions", cli_run["err"])  # 5-6 captions each
    assert not (cli_run["root"] / "default-cache" / "features").exists()  # --cache was used, not the default
    config = json.loads((run / "best" / "config.json").read_text())
    assert config["format_version"] == 2
    assert config["model"]["embed_dim"] == 16 and config["model"]["hidden_dim"] == 16
    assert not list(run.rglob("*.pt")) and not list(run.rglob("*.pkl"))


@pytest.mark.integration
def test_evaluate_json_prints_the_scores_last(cli_run, core_one_thread):
    root = cli_run["root"]
    code, out, err = run_main(["evaluate", "--checkpoint", root / "run" / "best", "--dataset", cli_run["split"],
                               "--cache", root / "test-cache.safetensors", "--device", "cpu", "--json", "-q"])
    assert code == 0, err
    scores = json.loads(out.strip().splitlines()[-1])
    assert set(scores) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr",
                           "distinct_captions", "dangling_share", "n_images"}
    assert scores["n_images"] == 20 and 1 <= scores["distinct_captions"] <= 20
    assert all(0 <= scores[m] <= 100 for m in ("BLEU-1", "BLEU-4", "METEOR", "ROUGE-L"))
    assert "CIDEr" in out.splitlines()[0]  # the table comes first
    assert "test split: 20 images" in err


@pytest.mark.integration
@pytest.mark.parametrize("cell", ["lstm", "peephole", "cifg", "gru", "rnn"])
def test_train_each_cell_and_its_checkpoint_round_trips(cell, cli_run, core_one_thread, tmp_path):
    """`captioning train --cell X` works for every cell; the checkpoint records and restores it."""
    from captioning.decoder.checkpoint import Checkpoint

    root = cli_run["root"]
    code, _, err = run_main([
        "train", "--dataset", cli_run["split"], "--cache", root / "train-cache.safetensors",
        "--out", tmp_path / "run", "--cell", cell, "--epochs", 1, "--embed-dim", 8, "--hidden-dim", 8,
        "--min-count", 2, "--val-images", 5, "--device", "cpu", "--quiet"])
    assert code == 0, err
    ckpt = Checkpoint.load(tmp_path / "run" / "best")
    assert ckpt.decoder.cfg.cell == cell and ckpt.decoder.rnn.cell == cell
    feats = torch.randn(2, ckpt.decoder.cfg.feature_dim)
    tokens = torch.tensor([[1, 5, 6], [1, 7, 2]])
    again = Checkpoint.load(tmp_path / "run" / "best")
    assert torch.equal(ckpt.decoder(feats, tokens), again.decoder(feats, tokens))


@pytest.mark.integration
def test_export_and_evaluate_an_ensemble(cli_run, core_one_thread, tiny_checkpoint):
    """Two members (here the same run twice) exported as one ensemble folder, with its default
    decoding chosen on val; evaluate takes it, or repeated --checkpoint; mismatches are one line."""
    root = cli_run["root"]
    best = root / "run" / "best"
    common = ["--dataset", cli_run["split"], "--cache", root / "val-cache.safetensors", "--device", "cpu", "-q"]
    code, out, err = run_main(["export", best, best, "--out", root / "ens", "--half", *common])
    assert code == 0, err
    assert "-> default decoding" in out and (root / "ens" / "ensemble.json").is_file()
    index = json.loads((root / "ens" / "ensemble.json").read_text())
    assert index["members"] == ["member-0", "member-1"] and index["scores"]["decoding_choice"]["split"] == "val"
    evaluate = ["evaluate", "--dataset", cli_run["split"], "--cache", root / "test-cache.safetensors",
                "--device", "cpu", "--json", "-q"]
    code, out, err = run_main([*evaluate, "--checkpoint", root / "ens"])
    assert code == 0, err
    ensemble = json.loads(out.strip().splitlines()[-1])
    code, out, _ = run_main([*evaluate, "--checkpoint", best, "--checkpoint", best, "--beam", "1"])
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["n_images"] == ensemble["n_images"] == 20
    code, _, err = run_main([*evaluate, "--checkpoint", best, "--checkpoint", tiny_checkpoint])
    assert_usage_error(code, err, "cannot ensemble", "different vocabularies")


@pytest.mark.integration
def test_train_val_members_train_on_val_and_export_only_with_fixed_decoding(cli_run, core_one_thread, tmp_path):
    """--train-val: the 20 val images join the 60 train images, the run lasts its epochs, and export
    refuses to choose decoding on the val it trained on unless --decoding fixes it."""
    root = cli_run["root"]
    data = ["--dataset", cli_run["split"], "--cache", root / "train-cache.safetensors", "--device", "cpu", "-q"]
    train = ["train", "--out", tmp_path / "run", "--embed-dim", 8, "--hidden-dim", 8, "--min-count", 2, *data]
    code, _, err = run_main([*train, "--train-val", "--epochs", 3, "--patience", 2])
    assert_usage_error(code, err, "patience", "set patience >= epochs (3), got 2")
    code, _, err = run_main([*train, "--train-val", "--epochs", 1])
    assert code == 0, err
    assert re.search(r"on 80 images / 4\d\d captions", err) and "training on the 20 val images too" in err
    member = tmp_path / "run" / "latest"
    code, _, err = run_main(["export", member, "--out", tmp_path / "chosen", *data])
    assert_usage_error(code, err, str(member), "trained on the val images", "--decoding")
    assert not (tmp_path / "chosen").exists()
    code, out, err = run_main(["export", member, "--out", tmp_path / "fixed", "--decoding", "beam", *data])
    assert code == 0, err
    assert "default decoding beam-3 (fixed by --decoding, val not looked at)" in out
    config = json.loads((tmp_path / "fixed" / "config.json").read_text())
    assert config["decoding"]["num_beams"] == 3 and config["scores"]["decoding_choice"] == {"fixed": "beam-3"}
    code, out, err = run_main(["export", member, "--out", tmp_path / "tuned", "--decoding", "beam", "--beam", 2,
                               "--length-penalty", 1, "--block-trigrams", *data])  # tuned on val elsewhere
    assert code == 0, err
    config = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert (config["decoding"]["num_beams"], config["decoding"]["length_penalty"]) == (2, 1.0)
    assert config["decoding"]["block_trigrams"] is True
    evaluate = ["evaluate", "--checkpoint", tmp_path / "tuned", "--json", *data]
    code, _, err = run_main([*evaluate, "--split", "val"])
    assert code == 0 and "tuned trained on the val images (train_val): its val scores measure images" in err, err
    code, _, err = run_main([*evaluate, "--split", "test"])
    assert code == 0 and "train_val" not in err, err
    code, _, err = run_main(["export", member, "--out", tmp_path / "bad", "--length-penalty", "nan", *data])
    assert code == 2 and "argument --length-penalty: must be a finite number, got nan" in err
    assert not (tmp_path / "bad").exists()


@pytest.mark.integration
def test_scst_fine_tunes_a_trained_run_and_resumes(cli_run, core_one_thread):
    root = cli_run["root"]
    argv = ["scst", "--init", root / "run" / "best", "--out", root / "scst", "--dataset", cli_run["split"],
            "--cache", root / "train-cache.safetensors", "--epochs", 1, "--batch-images", 16, "--samples", 2,
            "--device", "cpu", "-q"]
    code, out, err = run_main(argv)
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["epochs_run"] == 1
    metrics = [json.loads(line) for line in (root / "scst" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [0, 1] and {"train_reward", "train_baseline", "val_cider"} <= set(metrics[1])
    code, out, _ = run_main([*argv, "--resume"])
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["epochs_run"] == 1  # nothing left to do


def test_scst_needs_an_existing_checkpoint(tmp_path):
    code, _, err = run_main(["scst", "--init", tmp_path / "nope", "--out", tmp_path / "o", "--device", "cpu"])
    assert_usage_error(code, err, "nope", "no such checkpoint folder")
