"""What `infra-assets refresh` runs: the sources' chains and the serving index, in this process,
recorded in the Dagster instance, with compact progress on the console.

A source whose live pages are unchanged and whose chain is whole in Dagster's records is
verified and recorded without a run (`components.verified`); `--full` runs every chain anyway.
Dagster, the definitions and the embedding model are loaded only when a run is needed."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import socket
import sys
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import click

from ..runtime import collector_paused
from ..settings import Settings
from ..sources.kinds import Detection, Rotation
from ..sources.spec import Source, SourcesSpec

if TYPE_CHECKING:
    import dagster as dg

    from ..components.verified import ChainVersions

DETECT_THREADS = 4  # sources verified at once (each fetches its pages in its own pool)

SUMMARY_KEYS = {
    "raw": ("documents", "fetched", "not_modified", "gone", "fetch_errors", "seconds"),
    "clean": ("documents", "extracted", "unchanged", "kept_after_failure", "seconds"),
    "embeddings": ("chunks_embedded", "chunks_unchanged", "chunks_deleted", "points", "embed_seconds", "seconds"),
    "serving": ("index_version", "points", "documents", "seconds"),
}


def verify_unchanged(spec: SourcesSpec, env: Settings, names: list[str], quiet: bool = False) -> list[str]:
    """Verify the named sources against the live web; record those unchanged whose chain is
    whole, and return the names that still need a run (in their order)."""
    from ..sources.kinds import detects_fully

    candidates = [s for s in spec.sources if s.name in names and detects_fully(s)]
    if not candidates:
        return names
    started = datetime.now(timezone.utc)
    # The pages are checked while Dagster loads, in a child process where one can be forked:
    # both are mostly Python, and in one process they would take turns on the interpreter lock.
    with _checker(len(candidates)) as pool:
        checks = {s.name: pool.submit(_detect_everything, s, spec, env) for s in candidates}
        verified = _record_unchanged(spec, env, candidates, checks, started, quiet)
    return [n for n in names if n not in verified]


def _checker(sources: int) -> Executor:
    """Where the checks run: forked processes on Linux (nothing but the command's own imports is
    loaded yet, and no thread runs), threads elsewhere."""
    workers = min(DETECT_THREADS, sources)
    if sys.platform == "linux":
        try:
            return ProcessPoolExecutor(min(workers, 2), mp_context=multiprocessing.get_context("fork"))
        except (OSError, ValueError):  # no fork here: threads
            pass
    return ThreadPoolExecutor(workers, thread_name_prefix="verify")


def _detect_everything(source: Source, spec: SourcesSpec, env: Settings) -> Detection:
    from ..fetch.blobs import BlobStore
    from ..fetch.http import HttpClient
    from ..sources.kinds import detect
    from ..tables import read_table

    raw = read_table(env.tables_dir, ["raw", source.name])
    if raw is None:
        return Detection(Rotation(), changed=["never fetched"])
    client = HttpClient(spec.user_agent, browser=env.chromium)
    try:
        return detect(source, client, raw, BlobStore.for_source(source.name, env.data_dir), Rotation.everything())
    finally:
        client.close()


def _record_unchanged(
    spec: SourcesSpec,
    env: Settings,
    sources: list[Source],
    checks: dict[str, Future[Detection]],
    started: datetime,
    quiet: bool,
) -> set[str]:
    import dagster as dg

    from ..components.verified import ChainVersions, record_verified, serving_code_version, source_code_version
    from ..index.embedding import model_info
    from ..store.generations import ServingPaths

    model = model_info(spec.embedding.model)
    try:
        served: str | None = ServingPaths(env.serving_dir).current.read_text().strip()
    except OSError:
        served = None
    verified: set[str] = set()
    with dg.DagsterInstance.get() as instance:
        _fail_dead_refreshes(instance)
        for source in sources:
            versions = ChainVersions(
                source_code_version(source), model.collection, serving_code_version(spec, model.resolved)
            )
            try:
                detection = checks[source.name].result()
            except Exception as exc:  # a check that could not finish (its process died): run it
                detection = Detection(Rotation(), errors=[f"{type(exc).__name__}: {exc}"])
            reason = _needs_run(instance, source, versions, env, served, detection)
            if reason is not None:
                if not quiet:
                    click.echo(f"  {source.name}: {reason}: running it", err=True)
                continue
            record_verified(instance, source, env.data_dir, detection, started)
            verified.add(source.name)
            click.echo(f"{source.name:<28} verified unchanged: {detection.checked} documents checked, no run")
    return verified


def _needs_run(
    instance: dg.DagsterInstance,
    source: Source,
    versions: ChainVersions,
    env: Settings,
    served: str | None,
    detection: Detection,
) -> str | None:
    from ..components.verified import busy, stale_reason

    if detection.changed:
        return f"{len(detection.changed)} changed"
    if detection.errors:
        return f"{len(detection.errors)} check(s) failed ({detection.errors[0]})"
    if not detection.cycle_complete:
        return "not every document could be checked"
    if busy(instance, source.name):
        return "a run of it is queued or in progress"
    return stale_reason(instance, source.name, versions, env.serving_dir, served)


class _ConsoleProgress(logging.Handler):
    """Shows our own progress lines and failures from Dagster's log, not every framework event."""

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        message = meta.get("orig_message") or record.getMessage()
        event = meta.get("dagster_event")
        step = (meta.get("step_key") or "").replace("__", "/", 1)  # raw__docs → raw/docs
        if event is not None:
            if event.event_type_value == "STEP_FAILURE":
                click.echo(f"  ✗ {step} failed: {_failure_text(event)}", err=True)
            return
        if record.levelno >= logging.INFO:
            click.echo(f"  {step}: {message}" if step else f"  {message}", err=True)


