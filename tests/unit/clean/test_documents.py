"""Documents: sniffing, the parsers on tiny files built here, text and Markdown, the isolated worker."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import docx
import psutil
import pytest
from pptx import Presentation
from pptx.util import Inches

from infra_assets.clean.documents import (
    DOCUMENT_KINDS,
    DocumentExtractor,
    DocumentText,
    clean_text,
    decode_text,
    extract_document,
    sniff,
)

ROOT = Path(__file__).resolve().parents[3]
HERE = "tests.unit.clean.test_documents"  # the worker imports the entries below from this module

# --- tiny documents ----------------------------------------------------------------------------


def make_pdf(pages: list[str], *, title: str | None = None, streams: list[bytes] | None = None) -> bytes:
    """A valid PDF with one Helvetica text line per page (or the given raw content streams)."""
    contents = streams or [b"BT /F1 12 Tf 72 720 Td (" + p.encode("latin-1") + b") Tj ET" for p in pages]
    n = len(contents)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n)).encode()
    objects.append(b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n)
    font = 3 + 2 * n
    for i, stream in enumerate(contents):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R"
            b" /Resources << /Font << /F1 %d 0 R >> >> >>" % (4 + 2 * i, font)
        )
        is_flate = streams is not None
        filt = b" /Filter /FlateDecode" if is_flate else b""
        objects.append(b"<< /Length %d%s >>\nstream\n" % (len(stream), filt) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    info = None
    if title:
        objects.append(b"<< /Title (" + title.encode("latin-1") + b") >>")
        info = len(objects)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    trailer = b"/Size %d /Root 1 0 R" % (len(objects) + 1) + (b" /Info %d 0 R" % info if info else b"")
    out += b"trailer\n<< " + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def make_docx() -> bytes:
    document = docx.Document()
    document.core_properties.title = "Quarterly report"
    document.sections[0].header.paragraphs[0].text = "ACME confidential"
    document.sections[0].footer.paragraphs[0].text = "Printed in Springfield"
    document.add_heading("Results", level=1)
    document.add_paragraph("Revenue grew by eight percent.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Region", "Sales"
    table.cell(1, 0).text, table.cell(1, 1).text = "North", "120"
    document.add_paragraph("The outlook is stable.")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def make_pptx() -> bytes:
    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
    first.shapes.title.text = "Roadmap 2027"
    first.placeholders[1].text_frame.text = "Ship the search API"
    first.notes_slide.notes_text_frame.text = "Mention the beta users"
    second = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    second.shapes.title.text = "Budget"
    table = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    table.cell(0, 0).text, table.cell(0, 1).text = "Item", "Cost"
    table.cell(1, 0).text, table.cell(1, 1).text = "Servers", "40k"
    buf = io.BytesIO()
    deck.save(buf)
    return buf.getvalue()


def make_zip(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def extractor():
    with DocumentExtractor(timeout_s=20) as ex:
        yield ex


# --- sniff -------------------------------------------------------------------------------------


def test_sniff_by_magic_bytes_whatever_the_label():
    assert sniff(make_pdf(["x"]), "text/html", "https://a.example/page.html") == "pdf"
    assert sniff(b"\r\n  junk before the header %PDF-1.7\n...", None) == "pdf"
    assert sniff(make_docx(), "application/octet-stream") == "docx"
    assert sniff(make_pptx(), None, "https://a.example/download?id=3") == "pptx"


def test_sniff_falls_back_to_content_type_then_extension():
    assert sniff(b"plain words", "text/plain; charset=utf-8") == "text"
    assert sniff(b"# Title\n\nbody", "text/markdown") == "markdown"
    assert sniff(b"# Title", "application/octet-stream", "https://a.example/docs/README.md?raw=1") == "markdown"
    assert sniff(b"", None, "https://a.example/files/report.PDF") == "pdf"  # 0 bytes: named, then rejected
    assert sniff(b"", None) is None
    # A zip that is no Office document: only a label can name it.
    workbook = make_zip({"xl/workbook.xml": "<workbook/>"})
    assert sniff(workbook, None, "https://a.example/book.xlsx") is None
    # A truncated DOCX has lost its zip directory: the label still names it (extraction then says why).
    cut = make_docx()[:2000]
    assert sniff(cut, None) is None
    assert sniff(cut, "application/vnd.openxmlformats-officedocument.wordprocessingml.document") == "docx"


def test_sniff_leaves_html_and_binary_alone():
    html = b"<!DOCTYPE html><html><body>Not found</body></html>"
    assert sniff(html, "application/pdf", "https://a.example/x.pdf") is None  # an error page, not a PDF
    assert sniff(html, "text/plain") is None
    assert sniff(b"<p>fragment</p>", "text/html") is None
    assert sniff(b"\x89PNG\r\n\x1a\n....", "text/plain") is None
    assert sniff(b"abc\x00def", None, "https://a.example/notes.txt") is None
    # Markdown on a site that serves it as an HTML page: the HTML extractor's job.
    assert sniff(b"<html><body>README</body></html>", "text/html", "https://a.example/README.md") is None
    assert sniff("héllo".encode("utf-16"), "text/plain") == "text"  # a BOM is not binary


# --- PDF, DOCX, PPTX through the worker -------------------------------------------------------------


def test_pdf_pages_and_title(extractor):
    result = extractor.extract(make_pdf(["Hello PDF world", "Second page here"], title="Annual Review"), "pdf")
    assert result == DocumentText("Annual Review", ["Hello PDF world", "Second page here"])


def test_docx_reading_order_with_header_table_and_footer(extractor):
    result = extractor.extract(make_docx(), "docx")
    assert result.reason is None and result.title == "Quarterly report"
    assert result.pages == [
        "ACME confidential\nResults\nRevenue grew by eight percent.\nRegion | Sales\nNorth | 120\n"
        "The outlook is stable.\nPrinted in Springfield"
    ]


def test_docx_title_falls_back_to_the_first_heading(extractor):
    document = docx.Document()
    document.add_heading("Field notes", level=0)
    document.add_paragraph("Saw a heron.")
    buf = io.BytesIO()
    document.save(buf)
    result = extractor.extract(buf.getvalue(), "docx")
    assert result.title == "Field notes" and result.pages == ["Field notes\nSaw a heron."]


def test_pptx_one_page_per_slide_with_notes_and_tables(extractor):
    result = extractor.extract(make_pptx(), "pptx")
    assert result.reason is None and result.title == "Roadmap 2027"
    assert result.pages == [
        "Roadmap 2027\nShip the search API\nMention the beta users",
        "Budget\nItem | Cost\nServers | 40k",
    ]


@pytest.mark.parametrize(
    ("kind", "body", "reason"),
    [
        ("pdf", b"", "empty document (0 bytes)"),
        ("pdf", b"%PDF-1.4\n garbage that is no PDF at all", "truncated or corrupt PDF"),
        ("pdf", make_pdf(["cut short"])[:300], "truncated or corrupt PDF"),
        ("docx", make_docx()[:3000], "truncated or corrupt DOCX"),
        ("pptx", make_pptx()[:5000], "truncated or corrupt PPTX"),
        ("docx", make_zip({"word/other.xml": "<x/>"}), "truncated or corrupt DOCX"),
        ("docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "password-protected or legacy"),
        ("pptx", os.urandom(4096), "truncated or corrupt PPTX"),
    ],
)
def test_bad_documents_get_a_reason_not_an_exception(extractor, kind, body, reason):
    result = extractor.extract(body, kind)
    assert result.reason is not None and result.reason.startswith(reason), result.reason
    assert not any(result.pages)


def test_size_cap_is_checked_before_parsing(extractor):
    body = make_pdf(["x" * 50])
    result = extractor.extract(body, "pdf", max_bytes=100)
    assert result == DocumentText(None, [], reason=f"document over the size cap ({len(body)} bytes > 100)")


def test_docx_xml_is_parsed_safely(extractor):
    """No entity expansion (billion laughs) and no external entity reaches the text."""
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    laughs = '<!ENTITY l0 "ha">' + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 12))
    document = (
        f'<?xml version="1.0"?><!DOCTYPE d [{laughs}<!ENTITY ext SYSTEM "file:///etc/passwd">]>'
        f'<w:document xmlns:w="{w}"><w:body><w:p><w:r><w:t>safe &l11; &ext;</w:t></w:r></w:p></w:body></w:document>'
    )
    result = extractor.extract(make_zip({"word/document.xml": document}), "docx")
    assert result.pages and result.pages[0].startswith("safe")
    assert "root:" not in result.pages[0] and "haha" not in result.pages[0]


# --- text and Markdown (in this process) -----------------------------------------------------------


def test_plain_text_decoding_and_line_rules():
    assert decode_text("café".encode()) == "café"
    assert decode_text("naïve café, déjà vu, très élégant".encode("cp1252")) == "naïve café, déjà vu, très élégant"
    assert decode_text("Grüße".encode("iso-8859-1"), "text/plain; charset=iso-8859-1") == "Grüße"
    assert decode_text("日本語".encode("utf-16")) == "日本語"
    result = extract_document(b"first line\r\n\r\n\r\nsecond\fthird  \x00page\n", "text")
    assert result == DocumentText(None, ["first line\nsecond\nthird page"])
    assert "\f" not in result.pages[0]
    assert extract_document(b" \n\t\n", "text").reason == "no text: the document is blank"


def test_markdown_is_lightly_stripped():
    body = b"""---
