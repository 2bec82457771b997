"""JSON sources: records of a JSON document mapped to documents by the source's field names."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin

_MISSING = object()


class RecordMapping(Protocol):
    """Where a JSON document keeps its records and which fields make a document (dotted paths)."""

    @property
    def url(self) -> str: ...  # the document's URL: record links are resolved against it
    @property
    def records(self) -> str | None: ...
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str | None: ...
    @property
    def text(self) -> Sequence[str]: ...
    @property
    def link(self) -> str | None: ...


class JsonSourceError(ValueError):
    """The document is not JSON, or the records path does not lead to a list."""


@dataclass(frozen=True)
class JsonRecord:
    """One record of a JSON source, as the document the pipeline indexes."""

    id: str
    url: str
    title: str
    text: str


def lookup(value: Any, path: str | None) -> Any:
    """Follow a dotted path (`data.items`, `results.0.body`) into dicts and lists."""
    if not path:
        return value
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _as_text(value: Any) -> str:
    """A field's value as indexable text: strings as they are, numbers printed, lists joined."""
    if value is _MISSING or value is None or isinstance(value, bool):
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "\n".join(t for t in (_as_text(v) for v in value) if t)
    return ""  # objects have no obvious text; map a field inside them instead


def parse_records(body: bytes, mapping: RecordMapping) -> tuple[list[JsonRecord], list[str]]:
    """The document's records; a record without an id or text is reported in errors and skipped."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JsonSourceError(f"not JSON: {exc}") from None
    items = lookup(doc, mapping.records)
    where = f"records path '{mapping.records}'" if mapping.records else "the top level"
    if items is _MISSING:
        keys = ", ".join(sorted(doc)[:10]) if isinstance(doc, dict) else type(doc).__name__
        raise JsonSourceError(f"{where} not found in the document (top-level keys: {keys})")
    if not isinstance(items, list):
        raise JsonSourceError(f"{where} is a {type(items).__name__}, expected a list of records")

    id_field = mapping.id or "id"
    records: list[JsonRecord] = []
    errors: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        label = f"record {index}"
        if not isinstance(item, dict):
            errors.append(f"{label}: expected an object, got {type(item).__name__}")
            continue
        ident = _as_text(lookup(item, id_field))
        if not ident:
            errors.append(f"{label}: missing id field '{id_field}'")
            continue
        label = f"record {index} (id {ident})"
        if ident in seen:
            errors.append(f"{label}: duplicate id, kept the first")
            continue
        parts = [_as_text(lookup(item, f)) for f in mapping.text]
        text = "\n\n".join(p for p in parts if p)
        if not text:
            errors.append(f"{label}: no text in {', '.join(mapping.text) or 'any text field'}")
            continue
        link = _as_text(lookup(item, mapping.link)) if mapping.link else ""
        seen.add(ident)
        records.append(
            JsonRecord(
                id=ident,
                url=urljoin(mapping.url, link) if link else f"{mapping.url}#{ident}",
                title=_as_text(lookup(item, mapping.title)) if mapping.title else "",
                text=text,
            )
        )
    return records, errors
