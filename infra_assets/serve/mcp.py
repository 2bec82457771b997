"""`/mcp`: the search as a Model Context Protocol tool, `search_web`, for agents and chat clients.

Decisions:
- The official SDK (`mcp`) over the streamable HTTP transport, stateless with JSON responses:
  a tool call is one POST answered by one JSON document, so any number of API workers can serve
  it and no session state outlives a request.
- Mounted as a route of the FastAPI app itself, behind the same `Guard` (API key, body cap), and
  run by the app's lifespan; it shares the app's `Searcher`, so a query answers exactly what
  `/search` would.
- Bad input is a tool error the model can read (`is_error` with the message), never a protocol
  failure: the bounds are in the input schema and the `Searcher`'s own refusals pass through.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import FastAPI
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from ..changes.log import BadCursor, ChangeReader, parse_cursor
from .context import MAX_TOKENS, MIN_TOKENS, ContextRequest, build_context
from .contract import MAX_K, MAX_QUERY_CHARS, BadQuery, NoIndex, SearchRequest, Unavailable, describe
from .keys import SCOPE, ApiKey, no_document, scoped, sees, unknown_source
from .searcher import Searcher

MCP_PATH = "/mcp"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
INSTRUCTIONS = (
    "Search passages from web sources that are kept fresh by infra-assets. Each result carries its "
    "URL, title, source name and when the page was fetched and last changed; cite the URL."
)


class WebHit(BaseModel):
    url: str | None
    title: str | None
    text: str | None
    source: str | None
    score: float
    fetched_at: str | None = Field(description="When the page was last fetched (ISO 8601, UTC).")
    changed_at: str | None = Field(description="When the page's content last changed (ISO 8601, UTC).")


class WebResults(BaseModel):
    query: str
    index_version: str
    results: list[WebHit] = Field(description="Best first.")


def key_scope(ctx: Context | None, closed: bool) -> frozenset[str] | None:
    """The sources the tool call's key may see. The SDK runs tools outside the HTTP request's
    context, so the scope the `Guard` set is read again from the request it left the key on."""
    request = ctx.request_context.request if ctx is not None and ctx._request_context is not None else None
    state = getattr(request, "scope", {}).get("state") or {}
    key = state.get("api_key")
    if isinstance(key, ApiKey):
        return key.sources
    return frozenset() if closed else None


def as_text(found: WebResults) -> str:
    """The results as a model reads them: numbered, each with its provenance line."""
    if not found.results:
        return f"No passages found for {found.query!r}."
    lines = [f"{len(found.results)} passages for {found.query!r} (index {found.index_version}):"]
    for i, hit in enumerate(found.results, 1):
        lines.append(f"\n[{i}] {hit.title or '(untitled)'}\n{hit.url}")
        lines.append(f"source {hit.source}, score {hit.score:.3f}, fetched {hit.fetched_at}, changed {hit.changed_at}")
        lines.append(hit.text or "")
    return "\n".join(lines)


def mcp_server(searcher: Searcher, changes: ChangeReader | None = None, *, closed: bool = False) -> MCPServer:
    """An MCP server: `search_web` queries `searcher`; with the change log, `recent_changes`
    and `get_document` read it (as `/changes` and `/documents` do). Every tool answers within
    the scope of the key its request came with (`key_scope`); `closed`: keys are required, so a
    request whose key cannot be found sees nothing."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    server = MCPServer("infra-assets", version="0.1.0", instructions=INSTRUCTIONS)
    # MCPServer() calls logging.basicConfig(); logging belongs to the process (`serve`, `up`),
    # so undo it, or the process's own basicConfig would later silently do nothing.
    root.handlers[:], root.level = handlers, level

    @server.tool(
        annotations=ToolAnnotations(
            title="Search the web index", read_only_hint=True, idempotent_hint=True, open_world_hint=False
        )
    )
    def search_web(
        query: Annotated[str, Field(description=f"What to look for (at most {MAX_QUERY_CHARS} characters).")],
        k: Annotated[int, Field(ge=1, le=MAX_K, description="How many passages to return.")] = 5,
        source: Annotated[str | None, Field(description="Only this source (by name); default: all.")] = None,
        changed_since: Annotated[
            str | None, Field(description="Only pages changed after this (ISO 8601, or a duration back: 24h, 7d).")
        ] = None,
        url_prefix: Annotated[str | None, Field(description="Only pages whose URL starts with this.")] = None,
        tags: Annotated[list[str] | None, Field(description="Only sources carrying all these tags.")] = None,
        ctx: Context | None = None,
    ) -> Annotated[CallToolResult, WebResults]:
        """Search fresh web passages, best first, with each page's URL, title, source and dates."""
        with scoped(key_scope(ctx, closed)):
            try:
                response = searcher.query(
                    SearchRequest.of(
                        query,
                        k,
                        [source] if source else None,
                        changed_since=changed_since,
                        url_prefix=url_prefix,
                        tags=tags,
                    )
                )
            except (BadQuery, NoIndex) as exc:
                raise ToolError(str(exc)) from None
            except Unavailable:  # as /search's 503
                raise ToolError("the index is temporarily unavailable; retry shortly") from None
            # The same answer as /search, less what a model does not need (id, chunk).
            found = WebResults.model_validate(response.model_dump())
            return CallToolResult(
                content=[TextContent(type="text", text=as_text(found))],
                structured_content=found.model_dump(mode="json"),
            )

    @server.tool(
        annotations=ToolAnnotations(
            title="Context for a question", read_only_hint=True, idempotent_hint=True, open_world_hint=False
        )
    )
    def get_context(
        query: Annotated[str, Field(description=f"The question (at most {MAX_QUERY_CHARS} characters).")],
        max_tokens: Annotated[int, Field(ge=MIN_TOKENS, le=MAX_TOKENS, description="Token budget of the text.")] = 2000,
        source: Annotated[str | None, Field(description="Only this source (by name); default: all.")] = None,
        changed_since: Annotated[
            str | None, Field(description="Only pages changed after this (ISO 8601, or a duration back: 24h, 7d).")
        ] = None,
        ctx: Context | None = None,
    ) -> CallToolResult:
        """The best passages for a question, packed to a token budget, each with its citation
        (URL, title, when it changed): paste the text into the answer's context and cite [n]."""
        with scoped(key_scope(ctx, closed)):
            try:
                request = ContextRequest(
                    query=query,
                    max_tokens=max_tokens,
                    sources=[source] if source else None,
                    changed_since=changed_since,
                )
                answer = build_context(searcher, request)
            except (BadQuery, NoIndex) as exc:
                raise ToolError(str(exc)) from None
            except ValidationError as exc:
                raise ToolError(describe(exc)) from None
            except Unavailable:
                raise ToolError("the index is temporarily unavailable; retry shortly") from None
            return CallToolResult(
                content=[TextContent(type="text", text=answer.text or f"No passages found for {query!r}.")],
                structured_content=answer.model_dump(mode="json"),
            )

    if changes is not None:
        _change_tools(server, searcher, changes, closed)
    return server


