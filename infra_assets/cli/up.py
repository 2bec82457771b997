"""What `infra-assets up` runs: `dagster dev` (UI, daemon, code server) in its own process group,
the serving API in a thread, the demo site when the sources use it, and a watcher that reloads
the code location when the sources file changes. Ctrl-C stops all of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import click

from ..devtools.servers import wait_for_http
from ..settings import Settings, export
from ..sources.spec import SourcesConfigError, load_sources


def _watch_sources(env: Settings, host: str, ui_port: int, stop: threading.Event) -> None:
    """Reload the code location when the sources file changes, so an added source appears in the
    UI (its sensor then indexes it) and a removed one leaves; a file with an error is reported
    and the previous definitions keep running."""
    from dagster_graphql import DagsterGraphQLClient

    path = env.sources_path
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


def run_up(env: Settings, host: str, ui_port: int, api_port: int, demo: bool) -> int:
    from ..serve.server import start_in_thread

    child_env = export(env)
    if env.log_format == "json":
        from ..logs import configure

        configure("json")
    # Ctrl-C from here on stops everything started below, never just this process.
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    site = None
    if demo:
        from ..demo import demo_site

        site = demo_site(port=8765)
        click.echo(f"up: demo site at {site.url} ({len(site.pages())} files)")
    dagster = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            str(env.root / "workspace.yaml"),
            "-h",
            host,
            "-p",
            str(ui_port),
            # Dagster's services log in the same form as ours (INFRA_ASSETS_LOG_FORMAT).
            *(["--log-format", "json"] if env.log_format == "json" else []),
        ],
        cwd=env.root,
        env=child_env,
        start_new_session=True,  # its own process group: we stop it (and its children) as one
    )
    click.echo(f"up: Dagster UI on http://{host}:{ui_port} (DAGSTER_HOME={child_env['DAGSTER_HOME']})")
    server, _ = start_in_thread(env, host, api_port)
    click.echo(f"up: serving API on http://{host}:{api_port} (try /search?q=... and /docs)")

    def _announce() -> None:
        if wait_for_http(f"http://{host}:{ui_port}/server_info", 300, stop, interval_s=1):
            click.echo("up: ready; each source's sensor indexes it on its first tick. Ctrl-C stops everything")
            _watch_sources(env, host, ui_port, stop)

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


def _stop_group(proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """Stop `dagster dev` and everything it started.

    First SIGINT to `dagster dev` alone, which shuts its webserver, daemon and code servers
    down in order (without Dagster's helper processes each printing a KeyboardInterrupt
    traceback); then SIGINT to the whole group, what a terminal's Ctrl-C sends (it stops
    everything within seconds, where SIGTERM left two code servers behind); then harder signals.
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
