"""Choose the document parsers: PDF, DOCX and PPTX candidates side by side on the documents corpus.

Measured, per format and candidate, on every file of `shared/corpora/documents` (read in place):

* quality, through the same isolated worker the product uses (`DocumentExtractor`, so a hang
  or a crash is recorded, not suffered): the share of gold `with` snippets found, of `without`
  snippets absent, of `order` pairs in order, and token F1 against the full reference text, after
  the corpus README's normalisation (whitespace collapsed, NFC, curly quotes and dashes to
  ASCII; ligatures expanded for `with`/`order`, raw for `without`; olmOCR's `case_sensitive`
  and `max_diffs` honoured). Hostile and scanned files are scored apart: per hostile file the
  time and the outcome (reason, text, timeout, crash); per scanned file the characters returned
  and whether `needs_ocr` was flagged. Every candidate's text goes through the same
  `clean_text`, so the comparison is of the parsers.
* speed, in this process (no isolation): ms per document (median over files) and pages per
  second (all pages / all time), over the non-hostile files, every round alternating the
  candidates file by file and rotating their order; every round is printed, then the medians.
* isolation: the chosen parsers in-process vs in the reused worker vs one new worker per
  document (alternated), the cold start of a worker and its memory.

    python bench/documents.py [--corpus PATH] [--rounds 3] [--formats pdf,docx,pptx] [--timeout 30]
                              [--skip-speed] [--skip-isolation] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import logging
import os
import platform
import re
import statistics
import sys
import time
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout, installed or not
from infra_assets.clean.documents import (  # noqa: E402
    DocumentExtractor,
    clean_text,
    parse_docx,
    parse_pdf,
    parse_pptx,
    sniff,
)
from infra_assets.devtools.corpora import corpora_dir  # noqa: E402

DEFAULT_CORPUS = corpora_dir() / "documents"
OURS = {"pdf": "pypdfium2", "docx": "ooxml-lxml", "pptx": "ooxml-lxml"}

# --- candidates: body -> {"title", "pages", "reason"?}; run in the worker and in-process -------------


def _pages(pages: list[str], title: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"title": title, "pages": [clean_text(p) for p in pages], **extra}


def pdf_pdfminer(body: bytes) -> dict[str, Any]:
    from pdfminer.high_level import extract_text
    from pdfminer.layout import LAParams

    pages = extract_text(io.BytesIO(body), laparams=LAParams()).split("\f")
    if pages and not pages[-1].strip():
        pages.pop()
    return _pages(pages)


def pdf_pypdf(body: bytes) -> dict[str, Any]:
    from pypdf import PasswordType, PdfReader

    reader = PdfReader(io.BytesIO(body))
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        return {"reason": "encrypted PDF: a password is needed"}
    title = reader.metadata.title if reader.metadata else None
    return _pages([page.extract_text() for page in reader.pages], title)


def docx_python_docx(body: bytes) -> dict[str, Any]:
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(body))
    lines: list[str] = []
    furniture: dict[str, list[str]] = {"header": [], "footer": []}
    for section in document.sections:
        for where, part in (("header", section.header), ("footer", section.footer)):
            for p in part.paragraphs:
                if p.text.strip() and p.text not in furniture[where]:
                    furniture[where].append(p.text)
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                seen: list[Any] = []
                cells = []
                for cell in row.cells:
                    if cell._tc in seen:  # a merged cell is repeated per grid column
                        continue
                    seen.append(cell._tc)
                    if cell.text.strip():
                        cells.append(" ".join(cell.text.split()))
                lines.append(" | ".join(cells))
        else:
            lines.append(block.text)
    text = "\n".join([*furniture["header"], *lines, *furniture["footer"]])
    return _pages([text], document.core_properties.title or None)


_DOCX2PYTHON_IMAGE = re.compile(r"----(?:media/)?[^\n]*?----")


def docx_docx2python(body: bytes) -> dict[str, Any]:
    from docx2python import docx2python

    with docx2python(io.BytesIO(body)) as result:
        text = _DOCX2PYTHON_IMAGE.sub("", result.text)
        title = (result.core_properties or {}).get("title") or None
    return _pages([text], title)


def docx_mammoth(body: bytes) -> dict[str, Any]:
    import mammoth

    return _pages([mammoth.extract_raw_text(io.BytesIO(body)).value])


def pptx_python_pptx(body: bytes) -> dict[str, Any]:
    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    deck = Presentation(io.BytesIO(body))
    pages = []
    title = None
    for slide in deck.slides:
        lines: list[str] = []

        def walk(shapes: Any, lines: list[str] = lines) -> None:
            for shape in shapes:
                if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
                    walk(shape.shapes)
                elif shape.has_text_frame:
                    lines.extend(p.text for p in shape.text_frame.paragraphs)
                elif getattr(shape, "has_table", False):
                    for row in shape.table.rows:
                        lines.append(" | ".join(c.text for c in row.cells if c.text.strip()))

        walk(slide.shapes)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            lines.append(slide.notes_slide.notes_text_frame.text)
        if title is None and slide.shapes.title is not None and slide.shapes.title.text.strip():
            title = slide.shapes.title.text
        pages.append("\n".join(lines).replace("\v", "\n"))
    return _pages(pages, deck.core_properties.title or title)


CANDIDATES: dict[str, dict[str, Callable[[bytes], dict[str, Any]]]] = {
    "pdf": {"pypdfium2": parse_pdf, "pdfminer.six": pdf_pdfminer, "pypdf": pdf_pypdf},
    "docx": {
        "ooxml-lxml": parse_docx,
        "python-docx": docx_python_docx,
        "docx2python": docx_docx2python,
        "mammoth": docx_mammoth,
    },
    "pptx": {"ooxml-lxml": parse_pptx, "python-pptx": pptx_python_pptx},
}
PACKAGES = {
    "pypdfium2": "pypdfium2",
    "pdfminer.six": "pdfminer.six",
    "pypdf": "pypdf",
    "ooxml-lxml": "lxml",
    "python-docx": "python-docx",
    "docx2python": "docx2python",
    "mammoth": "mammoth",
    "python-pptx": "python-pptx",
}


def worker_parse(body: bytes, kind: str) -> dict[str, Any]:
    """The worker's entry for candidates: kind is 'FORMAT:CANDIDATE'."""
    fmt, _, name = kind.partition(":")
    return CANDIDATES[fmt][name](body)


