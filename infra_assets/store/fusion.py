"""How dense and BM25 results are fused into one ranking (both stores use these numbers).

Hybrid search runs two prefetches in the store under the same source filter: the dense nearest
neighbours by cosine and the BM25 best matches, each `prefetch_limit(k)` deep. The store fuses
them with DBSF (distribution-based score fusion): each list's scores are normalised by that
list's own mean ± 3 standard deviations, then summed, so a fused score lies in [0, 2] and a
passage strong in one list and present in the other beats one that is merely ranked in both.

Chosen by measurement on SciFact through the whole pipeline (bench/retrieval.py): DBSF over
250-deep prefetches beat reciprocal rank fusion at every constant, weight and depth, and the best
min-max fusion computed in Python, which also needs a tuned weight. DBSF's normalisation depends
on how many candidates it sees, hence a fixed depth rather than one that follows k. Figures:
BENCHMARKS.md, "Retrieval quality". RRF stays available (`method="rrf"`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FusionParams:
    method: str = "dbsf"  # "dbsf" | "rrf"
    rrf_k: int = 60  # RRF only: the original paper's constant
    dense_weight: float = 1.0  # RRF only
    sparse_weight: float = 1.0  # RRF only
    prefetch_min: int = 250  # candidates per list at least
    prefetch_factor: int = 5  # …or this many times k

    def prefetch_limit(self, k: int) -> int:
        return max(self.prefetch_min, self.prefetch_factor * k)

    def weights(self) -> list[float]:
        """RRF weights in prefetch order: dense first, then BM25."""
        return [self.dense_weight, self.sparse_weight]


DEFAULT_FUSION = FusionParams()