def _failure_text(event: Any) -> str:
    try:
        error = event.event_specific_data.error
        cause = error.cause or error
        return (cause.message or error.message).strip().splitlines()[-1]
    except AttributeError:
        return str(event.message or "")


def _cli_console() -> dg.LoggerDefinition:
    """Compact progress lines for `infra-assets refresh` (made when a run needs it)."""
    import dagster as dg

    # config_schema=None is the default; Dagster's overloads just do not say so.
    @dg.logger(config_schema=None, description="Compact progress lines for `infra-assets refresh`.")
    def console(_init_context: dg.InitLoggerContext) -> logging.Logger:
        logger = logging.getLogger("infra_assets.refresh")
        logger.setLevel(logging.INFO)
        logger.propagate = False
        if not logger.handlers:
            logger.addHandler(_ConsoleProgress())
        return logger

    return console


def refresh(spec: SourcesSpec, env: Settings, names: list[str], quiet: bool = False, full: bool = False) -> bool:
    """Materialize sources and the serving index in-process, recorded in the Dagster instance.
    Sources verified unchanged first are recorded without a run (unless `full`). The definitions
    are built once, here, with the console logger."""
    started = time.monotonic()
    if not full:
        # Imports and checks make objects that live until the process ends: no collector passes
        # over them (nor its last one at exit, which was a second of a no-change refresh).
        with collector_paused(freeze=True):
            names = verify_unchanged(spec, env, names, quiet)
        if not names:
            click.echo(f"refreshed in {time.monotonic() - started:.1f}s (nothing changed: no run needed)")
            return True
    import dagster as dg

    from ..components import build_definitions
    from ..components.project import SERVING_KEY, chain_keys
    from ..components.verified import TRIGGER_TAG, source_tag

    with collector_paused(freeze=True):  # this process ends with the run
        defs = build_definitions(spec, env, loggers=None if quiet else {"console": _cli_console()})
    keys = [key for n in names for key in chain_keys(n)] + [SERVING_KEY]
    job = defs.resolve_implicit_global_asset_job_def()
    tags = {
        TRIGGER_TAG: "cli-refresh",
        "infra_assets/pid": str(os.getpid()),
        "infra_assets/host": socket.gethostname(),
        **{source_tag(n): "1" for n in names},
    }
    if not quiet:
        click.echo(f"refreshing {len(names)} source(s): {', '.join(names)}", err=True)
    # A logger is used only when the run config names it.
    run_config = (
        {"loggers": {"console": {}}} if not quiet else {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    )
    with dg.DagsterInstance.get() as instance:
        _fail_dead_refreshes(instance)
        result = job.execute_in_process(
            instance=instance,
            asset_selection=keys,
            raise_on_error=False,
            run_config=run_config,
            tags=tags,
        )
    _print_summary(result)
    elapsed = time.monotonic() - started
    if result.success:
        click.echo(f"refreshed in {elapsed:.1f}s (run {result.run_id[:8]})")
    else:
        click.echo(f"refresh FAILED after {elapsed:.1f}s (run {result.run_id[:8]}; see the Dagster UI)", err=True)
    gc.freeze()  # the process ends next: spare it a last collection over everything it loaded
    return result.success


def _fail_dead_refreshes(instance: dg.DagsterInstance) -> None:
    """A refresh killed outright (SIGKILL, power loss) leaves its run "started" forever, holding
    its pool slots and making sensors wait for it. Mark such runs failed: their process is gone."""
    import dagster as dg

    from ..components.verified import TRIGGER_TAG

    records = instance.get_run_records(
        dg.RunsFilter(
            tags={TRIGGER_TAG: "cli-refresh", "infra_assets/host": socket.gethostname()},
            statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
        )
    )
    for record in records:
        pid = int(record.dagster_run.tags.get("infra_assets/pid", "0") or 0)
        if pid and not _alive(pid):
            instance.report_run_failed(record.dagster_run, f"the refresh process (pid {pid}) is gone")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _print_summary(result: Any) -> None:
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        key = mat.asset_key.path
        wanted = SUMMARY_KEYS.get(key[0], ())
        values = {k: v.value for k, v in mat.metadata.items() if k in wanted}
        fields = ", ".join(f"{k}={values[k]}" for k in wanted if k in values)
        click.echo(f"{'/'.join(key):<28} {fields}")
