"""The int8 query graph in an onnxruntime session of our own, beside fastembed's.

Our own session so its options can be chosen: onnxruntime's SkipLayerNormalization fusion is
turned off (faster here; BENCHMARKS.md, "The int8 query graph"). The tokenizer is fastembed's
for the same model (truncation and padding as for passages), and the pooling is fastembed's own
functions: the mean over real tokens, then L2 normalisation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DIM = 384


class QueryGraph:
    """Embeds queries with the derived int8 graph (`derive.query_onnx_path`)."""

    def __init__(self, path: Path, tokenizer: Any, threads: int | None):
        import onnxruntime as ort
        from fastembed.common.utils import mean_pooling, normalize

        self._pool: Callable[[np.ndarray, npt.NDArray[np.int64]], np.ndarray] = lambda hidden, mask: normalize(
            mean_pooling(hidden, mask)
        )

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=["SkipLayerNormFusion"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        if tokenizer is None:
            raise ValueError("the query graph needs the packaged tokenizer")
        self._tokenizer = tokenizer

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        # One `encode` per text, padded here: `encode_batch` hands even two short queries to the
        # tokenizer's thread pool, whose threads spin (BENCHMARKS.md, "The engine's search pool").
        encoded = [self._tokenizer.encode(text) for text in texts]
        width = max(len(e.ids) for e in encoded)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, e in enumerate(encoded):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = e.attention_mask
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feed)[0]
        return np.asarray(self._pool(hidden, mask), dtype=np.float32)