title: "Install guide"
author: someone
---
# Installing **infra** assets

Run the [installer](https://example.com/install) and
read the *whole* `README`.

![diagram of the flow](img/flow.png)

| step | time |
|------|------|
| fetch | 2 s |

```
pip install infra-assets
```

- first item
- second item
<!-- a comment -->
Snake_case_names stay, and 2 * 3 stays.
"""
    result = extract_document(body, "markdown")
    assert result.title == "Install guide"
    assert result.pages == [
        "Installing infra assets\nRun the installer and read the whole README.\ndiagram of the flow\n"
        "step | time\nfetch | 2 s\npip install infra-assets\n- first item\n- second item\n"
        "Snake_case_names stay, and 2 * 3 stays."
    ]
    assert extract_document(b"Intro\n=====\n\nText.", "markdown").title == "Intro"


def test_clean_text():
    assert clean_text("a\fb\r\nc\x0bd\u2028e") == "a\nb\nc\nd\ne"
    assert clean_text("ﬁnancial ﬂow") == "financial flow"
    assert clean_text("x\x00y\ud800z\u00adw\uf0b7 item") == "xyzw• item"
    assert clean_text("  lots   of\t\tspace  \n\n\n") == "lots of space"


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown document kind"):
        extract_document(b"x", "html")
    assert set(DOCUMENT_KINDS) == {"pdf", "docx", "pptx", "text", "markdown"}


def test_importing_the_module_loads_no_parser():
    code = (
        "import sys, infra_assets.clean.documents as d; "
        "assert d.DOCUMENT_KINDS and 'pypdfium2' not in sys.modules and 'pypdfium2_raw' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --- the worker: reuse, limits, kills ----------------------------------------------------------------
# Entries run in the worker (imported there from this module).


def echo(body: bytes, kind: str) -> dict:
    return {"pages": [body.decode()], "title": kind}


def hang(body: bytes, kind: str) -> dict:
    while True:
        time.sleep(1)


def spawn_and_hang(body: bytes, kind: str) -> dict:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    Path(body.decode()).write_text(str(child.pid))
    while True:
        time.sleep(1)


def abort(body: bytes, kind: str) -> dict:
    os.abort()


def hog(body: bytes, kind: str) -> dict:
    chunks = []
    while True:
        chunks.append(bytearray(16 << 20))


@pytest.fixture
def entry_path(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def gone(pid: int, within_s: float = 10.0) -> bool:
    """True once the process is gone (or a zombie nobody has reaped yet)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_worker_is_reused_and_stopped_by_close(entry_path):
    with DocumentExtractor(entry=f"{HERE}:echo") as ex:
        assert ex.extract(b"one", "k").pages == ["one"]
        first = ex.worker_pid
        assert ex.extract(b"two", "k").pages == ["two"] and ex.worker_pid == first
    assert ex.worker_pid is None and first is not None and gone(first)


def test_a_hanging_parser_is_killed_with_everything_it_started(entry_path, tmp_path):
    marker = tmp_path / "grandchild.pid"
    with DocumentExtractor(entry=f"{HERE}:spawn_and_hang") as ex:
        result = ex.extract(str(marker).encode(), "k", timeout_s=3)
        assert result == DocumentText(None, [], reason="parsing took over 3 s: stopped")
        assert ex.worker_pid is None  # dropped: the next document gets a fresh worker
    assert gone(int(marker.read_text()))


def test_a_crash_and_a_memory_breach_are_reported_and_survived(entry_path):
    with DocumentExtractor(entry=f"{HERE}:abort") as ex:
        result = ex.extract(b"x", "k", memory_mb=100)
        assert result.reason == "parser crashed (SIGABRT): the file is malformed or needs over 100 MB"
    with DocumentExtractor(entry=f"{HERE}:hog") as ex:
        assert ex.extract(b"x", "k", memory_mb=128).reason == "parsing used over 128 MB: stopped"
        assert ex.worker_pid is None  # a worker that ran out of memory is not trusted again


def test_decompression_bombs_hit_the_memory_cap(extractor):
    pdf_bomb = make_pdf([], streams=[zlib.compress(b" " * (50 << 20), 9)])  # 50 MB page content, 50 kB file
    result = extractor.extract(pdf_bomb, "pdf", memory_mb=32)
    assert result.reason == "parser crashed (SIGABRT): the file is malformed or needs over 32 MB"
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    paragraphs = "<w:p><w:r><w:t>hello world</w:t></w:r></w:p>" * 1_000_000
    docx_bomb = make_zip({"word/document.xml": f'<w:document xmlns:w="{w}"><w:body>{paragraphs}</w:body></w:document>'})
    assert extractor.extract(docx_bomb, "docx", memory_mb=64).reason == "parsing used over 64 MB: stopped"
    # and the next document is read by a fresh worker
    assert extractor.extract(make_pdf(["still fine"]), "pdf").pages == ["still fine"]


def test_the_shared_worker_stops_at_exit():
    code = (
        "import sys; from infra_assets.clean import documents as d; "
        "r = d.extract_document(sys.stdin.buffer.read(), 'pdf'); "
        "print(d._default_extractor().worker_pid, r.pages[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=make_pdf(["bye"]), capture_output=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out[1] == b"bye" and gone(int(out[0]))