def _change_tools(server: MCPServer, searcher: Searcher, changes: ChangeReader, closed: bool) -> None:
    read_only = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

    def served() -> str | None:
        try:
            return searcher.generation().version
        except NoIndex:
            return None

    @server.tool(annotations=read_only)
    def recent_changes(
        since: Annotated[
            str | None, Field(description="A cursor from a previous answer (next_cursor); omitted: the oldest kept.")
        ] = None,
        source: Annotated[str | None, Field(description="Only this source (by name); default: all.")] = None,
        limit: Annotated[int, Field(ge=1, le=200, description="Events at most.")] = 20,
        ctx: Context | None = None,
    ) -> CallToolResult:
        """What changed on the indexed web pages (added, changed, removed), oldest first, with the
        passages added and removed; pass next_cursor back as since to read on."""
        with scoped(key_scope(ctx, closed)):
            allowed = SCOPE.get()
            if source is not None and not sees(source):
                raise ToolError(unknown_source(source, sorted(allowed or ())))
            wanted = [source] if source else (sorted(allowed) if allowed is not None else None)
            try:
                events = (
                    []
                    if wanted == []  # a key that sees no source
                    else changes.read(parse_cursor(since), sources=wanted, limit=limit, served=served())[0]
                )
            except BadCursor as exc:
                raise ToolError(str(exc)) from None
            next_cursor = str(events[-1].id if events else parse_cursor(since))
            lines = [f"{len(events)} changes (next_cursor {next_cursor}):"]
            for e in events:
                lines.append(f"\n[{e.id}] {e.type} {e.url} ({e.source}, {e.changed_at}, index {e.index_version})")
                lines.extend(f"+ {p}" for p in e.added[:5])
                lines.extend(f"- {p}" for p in e.removed[:5])
            structured = {"events": [e.to_json() for e in events], "next_cursor": next_cursor}
            text = TextContent(type="text", text="\n".join(lines))
            return CallToolResult(content=[text], structured_content=structured)

    @server.tool(annotations=read_only)
    def get_document(
        url: Annotated[
            str, Field(min_length=1, max_length=4000, description="The document's URL, as results give it.")
        ],
        ctx: Context | None = None,
    ) -> CallToolResult:
        """The whole cleaned text of an indexed page or document, with its title, source and dates."""
        with scoped(key_scope(ctx, closed)):
            found = changes.document(url)
            if found is not None and not sees(found["source"]):  # the URL may also be a visible source's
                found = next(filter(None, (changes.document(url, s) for s in sorted(SCOPE.get() or ()))), None)
            if found is None:
                raise ToolError(no_document(url))
            title = found["title"] or "(untitled)"
            head = f"{title}\n{found['url']}\nsource {found['source']}, changed {found['changed_at']}"
            return CallToolResult(
                content=[TextContent(type="text", text=f"{head}\n\n{found['text']}")], structured_content=found
            )


def mount_mcp(app: FastAPI, server: MCPServer, *, loopback_only: bool, max_body: int) -> None:
    """Add `server`'s streamable HTTP endpoint to `app` at `/mcp`.

    The app's lifespan must run `server.session_manager.run()`. With `loopback_only`, requests
    whose Host or Origin is not a loopback name are refused (a web page cannot reach a keyless
    local server through DNS rebinding).
    """
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=loopback_only,
        allowed_hosts=[f"{h}{p}" for h in LOOPBACK for p in ("", ":*")],
        allowed_origins=[f"http://{h}{p}" for h in LOOPBACK for p in ("", ":*")],
    )
    sub = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        transport_security=security,
        max_request_body_size=max_body,
    )
    # Take the SDK's route itself rather than mounting its Starlette app: a Mount at "/mcp" would
    # redirect "/mcp" to "/mcp/", and one at "/" would answer unknown paths in plain text.
    app.router.routes.extend(sub.routes)
