"""Dagster on PostgreSQL (deploy/postgres/dagster.yaml) against a real server on 127.0.0.1.

The fixture installs Debian's `postgresql` when it is missing (CI machines are clean), creates a
throw-away cluster with password authentication on a free loopback port, and removes it after.
The test then runs the product as a user would: `infra-assets refresh`, then `infra-assets up`,
stopped and started again, and checks in the database itself that runs, sensor ticks, cursors and
freshness records landed there and survived the restart.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from infra_assets.demo import SiteServer
from infra_assets.demo.content import demo_pages, site_files
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pg-test-secret"
pytestmark = pytest.mark.timeout(600)


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _install_postgres() -> Path:
    if _pg_bin() is None and shutil.which("apt-get") and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "postgresql"],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
        if _pg_bin() is None:  # an old package list: refresh it once
            subprocess.run(["apt-get", "update", "-q"], env=env, check=False, capture_output=True, timeout=300)
            subprocess.run(
                ["apt-get", "install", "-y", "-q", "postgresql"], env=env, check=False, capture_output=True, timeout=600
            )
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.fail("PostgreSQL is needed for this test: `apt-get install postgresql` (as root)")
    return bin_dir


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL cluster on 127.0.0.1:<free port>, user `dagster`, database `dagster`."""
    bin_dir = _install_postgres()
    work = Path(tempfile.mkdtemp(prefix="pg-test-"))
    as_user: dict = {}  # subprocess.run keywords
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as `postgres`
        owner = pwd.getpwnam("postgres")
        os.chown(work, owner.pw_uid, owner.pw_gid)
        as_user = {"user": "postgres", "group": "postgres", "env": dict(os.environ, HOME=str(work))}
    data, pwfile = work / "data", work / "pw"
    pwfile.write_text(PASSWORD)
    if as_user:
        os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
    subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "dagster",
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
        timeout=120,
        **as_user,
    )
    port = free_port()
    subprocess.run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(work / "log"),
            "-w",
            "start",
            "-o",
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={work}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
        **as_user,
    )
    env = {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(port),
        "DAGSTER_PG_USER": "dagster",
        "DAGSTER_PG_PASSWORD": PASSWORD,
        "DAGSTER_PG_DB": "dagster",
    }
    try:
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster", "dagster"],
            env=dict(os.environ, PGPASSWORD=PASSWORD),
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield env
    finally:
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            check=False,
            capture_output=True,
            timeout=120,
            **as_user,
        )
        shutil.rmtree(work, ignore_errors=True)


def sql(env: dict, query: str) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(
        host=env["DAGSTER_PG_HOST"],
        port=int(env["DAGSTER_PG_PORT"]),
        user=env["DAGSTER_PG_USER"],
        password=env["DAGSTER_PG_PASSWORD"],
        dbname=env["DAGSTER_PG_DB"],
    )
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        conn.close()


def wait_for(condition, timeout_s: float, every_s: float = 1.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    return None


def start_up(env: dict, log: Path, ui: int, api: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "infra_assets.cli", "up", "--no-demo", "--ui-port", str(ui), "--api-port", str(api)],
        env=env,
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_up(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        pytest.fail("`infra-assets up` did not stop on Ctrl-C")


def sensor_ticks(env: dict, name: str) -> int:
    return sql(
        env,
        f"SELECT count(*) FROM job_ticks WHERE selector_id IN "
        f"(SELECT selector_id FROM instigators WHERE position('\"{name}\"' in instigator_body) > 0)",
    )[0][0]


def test_runs_ticks_cursors_and_freshness_live_in_postgres_and_survive_a_restart(postgres, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "postgres" / "dagster.yaml", home / "dagster.yaml")
    with SiteServer() as site:
        pages = demo_pages()[:6]
        site.set_pages(site_files(pages, site.url))
        sources = tmp_path / "sources.yaml"
        sources.write_text(
            f"sources:\n  - name: site\n    kind: sitemap\n    url: {site.url}/sitemap.xml\n"
            "    check_every: 5s\n    freshness: 10m\n"
        )
        env = dict(
            os.environ,
            DAGSTER_HOME=str(home),
            INFRA_ASSETS_DATA_DIR=str(tmp_path / "data"),
            INFRA_ASSETS_SOURCES=str(sources),
            **postgres,
        )
        env.pop("QDRANT_URL", None)

        done = subprocess.run(
            [sys.executable, "-m", "infra_assets.cli", "refresh"],
            check=False,
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        # The run and its materializations are rows in Postgres, and nothing went to SQLite.
        assert sql(postgres, "SELECT count(*) FROM runs WHERE status = 'SUCCESS'")[0][0] >= 1
        assert (
            sql(
                postgres,
                "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
                "AND asset_key LIKE '%raw%site%'",
            )[0][0]
            == 1
        )
        assert not list(home.rglob("*.db")), list(home.rglob("*.db"))

        ui, api = free_port(), free_port()
        log = tmp_path / "up.log"
        up = start_up(env, log, ui, api)
        try:
            # The change sensor ticks every 5 s (the daemon writes each tick to Postgres) and the
            # daemon's freshness loop records the sources' freshness states there too.
            assert wait_for(lambda: sensor_ticks(postgres, "site__changes") >= 2, 180), log.read_text()[-3000:]
            assert wait_for(
                lambda: (
                    sql(
                        postgres, "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'FRESHNESS_STATE_CHANGE'"
                    )[0][0]
                    >= 1
                ),
                150,
            )
        finally:
            stop_up(up)
        ticks_before = sensor_ticks(postgres, "site__changes")
        runs_before = sql(postgres, "SELECT count(*) FROM runs")[0][0]
        cursor_before = sql(
            postgres,
            "SELECT instigator_body FROM instigators WHERE position('\"site__changes\"' in instigator_body) > 0",
        )
        assert cursor_before and re.search(r'"cursor":\s*"', cursor_before[0][0]), cursor_before  # a cursor was saved

        # A second `up` (webserver and daemon restarted) finds every record and goes on from them.
        up = start_up(env, log, ui, api)
        try:

            def graphql_runs() -> int:
                try:
                    r = requests.post(
                        f"http://127.0.0.1:{ui}/graphql",
                        timeout=10,
                        json={"query": "{ runsOrError { ... on Runs { count } } }"},
                    )
                    return r.json()["data"]["runsOrError"]["count"]
                except (requests.RequestException, ValueError, KeyError, TypeError):
                    return 0

            assert wait_for(lambda: graphql_runs() >= runs_before, 120), log.read_text()[-3000:]
            assert wait_for(lambda: sensor_ticks(postgres, "site__changes") > ticks_before, 120)
            # The previous searchable index is still served.
            hit = wait_for(
                lambda: (
                    requests.get(f"http://127.0.0.1:{api}/search", timeout=10, params={"q": pages[0].query, "k": 1})
                    .json()
                    .get("results")
                ),
                60,
            )
            assert hit and hit[0]["url"] == site.url + pages[0].path
        finally:
            stop_up(up)
        from dagster import AssetKey, DagsterInstance

        os.environ.update(postgres)
        try:
            instance = DagsterInstance.from_config(str(home))
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert instance.get_latest_materialization_event(AssetKey(["raw", "site"])) is not None
            assert instance.get_runs_count() >= runs_before
            freshness = instance.get_freshness_state_records([AssetKey(["raw", "site"])])
            assert freshness[AssetKey(["raw", "site"])].freshness_state.value == "PASS"
        finally:
            for key in postgres:
                os.environ.pop(key, None)
        assert not list(home.rglob("*.db")), list(home.rglob("*.db"))
