"""Error analysis, notebook 05's side: the demo photos' labelled record, re-labelling the same images
for a new model and comparing the two records, the category bars and the labelling exercise."""

import ast
import json
from pathlib import Path

import pytest

from captioning.core.errors import InputError
from captioning.lab.errors import (
    CATEGORIES,
    category_counts,
    compare_labels,
    comparison_markdown,
    counts_markdown,
    read_analysis,
    read_sample_labels,
    relabel_draft,
    sample_sheet,
)
from captioning.lab.labelling import EXERCISE_IDS, category_bars, check_my_labels, label_agreement
from tests.shared import benchmark_script

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results/error-analysis"


def _entry(image_id, categories=("wrong object",), caption="a cat", cider=1.5, note="a dog"):
    return {"image_id": image_id, "file_name": f"{image_id}.jpg", "caption": caption, "cider": cider,
            "categories": list(categories), "note": note}


def _record(*entries, split="val", checkpoint="old"):
    return {"checkpoint": checkpoint, "split": split, "images": list(entries)}


def test_sample_labels_may_call_a_caption_right_but_an_analysis_may_not(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"images": [{"image_id": 1, "file_name": "1.jpg", "caption": "a cat",
                                            "categories": [], "note": "right"}]}))
    assert read_sample_labels(path)["images"][0]["categories"] == []
    with pytest.raises(InputError, match="missing field 'cider'"):
        read_analysis(path)
    path.write_text(json.dumps({"images": [_entry(1, categories=[])]}))
    with pytest.raises(InputError, match=r"images\[0\].categories: expected a non-empty"):
        read_analysis(path)
    path.write_text(json.dumps({"images": [{"image_id": 1, "file_name": "1.jpg", "caption": "c",
                                            "categories": ["blurry"], "note": ""}]}))
    with pytest.raises(InputError, match="unknown category 'blurry'"):
        read_sample_labels(path)


def test_the_committed_sample_labels_cover_every_demo_photo():
    labels = read_sample_labels(RESULTS / "samples.json")["images"]
    assert sorted(e["file_name"] for e in labels) == sorted(p.name for p in (ROOT / "data/samples").glob("*.jpg"))


def test_sample_sheet_keeps_a_label_only_for_the_caption_it_was_given_to():
    labels = [{"file_name": "a.jpg", "caption": "a cat", "categories": [], "note": "fine"},
              {"file_name": "b.jpg", "caption": "a white bus", "categories": ["wrong color or attribute"], "note": "red"},
              {"file_name": "c.jpg", "caption": "a dog", "categories": ["wrong object"], "note": "a cat"}]
    rows = sample_sheet(labels, {"a.jpg": "a cat", "b.jpg": "a white bus", "c.jpg": "a cat", "d.jpg": "a tree"})
    assert [r["verdict"] for r in rows] == ["right", "wrong color or attribute",
                                            "not labelled (the label was for 'a dog')", "not labelled"]
    assert [r["categories"] for r in rows] == [[], ["wrong color or attribute"], None, None]
    assert rows[1]["note"] == "red" and rows[2]["note"] == ""


def test_relabel_draft_keeps_the_committed_images_with_the_new_captions():
    committed = [_entry(2), _entry(1)]
    fresh = [{"image_id": i, "file_name": f"{i}.jpg", "caption": f"new {i}", "cider": float(i)} for i in (1, 2, 3)]
    draft = relabel_draft(committed, fresh)
    assert draft == [{"image_id": 2, "file_name": "2.jpg", "caption": "new 2", "cider": 2.0, "categories": [], "note": ""},
                     {"image_id": 1, "file_name": "1.jpg", "caption": "new 1", "cider": 1.0, "categories": [], "note": ""}]
    with pytest.raises(InputError, match="image 2 of the committed analysis is not among the 1 scored"):
        relabel_draft(committed, fresh[:1])


