"""The serving API on a real port in this process, for tests that speak HTTP to it."""

from __future__ import annotations

import threading
import time

import uvicorn

from infra_assets.devtools.servers import free_port, wait_for_http

__all__ = ["Api", "free_port", "project_api", "wait_for_http"]


class Api:
    """An ASGI app served by uvicorn on 127.0.0.1 in a thread; `stop()` ends it."""

    def __init__(self, app):
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


def project_api(project, api_key: str = "") -> Api:
    """The API over `project`'s published index and sources file (`""`: no key)."""
    from infra_assets.serve.http import create_app
    from infra_assets.serve.searcher import Searcher

    return Api(
        create_app(
            Searcher(project.data_dir / "serving"),
            data_dir=project.data_dir,
            sources_path=project.sources_path,
            api_key=api_key,
        )
    )
