"""Fetched documents (PDF, DOCX, PPTX, plain text, Markdown) → title and text per page.

The cleaning stage for bodies that are not HTML. `sniff` names the kind from the bytes (then the
Content-Type, then the URL); `extract_document` reads it. Contract: `extract_document` never
raises on content. Whatever the bytes, it returns a `DocumentText`; when nothing (or only part)
could be read, `reason` says why in one line a user can act on, and `needs_ocr` marks scanned
pages that a text layer cannot give. Page text joins its lines with "\\n", never a blank line
and never a form feed.

Parsers, chosen on the shared documents corpus (`bench/documents.py`, BENCHMARKS.md):

* PDF: PDFium through pypdfium2. It found as many gold `with` snippets as pdfminer.six and
  pypdf (97%), kept reading order best on multi-column and right-to-left pages, answered every
  hostile file, and is 15-20x faster than pdfminer.six and 7-8x faster than pypdf. Encrypted
  files open with the empty password (permissions-only encryption is no lock); a file that needs
  a user password gets a reason, as no password is ever tried. Scanned pages (an image, no text
  layer) set `needs_ocr`; OCR itself is not done.
* DOCX and PPTX: the package's XML read directly with lxml (already a dependency): reading order,
  text boxes, tables as `a | b` rows, headers and footers (once), footnotes, speaker notes, chart
  labels and picture alt text, which python-docx, python-pptx, mammoth and docx2python partly
  drop (python-pptx raises on shapes it does not know). Comments are left out.
* Text and Markdown: decoded here (BOM, UTF-8, a declared charset, then charset-normalizer).
  Markdown is lightly stripped to the text a reader sees (see `_markdown`).

Isolation: PDF, DOCX and PPTX are parsed in a separate worker process (started with
`subprocess`, not `fork`: the host runs Dagster threads), in its own session so that it and
anything it starts is killed as a group. Each document gets a wall-time limit, enforced by the
caller, and an address-space cap (`RLIMIT_AS`, set in the worker) above the worker's own
footprint. A breach kills the worker, and the next document starts a fresh one. A healthy worker
is reused, since starting one and importing PDFium costs far more than parsing most files.
Workers stop with `close()`, at garbage collection and at interpreter exit, and exit on their
own when the caller dies. Plain text and Markdown are decoded in the calling process (no parser
runs on them). Importing this module loads no parser.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib
import io
import json
import logging
import os
import posixpath
import re
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import weakref
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

DOCUMENT_KINDS = ("pdf", "docx", "pptx", "text", "markdown")
_ISOLATED_KINDS = frozenset({"pdf", "docx", "pptx"})

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MEMORY_MB = 1024
_START_TIMEOUT_S = 60.0  # a worker's start-up (importing PDFium) is not the document's time
_WORKER_DOCUMENTS = 200  # a worker is replaced after this many documents, bounding slow leaks
_CLOSE_WAIT_S = 2.0
_SELF_KILL_GRACE_S = 5.0  # the worker's own backstop, should its caller be wedged
_MB = 1 << 20
_EXIT_ORPHANED = 3  # the worker's own exit statuses
_EXIT_OVERSTAYED = 4

# --- sniffing ---------------------------------------------------------------------------------

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .doc/.ppt, and password-protected OOXML
_PDF_MAGIC_WINDOW = 1024  # readers accept the header anywhere in the first KiB
_MEDIA_KINDS = {
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    "application/acrobat": "pdf",
    "application/vnd.pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-word.document.macroenabled.12": "docx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.ms-powerpoint.presentation.macroenabled.12": "pptx",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow": "pptx",
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/x-gfm": "markdown",
}
# Types that say nothing about the content: the URL's extension decides.
_GENERIC_MEDIA = frozenset(
    {
        "",
        "application/octet-stream",
        "binary/octet-stream",
        "application/binary",
        "application/download",
        "application/force-download",
        "application/x-download",
        "application/unknown",
    }
)
_EXTENSION_KINDS = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".docm": "docx",
    ".pptx": "pptx",
    ".pptm": "pptx",
    ".ppsx": "pptx",
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdown": "markdown",
    ".mkd": "markdown",
}
_HTML_START = re.compile(rb"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S)
_BINARY_MAGIC = (b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"\x7fELF", _OLE_MAGIC)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _zip_kind(body: bytes) -> str | None:
    """'docx' / 'pptx' from the zip's central directory (no member is decompressed)."""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError, EOFError):
        return None
    if "word/document.xml" in names:
        return "docx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    return None


def _looks_html(body: bytes) -> bool:
    return _HTML_START.match(body[:4096]) is not None


def _looks_binary(body: bytes) -> bool:
    head = body[:8192]
    if head.startswith(_BINARY_MAGIC) or head.startswith(_ZIP_MAGIC):
        return True
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return False
    return b"\x00" in head


def sniff(body: bytes, content_type: str | None, url: str | None = None) -> str | None:
    """Return 'pdf' | 'docx' | 'pptx' | 'text' | 'markdown', or None for HTML and anything else.

    Magic bytes first (`%PDF-` in the first KiB; a zip whose directory holds word/document.xml or
    ppt/presentation.xml), then the Content-Type, then the URL's extension (only when the
    Content-Type is missing or generic, such as application/octet-stream). A body that starts
    like HTML is HTML whatever its label (servers answer errors with HTML pages), and a body
    that looks binary is never text. Cheap: at most the zip's directory is read.
    """
    body = bytes(body)
    head = body[:_PDF_MAGIC_WINDOW]
    pdf_at = head.find(b"%PDF-")
    if pdf_at != -1 and not _looks_html(head[:pdf_at]):
        return "pdf"
    if body.startswith(_ZIP_MAGIC):
        kind = _zip_kind(body)
        if kind is not None:
            return kind
    if body and _looks_html(body):
        return None
    media = _media_type(content_type)
    kind = _MEDIA_KINDS.get(media)
    if kind is None and media in _GENERIC_MEDIA and url:
        path = unquote(urlsplit(url).path).lower()
        kind = _EXTENSION_KINDS.get(posixpath.splitext(path)[1])
    if kind in ("text", "markdown") and _looks_binary(body):
        return None
    return kind


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentText:
    """A document's title and text: one element per PDF page or slide, one for the rest."""

    title: str | None
    pages: list[str]
    reason: str | None = None  # why nothing (or only part) could be read, for a user
    needs_ocr: bool = False  # pages are scanned images: OCR would find text the layer lacks

    @property
    def text(self) -> str:
        """All pages, one after the other."""
        return "\n".join(page for page in self.pages if page)


