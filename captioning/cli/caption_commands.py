"""`captioning caption PATH...`: caption files, folders and globs with the shipped model or others."""

from __future__ import annotations

import argparse

from ..core.config import ConfigError
from ..decoder.decode_config import DecodeConfig
from ..features.config import ComputeConfig
from ..tools.caption_files import caption_paths
from ..tools.captioner import Captioner
from ..tools.job import CaptionJob
from ..tools.settings import SettingsChanged
from .exit_codes import DONE, SOME_SKIPPED
from .options import FLAGS, build, given


def caption(args: argparse.Namespace) -> int:
    compute = build(args, ComputeConfig)
    job = build(args, CaptionJob)
    captioner = Captioner.from_pretrained(args.checkpoint, compute.device, compute.runtime, compute.amp)
    cfg = captioner.decode_config(**given(args, DecodeConfig))
    try:
        summary = caption_paths(captioner, args.paths, job, decode=cfg, num_workers=compute.workers,
                                progress=not args.quiet, echo=not args.quiet)
    except SettingsChanged as exc:  # name the flags, not the fields
        raise ConfigError("output", exc.describe(lambda name: FLAGS.get(name, name), "--output",
                                                 "--force")) from None
    return SOME_SKIPPED if summary.skipped else DONE
