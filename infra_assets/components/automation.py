"""Freshness on autopilot: a change sensor and a backstop schedule per source, and declarative
automation downstream.

- `NAME__changes` (sensor, every `check_every`): compares the live source with `raw/NAME`
  (`sources.kinds.detect`); a change launches one run of that source's chain and the serving
  index (the run key is the change's signature, so a change launches once); no change records
  the verification.
- `NAME__verify` (schedule, every `FreshnessBudget.backstop_every_s`): a full verification of
  `raw/NAME`, so a change the sensor cannot see (no validators, a wrong sitemap) is still caught.
  Above `BATCHED_ABOVE` sources, `infra_assets_backstop` (one sensor) does it instead, in one run
  per host for many sources (`sources/backstop.py`).
- `clean`, `embeddings` and `serving/index` follow their upstream by declarative automation, and
  only when an upstream *data version* changed: a verification that found nothing new re-embeds
  and republishes nothing.

Two things here a Dagster reader may not expect, both deliberate: runs of a source are found by
a run tag (`busy`), so a sensor or schedule never piles a run on a queued or running one; and a
check that found nothing records "verified, unchanged" as materializations carrying the
assets' previous data version and lineage (`verification_events`), because Dagster's freshness policies
count materializations, not observations.
"""

# No `from __future__ import annotations` here: Dagster reads the `context` and resource
# annotations of asset, sensor and schedule functions at decoration time.

import hashlib
import json
import time
from datetime import datetime, timezone

import dagster as dg

from ..sources.backstop import BATCH_MAX, BATCHED_ABOVE, TICK_S, due_batches
from ..sources.freshness import read_record, update_record
from ..sources.kinds import Rotation, detect
from ..sources.spec import Source
from .project import SERVING_KEY, Project, chain_keys
from .resources import HttpResource
from .verified import ACTIVE, TRIGGER_TAG, busy, source_tag, verification_tags

__all__ = ["ACTIVE", "TRIGGER_TAG", "busy", "source_tag"]  # here since before `verified`; used here too

RUNNING = dg.DefaultSensorStatus.RUNNING


def follow_upstream() -> dg.AutomationCondition[dg.AssetKey | dg.AssetCheckKey]:
    """Run when an upstream asset's data version changed (not merely re-materialized), once, and
    not while anything involved is missing or running: no floods after a pause or restart."""
    AC = dg.AutomationCondition
    upstream_changed = AC.any_deps_match(
        (AC.data_version_changed() & ~AC.executed_with_root_target()) | AC.will_be_requested()
    ).with_label("an upstream data version changed")
    return (
        # Dagster types since_last_handled's self as AutomationCondition[AssetKey | AssetCheckKey],
        # an invariant parameter, so an asset condition (its documented use) does not match it.
        (upstream_changed | AC.code_version_changed()).since_last_handled()  # type: ignore[misc]
        & ~AC.any_deps_missing()
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
    ).with_label("follows upstream changes")


def _run_request(name: str, key: str, reason: str) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"{name}:{key}",
        asset_selection=[*chain_keys(name), SERVING_KEY],
        tags={source_tag(name): "1", TRIGGER_TAG: reason},
    )


def verification_events(instance: dg.DagsterInstance, source: Source, checked: int) -> list[dg.AssetMaterialization]:
    """Record "verified, unchanged" on the source's assets so their freshness reflects checks,
    at most once per `record_unchanged_every_s`, keeping each asset's data version (nothing
    downstream runs)."""
    events = []
    now = time.time()
    for key in chain_keys(source.name):
        latest = instance.get_latest_materialization_event(key)
        if latest is None or latest.asset_materialization is None:
            continue
        if now - latest.timestamp < source.budget.record_unchanged_every_s:
            continue
        events.append(
            dg.AssetMaterialization(
                asset_key=key,
                description="Verified against the live source: unchanged.",
                metadata={"verified_unchanged": True, "documents_checked": checked},
                tags=verification_tags(latest.asset_materialization.tags),
            )
        )
    return events


