"""What a freshness budget means, in one place, and each source's freshness record.

`FreshnessBudget` derives every cadence the project runs a source on from its two settings
(`freshness`, `check_every`): the Dagster freshness policy, the change detector's rotation, the
backstop schedule, how often "verified, unchanged" is recorded, and the status `/sources` and
`infra-assets status` report. They all ask it; none divides a budget by itself.

Status records (`INFRA_ASSETS_DATA_DIR/status/NAME.json`, plain files, so the CLI, the API and
any process read the same truth without a Dagster instance) are written by the raw and clean
assets and by the change sensor, under a lock:

- `never`: nothing of the source is served yet (never verified, or verified but not yet published);
  `failing`: the last attempt failed;
- `stale`: last verified longer ago than the budget; `warn`: past the warn window; else `fresh`.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .spec import Source

STATUSES = ("fresh", "warn", "stale", "never", "failing")
MIN_CHECKS_PER_TICK = 25  # small sources are verified in full on every tick
FIRST_RUN_RETRY_MIN_S = 60


@dataclass(frozen=True)
class FreshnessBudget:
    """A source's budget (`freshness_s`) and look interval (`check_every_s`), and what follows."""

    freshness_s: int
    check_every_s: int

    @property
    def warn_after_s(self) -> float:
        """Past this age a source warns: half its budget."""
        return self.freshness_s / 2

    @property
    def verify_cycle_s(self) -> float:
        """Every document is re-verified against the live site within this (half the budget)."""
        return self.freshness_s / 2

    @property
    def backstop_every_s(self) -> int:
        """The backstop schedule's period: half the budget, in whole minutes (at least one)."""
        return 60 * max(1, self.freshness_s // 120)

    @property
    def record_unchanged_every_s(self) -> float:
        """ "Verified, unchanged" is recorded on the assets at most this often (a quarter budget)."""
        return self.freshness_s / 4

    @property
    def retry_first_run_every_s(self) -> float:
        """A source never indexed is tried again this often when its first run failed."""
        return max(FIRST_RUN_RETRY_MIN_S, self.freshness_s / 4)

    def checks_per_tick(self, documents: int) -> int:
        """Conditional requests per sensor tick so that every document is verified once per
        `verify_cycle_s` (all of them on small sources)."""
        ticks = max(1.0, self.verify_cycle_s / self.check_every_s)
        return min(documents, max(MIN_CHECKS_PER_TICK, math.ceil(documents / ticks)))

    def status(self, age_s: float | None, failing: bool) -> str:
        """The one definition of fresh, given how old the last verification is (None: never)."""
        if failing:
            return "failing"
        if age_s is None:
            return "never"
        if age_s > self.freshness_s:
            return "stale"
        if age_s > self.warn_after_s:
            return "warn"
        return "fresh"


# --------------------------------------------------------------------------- status records


def _path(data_dir: Path, name: str) -> Path:
    return data_dir / "status" / f"{name}.json"


def read_record(data_dir: Path, name: str) -> dict[str, Any]:
    try:
        record: dict[str, Any] = json.loads(_path(data_dir, name).read_text())
        return record
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Sensors (daemon) and assets (runs) update the same record from different processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def update_record(data_dir: Path, name: str, **fields: Any) -> dict[str, Any]:
    """Merge fields into a source's status record (atomic replace, under a lock)."""
    path = _path(data_dir, name)
    with _locked(path):
        record = read_record(data_dir, name)
        record.update({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()})
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)
    return record


def record_figures(data_dir: Path, name: str, stage: str, metadata: Mapping[str, Any]) -> None:
    """Keep the numbers of a stage's last materialization in the source's status record
    (`figures.STAGE`), so the API's `/metrics` exports them without reading Dagster's storage."""
    numbers = {k: v for k, v in metadata.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    path = _path(data_dir, name)
    with _locked(path):
        record = read_record(data_dir, name)
        record.setdefault("figures", {})[stage] = numbers
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def source_status(
    source: Source,
    record: Mapping[str, Any],
    published: Mapping[str, Any] | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One row of `GET /sources`.

    Fresh means: served, verified against the live site within the budget's warn window, and every
    change seen has reached the serving index. A change not yet served counts from when it was
    seen; a source the served generation does not hold is `never` (or `failing`), however recently
    it was fetched. `published`: the served generation's per-source counts and time
    (`Manifest.source_view()`).
    """
    now = now or datetime.now(timezone.utc)
    budget = source.budget
    verified = _parse(record.get("last_verified_at"))
    attempted = _parse(record.get("last_attempt_at"))
    changed = _parse(record.get("last_changed_at"))
    served = _parse((published or {}).get("published_at"))
    age = (now - verified).total_seconds() if verified else None
    if changed and (served is None or changed > served):
        # Seen but not served yet: as old as the change (or the verification, if older).
        age = max(age or 0.0, (now - changed).total_seconds())
    error = record.get("last_error")
    failing = bool(error) and (verified is None or (attempted is not None and attempted > verified))
    served_sources = (published or {}).get("sources", {})
    status = budget.status(age if verified and source.name in served_sources else None, failing)
    counts = served_sources.get(source.name, {})
    return {
        "name": source.name,
        "kind": source.kind,
        "url": source.url,
        "documents": int(counts.get("documents", 0)),
        "chunks": int(counts.get("chunks", 0)),
        "last_verified": record.get("last_verified_at"),
        "last_changed": record.get("last_changed_at"),
        "freshness_budget_s": source.freshness,
        "age_s": round(age, 1) if age is not None else None,
        "status": status,
        "error": error if status == "failing" else None,
    }


def sources_report(
    sources: Sequence[Source], data_dir: Path, published: Mapping[str, Any] | None, now: datetime | None = None
) -> dict[str, Any]:
    """The `GET /sources` response object (at `now`, default: now)."""
    now = now or datetime.now(timezone.utc)
    return {"sources": [source_status(s, read_record(data_dir, s.name), published, now) for s in sources]}
