"""`captioning recipe`: the resumable search over the shipped model's training recipe."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..core.errors import InputError
from ..core.io import read_json
from ..lab.recipe_report import card_table, update_block, write_report
from ..training.config import RecipeConfig
from ..training.recipe import Search, read_plan, record_path, run_trial, status
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
    if not args.report:
        unknown = [n for n in cfg.only if n not in {t.name for t in trials}]
        if unknown:
            raise InputError(f"--only: no trial named {', '.join(unknown)} in {cfg.plan}")
        todo = [t for t in trials if (not cfg.only or t.name in cfg.only)
                and not record_path(cfg.records, t.name).is_file()]
        if todo:
            encoder, feats, kept = datasets.features(args, datasets.records(args),
                                                     name=plan.get("encoder", "efficientnet_lite2"))
            search = Search(kept, feats, encoder.spec, Path(cfg.records), Path(cfg.work),
                            {t.name: t for t in trials}, encoder.device, progress=not args.quiet,
                            views=lambda v: datasets.train_views(args, encoder, kept, v))
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
