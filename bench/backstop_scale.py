"""Backstop verifications at 10,000 sources: runs launched per hour, and verification throughput.

Part 1, runs per hour: 10,000 sources on 100 hosts with a 1-hour budget (a backstop every 30
minutes each). A schedule per source (`NAME__verify`, what up to `BATCHED_ABOVE` sources get)
fires 60 / its cron step times an hour, one run each. The batched backstop is the sensor's own
decision function (`sources.backstop.due_batches`) evaluated every `TICK_S` over two simulated
hours, with each launched run taken as done within the tick (its sources stamped then); the
second hour is counted. Also timed: one real evaluation over 10,000 status records on disk (the
sensor's work each tick, without Dagster's own overhead).

Part 2, verification throughput: `--real` sources of one page each on 5 local sites (real HTTP
servers on 127.0.0.1), verified by the batched backstop's real runs (the `verify_sources` job,
in-process, `BATCH_MAX` sources a run, as the sensor requests them). The first pass fetches
everything; the no-change pass (every page answered 304) is timed: sources verified per second.

    python bench/backstop_scale.py [--sources 10000] [--hosts 100] [--real 1000]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra_assets.demo.content import generated_pages, site_files  # noqa: E402
from infra_assets.demo.site import SiteServer  # noqa: E402

REAL_SITES = 5


def runs_per_hour(sources: int, hosts: int) -> dict:
    from infra_assets.components.automation import backstop_cron
    from infra_assets.sources.backstop import BATCH_MAX, TICK_S, due_batches
    from infra_assets.sources.freshness import update_record
    from infra_assets.sources.spec import parse_source

    specs = [
        parse_source(
            {"name": f"s{i:05d}", "kind": "page", "urls": [f"https://h{i % hosts}.example/p{i}"], "freshness": 3600}
        )
        for i in range(sources)
    ]
    # A schedule per source: its cron's minute step gives its firings an hour.
    per_source = 0
    for s in specs:
        minute = backstop_cron(s).split()[0]
        step = int(minute.split("/")[1]) if "/" in minute else (1 if minute == "*" else 60)
        per_source += 60 // step
    # The batched backstop, simulated: who is due each tick, runs done within the tick.
    start = datetime.datetime(2026, 12, 3, tzinfo=datetime.timezone.utc).timestamp()
    records: dict[str, dict] = {}
    launched: list[tuple[float, int]] = []
    for tick in range(int(2 * 3600 / TICK_S)):
        now = start + tick * TICK_S
        for batch in due_batches(specs, records, set(), now):
            launched.append((now, len(batch.names)))
            stamp = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat()
            for name in batch.names:
                records[name] = {"last_full_attempt_at": stamp}
    second_hour = [(t, n) for t, n in launched if t >= start + 3600]
    # One real evaluation: 10,000 status records read from disk, then the decision.
    work = Path(tempfile.mkdtemp(prefix="backstop-"))
    for name, record in records.items():
        update_record(work, name, **record)
    from infra_assets.sources.freshness import read_record

    timings = []
    for _ in range(3):
        started = time.perf_counter()
        on_disk = {s.name: read_record(work, s.name) for s in specs}
        due_batches(specs, on_disk, set(), start + 2 * 3600)
        timings.append(time.perf_counter() - started)
    return {
        "sources": sources,
        "hosts": hosts,
        "budget_s": 3600,
        "backstop_every_s": specs[0].budget.backstop_every_s,
        "batch_max": BATCH_MAX,
        "tick_s": TICK_S,
        "schedules_runs_per_hour": per_source,
        "batched_runs_per_hour": len(second_hour),
        "batched_verifications_per_hour": sum(n for _, n in second_hour),
        "sources_per_run_median": statistics.median(n for _, n in second_hour) if second_hour else 0,
        "sensor_evaluation_s": [round(t, 3) for t in timings],
    }


def throughput(count: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="backstop-real-"))
    os.environ.update(
        INFRA_ASSETS_DATA_DIR=str(work / "data"),
        DAGSTER_HOME=str(work / "home"),
        INFRA_ASSETS_SOURCES=str(work / "sources.yaml"),
    )
    (work / "home").mkdir()
    (work / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    import dagster as dg

    from infra_assets.components.web_sources import build_definitions
    from infra_assets.settings import Settings
    from infra_assets.sources.spec import load_sources

    pages = generated_pages(count, seed=5)
    servers = [SiteServer().start() for _ in range(REAL_SITES)]
    try:
        lines = ["defaults:\n  freshness: 1h\nsources:\n"]
        for s, server in enumerate(servers):
            mine = pages[s::REAL_SITES]
            server.set_pages(site_files(mine, server.url))
            lines += [
                f"  - name: r{s}_{j:05d}\n    kind: page\n    urls: [{server.url}{p.path}]\n"
                for j, p in enumerate(mine)
            ]
        (work / "sources.yaml").write_text("".join(lines))
        settings = Settings.from_env()
        defs = build_definitions(load_sources(settings.sources_path), settings)
        sensor = defs.get_sensor_def("infra_assets_backstop")
        job = defs.resolve_job_def("verify_sources")
        quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}

        def one_pass(age_all: bool) -> tuple[float, int, dict]:
            with dg.DagsterInstance.get() as instance:
                if age_all:  # make every source due again now (as half a budget later)
                    for path in (work / "data" / "status").glob("*.json"):
                        record = json.loads(path.read_text())
                        record["last_full_attempt_at"] = "2000-01-01T00:00:00+00:00"
                        path.write_text(json.dumps(record))
                for server in servers:
                    server.clear_log()
                started = time.monotonic()
                requests = sensor(dg.build_sensor_context(instance=instance)).run_requests
                for request in requests:
                    result = job.execute_in_process(
                        instance=instance,
                        asset_selection=list(request.asset_selection),
                        tags=request.tags,
                        run_config=quiet,
                    )
                    assert result.success
                seconds = time.monotonic() - started
            statuses: dict[int, int] = {}
            for server in servers:
                for r in server.requests:
                    statuses[r.status] = statuses.get(r.status, 0) + 1
            return seconds, len(requests), statuses

        first_s, first_runs, _ = one_pass(False)
        print(f"first pass: {first_s:.1f} s in {first_runs} runs", file=sys.stderr, flush=True)
        again_s, again_runs, statuses = one_pass(True)
        print(f"no-change pass: {again_s:.1f} s in {again_runs} runs, {statuses}", file=sys.stderr, flush=True)
        return {
            "sources": count,
            "hosts": REAL_SITES,
            "first_pass_s": round(first_s, 1),
            "first_pass_runs": first_runs,
            "no_change_s": round(again_s, 1),
            "no_change_runs": again_runs,
            "sources_per_s": round(count / again_s, 1),
            "requests": statuses,
        }
    finally:
        for server in servers:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--real", type=int, default=1000, help="sources verified for real (0: skip)")
    args = parser.parse_args()
    out = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "runs_per_hour": runs_per_hour(args.sources, args.hosts),
    }
    print(json.dumps(out["runs_per_hour"]), file=sys.stderr, flush=True)
    if args.real:
        out["throughput"] = throughput(args.real)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
