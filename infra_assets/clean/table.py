"""`raw/NAME` → `clean/NAME`: one row per document with its title and main text.

Extraction runs only for bodies it has not seen: a page whose body hash matches the previous clean
row keeps that row. A document whose fetch or extraction failed keeps its previous row
(`status="kept"`, with the reason in `error`), so bad input never removes what was indexed.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import polars as pl
from polars.datatypes import DataTypeClass

from ..fetch.blobs import BlobStore
from .documents import extract_document, sniff
from .extract import extract_html, html_fragment_to_text
from .near_duplicates import fingerprint, group_fingerprints

CLEAN_SCHEMA: dict[str, pl.DataType | DataTypeClass] = {
    "url": pl.String,
    "title": pl.String,
    "text": pl.String,
    "content_hash": pl.String,  # of title and text: what the index holds for this document
    "fetched_at": pl.Datetime("us", "UTC"),  # last time the live document was verified
    "changed_at": pl.Datetime("us", "UTC"),  # last time content_hash changed
    "source": pl.String,
    "status": pl.String,  # ok | kept (last good copy kept after a failure)
    "error": pl.String,
    "body_hash": pl.String,
    "final_url": pl.String,
    "n_chars": pl.Int64,
    "duplicate_of": pl.String,  # the URL whose (nearly) identical text is indexed instead; null: indexed
    "fingerprint": pl.Binary,  # near_duplicates.fingerprint(text), reused while the text is unchanged
}
MIN_TEXT_CHARS = 20  # below this a "document" is an empty shell (a redirect page, a stub)
# From this many pages on, spreading extraction over the cores pays for starting the worker
# processes (BENCHMARKS.md, "Ingest").
PARALLEL_FROM = 64

Row = dict[str, Any]  # one table row, as polars' iter_rows(named=True) gives it and DataFrame(rows) takes it
Job = tuple[bytes, str, str, str | None]  # (body, body kind, URL, Content-Type) of one document to extract


@dataclass
class Cleaned:
    table: pl.DataFrame
    extracted: int = 0
    reused: int = 0
    kept: int = 0
    gone: int = 0
    duplicates: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (url, reason)


def content_hash(title: str, text: str) -> str:
    return hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()[:32]


# Ends each page (or slide) of a paged document's text, so chunks keep their page numbers.
PAGE_BREAK = "\f"
PAGED = ("pdf", "pptx")


def _extract_with_reason(job: Job) -> tuple[str | None, str, str | None]:
    """(title, text, why part or all of it could not be read)."""
    body, kind, url, content_type = job
    if kind == "html":
        document = sniff(body, content_type, url)
        if document is not None:
            # PDF, Office, plain text, Markdown: parsed in an isolated worker with its own limits.
            doc = extract_document(body, document)
            if document in PAGED:
                text = "".join(page + PAGE_BREAK for page in doc.pages) if "".join(doc.pages).strip() else ""
            else:
                text = "\n".join(doc.pages)
            return doc.title, text, doc.reason
    return (*_extract_markup(body, kind, url, content_type), None)


def _extract_markup(body: bytes, kind: str, url: str, content_type: str | None) -> tuple[str | None, str]:
    if kind == "fragment":
        return None, html_fragment_to_text(body.decode("utf-8", errors="replace"))
    if kind == "text":
        text = body.decode("utf-8", errors="replace")
        return None, "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
    extracted = extract_html(body, url=url, content_type=content_type)
    return extracted.title, extracted.text


def _safe_extract(job: Job) -> tuple[str | None, str, str | None]:
    try:
        return _extract_with_reason(job)
    except Exception as exc:  # an extractor bug on one page must not sink the source
        return None, "", f"extraction failed: {type(exc).__name__}: {exc}"


def extract_many(jobs: list[Job]) -> list[tuple[str | None, str, str | None]]:
    """(title, text, error) per job, on every core when there are enough pages to pay for it."""
    workers = min(os.cpu_count() or 1, 4)
    if len(jobs) < PARALLEL_FROM or workers < 2:
        return [_safe_extract(job) for job in jobs]
    # spawn, not fork: forking a process that runs Dagster's threads can deadlock the child.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_safe_extract, jobs, chunksize=8))


def clean_table(source: str, raw: pl.DataFrame, previous: pl.DataFrame | None, blobs: BlobStore) -> Cleaned:
    """Build the new clean table of a source from its raw table and its previous clean table."""
    prev = {r["url"]: r for r in previous.iter_rows(named=True)} if previous is not None else {}
    out = Cleaned(table=pl.DataFrame(schema=CLEAN_SCHEMA))
    now = datetime.now(timezone.utc)
    # Pass 1: decide per document; rows stay in raw order (None marks "extract this one").
    plan: list[tuple[Row, Row | None, Row | None]] = []  # (raw row, old clean row, ready row)
    jobs: list[Job] = []
    for row in raw.filter(pl.col("role") == "document").iter_rows(named=True):
        url = row["url"]
        old = prev.get(url)
        failed = row["outcome"] not in ("fetched", "not_modified")
        if row["outcome"] == "gone":
            out.gone += 1
            continue
        reason = (row["error"] or row["outcome"]) if failed else None
        reusable = old is not None and row["body_hash"] is not None and old["body_hash"] == row["body_hash"]
        body = None if reusable or row["body_hash"] is None else blobs.get(row["body_hash"])
        if not reusable and body is None:
            out.problems.append((url, reason or "no body"))
            if old is not None:
                plan.append((row, old, _kept(old, reason or "no body")))
                out.kept += 1
            continue
        if reusable:
            assert old is not None  # only a previous row can be reused
            # Same bytes as last time: no need to extract again.
            reused = dict(old)
            reused["fetched_at"] = row["verified_at"] or old["fetched_at"]
            reused["status"], reused["error"] = ("kept", reason) if failed else ("ok", None)
            plan.append((row, old, reused))
            out.reused += 1
            continue
        plan.append((row, old, None))
        assert body is not None  # a document neither reused nor short of its body (both handled above)
        jobs.append((body, row["body_kind"], row["final_url"] or url, row["content_type"]))

    # Pass 2: extract what is new, on every core when it is worth it.
    extracted = iter(extract_many(jobs))
    rows: list[Row] = []
    for row, old, ready in plan:
        if ready is not None:
            rows.append(ready)
            continue
        url = row["url"]
        failed = row["outcome"] not in ("fetched", "not_modified")
        reason = (row["error"] or row["outcome"]) if failed else None
        title, text, error = next(extracted)
        reason = reason or error
        if len(text.strip()) < MIN_TEXT_CHARS:
            reason = reason or f"no main text found ({row['content_type'] or 'unknown type'})"
            out.problems.append((url, reason))
            if old is not None:
                rows.append(_kept(old, reason))
                out.kept += 1
            continue
        title = " ".join((row["title_hint"] or title or "").split()) or url
        digest = content_hash(title, text)
        changed_at = now if old is None or old["content_hash"] != digest else old["changed_at"]
        rows.append(
            {
                "url": url,
                "title": title,
                "text": text,
                "content_hash": digest,
                "fetched_at": row["verified_at"] or now,
                "changed_at": changed_at,
                "source": source,
                "status": "kept" if failed else "ok",
                "error": reason,
                "body_hash": row["body_hash"],
                "final_url": row["final_url"],
                "n_chars": len(text),
            }
        )
        out.extracted += 1
    # Near-duplicates (print views, ?ref= copies, syndicated copies) are kept here as alternates,
    # each naming the URL that is indexed; the index holds one copy (BENCHMARKS.md, "Near-duplicates").
    for r in rows:
        if r.get("fingerprint") is None:  # new text (rows reused or kept carry theirs)
            r["fingerprint"] = fingerprint(r["text"])
    same = group_fingerprints([(r["url"], r["fingerprint"]) for r in rows])
    for r in rows:
        r["duplicate_of"] = same.get(r["url"])
    out.duplicates = len(same)
    out.table = pl.DataFrame(rows, schema=CLEAN_SCHEMA) if rows else out.table
    return out


def indexed(clean: pl.DataFrame) -> pl.DataFrame:
    """The documents of a clean table the index holds: all but the near-duplicates."""
    return clean.filter(pl.col("duplicate_of").is_null()) if "duplicate_of" in clean.columns else clean


def _kept(old: Row, reason: str) -> Row:
    kept = dict(old)
    kept["status"], kept["error"] = "kept", reason
    return kept
