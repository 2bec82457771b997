"""Deriving the int8 query graph of the packaged model, once, into a cache folder.

Three steps, with onnxruntime's and onnx's own tools: onnxruntime's basic graph optimisation
folds the packaged weights (int8 × scale) into float32 constants; `fuse_attention.fuse` turns
each layer's attention and GELU into onnxruntime's fused kernels (skipped, with a warning, if the
graph is not shaped as expected); then `quantize_dynamic` requantizes every weight matrix to int8
per output channel, activations quantized at run time. The file name carries the source
checksum, the recipe and the onnxruntime/onnx versions, so an upgrade derives anew; files are
written under a temporary name and renamed, so concurrent processes are safe.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

QUERY_GRAPH_RECIPE = 2  # bump when the derivation changes: 2 = attention and GELU fused


def writable_dir(folders: Sequence[Path]) -> Path:
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    raise OSError(f"no writable folder for derived model files among {list(folders)}")


def query_onnx_path(source: Path, source_sha256: str, config: Path, cache_dirs: Sequence[Path]) -> Path:
    """The int8 query graph derived from `source` (the packaged ONNX file), cached.

    `config` is the model's config.json (its number of attention heads); `cache_dirs` are tried
    in order, a read-only one used as it is when it already holds the file."""
    import onnx
    import onnxruntime as ort

    name = (
        f"minilm-l6-query-int8-{source_sha256[:12]}-r{QUERY_GRAPH_RECIPE}"
        f"-ort{ort.__version__}-onnx{onnx.__version__}.onnx"
    )
    for folder in cache_dirs:  # a read-only cache (an image built with it) is used as is
        if (folder / name).is_file():
            return folder / name
    target = writable_dir(cache_dirs) / name
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        folded = Path(tmp) / "folded.onnx"
        fold_weights(source, folded)
        out = Path(tmp) / "query.onnx"
        try:
            fused = Path(tmp) / "fused.onnx"
            fuse_graph(folded, fused, config)
            quantize(fused, out)
            ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])  # loads: the kernels exist
        except Exception as exc:
            log.warning("query graph: attention not fused (%s); using the unfused graph", exc)
            quantize(folded, out)
        os.replace(out, target)
    return target


def fold_weights(source: Path, target: Path) -> None:
    """The packaged graph with its int8 weights × scales folded into float32 constants."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(target)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def fuse_graph(source: Path, target: Path, config: Path) -> None:
    import onnx

    from .fuse_attention import fuse

    heads = int(json.loads(config.read_text())["num_attention_heads"])
    model = onnx.load(str(source))
    fuse(model, num_heads=heads)
    onnx.save(model, str(target))


def quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = _DropRecommendation()
    logging.getLogger().addFilter(quiet)  # its "consider pre-processing" advice is for CNNs
    try:
        quantize_dynamic(source, target, op_types_to_quantize=["MatMul"], per_channel=True, weight_type=QuantType.QInt8)
    finally:
        logging.getLogger().removeFilter(quiet)


class _DropRecommendation(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()
