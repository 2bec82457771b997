"""A published generation served by a child process, so the API's threads never wait on the shard.

The child is part of the reader program: it runs `_child_main` below and imports only this
module, the store code and qdrant_edge.

`qdrant_edge` holds the GIL for as long as it opens a shard (about a second at 100k points) and
while it answers a query: a shard opened in the API's process stalls every request thread at each swap.
`ShardHost.open` starts a child, a fresh interpreter (never a fork: the API has onnxruntime and
event-loop threads) that imports only the store code and qdrant_edge, loads the shard, warms it
with a few queries and only then says it is ready. It is started with `subprocess`, not
multiprocessing's "spawn", because spawn re-runs the parent's main module in the child: a script
without a `__main__` guard would start itself again, and the API's child would import its CLI.
Queries reach it over a pool of local socket connections (16 made before `open` returns, more on
demand up to a bound), each answered by its own thread in the child.

The child leaves when its control pipe closes: when `close` asks, and by itself when the parent
dies, even by SIGKILL (the kernel closes the pipe), so a killed API leaves no orphan. A child that
dies under the API is started again by the next query, which is then retried once.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any, cast

from ..store.base import StoreQuery
from ..store.embedded import EmbeddedReader, scan_pages
from ..store.payload import Hit
from .coalesce import Coalescer, Outcome
from .errors import Unavailable

log = logging.getLogger("infra_assets.store")

# The API's thread pool has 40 threads; the child answers one query at a time per core anyway
# (the engine holds the child's GIL), so more connections would only queue there.
MAX_CONNECTIONS = 32
# Connections opened before `open` returns. Made on demand at the swap instead, each costs a
# handshake with the child's one accepting thread, which waits for the child's GIL behind
# running queries: under load the first requests on a new generation waited for them.
READY_CONNECTIONS = 16
OPEN_TIMEOUT_S = 600.0  # loading and warming (about a second at 100k points)
STOP_TIMEOUT_S = 5.0  # asked to leave, then killed
RESTART_BACKOFF_S = 5.0  # after a failed restart, queries fail fast for this long
# Searches that arrive together cross as one message and run in the child as one planned batch
# (`EmbeddedReader.search_many`); two batches in flight, so the child never waits for the next.
SEARCH_BATCHES_IN_FLIGHT = 2
MAX_SEARCH_BATCH = 16

# What crosses to the child, (op, args), and back: (True, the op's result) or (False, its error's
# text). The result's type is the op's (`_answer`); it arrives unpickled, which types it as Any.
Reply = tuple[bool, Any]


class ShardHostError(Unavailable):
    """The shard's process could not be started, or died and could not be started again."""


