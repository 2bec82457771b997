"""What `infra-assets refresh` and `infra-assets up` run."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import click
import dagster as dg

from .automation import source_tag
from .config import SourcesFile, settings

STAGES = ("raw", "clean", "embeddings")
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


def _failure_text(event) -> str:
    try:
        error = event.event_specific_data.error
        cause = error.cause or error
        return (cause.message or error.message).strip().splitlines()[-1]
    except AttributeError:
        return str(event.message or "")


@dg.logger(description="Compact progress lines for `infra-assets refresh`.")
def _cli_console(_init_context) -> logging.Logger:
    logger = logging.getLogger("infra_assets.refresh")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(_ConsoleProgress())
    return logger


def refresh(sources_file: SourcesFile, names: list[str], quiet: bool = False) -> bool:
    """Materialize sources and the serving index in-process, recorded in the Dagster instance."""
    from .definitions import build_defs

    started = time.monotonic()
    defs = build_defs(sources_file, loggers=None if quiet else {"console": _cli_console})
    keys = [dg.AssetKey([stage, n]) for n in names for stage in STAGES] + [dg.AssetKey(["serving", "index"])]
    job = defs.resolve_implicit_global_asset_job_def()
    tags = {"infra_assets/trigger": "cli-refresh", "infra_assets/pid": str(os.getpid()),
            "infra_assets/host": socket.gethostname(), **{source_tag(n): "1" for n in names}}
    if not quiet:
        click.echo(f"refreshing {len(names)} source(s): {', '.join(names)}", err=True)
    # A logger is used only when the run config names it.
    run_config = {"loggers": {"console": {}}} if not quiet else {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with dg.DagsterInstance.get() as instance:
        _fail_dead_refreshes(instance)
        result = job.execute_in_process(
            instance=instance, asset_selection=keys, raise_on_error=False, run_config=run_config,
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
    records = instance.get_run_records(dg.RunsFilter(
        tags={"infra_assets/trigger": "cli-refresh", "infra_assets/host": socket.gethostname()},
        statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]))
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


def _print_summary(result) -> None:
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        key = mat.asset_key.path
        wanted = SUMMARY_KEYS.get(key[0], ())
        values = {k: v.value for k, v in mat.metadata.items() if k in wanted}
        fields = ", ".join(f"{k}={values[k]}" for k in wanted if k in values)
        click.echo(f"{'/'.join(key):<28} {fields}")


# --------------------------------------------------------------------------- up


def _wait_http(url: str, timeout_s: float, stop: threading.Event) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except Exception:
            time.sleep(1)
    return False


def _watch_sources(host: str, ui_port: int, stop: threading.Event) -> None:
    """Reload the code location when the sources file changes, so an added source appears in the
    UI (its sensor then indexes it) and a removed one leaves; a file with an error is reported
    and the previous definitions keep running."""
    from dagster_graphql import DagsterGraphQLClient

    from .config import SourcesConfigError, load_sources

    path = settings().sources_path
    client = DagsterGraphQLClient(host, port_number=ui_port)

    def mtime() -> int | None:
        try:
            return path.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    seen = mtime()
    while not stop.wait(2):
        now = mtime()
        if now == seen:
            continue
        seen = now
        try:
            sources = load_sources(path)
        except SourcesConfigError as exc:
            click.echo(f"up: {exc}\nup: keeping the previous sources until the file is fixed", err=True)
            continue
        try:
            client.reload_repository_location("infra_assets")
            click.echo(f"up: {path.name} changed; reloaded ({len(sources.sources)} sources)")
        except Exception as exc:  # the webserver may be restarting; the next change retries
            click.echo(f"up: could not reload the code location: {exc}", err=True)


def run_up(host: str, ui_port: int, api_port: int, demo: bool) -> int:
    from .serving.server import start_in_thread

    env = settings()
    # Ctrl-C from here on stops everything started below, never just this process.
    stop = threading.Event()

    def _stop(*_):
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    site = None
    if demo:
        from .demo import demo_site

        site = demo_site(port=8765)
        click.echo(f"up: demo site at {site.url} ({len(site.pages())} files)")
    dagster = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-w", str(env.root / "workspace.yaml"),
         "-h", host, "-p", str(ui_port)],
        cwd=env.root, env=os.environ.copy(),
        start_new_session=True,  # its own process group: we stop it (and its children) as one
    )
    click.echo(f"up: Dagster UI on http://{host}:{ui_port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    server, _ = start_in_thread(host, api_port)
    click.echo(f"up: serving API on http://{host}:{api_port} (try /search?q=... and /docs)")
    def _announce() -> None:
        if _wait_http(f"http://{host}:{ui_port}/server_info", 300, stop):
            click.echo("up: ready; each source's sensor indexes it on its first tick. Ctrl-C stops everything")
            _watch_sources(host, ui_port, stop)

    threading.Thread(target=_announce, daemon=True).start()
    code = 0
    try:
        while not stop.is_set():
            if dagster.poll() is not None:
                click.echo(f"up: dagster dev exited with status {dagster.returncode}", err=True)
                code = dagster.returncode or 1
                break
            stop.wait(1)
    finally:
        click.echo("up: stopping…", err=True)
        _stop_group(dagster)
        server.should_exit = True
        if site is not None:
            site.stop()
    return code


def _stop_group(proc: subprocess.Popen, timeout_s: float = 30) -> None:
    """Stop `dagster dev` and everything it started.

    First SIGINT to `dagster dev` alone, which shuts its webserver, daemon and code servers
    down in order (without Dagster's helper processes each printing a KeyboardInterrupt
    traceback); then SIGINT to the whole group, what a terminal's Ctrl-C sends (measured: it
    stops everything in ~2 s, where SIGTERM left two code servers behind); then harder signals.
    """
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            break
    try:  # leftovers of the group (a run worker mid-step) must not outlive `up`
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
