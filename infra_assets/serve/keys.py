"""Scoped API keys: `INFRA_ASSETS_KEYS_FILE` names a YAML file of keys, each with the sources it
may see and an optional rate.

```yaml
keys:
  - name: team_docs
    sha256: 9f86d08...          # hex sha256 of the bearer key; the key itself is never stored
    sources: [docs, pricing]    # omitted: every source
    rate: 20/s                  # optional: n/s, n/min or n/h
```

Decisions:
- A key is looked up by the sha256 of what the caller sent, so the file holds no secret and a
  lookup costs one hash; `INFRA_ASSETS_API_KEY`, when also set, is one more key that sees every
  source, with no rate.
- The scope of the request being answered is a context variable (`SCOPE`), set by the `Guard`
  for the request's whole call (routes in the thread pool inherit it; the MCP tools set it again
  from the request they are handed, because the SDK runs them outside the request's context).
  The `Searcher` and every route that answers with sources, URLs or passages read it, so an
  endpoint cannot forget the scope: a source outside it is answered exactly as an unknown one.
- Rates are token buckets per key (`n/s` refills n tokens a second and holds n at most), so one
  key over its rate gets 429 with `Retry-After` and no other key is slowed.
- The file is re-read when it changes; a file that cannot be read at start refuses to start, and
  one broken later keeps the last good keys (logged), so an edit never opens the API.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("infra_assets.api")

RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
UNIT_S = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
HEX64 = re.compile(r"^[0-9a-f]{64}$")

# The sources the request being answered may see; None: every source (no keys, or an unscoped key).
SCOPE: ContextVar[frozenset[str] | None] = ContextVar("infra_assets_scope", default=None)


class KeysFileError(ValueError):
    """The keys file cannot be used; the message names the file and the entry."""


@dataclass
class Bucket:
    """A token bucket: `per_s` tokens a second, `burst` at most."""

    per_s: float
    burst: float
    tokens: float = -1.0
    at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, now: float | None = None) -> float:
        """0 when a token was taken, else the seconds until one will be there."""
        now = time.monotonic() if now is None else now
        with self.lock:
            if self.tokens < 0:
                self.tokens, self.at = self.burst, now
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_s)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.per_s


@dataclass(frozen=True)
class ApiKey:
    name: str
    sources: frozenset[str] | None = None  # None: every source
    rate: tuple[float, float] | None = None  # (per second, burst)

    @property
    def scoped(self) -> bool:
        return self.sources is not None


def parse_rate(text: str) -> tuple[float, float]:
    """`20/s` → (20.0, 20.0); `100/min` → (1.67, 100.0): tokens a second and the bucket's size."""
    match = RATE_RE.match(str(text))
    if not match:
        raise ValueError(f"rate {text!r} is not n/s, n/min or n/h (for example 20/s)")
    count, unit = float(match.group(1)), match.group(2)
    if count <= 0:
        raise ValueError(f"rate {text!r} must be more than 0")
    return count / UNIT_S[unit], max(1.0, count)


