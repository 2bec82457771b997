"""The backstop in batches: which sources are due for a full verification, grouped into few runs.

Each source is fully verified (its `raw/NAME` asset run, every page revalidated) at least every
`FreshnessBudget.backstop_every_s`, half its budget, so a change its change sensor cannot see is
still caught. A schedule per source does that with one run per source per period: 10,000 sources
at a 1-hour budget would launch 20,000 runs an hour, and the run overhead would be the cost.
Above `BATCHED_ABOVE` sources, one sensor instead collects every source whose last full
verification is older than its period, groups them by web host, and launches one run per host
and at most `BATCH_MAX` sources, so the runs an hour follow the hosts and the batch size rather
than the number of sources. Below it, a schedule per source keeps each source's backstop
visible on its own in the Dagster UI.

The stamp is `last_full_attempt_at` in the source's status record, written by the raw asset on
success and on failure alike (a host that is down is tried again one period later, not every tick).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .spec import Source, host_of

BATCHED_ABOVE = 100  # sources; at most this many keep a backstop schedule each
BATCH_MAX = 200  # sources in one backstop run
TICK_S = 60  # how often the batched backstop looks for due sources
STAMP = "last_full_attempt_at"


@dataclass(frozen=True)
class Batch:
    host: str
    names: tuple[str, ...]


def last_full(record: Mapping[str, Any]) -> float | None:
    stamp = record.get(STAMP)
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def is_due(source: Source, record: Mapping[str, Any], now: float) -> bool:
    last = last_full(record)
    return last is None or now - last >= source.budget.backstop_every_s


def due_batches(
    sources: Iterable[Source],
    records: Mapping[str, Mapping[str, Any]],
    busy: set[str],
    now: float,
    batch_max: int = BATCH_MAX,
) -> list[Batch]:
    """The runs to launch now: due sources not already queued or running (`busy`), per host,
    most overdue first, `batch_max` to a run."""
    by_host: dict[str, list[tuple[float, str]]] = {}
    for source in sources:
        record = records.get(source.name, {})
        if source.name in busy or not is_due(source, record, now):
            continue
        by_host.setdefault(host_of(source.url), []).append((last_full(record) or 0.0, source.name))
    batches = []
    for host in sorted(by_host):
        names = [name for _, name in sorted(by_host[host])]
        batches += [Batch(host, tuple(names[i : i + batch_max])) for i in range(0, len(names), batch_max)]
    return batches
