"""Concurrent calls of one function, run together: whoever finds a free slot runs the batch.

Used by `ShardHost` so that searches arriving together cross to the shard's process as one
message and run there as one planned batch. No thread of its own: a caller that finds fewer
than `parallel` batches running takes the queue (up to `max_batch`) and runs it for everyone,
then hands its slot to the next caller in line, if any; the others sleep on their own event
until their answer arrives or the slot comes to them. A lone call runs at once, alone.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Generic, Sequence, TypeVar

Item = TypeVar("Item")

# run(items) → one (ok, value) per item: the value, or the exception to raise to its caller.
Runner = Callable[[Sequence[Any]], Sequence[tuple[bool, Any]]]


class _Call:
    __slots__ = ("item", "event", "value", "error", "done", "slots")

    def __init__(self, item: Any):
        self.item = item
        self.event = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = False
        self.slots = 0  # batch slots handed to this caller: each runs one batch


def take_turns(lock: threading.Lock, waiter: Any, run_batch: Callable[[], None]) -> None:
    """Until `waiter.done`: run a batch for every slot handed to it, else sleep on its event.

    `waiter` has `slots` (batch slots handed to it), `done` and `event`, all changed under `lock`
    (the event set after). Every slot held runs one batch, even when another batch already
    answered this waiter: a slot is only ever released or handed on by a batch.
    """
    while True:
        with lock:
            lead = waiter.slots > 0
            if lead:
                waiter.slots -= 1
            elif waiter.done:
                return
        if lead:
            run_batch()
        else:
            waiter.event.wait()
            waiter.event.clear()  # flags are set before the event: read them again above


class Coalescer(Generic[Item]):
    """Thread-safe `call(item)`: the item's value from `run`, batched with concurrent calls."""

    def __init__(self, run: Runner, *, parallel: int = 2, max_batch: int = 16):
        self.run = run
        self.parallel = parallel
        self.max_batch = max_batch
        self._queue: list[_Call] = []
        self._running = 0
        self._lock = threading.Lock()
        self.batches = 0  # batches run (for tests and benchmarks)
        self.calls = 0

    def call(self, item: Item) -> Any:
        call = _Call(item)
        with self._lock:
            self._queue.append(call)
            if self._running < self.parallel:
                self._running += 1
                call.slots += 1
        take_turns(self._lock, call, self._run_batch)
        if call.error is not None:
            raise call.error
        return call.value

    def _run_batch(self) -> None:
        with self._lock:
            batch, self._queue[:self.max_batch] = self._queue[:self.max_batch], []
        try:
            results = list(self.run([call.item for call in batch]))
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
