"""Per-source freshness: when it was last verified against the live site, and what that means.

The raw asset records every attempt in `INFRA_ASSETS_DATA_DIR/status/NAME.json` (plain files, so
the CLI, the API and any process read the same truth without a Dagster instance). `status` and
`GET /sources` compute the same statuses from it:

- `never`: never verified; `failing`: the last attempt failed;
- `stale`: last verified longer ago than the budget; `warn`: past half the budget; else `fresh`.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .config import Source

STATUSES = ("fresh", "warn", "stale", "never", "failing")


def _path(data_dir: Path, name: str) -> Path:
    return data_dir / "status" / f"{name}.json"


def read_record(data_dir: Path, name: str) -> dict:
    try:
        return json.loads(_path(data_dir, name).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


@contextmanager
def _locked(path: Path):
    """Sensors (daemon) and assets (runs) update the same record from different processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def update_record(data_dir: Path, name: str, **fields) -> dict:
    """Merge fields into a source's status record (atomic replace, under a lock)."""
    path = _path(data_dir, name)
    with _locked(path):
        record = read_record(data_dir, name)
        record.update({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()})
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)
    return record


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def source_status(source: Source, record: dict, published: dict | None, now: datetime | None = None) -> dict:
    """One row of `GET /sources`.

    Fresh means: verified against the live site within the budget, and every change seen has
    reached the serving index. A change not yet served counts from when it was seen.
    """
    now = now or datetime.now(timezone.utc)
    verified = _parse(record.get("last_verified_at"))
    attempted = _parse(record.get("last_attempt_at"))
    changed = _parse(record.get("last_changed_at"))
    served = _parse((published or {}).get("published_at"))
    age = (now - verified).total_seconds() if verified else None
    if changed and (served is None or changed > served):
        # Seen but not served yet: as old as the change (or the verification, if older).
        age = max(age or 0.0, (now - changed).total_seconds())
    if verified is None:
        status = "failing" if record.get("last_error") else "never"
    elif record.get("last_error") and attempted and attempted > verified:
        status = "failing"
    elif age > source.freshness_s:
        status = "stale"
    elif age > source.freshness_s / 2:
        status = "warn"
    else:
        status = "fresh"
    counts = (published or {}).get("sources", {}).get(source.name, {})
    return {
        "name": source.name,
        "kind": source.kind,
        "url": source.url,
        "documents": int(counts.get("documents", 0)),
        "chunks": int(counts.get("chunks", 0)),
        "last_verified": record.get("last_verified_at"),
        "last_changed": record.get("last_changed_at"),
        "freshness_budget_s": source.freshness_s,
        "age_s": round(age, 1) if age is not None else None,
        "status": status,
        "error": record.get("last_error") if status == "failing" else None,
    }


def sources_report(sources: list[Source], data_dir: Path, published: dict | None) -> dict:
    """The `GET /sources` response object."""
    now = datetime.now(timezone.utc)
    return {"sources": [source_status(s, read_record(data_dir, s.name), published, now) for s in sources]}