def test_compare_labels_counts_side_by_side_and_lists_changed_labels():
    before = _record(_entry(1), _entry(2, ["wrong count", "generic caption"]), _entry(3, ["grammar slip"]))
    after = _record(_entry(3, ["grammar slip"], caption="new"),
                    _entry(1, ["references disagree / caption acceptable"], caption="a dog", cider=80.0, note="fixed"),
                    _entry(2, ["generic caption", "wrong count"]), checkpoint="new")
    change = compare_labels(before, after)
    assert change["n_images"] == 3 and change["captions_changed"] == 2
    was, now = change["columns"]["before: old"], change["columns"]["after: new"]
    assert list(change["columns"]) == ["before: old", "after: new"] and list(was) == list(CATEGORIES)
    assert (was["wrong object"], now["wrong object"]) == (1, 0) and was["wrong count"] == now["wrong count"] == 1
    assert (was["references disagree / caption acceptable"], now["references disagree / caption acceptable"]) == (0, 1)
    assert change["changed"] == [{"image_id": 1, "file_name": "1.jpg",
                                  "before": {"caption": "a cat", "cider": 1.5, "categories": ["wrong object"]},
                                  "after": {"caption": "a dog", "cider": 80.0, "note": "fixed",
                                            "categories": ["references disagree / caption acceptable"]}}]
    text = comparison_markdown(change).splitlines()
    assert text[0] == "| category | before: old (of 3) | after: new (of 3) | change |"
    assert "| wrong object | 1 | 0 | -1 |" in text
    assert "**1 of 3 images changed label** (2 captions changed)." in text
    assert text[-1] == ('- 1: wrong object → references disagree / caption acceptable; "a cat" (CIDEr 1.5) → '
                        '"a dog" (CIDEr 80.0). fixed')
    with pytest.raises(InputError, match="image 2 is only in the first"):
        compare_labels(before, _record(_entry(1), _entry(3)))
    with pytest.raises(InputError, match="image 4 is only in the second"):
        compare_labels(before, _record(_entry(1), _entry(2), _entry(3), _entry(4)))
    with pytest.raises(InputError, match="different splits: val vs test"):
        compare_labels(before, {**after, "split": "test"})


def test_counts_markdown_has_a_change_column_for_two_records():
    old, new = category_counts([_entry(1), _entry(2)]), category_counts([_entry(1, ["generic caption"]), _entry(2)])
    one = counts_markdown({"shipped": old}, 2).splitlines()
    assert one[0] == "| category | shipped (of 2) |" and one[2] == "| wrong object | 2 |" and len(one) == 2 + len(CATEGORIES)
    two = counts_markdown({"old": old, "new": new}, 2).splitlines()
    assert two[0].endswith("| change |") and two[2] == "| wrong object | 2 | 1 | -1 |"
    assert "| generic caption | 0 | 1 | +1 |" in two


def test_category_bars_draws_one_bar_per_category_and_record():
    counts = category_counts([_entry(1), _entry(2, ["wrong object", "grammar slip"])])
    ax = category_bars({"shipped": counts}, 2).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(CATEGORIES)
    assert sorted(p.get_width() for p in ax.patches) == [0] * 5 + [1, 2]
    ax = category_bars({"old": counts, "new": counts}, 2).axes[0]
    assert len(ax.patches) == 2 * len(CATEGORIES) and ax.get_legend() is not None
    with pytest.raises(ValueError):
        category_bars({}, 2)


def _committed_five():
    return [_entry(i, ["wrong object"] if k % 2 else ["generic caption", "wrong count"], note=f"n{i}")
            for k, i in enumerate(EXERCISE_IDS)]


def test_check_my_labels_reports_stubs_and_bad_labels_in_one_line():
    entries = _committed_five()

    def stub():
        raise NotImplementedError

    good = {i: ["wrong object"] for i in EXERCISE_IDS}
    cases = {"not written yet": stub, "raised ZeroDivisionError": lambda: 1 / 0,
             "expected a dict": lambda: [], f"has no labels for image {EXERCISE_IDS[-1]}": lambda: dict(list(good.items())[:4]),
             "labels image 1, not one of the five": lambda: {**good, 1: ["wrong object"]},
             f"gives image {EXERCISE_IDS[0]} a str": lambda: {**good, EXERCISE_IDS[0]: "wrong object"},
             f"gives image {EXERCISE_IDS[0]} no category": lambda: {**good, EXERCISE_IDS[0]: []},
             "'blurry', which is not a category": lambda: {**good, EXERCISE_IDS[1]: ["blurry"]}}
    for message, fn in cases.items():
        check = check_my_labels(fn, entries)
        assert not check.ok and message in check.message and "\n" not in check.message, check.message


