"""`Coalescer`: concurrent calls run in shared batches, each caller gets its own answer or error,
and the runner is told when a batch is one call alone."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra_assets.serve.coalesce import Coalescer


def test_concurrent_calls_share_batches_and_get_their_own_values():
    sizes = []
    lone = []

    def run(items, alone):
        sizes.append(len(items))
        lone.append(alone)
        time.sleep(0.005)  # a batch takes a while, so others queue behind it
        return [(True, item * 2) for item in items]

    coalescer = Coalescer(run, parallel=2, max_batch=8)
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(coalescer.call, range(400)))
    assert got == [i * 2 for i in range(400)]
    assert sum(sizes) == 400 and max(sizes) <= 8 and len(sizes) < 400
    assert coalescer.calls == 400 and coalescer.batches == len(sizes)
    assert not any(alone for size, alone in zip(sizes, lone) if size > 1)  # a shared batch is never alone
    assert coalescer.idle


def test_a_lone_call_runs_at_once_alone():
    told = []

    def run(items, alone):
        told.append(alone)
        return [(True, len(items))] * len(items)

    coalescer = Coalescer(run)
    assert [coalescer.call("x") for _ in range(3)] == [1, 1, 1] and coalescer.batches == 3
    assert told == [True, True, True]


def wait_until(condition, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def queued(coalescer: Coalescer) -> int:
    with coalescer._lock:
        return len(coalescer._queue)


def test_alone_is_true_exactly_for_a_lone_call_with_nothing_else_running_or_queued():
    seen: list[tuple[list[str], bool]] = []
    started, release = threading.Event(), threading.Event()

    def run(items, alone):
        seen.append((list(items), alone))
        if items == ["hold"]:
            started.set()
            assert release.wait(10)
        return [(True, item) for item in items]

    def holding(coalescer: Coalescer, *others: str) -> dict[str, bool]:
        """`hold` runs and blocks; `others` are called from threads meanwhile; then it is let go.
        Returns each item's `alone` as its batch was told."""
        seen.clear()
        started.clear()
        release.clear()
        with ThreadPoolExecutor(1 + len(others)) as pool:
            first = pool.submit(coalescer.call, "hold")
            assert started.wait(10)
            rest = [pool.submit(coalescer.call, item) for item in others]
            wait_until(lambda: queued(coalescer) == len(others) or len(seen) > 1)
            if coalescer.parallel > 1:  # a free slot: the other call runs beside `hold`, not queued
                wait_until(lambda: len(seen) == 1 + len(others))
            release.set()
            assert first.result(10) == "hold" and [f.result(10) for f in rest] == list(others)
        assert coalescer.idle
        return {item: alone for items, alone in seen for item in items}

    # Alone at the start: nothing else running or queued.
    assert holding(Coalescer(run, parallel=2)) == {"hold": True}
    # A lone batch beside a running one is not alone.
    assert holding(Coalescer(run, parallel=2), "beside") == {"hold": True, "beside": False}
    # A lone batch with another call still queued behind it is not alone; the last one is.
    one_at_a_time = Coalescer(run, parallel=1, max_batch=1)
    told = holding(one_at_a_time, "q1", "q2")
    assert told["hold"] is True and sorted(told.values()) == [False, True, True]
    assert [alone for items, alone in seen[1:]] == [False, True]  # in the order the batches ran
    # Two calls in one batch are never alone.
    assert holding(Coalescer(run, parallel=1, max_batch=8), "q1", "q2") == {"hold": True, "q1": False, "q2": False}
    # Once everything is done, the next call is alone again.
    seen.clear()
    assert one_at_a_time.call("later") == "later" and seen == [(["later"], True)]


def test_errors_reach_their_own_caller_and_a_failed_batch_fails_its_callers_only():
    def run(items, alone):
        if "crash" in items:
            raise OSError("the batch broke")
        return [
            (False, ValueError(f"bad {item}")) if item.startswith("bad") else (True, item.upper()) for item in items
        ]

    coalescer = Coalescer(run, parallel=1, max_batch=4)
    assert coalescer.call("ok") == "OK"
    with pytest.raises(ValueError, match="bad one"):
        coalescer.call("bad one")
    with pytest.raises(OSError, match="the batch broke"):
        coalescer.call("crash")
    # Many callers, some failing, some in batches that crash: nobody is left waiting.
    items = [("crash" if i % 17 == 0 else "bad" if i % 5 == 0 else "ok") + str(i) for i in range(300)]
    items = ["crash" if item.startswith("crash") else item for item in items]
    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(coalescer.call, item) for item in items]
        for future in futures:
            future.exception(timeout=30)  # raises TimeoutError if a caller were left waiting
    for item, future in zip(items, futures):
        if item.startswith("ok"):
            # in a crashed batch an innocent call fails with the batch; otherwise it succeeds
            assert (
                future.result() == item.upper()
                if future.exception() is None
                else isinstance(future.exception(), OSError)
            )
        elif item.startswith("bad"):
            assert isinstance(future.exception(), (ValueError, OSError))
        else:
            assert isinstance(future.exception(), OSError)
    assert coalescer.idle
