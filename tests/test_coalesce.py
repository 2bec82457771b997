"""`Coalescer`: concurrent calls run in shared batches, each caller gets its own answer or error."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra_assets.store.coalesce import Coalescer


def test_concurrent_calls_share_batches_and_get_their_own_values():
    sizes = []

    def run(items):
        sizes.append(len(items))
        time.sleep(0.005)  # a batch takes a while, so others queue behind it
        return [(True, item * 2) for item in items]

    coalescer = Coalescer(run, parallel=2, max_batch=8)
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(coalescer.call, range(400)))
    assert got == [i * 2 for i in range(400)]
    assert sum(sizes) == 400 and max(sizes) <= 8 and len(sizes) < 400
    assert coalescer.calls == 400 and coalescer.batches == len(sizes)


def test_a_lone_call_runs_at_once_alone():
    coalescer = Coalescer(lambda items: [(True, len(items))] * len(items))
    assert [coalescer.call("x") for _ in range(3)] == [1, 1, 1] and coalescer.batches == 3


def test_errors_reach_their_own_caller_and_a_failed_batch_fails_its_callers_only():
    def run(items):
        if "crash" in items:
            raise OSError("the batch broke")
        return [(False, ValueError(f"bad {item}")) if item.startswith("bad") else (True, item.upper()) for item in items]

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
            assert future.result() == item.upper() if future.exception() is None else isinstance(future.exception(), OSError)
        elif item.startswith("bad"):
            assert isinstance(future.exception(), (ValueError, OSError))
        else:
            assert isinstance(future.exception(), OSError)
