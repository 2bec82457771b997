"""The freshness budget: every cadence it derives, the one definition of fresh, and the Dagster
policy and backstop schedule that take their windows from it."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra_assets.components.automation import backstop_cron
from infra_assets.components.source_defs import freshness_policy
from infra_assets.sources.freshness import STATUSES, FreshnessBudget, source_status
from infra_assets.sources.spec import parse_source

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
HOUR = 3600


def feed(freshness="1h", check_every="5m", name="news"):
    return parse_source(
        {
            "name": name,
            "kind": "feed",
            "url": "https://news.example/feed.xml",
            "freshness": freshness,
            "check_every": check_every,
        }
    )


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).isoformat()


def served(published_ago: float = 10, *names: str) -> dict:
    """A served generation holding `names` (default: the feed), published `published_ago` s ago."""
    return {
        "published_at": ago(published_ago),
        "sources": {n: {"documents": 2, "chunks": 5} for n in names or ("news",)},
    }


# --------------------------------------------------------------------------- the budget's cadences


def test_a_source_carries_its_budget_from_the_file():
    assert feed("1h", "5m").budget == FreshnessBudget(freshness_s=3600, check_every_s=300)
    assert feed("2d", "30s").budget == FreshnessBudget(freshness_s=2 * 86400, check_every_s=30)


@pytest.mark.parametrize("freshness_s", [60, 90, 600, 3600, 86400, 7 * 86400])
def test_warn_and_verify_windows_are_half_the_budget(freshness_s):
    budget = FreshnessBudget(freshness_s, 60)
    assert budget.warn_after_s == freshness_s / 2
    assert budget.verify_cycle_s == freshness_s / 2
    assert budget.record_unchanged_every_s == freshness_s / 4


@pytest.mark.parametrize(
    "freshness_s, period_s",
    [
        (30, 60),  # at least a minute
        (60, 60),
        (150, 60),  # half of 150 s is 75 s: whole minutes, rounded down
        (250, 120),
        (3600, 1800),
        (86400, 43200),
        (7 * 86400, 302400),
    ],
)
def test_backstop_period_is_half_the_budget_in_whole_minutes(freshness_s, period_s):
    budget = FreshnessBudget(freshness_s, 60)
    assert budget.backstop_every_s == period_s
    assert budget.backstop_every_s % 60 == 0 and budget.backstop_every_s >= 60


@pytest.mark.parametrize(
    "freshness_s, retry_s",
    [(60, 60), (120, 60), (240, 60), (400, 100), (3600, 900), (86400, 21600)],
)
def test_a_failed_first_run_is_retried_every_quarter_budget_but_not_within_a_minute(freshness_s, retry_s):
    assert FreshnessBudget(freshness_s, 30).retry_first_run_every_s == retry_s


@pytest.mark.parametrize(
    "freshness_s, check_every_s, documents, per_tick",
    [
        (3600, 300, 1000, 167),  # 1800 s / 300 s = 6 ticks per cycle: ceil(1000 / 6)
        (3600, 300, 100, 25),  # ceil(100 / 6) = 17, but small sources get at least 25
        (3600, 300, 10, 10),  # never more than there are documents
        (3600, 300, 0, 0),
        (3600, 60, 3000, 100),  # 30 ticks
        (600, 300, 1000, 1000),  # one tick per cycle: all of them every tick
        (600, 3600, 1000, 1000),  # looks rarer than the cycle: still all of them
        (86400, 300, 100_000, 695),  # 144 ticks: ceil(100000 / 144)
    ],
)
def test_checks_per_tick(freshness_s, check_every_s, documents, per_tick):
    assert FreshnessBudget(freshness_s, check_every_s).checks_per_tick(documents) == per_tick


@pytest.mark.parametrize("freshness_s, check_every_s", [(3600, 300), (3600, 7), (86400, 60), (600, 300), (90, 60)])
def test_every_document_is_verified_within_one_verify_cycle(freshness_s, check_every_s):
    budget = FreshnessBudget(freshness_s, check_every_s)
    ticks = max(1, math.floor(budget.verify_cycle_s / check_every_s))  # whole ticks in a cycle
    for documents in (1, 24, 25, 26, 99, 1000, 12_345):
        n = budget.checks_per_tick(documents)
        assert 1 <= n <= documents
        assert n * ticks >= documents, (documents, n, ticks)


def test_status_thresholds():
    budget = FreshnessBudget(3600, 300)
    assert budget.status(None, False) == "never"
    assert budget.status(0, False) == "fresh"
    assert budget.status(1800, False) == "fresh"  # at the warn window, not past it
    assert budget.status(1800.5, False) == "warn"
    assert budget.status(3600, False) == "warn"  # at the budget, not past it
    assert budget.status(3600.5, False) == "stale"
    assert budget.status(10 * HOUR, False) == "stale"
    for age in (None, 0, 1800.5, 10 * HOUR):
        assert budget.status(age, True) == "failing"
    # The thresholds move with the budget.
    small = FreshnessBudget(600, 60)
    assert (small.status(299, False), small.status(301, False), small.status(601, False)) == ("fresh", "warn", "stale")


# --------------------------------------------------------------------------- source_status


def test_never_verified():
    row = source_status(feed(), {}, None, NOW)
    assert row["status"] == "never"
    assert row["age_s"] is None and row["last_verified"] is None and row["error"] is None
    assert (row["name"], row["kind"], row["url"]) == ("news", "feed", "https://news.example/feed.xml")
    assert row["freshness_budget_s"] == 3600
    assert (row["documents"], row["chunks"]) == (0, 0)


def test_failing_before_the_first_verification():
    record = {"last_attempt_at": ago(60), "last_error": "HTTP 503 (still failing after 3 retries)"}
    row = source_status(feed(), record, None, NOW)
    assert row["status"] == "failing" and row["error"] == "HTTP 503 (still failing after 3 retries)"


def test_failing_when_the_last_attempt_after_a_verification_failed():
    record = {"last_verified_at": ago(600), "last_attempt_at": ago(60), "last_error": "connection failed"}
    row = source_status(feed(), record, served(), NOW)
    assert row["status"] == "failing" and row["error"] == "connection failed"
    assert row["age_s"] == 600.0 and row["last_verified"] == ago(600)


def test_an_error_older_than_the_last_verification_is_not_failing():
    record = {"last_verified_at": ago(300), "last_attempt_at": ago(900), "last_error": "connection failed"}
    row = source_status(feed(), record, served(), NOW)
    assert row["status"] == "fresh" and row["error"] is None and row["age_s"] == 300.0


@pytest.mark.parametrize(
    "age_s, status",
    [(0, "fresh"), (300, "fresh"), (1800, "fresh"), (1801, "warn"), (2400, "warn"), (3601, "stale"), (7200, "stale")],
)
def test_verified_age_against_the_budget(age_s, status):
    row = source_status(feed(), {"last_verified_at": ago(age_s), "last_attempt_at": ago(age_s)}, served(), NOW)
    assert (row["status"], row["age_s"]) == (status, float(age_s))


def test_the_same_age_reads_against_each_source_own_budget():
    record = {"last_verified_at": ago(400)}
    assert source_status(feed("1h"), record, served(), NOW)["status"] == "fresh"
    assert source_status(feed("10m"), record, served(), NOW)["status"] == "warn"
    assert source_status(feed("5m"), record, served(), NOW)["status"] == "stale"


def test_a_change_seen_but_not_served_counts_from_when_it_was_seen():
    record = {"last_verified_at": ago(300), "last_changed_at": ago(2700)}
    row = source_status(feed(), record, served(3000), NOW)
    assert (row["status"], row["age_s"]) == ("warn", 2700.0)
    assert row["last_changed"] == ago(2700)
    # Unserved for longer than the budget: stale, however recently it was verified.
    stale = source_status(feed(), {"last_verified_at": ago(60), "last_changed_at": ago(4000)}, served(5000), NOW)
    assert (stale["status"], stale["age_s"]) == ("stale", 4000.0)
    # Once the serving index has it, only the verification's age counts.
    now_served = source_status(feed(), record, served(2000), NOW)
    assert (now_served["status"], now_served["age_s"]) == ("fresh", 300.0)


@pytest.mark.parametrize(
    "published",
    [None, {"published_at": ago(10), "sources": {}}, served(10, "other")],
    ids=["nothing published", "an empty generation", "a generation of other sources"],
)
def test_never_fresh_before_anything_of_the_source_is_served(published):
    # Fetched and verified a second ago, cleaned, even embedded: not served, so not fresh.
    record = {"last_verified_at": ago(1), "last_attempt_at": ago(1), "last_changed_at": ago(1)}
    row = source_status(feed(), record, published, NOW)
    assert row["status"] == "never" and (row["documents"], row["chunks"]) == (0, 0)
    assert row["last_verified"] == ago(1)  # what happened is still shown
    failed = {**record, "last_attempt_at": ago(0), "last_error": "HTTP 500"}
    assert source_status(feed(), failed, published, NOW)["status"] == "failing"


def test_counts_come_from_the_served_generation():
    published = {
        "published_at": ago(100),
        "sources": {"news": {"documents": 12, "chunks": 40}, "other": {"documents": 3, "chunks": 9}},
    }
    row = source_status(feed(), {"last_verified_at": ago(100)}, published, NOW)
    assert (row["documents"], row["chunks"]) == (12, 40)
    missing = source_status(feed(name="absent"), {"last_verified_at": ago(100)}, published, NOW)
    assert (missing["documents"], missing["chunks"]) == (0, 0)


moments = st.one_of(st.none(), st.integers(0, 10 * 3600).map(ago))


@given(
    verified=moments,
    attempted=moments,
    changed=moments,
    error=st.one_of(st.none(), st.just("HTTP 500")),
    published_at=moments,
    holds_source=st.booleans(),
    other_sources=st.booleans(),
)
def test_never_fresh_unless_served(verified, attempted, changed, error, published_at, holds_source, other_sources):
    source = parse_source({"name": "s", "kind": "page", "urls": ["https://example.org/"], "freshness": "1h"})
    record = {
        k: v
        for k, v in {
            "last_verified_at": verified,
            "last_attempt_at": attempted,
            "last_changed_at": changed,
            "last_error": error,
        }.items()
        if v is not None
    }
    served = {"s": {"documents": 1, "chunks": 1}} if holds_source else {}
    if other_sources:
        served["t"] = {"documents": 3, "chunks": 9}
    published = {"published_at": published_at, "sources": served} if published_at else None
    row = source_status(source, record, published, NOW)
    assert row["status"] in STATUSES
    if not (holds_source and published):
        assert row["status"] in ("never", "failing")


# --------------------------------------------------------------------------- Dagster takes its windows from it


def windows(budget: FreshnessBudget) -> tuple[timedelta, timedelta]:
    policy = freshness_policy(budget)
    return policy.fail_window.to_timedelta(), policy.warn_window.to_timedelta()


@pytest.mark.parametrize(
    "freshness_s, fail, warn",
    [
        (3600, timedelta(hours=1), timedelta(minutes=30)),
        (86400, timedelta(days=1), timedelta(hours=12)),
        (130, timedelta(seconds=130), timedelta(seconds=65)),
        # Dagster's smallest windows: a minute to warn, two to fail.
        (90, timedelta(minutes=2), timedelta(minutes=1)),
        (30, timedelta(minutes=2), timedelta(minutes=1)),
    ],
)
def test_freshness_policy_windows(freshness_s, fail, warn):
    assert windows(FreshnessBudget(freshness_s, 60)) == (fail, warn)


class EarlyWarning(FreshnessBudget):
    """A budget whose warn window is not half of it: the policy must follow the budget."""

    @property
    def warn_after_s(self) -> float:
        return self.freshness_s * 0.8


def test_freshness_policy_asks_the_budget_for_its_warn_window():
    assert windows(EarlyWarning(3600, 60)) == (timedelta(hours=1), timedelta(minutes=48))


def cron_step_minutes(cron: str) -> int:
    """The period of a backstop cron in minutes (the forms `backstop_cron` writes)."""
    if cron == "* * * * *":
        return 1
    if m := re.fullmatch(r"(\d+)-59/(\d+) \* \* \* \*", cron):
        assert int(m.group(1)) < int(m.group(2)), cron  # the offset stays inside the step
        return int(m.group(2))
    if m := re.fullmatch(r"(\d+) (\d+)-23/(\d+) \* \* \*", cron):
        assert int(m.group(1)) < 60 and int(m.group(2)) < int(m.group(3)), cron
        return 60 * int(m.group(3))
    if m := re.fullmatch(r"(\d+) (\d+) \* \* \*", cron):
        assert int(m.group(1)) < 60 and int(m.group(2)) < 24, cron
        return 24 * 60
    raise AssertionError(f"unexpected cron {cron!r}")


@pytest.mark.parametrize(
    "freshness, minutes",
    [("2m", 1), ("10m", 5), ("1h", 30), ("2h", 60), ("4h", 120), ("1d", 12 * 60), ("7d", 24 * 60)],
)
def test_backstop_cron_runs_every_backstop_period(freshness, minutes):
    source = feed(freshness)
    cron = backstop_cron(source)
    assert cron_step_minutes(cron) == minutes
    # Cron can say at most "daily"; below that the period is the budget's backstop period.
    assert cron_step_minutes(cron) * 60 == min(source.budget.backstop_every_s, 86400)
    assert backstop_cron(source) == cron  # the per-source offset is stable


def test_backstop_cron_asks_the_budget_for_its_period(monkeypatch):
    source = feed("1h")
    assert cron_step_minutes(backstop_cron(source)) == 30
    monkeypatch.setattr(FreshnessBudget, "backstop_every_s", property(lambda self: 600))
    assert cron_step_minutes(backstop_cron(source)) == 10
    monkeypatch.setattr(FreshnessBudget, "backstop_every_s", property(lambda self: 6 * HOUR))
    assert cron_step_minutes(backstop_cron(source)) == 6 * 60
