"""What a crawl needs from a page: its links, its canonical URL, its robots directives; and the
one normal form of a URL, so the same page is never crawled (or indexed) under two addresses.

Normalisation (`normalize_url`): w3lib's `canonicalize_url` (Scrapy's: scheme and host
lower-cased, `.`/`..` resolved, percent-encoding made uniform, query arguments sorted, fragment
dropped), then the scheme's default port dropped, `;jsessionid=`-style path parameters dropped,
and tracking or session query parameters dropped (`TRACKING_PARAMS`, plus a source's own
`ignore_params`). Sorting the query is what makes `?b=2&a=1` and `?a=1&b=2` one page; servers
that give argument order a meaning are rare enough to accept.

Trap rules (`TrapGuard`): a URL longer than `max_url_length`, with more than `MAX_SEGMENTS` path
segments, or repeating one path segment `MAX_REPEATS` times (relative-link loops such as
`/a/b/a/b/a/b`) is refused, and at most `max_per_pattern` URLs of one *pattern* are crawled: the
path with digit runs replaced by `0` and token-like segments (session ids, hashes) by `*`, plus the
sorted names of its query arguments. An infinite calendar (`/cal?month=2031-07`) or a session id in
every path is one pattern, and stops at the limit; its pages are counted as `trapped`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from lxml import html as lxml_html
from w3lib.url import canonicalize_url

# Parameters that name a campaign, a click or a session, never a different page.
TRACKING_PARAMS = frozenset(
    {
        "gclid",
        "gclsrc",
        "dclid",
        "fbclid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "vero_id",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "s_cid",
        "sessionid",
        "session_id",
        "sid",
        "phpsessid",
        "jsessionid",
        "aspsessionid",
        "cfid",
        "cftoken",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "hsa_", "ga_")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_SEGMENTS = 16
MAX_REPEATS = 3
_PATH_PARAM = re.compile(r";(?:jsessionid|sessionid|sid|phpsessid)=[^/?#]*", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_TOKEN = re.compile(r"^(?=.*\d)(?=.*[a-z])[a-z0-9_-]{12,}$|^[0-9a-f]{16,}$", re.IGNORECASE)
# File types a crawl never asks for: nothing in them is text we index.
SKIPPED_EXTENSIONS = frozenset(
    (
        ".jpg",
        ".jpeg",
        ".png",
        ".gif",
        ".webp",
        ".svg",
        ".ico",
        ".bmp",
        ".tif",
        ".tiff",
        ".avif",
        ".mp3",
        ".mp4",
        ".m4a",
        ".m4v",
        ".wav",
        ".ogg",
        ".webm",
        ".mov",
        ".avi",
        ".mkv",
        ".flac",
        ".zip",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".7z",
        ".rar",
        ".tar",
        ".exe",
        ".dmg",
        ".msi",
        ".apk",
        ".iso",
        ".bin",
        ".woff",
        ".woff2",
        ".ttf",
        ".otf",
        ".eot",
        ".css",
        ".js",
        ".mjs",
        ".map",
        ".json",
        ".xml",
        ".rss",
        ".atom",
    )
)


def normalize_url(url: str, ignore_params: Iterable[str] = ()) -> str | None:
    """The URL's normal form, or None when it is not an http(s) URL at all."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        return None
    ignored = {p.lower() for p in ignore_params}
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and k.lower() not in ignored and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    path = _PATH_PARAM.sub("", parts.path)
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[parts.scheme.lower()]:
        host = f"{host}:{port}"
    rebuilt = urlunsplit((parts.scheme.lower(), host, path or "/", urlencode(query), ""))
    try:
        return str(canonicalize_url(rebuilt, keep_fragments=False))
    except ValueError:
        return None


def url_pattern(url: str) -> str:
    """The shape a trap repeats: host and path with numbers as 0 and tokens as *, query names."""
    parts = urlsplit(url)
    segments = ["*" if _TOKEN.match(s) else _DIGITS.sub("0", s) for s in parts.path.split("/")]
    names = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True)})
    return parts.netloc + "/".join(segments) + ("?" + "&".join(names) if names else "")


