"""The sources file → validated `Source` objects; the environment → `Settings`.

This is the one place that parses durations and reads `INFRA_ASSETS_*` variables. Everything is
read at call time, never at import time, so tests and notebooks can point the project elsewhere
by setting environment variables.
"""

from __future__ import annotations

import fnmatch
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

KINDS = ("page", "sitemap", "feed", "json")
# \Z, not $: "$" also matches before a final newline. Names become folder names under the data
# folder (blobs, tables, status), so nothing but these characters may reach a path.
NAME_RE = re.compile(r"[a-z][a-z0-9_]*\Z")
MAX_DURATION_S = 366 * 86400  # longer budgets are mistakes, and overflow timers and time windows
DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Names that would collide with the project's own asset groups or key prefixes.
RESERVED_NAMES = {"serving", "raw", "clean", "embeddings", "default"}
DEFAULT_USER_AGENT = "infra-assets/0.1 (+https://github.com/infra-assets/infra-assets)"

# Keys a user may set in `defaults:` and override per source, with their defaults.
SOURCE_DEFAULTS: dict[str, Any] = {
    "freshness": "1h",
    "check_every": "5m",
    "max_pages": 500,
    "concurrency": 4,  # parallel requests to the source's host
    "timeout": "30s",  # per-request deadline (connect + whole body)
    "max_bytes": 10_000_000,  # size cap per response
}
SOURCE_KEYS = {
    "name", "kind", "url", "urls", "include", "exclude", "allow_hosts", "records", "id",
    "title", "text", "link", "follow_links", "max_rps", *SOURCE_DEFAULTS,
}
TOP_KEYS = {"defaults", "embedding", "store", "sources"}
STORE_KEYS = {"shards", "replication_factor", "write_consistency"}
DEFAULTS_KEYS = {*SOURCE_DEFAULTS, "user_agent", "contact", "max_rps"}
EMBEDDING_KEYS = {"model", "batch_size"}


class SourcesConfigError(ValueError):
    """The sources file is invalid; the message names the file, the source and the field."""


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


@dataclass(frozen=True)
class Source:
    """One web source from the sources file."""

    name: str
    kind: str
    urls: tuple[str, ...]
    freshness_s: int = 3600
    check_every_s: int = 300
    max_pages: int = 500
    concurrency: int = 4
    timeout_s: float = 30.0
    max_bytes: int = 10_000_000
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()
    follow_links: bool = False
    max_rps: float | None = None  # requests per second to the host (None: bounded by concurrency)
    # JSON record mapping (kind: json)
    records: str | None = None
    id_field: str | None = None
    title_field: str | None = None
    text_fields: tuple[str, ...] = ()
    link_field: str | None = None

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def hosts(self) -> frozenset[str]:
        """Hosts this source may fetch from: its own URLs' hosts plus `allow_hosts`."""
        own = {host_of(u) for u in self.urls}
        return frozenset(own | {h.lower() for h in self.allow_hosts})

    def wants(self, url: str) -> bool:
        """Whether a discovered URL passes the source's include/exclude globs."""
        if self.include and not any(fnmatch.fnmatch(url, pat) for pat in self.include):
            return False
        return not any(fnmatch.fnmatch(url, pat) for pat in self.exclude)


@dataclass(frozen=True)
class EmbeddingConfig:
    model: str = "default"
    batch_size: int = 1  # see embedding.DEFAULT_BATCH_SIZE for the measurement


@dataclass(frozen=True)
class StoreConfig:
    """How a Qdrant server or cluster (`QDRANT_URL`) creates the collection; the embedded store
    is one shard on one machine and ignores these. None: the server's defaults."""

    shards: int | None = None  # shard_number
    replication_factor: int | None = None
    write_consistency: int | None = None  # write_consistency_factor: replicas that must ack a write


@dataclass(frozen=True)
class SourcesFile:
    path: Path
    sources: tuple[Source, ...]
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    user_agent: str = DEFAULT_USER_AGENT
    store: StoreConfig = field(default_factory=StoreConfig)

    def get(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sources]


def host_of(url: str) -> str:
    """The lower-cased host[:port] of a URL (the unit of host policy and politeness)."""
    return urlsplit(url).netloc.lower()


# --------------------------------------------------------------------------- environment


@dataclass(frozen=True)
class Settings:
    """Paths and endpoints from the environment, resolved to absolute paths."""

    root: Path
    sources_path: Path
    data_dir: Path
    qdrant_url: str | None
    # Secrets stay out of reprs, so logging a Settings (or an error holding one) cannot leak them.
    qdrant_api_key: str | None = field(repr=False)
    api_key: str | None = field(repr=False)
    # The API opens each generation's edge shard in a child process (`store/host.py`).
    shard_process: bool = True
    # Threads of each published edge generation's own search pool (`store/edge.py`).
    search_threads: int = 1

    @property
    def tables_dir(self) -> Path:
        return self.data_dir / "tables"

    @property
    def qdrant_dir(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def serving_dir(self) -> Path:
        return self.data_dir / "serving"


def project_root() -> Path:
    """The folder holding the project's `dagster.yaml` and `data/`.

    The working directory when it looks like the project, else the checkout this package was
    installed from (editable installs), else the working directory.
    """
    cwd = Path.cwd()
    if (cwd / "dagster.yaml").exists() or (cwd / "data" / "sources.yaml").exists():
        return cwd
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "dagster.yaml").exists() and (checkout / "pyproject.toml").exists():
        return checkout
    return cwd


