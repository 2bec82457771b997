"""`/mcp` as an agent reaches it: the official SDK's streamable-HTTP client against the real API
(uvicorn on 127.0.0.1) over an index built by the real pipeline (`indexed`, tests/conftest.py)."""

from __future__ import annotations

import asyncio

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.servers import Api, project_api


def start_api(project, api_key: str = "") -> Api:
    return project_api(project, api_key)


@pytest.fixture(scope="module")
def api(indexed):
    server = start_api(indexed[0])
    yield server
    server.stop()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def list_and_call(url: str, calls: list[dict], headers: dict | None = None, statuses: list | None = None):
    async def record(response):
        if statuses is not None:
            statuses.append(response.status_code)

    http = httpx2.AsyncClient(headers=headers or {}, timeout=30, event_hooks={"response": [record]})
    transport = streamable_http_client(url, http_client=http)
    async with Client(transport) as client:
        tools = (await client.list_tools()).tools
        return tools, [await client.call_tool("search_web", args) for args in calls]


def test_search_web_is_listed_and_finds_the_page(api, indexed):
    spec = indexed[2][3]
    tools, [result] = run(list_and_call(f"{api.url}/mcp", [{"query": spec.query, "k": 3}]))
    tool = {t.name: t for t in tools}["search_web"]
    schema = tool.input_schema
    assert set(schema["properties"]) == {"query", "k", "source", "changed_since", "url_prefix", "tags"}
    assert schema["required"] == ["query"]
    assert schema["properties"]["k"]["type"] == "integer" and schema["properties"]["k"]["maximum"] == 100
    assert tool.output_schema and tool.annotations.read_only_hint

    assert not result.is_error, result.content
    found = result.structured_content
    assert len(found["results"]) == 3 and found["index_version"]
    top = found["results"][0]
    assert set(top) == {"url", "title", "text", "source", "score", "fetched_at", "changed_at"}
    assert top["title"] == spec.title and top["source"] == "demo" and top["url"].endswith(".html")
    assert top["fetched_at"] and top["changed_at"] and top["text"]
    text = result.content[0].text  # the readable form carries the same top hit
    assert spec.title in text and top["url"] in text


def test_search_web_answers_like_the_http_api(api, indexed):
    import requests

    spec = indexed[2][7]
    _, [result] = run(list_and_call(f"{api.url}/mcp", [{"query": spec.query, "k": 4, "source": "demo"}]))
    http = requests.get(f"{api.url}/search", params={"q": spec.query, "k": 4, "source": "demo"}, timeout=10).json()
    assert [h["url"] for h in result.structured_content["results"]] == [h["url"] for h in http["results"]]


@pytest.mark.parametrize(
    "args, word",
    [
        ({"query": "bees", "k": 0}, "k"),
        ({"query": "bees", "k": 500}, "k"),
        ({"query": "bees", "k": "many"}, "k"),
        ({"query": "   "}, "empty"),
        ({"query": "x" * 20_001}, "longer"),
        ({"query": "bees", "source": "nope"}, "nope"),
        ({"k": 3}, "query"),
    ],
    ids=["k=0", "k=500", "k not an int", "blank query", "20,001 characters", "unknown source", "no query"],
)
def test_bad_input_is_a_tool_error(api, args, word):
    _, [bad, good] = run(list_and_call(f"{api.url}/mcp", [args, {"query": "bees", "k": 1}]))
    assert bad.is_error and word in bad.content[0].text and "Traceback" not in bad.content[0].text
    assert not good.is_error  # the server is still fine after refusing


def test_mcp_needs_the_key_when_one_is_set(indexed):
    server = start_api(indexed[0], api_key="s3cret")
    try:
        tools, [result] = run(
            list_and_call(f"{server.url}/mcp", [{"query": "bees", "k": 1}], headers={"Authorization": "Bearer s3cret"})
        )
        assert "search_web" in {t.name for t in tools} and not result.is_error
        statuses: list[int] = []
        with pytest.raises(Exception):  # the SDK raises (inside an exception group) on the refusal
            run(list_and_call(f"{server.url}/mcp", [], headers={"Authorization": "Bearer wrong"}, statuses=statuses))
        assert statuses and set(statuses) == {401}
    finally:
        server.stop()