def skipped_extension(url: str) -> bool:
    path = urlsplit(url).path.lower()
    dot = path.rfind(".")
    return dot > path.rfind("/") and path[dot:] in SKIPPED_EXTENSIONS


@dataclass
class TrapGuard:
    """Refuses URLs that look like crawler traps, and counts what it refused by reason."""

    max_url_length: int = 2000
    max_per_pattern: int = 500
    patterns: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # reason -> count
    full_patterns: set[str] = field(default_factory=set)

    def admit(self, url: str) -> bool:
        """Whether a new URL may be crawled (counts it against its pattern when it may)."""
        reason = self.problem(url)
        if reason is None:
            pattern = url_pattern(url)
            if self.patterns[pattern] >= self.max_per_pattern:
                self.full_patterns.add(pattern)
                reason = "pattern"
            else:
                self.patterns[pattern] += 1
                return True
        self.refused[reason] += 1
        return False

    def problem(self, url: str) -> str | None:
        if len(url) > self.max_url_length:
            return "too_long"
        segments = [s for s in urlsplit(url).path.split("/") if s]
        if len(segments) > MAX_SEGMENTS:
            return "too_deep_path"
        if segments and Counter(segments).most_common(1)[0][1] >= MAX_REPEATS:
            return "repeating_path"
        return None


@dataclass(frozen=True)
class PageLinks:
    """What a page says about crawling it: its links and directives."""

    links: tuple[str, ...] = ()  # normalised, in page order, each once, nofollow ones left out
    nofollow_links: int = 0  # links marked rel=nofollow (not followed)
    canonical: str | None = None  # normalised <link rel=canonical>, when it names another URL
    noindex: bool = False  # <meta name=robots> or X-Robots-Tag say: do not index this page
    nofollow: bool = False  # ... say: follow none of its links


def robots_directives(*values: str | None) -> tuple[bool, bool]:
    """(noindex, nofollow) from robots meta contents and X-Robots-Tag values (`none` is both).

    An X-Robots-Tag naming another crawler (`otherbot: noindex`) is not for us and is ignored."""
    words: set[str] = set()
    for value in values:
        for part in (value or "").lower().split(","):
            part = part.strip()
            if ":" in part:
                agent, _, part = part.partition(":")
                if agent.strip() not in ("", "*", "infra-assets"):
                    continue
            words.add(part.strip())
    none = "none" in words
    return ("noindex" in words or none), ("nofollow" in words or none)


def page_links(
    body: bytes, base_url: str, *, robots_tag: str | None = None, ignore_params: Iterable[str] = ()
) -> PageLinks:
    """The links of an HTML page (a, area; resolved against <base href> and the page's URL)."""
    ignore = tuple(ignore_params)
    try:
        tree = lxml_html.fromstring(body)
    except (ValueError, TypeError, lxml_html.etree.ParserError):
        return PageLinks(noindex=robots_directives(robots_tag)[0], nofollow=robots_directives(robots_tag)[1])
    base = base_url
    for el in tree.iter("base"):
        href = el.get("href")
        if href:
            try:
                base = urljoin(base_url, href.strip())
            except ValueError:
                pass
            break
    metas = [
        el.get("content")
        for el in tree.iter("meta")
        if (el.get("name") or "").strip().lower() in ("robots", "infra-assets")
    ]
    noindex, nofollow = robots_directives(robots_tag, *metas)
    canonical = None
    own = normalize_url(base_url, ignore)
    for el in tree.iter("link"):
        rel = (el.get("rel") or "").lower().split()
        if "canonical" in rel and el.get("href"):
            try:
                target = normalize_url(urljoin(base, el.get("href", "").strip()), ignore)
            except ValueError:
                target = None
            if target and target != own:
                canonical = target
            break
    links: dict[str, None] = {}
    nofollow_links = 0
    if not nofollow:
        for el in tree.iter("a", "area"):
            href = (el.get("href") or "").strip()
            if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
                continue
            if "nofollow" in (el.get("rel") or "").lower().split():
                nofollow_links += 1
                continue
            try:
                target = normalize_url(urljoin(base, href), ignore)
            except ValueError:
                continue
            if target:
                links[target] = None
    return PageLinks(tuple(links), nofollow_links, canonical, noindex, nofollow)
