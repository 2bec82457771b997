"""`infra-assets`: run the whole thing (`up`), refresh now, serve, search, status, extract, schema.

The settings are read once here, when the command starts (a bad variable is named once, up
front), and handed to what the command runs. Dagster loads only for `refresh` and `up`.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..settings import Settings, SettingsError, export
from ..sources.spec import SourcesConfigError, SourcesSpec, host_of, load_sources

DEMO_HOST = "127.0.0.1:8765"  # data/sources.yaml points here; `up` serves the demo site on it


def _sources_or_exit(env: Settings) -> SourcesSpec:
    try:
        return load_sources(env.sources_path)
    except SourcesConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """Keep AI applications connected to the live web (Dagster + Qdrant)."""
    try:
        ctx.obj = Settings.from_env()
    except SettingsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


# --------------------------------------------------------------------------- refresh


@main.command()
@click.argument("names", nargs=-1)
@click.option("--quiet", "-q", is_flag=True, help="Only the summary, no progress lines.")
@click.option(
    "--full",
    is_flag=True,
    help="Run every chain, even for sources verified unchanged (by default they are recorded without a run).",
)
@click.pass_obj
def refresh(env: Settings, names: tuple[str, ...], quiet: bool, full: bool) -> None:
    """Materialize the named sources (default: all) and the serving index now.

    Every page is verified against the live web first; a source with nothing changed and its
    chain whole in Dagster is recorded "verified, unchanged" without a run."""
    export(env)
    spec = _sources_or_exit(env)
    unknown = [n for n in names if n not in spec.names]
    if unknown:
        click.echo(f"error: unknown source {unknown[0]!r} (known: {', '.join(spec.names) or 'none'})", err=True)
        sys.exit(2)
    from .refresh import refresh as run_refresh

    ok = run_refresh(spec, env, list(names) or spec.names, quiet=quiet, full=full)
    sys.exit(0 if ok else 1)


# --------------------------------------------------------------------------- search / status


@main.command()
@click.argument("query")
@click.option("-k", "k", default=5, show_default=True, help="Number of passages.")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly the API's /search response.")
@click.pass_obj
def search(env: Settings, query: str, k: int, sources: tuple[str, ...], as_json: bool) -> None:
    """Query the published index."""
    from ..serve.contract import BadQuery, NoIndex
    from ..serve.searcher import Searcher

    searcher = Searcher.from_settings(env)
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
    click.echo(
        f"{len(response['results'])} results in {response['took_ms']:.1f} ms (index {response['index_version']})"
    )
    for rank, hit in enumerate(response["results"], 1):
        text = " ".join((hit["text"] or "").split())
        click.echo(f"\n{rank}. [{hit['score']:.3f}] {hit['title']}  ({hit['source']})\n   {hit['url']}")
        click.echo(f"   {text[:240]}{'…' if len(text) > 240 else ''}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print exactly the API's /sources response.")
@click.pass_obj
def status(env: Settings, as_json: bool) -> None:
    """Per-source freshness."""
    from ..sources.freshness import sources_report
    from ..store.generations import read_current

    manifest = read_current(env.serving_dir)
    report = sources_report(_sources_or_exit(env).sources, env.data_dir, manifest.to_json() if manifest else None)
    if as_json:
        click.echo(json.dumps(report))
        return
    header = (
        f"{'source':<20} {'kind':<8} {'status':<8} {'docs':>6} {'chunks':>7} {'age':>8} {'budget':>8}  last verified"
    )
    click.echo(header)
    for row in report["sources"]:
        age = "-" if row["age_s"] is None else _human(row["age_s"])
        click.echo(
            f"{row['name']:<20} {row['kind']:<8} {row['status']:<8} {row['documents']:>6} {row['chunks']:>7} "
            f"{age:>8} {_human(row['freshness_budget_s']):>8}  {row['last_verified'] or 'never'}"
        )
        if row.get("error"):
            click.echo(f"  ! {row['error']}")


@main.command()
@click.option("--since", default=None, help="A cursor (an event id, or next_cursor); default: the oldest kept.")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--limit", default=100, show_default=True, help="Events at most (without --follow).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events as they are published (Ctrl-C stops).")
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line, as /changes answers them.")
@click.pass_obj
def changes(
    env: Settings, since: str | None, sources: tuple[str, ...], limit: int, follow: bool, as_json: bool
) -> None:
    """What changed in the served index (added, changed, removed documents), oldest first."""
    from ..changes.log import BadCursor, ChangeLog, parse_cursor
    from ..changes.replica import change_reader
    from ..store.generations import read_current

    spec = _sources_or_exit(env)
    unknown = [n for n in sources if n not in spec.names]
    if unknown:
        click.echo(f"error: unknown source {unknown[0]!r} (known: {', '.join(spec.names) or 'none'})", err=True)
        sys.exit(2)
    log = change_reader(env.qdrant_url, env.qdrant_api_key, ChangeLog.of(env.serving_dir))
    try:
        cursor = parse_cursor(since)
    except BadCursor as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    try:
        while True:
            manifest = read_current(env.serving_dir)
            try:
                events, truncated = log.read(
                    cursor,
                    sources=list(sources),
                    limit=1000 if follow else limit,
                    served=manifest.version if manifest else None,
                )
            except BadCursor as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(2)
            if truncated:
                click.echo("note: events before the oldest kept one were pruned (retention)", err=True)
            for event in events:
                if as_json:
                    click.echo(json.dumps(event.to_json(), ensure_ascii=False))
                    continue
                click.echo(f"{event.id:>8} {event.type:<8} {event.source:<16} {event.url}  ({event.changed_at})")
                for passage in event.added[:3]:
                    click.echo(f"         + {' '.join(passage.split())[:200]}")
                for passage in event.removed[:3]:
                    click.echo(f"         - {' '.join(passage.split())[:200]}")
            cursor = events[-1].id if events else cursor
            if not follow:
                if not as_json:
                    click.echo(f"next cursor: {cursor}", err=True)
                return
            if not events:
                time.sleep(1.0)
    except KeyboardInterrupt:
        return


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


# --------------------------------------------------------------------------- extract / schema


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per input.")
def extract(inputs: tuple[str, ...], as_json: bool) -> None:
    """Print the cleaned text the pipeline would index for pages (files, .gz files or URLs)."""
    from ..clean.extract import extract_html

    failed = False
    for item in inputs:
        record: dict[str, Any]
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
        from ..fetch.http import HttpClient
        from ..sources.spec import DEFAULT_USER_AGENT

        with HttpClient(DEFAULT_USER_AGENT) as client:
            result = client.fetch(item, allowed_hosts=frozenset({host_of(item)}))
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


@main.command("key")
@click.argument("name")
@click.option("--source", "sources", multiple=True, help="A source the key may see (repeatable; omitted: every one).")
@click.option("--rate", default=None, help="Requests allowed, as n/s, n/min or n/h (for example 20/s).")
def key_cmd(name: str, sources: tuple[str, ...], rate: str | None) -> None:
    """Make a new API key: prints the key (give it to its user; it is shown once) and the entry to
    add under `keys:` in the INFRA_ASSETS_KEYS_FILE file (which holds only its sha256)."""
    import secrets

    import yaml

    from ..serve.keys import KeysFileError, digest, parse_keys

    token = "ia_" + secrets.token_urlsafe(32)
    entry: dict[str, object] = {"name": name, "sha256": digest(token)}
    if sources:
        entry["sources"] = list(sources)
    if rate:
        entry["rate"] = rate
    try:
        parse_keys({"keys": [entry]}, "--")
    except KeysFileError as exc:
        raise click.UsageError(str(exc).removeprefix("--: keys[0] ")) from None
    click.echo(f"# the key for {name!r}, shown once and stored nowhere: {token}")
    click.echo(yaml.safe_dump([entry], sort_keys=False).rstrip())


@main.command()
def schema() -> None:
    """Print the JSON Schema of the sources file (for editors: see the README)."""
    from ..sources.spec import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


# --------------------------------------------------------------------------- serve / up


@main.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to bind. Without INFRA_ASSETS_API_KEY only loopback is safe.",
)
@click.option("--port", default=8000, show_default=True)
@click.pass_obj
def serve(env: Settings, host: str, port: int) -> None:
    """The serving API alone."""
    export(env)
    from ..serve.server import run_api

    run_api(env, host, port)


@main.command()
@click.option("--ui-port", default=3000, show_default=True, help="Dagster UI port.")
@click.option("--api-port", default=8000, show_default=True, help="Serving API port.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--demo/--no-demo", default=None, help="Serve the demo site (default: when sources point at it).")
@click.pass_obj
def up(env: Settings, ui_port: int, api_port: int, host: str, demo: bool | None) -> None:
    """Dagster UI + daemon and the serving API, in the foreground; Ctrl-C stops all of it."""
    export(env)
    spec = _sources_or_exit(env)
    from .up import run_up

    wants_demo = demo if demo is not None else any(DEMO_HOST in u for s in spec.sources for u in s.urls)
    sys.exit(run_up(env, host=host, ui_port=ui_port, api_port=api_port, demo=wants_demo))


@main.command("demo")
@click.option("--port", default=8765, show_default=True)
@click.option("--pages", default=30, show_default=True)
def demo_cmd(port: int, pages: int) -> None:
    """Serve the generated demo site alone (what the default sources point at)."""
    from ..demo import demo_site

    site = demo_site(n=pages, port=port)
    click.echo(f"demo site with {pages} pages at {site.url} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        site.stop()
