"""`infra-assets`: run the whole thing (`up`), refresh now, serve, search, status, extract."""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
from pathlib import Path

import click

from .config import SettingsError, SourcesConfigError, load_sources, settings

DEMO_HOST = "127.0.0.1:8765"  # data/sources.yaml points here; `up` serves the demo site on it


def prepare_env() -> None:
    """Absolute paths for every child process, and the project's own Dagster instance."""
    env = settings()
    os.environ.setdefault("DAGSTER_HOME", str(env.root))
    os.environ["INFRA_ASSETS_SOURCES"] = str(env.sources_path)
    os.environ["INFRA_ASSETS_DATA_DIR"] = str(env.data_dir)
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)


def _load_sources_or_exit():
    try:
        return load_sources()
    except SourcesConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Keep AI applications connected to the live web (Dagster + Qdrant)."""
    try:  # a bad environment variable is named once, up front, not as a traceback mid-command
        settings()
    except SettingsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


# --------------------------------------------------------------------------- refresh


@main.command()
@click.argument("names", nargs=-1)
@click.option("--quiet", "-q", is_flag=True, help="Only the summary, no progress lines.")
def refresh(names: tuple[str, ...], quiet: bool) -> None:
    """Materialize the named sources (default: all) and the serving index now."""
    prepare_env()
    from .runner import refresh as run_refresh

    sources_file = _load_sources_or_exit()
    unknown = [n for n in names if n not in sources_file.names]
    if unknown:
        click.echo(f"error: unknown source {unknown[0]!r} (known: {', '.join(sources_file.names) or 'none'})", err=True)
        sys.exit(2)
    ok = run_refresh(sources_file, list(names) or sources_file.names, quiet=quiet)
    sys.exit(0 if ok else 1)


# --------------------------------------------------------------------------- search / status


def _searcher():
    from .serving.searcher import Searcher

    env = settings()
    return Searcher(env.serving_dir, api_key=env.qdrant_api_key)


@main.command()
@click.argument("query")
@click.option("-k", "k", default=5, show_default=True, help="Number of passages.")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly the API's /search response.")
def search(query: str, k: int, sources: tuple[str, ...], as_json: bool) -> None:
    """Query the published index."""
    from .serving.searcher import BadQuery, NoIndex

    searcher = _searcher()
    try:
        response = searcher.search(query, k, list(sources) or None)
    except (BadQuery, NoIndex) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    finally:
        searcher.close()
    if as_json:
        click.echo(json.dumps(response, ensure_ascii=False))
        return
    click.echo(f"{len(response['results'])} results in {response['took_ms']:.1f} ms (index {response['index_version']})")
    for rank, hit in enumerate(response["results"], 1):
        text = " ".join((hit["text"] or "").split())
        click.echo(f"\n{rank}. [{hit['score']:.3f}] {hit['title']}  ({hit['source']})\n   {hit['url']}")
        click.echo(f"   {text[:240]}{'…' if len(text) > 240 else ''}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print exactly the API's /sources response.")
def status(as_json: bool) -> None:
    """Per-source freshness."""
    from .serving.publish import read_current
    from .status import sources_report

    env = settings()
    report = sources_report(list(_load_sources_or_exit().sources), env.data_dir, read_current(env.serving_dir))
    if as_json:
        click.echo(json.dumps(report))
        return
    header = f"{'source':<20} {'kind':<8} {'status':<8} {'docs':>6} {'chunks':>7} {'age':>8} {'budget':>8}  last verified"
    click.echo(header)
    for row in report["sources"]:
        age = "-" if row["age_s"] is None else _human(row["age_s"])
        click.echo(f"{row['name']:<20} {row['kind']:<8} {row['status']:<8} {row['documents']:>6} {row['chunks']:>7} "
                   f"{age:>8} {_human(row['freshness_budget_s']):>8}  {row['last_verified'] or 'never'}")
        if row.get("error"):
            click.echo(f"  ! {row['error']}")


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


# --------------------------------------------------------------------------- extract


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per input.")
def extract(inputs: tuple[str, ...], as_json: bool) -> None:
    """Print the cleaned text the pipeline would index for pages (files, .gz files or URLs)."""
    from .extract import extract_html

    failed = False
    for item in inputs:
        try:
            body, url, content_type = _read_input(item)
            result = extract_html(body, url=url, content_type=content_type)
            record = {"input": item, "title": result.title, "text": result.text}
        except Exception as exc:  # report per input and go on with the rest
            failed = True
            record = {"input": item, "error": str(exc) or type(exc).__name__}
        if as_json:
            click.echo(json.dumps(record, ensure_ascii=False))
        elif "error" in record:
            click.echo(f"== {item}\nerror: {record['error']}\n", err=True)
        else:
            click.echo(f"== {item}\n# {record['title'] or ''}\n\n{record['text']}\n")
    sys.exit(1 if failed else 0)


def _read_input(item: str) -> tuple[bytes, str | None, str | None]:
    if item.startswith(("http://", "https://")):
        from .config import DEFAULT_USER_AGENT, host_of
        from .fetch.http import HttpClient

        client = HttpClient(DEFAULT_USER_AGENT)
        try:
            result = client.fetch(item, allowed_hosts=frozenset({host_of(item)}))
        finally:
            client.close()
        if result.outcome != "fetched" or result.body is None:
            raise RuntimeError(result.error or f"{result.outcome} (status {result.status})")
        return result.body, result.final_url, result.content_type
    path = Path(item)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {item}")
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data, None, None


# --------------------------------------------------------------------------- serve / up


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind. Without INFRA_ASSETS_API_KEY only loopback is safe.")
@click.option("--port", default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """The serving API alone."""
    prepare_env()
    from .serving.server import run_api

    run_api(host, port)


@main.command()
@click.option("--ui-port", default=3000, show_default=True, help="Dagster UI port.")
@click.option("--api-port", default=8000, show_default=True, help="Serving API port.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--demo/--no-demo", default=None, help="Serve the demo site (default: when sources point at it).")
def up(ui_port: int, api_port: int, host: str, demo: bool | None) -> None:
    """Dagster UI + daemon and the serving API, in the foreground; Ctrl-C stops all of it."""
    prepare_env()
    from .runner import run_up

    sources_file = _load_sources_or_exit()
    wants_demo = demo if demo is not None else any(DEMO_HOST in u for s in sources_file.sources for u in s.urls)
    sys.exit(run_up(host=host, ui_port=ui_port, api_port=api_port, demo=wants_demo))


@main.command("demo")
@click.option("--port", default=8765, show_default=True)
@click.option("--pages", default=30, show_default=True)
def demo_cmd(port: int, pages: int) -> None:
    """Serve the generated demo site alone (what the default sources point at)."""
    from .demo import demo_site

    site = demo_site(n=pages, port=port)
    click.echo(f"demo site with {pages} pages at {site.url} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        site.stop()


if __name__ == "__main__":
    main()
