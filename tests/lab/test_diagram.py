"""lstm_cell_diagram: a Figure with the belt, the gates and the equations' symbols, for every
variant, whose labels do not overlap."""

import pytest
from matplotlib.figure import Figure

from captioning.lab.diagram import VARIANTS, gru_cell_diagram, lstm_cell_diagram


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_text()]


def _joined(fig: Figure) -> str:
    return " ".join(_texts(fig))


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_cell_is_labelled_with_the_gate_symbols(variant):
    fig = lstm_cell_diagram(variant)
    assert isinstance(fig, Figure)
    texts = _texts(fig)
    for symbol in ("σ", "tanh", "⊙", "+", "$c_{t-1}$", "$c_t$", "$h_{t-1}$", "$x_t$", "$h_t$",
                   "$i_t$", "$g_t$", "$o_t$"):
        assert symbol in texts, symbol
    assert "conveyor belt" in _joined(fig)
    assert r"$c_t = f_t \odot c_{t-1} + i_t \odot g_t$" in texts


def test_variants_differ_where_the_chapter_says():
    lstm, peep, cifg = (_joined(lstm_cell_diagram(v)) for v in VARIANTS)
    assert "$f_t$" in lstm and "p_f" not in lstm
    assert all(f"$p_{k}$" in peep for k in "fio") and r"p_o \odot c_{t}" in peep
    assert "$f_t = 1 - i_t$" in cifg and "1 − ·" in cifg
    assert _texts(lstm_cell_diagram("cifg")).count("σ") == 2  # no forget-gate layer
    with pytest.raises(ValueError, match="variant"):
        lstm_cell_diagram("gru")


@pytest.mark.parametrize("variant", [*VARIANTS, "gru"])
def test_labels_do_not_overlap(variant):
    fig = gru_cell_diagram() if variant == "gru" else lstm_cell_diagram(variant)
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer))
             for ax in fig.axes for t in ax.texts if t.get_text()]
    fig_box = fig.bbox
    for i, (a, box_a) in enumerate(boxes):
        assert fig_box.x0 <= box_a.x0 and box_a.x1 <= fig_box.x1, a  # inside the figure
        assert fig_box.y0 <= box_a.y0 and box_a.y1 <= fig_box.y1, a
        for b, box_b in boxes[i + 1:]:
            assert not box_a.overlaps(box_b), (a, b)


def test_the_gru_drawing_has_one_state_two_gates_and_the_reset_after_form():
    texts = _texts(gru_cell_diagram())
    for symbol in ("$h_{t-1}$", "$h_t$", "$x_t$", "$z_t$", "$r_t$", "$n_t$", "$1 - z_t$", "$U_n h_{t-1}$"):
        assert symbol in texts, symbol
    assert texts.count("σ") == 2 and "tanh" in texts and "$c_t$" not in texts
    assert r"$h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$" in texts
    assert any(r"r_t \odot (U_n\, h_{t-1} + b_{hn})" in t for t in texts)