def _result(data: dict[str, Any]) -> DocumentText:
    pages = data.get("pages") or []
    title = data.get("title")
    reason = data.get("reason")
    return DocumentText(
        title=title if isinstance(title, str) and title else None,
        pages=[page for page in pages if isinstance(page, str)],
        reason=reason if isinstance(reason, str) and reason else None,
        needs_ocr=bool(data.get("needs_ocr")),
    )


# --- text clean-up (shared by every parser) ----------------------------------------------------

_LINE_BREAKS = re.compile(r"\r\n?|[\f\v\x85\u2028\u2029]")
# C0/C1 controls but tab and newline, lone surrogates, non-characters, soft hyphens, BOMs, and
# the Symbol/Wingdings private-use range (U+F000-U+F0FF, left after the few mapped below).
_JUNK = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u00ad\ufeff\uf000-\uf0ff\U000f0000-\U0010ffff]"
)
_SYMBOL_FONT = str.maketrans({"\uf0b7": "•", "\uf0a7": "▪", "\uf06e": "■", "\uf0d8": "➢", "\uf0fc": "✓"})
_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")


def clean_text(text: str) -> str:
    """Normalise extracted text: one line per line, no blank line, no control characters.

    Line breaks of every kind (form feeds included) become "\\n", runs of spaces one space,
    ligature glyphs their letters; controls, lone surrogates and symbol-font private-use
    characters go.
    """
    text = _LINE_BREAKS.sub("\n", text.translate(_SYMBOL_FONT).translate(_LIGATURES))
    text = _JUNK.sub("", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


_GENERIC_TITLES = re.compile(
    r"^(?:untitled|document\d*|presentation\d*|powerpoint presentation|slide \d+|title|doc\d*|"
    r"microsoft word|pdf|none|null|unknown)$",
    re.I,
)
_TITLE_PREFIX = re.compile(r"^(?:microsoft (?:word|powerpoint) - )", re.I)
_FILE_NAME = re.compile(r"^(?:\S+\.[A-Za-z0-9]{2,4}|\S*_\S*)$")  # report.exe, scan_0001, zen_of_python
_TITLE_FILE = re.compile(r"\.(?:docx?|pptx?|pdf|rtf|odt|indd|tex|txt|html?|qxd)$", re.I)


def _title(raw: str | None) -> str | None:
    """A metadata title, or None when it is empty, a file name or a generator's default."""
    if not raw:
        return None
    title = " ".join(clean_text(raw).split())
    title = _TITLE_FILE.sub("", _TITLE_PREFIX.sub("", title)).strip()
    if len(title) < 2 or len(title) > 300 or not any(c.isalpha() for c in title):
        return None
    if _GENERIC_TITLES.match(title) or _FILE_NAME.match(title):
        return None
    return title


# --- plain text and Markdown (in this process) -------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.I)


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_text(body: bytes, content_type: str | None = None) -> str | None:
    """Decode a text body: BOM, UTF-8, the header's charset, then detection. None if binary."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    match = _HEADER_CHARSET.search(content_type or "")
    declared = _codec(match.group(1) if match else None)
    if declared and declared != "utf-8":
        try:
            return body.decode(declared)
        except UnicodeDecodeError:
            pass  # the label is wrong: detect
    detected = _detect(body)
    if detected is None:
        return None if b"\x00" in body[:8192] else body.decode("cp1252", errors="replace")
    return body.decode(detected, errors="replace")


def _detect(body: bytes) -> str | None:
    """Guess an unlabeled, non-UTF-8 charset the way `clean.extract` does for pages."""
    from .extract import detect_charset  # imported here: this module must import cheaply

    return detect_charset(body)


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_FRONT_TITLE = re.compile(r"""^title:\s*["']?(.*?)["']?\s*$""", re.M)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_ATX = re.compile(r"^\s{0,3}#{1,6}(?:\s+(.*?))?\s*#*\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^\s{0,3}(?:(?:\*\s*){3,}|(?:-\s*){3,}|(?:_\s*){3,})$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+")
_BLOCK_START = re.compile(r"^\s*(?:[-*+]\s|\d{1,9}[.)]\s|>|\|)")
_QUOTE = re.compile(r"^\s{0,3}(?:>\s?)+")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\[[^\]]*\])")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+)>")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])")
_CODE = re.compile(r"`+([^`]+)`+")
_TAG = re.compile(r"</?(?:br|p|div|span|b|i|em|strong|sup|sub|u|small|kbd|details|summary)\b[^>]*>", re.I)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])")


def _inline_markdown(line: str) -> str:
    line = _IMAGE.sub(r"\1", line)
    line = _LINK.sub(r"\1", line)
    line = _AUTOLINK.sub(r"\1", line)
    line = _CODE.sub(r"\1", line)
    line = _STRONG.sub(r"\2", line)
    line = _EMPHASIS.sub(r"\1", line)
    line = _TAG.sub(" ", line)
    return _ESCAPE.sub(r"\1", line)