def test_check_my_labels_says_how_far_the_labels_agree():
    entries = _committed_five()
    mine = {i: list(e["categories"]) for i, e in zip(EXERCISE_IDS, entries)}
    assert check_my_labels(lambda: mine, entries).message == "✓ Labelled: your labels match the committed ones on all 5 images."
    first = EXERCISE_IDS[0]  # committed: generic caption, wrong count
    mine = {**mine, first: ["Wrong  Count"], str(EXERCISE_IDS[1]): ["generic caption"]}  # case, spaces and str keys are fine
    check = check_my_labels(lambda: mine, entries)
    assert check.ok and "on 3 of 5 images, a shared category on 1, different on 1" in check.message
    assert f"image {first}: yours wrong count; the record's generic caption, wrong count" in check.message
    rows = label_agreement(mine, entries)
    assert [r["agreement"] for r in rows] == ["overlap", "differ", "same", "same", "same"] and rows[1]["note"] == f"n{EXERCISE_IDS[1]}"
    with pytest.raises(ValueError, match="must be in the committed record"):
        check_my_labels(lambda: mine, entries[1:])


def _notebook_definitions(name):
    nb = json.loads((ROOT / "notebooks/05_caption_your_images.ipynb").read_text())
    found = []
    for cell in (c for c in nb["cells"] if c["cell_type"] == "code"):
        source = "".join(cell["source"])
        found += [ast.get_source_segment(source, n) for n in ast.parse(source).body
                  if isinstance(n, ast.FunctionDef) and n.name == name]
    return found


def _load(source, name):
    namespace = {}
    exec(source, namespace)  # the notebook's own code, so CI checks what learners read
    return namespace[name]


def test_notebook05_labelling_stub_is_reported_and_its_solution_is_the_committed_labels():
    definitions = _notebook_definitions("my_labels")
    assert len(definitions) >= 2, "notebook 05: a stub and a solution of my_labels"
    entries = read_analysis(RESULTS / "val-worst50.json")["images"]
    stub = check_my_labels(_load(definitions[0], "my_labels"), entries)
    assert not stub.ok and "not written yet" in stub.message
    solution = check_my_labels(_load(definitions[-1], "my_labels"), entries)
    assert solution.ok and "match the committed ones on all 5" in solution.message, solution.message


def test_labels_are_checked_only_against_the_model_they_were_made_with(tmp_path):
    from captioning.decoder.ensemble import weights_digest
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"the weights")  # the digest reads bytes only
    path = tmp_path / "analysis.json"
    script = benchmark_script("error_analysis")
    for digest in (None, weights_digest(model)):  # no digest (older files) or the same model: checked
        path.write_text(json.dumps({**_record(_entry(1)), **({"model_digest": digest} if digest else {})}))
        script.check_model(path, str(model))
    path.write_text(json.dumps({**_record(_entry(1)), "model": "the first shipped ensemble (git abc)",
                                "model_digest": "0123456789abcdef"}))
    with pytest.raises(InputError, match=r"model_digest 0123456789abcdef is the first shipped ensemble \(git abc\), "
                                         r"not --checkpoint .*model \([0-9a-f]{16}\); pass that model") as err:
        script.check_model(path, str(model))
    assert "\n" not in str(err.value)


def test_the_committed_worst50_names_its_model():
    analysis = read_analysis(RESULTS / "val-worst50.json")
    assert len(analysis["model_digest"]) == 16 and "ecedf3a" in analysis["model"]


def test_compare_labels_names_each_record_by_its_model_description():
    before = {**_record(_entry(1)), "model": "the first ensemble"}
    after = {**_record(_entry(1, categories=["generic caption"]), checkpoint="same-name"), "model": "the second"}
    assert list(compare_labels(before, after)["columns"]) == ["before: the first ensemble", "after: the second"]


def test_the_sample_labels_and_the_latest_relabel_are_the_shipped_models():
    """Shipping a new model means relabelling: the demo photos' record and the newest relabelled
    worst-50 record carry the shipped weights' digest (and v1's record does not)."""
    from captioning.decoder.ensemble import weights_digest
    shipped = weights_digest()
    assert read_sample_labels(RESULTS / "samples.json")["model_digest"] == shipped
    assert read_analysis(sorted(RESULTS.glob("val-worst50-*.json"))[-1])["model_digest"] == shipped
    assert read_analysis(RESULTS / "val-worst50.json")["model_digest"] != shipped
