"""The LangChain and LlamaIndex retrievers, with the real `langchain-core` and `llama-index-core`,
against the API over real HTTP (with a key) and in-process on the same published index."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda
from llama_index.core.schema import NodeWithScore, QueryBundle

from infra_assets.client import ApiError
from infra_assets.integrations.langchain import InfraAssetsRetriever as LangChainRetriever
from infra_assets.integrations.llamaindex import InfraAssetsRetriever as LlamaIndexRetriever
from tests.support.servers import project_api

KEY = "retriever-test-key"


@pytest.fixture(scope="module")
def api(indexed):
    server = project_api(indexed[0], KEY)
    yield server
    server.stop()


def test_langchain_retriever_over_http_and_in_process(api, indexed):
    project, site, pages = indexed
    spec = pages[4]
    retriever = LangChainRetriever(url=api.url, api_key=KEY, k=3)
    docs = retriever.invoke(spec.query)
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    top = docs[0]
    assert top.metadata["url"] == f"{site.url}{spec.path}" and top.metadata["title"] == spec.title
    assert top.metadata["source"] == "demo" and top.metadata["changed_at"] and top.metadata["index_version"]
    assert top.page_content and top.id == top.metadata["id"]
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    # Per-call options and filters; the retriever is a Runnable like any other.
    assert len(retriever.invoke(spec.query, k=1)) == 1
    prefix = f"{site.url}{spec.path}"
    assert {d.metadata["url"] for d in retriever.invoke(pages[0].query, url_prefix=prefix)} == {prefix}
    chain = retriever | RunnableLambda(lambda found: [d.metadata["url"] for d in found])
    assert chain.invoke(spec.query)[0] == prefix
    assert retriever.invoke(spec.query, sources=["demo"], collapse="url", k=5)
    with pytest.raises(ApiError, match="unknown source"):
        retriever.invoke(spec.query, sources=["nope"])
    with pytest.raises(ApiError) as refused:
        LangChainRetriever(url=api.url, api_key="wrong").invoke(spec.query)
    assert refused.value.status == 401
    # In-process, on the same published index: the same passages.
    local = LangChainRetriever(data_dir=project.data_dir, k=3)
    assert [d.metadata["id"] for d in local.invoke(spec.query)] == [d.metadata["id"] for d in docs]
    local.close()
    with pytest.raises(ValueError, match="url="):
        LangChainRetriever()


def test_llamaindex_retriever_over_http_and_in_process(api, indexed):
    project, site, pages = indexed
    spec = pages[6]
    retriever = LlamaIndexRetriever(api.url, KEY, k=4, sources="demo")
    found = retriever.retrieve(spec.query)
    assert len(found) == 4 and all(isinstance(n, NodeWithScore) for n in found)
    assert found[0].node.metadata["url"] == f"{site.url}{spec.path}"
    assert found[0].score == found[0].node.metadata["score"] and found[0].node.get_content()
    assert [n.score for n in found] == sorted((n.score for n in found), reverse=True)
    assert retriever.retrieve(QueryBundle(spec.query))[0].node.node_id == found[0].node.node_id
    assert LlamaIndexRetriever(api.url, KEY, changed_since="2999-01-01T00:00:00Z").retrieve(spec.query) == []
    dense = LlamaIndexRetriever(api.url, KEY, k=2, mode="dense", min_score=0.2).retrieve(spec.query)
    assert dense and all(n.score >= 0.2 for n in dense)
    local = LlamaIndexRetriever(data_dir=project.data_dir, k=4, sources="demo")
    assert [n.node.node_id for n in local.retrieve(spec.query)] == [n.node.node_id for n in found]
    local.close()
