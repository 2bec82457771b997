"""The sources file as typed data: `SourcesSpec`, one spec class per kind of source.

A source is a discriminated union on `kind` (`PageSource | SitemapSource | FeedSource |
JsonSource | SiteSource`): each class forbids unknown fields, so a field of another kind cannot be written.
The same classes are the schema of the `WebSources` Dagster component and of the JSON Schema
editors use (`infra-assets schema`), and they are what every stage reads: attribute names are the
file's own keys (`freshness`, `timeout`, `id`, `text`...), durations already in seconds.

`load_sources(path)` reads a file and raises `SourcesConfigError` with one line naming the file,
the source and the field: the file is validated piece by piece (top level, `defaults`,
`embedding`, `store`, then each source with the defaults filled in) so that a mistake in
`defaults` is reported there and not on every source, and pydantic's errors are put in the
project's own words (`format_error`). Nothing here imports Dagster.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from ..fetch.http import Limits
from .freshness import FreshnessBudget

# \Z, not $: "$" also matches before a final newline. Names become folder names under the data
# folder (blobs, tables, status), so nothing but these characters may reach a path.
NAME_RE = re.compile(r"[a-z][a-z0-9_]*\Z")
MAX_DURATION_S = 366 * 86400  # longer budgets are mistakes, and overflow timers and time windows
DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Names that would collide with the project's own asset groups or key prefixes.
RESERVED_NAMES = frozenset({"serving", "raw", "clean", "embeddings", "default"})
DEFAULT_USER_AGENT = "infra-assets/0.1 (+https://github.com/infra-assets/infra-assets)"
# Settings every source has, which `defaults:` may set for all of them.
SHARED_KEYS = ("freshness", "check_every", "max_pages", "concurrency", "timeout", "max_bytes", "max_rps")


class SourcesConfigError(ValueError):
    """The sources file is invalid; the message names the file, the source and the field."""


# --------------------------------------------------------------------------- value types


def parse_duration(value: Any) -> int:
    """`30s`, `5m`, `2h`, `1d` (or a bare number of seconds) → seconds. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"bad duration {value!r}")
    if isinstance(value, int) and value > 0:
        seconds = value
    else:
        match = DURATION_RE.match(value) if isinstance(value, str) else None
        if not match or int(match.group(1)) <= 0:
            raise ValueError(f"bad duration {value!r} (use a positive number with s, m, h or d: 30s, 5m, 2h, 1d)")
        seconds = int(match.group(1)) * DURATION_UNITS[match.group(2)]
    if seconds > MAX_DURATION_S:
        raise ValueError(f"bad duration {value!r} (at most 366d)")
    return seconds


def format_duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _positive_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return value


def _rate(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"expected a positive number of requests per second, got {value!r}")
    return float(value)


