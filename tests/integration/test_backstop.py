"""The batched backstop (`sources/backstop.py`): above `BATCHED_ABOVE` sources, one sensor sends
every due source's full verification in one run per host, instead of a schedule and a run per
source; on a real site with a real Dagster instance."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import dagster as dg
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from infra_assets.components.automation import active_sources, source_tag
from infra_assets.demo import demo_pages, site_files
from infra_assets.devtools.servers import free_port
from infra_assets.sources.backstop import BATCHED_ABOVE, due_batches, is_due, last_full
from infra_assets.sources.freshness import read_record
from infra_assets.sources.spec import parse_source


def sources_on(hosts: list[str], per_host: int, freshness: int = 3600):
    return [
        parse_source({"name": f"s{h}_{i}", "kind": "page", "urls": [f"https://{host}/p{i}"], "freshness": freshness})
        for h, host in enumerate(hosts)
        for i in range(per_host)
    ]


def stamp(seconds_ago: float, now: float) -> dict:
    return {"last_full_attempt_at": datetime.fromtimestamp(now - seconds_ago, timezone.utc).isoformat()}


def test_due_sources_are_grouped_per_host_most_overdue_first_and_busy_ones_wait():
    now = datetime(2026, 12, 3, tzinfo=timezone.utc).timestamp()
    sources = sources_on(["a.example", "b.example", "c.example"], 300)
    period = sources[0].budget.backstop_every_s
    assert period == 1800  # half the 1-hour budget
    records = {}
    for i, s in enumerate(sources):
        if i % 3 == 0:
            records[s.name] = stamp(period / 2, now)  # verified a quarter budget ago: not due
        elif i % 3 == 1:
            records[s.name] = stamp(period + i, now)  # overdue, by more the later it comes
        # else: never verified: due
    busy = {sources[1].name, sources[2].name}
    batches = due_batches(sources, records, busy, now, batch_max=120)
    names = [n for b in batches for n in b.names]
    assert len(names) == len(set(names)) == 600 - 2
    assert not busy & set(names)
    assert all(is_due(s, records.get(s.name, {}), now) for s in sources if s.name in names)
    assert [b.host for b in batches] == ["a.example"] * 2 + ["b.example"] * 2 + ["c.example"] * 2
    assert all(len(b.names) <= 120 for b in batches)
    # Per host: never verified (no stamp) first, then the most overdue.
    host_a = [n for b in batches if b.host == "a.example" for n in b.names]
    ages = [last_full(records.get(n, {})) or 0.0 for n in host_a]
    assert ages == sorted(ages) and ages[0] == 0.0 and ages[-1] > 0
    # One period later every source is due again, in as few runs as the hosts and batch size allow.
    later = due_batches(sources, records, set(), now + period, batch_max=200)
    assert len(later) == 6 and sum(len(b.names) for b in later) == 900


def test_many_sources_are_verified_in_one_run_per_host(project, site):
    pages = demo_pages(BATCHED_ABOVE + 20)
    site.set_pages(site_files(pages, site.url))
    names = [f"p{i:03d}" for i in range(len(pages))]
    dead = f"http://127.0.0.1:{free_port()}/gone"  # a host that refuses connections
    project.write_sources(
        [{"name": n, "kind": "page", "urls": [f"{site.url}{p.path}"]} for n, p in zip(names, pages, strict=True)]
        + [{"name": "zdead", "kind": "page", "urls": [dead]}],
        defaults={"freshness": "1h"},
    )
    names.append("zdead")
    defs = project.defs()
    repo = defs.get_repository_def()
    assert not repo.schedule_defs  # no schedule per source above BATCHED_ABOVE
    sensor = defs.get_sensor_def("infra_assets_backstop")

    def tick():
        return sensor(dg.build_sensor_context(instance=project.instance))

    first = tick()
    assert len(first.run_requests) == 2  # one run per host: the site, and the dead host's
    request = next(r for r in first.run_requests if len(r.asset_selection) > 1)
    down = next(r for r in first.run_requests if len(r.asset_selection) == 1)
    assert {k.path[1] for k in request.asset_selection} == set(names[:-1])
    assert {k.path[0] for k in request.asset_selection} == {"raw"}
    # While a run of some of these sources is in progress, they wait for it.
    queued = DagsterRun(
        job_name="verify_sources",
        run_id=str(uuid.uuid4()),
        status=DagsterRunStatus.STARTED,
        tags={source_tag(names[0]): "1", source_tag(names[1]): "1"},
    )
    project.instance.add_run(queued)
    assert active_sources(project.instance) == {names[0], names[1]}
    waiting = tick()
    assert {k.path[1] for r in waiting.run_requests for k in r.asset_selection} == set(names[2:])
    project.instance.delete_run(queued.run_id)
    # The run itself: every source fully verified, stamped, and not due again for half a budget.
    job = defs.resolve_job_def("verify_sources")
    result = job.execute_in_process(
        instance=project.instance, asset_selection=list(request.asset_selection), tags=request.tags
    )
    assert result.success
    # A host that is down fails its run, is stamped all the same (tried again half a budget
    # later, not every tick) and keeps its error; nothing else is touched.
    failed = job.execute_in_process(
        instance=project.instance, asset_selection=list(down.asset_selection), tags=down.tags, raise_on_error=False
    )
    assert not failed.success and read_record(project.data_dir, "zdead").get("last_error")
    stamped = [read_record(project.data_dir, n).get("last_full_attempt_at") for n in names]
    assert all(stamped)
    assert datetime.now(timezone.utc) - min(datetime.fromisoformat(s) for s in stamped) < timedelta(minutes=5)
    after = tick()
    assert not after.run_requests and "no source is due" in after.skip_reason.skip_message
