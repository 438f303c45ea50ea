"""Learning and judging: teacher-forced (cross-entropy) training, self-critical (SCST) fine-tuning,
evaluation on a split, and the choice of a checkpoint's default decoding."""
