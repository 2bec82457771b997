"""A LlamaIndex retriever over the index (extra `[llamaindex]`).

```python
from infra_assets.integrations.llamaindex import InfraAssetsRetriever
retriever = InfraAssetsRetriever(url="http://127.0.0.1:8000", k=4, changed_since="7d")
for found in retriever.retrieve("how do I rotate a key"):
    print(found.score, found.node.metadata["url"])
```
Each `NodeWithScore` is one passage: a `TextNode` (its text; metadata url, title, source, chunk,
page, fetched_at, changed_at, id, index_version) and the passage's score. Works as the
retriever of a `RetrieverQueryEngine` like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llama_index.core.callbacks import CallbackManager
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from .backend import Backend, as_list, metadata


class InfraAssetsRetriever(BaseRetriever):
    """Passages of the fresh web index, best first, with their scores and provenance."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        data_dir: str | Path | None = None,
        k: int = 5,
        sources: str | Sequence[str] | None = None,
        min_score: float | None = None,
        mode: str | None = None,
        changed_since: str | None = None,
        fetched_since: str | None = None,
        url_prefix: str | None = None,
        tags: str | Sequence[str] | None = None,
        collapse: str | None = None,
        timeout: float = 10,
        callback_manager: CallbackManager | None = None,
    ):
        self.backend = Backend(url, api_key, data_dir, timeout)
        self.k = k
        self.filters: dict[str, Any] = {
            "sources": as_list(sources),
            "min_score": min_score,
            "mode": mode,
            "changed_since": changed_since,
            "fetched_since": fetched_since,
            "url_prefix": url_prefix,
            "tags": as_list(tags),
            "collapse": collapse,
        }
        super().__init__(callback_manager=callback_manager)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        answer = self.backend.search(query_bundle.query_str, self.k, **self.filters)
        return [
            NodeWithScore(
                node=TextNode(id_=str(hit["id"]), text=hit.get("text") or "", metadata=metadata(hit, answer)),
                score=hit["score"],
            )
            for hit in answer["results"]
        ]

    def close(self) -> None:
        self.backend.close()