def _markdown(text: str) -> tuple[str | None, str]:
    """(title, text) of a Markdown document, lightly stripped of markup.

    Kept: the words a reader sees, one paragraph per line (soft line breaks joined, as Markdown
    renders them), list items, table rows as `a | b`, code blocks line by line. Dropped: heading
    and emphasis markers, link and image targets (the link text and alt text stay), HTML
    comments, rules, table delimiter rows, reference definitions and YAML front matter (its
    `title:` is used). The text is shown to users and embedded, where `**`, `](https://...)`
    and `|---|` are noise; the stripping is conservative: `_` inside words and lone `*` stay.
    """
    title: str | None = None
    front = _FRONT_MATTER.match(text)
    if front:
        found = _FRONT_TITLE.search(front.group(1))
        title = _title(found.group(1)) if found else None
        text = text[front.end() :]
    text = _HTML_COMMENT.sub("", text)
    out: list[str] = []
    paragraph: list[str] = []
    heading: str | None = None

    def flush() -> None:
        if paragraph:
            out.append(" ".join(paragraph))
            paragraph.clear()

    fence: str | None = None
    for raw in text.split("\n"):
        line = raw.rstrip()
        marker = _FENCE.match(line)
        if fence is not None:
            if marker and marker.group(1) == fence:
                fence = None
            elif line.strip():
                out.append(line.strip())
            continue
        if marker:
            flush()
            fence = marker.group(1)
            continue
        if not line.strip():
            flush()
            continue
        setext = _SETEXT.match(line)
        if setext and len(paragraph) == 1 and not _BLOCK_START.match(paragraph[0]):
            heading = paragraph[0]
            if title is None and setext.group(1).startswith("="):
                title = _title(heading)
            flush()
            continue
        if _RULE.match(line) or _TABLE_RULE.match(line) or _REF_DEF.match(line):
            flush()
            continue
        atx = _ATX.match(line)
        if atx:
            flush()
            heading = _inline_markdown(atx.group(1) or "").strip()
            if heading:
                out.append(heading)
                if title is None:
                    title = _title(heading)
            continue
        line = _QUOTE.sub("", line)
        stripped = line.strip()
        if stripped.startswith("|"):
            flush()
            cells = [cell.strip() for cell in stripped.strip("|").split("|")]
            out.append(" | ".join(_inline_markdown(cell) for cell in cells if cell))
            continue
        if _BLOCK_START.match(line):
            flush()
        hard_break = raw.endswith(("  ", "\\"))
        paragraph.append(_inline_markdown(stripped.rstrip("\\")))
        if hard_break:
            flush()
    flush()
    return title, clean_text("\n".join(out))


def _read_text(body: bytes, kind: str, content_type: str | None) -> DocumentText:
    text = decode_text(body, content_type)
    if text is None:
        return DocumentText(None, [], reason="not text: the body looks binary")
    if kind == "markdown":
        title, page = _markdown(text)
    else:
        title, page = None, clean_text(text)
    return DocumentText(title, [page], reason=None if page else "no text: the document is blank")


# --- extraction: the public entry point --------------------------------------------------------


def extract_document(
    body: bytes,
    kind: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    max_bytes: int | None = None,
    content_type: str | None = None,
) -> DocumentText:
    """Read one document of a kind `sniff` named; never raises on content.

    PDF, DOCX and PPTX are parsed in the shared worker process (see the module docstring) under
    `timeout_s` of wall time and `memory_mb` of address space above the worker's own; text and
    Markdown are decoded here (`content_type` may carry their charset). A body over `max_bytes`
    is not parsed. Raises ValueError only for a `kind` outside `DOCUMENT_KINDS`.
    """
    return _default_extractor().extract(
        body, kind, timeout_s=timeout_s, memory_mb=memory_mb, max_bytes=max_bytes, content_type=content_type
    )


_DEFAULT: DocumentExtractor | None = None
_DEFAULT_LOCK = threading.Lock()


def _default_extractor() -> DocumentExtractor:
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = DocumentExtractor()
        return _DEFAULT


def close_default_worker() -> None:
    """Stop the shared worker now (it also stops at interpreter exit); the next call starts one."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        extractor, _DEFAULT = _DEFAULT, None
    if extractor is not None:
        extractor.close()


def _forget_default_after_fork() -> None:
    # A forked child must not talk to (or kill) its parent's worker: it starts its own.
    global _DEFAULT, _DEFAULT_LOCK
    _DEFAULT = None
    _DEFAULT_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_default_after_fork)


class _Breach(Exception):
    """The worker went past its wall-time limit or died; `reason` is for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _stop_process(proc: subprocess.Popen[bytes], owner: int) -> None:
    """Kill a worker and its whole process group (it leads its own session); reap it."""
    if os.getpid() != owner:
        return  # a forked copy of the caller: the worker is not ours to stop
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    if proc.poll() is None:
        try:
            proc.wait(timeout=0.05)  # EOF on stdin: an idle worker exits by itself
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group outlives its leader: kill it even so
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        proc.wait(timeout=_CLOSE_WAIT_S)


