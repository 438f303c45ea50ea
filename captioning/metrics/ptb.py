"""The Stanford PTB tokenizer exactly as the COCO caption evaluation runs it, with its output
captured and Java's stderr chatter discarded per call (no process-wide redirection).

pycocoevalcap's own wrapper writes a temp file into its installed package folder and lets
Java print to our stderr; this runs the same jar, flags and punctuation filter without either."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from pycocoevalcap.tokenizer import ptbtokenizer

_JAR = Path(ptbtokenizer.__file__).with_name(ptbtokenizer.STANFORD_CORENLP_3_4_1_JAR)
_PUNCTUATION = frozenset(ptbtokenizer.PUNCTUATIONS)


def ptb_tokenize(captions: Mapping[object, Sequence[str]]) -> dict[object, list[str]]:
    """{key: [caption, ...]} -> {key: [tokenized caption, ...]}, lowercased, punctuation removed."""
    keys = [k for k, caps in captions.items() for _ in caps]
    lines = [c.replace("\n", " ") for caps in captions.values() for c in caps]
    out: dict[object, list[str]] = {k: [] for k in captions}
    if not lines:
        return out
    with tempfile.TemporaryDirectory(prefix="captioning-ptb-") as tmp:
        source = Path(tmp) / "captions.txt"
        source.write_text("\n".join(lines), encoding="utf-8")
        done = subprocess.run(["java", "-cp", str(_JAR), "edu.stanford.nlp.process.PTBTokenizer",
                               "-preserveLines", "-lowerCase", str(source)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the PTB tokenizer (java -cp {_JAR.name}) failed with exit code {done.returncode}")
    tokenized = done.stdout.decode("utf-8").split("\n")
    for key, line in zip(keys, tokenized):
        out[key].append(" ".join(w for w in line.rstrip().split(" ") if w not in _PUNCTUATION))
    return out
