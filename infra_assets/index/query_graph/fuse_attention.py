"""Attention and GELU of the packaged BERT graph as onnxruntime's fused kernels (query graph only).

The packaged MiniLM export spells each layer's self-attention as ~25 small nodes (reshapes,
transposes, a scaled score product, an additive mask, softmax, NaN guards) and GELU as five;
onnxruntime's own transformer optimizer does not recognise this export's pattern (it fused no
attention). For a short query those small kernels cost as much as the matrix products. `fuse`
rewrites each layer's attention into one `com.microsoft.MultiHeadAttention` (the same projections
in, the same context out, the padding mask as its key padding mask) and each GELU into
`com.microsoft.Gelu`, then drops what no longer feeds the output. In float the fused graph gives
the packaged graph's vectors (tests/unit/index/test_query_graph.py); the speed-up is measured by
bench/query_model.py (BENCHMARKS.md, "Less work per distinct request").

It works on this export's structure, found by its weight names (`…layer.N.attention.self.query.bias`
and friends), and checks what it relies on. Anything unexpected raises `FusionError`, and the
caller keeps the unfused graph: a fusion is an optimisation, never a requirement.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LAYER_BIAS = re.compile(r"^(?P<prefix>.*layer\.(?P<n>\d+)\.attention\.)self\.query\.bias$")
MASK_INPUT = "attention_mask"


class FusionError(ValueError):
    """The graph does not have the structure the fusion relies on."""


class _Graph:
    """Lookups over an ONNX graph: who produces a tensor, who consumes it, constant values."""

    def __init__(self, graph: onnx.GraphProto):
        self.graph = graph
        self.producer = {out: node for node in graph.node for out in node.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in graph.node:
            for name in node.input:
                self.consumers[name].append(node)
        self.initializers = {t.name: t for t in graph.initializer}

    def constant(self, name: str) -> np.ndarray | None:
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            return numpy_helper.to_array(node.attribute[0].t)
        return None

    def bias_add(self, bias: str) -> tuple[onnx.NodeProto, str]:
        """The Add that adds the initializer `bias`, and its other input (the product)."""
        adds = [n for n in self.consumers.get(bias, ()) if n.op_type == "Add"]
        if len(adds) != 1:
            raise FusionError(f"{bias}: expected one Add, found {len(adds)}")
        other = [name for name in adds[0].input if name != bias]
        return adds[0], other[0]

    def only_consumer(self, name: str, op_type: str) -> onnx.NodeProto:
        nodes = self.consumers.get(name, [])
        if len(nodes) != 1 or nodes[0].op_type != op_type:
            raise FusionError(f"{name}: expected a single {op_type} after it, found {[n.op_type for n in nodes]}")
        return nodes[0]


def _is(value: np.ndarray | None, expected: float) -> bool:
    return value is not None and value.size == 1 and math.isclose(float(value.reshape(())), expected, rel_tol=1e-5)


def fuse(model: onnx.ModelProto, num_heads: int) -> dict[str, int]:
    """Rewrite `model` in place; returns how many attentions and GELUs were fused.

    Raises `FusionError` (the model left unusable: work on a copy) when the structure differs.
    """
    g = _Graph(model.graph)
    if MASK_INPUT not in {i.name for i in model.graph.input}:
        raise FusionError(f"no {MASK_INPUT!r} input")
    added = []
    mask = "fused_key_padding_mask"
    added.append(helper.make_node("Cast", [MASK_INPUT], [mask], to=TensorProto.INT32, name="fused_mask_cast"))

    layers = sorted((int(m["n"]), m["prefix"]) for m in map(LAYER_BIAS.match, g.initializers) if m)
    if not layers:
        raise FusionError("no attention layers found by weight name")
    for n, prefix in layers:
        projections = []
        for part in ("query", "key", "value"):
            add, _ = g.bias_add(f"{prefix}self.{part}.bias")
            projections.append(add.output[0])
        # The attention's output projection: MatMul(context, W) + output.dense.bias. Its first
        # input is the context the small nodes compute; the fused node takes over from there.
        _, product = g.bias_add(f"{prefix}output.dense.bias")
        out_matmul = g.producer.get(product)
        if out_matmul is None or out_matmul.op_type != "MatMul":
            raise FusionError(f"layer {n}: the output projection is not a MatMul")
        context = f"fused_attention_{n}"
        added.append(
            helper.make_node(
                "MultiHeadAttention",
                [*projections, "", mask],
                [context],
                domain="com.microsoft",
                num_heads=num_heads,
                name=f"fused_mha_{n}",
            )
        )
        out_matmul.input[0] = context

    gelus = 0
    for erf in [node for node in model.graph.node if node.op_type == "Erf"]:
        # x * 0.5 * (1 + erf(x / sqrt(2))), as exported: Div, Erf, Add(1), Mul(0.5), Mul(x)
        div = g.producer.get(erf.input[0])
        if div is None or div.op_type != "Div" or not _is(g.constant(div.input[1]), math.sqrt(2)):
            raise FusionError(f"{erf.name}: not the exported GELU (x / sqrt 2)")
        x = div.input[0]
        plus_one = g.only_consumer(erf.output[0], "Add")
        half = g.only_consumer(plus_one.output[0], "Mul")
        times_x = g.only_consumer(half.output[0], "Mul")
        if (
            not any(_is(g.constant(i), 1.0) for i in plus_one.input)
            or not any(_is(g.constant(i), 0.5) for i in half.input)
            or x not in times_x.input
        ):
            raise FusionError(f"{erf.name}: not the exported GELU (constants)")
        out = times_x.output[0]
        times_x.output[0] = f"{out}_unfused"
        added.append(helper.make_node("Gelu", [x], [out], domain="com.microsoft", name=f"fused_gelu_{gelus}"))
        gelus += 1

    _keep_live_sorted(model.graph, list(model.graph.node) + added)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return {"attention": len(layers), "gelu": gelus}


def _keep_live_sorted(graph: onnx.GraphProto, nodes: list[onnx.NodeProto]) -> None:
    """Keep the nodes (and initializers) the outputs depend on, in topological order."""
    producer = {out: node for node in nodes for out in node.output}
    live: dict[int, object] = {}
    stack = [o.name for o in graph.output]
    while stack:
        node = producer.get(stack.pop())
        if node is None or id(node) in live:
            continue
        live[id(node)] = node
        stack.extend(name for name in node.input if name)
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    ordered, pending = [], [node for node in nodes if id(node) in live]
    while pending:
        waiting = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                waiting.append(node)
        if len(waiting) == len(pending):
            raise FusionError("the rewritten graph has a cycle or a missing input")
        pending = waiting
    used = {name for node in ordered for name in node.input}
    initializers = [t for t in graph.initializer if t.name in used]
    del graph.node[:]
    graph.node.extend(ordered)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
