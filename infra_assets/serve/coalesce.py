"""Concurrent calls of one function, run together: whoever finds a free slot runs the batch.

The one leader/follower hand-off of the reader program, used twice: query vectors (concurrent
queries embedded in one model call, `query_vectors.py`) and searches (concurrent searches crossing
to a shard's process as one message and running there as one planned batch, `shard_process.py`).

No thread of its own: a caller that finds fewer than `parallel` batches running takes the queue
(up to `max_batch`; with `window_s` > 0 it first waits that long for more to queue when others
are about) and runs it for everyone, then hands its slot to the next caller in line, if any; the
others sleep on their own event until their answer arrives or the slot comes to them. A lone
call runs at once, alone, and its runner is told so (`alone`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
# run(items, alone) → one (ok, value) per item: the value, or the exception to raise to its
# caller. `alone`: the batch is one call and nothing else is running or queued.
Outcome = tuple[bool, Any]
Runner = Callable[[list[Item], bool], Sequence[Outcome]]


class _Call(Generic[Item]):
    __slots__ = ("done", "error", "event", "item", "slots", "value")

    def __init__(self, item: Item):
        self.item = item
        self.event = threading.Event()  # set when done, or when handed a batch slot
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = False
        self.slots = 0  # batch slots handed to this caller: each runs one batch


class Coalescer(Generic[Item]):
    """Thread-safe `call(item)`: the item's value from `run`, batched with concurrent calls."""

    def __init__(self, run: Runner[Item], *, parallel: int = 2, max_batch: int = 16, window_s: float = 0.0):
        self.run = run
        self.parallel = parallel
        self.max_batch = max_batch
        self.window_s = window_s
        self._queue: list[_Call[Item]] = []
        self._running = 0
        self._lock = threading.Lock()
        self.batches = 0  # batches run (for tests and benchmarks)
        self.calls = 0

    @property
    def idle(self) -> bool:
        """Nothing running, nothing queued."""
        with self._lock:
            return self._running == 0 and not self._queue

    def call(self, item: Item) -> Any:
        call = _Call(item)
        with self._lock:
            self._queue.append(call)
            if self._running < self.parallel:
                self._running += 1
                call.slots += 1
        # Until done: run a batch for every slot handed to this caller, else sleep on its event.
        # Every slot held runs one batch, even when another batch already answered this caller:
        # a slot is only ever released or handed on by a batch.
        while True:
            with self._lock:
                lead = call.slots > 0
                if lead:
                    call.slots -= 1
                elif call.done:
                    break
            if lead:
                self._run_batch()
            else:
                call.event.wait()
                call.event.clear()  # flags are set before the event: read them again above
        if call.error is not None:
            raise call.error
        return call.value

    def _run_batch(self) -> None:
        if self.window_s:
            with self._lock:
                busy = self._running > 1 or len(self._queue) > 1
            if busy:
                time.sleep(self.window_s)  # under load: let concurrent callers join this batch
        with self._lock:
            batch, self._queue[: self.max_batch] = self._queue[: self.max_batch], []
            alone = len(batch) == 1 and self._running == 1 and not self._queue
        try:
            results = list(self.run([call.item for call in batch], alone))
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} gave {len(results)} results")
        except BaseException as exc:  # whatever happens, nobody is left waiting
            results = [(False, exc)] * len(batch)
        for call, (ok, value) in zip(batch, results):
            if ok:
                call.value = value
            else:
                call.error = value if isinstance(value, BaseException) else RuntimeError(str(value))
            call.done = True
        with self._lock:
            self.batches += 1
            self.calls += len(batch)
            successor = self._queue[0] if self._queue else None
            if successor is not None:
                successor.slots += 1  # the slot passes to the next in line
            else:
                self._running -= 1
        for call in batch:
            call.event.set()
        if successor is not None:
            successor.event.set()
