"""`captioning recipe`: the resumable search over the shipped model's training recipe."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..core.errors import InputError
from ..core.io import read_json
from ..lab.recipe_report import card_table, update_block, write_report
from ..training.config import RecipeConfig
from ..training.decoding_search import tune_decoding
from ..training.recipe import SHIPPED, Search, read_plan, record_path, run_trial, status
from . import datasets
from .options import build

log = logging.getLogger("captioning")
MODEL_CARD = Path("MODEL_CARD.md")  # its search table is generated from the records


def recipe(args: argparse.Namespace) -> int:
    cfg = build(args, RecipeConfig)
    trials, plan = read_plan(cfg.plan), read_json(cfg.plan, "recipe plan")
    if args.status:
        print(status(trials, cfg.records))
        return 0
    if args.tune_decoding:
        unknown = [n for n in args.tune_decoding if n != SHIPPED and n not in {t.name for t in trials}]
        if unknown:
            raise InputError(f"--tune-decoding: no trial named {', '.join(unknown)} in {cfg.plan}")
        search = _search(args, cfg, trials, plan)
        for name in args.tune_decoding:
            best = tune_decoding(search, name, cfg.records, f"captioning recipe --tune-decoding {name}")["best"]
            log.info("recipe: %s decodes best on val with beam %d, length penalty %s: %.1f", name,
                     best["beam"], best["length_penalty"], best["val_cider"])
    elif not args.report:
        unknown = [n for n in cfg.only if n not in {t.name for t in trials}]
        if unknown:
            raise InputError(f"--only: no trial named {', '.join(unknown)} in {cfg.plan}")
        todo = [t for t in trials if (not cfg.only or t.name in cfg.only)
                and not record_path(cfg.records, t.name).is_file()]
        if todo:
            search = _search(args, cfg, trials, plan)
            Path(cfg.records).mkdir(parents=True, exist_ok=True)
            for t in todo:
                log.info("recipe: trial %s (%s): %s", t.name, t.kind, t.lever)
                record = run_trial(search, t, Path(cfg.records), f"captioning recipe --only {t.name}")
                kept_scores = record["kept"]
                log.info("recipe: %s kept val CIDEr greedy %.1f, beam-3 %.1f (%.1f min)", t.name,
                         kept_scores["greedy"]["cider"], kept_scores["beam-3"]["cider"], record["minutes"])
    intro = ("Written from the records in this folder by `captioning recipe --report`; "
             "`captioning recipe --status` lists the trials still to run.")
    print(f"wrote {write_report(trials, cfg.records, plan.get('ab', {}), intro)}")
    if update_block(MODEL_CARD, "recipe-trials", card_table(trials, cfg.records)):
        print(f"updated the search table in {MODEL_CARD}")
    return 0


def _search(args: argparse.Namespace, cfg: RecipeConfig, trials: list, plan: dict) -> Search:
    """The data, features and folders every trial shares (features extracted or read from the cache)."""
    encoder, feats, kept = datasets.features(args, datasets.records(args), name=plan.get("encoder", "efficientnet_lite2"))
    return Search(kept, feats, encoder.spec, Path(cfg.records), Path(cfg.work), {t.name: t for t in trials},
                  encoder.device, progress=not args.quiet,
                  views=lambda v: datasets.train_views(args, encoder, kept, v))