def settings() -> Settings:
    root = project_root()
    env = os.environ

    def path(var: str, default: Path) -> Path:
        value = env.get(var)
        return (Path(value).expanduser() if value else default).resolve()

    data_dir = path("INFRA_ASSETS_DATA_DIR", root / "data")
    return Settings(
        root=root,
        sources_path=path("INFRA_ASSETS_SOURCES", root / "data" / "sources.yaml"),
        data_dir=data_dir,
        qdrant_url=env.get("QDRANT_URL") or None,
        qdrant_api_key=env.get("QDRANT_API_KEY") or None,
        api_key=env.get("INFRA_ASSETS_API_KEY") or None,
        shard_process=env.get("INFRA_ASSETS_SHARD_PROCESS", "1").strip().lower() not in ("0", "false", "no", "off"),
        search_threads=_positive_int(env, "INFRA_ASSETS_SEARCH_THREADS", 1),
    )


class SettingsError(ValueError):
    """An environment variable this project reads holds a value it cannot use."""


def _positive_int(env, var: str, default: int) -> int:
    raw = env.get(var, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{var}={raw!r}: expected a whole number of at least 1")
    return int(raw)


# --------------------------------------------------------------------------- the sources file


def load_sources(path: str | os.PathLike | None = None) -> SourcesFile:
    """Read and validate the sources file; raise `SourcesConfigError` with one clear message."""
    path = Path(path) if path is not None else settings().sources_path
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


def parse_sources(data: Any, path: Path | str = "<sources>") -> SourcesFile:
    path = Path(path)

    def fail(where: str, message: str) -> SourcesConfigError:
        return SourcesConfigError(f"{path}: {where}: {message}")

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise fail("top level", "expected a mapping with a 'sources:' list")
    _unknown_keys(data, TOP_KEYS, lambda k: fail("top level", f"unknown field {k!r:.60}"))

    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise fail("defaults", "expected a mapping")
    _unknown_keys(defaults, DEFAULTS_KEYS, lambda k: fail("defaults", f"unknown field {k!r:.60}"))
    base = {**SOURCE_DEFAULTS, **{k: v for k, v in defaults.items() if k in SOURCE_DEFAULTS}}
    if defaults.get("max_rps") is not None:
        try:
            base["max_rps"] = _max_rps(defaults["max_rps"])
        except ValueError as exc:
            raise fail("defaults", str(exc)) from None
    for key in SOURCE_DEFAULTS:
        try:
            _setting(key, base[key])
        except ValueError as exc:
            raise fail("defaults", f"field '{key}': {exc}") from None

    try:
        user_agent = _header_text(defaults.get("user_agent"), "user_agent") or DEFAULT_USER_AGENT
        contact = _header_text(defaults.get("contact"), "contact")
    except ValueError as exc:
        raise fail("defaults", str(exc)) from None
    if contact and contact not in user_agent:
        # A User-Agent comment, as RFC 9110 spells them: "product/version (+URL)".
        user_agent = f"{user_agent} (+{contact})"

    embedding_raw = data.get("embedding") or {}
    if not isinstance(embedding_raw, dict):
        raise fail("embedding", "expected a mapping")
    _unknown_keys(embedding_raw, EMBEDDING_KEYS, lambda k: fail("embedding", f"unknown field {k!r:.60}"))
    model = embedding_raw.get("model", "default")
    if not isinstance(model, str) or not model.strip():
        raise fail("embedding", "field 'model': expected 'default' or a fastembed model name")
    batch_size = embedding_raw.get("batch_size", EmbeddingConfig.batch_size)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= 256:
        raise fail("embedding", "field 'batch_size': expected an integer 1..256")
    embedding = EmbeddingConfig(model=model.strip(), batch_size=batch_size)

    store_raw = data.get("store") or {}
    if not isinstance(store_raw, dict):
        raise fail("store", "expected a mapping")
    _unknown_keys(store_raw, STORE_KEYS, lambda k: fail("store", f"unknown field {k!r:.60}"))
    for key in STORE_KEYS:
        value = store_raw.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000):
            raise fail("store", f"field '{key}': expected an integer 1..1000")
    store = StoreConfig(**{k: store_raw.get(k) for k in STORE_KEYS})
    if store.write_consistency and store.write_consistency > (store.replication_factor or 1):
        raise fail("store", "field 'write_consistency': cannot exceed replication_factor")

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
            source = _parse_source(raw, base)
        except ValueError as exc:
            raise fail(label, str(exc)) from None
        if source.name in seen:
            raise fail(label, f"field 'name': duplicate name '{source.name}' (also sources[{seen[source.name]}])")
        seen[source.name] = index
        sources.append(source)
    return SourcesFile(path=path, sources=tuple(sources), embedding=embedding, user_agent=user_agent, store=store)