class ShardHost:
    """An embedded generation opened in a child process: a `VectorReader`.

    Safe to share between threads. `close` returns at once; the child is joined (and killed
    after `STOP_TIMEOUT_S` if it does not leave) by a background thread.
    """

    def __init__(self, path: Path, max_connections: int = MAX_CONNECTIONS):
        self.path = Path(path)
        self.max_connections = max_connections
        self.restart_backoff_s = RESTART_BACKOFF_S
        self._child: _Child | None = None
        self._lock = threading.Lock()  # starting, restarting and closing the child
        self._failed_at: float | None = None
        self._closed = False
        self.searches = Coalescer(self._search_batch, parallel=SEARCH_BATCHES_IN_FLIGHT, max_batch=MAX_SEARCH_BATCH)

    @classmethod
    def open(cls, path: Path, max_connections: int = MAX_CONNECTIONS) -> ShardHost:
        """Start the child and return once it has loaded and warmed the shard."""
        host = cls(path, max_connections)
        host._child = _Child.start(host.path, max_connections)
        return host

    @property
    def pid(self) -> int | None:
        """The child's process id (None once closed)."""
        child = self._child
        return child.process.pid if child is not None else None

    # -- VectorReader ------------------------------------------------------------------------

    def search(self, query: StoreQuery) -> list[Hit]:
        """Answered by the child, batched with concurrent searches."""
        return [Hit(*hit) for hit in self.searches.call(query)]

    def search_many(self, queries: Sequence[StoreQuery]) -> list[list[Hit]]:
        out = []
        for ok, value in self._search_batch(list(queries), False):
            if not ok:
                raise value
            out.append([Hit(*hit) for hit in value])
        return out

    def _search_batch(self, searches: list[StoreQuery], alone: bool) -> list[Outcome]:
        """One message for concurrent searches; each gets its hits or its own error."""
        failed = f"{self.path.name}: search failed in the shard process"
        return [
            (ok, value if ok else RuntimeError(f"{failed}: {value}"))
            for ok, value in self._call("search_batch", (searches,))
        ]

    def count(self, source: str | None = None) -> int:
        return cast(int, self._call("count", (source,)))

    def sources(self) -> dict[str, int]:
        return cast("dict[str, int]", self._call("sources", ()))

    def has_sparse(self) -> bool:
        return cast(bool, self._call("has_sparse", ()))

    def scan(self, source: str | None = None, fields: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        return scan_pages(lambda *args: self._call("page", args), source, fields)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            child, self._child = self._child, None
        if child is not None:
            child.stop()

    # -- calls and restarts ------------------------------------------------------------------

    def _call(self, op: str, args: tuple[object, ...]) -> Any:
        for attempt in (1, 2):
            child = self._child
            if child is None:
                raise ShardHostError(f"{self.path.name}: the shard is closed")
            try:
                ok, value = child.call(op, args)
            except (EOFError, OSError) as exc:  # the child is gone (or going)
                if attempt == 2:
                    raise ShardHostError(f"{self.path.name}: the shard process failed again: {exc!r}") from exc
                self._restart(child, exc)
                continue
            if not ok:
                raise RuntimeError(f"{self.path.name}: {op} failed in the shard process: {value}")
            return value

    def _restart(self, dead: _Child, cause: BaseException) -> None:
        """Replace `dead` by a new child, unless another thread already has."""
        with self._lock:
            if self._closed:
                raise ShardHostError(f"{self.path.name}: the shard is closed")
            if self._child is not dead:
                return
            if self._failed_at is not None and time.monotonic() - self._failed_at < self.restart_backoff_s:
                raise ShardHostError(f"{self.path.name}: the shard process is down and failed to restart")
            log.warning(
                "shard process %s for %s failed (%r); starting it again", dead.process.pid, self.path.name, cause
            )
            dead.stop()
            try:
                self._child = _Child.start(self.path, self.max_connections)
            except ShardHostError:
                self._failed_at = time.monotonic()
                raise
            self._failed_at = None


class _Child:
    """One child process: its control pipe and the pool of connections to it."""

    def __init__(
        self, process: subprocess.Popen[bytes], control: Connection, address: str, authkey: bytes, max_connections: int
    ):
        self.process = process
        self.control = control
        self.address = address
        self.authkey = authkey
        self._slots = threading.BoundedSemaphore(max_connections)
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._stopped = False

    @classmethod
    def start(cls, path: Path, max_connections: int) -> _Child:
        ours, theirs = socket.socketpair()
        # The parent's import path, so the child runs this very code (a checkout, a test tree).
        bootstrap = (
            "import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
            "from infra_assets.serve.shard_process import _child_main; _child_main(int(sys.argv[2]))"
        )
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", bootstrap, json.dumps(sys.path), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # each end lives in one process only: either one's death is an EOF to the other
        authkey, address = secrets.token_bytes(32), _address()
        child = cls(process, Connection(ours.detach()), address, authkey, max_connections)
        try:
            child.control.send((str(path), address, authkey, max_connections))
            if not child.control.poll(OPEN_TIMEOUT_S):
                raise ShardHostError(f"{path.name}: the shard process was not ready after {OPEN_TIMEOUT_S:.0f} s")
            status, detail = child.control.recv()
        except (EOFError, OSError):
            status, detail = "failed", f"it exited first (exit code {_wait(process)})"
        except BaseException:
            child.stop()
            raise
        if status != "ready":
            child.stop()
            raise ShardHostError(f"{path.name}: the shard process could not open the shard: {detail}")
        try:
            child._idle = [child._connect() for _ in range(min(READY_CONNECTIONS, max_connections))]
        except (EOFError, OSError) as exc:
            child.stop()
            raise ShardHostError(f"{path.name}: the shard process stopped answering: {exc!r}") from exc
        return child

    def call(self, op: str, args: tuple[object, ...]) -> Reply:
        self._slots.acquire()
        try:
            conn = self._checkout()
            try:
                conn.send((op, args))
                reply: Reply = conn.recv()
            except BaseException:
                conn.close()  # in an unknown state: never reused
                raise
            self._checkin(conn)
            return reply
        finally:
            self._slots.release()

    def _checkout(self) -> Connection:
        with self._lock:
            if self._stopped:
                raise ConnectionError("the shard process was stopped")
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _connect(self) -> Connection:
        return Client(self.address, family="AF_UNIX", authkey=self.authkey)

    def _checkin(self, conn: Connection) -> None:
        with self._lock:
            if not self._stopped:
                self._idle.append(conn)
                return
        conn.close()

    def stop(self) -> None:
        """Ask the child to leave (close its control pipe); join it, or kill it, in the background."""
        with self._lock:
            self._stopped = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        self.control.close()
        threading.Thread(target=self._reap, name=f"reap shard process {self.process.pid}", daemon=True).start()

    def _reap(self) -> None:
        if _wait(self.process) is None:
            log.warning("shard process %s did not leave when asked; killing it", self.process.pid)
            self.process.kill()
            _wait(self.process)
        if not self.address.startswith("\0"):
            shutil.rmtree(os.path.dirname(self.address), ignore_errors=True)


def _wait(process: subprocess.Popen[bytes]) -> int | None:
    """The exit code, or None if the process is still running after `STOP_TIMEOUT_S`."""
    try:
        return process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None


def _address() -> str:
    # Linux's abstract socket namespace: nothing on disk to leave behind when a process is killed.
    # Elsewhere, a socket file in a private folder. Either way only a holder of the key may connect.
    name = f"infra-assets-shard-{os.getpid()}-{secrets.token_hex(8)}"
    if sys.platform.startswith("linux"):
        return "\0" + name
    else:  # an else mypy knows is for other platforms, not unreachable code
        return os.path.join(tempfile.mkdtemp(prefix="infra-assets-"), name)


# ------------------------------------------------------------------------------ in the child


def _child_main(control_fd: int) -> None:
    # Ctrl-C reaches the whole process group: the parent decides when its shard goes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = Connection(control_fd)
    try:
        path, address, authkey, backlog = control.recv()
    except (EOFError, OSError):
        return
    try:
        reader = EmbeddedReader.open(Path(path))
        reader.warm()
        listener = Listener(address, family="AF_UNIX", backlog=backlog, authkey=authkey)
    except Exception as exc:
        control.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    threading.Thread(target=_accept, args=(listener, reader), name="accept", daemon=True).start()
    control.send(("ready", None))
    try:
        control.recv()  # returns, or raises, when the parent closes the pipe or dies
    except (EOFError, OSError):
        pass
    os._exit(0)  # at once: no interpreter teardown under threads that may be inside the engine


def _accept(listener: Listener, reader: EmbeddedReader) -> None:
    while True:
        try:
            conn = listener.accept()
        except Exception:  # a client that went away during the handshake, or a wrong key
            time.sleep(0.01)
            continue
        threading.Thread(target=_answer, args=(conn, reader), name="answer", daemon=True).start()


def _answer(conn: Connection, reader: EmbeddedReader) -> None:
    """Answer one connection's requests, one at a time, until the parent closes it."""
    ops: dict[str, Any] = {
        "search_batch": lambda searches: _search_batch(reader, searches),
        "count": reader.count,
        "sources": reader.sources,
        "has_sparse": reader.has_sparse,
        "page": reader.page,
    }
    with conn:
        while True:
            try:
                op, args = conn.recv()
            except (EOFError, OSError):
                return
            try:
                reply = (True, ops[op](*args))
            except Exception as exc:  # the query's own error, reported to the caller
                reply = (False, f"{type(exc).__name__}: {exc}")
            try:
                conn.send(reply)
            except OSError:
                return


def _search_batch(reader: EmbeddedReader, searches: list[StoreQuery]) -> list[Outcome]:
    """(True, hits) or (False, the error) per search: one planned batch, or one by one if the
    batch fails, so a search the engine refuses fails alone. Hits as tuples: the smallest pickle."""
    try:
        return [(True, [(h.id, h.score, h.payload) for h in hits]) for hits in reader.search_many(searches)]
    except Exception:
        pass
    answers: list[Outcome] = []
    for search in searches:
        try:
            answers.append((True, [(h.id, h.score, h.payload) for h in reader.search(search)]))
        except Exception as exc:
            answers.append((False, f"{type(exc).__name__}: {exc}"))
    return answers
