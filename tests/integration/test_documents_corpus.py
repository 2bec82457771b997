"""The chosen document parsers on the real documents corpus (read in place from shared/corpora).

Floors are the figures `bench/documents.py` measured (BENCHMARKS.md), less a small margin: PDF
`with` snippets 434/449 (96.7%), DOCX+PPTX 12/12; token F1 against the reference texts PDF
0.894, DOCX 0.932, PPTX 0.919. Snippets are compared after the corpus README's normalisation.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections import Counter

import psutil
import pytest

from infra_assets.clean.documents import DocumentExtractor, sniff
from tests.support.corpora import DOCUMENTS, document_gold

PERMISSIONS_ONLY = (
    "extractous/documents/2022_Q3_AAPL.pdf",
    "pdfminer.six/samples/contrib/issue-625-identity-cmap.pdf",
    "unstructured/example-docs/pdf/copy-protected.pdf",
)
NEEDS_PASSWORD = (
    "unstructured/example-docs/pdf/password.pdf",
    "docling/pdf_password/2206.01062_pg3.pdf",
    "pdfminer.six/samples/encryption/aes-256-r6.pdf",
)
HOSTILE_TIMEOUT_S = 15.0
_FANCY = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "‑": "-", "−": "-"})


def norm(text: str) -> str:
    text = re.sub(r"[\ufb00-\ufb06]", lambda m: unicodedata.normalize("NFKC", m.group(0)), text)
    return unicodedata.normalize("NFC", " ".join(text.split())).translate(_FANCY)


def token_f1(gold: str, pred: str) -> float:
    g, p = Counter(re.findall(r"\w+", gold.casefold())), Counter(re.findall(r"\w+", pred.casefold()))
    tp = sum((g & p).values())
    return 2 * tp / (sum(g.values()) + sum(p.values())) if tp else 0.0


def is_normal(entry: dict) -> bool:
    scanned = {"scanned", "image-only"} & set(entry["kind"]) or entry.get("expect_empty_text_layer")
    return "hostile" not in entry and not scanned


@pytest.fixture(scope="module")
def gold():
    return document_gold()


@pytest.fixture(scope="module")
def read(gold):
    """Every corpus file read once through one worker: {file: DocumentText}."""
    with DocumentExtractor(timeout_s=HOSTILE_TIMEOUT_S) as extractor:
        yield {e["file"]: extractor.extract((DOCUMENTS / e["file"]).read_bytes(), e["type"]) for e in gold}


def test_every_file_is_sniffed_from_its_bytes(gold):
    for entry in gold:
        body = (DOCUMENTS / entry["file"]).read_bytes()
        assert sniff(body, None, entry["file"] if not body else None) == entry["type"], entry["file"]


@pytest.mark.parametrize(("kinds", "floor"), [(("pdf",), 0.95), (("docx", "pptx"), 0.9)])
def test_with_snippets_are_found(gold, read, kinds, floor):
    found = total = 0
    for entry in (e for e in gold if e["type"] in kinds and is_normal(e)):
        text = norm("\n".join(read[entry["file"]].pages))
        cases = {t["text"]: t for t in entry.get("tests", []) if t.get("text")}
        for snippet in entry["with"]:
            hay, needle = text, norm(snippet)
            if cases.get(snippet, {}).get("case_sensitive") is False:
                hay, needle = hay.lower(), needle.lower()
            found += needle in hay
            total += 1
    assert total > 10 and found / total >= floor, f"{found}/{total}"


@pytest.mark.parametrize(("kind", "floor"), [("pdf", 0.86), ("docx", 0.9), ("pptx", 0.88)])
def test_token_f1_against_the_reference_texts(gold, read, kind, floor):
    scores = []
    for entry in (e for e in gold if e["type"] == kind and is_normal(e) and e["text"]):
        reference = (DOCUMENTS / entry["text"]).read_text(encoding="utf-8")
        reference = re.sub(r"<!--.*?-->", " ", re.sub(r"\A---\n.*?\n---\n", "", reference, flags=re.S), flags=re.S)
        scores.append(token_f1(reference, "\n".join(read[entry["file"]].pages)))
    assert len(scores) >= 8 and statistics.fmean(scores) >= floor, scores


def test_pages_follow_the_contract(read):
    for file, result in read.items():
        assert all("\f" not in page and "\n\n" not in page for page in result.pages), file
        assert result.reason is None or "\n" not in result.reason, file


def test_scanned_files_need_ocr(gold, read):
    for entry in gold:
        if {"scanned", "image-only"} & set(entry["kind"]) or entry.get("expect_empty_text_layer"):
            result = read[entry["file"]]
            visible = sum(len("".join(page.split())) for page in result.pages)
            if visible > 200:
                # small_page_size.pdf is a scan that carries an OCR text layer: read, not flagged.
                assert not result.needs_ocr, entry["file"]
            else:
                assert result.needs_ocr and "OCR is not done" in (result.reason or ""), entry["file"]


def test_permissions_only_encryption_is_no_lock(gold, read):
    by_file = {e["file"]: e for e in gold}
    for file in PERMISSIONS_ONLY:
        result = read[file]
        assert result.reason is None and result.pages, file
        text = norm("\n".join(result.pages))
        assert all(norm(s) in text for s in by_file[file]["with"]), file


def test_password_protected_files_say_so(read):
    for file in NEEDS_PASSWORD:
        assert read[file] == type(read[file])(None, [], reason="encrypted PDF: a password is needed"), file


def test_hostile_files_end_within_their_limit_with_a_reason_or_text(gold):
    """Each hostile file, through one fresh worker: an answer in time, and no process left behind."""
    hostile = [e for e in gold if "hostile" in e]
    assert len(hostile) == 10
    me = psutil.Process()
    before = {c.pid for c in me.children(recursive=True)}  # e.g. the `read` fixture's worker
    with DocumentExtractor(timeout_s=HOSTILE_TIMEOUT_S) as extractor:
        outcomes = {}
        workers = set()
        for entry in hostile:
            result = extractor.extract((DOCUMENTS / entry["file"]).read_bytes(), entry["type"])
            workers.add(extractor.worker_pid)
            outcomes[entry["file"]] = result
            assert not (result.reason or "").startswith("parsing took over"), entry["file"]
            assert result.reason or any(result.pages), entry["file"]  # a clear error or a partial result
        assert {c.pid for c in me.children(recursive=True)} - before == {extractor.worker_pid}
    assert outcomes["pdfplumber/pdfs/empty.pdf"].reason == "empty document (0 bytes)"
    assert "rebuilt" in (outcomes["pypdf/resources/issue-297.pdf"].reason or "")
    assert "rebuilt" in (outcomes["pdfminer.six/samples/contrib/issue-1113-evil-xobjects.pdf"].reason or "")
    zen = norm("\n".join(outcomes["pdfminer.six/samples/zen_of_python_corrupted.pdf"].pages))
    assert "Mai 30, 18 13:27 zen_of_python.txt" in zen  # the damaged page is partly recovered
    titles = outcomes["docling/pptx/powerpoint_malformed_pictures.pptx"].pages
    assert [page.split("\n")[0] for page in titles] == [
        "Slide With Missing BlipFill",
        "Slide With Dangling Rel",
        "Slide With Wrong Content Type",
    ]
    page_one = outcomes["unstructured/example-docs/pdf/invalid-pdf-structure-pdfminer-one-page.pdf"].pages[0]
    assert len(page_one) > 1000
    for pid in workers - {None}:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert {c.pid for c in me.children(recursive=True)} - before == set()
