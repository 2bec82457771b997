"""`/search` requests with plainly valid input, answered beneath the framework's layers.

On a distinct query the event loop is the API's one serial resource, and FastAPI's layers
(routing, parameter solving, response validation, the thread-pool hop through anyio) took more of
it than the HTTP itself (BENCHMARKS.md, "Less work per distinct request"). This path reads the
parameters or the JSON body into the same `SearchRequest` the routes use, runs the search in its
own thread pool and writes the same `SearchResponse` JSON.

It only ever takes requests that `SearchRequest` accepts as they are (nothing unknown or
repeated, no query past the length the routes would refuse); everything else (every malformed
request, so every 422) goes on to the FastAPI routes untouched, body included, and is answered
exactly as they answer it. Refusals from the search itself (400, 503) and internal errors are
shaped by `contract.error_answer`, as the app's exception handlers shape them. It sits inside
`Guard`: keys and body caps apply first.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .contract import MAX_QUERY_CHARS, SearchRequest, SearchResponse, error_answer
from .searcher import Searcher

SEARCH_THREADS = 40  # searches run at once on the fast path: as many as FastAPI's thread pool
PLAIN_K = re.compile(r"[0-9]{1,3}")
PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_SERIALIZE = SearchResponse.__pydantic_serializer__.to_json


class FastSearch:
    """ASGI middleware answering plainly valid `/search` requests itself."""

    def __init__(self, app: ASGIApp, searcher: Searcher):
        self.app = app
        self.searcher = searcher
        self.pool = ThreadPoolExecutor(SEARCH_THREADS, thread_name_prefix="search")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/search":
            await self.app(scope, receive, send)
            return
        request = None
        if scope["method"] == "GET":
            request = request_from_query(scope.get("query_string", b""))
        elif scope["method"] == "POST" and _is_json(scope):
            body, receive = await read_body(receive)
            request = request_from_body(body)
        if request is None:
            await self.app(scope, receive, send)
            return
        try:
            # run_in_executor does not carry context variables: the key's scope (keys.SCOPE) goes explicitly.
            context = contextvars.copy_context()
            answer = await asyncio.get_running_loop().run_in_executor(
                self.pool, context.run, self.searcher.query, request
            )
            status, payload = 200, _SERIALIZE(answer)
        except Exception as exc:
            status, refusal = error_answer(exc)
            payload = json.dumps(refusal).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def request_from_query(query_string: bytes) -> SearchRequest | None:
    """The request a GET query string makes, or None unless it is plainly valid."""
    try:
        pairs = parse_qsl(query_string.decode("ascii"), keep_blank_values=True, errors="strict")
    except (UnicodeError, ValueError):
        return None
    data: dict[str, Any] = {}
    sources: list[str] = []
    for key, value in pairs:
        if key == "q" and "query" not in data:
            data["query"] = value
        elif key == "k" and "k" not in data and PLAIN_K.fullmatch(value):
            data["k"] = int(value)
        elif key == "source":
            sources.append(value)
        elif key == "min_score" and "min_score" not in data and PLAIN_NUMBER.fullmatch(value):
            data["min_score"] = float(value)
        elif key == "mode" and "mode" not in data:
            data["mode"] = value
        else:
            return None
    if sources:
        data["sources"] = sources
    return _plain(data)


def request_from_body(body: bytes) -> SearchRequest | None:
    """The request a POST body makes, or None unless it is a JSON object the route would accept."""
    try:
        data = json.loads(body, object_pairs_hook=_no_repeats)
    except (ValueError, RecursionError):
        return None
    return _plain(data) if isinstance(data, dict) else None


def _plain(data: dict[str, Any]) -> SearchRequest | None:
    query = data.get("query")
    if isinstance(query, str) and len(query) > MAX_QUERY_CHARS:
        return None  # the routes decide between 400 and 422 for an overlong query
    try:
        return SearchRequest.model_validate(data)
    except ValidationError:
        return None


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a repeated key")  # the route decides what a repeated field means
    return dict(pairs)


def _is_json(scope: Scope) -> bool:
    content_type = Headers(scope=scope).get("content-type", "")
    return content_type.split(";")[0].strip().lower() == "application/json"


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out an already-read body once, then defers (e.g. to disconnect)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def again() -> Message:
        return pending.pop() if pending else await receive()

    return again


async def read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body (`Guard` has capped it), and a `receive` that hands it out again."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    return bytes(body), replay(bytes(body), receive)
