"""The README keeps its promises: two opening commands that exist in the Makefile, and a
sub-package table that names every sub-package and nothing else."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_demo_and_test_commands():
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_subpackage_table_matches_the_package():
    listed = set(re.findall(r"^\| `(\w+)/` \|", README, re.M))
    actual = {p.name for p in (ROOT / "captioning").iterdir() if (p / "__init__.py").is_file()}
    assert listed == actual, f"README lists {sorted(listed - actual)} that do not exist, misses {sorted(actual - listed)}"


def test_docs_have_no_placeholders():
    for doc in ("README.md", "MODEL_CARD.md", "data/README.md", "benchmarks/README.md", "notebooks/README.md"):
        text = (ROOT / doc).read_text()
        assert "«" not in text and "»" not in text, f"{doc} still has a «placeholder»"