def _url(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a URL")
    value = value.strip()
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        ok = False
    if not ok or not value.isprintable():
        raise ValueError(f"{value!r:.200} is not an http(s) URL")
    return value


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("expected a list of strings")
    return list(value)


def _url_list(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("expected a non-empty list of URLs")
    return [_url(v) for v in value]


def _text_fields(value: Any) -> list[str]:
    fields = _strings(value)
    if not fields:
        raise ValueError("missing (the fields joined into the indexed text)")
    return fields


def _depth(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        raise ValueError(f"expected an integer 0..100, got {value!r:.60}")
    return value


def _url_length(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 64:
        raise ValueError(f"expected an integer of at least 64, got {value!r:.60}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _hosts(value: Any) -> list[str]:
    return [h.lower() for h in _strings(value)]


def _field_name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a field name")
    return value


def _header_text(value: Any) -> str | None:
    """A User-Agent part: one line of printable text (a newline would smuggle in a header)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.strip() or not (value.isascii() and value.isprintable()):
        raise ValueError("expected one line of printable text")
    return value.strip()


def _name(value: Any) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ValueError(f"{value!r:.60} must match [a-z][a-z0-9_]*")
    if value in RESERVED_NAMES:
        raise ValueError(f"'{value}' is reserved")
    return value


def _schema(**replacement: Any) -> Callable[[dict[str, Any]], None]:
    """A field's JSON Schema as the file writes it (a duration is "5m" or seconds, not an int)."""

    def edit(schema: dict[str, Any]) -> None:
        keep: dict[str, Any] = {k: schema[k] for k in ("title", "description", "default") if k in schema}
        schema.clear()
        schema.update(keep, **replacement)

    return edit


DURATION = _schema(
    anyOf=[
        {"type": "string", "pattern": r"^\s*[0-9]+\s*[smhd]\s*$", "examples": ["30s", "5m", "2h", "1d"]},
        {"type": "integer", "minimum": 1, "description": "seconds"},
    ]
)
POSITIVE = _schema(type="integer", minimum=1)
RATE = _schema(anyOf=[{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}])
URL = _schema(type="string", format="uri", pattern="^https?://")
URLS = _schema(type="array", items={"type": "string", "format": "uri"}, minItems=1)
STRINGS = _schema(anyOf=[{"type": "array", "items": {"type": "string"}}, {"type": "string"}])
NAME = _schema(type="string", pattern="^[a-z][a-z0-9_]*$", **{"not": {"enum": sorted(RESERVED_NAMES)}})


def host_of(url: str) -> str:
    """The lower-cased host[:port] of a URL (the unit of host policy and politeness)."""
    return urlsplit(url).netloc.lower()


# --------------------------------------------------------------------------- sources


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class _Source(_Spec):
    """What every kind of source has."""

    # Field types stay plain (int, str, list): Dagster's component schema takes only those; the
    # file's own forms ("5m", a single glob) are read by the validators below.
    name: str = Field(
        description="Names the source's assets and asset group: [a-z][a-z0-9_]*, unique.", json_schema_extra=NAME
    )
    freshness: int = Field(
        3600,
        json_schema_extra=DURATION,
        description="Freshness budget: the source fails freshness when not verified this long.",
    )
    check_every: int = Field(
        300, json_schema_extra=DURATION, description="How often change detection looks at the source."
    )
    max_pages: int = Field(500, json_schema_extra=POSITIVE, description="At most this many documents.")
    concurrency: int = Field(4, json_schema_extra=POSITIVE, description="Parallel requests to the source's host.")
    timeout: int = Field(30, json_schema_extra=DURATION, description="Per request, from connecting to the last byte.")
    max_bytes: int = Field(10_000_000, json_schema_extra=POSITIVE, description="Size cap per response.")
    max_rps: float | None = Field(
        None, json_schema_extra=RATE, description="At most this many requests per second to a host (default: unpaced)."
    )
    include: list[str] = Field(
        [], json_schema_extra=STRINGS, description="URL globs a discovered URL must match (default: all)."
    )
    exclude: list[str] = Field([], json_schema_extra=STRINGS, description="URL globs that leave a discovered URL out.")
    allow_hosts: list[str] = Field(
        [], json_schema_extra=STRINGS, description="Other hosts this source may fetch from (default: its own only)."
    )
    tags: list[str] = Field(
        [],
        json_schema_extra=STRINGS,
        description="Labels searches can filter on (`tags` on /search), e.g. [pricing, eu].",
    )

    v_name = field_validator("name", mode="before")(staticmethod(_name))
    v_durations = field_validator("freshness", "check_every", "timeout", mode="before")(staticmethod(parse_duration))
    v_counts = field_validator("max_pages", "concurrency", "max_bytes", mode="before")(staticmethod(_positive_int))
    v_rate = field_validator("max_rps", mode="before")(staticmethod(_rate))
    v_globs = field_validator("include", "exclude", "tags", mode="before")(staticmethod(_strings))
    v_hosts = field_validator("allow_hosts", mode="before")(staticmethod(_hosts))

    def own_urls(self) -> tuple[str, ...]:
        """The URLs written for this source (`urls` of each kind)."""
        raise NotImplementedError

    @cached_property
    def hosts(self) -> frozenset[str]:
        """Hosts this source may fetch from: its own URLs' hosts plus `allow_hosts`."""
        return frozenset({host_of(u) for u in self.own_urls()} | set(self.allow_hosts))

    @cached_property
    def limits(self) -> Limits:
        """What bounds every request of this source (hosts, deadline, size, rate, parallelism)."""
        return Limits(
            hosts=self.hosts,
            timeout_s=float(self.timeout),
            max_bytes=self.max_bytes,
            max_rps=self.max_rps,
            concurrency=self.concurrency,
        )

    @property
    def budget(self) -> FreshnessBudget:
        return FreshnessBudget(self.freshness, self.check_every)

    def wants(self, url: str) -> bool:
        """Whether a discovered URL passes the source's include/exclude globs."""
        if self.include and not any(fnmatch.fnmatch(url, pat) for pat in self.include):
            return False
        return not any(fnmatch.fnmatch(url, pat) for pat in self.exclude)


RENDER_MODES = ("never", "auto", "always")
SITEMAP_MODES = ("auto", "skip", "only")


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r:.60}")
        return str(value)

    return check


class _Renders(_Source):
    """Kinds whose pages may be built by JavaScript: page, sitemap and site (a feed's entries and a
    JSON API's records are data, not pages to run)."""

    render: str = Field(
        "never",
        json_schema_extra=_schema(type="string", enum=list(RENDER_MODES)),
        description="Run a page's JavaScript in headless Chromium: never, auto (only pages whose HTML has no main "
        "text), always.",
    )

    v_render = field_validator("render", mode="before")(staticmethod(_choice(RENDER_MODES)))


class PageSource(_Renders):
    """One or more pages, each fetched conditionally and re-verified in a rotating window."""

    kind: Literal["page"]
    # Written as `url:` or `urls:`, held as `urls` (the Python names differ from the file's keys
    # only because `url` and `urls` are properties every kind answers).
    page_url: str | None = Field(None, alias="url", json_schema_extra=URL, description="The page (or give urls:).")
    page_urls: list[str] | None = Field(
        None, alias="urls", json_schema_extra=URLS, description="The pages (or give url:)."
    )

    v_url = field_validator("page_url", mode="before")(staticmethod(lambda v: None if v is None else _url(v)))
    v_urls = field_validator("page_urls", mode="before")(staticmethod(lambda v: None if v is None else _url_list(v)))

    @model_validator(mode="after")
    def _one_of_url_or_urls(self) -> PageSource:
        if self.page_url is not None and self.page_urls is not None:
            raise ValueError("give either 'url' or 'urls', not both")
        if self.page_url is None and self.page_urls is None:
            raise _Missing("url", "a page source needs url: or urls:")
        return self

    def own_urls(self) -> tuple[str, ...]:
        return tuple(self.page_urls) if self.page_urls is not None else (str(self.page_url),)

    @property
    def url(self) -> str:
        return self.own_urls()[0]

    @property
    def urls(self) -> tuple[str, ...]:
        return self.own_urls()


class _OneUrl(_Source):
    url: str = Field(json_schema_extra=URL, description="The source's own URL.")

    v_url = field_validator("url", mode="before")(staticmethod(_url))

    def own_urls(self) -> tuple[str, ...]:
        return (self.url,)

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url,)


class SitemapSource(_OneUrl, _Renders):
    """The pages a sitemap (or sitemap index, gzip too) lists; lastmod verified, never believed."""

    kind: Literal["sitemap"]


class SiteSource(_OneUrl, _Renders):
    """A site crawled from `url` (and extra seeds `urls`) by following its links within scope."""

    kind: Literal["site"]
    seed_urls: list[str] = Field(
        [],
        alias="urls",
        json_schema_extra=_schema(type="array", items={"type": "string", "format": "uri"}),
        description="More start pages besides url.",
    )
    max_depth: int = Field(
        5,
        json_schema_extra=_schema(type="integer", minimum=0),
        description="Links followed from a start page at most (0: the start pages only).",
    )
    sitemap: str = Field(
        "auto",
        json_schema_extra=_schema(type="string", enum=list(SITEMAP_MODES)),
        description="Sitemaps listed in robots.txt: auto (they seed the crawl too), skip, only (no link following).",
    )
    ignore_params: list[str] = Field(
        [],
        json_schema_extra=STRINGS,
        description="Query parameters that never make a different page (besides utm_*, gclid, fbclid...).",
    )
    max_per_pattern: int = Field(
        500,
        json_schema_extra=POSITIVE,
        description="Pages of one URL pattern (digits as 0, ids as *) at most: bounds calendars and session ids.",
    )
    max_url_length: int = Field(
        2000, json_schema_extra=_schema(type="integer", minimum=64), description="Longer URLs are traps, not pages."
    )
    max_crawl_time: int = Field(
        3600, json_schema_extra=DURATION, description="A crawl stops after this long and reports it."
    )

    v_seeds = field_validator("seed_urls", mode="before")(staticmethod(lambda v: [] if v is None else _url_list(v)))
    v_depth = field_validator("max_depth", mode="before")(staticmethod(_depth))
    v_sitemap = field_validator("sitemap", mode="before")(staticmethod(_choice(SITEMAP_MODES)))
    v_params = field_validator("ignore_params", mode="before")(staticmethod(_strings))
    v_pattern = field_validator("max_per_pattern", mode="before")(staticmethod(_positive_int))
    v_length = field_validator("max_url_length", mode="before")(staticmethod(_url_length))
    v_time = field_validator("max_crawl_time", mode="before")(staticmethod(parse_duration))

    def own_urls(self) -> tuple[str, ...]:
        return (self.url, *self.seed_urls)

    @property
    def urls(self) -> tuple[str, ...]:
        return self.own_urls()


class FeedSource(_OneUrl):
    """The entries of an RSS, Atom or JSON feed."""

    kind: Literal["feed"]
    follow_links: bool = Field(False, description="Index each entry's own page instead of the content in the feed.")
    websub: bool = Field(
        True,
        description="Subscribe at the WebSub hub the feed advertises when `websub: callback:` is set (false: poll).",
    )

    v_flag = field_validator("follow_links", "websub", mode="before")(staticmethod(_flag))


class JsonSource(_OneUrl):
    """The records of a JSON document, mapped to documents by field names (dotted paths)."""

    kind: Literal["json"]
    records: str | None = Field(None, description="Dotted path to the list of records (default: the top level).")
    id: str = Field(description="The field holding a stable record id.")
    title: str | None = Field(None, description="The field holding the record's title.")
    text: list[str] = Field(json_schema_extra=STRINGS, description="Fields joined into the indexed text.")
    link: str | None = Field(None, description="The field holding the record's URL.")

    v_fields = field_validator("records", "id", "title", "link", mode="before")(
        staticmethod(lambda v: None if v is None else _field_name(v))
    )
    v_text = field_validator("text", mode="before")(staticmethod(_text_fields))


Source = PageSource | SitemapSource | FeedSource | JsonSource | SiteSource
SourceSpec = Annotated[Source, Field(discriminator="kind")]
KINDS: tuple[str, ...] = ("page", "sitemap", "feed", "json", "site")  # the union's tags, in this order
_SOURCE = TypeAdapter(SourceSpec)


class SourceDefaults(_Spec):
    """Values every source takes unless it sets its own; how the crawler identifies itself."""

    freshness: int = Field(
        3600, json_schema_extra=DURATION, description="Freshness budget (durations: 30s, 5m, 2h, 1d)."
    )
    check_every: int = Field(300, json_schema_extra=DURATION)
    max_pages: int = Field(500, json_schema_extra=POSITIVE)
    concurrency: int = Field(4, json_schema_extra=POSITIVE)
    timeout: int = Field(30, json_schema_extra=DURATION)
    max_bytes: int = Field(10_000_000, json_schema_extra=POSITIVE)
    max_rps: float | None = Field(None, json_schema_extra=RATE)
    user_agent: str | None = Field(None, description="The User-Agent sent (default: infra-assets' own).")
    contact: str | None = Field(None, description="A URL or address appended to the User-Agent.")

    v_durations = field_validator("freshness", "check_every", "timeout", mode="before")(staticmethod(parse_duration))
    v_counts = field_validator("max_pages", "concurrency", "max_bytes", mode="before")(staticmethod(_positive_int))
    v_rate = field_validator("max_rps", mode="before")(staticmethod(_rate))
    v_header = field_validator("user_agent", "contact", mode="before")(staticmethod(_header_text))


class EmbeddingSpec(_Spec):
    model: str = Field(
        "default", description="'default' (the packaged offline model) or a fastembed model name (needs network)."
    )
    batch_size: int = Field(
        1, json_schema_extra=_schema(type="integer", minimum=1, maximum=256), description="Passages per model call."
    )
    publish_every: int = Field(
        30,
        json_schema_extra=_schema(
            anyOf=[
                {"type": "string", "pattern": r"^\s*[0-9]+\s*[smhd]\s*$", "examples": ["30s", "2m"]},
                {"type": "integer", "minimum": 0, "description": "seconds; 0: off"},
                {"const": "off"},
            ]
        ),
        description="While a run embeds, its finished new documents are published this often (embedded "
        "store; 'off': only when the run ends).",
    )

    @field_validator("publish_every", mode="before")
    @classmethod
    def _publish_every(cls, value: Any) -> int:
        if value in ("off", 0):
            return 0
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ValueError(f"{exc}, or off") from exc

    @model_validator(mode="before")
    @classmethod
    def _model_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "model" in data:
            model = data["model"]
            if not isinstance(model, str) or not model.strip():
                raise _FieldProblem("model", "expected 'default' or a fastembed model name")
            data = {**data, "model": model.strip()}
        if isinstance(data, dict) and "batch_size" in data:
            size = data["batch_size"]
            if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 256:
                raise _FieldProblem("batch_size", "expected an integer 1..256")
        return data


class StoreSpec(_Spec):
    """How the collection is created and searched. `shards`, `replication_factor` and
    `write_consistency` are a Qdrant server's or cluster's (`QDRANT_URL`); the embedded store is
    one shard on one machine and ignores them. The graph, quantization and search settings apply
    to both (`store.IndexSettings`). None: the engine's and the API's defaults."""

    shards: int | None = Field(None, description="shard_number")
    replication_factor: int | None = None
    write_consistency: int | None = Field(None, description="Replicas that must acknowledge a write.")
    hnsw_m: int | None = Field(
        None, description="Links per point in the HNSW graph (default 16); set when the collection is created."
    )
    hnsw_ef_construct: int | None = Field(
        None, description="Search breadth while the graph is built (default 100); set when the collection is created."
    )
    quantization: Literal["int8"] | None = Field(
        None,
        description="int8: quantized vectors in memory, the float originals on disk for rescoring; "
        "set when the collection is created.",
    )
    memory: Literal["ram", "mapped"] | None = Field(
        None,
        description="ram (default): the BM25 index, quantized vectors and payload indexes in each process's "
        "memory; mapped: mapped from the files, one copy in the page cache for every process and generation; "
        "set when the collection is created.",
    )
    hnsw_ef: int | None = Field(
        None, description="Search breadth of queries (default 200); applies from the next publish."
    )
    oversampling: float | None = Field(
        None, description="With quantization: candidates rescored from the float vectors, as a multiple of k."
    )

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("shards", "replication_factor", "write_consistency"):
                value = data.get(key)
                if value is not None and (
                    not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000
                ):
                    raise _FieldProblem(key, "expected an integer 1..1000")
            for key, top in (("hnsw_m", 128), ("hnsw_ef_construct", 4096), ("hnsw_ef", 10_000)):
                value = data.get(key)
                if value is not None and (
                    not isinstance(value, int) or isinstance(value, bool) or not 4 <= value <= top
                ):
                    raise _FieldProblem(key, f"expected an integer 4..{top}")
            value = data.get("oversampling")
            if value is not None and (
                not isinstance(value, (int, float)) or isinstance(value, bool) or not 1 <= value <= 16
            ):
                raise _FieldProblem("oversampling", "expected a number 1..16")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> StoreSpec:
        if self.write_consistency and self.write_consistency > (self.replication_factor or 1):
            raise _FieldProblem("write_consistency", "cannot exceed replication_factor")
        return self

    def collection_params(self) -> dict[str, int]:
        """The server's names for these, for collections it creates."""
        named = {
            "shard_number": self.shards,
            "replication_factor": self.replication_factor,
            "write_consistency_factor": self.write_consistency,
        }
        return {k: v for k, v in named.items() if v}

    def index_params(self) -> dict[str, Any]:
        """The graph, quantization and search settings: `store.IndexSettings(**these)`."""
        return {
            "hnsw_m": self.hnsw_m,
            "hnsw_ef_construct": self.hnsw_ef_construct,
            "quantization": self.quantization,
            "memory": self.memory,
            "hnsw_ef": self.hnsw_ef,
            "oversampling": self.oversampling,
        }


class ChangesSpec(_Spec):
    """The change log (`GET /changes`, webhooks)."""

    retention: int = Field(
        30 * 86400, json_schema_extra=DURATION, description="How long change events are kept (default 30d)."
    )

    v_retention = field_validator("retention", mode="before")(staticmethod(parse_duration))


class WebSubSpec(_Spec):
    """WebSub (W3C Recommendation): feeds that advertise a hub have it push new entries to this API."""

    callback: str | None = Field(
        None,
        json_schema_extra=URL,
        description="This API's base URL as hubs reach it (e.g. https://search.example.org); unset: WebSub is off.",
    )
    lease: int = Field(
        10 * 86400,
        json_schema_extra=DURATION,
        description="The lease asked of hubs (default 10d); renewed before it ends.",
    )

    v_callback = field_validator("callback", mode="before")(staticmethod(lambda v: None if v is None else _url(v)))
    v_lease = field_validator("lease", mode="before")(staticmethod(parse_duration))


WEBHOOK_EVENTS = ("added", "changed", "removed")
SECRET_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class WebhookSpec(_Spec):
    """A URL every change event (of its sources and types) is POSTed to, signed as Standard Webhooks
    say. Private and loopback targets only when written as an address (or `localhost`)."""

    url: str = Field(json_schema_extra=URL, description="Where events are POSTed.")
    sources: tuple[str, ...] | None = Field(
        None, json_schema_extra=STRINGS, description="Only these sources' events (default: every source)."
    )
    events: tuple[str, ...] = Field(
        WEBHOOK_EVENTS,
        json_schema_extra=_schema(type="array", items={"type": "string", "enum": list(WEBHOOK_EVENTS)}),
        description="Which event types (default: added, changed, removed).",
    )
    secret_env: str = Field(
        json_schema_extra=_schema(type="string", pattern=SECRET_ENV_RE.pattern),
        description="The environment variable holding the Standard Webhooks secret (whsec_...).",
    )
    timeout: int = Field(10, json_schema_extra=DURATION, description="Per delivery attempt.")
    retry_for: int = Field(
        86400, json_schema_extra=DURATION, description="How long an event is retried before it is given up (24h)."
    )

    v_url = field_validator("url", mode="before")(staticmethod(_url))
    v_timeout = field_validator("timeout", "retry_for", mode="before")(staticmethod(parse_duration))

    @field_validator("sources", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if value is None:
            return None
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise ValueError("expected a list of source names")
        return tuple(values)

    @field_validator("events", mode="before")
    @classmethod
    def _events(cls, value: Any) -> Any:
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values:
            raise ValueError(f"expected a list of {', '.join(WEBHOOK_EVENTS)}")
        for v in values:
            if v not in WEBHOOK_EVENTS:
                raise ValueError(f"unknown event type {v!r:.40} (expected {', '.join(WEBHOOK_EVENTS)})")
        return tuple(dict.fromkeys(values))

    @field_validator("secret_env", mode="before")
    @classmethod
    def _env_name(cls, value: Any) -> Any:
        if not isinstance(value, str) or not SECRET_ENV_RE.match(value):
            raise ValueError("expected the name of an environment variable (it holds the whsec_... secret)")
        return value

    def wants(self, source: str, kind: str) -> bool:
        return (self.sources is None or source in self.sources) and kind in self.events


class SourcesSpec(_Spec):
    """The whole sources file."""

    defaults: SourceDefaults = Field(default_factory=SourceDefaults)
    embedding: EmbeddingSpec = Field(default_factory=EmbeddingSpec)
    store: StoreSpec = Field(default_factory=StoreSpec)
    changes: ChangesSpec = Field(default_factory=ChangesSpec)
    webhooks: tuple[WebhookSpec, ...] = ()
    websub: WebSubSpec = Field(default_factory=WebSubSpec)
    sources: tuple[SourceSpec, ...] = ()
    _path: Path = PrivateAttr(default=Path("<sources>"))

    @property
    def path(self) -> Path:
        return self._path

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    @property
    def user_agent(self) -> str:
        agent = self.defaults.user_agent or DEFAULT_USER_AGENT
        contact = self.defaults.contact
        # A User-Agent comment, as RFC 9110 spells them: "product/version (+URL)".
        return f"{agent} (+{contact})" if contact and contact not in agent else agent

    def get(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the sources file, for editors (`infra-assets schema`)."""
    schema = SourcesSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "infra-assets sources file"
    return schema


# --------------------------------------------------------------------------- loading


class _FieldProblem(ValueError):
    """Raised by validators to name the field a problem belongs to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class _Missing(_FieldProblem):
    def __init__(self, field: str, hint: str):
        super().__init__(field, f"missing ({hint})")


def load_sources(path: str | Path) -> SourcesSpec:
    """Read and validate the sources file; raise `SourcesConfigError` with one clear message."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourcesConfigError(f"{path}: sources file not found (set INFRA_ASSETS_SOURCES)") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SourcesConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_sources(data, path)


def parse_sources(data: Any, path: Path | str = "<sources>") -> SourcesSpec:
    """Validate already-parsed YAML data (see `load_sources`)."""
    path = Path(path)

    def fail(where: str, message: str) -> SourcesConfigError:
        return SourcesConfigError(f"{path}: {where}: {message}")

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise fail("top level", "expected a mapping with a 'sources:' list")
    for key in data:
        if key not in SourcesSpec.model_fields:
            raise fail("top level", f"unknown field {key!r:.60}")

    def section(key: str, model: type[_Spec]) -> Any:
        raw = data.get(key) or {}
        if not isinstance(raw, dict):
            raise fail(key, "expected a mapping")
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            raise fail(key, format_error(exc)) from None

    defaults = section("defaults", SourceDefaults)
    embedding = section("embedding", EmbeddingSpec)
    store = section("store", StoreSpec)
    raw_defaults = data.get("defaults") or {}
    inherited = {k: raw_defaults[k] for k in SHARED_KEYS if raw_defaults.get(k) is not None}

    raw_sources = data.get("sources")
    if raw_sources is None:
        raw_sources = []
    if not isinstance(raw_sources, list):
        raise fail("sources", "expected a list of sources")
    sources: list[Source] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_sources):
        label = f"sources[{index}]"
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            shown = raw["name"] if NAME_RE.match(raw["name"]) else repr(raw["name"])[:60]
            label = f"sources[{index}] ({shown})"
        try:
            source = parse_source(raw, inherited)
        except ValueError as exc:
            raise fail(label, str(exc)) from None
        if source.name in seen:
            raise fail(label, f"field 'name': duplicate name '{source.name}' (also sources[{seen[source.name]}])")
        seen[source.name] = index
        sources.append(source)
    changes = section("changes", ChangesSpec)
    raw_hooks = data.get("webhooks") or []
    if not isinstance(raw_hooks, list):
        raise fail("webhooks", "expected a list of webhooks (url, secret_env, ...)")
    hooks: list[WebhookSpec] = []
    for index, raw in enumerate(raw_hooks):
        if not isinstance(raw, dict):
            raise fail(f"webhooks[{index}]", "expected a mapping with url and secret_env")
        try:
            hook = WebhookSpec.model_validate(raw)
        except ValidationError as exc:
            raise fail(f"webhooks[{index}]", format_error(exc)) from None
        unknown = [n for n in hook.sources or () if n not in seen]
        if unknown:
            raise fail(f"webhooks[{index}]", f"field 'sources': unknown source {unknown[0]!r:.60}")
        hooks.append(hook)
    spec = SourcesSpec(
        defaults=defaults,
        embedding=embedding,
        store=store,
        changes=changes,
        webhooks=tuple(hooks),
        websub=section("websub", WebSubSpec),
        sources=tuple(sources),
    )
    spec._path = path
    return spec


_KIND_MODELS: tuple[type[_Source], ...] = (
    PageSource,
    SitemapSource,
    FeedSource,
    JsonSource,
    SiteSource,
)  # KINDS' order
_FIELDS_BY_KIND: dict[str, set[str]] = {
    kind: {(f.alias or n) for n, f in model.model_fields.items()} for kind, model in zip(KINDS, _KIND_MODELS)
}
_ALL_FIELDS = set().union(*_FIELDS_BY_KIND.values())


def parse_source(raw: Any, inherited: dict[str, Any] | None = None) -> Source:
    """One source's mapping (with `defaults:` values it does not set) → its spec; raises
    ValueError with the message `parse_sources` puts after the source's label."""
    if not isinstance(raw, dict):
        raise ValueError("expected a mapping with name, kind and url")
    for key in raw:
        if key not in _ALL_FIELDS:
            raise ValueError(f"unknown field {key!r:.60}")
    kind = raw.get("kind")
    if kind not in KINDS:
        if "name" in raw:
            _check_name(raw["name"])
        raise ValueError(f"field 'kind': unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    for key in raw:
        if key not in _FIELDS_BY_KIND[kind]:
            raise ValueError(_foreign_field(key, kind))
    try:
        return _SOURCE.validate_python({**(inherited or {}), **raw})
    except ValidationError as exc:
        raise ValueError(format_error(exc, skip=1)) from None


def _check_name(value: Any) -> None:
    try:
        _name(value)
    except ValueError as exc:
        raise ValueError(f"field 'name': {exc}") from None


def _foreign_field(key: str, kind: str) -> str:
    if key == "urls":
        return f"field 'urls': only page and site sources take a list; a {kind} source takes url:"
    owners = [k for k in KINDS if key in _FIELDS_BY_KIND[k]]
    if owners == ["json"]:
        return f"field '{key}': only json sources map record fields"
    named = ", ".join(owners[:-1]) + " and " + owners[-1] if len(owners) > 1 else owners[0]
    return f"field '{key}': only {named} sources take it, not a {kind} source"


def format_error(exc: ValidationError, skip: int = 0) -> str:
    """Pydantic's first error in the sources file's own words: `field 'x': what is wrong`.

    `skip` drops leading location parts (the discriminator's tag of a source union)."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    error = errors[0]
    loc = [str(p) for p in error["loc"][skip:]]
    problem = (error.get("ctx") or {}).get("error")
    if isinstance(problem, _FieldProblem):
        return f"field '{problem.field}': {problem.message}"
    if error["type"] == "extra_forbidden":
        return f"unknown field {loc[-1]!r:.60}"
    message = str(problem) if isinstance(problem, Exception) else error["msg"]
    if error["type"] == "missing":
        message = "missing"
        hint = _MISSING_HINTS.get(loc[0] if loc else "")
        if hint:
            message += f" ({hint})"
    if not loc:
        return message
    return f"field '{loc[0]}': {message}"


_MISSING_HINTS = {
    "id": "the field holding a stable record id",
    "text": "the fields joined into the indexed text",
}
