"""The search contract: `SearchRequest`'s strictness (shapes and types), `SearchRequest.of` for
Python callers, and `error_answer`, the one place a refusal gets its HTTP status."""

from __future__ import annotations

import json
import logging
import math

import pytest
from pydantic import ValidationError

from infra_assets.serve.contract import (
    MAX_K,
    BadQuery,
    NoIndex,
    SearchRequest,
    Unavailable,
    describe,
    error_answer,
)
from infra_assets.serve.shard_process import ShardHostError


def refused(**fields) -> str:
    """The one-line description of why `SearchRequest(**fields)` is refused."""
    with pytest.raises(ValidationError) as err:
        SearchRequest(**fields)
    return describe(err.value)


def test_defaults():
    request = SearchRequest(query="bees")
    assert (request.query, request.k, request.sources, request.min_score, request.mode) == ("bees", 5, None, None, None)


@pytest.mark.parametrize("k", ["5", True, 2.5, None, [5]], ids=repr)
def test_a_k_must_be_an_integer_as_it_is(k):
    assert refused(query="bees", k=k).startswith("k: ")
    with pytest.raises(ValidationError) as err:  # and as a JSON body says it
        SearchRequest.model_validate_json(json.dumps({"query": "bees", "k": k}))
    assert describe(err.value).startswith("k: ")


@pytest.mark.parametrize("query", [5, None, b"bees", ["bees"]], ids=repr)
def test_a_query_must_be_a_string(query):
    assert refused(query=query).startswith("query: ")


def test_unknown_fields_are_refused_by_name():
    assert refused(query="bees", q="bees") == "q: Extra inputs are not permitted"
    with pytest.raises(ValidationError, match="limit"):
        SearchRequest.model_validate({"query": "bees", "limit": 3})
    with pytest.raises(ValidationError, match="query"):
        SearchRequest.model_validate({"k": 3})  # and the query is required


def test_k_bounds():
    assert SearchRequest(query="bees", k=1).k == 1 and SearchRequest(query="bees", k=MAX_K).k == MAX_K == 100
    for k in (0, -1, MAX_K + 1, 1000):
        assert refused(query="bees", k=k).startswith("k: "), k


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "0.5", "high", False], ids=repr)
def test_min_score_must_be_a_finite_number(bad):
    assert refused(query="bees", min_score=bad).startswith("min_score: ")


def test_min_score_takes_any_finite_number():
    assert SearchRequest(query="bees", min_score=-1e3).min_score == -1e3
    assert SearchRequest(query="bees", min_score=0).min_score == 0.0
    with pytest.raises(ValidationError, match="min_score"):
        SearchRequest.model_validate_json(b'{"query": "bees", "min_score": NaN}')


def test_sources_and_mode_shapes():
    assert SearchRequest(query="bees", sources=["a", "b"]).sources == ["a", "b"]
    for sources in ("demo", [1], ("a",)):
        assert refused(query="bees", sources=sources).startswith("sources"), sources
    assert [SearchRequest(query="bees", mode=m).mode for m in ("hybrid", "dense", "sparse")] == [
        "hybrid",
        "dense",
        "sparse",
    ]
    assert refused(query="bees", mode="fuzzy").startswith("mode: ")


def test_a_request_is_immutable():
    request = SearchRequest(query="bees")
    with pytest.raises(ValidationError):
        request.k = 7


def test_describe_names_the_problem_in_one_line():
    with pytest.raises(ValidationError) as err:
        SearchRequest.model_validate_json(b"not json")
    assert describe(err.value).startswith("body is not valid JSON")
    with pytest.raises(ValidationError) as err:
        SearchRequest.model_validate({"query": 5, "k": 0})
    assert describe(err.value) == "query: Input should be a valid string; k: Input should be greater than or equal to 1"


# -- SearchRequest.of: Python arguments ---------------------------------------------------------


def test_of_reads_python_arguments():
    assert SearchRequest.of("bees") == SearchRequest(query="bees")
    assert SearchRequest.of("bees", 3, "demo", 0.2, "dense") == SearchRequest(
        query="bees", k=3, sources=["demo"], min_score=0.2, mode="dense"
    )  # one source name: a list of one
    assert SearchRequest.of("bees", sources=("a", "b")).sources == ["a", "b"]
    assert SearchRequest.of("bees", sources=[]).sources is None  # no filter


@pytest.mark.parametrize(
    "args, word",
    [
        (("bees", "many"), "k"),
        (("bees", 0), "k"),
        (("bees", MAX_K + 1), "k"),
        (("bees", "5"), "k"),
        (("bees", 5, None, math.nan), "min_score"),
        (("bees", 5, None, "high"), "min_score"),
        (("bees", 5, None, None, "fuzzy"), "mode"),
        ((5,), "query"),
        ((None,), "query"),
        (("bees", 5, [1]), "sources"),
    ],
    ids=repr,
)
def test_of_turns_bad_arguments_into_bad_query(args, word):
    with pytest.raises(BadQuery) as err:
        SearchRequest.of(*args)
    assert str(err.value).startswith(f"{word}") and "Traceback" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no pydantic chain for callers


# -- error_answer: the status of each refusal ---------------------------------------------------


def test_error_answer_gives_each_refusal_its_status(caplog):
    caplog.set_level(logging.DEBUG)
    assert error_answer(BadQuery("query must not be empty")) == (400, {"detail": "query must not be empty"})
    assert error_answer(NoIndex("no index has been published yet")) == (
        503,
        {"detail": "no index has been published yet"},
    )
    # Unavailable (a shard process down) is a 503 to retry; its own message, naming paths, is logged only.
    for exc in (
        Unavailable("chunks_v2-x: the shard process failed again"),
        ShardHostError("chunks_v2-x: the shard process is down and failed to restart"),
    ):
        status, body = error_answer(exc)
        assert status == 503 and body == {"detail": "the index is temporarily unavailable; retry shortly"}
        assert str(exc) in caplog.text
    # Anything else is an internal error: a 500 that says nothing of its cause.
    for exc in (RuntimeError("secret /srv/path"), ValueError("not a BadQuery"), KeyError("k"), OSError("disk")):
        assert error_answer(exc) == (500, {"detail": "internal error"})
