"""The soak harness (bench/soak.py) on a small site: every fault kind, three cycles, exact truth."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak import FAULTS, soak


@pytest.mark.timeout(900)
def test_three_cycles_with_rotating_faults_end_in_exactly_the_truth(tmp_path):
    figures = soak(pages_n=120, cycles=3, fault_rate=0.1, seed=3, work=tmp_path, log=lambda _: None)
    assert figures["verified"]
    assert set(figures["faults"]) == set(FAULTS)  # every kind of fault was exercised
    assert figures["kept_documents"] > 0 and figures["removed"] > 0 and figures["changed"] > 0
