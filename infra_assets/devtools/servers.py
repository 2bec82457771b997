"""Local servers for tests, benchmarks, docs and `infra-assets up`: a free port, and waiting for
an HTTP endpoint to answer."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_http(
    url: str, timeout_s: float = 60, stop: threading.Event | None = None, *, interval_s: float = 0.2
) -> bool:
    """Poll `url` until it answers 2xx (True), `timeout_s` passes or `stop` is set (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except Exception:
            time.sleep(interval_s)
    return False