# --- scoring (the corpus README's rules) -------------------------------------------------------------

_WS = re.compile(r"\s+")
_FANCY = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "＿": "_",
        "–": "-",
        "—": "-",
        "‑": "-",
        "‒": "-",
        "−": "-",
        "\u00b5": "\u03bc",
    }
)
_LIGATURE = re.compile("[\ufb00-\ufb06]")
_WORD = re.compile(r"\w+")
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)


def normalize(text: str, *, ligatures: bool) -> str:
    text = unicodedata.normalize("NFC", _WS.sub(" ", text)).translate(_FANCY)
    if ligatures:
        text = _LIGATURE.sub(lambda m: unicodedata.normalize("NFKC", m.group(0)), text)
    return text.strip()


def fuzzy_spans(needle: str, hay: str, max_diffs: int) -> list[tuple[int, int]]:
    """(start, end) of matches of needle in hay: exact, or within max_diffs edits (Sellers)."""
    spans = []
    start = hay.find(needle)
    while start != -1:
        spans.append((start, start + len(needle)))
        start = hay.find(needle, start + 1)
    if spans or not max_diffs or not needle:
        return spans
    m = len(needle)
    prev = list(range(m + 1))
    origin = [0] * (m + 1)
    for j, ch in enumerate(hay, 1):
        cur, cur_origin = [0], [j]
        for i in range(1, m + 1):
            sub = prev[i - 1] + (needle[i - 1] != ch)
            ins, dele = prev[i] + 1, cur[i - 1] + 1
            best = min(sub, ins, dele)
            cur.append(best)
            cur_origin.append(origin[i - 1] if best == sub else origin[i] if best == ins else cur_origin[i - 1])
        if cur[m] <= max_diffs:
            spans.append((cur_origin[m], j))
        prev, origin = cur, cur_origin
    return spans