def _unknown_keys(mapping: dict, allowed: set[str], error) -> None:
    for key in mapping:
        if key not in allowed:
            raise error(key)


def _setting(key: str, value: Any) -> Any:
    if key in ("freshness", "check_every", "timeout"):
        return parse_duration(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return value


def _check_url(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"field '{field_name}': expected a URL")
    value = value.strip()
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        ok = False
    if not ok or not value.isprintable():
        raise ValueError(f"field '{field_name}': {value!r:.200} is not an http(s) URL")
    return value


def _str_list(raw: dict, key: str) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"field '{key}': expected a list of strings")
    return tuple(value)


def _header_text(value: Any, field_name: str) -> str | None:
    """A User-Agent part: one line of printable text (a newline would smuggle in a header)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.strip() or not (value.isascii() and value.isprintable()):
        raise ValueError(f"field '{field_name}': expected one line of printable text")
    return value.strip()


def _max_rps(value: Any) -> float | None:
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value <= 0):
        raise ValueError(f"field 'max_rps': expected a positive number of requests per second, got {value!r}")
    return float(value)


def _parse_source(raw: Any, base: dict[str, Any]) -> Source:
    if not isinstance(raw, dict):
        raise ValueError("expected a mapping with name, kind and url")
    for key in raw:
        if key not in SOURCE_KEYS:
            raise ValueError(f"unknown field {key!r:.60}")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"field 'name': {name!r:.60} must match [a-z][a-z0-9_]*")
    if name in RESERVED_NAMES:
        raise ValueError(f"field 'name': '{name}' is reserved")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ValueError(f"field 'kind': unknown kind {kind!r} (expected one of {', '.join(KINDS)})")

    if kind == "page":
        if "url" in raw and "urls" in raw:
            raise ValueError("give either 'url' or 'urls', not both")
        if "urls" in raw:
            listed = raw["urls"]
            if not isinstance(listed, list) or not listed:
                raise ValueError("field 'urls': expected a non-empty list of URLs")
            urls = tuple(_check_url(u, "urls") for u in listed)
        elif "url" in raw:
            urls = (_check_url(raw["url"], "url"),)
        else:
            raise ValueError("field 'url': missing (a page source needs url: or urls:)")
    else:
        if "urls" in raw:
            raise ValueError(f"field 'urls': only page sources take a list; a {kind} source takes url:")
        if "url" not in raw:
            raise ValueError("field 'url': missing")
        urls = (_check_url(raw["url"], "url"),)

    settings_ = {}
    for key in SOURCE_DEFAULTS:
        value = raw.get(key, base[key])
        try:
            settings_[key] = _setting(key, value)
        except ValueError as exc:
            raise ValueError(f"field '{key}': {exc}") from None

    allow_hosts = tuple(h.lower() for h in _str_list(raw, "allow_hosts"))
    max_rps = _max_rps(raw.get("max_rps", base.get("max_rps")))
    follow_links = raw.get("follow_links", False)
    if not isinstance(follow_links, bool):
        raise ValueError("field 'follow_links': expected true or false")

    json_fields: dict[str, Any] = {}
    if kind == "json":
        for key in ("records", "id", "title", "link"):
            value = raw.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"field '{key}': expected a field name")
            json_fields[key] = value
        if not json_fields["id"]:
            raise ValueError("field 'id': missing (the field holding a stable record id)")
        text_fields = _str_list(raw, "text")
        if not text_fields:
            raise ValueError("field 'text': missing (the fields joined into the indexed text)")
        json_fields["text"] = text_fields
    else:
        for key in ("records", "id", "title", "text", "link"):
            if key in raw:
                raise ValueError(f"field '{key}': only json sources map record fields")

    return Source(
        name=name,
        kind=kind,
        urls=urls,
        freshness_s=settings_["freshness"],
        check_every_s=settings_["check_every"],
        max_pages=settings_["max_pages"],
        concurrency=settings_["concurrency"],
        timeout_s=float(settings_["timeout"]),
        max_bytes=settings_["max_bytes"],
        include=_str_list(raw, "include"),
        exclude=_str_list(raw, "exclude"),
        allow_hosts=allow_hosts,
        follow_links=follow_links,
        max_rps=max_rps,
        records=json_fields.get("records"),
        id_field=json_fields.get("id"),
        title_field=json_fields.get("title"),
        text_fields=json_fields.get("text", ()),
        link_field=json_fields.get("link"),
    )