def change_sensor(source: Source, project: Project) -> dg.SensorDefinition:
    name = source.name
    raw_key = chain_keys(name)[0]

    @dg.sensor(
        name=f"{name}__changes",
        minimum_interval_seconds=max(1, source.check_every),
        default_status=RUNNING,
        asset_selection=[*chain_keys(name), SERVING_KEY],
        description=f"Looks at '{name}' every {source.check_every}s (conditional requests) and "
        "refreshes its chain when the live source differs from what is indexed.",
    )
    def changes(
        context: dg.SensorEvaluationContext, http: HttpResource
    ) -> dg.SensorResult | dg.RunRequest | dg.SkipReason:
        cursor = json.loads(context.cursor) if context.cursor else {}
        if busy(context.instance, name):
            return dg.SkipReason("a run of this source is queued or in progress")
        raw = project.table(raw_key)
        if raw is None:
            # Never materialized (a new source): index it now. The bucket lets a failed first run
            # be retried every so often instead of never.
            bucket = int(time.time() // source.budget.retry_first_run_every_s)
            return _run_request(name, f"first:{bucket}", "new-source")
        started = datetime.now(timezone.utc)
        client = http.client()
        try:
            detection = detect(source, client, raw, project.blobs(name), Rotation.from_json(cursor.get("rotation")))
        finally:
            client.close()
        cursor["rotation"] = detection.rotation.to_json()
        new_cursor = json.dumps(cursor)
        data_dir = project.data_dir
        if detection.errors and not detection.checked and not detection.changed:
            update_record(data_dir, name, last_attempt_at=started, last_error=detection.errors[0])
            return dg.SensorResult(skip_reason=f"check failed: {detection.errors[0]}", cursor=new_cursor)
        if detection.changed:
            changed = sorted(set(detection.changed))
            context.log.info(f"{name}: {len(changed)} changed, e.g. {changed[:3]}")
            key = f"{detection.signature}:{project.table_token(raw_key)}"
            return dg.SensorResult(run_requests=[_run_request(name, key, "change")], cursor=new_cursor)
        events: list[dg.AssetMaterialization] = []
        if detection.cycle_complete and not detection.errors:
            verified = detection.rotation.last_cycle_started or started.isoformat()
            update_record(data_dir, name, last_attempt_at=started, last_verified_at=verified, last_error=None)
            events = verification_events(context.instance, source, detection.checked)
        elif detection.errors:
            update_record(data_dir, name, last_check_errors=len(detection.errors))
        skip = None if events else f"no change ({detection.checked} checked)"
        return dg.SensorResult(skip_reason=skip, cursor=new_cursor, asset_events=events)

    return changes


def notifications_sensor(project: Project) -> dg.SensorDefinition:
    """`POST /sources/NAME/notify` → a run of the source's chain and `serving/index`: the
    notification's record in the asset graph (the API's fast path may have made it searchable
    already; the run revalidates the source as its change sensor would)."""

    @dg.sensor(
        name="notifications",
        minimum_interval_seconds=5,
        default_status=RUNNING,
        asset_selection=[*(k for n in project.spec.names for k in chain_keys(n)), SERVING_KEY],
        description="Turns each notification the API received (POST /sources/NAME/notify) into a run of that source.",
    )
    def notifications(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        from ..serve.notify import pending, prune

        cursor: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        requests = []
        for name, notes in pending(project.data_dir, cursor).items():
            if name not in project.spec.names:
                continue
            if busy(context.instance, name):
                continue  # after the run in progress: the notification stays pending until then
            newest = notes[-1].id
            urls = sorted({u for n in notes for u in n.urls})
            context.log.info(f"{name}: {len(notes)} notifications ({len(urls)} URLs), newest {newest}")
            requests.append(_run_request(name, f"notify:{newest}", "notify"))
            cursor[name] = newest
        prune(project.data_dir, cursor)
        return dg.SensorResult(
            run_requests=requests,
            cursor=json.dumps(cursor),
            skip_reason=None if requests else "no new notifications",
        )

    return notifications


def webhooks_sensor(project: Project) -> dg.SensorDefinition:
    """The webhook deliveries in the Dagster UI: each tick says, per target, how many events were
    delivered, are pending and failed, and the last error (the API process delivers them)."""

    @dg.sensor(
        name="webhook_deliveries",
        minimum_interval_seconds=30,
        default_status=RUNNING,
        description="Reports the webhook deliveries of the change feed (delivered by the API process).",
    )
    def webhook_deliveries(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        from ..changes.log import ChangeLog
        from ..changes.webhooks import delivery_stats

        stats = delivery_stats(ChangeLog.of(project.settings.serving_dir))
        parts = []
        for hook in project.spec.webhooks:
            s = stats.get(hook.url, {})
            line = f"{hook.url}: {s.get('delivered', 0)} delivered, {s.get('pending', 0)} pending, "
            line += f"{s.get('failed', 0)} failed"
            if s.get("last_error") and s.get("pending"):
                line += f" (last error: {s['last_error']})"
            parts.append(line)
        return dg.SkipReason("; ".join(parts) or "no webhooks configured")

    return webhook_deliveries


def backstop_cron(source: Source) -> str:
    """Every `backstop_every_s`, offset per source so many sources don't all fire in the same minute."""
    minutes = source.budget.backstop_every_s // 60
    offset = int(hashlib.sha256(source.name.encode()).hexdigest(), 16)
    if minutes < 60:
        step = max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d <= minutes)
        return f"{offset % step}-59/{step} * * * *" if step > 1 else "* * * * *"
    hours = minutes // 60
    if hours < 24:
        step = max(d for d in (1, 2, 3, 4, 6, 8, 12) if d <= hours)
        return f"{offset % 60} {offset % step}-23/{step} * * *"
    return f"{offset % 60} {offset % 24} * * *"


# One job for every backstop: a schedule's run request picks its source's `raw/NAME` out of it.
# A job per schedule (what `target=` builds) costs Dagster a pass over every asset per job when
# the code location loads, quadratic in sources (BENCHMARKS.md, "Definitions load").
VERIFY_JOB = dg.define_asset_job(
    "verify_sources",
    selection=dg.AssetSelection.key_prefixes("raw"),
    description="Full verification of sources' raw assets; each backstop schedule runs one source.",
)


def backstop_schedule(source: Source) -> dg.ScheduleDefinition:
    name = source.name

    @dg.schedule(
        name=f"{name}__verify",
        cron_schedule=backstop_cron(source),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        job=VERIFY_JOB,
        description=f"Full verification of '{name}' every half freshness budget: the backstop "
        "for changes the sensor cannot see.",
    )
    def verify(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if busy(context.instance, name):
            return dg.SkipReason("a run of this source is queued or in progress")
        return dg.RunRequest(
            asset_selection=chain_keys(name)[:1], tags={source_tag(name): "1", TRIGGER_TAG: "backstop"}
        )

    return verify


def active_sources(instance: dg.DagsterInstance) -> set[str]:
    """The sources of every queued or running run, in one query (not one per source)."""
    prefix = source_tag("")
    return {
        key[len(prefix) :]
        for record in instance.get_run_records(dg.RunsFilter(statuses=ACTIVE))
        for key in record.dagster_run.tags
        if key.startswith(prefix)
    }


def backstop_sensor(project: Project) -> dg.SensorDefinition:
    """The backstop of many sources in few runs (`sources/backstop.py`): every `TICK_S`, the due
    sources, one run per web host and at most `BATCH_MAX` sources."""
    sources = list(project.spec.sources)

    @dg.sensor(
        name="infra_assets_backstop",
        minimum_interval_seconds=TICK_S,
        default_status=RUNNING,
        job=VERIFY_JOB,
        description=f"Full verification of every source at least every half budget, batched: one run per "
        f"host and at most {BATCH_MAX} sources (a schedule per source up to {BATCHED_ABOVE} sources).",
    )
    def backstop(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        now = time.time()
        records = {s.name: read_record(project.data_dir, s.name) for s in sources}
        batches = due_batches(sources, records, active_sources(context.instance), now)
        window = int(now // TICK_S)
        requests = [
            dg.RunRequest(
                run_key=f"backstop:{window}:{batch.host}:{i}",
                asset_selection=[chain_keys(name)[0] for name in batch.names],
                tags={**{source_tag(name): "1" for name in batch.names}, TRIGGER_TAG: "backstop"},
            )
            for i, batch in enumerate(batches)
        ]
        due = sum(len(b.names) for b in batches)
        if not requests:
            return dg.SensorResult(skip_reason=dg.SkipReason("no source is due for its backstop verification"))
        context.log.info(f"backstop: {due} sources due, in {len(requests)} runs")
        return dg.SensorResult(run_requests=requests)

    return backstop


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "infra_assets_automation",
        target=dg.AssetSelection.all(),
        default_status=RUNNING,  # Dagster's default sensor starts STOPPED on a fresh instance
        minimum_interval_seconds=10,
        description="Runs clean, embeddings and serving/index when their upstream data changed.",
    )
