"""Which activations cost the most in int8: ONNX Runtime's QDQ debugging tools
(onnxruntime.quantization.qdq_loss_debug) run the fp32 graph and its QDQ model on the same
inputs, and every quantized activation is scored by its signal-to-quantization-noise ratio (SQNR,
dB; lower = worse). The worst few are then kept in fp32 (QuantSettings.fp32_nodes) instead of
guessing the stem and head (fp32_ends).

Both models run unoptimized (ONNX Runtime's debugging default), so Q/DQ are simulated in float:
the ranking does not depend on the CPU's int8 kernels (VNNI or not). It does depend on the
ranges and on reduce_range (7-bit weights without VNNI), like the model it ranks."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .int8 import quantized_op_types

REMOVABLE = ("Clip", "Relu")  # activations the quantizer folds into the convolution before them


@dataclass(frozen=True)
class LayerError:
    """One quantized activation: its own Q/DQ's SQNR (`sqnr_db`, the ranking key), the SQNR of
    the QDQ model's tensor against the fp32 model's (`model_sqnr_db`, error accumulated up to
    here), and the nodes that keep it in fp32 when excluded (its producer and its consumers)."""

    tensor: str
    sqnr_db: float
    model_sqnr_db: float
    nodes: tuple[str, ...]


def _squares(x: Sequence[np.ndarray], y: Sequence[np.ndarray]) -> tuple[float, float]:
    """(|x|^2, |x - y|^2) over a list of batches: summed over batches, they give the SQNR of all
    of them together, as ORT's compute_signal_to_quantization_noice_ratio of the concatenation."""
    a = np.concatenate([np.ravel(v) for v in x]).astype(np.float64)
    b = np.concatenate([np.ravel(v) for v in y]).astype(np.float64)
    return float(a @ a), float((a - b) @ (a - b))


def sqnr_db(signal: float, noise: float) -> float:
    """20 log10(|x| / |x - y|) from squared norms, floored at float eps like ORT's."""
    eps = float(np.finfo(float).eps)
    return 20 * math.log10(max(math.sqrt(signal), eps) / max(math.sqrt(noise), eps))


def tensor_nodes(model, tensor: str, ops: Iterable[str] | None = None) -> tuple[str, ...]:
    """Nodes of an fp32 graph to exclude from quantization so that `tensor` gets no Q/DQ: its
    producer (with the convolution a Clip/Relu producer is folded into) and all its consumers,
    among the operator types the quantizer handles."""
    ops = set(quantized_op_types() if ops is None else ops)
    producer = {out: node for node in model.graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found = list(consumers.get(tensor, []))
    node = producer.get(tensor)
    if node is not None:
        found.append(node)
        folded = producer.get(node.input[0]) if node.op_type in REMOVABLE and node.input else None
        if folded is not None and len(consumers.get(node.input[0], [])) == 1:
            found.append(folded)
    return tuple(sorted({n.name for n in found if n.op_type in ops and n.name}))


def folded_activations(fp32_model, qdq_model) -> dict[str, tuple[float | None, float | None]]:
    """{tensor: (low, high)} for the Clip/Relu outputs the quantizer folded into the convolution
    before them (uint8 activations): in the QDQ model the Q/DQ itself clamps, so its input is the
    convolution's raw output and its own error is measured against that clamped like the fp32 op."""
    from onnx import numpy_helper

    consts = {i.name: numpy_helper.to_array(i) for i in fp32_model.graph.initializer}
    consts.update({n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in fp32_model.graph.node
                   if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"})
    made_by = {out: node.op_type for node in qdq_model.graph.node for out in node.output}
    found = {}
    for node in fp32_model.graph.node:
        if node.op_type not in REMOVABLE or made_by.get(node.output[0]) in (None, node.op_type):
            continue
        if node.op_type == "Relu":
            found[node.output[0]] = (0.0, None)
            continue
        attrs = {a.name: a.f for a in node.attribute}  # Clip before opset 11 keeps its bounds here
        inputs = [*node.input, "", ""]
        found[node.output[0]] = tuple(float(consts[name]) if name in consts else attrs.get(key)
                                      for name, key in ((inputs[1], "min"), (inputs[2], "max")))
    return found


def _augment(model: Path, folder: Path) -> str:
    """A copy of the model whose every float tensor is also a graph output (ORT's debug helper)."""
    from onnxruntime.quantization.qdq_loss_debug import modify_model_output_intermediate_tensors

    out = folder / f"{model.stem}.debug.onnx"
    modify_model_output_intermediate_tensors(str(model), str(out))
    return str(out)


def activation_squares(fp32: Path, qdq: Path, batches: Iterable[np.ndarray],
                       input_name: str = "pixels") -> dict[str, dict[str, tuple[float, float]]]:
    """{tensor: {"qdq_err": (|x|^2, |noise|^2), "xmodel_err": ...}} summed over the batches, one
    batch in memory at a time (every activation of both models is held while a batch runs)."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_activation_error,
        create_activation_matching,
    )

    folded = folded_activations(onnx.load(str(fp32), load_external_data=False),
                                onnx.load(str(qdq), load_external_data=False))
    totals: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        float_model, qdq_model = _augment(fp32, Path(tmp)), _augment(qdq, Path(tmp))
        for batch in batches:
            feed = [{input_name: np.ascontiguousarray(batch, dtype=np.float32)}]
            match = create_activation_matching(collect_activations(qdq_model, iter(feed)),
                                               collect_activations(float_model, iter(feed)))
            match = {name: m for name, m in match.items() if m.get("float")}  # the error needs both
            for name in folded.keys() & match.keys():
                match[name]["pre_qdq"] = [np.clip(x, *folded[name]) for x in match[name]["pre_qdq"]]
            for name, errors in compute_activation_error(match, err_func=_squares).items():
                old = totals.setdefault(name, {key: (0.0, 0.0) for key in errors})
                for key, (signal, noise) in errors.items():
                    old[key] = (old[key][0] + signal, old[key][1] + noise)
    return totals


def rank_layers(fp32: str | Path, qdq: str | Path, batches: Iterable[np.ndarray],
                input_name: str = "pixels") -> list[LayerError]:
    """Every quantized activation of the QDQ model of `fp32` (the prepared graph it was quantized
    from), lowest SQNR of its own Q/DQ first, over a few calibration batches."""
    import onnx

    fp32, qdq = Path(fp32), Path(qdq)
    totals = activation_squares(fp32, qdq, batches, input_name)
    if not totals:
        raise ValueError(f"{qdq}: no quantized activation matches {fp32} (not its QDQ model, or no batches)")
    graph = onnx.load(str(fp32), load_external_data=False)
    rows = [LayerError(name, sqnr_db(*errors["qdq_err"]), sqnr_db(*errors["xmodel_err"]), tensor_nodes(graph, name))
            for name, errors in totals.items()]
    return sorted(rows, key=lambda r: (r.sqnr_db, r.tensor))


def top_nodes(ranking: Sequence[LayerError], k: int) -> tuple[str, ...]:
    """The nodes that keep the k costliest activations of a ranking in fp32."""
    return tuple(sorted({node for row in ranking[:k] for node in row.nodes}))
