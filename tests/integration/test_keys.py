"""Scoped API keys (`INFRA_ASSETS_KEYS_FILE`) over real HTTP, on an index of three sources built by
the real pipeline: every answer stays inside the key's sources (a property-based test over keys,
endpoints, queries and the sources asked for), rates give 429 with Retry-After to one key alone,
and a broken keys file never opens the API."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import httpx2
import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from infra_assets.demo import demo_pages, site_files
from infra_assets.demo.site import SiteServer
from infra_assets.serve.http import create_app
from infra_assets.serve.keys import KeyRing, KeysFileError, digest, parse_rate
from infra_assets.serve.searcher import Searcher
from tests.support.project import Project
from tests.support.servers import Api

NAMES = ("zalpha", "zbeta", "zgamma")
SCOPES = {
    "k_alpha": ["zalpha"],
    "k_alpha_beta": ["zalpha", "zbeta"],
    "k_gamma": ["zgamma"],
    "k_gone": ["zdelta"],  # a source the sources file does not have: the key sees nothing
    "k_slow": ["zalpha"],  # with a rate of 5/s
}


def keys_entries(tokens: dict[str, str], rates: dict[str, str] | None = None) -> list[dict]:
    entries = []
    for name, token in tokens.items():
        entry: dict = {"name": name, "sha256": digest(token)}
        if name in SCOPES:
            entry["sources"] = SCOPES[name]
        if rates and name in rates:
            entry["rate"] = rates[name]
        entries.append(entry)
    return entries


@pytest.fixture(scope="module")
def scoped(tmp_path_factory):
    """(api, tokens, docs): the API with a keys file; docs: source → {url: text} as served."""
    root = tmp_path_factory.mktemp("keys")
    pages = demo_pages(12)
    with SiteServer() as site, dg.DagsterInstance.ephemeral() as instance:
        site.set_pages(site_files(pages, site.url))
        project = Project(root, root / "data", root / "sources.yaml", instance)
        project.write_sources(
            [
                {"name": name, "kind": "page", "urls": [f"{site.url}{p.path}" for p in pages[i * 4 : i * 4 + 4]]}
                for i, name in enumerate(NAMES)
            ]
        )
        assert project.materialize().success
        tokens = {name: "ia_" + secrets.token_urlsafe(16) for name in [*SCOPES, "k_all", "k_slow"]}
        keys_file = root / "keys.yaml"
        keys_file.write_text(yaml.safe_dump({"keys": keys_entries(tokens, {"k_slow": "5/s"})}))
        searcher = Searcher(project.data_dir / "serving")
        api = Api(
            create_app(
                searcher,
                data_dir=project.data_dir,
                sources_path=project.sources_path,
                api_key="single-key",
                keys_file=keys_file,
            )
        )
        docs: dict[str, dict[str, str]] = {}
        for name in NAMES:
            for p in pages[NAMES.index(name) * 4 : NAMES.index(name) * 4 + 4]:
                url = f"{site.url}{p.path}"
                r = requests.get(f"{api.url}/documents", params={"url": url}, headers=auth(tokens["k_all"]), timeout=10)
                assert r.status_code == 200, r.text
                docs.setdefault(name, {})[url] = r.json()["text"]
        try:
            yield api, tokens, docs, pages
        finally:
            api.stop()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings(k) + strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def leaks(answer: object, allowed: set[str], docs: dict[str, dict[str, str]]) -> list[str]:
    """What in `answer` belongs to a source outside `allowed`: its name, a URL, or a passage."""
    inside = [text for name in allowed & set(docs) for text in docs[name].values()]
    found = []
    for text in strings(answer):
        for name in set(NAMES) - allowed:
            if re.search(rf"\b{name}\b", text):
                found.append(f"source name {name} in {text[:80]!r}")
            for url, body in docs[name].items():
                if url in text:
                    found.append(f"url {url}")
                # a passage: a long piece of an outside document's text that no allowed one has
                for piece in (p for p in text.split("\n") if len(p) >= 40):
                    if piece in body and not any(piece in other for other in inside):
                        found.append(f"passage of {name}: {piece[:60]!r}")
    return found


async def mcp_calls(url: str, token: str, calls: list[tuple[str, dict]]) -> list[object]:
    http = httpx2.AsyncClient(headers=auth(token), timeout=30)
    async with Client(streamable_http_client(url, http_client=http)) as client:
        out = []
        for tool, args in calls:
            result = await client.call_tool(tool, args)
            out.append({"text": [c.text for c in result.content], "structured": result.structured_content})
        return out


def ask(api, token: str, endpoint: str, query: str, asked: list[str], url: str) -> object:
    """One request to `endpoint` with `token`; the parsed answer (JSON, or the tool results)."""
    h = auth(token)
    base = api.url
    if endpoint == "search_get":
        r = requests.get(f"{base}/search", params={"q": query, "k": 10, "source": asked}, headers=h, timeout=30)
    elif endpoint == "search_post":
        body = {"query": query, "k": 10, "sources": asked or None}
        r = requests.post(f"{base}/search", json=body, headers=h, timeout=30)
    elif endpoint == "search_slow_path":  # a filter the fast path leaves to the FastAPI route
        params = {"q": query, "k": 10, "source": asked, "collapse": "url"}
        r = requests.get(f"{base}/search", params=params, headers=h, timeout=30)
    elif endpoint == "context":
        r = requests.post(f"{base}/context", json={"query": query, "sources": asked or None}, headers=h, timeout=30)
    elif endpoint == "sources":
        r = requests.get(f"{base}/sources", headers=h, timeout=30)
    elif endpoint == "changes":
        r = requests.get(f"{base}/changes", params={"source": asked}, headers=h, timeout=30)
    elif endpoint == "documents":
        r = requests.get(f"{base}/documents", params={"url": url}, headers=h, timeout=30)
    elif endpoint == "notify_unknown":
        name = asked[0] if asked else "zalpha"
        r = requests.post(f"{base}/sources/{name}/notify", json={"urls": []}, headers=h, timeout=30)
        if r.status_code == 200:  # in scope: a real notification (the test API runs no Dagster)
            return r.json()
    elif endpoint == "mcp":
        source = asked[0] if asked else None
        calls = [
            ("search_web", {"query": query, "k": 10, **({"source": source} if source else {})}),
            ("get_context", {"query": query, **({"source": source} if source else {})}),
            ("recent_changes", {"limit": 200, **({"source": source} if source else {})}),
            ("get_document", {"url": url}),
        ]
        return asyncio.run(mcp_calls(f"{base}/mcp", token, calls))
    else:
        raise AssertionError(endpoint)
    assert r.status_code in (200, 400, 404), (endpoint, r.status_code, r.text)
    return r.json()


ENDPOINTS = [
    "search_get",
    "search_post",
    "search_slow_path",
    "context",
    "sources",
    "changes",
    "documents",
    "notify_unknown",
    "mcp",
]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_no_answer_ever_leaves_the_keys_scope(scoped, data):
    api, tokens, docs, pages = scoped
    key = data.draw(st.sampled_from(sorted(set(SCOPES) - {"k_slow"})), label="key")
    endpoint = data.draw(st.sampled_from(ENDPOINTS), label="endpoint")
    query = data.draw(
        st.one_of(st.sampled_from([p.query for p in pages]), st.text(min_size=1, max_size=40).filter(str.strip)),
        label="query",
    )
    asked = data.draw(st.lists(st.sampled_from([*NAMES, "zdelta"]), max_size=2, unique=True), label="asked")
    url = data.draw(st.sampled_from([u for d in docs.values() for u in d]), label="url")
    allowed = set(SCOPES[key]) & set(NAMES)
    answer = ask(api, tokens[key], endpoint, query, asked, url)
    assert leaks(answer, allowed, docs) == [], (key, endpoint, asked)


def test_a_scoped_key_gets_its_sources_and_an_unscoped_one_all(scoped):
    api, tokens, docs, pages = scoped
    everything = ask(api, tokens["k_all"], "search_get", pages[5].query, [], "")
    assert {h["source"] for h in everything["results"]} >= {"zbeta"}
    single = requests.get(f"{api.url}/sources", headers=auth("single-key"), timeout=10).json()
    assert [s["name"] for s in single["sources"]] == list(NAMES)  # INFRA_ASSETS_API_KEY sees every source
    mine = ask(api, tokens["k_alpha_beta"], "search_get", pages[5].query, [], "")
    assert mine["results"] and {h["source"] for h in mine["results"]} <= {"zalpha", "zbeta"}
    assert mine["results"][0]["url"].endswith(pages[5].path)  # its own pages are found as before
    listed = ask(api, tokens["k_alpha_beta"], "sources", "", [], "")
    assert [s["name"] for s in listed["sources"]] == ["zalpha", "zbeta"]
    changes = ask(api, tokens["k_gamma"], "changes", "", [], "")
    assert changes["events"] and {e["source"] for e in changes["events"]} == {"zgamma"}
    # Outside the scope reads exactly like an unknown source, without naming it.
    refused = requests.get(
        f"{api.url}/search", params={"q": "x", "source": "zbeta"}, headers=auth(tokens["k_alpha"]), timeout=10
    )
    assert refused.status_code == 400 and "zbeta" not in refused.text and "zalpha" in refused.text
    outside = next(iter(docs["zbeta"]))
    r = requests.get(f"{api.url}/documents", params={"url": outside}, headers=auth(tokens["k_alpha"]), timeout=10)
    assert r.status_code == 404
    assert ask(api, tokens["k_gone"], "search_get", pages[1].query, [], "")["results"] == []
    assert ask(api, tokens["k_gone"], "changes", "", [], "")["events"] == []
    # Every endpoint but /healthz (and the hub callbacks) wants a key.
    assert requests.get(f"{api.url}/sources", timeout=10).status_code == 401
    assert requests.get(f"{api.url}/sources", headers=auth("wrong"), timeout=10).status_code == 401
    assert requests.get(f"{api.url}/healthz", timeout=10).status_code == 200


def test_over_its_rate_a_key_gets_429_and_no_other_key_is_slowed(scoped):
    api, tokens, _, pages = scoped
    params = {"q": pages[0].query, "k": 1}

    def call(token: str) -> tuple[int, str | None, float]:
        started = time.perf_counter()
        r = requests.get(f"{api.url}/search", params=params, headers=auth(token), timeout=30)
        return r.status_code, r.headers.get("retry-after"), time.perf_counter() - started

    with ThreadPoolExecutor(8) as pool:
        slow = list(pool.map(call, [tokens["k_slow"]] * 40))
        other = list(pool.map(call, [tokens["k_alpha"]] * 40))
    statuses = [s for s, _, _ in slow]
    assert statuses.count(200) >= 5 and statuses.count(429) >= 10, statuses
    assert all(after is not None and int(after) >= 1 for s, after, _ in slow if s == 429)
    assert [s for s, _, _ in other] == [200] * 40  # the other key, at the same moment, is never refused
    body = requests.get(f"{api.url}/search", params=params, headers=auth(tokens["k_slow"]), timeout=30)
    if body.status_code == 429:
        assert "rate" in body.json()["detail"]
    time.sleep(1.2)  # the bucket refills
    assert call(tokens["k_slow"])[0] == 200


def test_a_bad_keys_file_refuses_to_start_and_a_later_bad_edit_keeps_the_last_keys(tmp_path, indexed, caplog):
    path = tmp_path / "keys.yaml"
    path.write_text("keys:\n  - name: a\n    sha256: not-a-hash\n")
    with pytest.raises(KeysFileError, match=r"keys\[0\] \(a\).*64 hex"):
        KeyRing(None, path)
    with pytest.raises(KeysFileError, match=r"(?i)no such file"):
        KeyRing(None, tmp_path / "missing.yaml")
    token = "secret-token"
    path.write_text(yaml.safe_dump({"keys": [{"name": "a", "sha256": digest(token), "sources": ["demo"]}]}))
    ring = KeyRing(None, path)
    assert ring.lookup(f"Bearer {token}").sources == frozenset({"demo"})
    assert ring.lookup("Bearer other") is None and ring.lookup(token) is None
    time.sleep(0.01)
    path.write_text("keys: [")  # a broken edit
    assert ring.lookup(f"Bearer {token}") is not None  # the last good keys still hold
    assert "keeping the last good keys" in caplog.text
    token2 = "second"
    time.sleep(0.01)
    path.write_text(yaml.safe_dump({"keys": [{"name": "b", "sha256": digest(token2), "rate": "10/min"}]}))
    assert ring.lookup(f"Bearer {token}") is None and ring.lookup(f"Bearer {token2}").rate == parse_rate("10/min")


def test_metrics_need_an_unscoped_key(scoped):
    api, tokens, _, _ = scoped
    assert requests.get(f"{api.url}/metrics", headers=auth(tokens["k_alpha"]), timeout=10).status_code == 403
    r = requests.get(f"{api.url}/metrics", headers=auth(tokens["k_all"]), timeout=10)
    assert r.status_code == 200 and "infra_assets_source_documents" in r.text
    assert json.loads(json.dumps(r.headers.get("content-type"))).startswith("text/plain")
