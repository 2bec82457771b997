"""Fetched HTML → (title, main text, language): the pipeline's cleaning stage.

Contract: `extract_html` never raises on content. Empty bodies, random bytes, broken markup,
wrong charsets and non-HTML media types all give an `Extracted`, with empty text when nothing
is readable; only a body that is not bytes/str raises `TypeError`. Main text is trafilatura in
precision mode, tuned on the article-extraction-benchmark (`bench/extraction.py`,
BENCHMARKS.md); paragraphs are separated by a single newline, never a blank line. `language`
is the page's declared language (`<html lang>`, meta tags), not a detected one.
"""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import charset_normalizer
import trafilatura
from lxml import etree
from lxml import html as lxml_html
from trafilatura.settings import Extractor

log = logging.getLogger(__name__)

# Built once: trafilatura copies what it changes, so one Extractor is safe to share.
_PRECISE = Extractor(output_format="txt", precision=True, comments=False, tables=True)
_BALANCED = Extractor(output_format="txt", comments=False, tables=True)
# Precision mode occasionally keeps only a notice ("This copy is for your personal use...")
# and drops the article; when its text is this short and balanced mode finds several times
# more, the balanced text is taken. Short pages are rare, so the retry costs little.
_RETRY_BELOW_CHARS = 1000
_RETRY_RATIO = 4

_PRESCAN_BYTES = 4096
_DETECT_BYTES = 65536
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.I)
_TAG = re.compile(r"<\s*[A-Za-z!/?]")
_HTML_START = re.compile(r"<(?:!doctype\s+html|html|head|body)\b", re.I)
_TITLE_SEP = re.compile(r"(\s+(?:[|\-–—·•»]|::)\s+)")  # captured, to rebuild the title
_LANG = re.compile(r"^[a-z]{2,3}$")
_ASCII_BYTES = bytes(range(128))
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_MARKUP_MEDIA = frozenset({"text/html", "application/xhtml+xml", "application/xml", "text/xml"})


@dataclass(frozen=True)
class Extracted:
    """The readable part of a page: title, main text (one paragraph per line), language."""

    title: str | None
    text: str
    language: str | None = None


# --- decoding ---------------------------------------------------------------------------------


def _codec(label: str | bytes | None) -> str | None:
    """Return the Python codec name for a charset label, or None if unknown."""
    if isinstance(label, bytes):
        label = label.decode("ascii", "ignore")
    try:
        name = codecs.lookup(label.strip()).name if label else None
    except LookupError:
        return None
    # Browsers read latin-1/ascii labels as windows-1252; pages rely on that for € and quotes.
    return "cp1252" if name in ("latin-1", "iso8859-1", "ascii") else name


def _strict(body: bytes, codec: str | None) -> str | None:
    """Decode strictly, or return None if the bytes are not valid in that codec."""
    try:
        return body.decode(codec) if codec else None
    except (UnicodeDecodeError, LookupError):
        return None


def _mostly_utf8(body: bytes) -> str | None:
    """Decode as UTF-8 if nearly all non-ASCII bytes form valid UTF-8 (a few bad bytes allowed)."""
    text = body.decode("utf-8", "replace")
    errors = text.count("\ufffd") - body.count("\ufffd".encode())
    non_ascii = len(body.translate(None, _ASCII_BYTES))
    # Single-byte text read as UTF-8 fails on about every non-ASCII byte; real UTF-8 with a
    # stray bad byte fails on very few.
    return text if errors <= 0.05 * non_ascii else None


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode an HTML body: BOM, then header charset, then <meta>, then detection; never raises."""
    if not body:
        return ""
    for bom, bom_codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(bom_codec, "replace")
    header = _HEADER_CHARSET.search(content_type or "")
    meta = _META_CHARSET.search(body[:_PRESCAN_BYTES])
    for label in (header and header.group(1), meta and meta.group(1)):
        codec = _codec(label)
        if codec and codec.startswith("utf-16"):
            codec = "utf-8"  # an ASCII-readable declaration cannot be UTF-16; servers lie
        text = _strict(body, codec)
        if text is None:
            continue  # the declared charset is wrong: try the next source
        if codec != "utf-8" and not body.isascii():
            # Legacy charsets accept almost any bytes; non-ASCII text that is also valid UTF-8
            # is in practice always UTF-8 behind a wrong label.
            return _strict(body, "utf-8") or text
        return text
    return _mostly_utf8(body) or body.decode(detect_charset(body) or "cp1252", "replace")


def detect_charset(body: bytes) -> str | None:
    """Guess the charset of an unlabeled, non-UTF-8 body, leaning to windows-1252 like browsers."""
    # Cut at a line end: multi-byte legacy codecs never use 0x0A inside a character.
    cut = body.rfind(b"\n", 0, _DETECT_BYTES) if len(body) > _DETECT_BYTES else len(body)
    matches = charset_normalizer.from_bytes(body[: cut if cut > 0 else _DETECT_BYTES])
    best = matches.best()
    if best is None:
        return None
    # Detectors confuse the Latin code pages on short texts (French read as Baltic cp1257);
    # windows-1252 is what browsers assume for unlabeled pages, so it wins when plausible.
    for match in matches:
        if "cp1252" in match.could_be_from_charset and match.chaos <= best.chaos + 0.05:
            return "cp1252"
    return _codec(best.encoding)


# --- parsing and metadata ---------------------------------------------------------------------


def _looks_binary(text: str) -> bool:
    """True if over 5% of the text's start is control or replacement characters."""
    sample = text[:4096]
    bad = sum(1 for ch in sample if ch == "\ufffd" or (ch < " " and ch not in "\t\n\r\f"))
    return bool(sample) and bad > 0.05 * len(sample)


