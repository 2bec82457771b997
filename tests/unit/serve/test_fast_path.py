"""The fast path's request parsing: it takes only input the routes would accept as it is, read
into the same `SearchRequest`; everything else falls through (None) to the FastAPI routes.

That the fast path then answers exactly as the routes do is tests/integration/test_api.py's."""

from __future__ import annotations

import pytest

from infra_assets.serve.contract import SearchRequest
from infra_assets.serve.fast_path import request_from_body, request_from_query

FALLS_THROUGH = [  # query strings or bodies the fast path leaves to the route (which refuses or reads them)
    b"",
    b"k=3",
    b"q=a&q=b",
    b"q=a&k=0",
    b"q=a&k=2.5",
    b"q=a&k=+3",
    b"q=a&min_score=nan",
    b"q=a&min_score=1e999",
    b"q=a&mode=fuzzy",
    b"q=a&extra=1",
    b"q=%FF",
    "q=é".encode(),
    b"q=" + b"x" * 20_001,
]
BODIES_THROUGH = [
    b"",
    b"[]",
    b'"bees"',
    b"not json",
    b'{"query": "a", "query": "b"}',
    b'{"query": 5}',
    b'{"query": "a", "k": 2.0}',
    b'{"query": "a", "k": true}',
    b'{"query": "a", "min_score": NaN}',
    b'{"query": "a", "min_score": false}',
    b'{"query": "a", "sources": "demo"}',
    b'{"query": "a", "sources": [1]}',
    b'{"query": "a", "q": 1}',
    b'{"query": "a", "mode": null, "k": 0}',
]


def test_the_fast_path_takes_plainly_valid_input():
    assert request_from_query(b"q=hello+world&k=10&source=a&source=b&min_score=0.25&mode=dense") == SearchRequest(
        query="hello world", k=10, sources=["a", "b"], min_score=0.25, mode="dense"
    )
    assert request_from_query(b"q=%E2%9C%93") == SearchRequest(
        query="\u2713", k=5, sources=None, min_score=None, mode=None
    )
    assert request_from_body(b'{"query": "bees", "k": 7, "min_score": 1, "mode": null}') == SearchRequest(
        query="bees", k=7, sources=None, min_score=1, mode=None
    )


@pytest.mark.parametrize("query_string", FALLS_THROUGH, ids=lambda v: repr(v)[:40])
def test_a_query_string_that_is_not_plainly_valid_falls_through(query_string):
    assert request_from_query(query_string) is None, query_string


@pytest.mark.parametrize("body", BODIES_THROUGH, ids=lambda v: repr(v)[:40])
def test_a_body_that_is_not_plainly_valid_falls_through(body):
    assert request_from_body(body) is None, body
