"""What `infra-assets refresh` runs: the sources' chains and the serving index, in this process,
recorded in the Dagster instance, with compact progress on the console."""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

import click
import dagster as dg

from ..components import build_definitions, collector_paused
from ..components.automation import TRIGGER_TAG, source_tag
from ..components.project import SERVING_KEY, chain_keys
from ..settings import Settings
from ..sources.spec import SourcesSpec

SUMMARY_KEYS = {
    "raw": ("documents", "fetched", "not_modified", "gone", "fetch_errors", "seconds"),
    "clean": ("documents", "extracted", "unchanged", "kept_after_failure", "seconds"),
    "embeddings": ("chunks_embedded", "chunks_unchanged", "chunks_deleted", "points", "embed_seconds", "seconds"),
    "serving": ("index_version", "points", "documents", "seconds"),
}


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


# config_schema=None is the default; Dagster's overloads just do not say so.
@dg.logger(config_schema=None, description="Compact progress lines for `infra-assets refresh`.")
def _cli_console(_init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.getLogger("infra_assets.refresh")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(_ConsoleProgress())
    return logger


def refresh(spec: SourcesSpec, env: Settings, names: list[str], quiet: bool = False) -> bool:
    """Materialize sources and the serving index in-process, recorded in the Dagster instance.
    The definitions are built once, here, with the console logger."""
    started = time.monotonic()
    with collector_paused(freeze=True):  # this process ends with the run
        defs = build_definitions(spec, env, loggers=None if quiet else {"console": _cli_console})
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
    return result.success


def _fail_dead_refreshes(instance: dg.DagsterInstance) -> None:
    """A refresh killed outright (SIGKILL, power loss) leaves its run "started" forever, holding
    its pool slots and making sensors wait for it. Mark such runs failed: their process is gone."""
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
