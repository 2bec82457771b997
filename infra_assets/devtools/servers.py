"""Local servers for tests, benchmarks, docs and `infra-assets up`: a free port, waiting for an
HTTP endpoint to answer, and the processes a command left behind."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO


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


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, whatever session or group it moved to (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie waiting for its parent counts as gone)."""
    left = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            left.add(pid)
    return left


def start_cli(
    args: list[str], *, cwd: Path, env: dict[str, str], log: IO[str], python: str = sys.executable
) -> subprocess.Popen[bytes]:
    """`infra-assets ARGS` as a user runs it, in its own session (so SIGINT to its group is a
    Ctrl-C), its output to `log`."""
    return subprocess.Popen(
        [python, "-m", "infra_assets.cli", *args],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
