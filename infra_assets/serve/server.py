"""Running the serving API under uvicorn (alone, or beside Dagster in `infra-assets up`)."""

from __future__ import annotations

import logging
import threading

import uvicorn

from ..settings import Settings

log = logging.getLogger("infra_assets.api")


def _check_bind(host: str, env: Settings) -> None:
    if host not in ("127.0.0.1", "localhost", "::1") and not (env.api_key or env.keys_file):
        log.warning(
            "serving on %s without INFRA_ASSETS_API_KEY or INFRA_ASSETS_KEYS_FILE: anyone who can reach it "
            "can query the index",
            host,
        )


def make_server(env: Settings, host: str = "127.0.0.1", port: int = 8000) -> uvicorn.Server:
    from .http import create_app

    _check_bind(host, env)
    # httptools and uvloop, pinned (faster, BENCHMARKS.md "Serving"); "auto" takes uvloop where it
    # installs (not on Windows) and asyncio elsewhere.
    config = uvicorn.Config(
        create_app(settings=env),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        limit_concurrency=512,
        timeout_keep_alive=30,
        http="httptools",
        loop="auto",
    )
    return uvicorn.Server(config)


def run_api(env: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve in the foreground until Ctrl-C."""
    from ..logs import configure

    configure(env.log_format)
    print(f"serving API on http://{host}:{port} (docs at /docs)", flush=True)
    make_server(env, host, port).run()


def start_in_thread(env: Settings, host: str, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = make_server(env, host, port)
    # uvicorn installs signal handlers only in the main thread; the caller owns Ctrl-C.
    thread = threading.Thread(target=server.run, name="serving-api", daemon=True)
    thread.start()
    return server, thread
