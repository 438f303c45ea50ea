"""Figure targets: our own figures are recognised by their mark; anything else (an input, a file
that is not an image of the figure's format, a user's own image) is refused unless forced."""

import os

import pytest
from matplotlib.figure import Figure
from PIL import Image

from captioning.render.layout import save_figure
from captioning.render.targets import is_own_figure, target_problem


@pytest.mark.parametrize("name", ["fig.png", "fig.jpg"])
def test_saved_figures_carry_the_mark(tmp_path, name):
    path = save_figure(Figure(figsize=(1, 1)), tmp_path / name)
    assert is_own_figure(path) and target_problem(path, {os.path.realpath(path)}) is None
    photo = tmp_path / f"photo{path.suffix}"
    Image.new("RGB", (8, 8)).save(photo)
    assert not is_own_figure(photo)


def test_inputs_and_other_kinds_of_file_are_refused_unless_forced(tmp_path):
    photo, notes, fake = tmp_path / "a.jpg", tmp_path / "notes.png", tmp_path / "b.png"
    Image.new("RGB", (8, 8)).save(photo)
    notes.write_text("my notes")
    Image.new("RGB", (8, 8)).save(fake, format="JPEG")  # a JPEG named .png
    inputs = {os.path.realpath(photo)}
    assert target_problem(photo, inputs).startswith(f"{photo} is one of the input images; ")
    assert target_problem(notes, inputs).startswith(f"{notes} exists and is not a PNG image; ")
    assert target_problem(fake, inputs).startswith(f"{fake} exists and is not a PNG image; ")
    assert all("force it" in target_problem(p, inputs) for p in (photo, notes, fake))
    assert all(target_problem(p, inputs, force=True) is None for p in (photo, notes, fake))
    assert target_problem(tmp_path / "new.png", inputs) is None


def test_a_users_own_image_of_the_right_format_is_refused_unless_forced(tmp_path):
    other = tmp_path / "myphoto.png"  # a PNG, not an input: still the user's (issue 29)
    Image.new("RGB", (8, 8)).save(other)
    assert target_problem(other, set()).startswith(f"{other} was not made by captioning")
    assert target_problem(other, set(), force=True) is None