def _olmocr_options(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    options = {}
    for test in entry.get("tests", []):
        for key in ("text", "before", "after"):
            if test.get(key):
                options[test[key]] = test
    return options


def _find(snippet: str, text: str, options: dict[str, dict[str, Any]], *, ligatures: bool) -> list[tuple[int, int]]:
    test = options.get(snippet, {})
    needle, hay = normalize(snippet, ligatures=ligatures), text
    if test.get("case_sensitive") is False:
        needle, hay = needle.lower(), hay.lower()
    return fuzzy_spans(needle, hay, int(test.get("max_diffs") or 0))


def tokens(text: str) -> Counter[str]:
    return Counter(_WORD.findall(text.casefold()))


def token_f1(gold: str, pred: str) -> float:
    g, p = tokens(gold), tokens(pred)
    tp = sum((g & p).values())
    if not tp:
        return 0.0
    precision, recall = tp / sum(p.values()), tp / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def reference_text(corpus: Path, entry: dict[str, Any]) -> str | None:
    if not entry.get("text"):
        return None
    text = (corpus / entry["text"]).read_text(encoding="utf-8")
    text = _FRONT_MATTER.sub("", text)
    return re.sub(r"<!--.*?-->", " ", text, flags=re.S)


def score_file(corpus: Path, entry: dict[str, Any], pages: list[str]) -> dict[str, Any]:
    joined = "\n".join(pages)
    lig, raw = normalize(joined, ligatures=True), normalize(joined, ligatures=False)
    options = _olmocr_options(entry)
    with_found = [bool(_find(s, lig, options, ligatures=True)) for s in entry["with"]]
    without_absent = [not _find(s, raw, options, ligatures=False) for s in entry["without"]]
    order_ok = []
    for before, after in entry.get("order", []):
        b = _find(before, lig, options, ligatures=True)
        a = _find(after, lig, options, ligatures=True)
        order_ok.append(bool(a and b and min(s for s, _ in b) < max(s for s, _ in a)))
    gold = reference_text(corpus, entry)
    return {
        "with": with_found,
        "without": without_absent,
        "order": order_ok,
        "f1": token_f1(gold, joined) if gold is not None else None,
        "starts_with": lig.startswith(normalize(entry["with"][0], ligatures=True)) if entry["with"] else None,
    }


# --- the corpus --------------------------------------------------------------------------------------

SCANNED = {"scanned", "image-only"}


def load(corpus: Path, formats: list[str]) -> list[dict[str, Any]]:
    entries = json.loads((corpus / "gold.json").read_text(encoding="utf-8"))
    return [e for e in entries if e["type"] in formats]


def group(entry: dict[str, Any]) -> str:
    if "hostile" in entry:
        return "hostile"
    if SCANNED & set(entry["kind"]) or entry.get("expect_empty_text_layer"):
        return "scanned"
    return "normal"


# --- phase 1: quality and hostile files, isolated ----------------------------------------------------------


def quality(corpus: Path, entries: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    results: dict[str, dict[str, Any]] = {}
    for fmt in sorted({e["type"] for e in entries}):
        for name in CANDIDATES[fmt]:
            rows = {}
            with DocumentExtractor(entry="bench.documents:worker_parse", timeout_s=timeout_s) as extractor:
                for entry in (e for e in entries if e["type"] == fmt):
                    body = (corpus / entry["file"]).read_bytes()
                    start = time.perf_counter()
                    result = extractor.extract(body, f"{fmt}:{name}")
                    seconds = time.perf_counter() - start
                    rows[entry["file"]] = {
                        "seconds": seconds,
                        "pages": len(result.pages),
                        "chars": sum(len("".join(p.split())) for p in result.pages),
                        "reason": result.reason,
                        "needs_ocr": result.needs_ocr,
                        "title": result.title,
                        "score": score_file(corpus, entry, result.pages),
                    }
                results[f"{fmt}/{name}"] = {"files": rows, "workers": extractor.workers_started}
    return results


def outcome(row: dict[str, Any]) -> str:
    reason = row["reason"] or ""
    if reason.startswith("parsing took over"):
        return "TIMEOUT"
    if "crashed" in reason or "exited" in reason:
        return "CRASH"
    if reason and row["chars"]:
        return f"text+reason ({row['chars']} ch)"
    if reason:
        return "reason"
    return f"text ({row['chars']} ch)" if row["chars"] else "EMPTY, no reason"


def summarise(entries: list[dict[str, Any]], results: dict[str, Any]) -> list[dict[str, Any]]:
    by_file = {e["file"]: e for e in entries}
    rows = []
    for key, data in results.items():
        files = data["files"]
        normal = [f for f in files if group(by_file[f]) == "normal"]
        scored = [files[f]["score"] for f in normal]
        flat = {k: [x for s in scored for x in s[k]] for k in ("with", "without", "order")}
        per_file_with = [sum(s["with"]) / len(s["with"]) for s in scored if s["with"]]
        f1s = [s["f1"] for s in scored if s["f1"] is not None]
        scanned = [f for f in files if group(by_file[f]) == "scanned"]
        hostile = [f for f in files if group(by_file[f]) == "hostile"]
        failed = [f for f in normal if files[f]["reason"] and not files[f]["chars"]]
        rows.append(
            {
                "candidate": key,
                "files": len(normal),
                "with": (sum(flat["with"]), len(flat["with"])),
                "with_file_mean": statistics.fmean(per_file_with) if per_file_with else None,
                "without": (sum(flat["without"]), len(flat["without"])),
                "order": (sum(flat["order"]), len(flat["order"])),
                "f1": statistics.fmean(f1s) if f1s else None,
                "f1_files": len(f1s),
                "failed": failed,
                "scanned_empty": sum(files[f]["chars"] <= 10 for f in scanned),
                "scanned_flagged": sum(files[f]["needs_ocr"] for f in scanned),
                "scanned": len(scanned),
                "hostile_max_s": max((files[f]["seconds"] for f in hostile), default=0.0),
                "hostile_hung": sum(outcome(files[f]) == "TIMEOUT" for f in hostile),
                "hostile_crashed": sum(outcome(files[f]) == "CRASH" for f in hostile),
                "hostile_silent": sum(outcome(files[f]).startswith("EMPTY") for f in hostile),
                "workers": data["workers"],
            }
        )
    return rows


# --- phase 2: speed, in-process ----------------------------------------------------------------------


def speed(corpus: Path, entries: list[dict[str, Any]], rounds: int) -> dict[str, list[dict[str, float]]]:
    """Per candidate, per round: median ms per document and pages per second."""
    normal = [e for e in entries if group(e) == "normal"]
    bodies = {e["file"]: (corpus / e["file"]).read_bytes() for e in normal}
    runs: dict[str, list[dict[str, float]]] = {}
    for r in range(rounds):
        per: dict[str, list[tuple[float, int]]] = {}
        for entry in normal:
            names = list(CANDIDATES[entry["type"]])
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                try:
                    pages = len(CANDIDATES[entry["type"]][name](bodies[entry["file"]]).get("pages") or [])
                except Exception:
                    pages = 0
                per.setdefault(f"{entry['type']}/{name}", []).append((time.perf_counter() - start, pages))
        for key, samples in per.items():
            total = sum(s for s, _ in samples)
            runs.setdefault(key, []).append(
                {
                    "ms_median": 1000 * statistics.median(s for s, _ in samples),
                    "pages_per_s": sum(p for _, p in samples) / total if total else 0.0,
                    "total_s": total,
                }
            )
    return runs


# --- phase 3: the cost of isolation ------------------------------------------------------------------


def _rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def isolation(corpus: Path, entries: list[dict[str, Any]], rounds: int, per_doc_files: int) -> dict[str, Any]:
    """Our parsers: in-process vs reused worker vs a new worker per document, alternated."""
    normal = [e for e in entries if group(e) == "normal"]
    docs = [(e["type"], (corpus / e["file"]).read_bytes()) for e in normal]
    parsers = {"pdf": parse_pdf, "docx": parse_docx, "pptx": parse_pptx}
    sample = docs[:: max(1, len(docs) // per_doc_files)][:per_doc_files]
    starts, rss, idle_rss = [], [], []
    results: dict[str, list[float]] = {"in-process": [], "reused worker": [], "worker per document": []}
    with DocumentExtractor() as reused:
        reused.extract(docs[0][1], docs[0][0])  # warm: the start is measured below
        for r in range(rounds):
            variants = ["in-process", "reused worker", "worker per document"]
            variants = variants[r % 3 :] + variants[: r % 3]
            times: dict[str, list[float]] = {v: [] for v in variants}
            for kind, body in sample:
                for variant in variants:
                    start = time.perf_counter()
                    if variant == "in-process":
                        parsers[kind](body)
                    elif variant == "reused worker":
                        reused.extract(body, kind)
                    else:
                        with DocumentExtractor() as fresh:
                            fresh.extract(body, kind)
                    times[variant].append(time.perf_counter() - start)
            for variant, samples in times.items():
                results[variant].append(1000 * statistics.median(samples))
            # cold start: spawn + import PDFium and lxml + handshake
            for _ in range(3):
                with DocumentExtractor() as cold:
                    start = time.perf_counter()
                    cold._ready_worker()
                    starts.append(time.perf_counter() - start)
                    idle_rss.append(_rss_mb(cold.worker_pid) or 0.0)
        rss.append(_rss_mb(reused.worker_pid) or 0.0)
    return {
        "ms_per_doc": results,
        "documents": len(sample),
        "start_ms": [1000 * s for s in starts],
        "idle_rss_mb": statistics.median(idle_rss),
        "rss_after_mb": rss[-1],
    }


# --- output ------------------------------------------------------------------------------------------


def _share(pair: tuple[int, int]) -> str:
    found, total = pair
    return f"{found}/{total} ({100 * found / total:.0f}%)" if total else "-"


def print_report(report: dict[str, Any]) -> None:
    print(f"# documents bench, {report['date']}, {report['machine']}")
    print(f"corpus {report['corpus']}; timeout {report['timeout_s']} s per file\n")
    print("## quality (isolated worker; normal files = not hostile, not scanned)")
    print(
        f"{'candidate':<20} {'files':>5} {'with (snippets)':>17} {'with/file':>9} {'without':>12}"
        f" {'order':>10} {'token F1':>9} {'failed':>6}"
    )
    for row in report["summary"]:
        f1 = f"{row['f1']:.3f} ({row['f1_files']})" if row["f1"] is not None else "-"
        wf = f"{row['with_file_mean']:.3f}" if row["with_file_mean"] is not None else "-"
        print(
            f"{row['candidate']:<20} {row['files']:>5} {_share(row['with']):>17} {wf:>9}"
            f" {_share(row['without']):>12} {_share(row['order']):>10} {f1:>9} {len(row['failed']):>6}"
        )
    print("\n## scanned and hostile files")
    print(f"{'candidate':<20} {'scanned ≤10 ch':>14} {'needs_ocr':>9} {'hostile max s':>13} {'hung':>4} {'crash':>5}")
    for row in report["summary"]:
        print(
            f"{row['candidate']:<20} {row['scanned_empty']:>7}/{row['scanned']:<6} {row['scanned_flagged']:>9}"
            f" {row['hostile_max_s']:>13.2f} {row['hostile_hung']:>4} {row['hostile_crashed']:>5}"
        )
    print("\n## hostile files: seconds and outcome per candidate")
    for file, cells in report["hostile"].items():
        print(f"- {file}")
        for name, (seconds, out, reason) in cells.items():
            print(f"    {name:<20} {seconds:7.3f} s  {out:<22} {reason or ''}")
    if report.get("speed"):
        print("\n## speed (in-process, non-hostile files; every round, then the median)")
        print(f"{'candidate':<20} {'ms/doc median':>14} {'pages/s':>9} {'total s':>8}   rounds (ms/doc; pages/s)")
        for key, runs in report["speed"].items():
            ms = statistics.median(r["ms_median"] for r in runs)
            pps = statistics.median(r["pages_per_s"] for r in runs)
            tot = statistics.median(r["total_s"] for r in runs)
            each = ", ".join(f"{r['ms_median']:.1f}; {r['pages_per_s']:.0f}" for r in runs)
            print(f"{key:<20} {ms:>14.1f} {pps:>9.1f} {tot:>8.2f}   {each}")
    if report.get("isolation"):
        iso = report["isolation"]
        print(f"\n## isolation (our parsers, {iso['documents']} documents; median ms/doc per round, alternated)")
        base = statistics.median(iso["ms_per_doc"]["in-process"])
        for variant, runs in iso["ms_per_doc"].items():
            med = statistics.median(runs)
            each = ", ".join(f"{x:.1f}" for x in runs)
            print(f"{variant:<22} {med:8.1f} ms/doc  (+{med - base:.1f} ms)   rounds: {each}")
        print(
            f"worker cold start: median {statistics.median(iso['start_ms']):.0f} ms"
            f" (runs: {', '.join(f'{x:.0f}' for x in iso['start_ms'])}); RSS idle"
            f" {iso['idle_rss_mb']:.0f} MB, after the run {iso['rss_after_mb']:.0f} MB"
        )
    print("\nversions: " + ", ".join(f"{k}=={v}" for k, v in report["versions"].items()))


def machine() -> str:
    return f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="documents corpus (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="speed and isolation rounds (default: %(default)s)")
    parser.add_argument("--formats", default="pdf,docx,pptx", help="comma-separated (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per file (default: %(default)s)")
    parser.add_argument("--per-doc-files", type=int, default=24, help="documents in the isolation test")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-isolation", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the full report here")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # pypdf and pdfminer warn on every odd font in the speed phase
    warnings.simplefilter("ignore")
    if not (args.corpus / "gold.json").is_file():
        parser.error(f"no gold.json under {args.corpus}")
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    entries = load(args.corpus, formats)
    for e in entries:  # sniff must name every file from its bytes (the 0-byte one from its name)
        got = sniff((args.corpus / e["file"]).read_bytes(), None, e["file"])
        if got != e["type"]:
            print(f"sniff: {e['file']} -> {got} (expected {e['type']})", file=sys.stderr)
    results = quality(args.corpus, entries, args.timeout)
    by_file = {e["file"]: e for e in entries}
    hostile: dict[str, dict[str, tuple[float, str, str | None]]] = {}
    for key, data in results.items():
        for file, row in data["files"].items():
            if group(by_file[file]) == "hostile":
                out = outcome(row)
                if row["score"]["starts_with"] is not None:
                    out += ", starts right" if row["score"]["starts_with"] else ", start lost"
                hostile.setdefault(file, {})[key] = (row["seconds"], out, row["reason"])
    report: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "corpus": str(args.corpus),
        "timeout_s": args.timeout,
        "summary": summarise(entries, results),
        "hostile": hostile,
        "versions": {pkg: version(pkg) for pkg in sorted(set(PACKAGES.values()))},
        "results": results,
    }
    if not args.skip_speed:
        report["speed"] = speed(args.corpus, entries, args.rounds)
    if not args.skip_isolation:
        report["isolation"] = isolation(args.corpus, entries, args.rounds, args.per_doc_files)
    print_report(report)
    if args.json:
        with contextlib.suppress(OSError):
            args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