def _parse(text: str) -> lxml_html.HtmlElement | None:
    """Parse a document with trafilatura's loader; wrap bare fragments it rejects."""
    tree = trafilatura.load_html(text)
    if tree is None and _TAG.search(text):
        tree = trafilatura.load_html(f"<html><body>{text}</body></html>")
    return tree


def _meta(tree: lxml_html.HtmlElement, name: str) -> str:
    """Content of <meta property=name> or <meta name=name>, whitespace collapsed."""
    values = tree.xpath("//meta[@property=$n or @name=$n]/@content", n=name)
    return _collapse(values[0]) if values else ""


def _collapse(text: str) -> str:
    return " ".join(str(text).split())


def _squash(text: str) -> str:
    """Casefolded word characters only, for comparing names that differ in spaces or dots."""
    return re.sub(r"\W+", "", text).casefold()


def _norm(text: str) -> str:
    return " ".join(re.sub(r"\W+", " ", text).split()).casefold()


def _site_names(tree: lxml_html.HtmlElement, url: str | None) -> set[str]:
    """Squashed names the site goes by: og:site_name, application-name, host labels."""
    names = {_squash(_meta(tree, "og:site_name")), _squash(_meta(tree, "application-name"))}
    canonical = tree.xpath("//link[@rel='canonical']/@href")
    page_url = url or _meta(tree, "og:url") or (canonical[0] if canonical else "")
    try:
        host = (urlsplit(page_url).hostname or "").removeprefix("www.")
    except ValueError:  # a malformed URL only costs us the host name
        host = ""
    names |= {_squash(host), _squash(host.split(".")[0])}
    names.discard("")
    return names


def _is_site(segment: str, sites: set[str]) -> bool:
    """True if a title part is the site's name ("Deccan Herald" for deccanherald.com)."""
    seg = _squash(segment)
    # Containment only with little left over: "The Hollywood Reporter" is the site
    # hollywoodreporter.com, "The Guardian view on Hong Kong" is not the site "the Guardian".
    return bool(seg) and any(
        seg == s or (len(s) > 3 and s in seg and len(seg) - len(s) <= 6) or (len(seg) > 3 and seg in s) for s in sites
    )


def _clean_title(raw: str, headings: list[str], sites: set[str]) -> str:
    """Drop " | Site name" style parts, preferring the part that matches an <h1>."""
    heads = {_norm(h) for h in headings}
    pieces = _TITLE_SEP.split(raw)  # [part, separator, part, separator, part, ...]
    parts = [
        raw,
        *("".join(pieces[:i]) for i in range(1, len(pieces), 2)),
        *("".join(pieces[i + 1 :]) for i in range(1, len(pieces), 2)),
    ]
    # An <h1> can be the site's logo, so a part that is only the site name never wins.
    matching = [p.strip() for p in parts if _norm(p) in heads and not _is_site(p, sites)]
    if matching:
        return max(matching, key=len)
    while len(pieces) > 1 and _is_site(pieces[-1], sites):
        pieces = pieces[:-2]
    while len(pieces) > 1 and _is_site(pieces[0], sites):
        pieces = pieces[2:]
    return "".join(pieces).strip()


def _title(tree: lxml_html.HtmlElement, url: str | None) -> tuple[str | None, set[str]]:
    """Return the cleaned title and the normalised title variants seen on the page."""
    headings = [h for h in (_collapse(e.text_content()) for e in tree.xpath("//h1")[:5]) if h]
    raw_titles = [
        _meta(tree, "og:title"),
        _meta(tree, "twitter:title"),
        _collapse(tree.findtext(".//title") or ""),
        *headings[:1],
    ]
    raw = next((t for t in raw_titles if t), "")
    title = _clean_title(raw, headings, _site_names(tree, url)) if raw else ""
    variants = {_norm(t) for t in (*raw_titles, *headings, title)} - {""}
    return (title or None), variants


