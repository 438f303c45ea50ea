"""The notebooks' checked exercises: each notebook's own solution passes its checker, wrong answers
and unwritten stubs are reported (never raised), so a broken checker or solution fails CI."""

import ast
import json
from pathlib import Path

import pytest
import torch

from captioning.decoder import search
from captioning.decoder.decode_config import DecodeConfig
from captioning.lab import exercises, stats
from captioning.text.tokenizer import tokenize

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# notebook -> (the function the learner writes, its checker)
EXERCISES = {
    "01": [("my_unk_rate", exercises.check_unk_rate)],
    "02": [("my_init_state", exercises.check_init_state)],
    "03": [("my_beam_score", exercises.check_beam_score)],
    "04": [("my_lstm_step", exercises.check_lstm_step), ("my_gru_step", exercises.check_gru_step)],
    "05": [("my_ensemble_logp", exercises.check_ensemble_logp)],
    "06": [("my_advantages", exercises.check_advantages)],
    "07": [("my_nucleus", exercises.check_nucleus)],
}
CASES = [(nb, name, check) for nb, items in EXERCISES.items() for name, check in items]


def _notebook(prefix: str) -> dict:
    (path,) = NOTEBOOKS.glob(f"{prefix}_*.ipynb")
    return json.loads(path.read_text())


def _definitions(prefix: str, name: str) -> list[str]:
    """Every definition of `name` in the notebook's code cells, in order (stub first, solution last)."""
    found = []
    for cell in _notebook(prefix)["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                found.append(ast.get_source_segment(source, node))
    return found


def _load(source: str, name: str):
    namespace = {"torch": torch, "tokenize": tokenize, "stats": stats}
    exec(source, namespace)  # the notebook's own code, so CI checks what learners read
    return namespace[name]


@pytest.mark.parametrize(("nb", "name", "check"), CASES, ids=[f"{nb}-{name}" for nb, name, _ in CASES])
def test_the_notebook_stub_is_reported_and_its_solution_passes(nb, name, check):
    definitions = _definitions(nb, name)
    assert len(definitions) >= 2, f"notebook {nb}: a stub and a solution of {name}"
    stub = check(_load(definitions[0], name))
    assert not stub.ok and "not written yet" in stub.message and "\n" not in stub.message
    solution = check(_load(definitions[-1], name))
    assert solution.ok, solution.message
    assert solution.message.startswith("✓")


def _wrong_answers():
    def unk_rate_plain_split(train, heldout, m):
        counts = stats.word_counts(train)
        words = [w for c in heldout for w in c.split()]
        return sum(counts.get(w, 0) < m for w in words) / len(words)

    def init_state_swapped(v, w, b):
        h0, c0 = torch.tanh(v @ w.T + b).chunk(2, dim=-1)
        return c0, h0

    def lstm_wrong_order(x, h, c, w_ih, w_hh, b):
        i, g, f, o = (x @ w_ih.T + h @ w_hh.T + b).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def gru_summed_bias(x, h, w_ih, w_hh, b_ih, b_hh):
        xr, xz, xn = (x @ w_ih.T + b_ih + b_hh).chunk(3, dim=-1)
        hr, hz, hn = (h @ w_hh.T).chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        return (1 - z) * torch.tanh(xn + r * hn) + z * h

    def nucleus(logp, t, p, reach=True):
        probs, order = (logp / t).softmax(-1).sort(descending=True)
        return order[(probs.cumsum(-1) - probs * reach) < p].tolist()

    return [
        (exercises.check_unk_rate, unk_rate_plain_split, "min_count"),
        (exercises.check_init_state, init_state_swapped, "swapped"),
        (exercises.check_init_state, lambda v, w, b: (v @ w.T + b).chunk(2, dim=-1), "off by"),
        (exercises.check_beam_score, lambda lp, n, a: lp / n ** a, "expected"),
        (exercises.check_lstm_step, lstm_wrong_order, "gate order"),
        (exercises.check_gru_step, gru_summed_bias, "off by"),
        (exercises.check_ensemble_logp, lambda m: m.mean(0), "renormalize"),
        (exercises.check_ensemble_logp, lambda m: m.exp().mean(0).log(), "off by"),
        (exercises.check_advantages, lambda r, g, k: r - g.repeat(k), "wrong image"),
        (exercises.check_advantages, lambda r, g, k: r.view(-1, k) - g[:, None], "shape"),
        (exercises.check_nucleus, lambda logp, t, p: nucleus(logp, t, p, reach=False), "past top-p"),
        (exercises.check_nucleus, lambda logp, t, p: nucleus(logp, 1.0, p), "temperature"),
        (exercises.check_nucleus, lambda logp, t, p: nucleus(logp, t, p)[:1], "is missing"),
        (exercises.check_nucleus, lambda logp, t, p: nucleus(logp, t, p) * 2, "more than once"),
    ]


@pytest.mark.parametrize(("check", "wrong", "hint"), _wrong_answers())
def test_a_wrong_answer_is_reported_wrong_in_one_line(check, wrong, hint):
    result = check(wrong)
    assert not result.ok
    assert result.message.startswith("✗ Not yet") and hint in result.message and "\n" not in result.message


def test_a_crash_in_the_learners_code_is_one_line_not_a_traceback():
    def crashes(*args):
        raise ValueError("shapes do not match\nsecond line")

    result = exercises.check_advantages(crashes)
    assert not result.ok and result.message == "✗ my_advantages raised ValueError: shapes do not match"
    assert repr(result) == str(result) == result.message


def test_the_nucleus_checker_compares_with_what_sampling_draws_from():
    """check_nucleus's reference is decoder.search's own filter: sampling with that top-p never draws
    a word outside the set, and draws every word of it; no case sits within rounding of top-p."""
    for logp, t, p in exercises._nucleus_cases():
        want = exercises._kept(logp, t, p)
        cfg = DecodeConfig("sample", temperature=t, top_p=p)
        drawn = search._pick(logp.expand(4000, -1), cfg, torch.Generator().manual_seed(0))
        assert set(drawn.tolist()) == want
        probs = (logp / t).softmax(-1).sort(descending=True).values
        assert float((probs.cumsum(-1) - p).abs().min()) > 5e-3