# Run by the worker's interpreter: drop the current directory from the path (nothing there may
# shadow a module), load this file by path (not `infra_assets.clean`, whose package imports
# polars and trafilatura), then serve.
_BOOT = (
    "import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; import runpy; "
    "runpy.run_path(sys.argv[1], run_name='_infra_assets_document_worker')['_worker_main'](sys.argv[2:])"
)


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, entry: str | None) -> None:
        args = [sys.executable, "-c", _BOOT, os.path.abspath(__file__)]
        if entry:
            args.append(entry)
        self.owner = os.getpid()
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            start_new_session=True,
            close_fds=True,
        )
        self.documents = 0
        self.request: dict[str, Any] = {}
        self._finalizer = weakref.finalize(self, _stop_process, self.proc, self.owner)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin.fileno()
        self._out = self.proc.stdout.fileno()
        os.set_blocking(self._in, False)
        ready = self.receive(time.monotonic() + _START_TIMEOUT_S, "starting the document parser")
        if not ready.get("ready"):
            raise _Breach(f"document parser did not start: {ready.get('reason') or 'no reply'}")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self._finalizer()

    def send(self, header: dict[str, Any], body: bytes, deadline: float) -> None:
        self.request = header
        blob = json.dumps(header).encode()
        data = memoryview(struct.pack("!I", len(blob)) + blob + struct.pack("!Q", len(body)) + body)
        poller = select.poll()
        poller.register(self._in, select.POLLOUT)
        while data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Breach("timeout")
            if not poller.poll(left * 1000):
                continue
            try:
                sent = os.write(self._in, data[: 1 << 20])
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError) as exc:
                raise _Breach(self._death()) from exc
            data = data[sent:]

    def _read(self, n: int, deadline: float, doing: str) -> bytes:
        buf = bytearray()
        poller = select.poll()
        poller.register(self._out, select.POLLIN)
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(max(left, 0.0) * 1000):
                if time.monotonic() >= deadline:
                    raise _Breach("timeout")
                continue
            chunk = os.read(self._out, min(n - len(buf), 1 << 20))
            if not chunk:
                raise _Breach(self._death(doing))
            buf += chunk
        return bytes(buf)

    def receive(self, deadline: float, doing: str = "parsing") -> dict[str, Any]:
        (size,) = struct.unpack("!Q", self._read(8, deadline, doing))
        reply = json.loads(self._read(size, deadline, doing))
        if not isinstance(reply, dict):
            raise _Breach("the document parser sent a malformed reply")
        return reply

    def _death(self, doing: str = "parsing") -> str:
        try:
            code = self.proc.wait(timeout=_CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            return f"the document parser stopped answering while {doing}"
        if doing != "parsing":
            return f"document parser did not start (exit status {code})"
        timeout_s, memory_mb = self.request.get("timeout_s"), self.request.get("memory_mb")
        if code == _EXIT_OVERSTAYED:
            return f"parsing took over {timeout_s:g} s: stopped"
        if code == -signal.SIGXCPU:
            return f"parsing took over {timeout_s:g} s of CPU time: stopped"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            # PDFium aborts when an allocation fails under the address-space cap, so a crash is
            # as likely a memory breach (a decompression bomb) as a malformed file.
            return f"parser crashed ({name}): the file is malformed or needs over {memory_mb} MB"
        return f"the document parser exited (status {code}) while {doing}"


class DocumentExtractor:
    """Reads documents in a reused, isolated worker process; thread-safe (one document at a time).

    `extract_document` uses one shared instance; make your own to run several workers side by
    side, or to stop one deterministically (`close()`, or `with DocumentExtractor() as ex:`).
    `entry` ("module:function", called in the worker as f(body, kind) -> dict) replaces the
    built-in parsers: for benchmarks and tests.
    """

    def __init__(
        self,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        memory_mb: int = DEFAULT_MEMORY_MB,
        max_bytes: int | None = None,
        worker_documents: int = _WORKER_DOCUMENTS,
        entry: str | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.max_bytes = max_bytes
        self.worker_documents = worker_documents
        self.entry = entry
        self._worker: _Worker | None = None
        self._lock = threading.Lock()
        self.workers_started = 0

    def __enter__(self) -> DocumentExtractor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker (if any) and everything it started; the next document starts one."""
        with self._lock:
            self._drop()

    @property
    def worker_pid(self) -> int | None:
        """The running worker's process id, if one is running (for monitoring and tests)."""
        worker = self._worker
        return worker.proc.pid if worker is not None and worker.alive else None

    def _drop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()

    def _ready_worker(self) -> _Worker:
        worker = self._worker
        if worker is not None and worker.owner != os.getpid():
            worker = self._worker = None  # inherited through fork: leave it to its owner
        if worker is not None and (not worker.alive or worker.documents >= self.worker_documents):
            self._drop()
            worker = None
        if worker is None:
            worker = self._worker = _Worker(self.entry)
            self.workers_started += 1
        return worker

    def extract(
        self,
        body: bytes,
        kind: str,
        *,
        timeout_s: float | None = None,
        memory_mb: int | None = None,
        max_bytes: int | None = None,
        content_type: str | None = None,
    ) -> DocumentText:
        """Read one document (see `extract_document`); never raises on content."""
        if self.entry is None and kind not in DOCUMENT_KINDS:
            raise ValueError(f"unknown document kind {kind!r}: expected one of {DOCUMENT_KINDS}")
        body = bytes(body)  # the same object when it is bytes already; a copy of a bytearray or view
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        memory_mb = self.memory_mb if memory_mb is None else memory_mb
        max_bytes = self.max_bytes if max_bytes is None else max_bytes
        if not body:
            return DocumentText(None, [], reason="empty document (0 bytes)")
        if max_bytes is not None and len(body) > max_bytes:
            return DocumentText(None, [], reason=f"document over the size cap ({len(body)} bytes > {max_bytes})")
        if kind in ("text", "markdown") and self.entry is None:
            return _read_text(body, kind, content_type)
        header = {"kind": kind, "timeout_s": timeout_s, "memory_mb": memory_mb}
        with self._lock:
            try:
                worker = self._ready_worker()
            except (_Breach, OSError, ValueError) as exc:
                self._drop()
                reason = exc.reason if isinstance(exc, _Breach) else f"document parser did not start: {exc}"
                return DocumentText(None, [], reason=reason)
            deadline = time.monotonic() + timeout_s
            try:
                worker.send(header, body, deadline)
                reply = worker.receive(deadline)
            except (_Breach, OSError, ValueError, struct.error) as exc:
                self._drop()
                if isinstance(exc, _Breach) and exc.reason == "timeout":
                    reason = f"parsing took over {timeout_s:g} s: stopped"
                else:
                    reason = exc.reason if isinstance(exc, _Breach) else f"the document parser failed: {exc}"
                log.warning("document worker replaced (%s, %d bytes): %s", kind, len(body), reason)
                return DocumentText(None, [], reason=reason)
            worker.documents += 1
            if reply.pop("fatal", False):
                self._drop()  # out of memory: the worker's state is not to be trusted
            return _result(reply)


# --- the worker (runs in its own process) ------------------------------------------------------


class _Limits:
    """Caps for one document: address space above the worker's own, CPU time, a self-deadline."""

    def __init__(self) -> None:
        import resource

        self._resource = resource
        self.deadline: float | None = None
        self._as = resource.getrlimit(resource.RLIMIT_AS)
        self._cpu = resource.getrlimit(resource.RLIMIT_CPU)

    @staticmethod
    def address_space() -> int:
        try:
            with open("/proc/self/statm", encoding="ascii") as fh:
                return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return 0

    def _set(self, which: int, soft: int, current: tuple[int, int]) -> None:
        hard = current[1]
        if hard != self._resource.RLIM_INFINITY:
            soft = min(soft, hard)
        with contextlib.suppress(ValueError, OSError):
            self._resource.setrlimit(which, (soft, hard))

    def apply(self, memory_mb: int, timeout_s: float) -> None:
        r = self._resource
        self._set(r.RLIMIT_AS, self.address_space() + memory_mb * _MB, self._as)
        used = r.getrusage(r.RUSAGE_SELF)
        cpu = used.ru_utime + used.ru_stime
        self._set(r.RLIMIT_CPU, int(cpu + timeout_s + _SELF_KILL_GRACE_S) + 1, self._cpu)
        self.deadline = time.monotonic() + timeout_s + _SELF_KILL_GRACE_S

    def lift(self) -> None:
        self.deadline = None
        with contextlib.suppress(ValueError, OSError):
            self._resource.setrlimit(self._resource.RLIMIT_AS, self._as)
            self._resource.setrlimit(self._resource.RLIMIT_CPU, self._cpu)


def _watchdog(limits: _Limits, parent: int) -> None:
    """Exit when the caller is gone (the worker was orphaned) or a document overstays."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(_EXIT_ORPHANED)
        deadline = limits.deadline
        if deadline is not None and time.monotonic() > deadline:
            os._exit(_EXIT_OVERSTAYED)


def _read_exact(stream: Any, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _write(stream: Any, reply: dict[str, Any]) -> None:
    blob = json.dumps(reply).encode()
    stream.write(struct.pack("!Q", len(blob)) + blob)
    stream.flush()


def _worker_main(argv: list[str]) -> None:
    """Serve documents on stdin/stdout until EOF: [len][json header][len][body] → [len][json]."""
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a parser that prints must not corrupt the replies
    parse: Callable[[bytes, str], dict[str, Any]]
    if argv:
        module, _, name = argv[0].partition(":")
        parse = getattr(importlib.import_module(module), name)
    else:
        parse = _parse
        _preload()
    limits = _Limits()
    threading.Thread(target=_watchdog, args=(limits, os.getppid()), daemon=True).start()
    _write(stdout, {"ready": True, "pid": os.getpid()})
    while True:
        head = _read_exact(stdin, 4)
        if head is None:
            return
        header = json.loads(_read_exact(stdin, struct.unpack("!I", head)[0]) or b"{}")
        size = _read_exact(stdin, 8)
        body = _read_exact(stdin, struct.unpack("!Q", size)[0]) if size else None
        if body is None:
            return
        memory_mb = int(header.get("memory_mb") or DEFAULT_MEMORY_MB)
        fatal = False
        limits.apply(memory_mb, float(header.get("timeout_s") or DEFAULT_TIMEOUT_S))
        try:
            reply = parse(body, str(header.get("kind")))
        except MemoryError:
            reply, fatal = {"reason": f"parsing used over {memory_mb} MB: stopped"}, True
        except RecursionError:
            reply = {"reason": f"unreadable {_label(header.get('kind'))}: nested too deeply"}
        except Exception as exc:
            reply = {"reason": _failure(header.get("kind"), exc)}
        finally:
            limits.lift()
        del body
        try:
            _write(stdout, {**reply, "fatal": fatal})
        except MemoryError:
            _write(stdout, {"reason": f"parsing used over {memory_mb} MB: stopped", "fatal": True})
        if fatal:
            return


def _label(kind: object) -> str:
    return str(kind).split(":")[0].upper()


def _failure(kind: object, exc: BaseException) -> str:
    detail = (str(exc).strip().splitlines() or [""])[0][:160]
    label = _label(kind)
    if isinstance(exc, zipfile.BadZipFile | EOFError | zipfile.LargeZipFile):
        return f"truncated or corrupt {label}: not a readable zip package ({detail or type(exc).__name__})"
    return f"unreadable {label}: {type(exc).__name__}" + (f": {detail}" if detail else "")


def _preload() -> None:
    importlib.import_module("pypdfium2")
    importlib.import_module("lxml.etree")


def _parse(body: bytes, kind: str) -> dict[str, Any]:
    if kind == "pdf":
        return parse_pdf(body)
    if kind in ("docx", "pptx"):
        if body.startswith(_OLE_MAGIC):
            return {"reason": f"password-protected or legacy (.doc/.ppt) Office file: not readable as {kind.upper()}"}
        return parse_docx(body) if kind == "docx" else parse_pptx(body)
    return {"reason": f"unsupported document kind: {kind}"}


# --- PDF (PDFium) -------------------------------------------------------------------------------

_MIN_PAGE_CHARS = 20  # fewer visible characters than this on a page with an image: a scan
_EOF_WINDOW = 4096
_PDF_OPEN_REASONS = {
    1: "unreadable PDF: PDFium failed for an unknown reason",
    2: "unreadable PDF: PDFium could not read the data",
    3: "truncated or corrupt PDF: not in PDF format or damaged beyond repair",
    4: "encrypted PDF: a password is needed",
    5: "encrypted PDF: its security handler is not supported",
    6: "truncated or corrupt PDF: the page tree is damaged",
}


def _visible(text: str) -> int:
    return sum(1 for c in text if not c.isspace())


def _has_image(raw: Any, page: Any) -> bool:
    """Whether the page holds an image object (top level or one form deep; forms can recurse)."""
    count = raw.FPDFPage_CountObjects(page)
    for i in range(max(count, 0)):
        obj = raw.FPDFPage_GetObject(page, i)
        kind = raw.FPDFPageObj_GetType(obj)
        if kind == raw.FPDF_PAGEOBJ_IMAGE:
            return True
        if kind == raw.FPDF_PAGEOBJ_FORM:
            for j in range(max(raw.FPDFFormObj_CountObjects(obj), 0)):
                if raw.FPDFPageObj_GetType(raw.FPDFFormObj_GetObject(obj, j)) == raw.FPDF_PAGEOBJ_IMAGE:
                    return True
    return False


def parse_pdf(body: bytes) -> dict[str, Any]:
    """A PDF's text layer, page by page, with PDFium; reasons for locks, scans and damage."""
    pdfium = importlib.import_module("pypdfium2")
    raw = importlib.import_module("pypdfium2.raw")
    try:
        doc = pdfium.PdfDocument(body)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        return {"reason": _PDF_OPEN_REASONS.get(code if isinstance(code, int) else 0, f"unreadable PDF: {exc}")}
    try:
        title = _title(doc.get_metadata_value("Title"))
        # PDFium rebuilds a broken cross-reference table by scanning the file: the text that comes
        # out may then be partial, which the user should know.
        rebuilt = not raw.FPDF_DocumentHasValidCrossReferenceTable(doc.raw)
        n = len(doc)
        pages: list[str] = []
        broken: list[int] = []
        scanned = 0
        for i in range(n):
            try:
                page = doc[i]
            except pdfium.PdfiumError:
                broken.append(i + 1)
                pages.append("")
                continue
            try:
                textpage = page.get_textpage()
                try:
                    text = clean_text(textpage.get_text_bounded())
                finally:
                    textpage.close()
                if _visible(text) < _MIN_PAGE_CHARS and _has_image(raw, page):
                    scanned += 1
            except pdfium.PdfiumError:
                broken.append(i + 1)
                text = ""
            finally:
                page.close()
            pages.append(text)
    finally:
        doc.close()
    reasons = []
    if n == 0:
        reasons.append("truncated or corrupt PDF: no pages")
    if broken:
        listed = ", ".join(map(str, broken[:5])) + (" ..." if len(broken) > 5 else "")
        reasons.append(f"truncated or corrupt PDF: {len(broken)} of {n} pages could not be read ({listed})")
    elif b"%%EOF" not in body[-_EOF_WINDOW:] and n:
        reasons.append("truncated or corrupt PDF: no end-of-file marker, the text may be incomplete")
    elif rebuilt:
        reasons.append("damaged PDF: its cross-reference table was rebuilt, some text may be missing")
    if scanned:
        which = "no text layer" if scanned == n else f"{scanned} of {n} pages have no text layer"
        reasons.append(f"scanned PDF: {which} (OCR is not done)")
    return {"title": title, "pages": pages, "reason": "; ".join(reasons) or None, "needs_ocr": scanned > 0}


# --- OOXML (DOCX, PPTX) -----------------------------------------------------------------------

_MAX_PART_BYTES = 256 * _MB  # an XML part that unpacks to more is refused before it is read
_NAMESPACES = {
    "http://schemas.openxmlformats.org/wordprocessingml/2006/main": "w",
    "http://purl.oclc.org/ooxml/wordprocessingml/main": "w",
    "http://schemas.openxmlformats.org/drawingml/2006/main": "a",
    "http://purl.oclc.org/ooxml/drawingml/main": "a",
    "http://schemas.openxmlformats.org/presentationml/2006/main": "p",
    "http://purl.oclc.org/ooxml/presentationml/main": "p",
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships": "r",
    "http://purl.oclc.org/ooxml/officeDocument/relationships": "r",
    "http://schemas.openxmlformats.org/package/2006/relationships": "rel",
    "http://schemas.openxmlformats.org/markup-compatibility/2006": "mc",
    "http://schemas.openxmlformats.org/officeDocument/2006/math": "m",
    "http://purl.oclc.org/ooxml/officeDocument/math": "m",
    "http://schemas.openxmlformats.org/drawingml/2006/chart": "c",
    "http://purl.oclc.org/ooxml/drawingml/chart": "c",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing": "wp",
    "http://purl.oclc.org/ooxml/drawingml/wordprocessingDrawing": "wp",
}
_TAGS: dict[str, str] = {}


def _tag(el: Any) -> str:
    """'w:p' for {wordprocessingml}p, in transitional and strict OOXML alike."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""  # comment, processing instruction, entity
    short = _TAGS.get(tag)
    if short is None:
        uri, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
        short = _TAGS[tag] = f"{_NAMESPACES.get(uri, '?')}:{local}"
    return short


def _attr(el: Any, name: str) -> str | None:
    """An attribute by local name, whatever its namespace."""
    for key, value in el.attrib.items():
        if key == name or key.endswith("}" + name):
            return str(value)
    return None


def _children(el: Any, tag: str) -> Iterator[Any]:
    return (child for child in el if _tag(child) == tag)


def _child(el: Any, *path: str) -> Any:
    for tag in path:
        if el is None:
            return None
        el = next(_children(el, tag), None)
    return el


class _Package:
    """An OOXML zip: parts by name, their relationships, XML parsed safely and leniently."""

    def __init__(self, body: bytes) -> None:
        from lxml import etree

        self._etree = etree
        self._zip = zipfile.ZipFile(io.BytesIO(body))
        self._names = {info.filename.lower(): info for info in self._zip.infolist()}
        self._parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            recover=True,
        )

    def xml(self, name: str | None) -> Any:
        """The root element of a part, or None when it is missing, too big or not XML."""
        if not name:
            return None
        info = self._names.get(name.lstrip("/").lower())
        if info is None:
            return None
        if info.file_size > _MAX_PART_BYTES:
            raise ValueError(f"part {info.filename} unpacks to {info.file_size} bytes (over {_MAX_PART_BYTES})")
        try:
            data = self._zip.read(info)
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError):
            return None
        if not data.strip():
            return None
        try:
            root = self._etree.fromstring(data, self._parser)
        except self._etree.XMLSyntaxError as exc:
            _raise_if_out_of_memory(exc.error_log)
            return None
        _raise_if_out_of_memory(self._parser.error_log)
        return root

    def rels(self, part: str) -> dict[str, tuple[str, str]]:
        """{relationship id: (type, target part name)} of a part (internal targets only)."""
        folder, name = posixpath.split(part)
        root = self.xml(posixpath.join(folder, "_rels", name + ".rels"))
        found: dict[str, tuple[str, str]] = {}
        if root is None:
            return found
        for rel in root:
            rid, target = rel.get("Id"), rel.get("Target")
            if not rid or not target or (rel.get("TargetMode") or "").lower() == "external":
                continue
            target = unquote(target)
            path = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
            found[rid] = ((rel.get("Type") or "").rsplit("/", 1)[-1], posixpath.normpath(path))
        return found

    def main_part(self, default: str) -> str:
        for rel_type, target in self.rels("").values():
            if rel_type == "officeDocument":
                return target
        return default

    def core_title(self) -> str | None:
        core = next((t for rel_type, t in self.rels("").values() if rel_type == "core-properties"), None)
        root = self.xml(core or "docProps/core.xml")
        found = _child(root, "dc:title") if root is not None else None
        return _title(found.text) if found is not None and found.text else None


def _raise_if_out_of_memory(errors: Any) -> None:
    # libxml2 reports a failed allocation as a syntax error (recover mode may even return a
    # partial tree): under the address-space cap that is a memory breach, not a corrupt file.
    if any(getattr(error, "type_name", "") == "ERR_NO_MEMORY" for error in errors):
        raise MemoryError("libxml2 ran out of memory")


def _chart_lines(package: _Package, part: str | None) -> list[str]:
    """A chart's title, then one line per series: its name and the category/value pairs."""
    root = package.xml(part)
    if root is None:
        return []
    lines: list[str] = []
    for title in root.iter("{*}title"):
        text = " ".join(t.text or "" for t in title.iter("{*}t")).strip()
        if text:
            lines.append(text)
    for series in root.iter("{*}ser"):
        tx = _child(series, "c:tx")
        name = " ".join(v.text or "" for v in tx.iter("{*}v")).strip() if tx is not None else ""
        cat, val = _child(series, "c:cat"), _child(series, "c:val")
        cats = [v.text or "" for v in cat.iter("{*}v")] if cat is not None else []
        vals = [_number(v.text or "") for v in val.iter("{*}v")] if val is not None else []
        pairs = [f"{c} {v}".strip() for c, v in zip(cats, vals)] if cats else vals
        line = (name + ": " if name else "") + ", ".join(p for p in pairs if p)
        if line.strip(": "):
            lines.append(line)
    return lines


def _number(value: str) -> str:
    """A chart value as a person wrote it: 4.4000000000000004 → 4.4."""
    try:
        return f"{float(value):.12g}"
    except ValueError:
        return value


_AUTO_ALT = re.compile(r"automatically generated", re.I)


def _alt_text(el: Any) -> str | None:
    """A picture's description (alt text), unless empty, a file name or Office's automatic caption."""
    if el is None:
        return None
    text = " ".join((_attr(el, "descr") or "").split())
    return text if text and not _AUTO_ALT.search(text) and not _FILE_NAME.match(text) else None


def _chart_targets(el: Any, rels: dict[str, tuple[str, str]]) -> Iterator[str]:
    for chart in el.iter("{*}chart"):
        rid = _attr(chart, "id")
        if rid and rid in rels and rels[rid][0] == "chart":
            yield rels[rid][1]


class _Docx:
    """A DOCX's text in reading order: headers, body (text boxes in place), notes, footers."""

    _SKIP = frozenset(
        {
            "w:pPr",
            "w:rPr",
            "w:delText",
            "w:instrText",
            "w:delInstrText",
            "w:del",
            "w:moveFrom",
            "w:fldData",
            "w:sectPr",
            "mc:Fallback",
            "w:commentReference",
            "w:footnoteReference",
            "w:endnoteReference",
        }
    )
    _WRAPPERS = frozenset({"w:sdt", "w:sdtContent", "w:customXml", "w:ins", "w:moveTo", "w:smartTag", "mc:Choice"})

    def __init__(self, package: _Package, part: str) -> None:
        self.package = package
        self.rels = package.rels(part)
        self.charted: set[str] = set()

    def blocks(self, el: Any, out: list[str]) -> None:
        for child in el:
            tag = _tag(child)
            if tag == "w:p":
                self.paragraph(child, out)
            elif tag == "w:tbl":
                self.table(child, out)
            elif tag == "mc:AlternateContent":
                choice = _child(child, "mc:Choice")
                if choice is not None:
                    self.blocks(choice, out)
            elif tag in self._WRAPPERS:
                self.blocks(child, out)

    def paragraph(self, p: Any, out: list[str]) -> None:
        slot = len(out)
        out.append("")
        parts: list[str] = []
        self.inline(p, parts, out)
        out[slot] = "".join(parts)

    def inline(self, el: Any, parts: list[str], out: list[str]) -> None:
        for child in el:
            tag = _tag(child)
            if tag in ("w:t", "m:t"):
                parts.append(child.text or "")
            elif tag in ("w:tab", "w:ptab"):
                parts.append("\t")
            elif tag in ("w:br", "w:cr"):
                parts.append("\n")
            elif tag == "w:noBreakHyphen":
                parts.append("-")
            elif tag == "w:txbxContent":
                self.blocks(child, out)
            elif tag == "wp:docPr":
                alt = _alt_text(child)
                if alt:
                    out.append(alt)
            elif tag == "c:chart":
                for target in _chart_targets(el, self.rels):
                    if target not in self.charted:
                        self.charted.add(target)
                        out.extend(_chart_lines(self.package, target))
            elif tag == "mc:AlternateContent":
                choice = _child(child, "mc:Choice")
                if choice is not None:
                    self.inline(choice, parts, out)
            elif tag not in self._SKIP and len(child):
                self.inline(child, parts, out)

    def table(self, tbl: Any, out: list[str]) -> None:
        for row in self._within(tbl, "w:tr"):
            cells = []
            for cell in self._within(row, "w:tc"):
                inner: list[str] = []
                self.blocks(cell, inner)
                text = " ".join(" ".join(line.split()) for line in inner if line.strip())
                if text:
                    cells.append(text)
            if cells:
                out.append(" | ".join(cells))

    def _within(self, el: Any, tag: str) -> Iterator[Any]:
        for child in el:
            t = _tag(child)
            if t == tag:
                yield child
            elif t in self._WRAPPERS:
                yield from self._within(child, tag)


_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d+(?:\s*(?:of|/)\s*\d+)?$", re.I)


def _docx_notes(package: _Package, part: str, skip_types: tuple[str, ...]) -> list[str]:
    root = package.xml(part)
    out: list[str] = []
    if root is None:
        return out
    walker = _Docx(package, part)
    for note in root:
        if (_attr(note, "type") or "normal") in skip_types:
            continue
        walker.blocks(note, out)
    return out


def _docx_title(package: _Package, body_root: Any, styles_part: str | None) -> str | None:
    title = package.core_title()
    if title:
        return title
    names: dict[str, str] = {}
    styles = package.xml(styles_part)
    if styles is not None:
        for style in _children(styles, "w:style"):
            name = _child(style, "w:name")
            style_id = _attr(style, "styleId")
            if style_id and name is not None:
                names[style_id] = (_attr(name, "val") or "").lower()
    for p in body_root.iter("{*}p"):
        if _tag(p) != "w:p":
            continue
        style = _child(p, "w:pPr", "w:pStyle")
        style_id = _attr(style, "val") if style is not None else None
        if style_id and names.get(style_id, style_id.lower()) in ("title", "heading 1", "heading1"):
            text = "".join(t.text or "" for t in p.iter("{*}t") if _tag(t) == "w:t")
            if _title(text):
                return _title(text)
    return None


def parse_docx(body: bytes) -> dict[str, Any]:
    """A DOCX's text (one page): header lines, body, footnotes, endnotes, footer lines."""
    package = _Package(body)
    main = package.main_part("word/document.xml")
    root = package.xml(main)
    body_el = _child(root, "w:body") if root is not None else None
    if body_el is None:
        return {"reason": "truncated or corrupt DOCX: the main document part is missing or unreadable"}
    walker = _Docx(package, main)
    lines: list[str] = []
    walker.blocks(body_el, lines)
    headers: list[str] = []
    footers: list[str] = []
    styles = None
    for rel_type, target in walker.rels.values():
        if rel_type in ("header", "footer"):
            part_root = package.xml(target)
            if part_root is not None:
                found: list[str] = []
                _Docx(package, target).blocks(part_root, found)
                (headers if rel_type == "header" else footers).extend(found)
        elif rel_type in ("footnotes", "endnotes"):
            lines.extend(_docx_notes(package, target, ("separator", "continuationSeparator", "continuationNotice")))
        elif rel_type == "styles":
            styles = target

    def furniture(found: list[str]) -> list[str]:
        seen: set[str] = set()
        kept = []
        for line in clean_text("\n".join(found)).split("\n"):
            if line and line not in seen and not _PAGE_NUMBER.match(line):
                seen.add(line)
                kept.append(line)
        return kept

    text = clean_text("\n".join([*furniture(headers), *lines, *furniture(footers)]))
    reason = None if text else "no text: the document is blank or holds only images"
    return {"title": _docx_title(package, body_el, styles), "pages": [text], "reason": reason}


_SLIDE_FURNITURE = frozenset({"sldNum", "dt", "ftr", "hdr", "sldImg"})
_SLIDE_NUMBER = re.compile(r"slide(\d+)\.xml$")


def _drawing_paragraphs(tx_body: Any) -> list[str]:
    lines = []
    for p in _children(tx_body, "a:p"):
        parts: list[str] = []
        for el in p.iter():
            tag = _tag(el)
            if tag == "a:t":
                parts.append(el.text or "")
            elif tag == "a:br":
                parts.append("\n")
        lines.append("".join(parts))
    return lines


def _drawing_table(tbl: Any) -> list[str]:
    rows = []
    for tr in tbl.iter("{*}tr"):
        cells = []
        for tc in _children(tr, "a:tc"):
            if _attr(tc, "hMerge") in ("1", "true") or _attr(tc, "vMerge") in ("1", "true"):
                continue
            body = _child(tc, "a:txBody")
            text = " ".join(" ".join(line.split()) for line in _drawing_paragraphs(body)) if body is not None else ""
            if text.strip():
                cells.append(text.strip())
        if cells:
            rows.append(" | ".join(cells))
    return rows


def _slide_shapes(
    package: _Package, tree: Any, rels: dict[str, tuple[str, str]], titles: list[str], lines: list[str]
) -> None:
    for shape in tree:
        tag = _tag(shape)
        if tag == "p:sp":
            ph = _child(shape, "p:nvSpPr", "p:nvPr", "p:ph")
            ph_type = (_attr(ph, "type") or "body") if ph is not None else None
            if ph_type in _SLIDE_FURNITURE:
                continue
            tx_body = _child(shape, "p:txBody")
            if tx_body is not None:
                (titles if ph_type in ("title", "ctrTitle") else lines).extend(_drawing_paragraphs(tx_body))
        elif tag == "p:pic":
            alt = _alt_text(_child(shape, "p:nvPicPr", "p:cNvPr"))
            if alt:
                lines.append(alt)
        elif tag == "p:grpSp":
            _slide_shapes(package, shape, rels, titles, lines)
        elif tag == "p:graphicFrame":
            for tbl in shape.iter("{*}tbl"):
                if _tag(tbl) == "a:tbl":
                    lines.extend(_drawing_table(tbl))
            for target in _chart_targets(shape, rels):
                lines.extend(_chart_lines(package, target))
        elif tag == "mc:AlternateContent":
            choice = _child(shape, "mc:Choice")
            if choice is not None:
                _slide_shapes(package, choice, rels, titles, lines)


def _slide_parts(package: _Package, presentation: str) -> list[str]:
    rels = package.rels(presentation)
    root = package.xml(presentation)
    listed = _child(root, "p:sldIdLst") if root is not None else None
    parts = []
    if listed is not None:
        for slide in _children(listed, "p:sldId"):
            rid = _r_id(slide)
            if rid in rels and rels[rid][0] == "slide":
                parts.append(rels[rid][1])
    if not parts:  # no (usable) slide list: the slide parts in number order
        found = [(int(m.group(1)), name) for name in package._names if (m := _SLIDE_NUMBER.search(name))]
        parts = [name for _, name in sorted(found) if name.startswith("ppt/slides/")]
    return parts


def _r_id(el: Any) -> str | None:
    for key, value in el.attrib.items():
        if key.startswith("{") and key.endswith("}id") and "relationships" in key:
            return str(value)
    return None


def parse_pptx(body: bytes) -> dict[str, Any]:
    """A PPTX's text, one page per slide: titles first, then shapes, tables, charts and notes."""
    package = _Package(body)
    presentation = package.main_part("ppt/presentation.xml")
    parts = _slide_parts(package, presentation)
    if not parts:
        return {"reason": "truncated or corrupt PPTX: no slides found"}
    pages: list[str] = []
    first_title: str | None = None
    unreadable = 0
    for part in parts:
        root = package.xml(part)
        tree = _child(root, "p:cSld", "p:spTree") if root is not None else None
        if tree is None:
            unreadable += 1
            pages.append("")
            continue
        rels = package.rels(part)
        titles: list[str] = []
        lines: list[str] = []
        _slide_shapes(package, tree, rels, titles, lines)
        notes: list[str] = []
        for rel_type, target in rels.values():
            notes_root = package.xml(target) if rel_type == "notesSlide" else None
            notes_tree = _child(notes_root, "p:cSld", "p:spTree") if notes_root is not None else None
            if notes_tree is not None:
                for shape in notes_tree.iter("{*}sp"):
                    ph = _child(shape, "p:nvSpPr", "p:nvPr", "p:ph")
                    tx_body = _child(shape, "p:txBody")
                    if ph is not None and _attr(ph, "type") == "body" and tx_body is not None:
                        notes.extend(_drawing_paragraphs(tx_body))
        if first_title is None and titles:
            first_title = _title(" ".join(" ".join(titles).split()))
        pages.append(clean_text("\n".join(titles + lines + notes)))
    reason = None
    if unreadable:
        reason = f"truncated or corrupt PPTX: {unreadable} of {len(parts)} slides could not be read"
    elif not any(pages):
        reason = "no text: the slides hold only images or shapes"
    return {"title": package.core_title() or first_title, "pages": pages, "reason": reason}
