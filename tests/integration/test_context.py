"""`POST /context` and the MCP tool `get_context` on the demo index built by the real pipeline:
the budget holds for any question and budget (property test, the served model's tokenizer), and
every passage returned is cited in the text."""

from __future__ import annotations

import asyncio

import httpx2
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from infra_assets.serve.context import ContextRequest, build_context
from infra_assets.serve.http import create_app
from infra_assets.serve.searcher import Searcher
from tests.support.servers import Api

WORDS = st.sampled_from(
    [
        "concrete",
        "roman",
        "bees",
        "dance",
        "honey",
        "lighthouse",
        "lamp",
        "tide",
        "pool",
        "compost",
        "heat",
        "bread",
        "sourdough",
        "yeast",
        "why",
        "how",
        "when",
        "does",
        "the",
        "a",
        "of",
        "water",
        "salt",
        "lime",
        "volcanic",
        "ash",
        "starter",
        "flour",
        "keeper",
        "lens",
    ]
)


@pytest.fixture(scope="module")
def searcher(indexed):
    s = Searcher(indexed[0].data_dir / "serving")
    yield s
    s.close()


def count(searcher, text: str) -> int:
    return len(searcher.tokenizer().encode(text, add_special_tokens=False).ids)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(WORDS, min_size=1, max_size=12), budget=st.integers(32, 3000), per_doc=st.integers(1, 3))
def test_the_budget_holds_and_every_passage_is_cited(searcher, words, budget, per_doc):
    answer = build_context(searcher, ContextRequest(query=" ".join(words), max_tokens=budget, per_document=per_doc))
    assert answer.tokens == (count(searcher, answer.text) if answer.text else 0) <= budget
    texts = [p.text for p in answer.passages]
    assert len(texts) == len(set(texts))  # no passage twice
    per_url: dict[str, int] = {}
    for p in answer.passages:
        assert f"[{p.n}] " in answer.text and p.url in answer.text and p.text in answer.text
        per_url[p.url] = per_url.get(p.url, 0) + 1
    assert all(n <= per_doc for n in per_url.values())
    assert [p.n for p in answer.passages] == list(range(1, len(answer.passages) + 1))


def test_context_over_http_and_mcp(indexed, searcher):
    project, _, pages = indexed
    api = Api(create_app(searcher, data_dir=project.data_dir, sources_path=project.sources_path, api_key=""))
    try:
        spec = pages[3]
        r = requests.post(f"{api.url}/context", json={"query": spec.query, "max_tokens": 600}, timeout=10)
        assert r.status_code == 200
        body = r.json()
        assert body["tokens"] <= 600 and body["passages"]
        assert body["passages"][0]["title"] == spec.title and body["passages"][0]["changed_at"]
        assert spec.title in body["text"]
        big = requests.post(f"{api.url}/context", json={"query": spec.query, "max_tokens": 4000}, timeout=10).json()
        assert len(big["passages"]) > len(body["passages"]) and big["tokens"] <= 4000
        for bad in ({"query": spec.query, "max_tokens": 10}, {"query": spec.query, "max_tokens": "600"}, {"q": "x"}):
            r = requests.post(f"{api.url}/context", json=bad, timeout=10)
            assert r.status_code == 422, r.text
        r = requests.post(f"{api.url}/context", json={"query": "  "}, timeout=10)
        assert r.status_code == 400 and "empty" in r.json()["detail"]

        async def call():
            http = httpx2.AsyncClient(timeout=30)
            async with Client(streamable_http_client(f"{api.url}/mcp", http_client=http)) as client:
                return await client.call_tool("get_context", {"query": spec.query, "max_tokens": 500})

        result = asyncio.run(call())
        assert not result.is_error
        assert result.structured_content["tokens"] <= 500 and spec.title in result.content[0].text
    finally:
        api.stop()
