"""Process-level helpers that import nothing heavy (the CLI uses them before Dagster loads)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused(freeze: bool = False) -> Iterator[None]:
    """Python's cyclic collector paused while definitions are built, and optionally the result
    frozen out of later collections (`gc.freeze`).

    Definitions are hundreds of thousands of objects that live as long as the code location; the
    collector would re-scan all of them at every full collection while they are built and
    snapshotted, which was 40% of a load at 1,000 sources (BENCHMARKS.md, "Definitions load").
    Freezing is for a process whose definitions live until it exits: the code server and run
    workers, `refresh`; not a notebook, whose other objects it would freeze too."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()