def _language(tree: lxml_html.HtmlElement) -> str | None:
    """Return the page's declared primary language subtag (e.g. "en"), if any."""
    root = tree.getroottree().getroot()
    candidates = [
        root.get("lang"),
        root.get("xml:lang"),
        *tree.xpath("//meta[translate(@http-equiv,'CONTENT-LANGUAGE','content-language')='content-language']/@content"),
        _meta(tree, "language"),
        _meta(tree, "og:locale"),
    ]
    for value in candidates:
        primary = re.split(r"[-_,;\s]", (value or "").strip().lower(), maxsplit=1)[0]
        if _LANG.match(primary):
            return primary
    return None


# --- main text ----------------------------------------------------------------------------------


def _run(tree: lxml_html.HtmlElement, options: Extractor, url: str | None) -> str:
    try:
        return trafilatura.extract(tree, url=url, options=options) or ""
    except Exception:  # one odd page must not fail a whole batch of assets
        log.warning("trafilatura failed on %s", url or "a page", exc_info=True)
        return ""


def _main_text(tree: lxml_html.HtmlElement, url: str | None) -> str:
    """Precision-mode text, or balanced-mode text when precision kept almost nothing."""
    text = _run(tree, _PRECISE, url)
    if len(text) < _RETRY_BELOW_CHARS:
        fuller = _run(tree, _BALANCED, url)
        if len(fuller) > _RETRY_RATIO * len(text):
            text = fuller
    return text


def _tidy(text: str, title_variants: set[str]) -> str:
    """One paragraph per line, no blank lines, the headline dropped (it is in `title`)."""
    lines = [_collapse(line) for line in text.splitlines()]
    lines = [line for line in lines if line]
    if lines and _norm(lines[0]) in title_variants:
        lines = lines[1:]
    return "\n".join(lines)


def _plain_text(text: str) -> str:
    """Plain text → one paragraph per line (blank lines separate paragraphs)."""
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n".join(p for p in (_collapse(p) for p in paragraphs) if p)


def extract_html(body: bytes | str, *, url: str | None = None, content_type: str | None = None) -> Extracted:
    """Return the title, main text and language of a fetched page; never raises on content."""
    if not isinstance(body, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"body must be bytes or str, not {type(body).__name__}")
    text = body if isinstance(body, str) else decode_html(bytes(body), content_type)
    text = unicodedata.normalize("NFC", text.replace("\x00", ""))
    if not text.strip() or _looks_binary(text):
        return Extracted(None, "")
    media = (content_type or "").split(";")[0].strip().lower()
    if media and media not in _MARKUP_MEDIA:
        if media.startswith("text/"):
            return Extracted(None, _plain_text(text))
        if not _HTML_START.search(text[:2048]):
            return Extracted(None, "")  # JSON, PDF, feeds...: not a page
        # else: a page behind a wrong type (application/octet-stream and the like)
    if not _TAG.search(text):
        return Extracted(None, _plain_text(text))
    tree = _parse(text)
    if tree is None:
        return Extracted(None, "")
    title, variants = _title(tree, url)
    return Extracted(title, _tidy(_main_text(tree, url), variants), _language(tree))


# --- feed fragments -----------------------------------------------------------------------------

_BLOCKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "caption",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
_SKIP = frozenset(["script", "style", "template", "head", "noscript", "iframe", "object", "svg", "math"])


def html_fragment_to_text(html: str) -> str:
    """Return all the text of an HTML fragment (e.g. a feed entry), one paragraph per line."""
    html = (html or "").replace("\x00", "")
    if not html.strip():
        return ""
    try:
        # A document wrapper copes with fragments that carry their own <html>/<body> tags.
        root = lxml_html.document_fromstring(f"<html><body>{html}</body></html>")
    except (etree.ParserError, ValueError):
        return _plain_text(html)
    # Comments would hide the text that follows them from the walk; keep that text.
    etree.strip_tags(root, etree.Comment, etree.ProcessingInstruction)
    parts: list[str] = []
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, el in walker:
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if event == "start":
            if tag in _SKIP:
                walker.skip_subtree()  # its tail is still emitted at "end"
                continue
            if tag in _BLOCKS:
                parts.append("\n")
            parts.append(el.text or "")
        else:
            if tag in _BLOCKS:
                parts.append("\n")
            if el is not root:
                parts.append(el.tail or "")
    lines = (_collapse(line) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)