def parse_keys(data: Any, where: str) -> dict[str, ApiKey]:
    """sha256 hex → key, from the file's parsed YAML; raises `KeysFileError` naming what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise KeysFileError(f"{where}: expected a mapping with a `keys:` list")
    found: dict[str, ApiKey] = {}
    names: set[str] = set()
    for i, entry in enumerate(data["keys"]):
        at = f"{where}: keys[{i}]"
        if not isinstance(entry, dict):
            raise KeysFileError(f"{at}: expected a mapping with name and sha256")
        extra = set(entry) - {"name", "sha256", "sources", "rate"}
        if extra:
            raise KeysFileError(f"{at}: unknown field {sorted(extra)[0]!r} (fields: name, sha256, sources, rate)")
        name, digest = entry.get("name"), str(entry.get("sha256") or "").strip().lower()
        if not isinstance(name, str) or not name.strip():
            raise KeysFileError(f"{at}: `name` is required")
        if name in names:
            raise KeysFileError(f"{at}: the name {name!r} is used twice")
        if not HEX64.match(digest):
            raise KeysFileError(f"{at} ({name}): `sha256` must be 64 hex digits (the sha256 of the key, not the key)")
        if digest in found:
            raise KeysFileError(f"{at} ({name}): the same key as {found[digest].name!r}")
        sources = entry.get("sources")
        if sources is not None and (
            not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources)
        ):
            raise KeysFileError(f"{at} ({name}): `sources` must be a non-empty list of source names (omit it: all)")
        rate = None
        if entry.get("rate") is not None:
            try:
                rate = parse_rate(entry["rate"])
            except ValueError as exc:
                raise KeysFileError(f"{at} ({name}): {exc}") from None
        names.add(name)
        found[digest] = ApiKey(name, frozenset(sources) if sources is not None else None, rate)
    return found


def load_keys(path: Path) -> dict[str, ApiKey]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeysFileError(f"keys file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KeysFileError(f"keys file {path}: not YAML ({str(exc).splitlines()[0]})") from None
    return parse_keys(data, f"keys file {path}")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """Who a bearer key is: the keys file's keys (re-read when it changes) and the single key."""

    def __init__(self, api_key: str | None = None, keys_file: Path | None = None):
        self.path = keys_file
        self.single = digest(api_key) if api_key else None
        self._keys: dict[str, ApiKey] = load_keys(keys_file) if keys_file else {}  # fails closed at start
        self._mtime: int | None = keys_file.stat().st_mtime_ns if keys_file else None
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    @property
    def required(self) -> bool:
        return self.single is not None or self.path is not None

    def keys(self) -> dict[str, ApiKey]:
        if self.path is not None:
            mtime: int | None
            try:
                mtime = self.path.stat().st_mtime_ns
            except OSError:
                mtime = self._mtime  # gone or unreadable: keep the last good keys
            if mtime != self._mtime:
                with self._lock:
                    try:
                        self._keys = load_keys(self.path)
                        log.info("keys file %s re-read: %d keys", self.path, len(self._keys))
                    except KeysFileError as exc:
                        log.error("%s; keeping the last good keys", exc)
                    self._mtime = mtime
        return self._keys

    def lookup(self, authorization: str) -> ApiKey | None:
        """The key a request's Authorization header carries, or None (missing or wrong)."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        hashed = digest(token.strip())
        if self.single is not None and hashed == self.single:
            return ApiKey("default")
        return self.keys().get(hashed)

    def wait(self, key: ApiKey) -> float:
        """0 when `key` may be answered now, else the seconds until its rate allows it."""
        if key.rate is None:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(key.name)
            if bucket is None or (bucket.per_s, bucket.burst) != key.rate:
                bucket = self._buckets[key.name] = Bucket(*key.rate)
        return bucket.take()


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


@contextmanager
def scoped(sources: frozenset[str] | None) -> Iterator[None]:
    token = SCOPE.set(sources)
    try:
        yield
    finally:
        SCOPE.reset(token)


def visible(names: Iterable[str]) -> list[str]:
    """The names among `names` the request being answered may see, in their order."""
    allowed = SCOPE.get()
    return [n for n in names if allowed is None or n in allowed]


def sees(name: str | None) -> bool:
    allowed = SCOPE.get()
    return allowed is None or name in allowed


def unscoped() -> bool:
    return SCOPE.get() is None


def unknown_source(name: str, known: Iterable[str], label: str = "known") -> str:
    """The refusal for a source that is unknown, or outside the key's scope (answered alike). A
    scoped key's refusal does not repeat the name, so no answer to it carries another source's."""
    listed = ", ".join(known) or "none"
    if SCOPE.get() is None:
        return f"unknown source {name[:60]!r} ({label}: {listed})"
    return f"a source asked for is not one this key sees (it sees: {listed})"


def no_document(url: str) -> str:
    """The refusal for a URL no visible document has (without repeating it to a scoped key)."""
    if SCOPE.get() is None:
        return f"no served document has the URL {url[:200]!r}"
    return "no served document this key sees has that URL"
