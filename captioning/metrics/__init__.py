"""Text out, scored: the COCO caption metrics (pycocoevalcap, offline), the PTB tokenizer they
use, a fast CIDEr-D for training rewards, and caption-quality checks."""
