"""A LangChain retriever over the index (extra `[langchain]`).

```python
from infra_assets.integrations.langchain import InfraAssetsRetriever
retriever = InfraAssetsRetriever(url="http://127.0.0.1:8000", api_key=None, k=4, sources=["docs"])
for doc in retriever.invoke("how do I rotate a key"):
    print(doc.metadata["score"], doc.metadata["url"])
```
Each `Document` is one passage: `page_content` its text, `metadata` its url, title, source,
chunk, page, fetched_at, changed_at, score, id and index_version. Options given to `invoke`
(`k=`, any `/search` filter) override the retriever's own for that call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import PrivateAttr

from .backend import FILTERS, Backend, as_list, metadata


class InfraAssetsRetriever(BaseRetriever):
    """Passages of the fresh web index, best first, with their scores and provenance."""

    url: str | None = None
    api_key: str | None = None
    data_dir: str | Path | None = None
    k: int = 5
    sources: list[str] | None = None
    min_score: float | None = None
    mode: Literal["hybrid", "dense", "sparse"] | None = None
    changed_since: str | None = None
    fetched_since: str | None = None
    url_prefix: str | None = None
    tags: list[str] | None = None
    collapse: Literal["url"] | None = None
    timeout: float = 10
    _backend: Backend = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._backend = Backend(self.url, self.api_key, self.data_dir, self.timeout)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **overrides: Any
    ) -> list[Document]:
        options = {name: getattr(self, name) for name in FILTERS}
        options.update(overrides)
        k = options.pop("k", self.k)
        options["sources"], options["tags"] = as_list(options["sources"]), as_list(options["tags"])
        answer = self._backend.search(query, k, **options)
        return [
            Document(page_content=hit.get("text") or "", metadata=metadata(hit, answer), id=str(hit["id"]))
            for hit in answer["results"]
        ]

    def close(self) -> None:
        self._backend.close()
