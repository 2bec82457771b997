"""Near-duplicate documents within a source: MinHash over word shingles, LSH banding, union-find.

A document is a near-duplicate of another when the Jaccard similarity of their sets of
`SHINGLE`-word shingles, as estimated from `PERMS` MinHash values, is at least `THRESHOLD`.
Texts are normalised first (NFKC, case-folded, words only: punctuation and whitespace runs are
separators), so a print view, a `?ref=` copy or a syndicated copy with its own header and footer
keeps almost all of the article's shingles. Chinese, Japanese and Thai characters are one word each.

Texts of fewer than `MIN_WORDS` words match only on exact equality of their normalised text: a
few dozen words give too few shingles for a similarity to mean anything, and the short pages of a
site are mostly its own boilerplate (a paywall or cookie notice, "page not found", an embed with
a caption), which a similarity threshold would merge across different documents. A text with no
words at all (a failed extraction) is nobody's duplicate.

`fingerprint(text)` is what a table stores per document (bytes: a version byte, a 16-byte digest
of the normalised text and, for long texts, `PERMS` little-endian uint32 MinHash values), so an
unchanged document is never hashed again; `group_fingerprints` groups stored fingerprints and
`duplicates` does both. Candidate pairs come from LSH banding (`BANDS` bands of `ROWS` values:
a pair at Jaccard 0.7 becomes a candidate with probability 0.9998, at 0.5 with 0.87, so thresholds
from about 0.6 up lose nothing to it); candidates are then checked against the threshold on the
whole signature. Groups are the connected components of the pairs that pass (transitive), and each
keeps the one URL that `prefer` ranks first.

THRESHOLD favours precision (bench/near_duplicates.py, BENCHMARKS.md "Near-duplicates"): on real
articles no two different articles reach 0.75 (the closest, two same-site pages kept whole with
their navigation, is at 0.71 exact), and 0.8 leaves two standard errors of the MinHash estimate
above it; print views, syndicated copies and small edits of articles of 300+ words mostly pass
(80-100%), those of shorter articles, where the boilerplate is a larger share, often do not.
A copy truncated to its first 60% (Jaccard about 0.6) is kept as a document of its own on purpose:
the URL kept for a group is chosen by URL, not length, and could hide the rest of the article.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "BANDS",
    "MIN_WORDS",
    "PERMS",
    "ROWS",
    "SHINGLE",
    "THRESHOLD",
    "Fingerprint",
    "default_prefer",
    "duplicates",
    "fingerprint",
    "group_fingerprints",
    "normalised_words",
    "similarity",
]

Fingerprint = bytes

THRESHOLD = 0.8  # estimated Jaccard of the shingle sets (bench/near_duplicates.py, BENCHMARKS.md)
SHINGLE = 5  # words per shingle
PERMS = 128  # MinHash values per signature
BANDS, ROWS = 32, 4  # LSH banding: BANDS * ROWS == PERMS
MIN_WORDS = 50  # below this, exact normalised equality only

VERSION = 1
_DIGEST = 16
_SIG_BYTES = 4 * PERMS
_CHUNK = 2048  # shingles hashed against all permutations at once (bounds the scratch memory)
_ALL_PAIRS_UP_TO = 32  # bucket members compared with every other; beyond, with their neighbours only

_U64 = npt.NDArray[np.uint64]
_U32 = npt.NDArray[np.uint32]

# Word characters are those str.isalnum() accepts; CJK and Thai characters (scripts that do not
# separate words with spaces) and characters beyond the BMP (emoji, rare ideographs) are one word each.
_SEPARATOR, _LETTER, _SINGLE = 0, 1, 2
_SINGLES = ((0x0E00, 0x0E7F), (0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
_KIND = np.array([_LETTER if chr(c).isalnum() else _SEPARATOR for c in range(0x10000)], dtype=np.uint8)
for _low, _high in _SINGLES:
    _KIND[_low : _high + 1] = np.where(_KIND[_low : _high + 1] == _LETTER, _SINGLE, _SEPARATOR)

_rng = np.random.default_rng(0x6E656172)  # fixed: fingerprints must not change between runs
_A: _U64 = _rng.integers(0, 2**64, size=PERMS, dtype=np.uint64, endpoint=False) | np.uint64(1)
_B: _U64 = _rng.integers(0, 2**64, size=PERMS, dtype=np.uint64, endpoint=False)
_SHINGLE_MUL: _U64 = _rng.integers(0, 2**64, size=SHINGLE, dtype=np.uint64, endpoint=False) | np.uint64(1)
_BAND_MUL: _U64 = _rng.integers(0, 2**64, size=ROWS, dtype=np.uint64, endpoint=False) | np.uint64(1)
_BASE = 0x100000001B3  # polynomial hash of a word's characters: sum of c[j] * BASE**j, mod 2**64
_BASE_INVERSE = pow(_BASE, -1, 2**64)
_powers: list[_U64] = [np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64)]  # BASE**j, BASE**-j


def _powers_for(length: int) -> tuple[_U64, _U64]:
    if len(_powers[0]) < length:
        size = max(length, 2 * len(_powers[0]), 4096)
        with np.errstate(over="ignore"):
            for slot, base in ((0, _BASE), (1, _BASE_INVERSE)):
                steps = np.full(size, base, dtype=np.uint64)
                steps[0] = 1
                _powers[slot] = np.cumprod(steps, dtype=np.uint64)
    return _powers[0], _powers[1]


def _mix(x: _U64) -> _U64:
    """splitmix64's finaliser, elementwise (uint64 arithmetic wraps)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _words(text: str) -> tuple[str, _U32, npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The normalised text (NFKC, case-folded), its code points, and the start and end (exclusive)
    of each word in it."""
    folded = (text if text.isascii() else unicodedata.normalize("NFKC", text)).casefold()
    codes = np.frombuffer(folded.encode("utf-32-le"), dtype=np.uint32)
    kind = np.where(codes < 0x10000, _KIND[np.minimum(codes, 0xFFFF)], _SINGLE)
    letter = kind != _SEPARATOR
    single = kind == _SINGLE
    before = np.concatenate(([True], ~letter[:-1] | single[:-1]))  # a word may start after this
    after = np.concatenate((~letter[1:] | single[1:], [True]))  # a word may end before this
    starts = np.flatnonzero(letter & (before | single))
    ends = np.flatnonzero(letter & (after | single)) + 1
    return folded, codes, starts, ends


def normalised_words(text: str) -> list[str]:
    """The words that shingles are made of: NFKC, case-folded, punctuation and spacing dropped."""
    folded, _, starts, ends = _words(text)
    return [folded[start:end] for start, end in zip(starts.tolist(), ends.tolist())]


def _word_hashes(text: str) -> _U64:
    """A 64-bit hash per normalised word, stable across processes (not Python's salted hash())."""
    _, codes, starts, ends = _words(text)
    if not len(starts):
        return np.empty(0, dtype=np.uint64)
    powers, inverses = _powers_for(len(codes))
    with np.errstate(over="ignore"):
        weighted = codes.astype(np.uint64) * powers[: len(codes)]
        prefix = np.concatenate((np.zeros(1, dtype=np.uint64), np.cumsum(weighted, dtype=np.uint64)))
        hashes = (prefix[ends] - prefix[starts]) * inverses[starts]
        return _mix(hashes + (ends - starts).astype(np.uint64))


def _shingle_hashes(hashes: _U64) -> _U64:
    count = len(hashes) - SHINGLE + 1
    with np.errstate(over="ignore"):
        combined = hashes[:count] * _SHINGLE_MUL[0]
        for offset in range(1, SHINGLE):
            combined = combined + hashes[offset : offset + count] * _SHINGLE_MUL[offset]
    return _mix(combined)


def _signature(shingles: _U64) -> _U32:
    """PERMS MinHash values: min over shingles of (a*x + b) mod 2**64, top 32 bits."""
    low = np.full(PERMS, np.iinfo(np.uint64).max, dtype=np.uint64)
    scratch = np.empty((min(len(shingles), _CHUNK), PERMS), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, len(shingles), _CHUNK):
            part = shingles[start : start + _CHUNK]
            values = scratch[: len(part)]
            np.multiply(part[:, None], _A[None, :], out=values)
            np.add(values, _B[None, :], out=values)
            np.minimum(low, values.min(axis=0), out=low)
    return (low >> np.uint64(32)).astype(np.uint32)


def fingerprint(text: str) -> Fingerprint:
    """The stored signature of a text: a version byte, the digest of its normalised words, and
    for a text of at least MIN_WORDS words its MinHash values (529 bytes; 17 for a short text)."""
    hashes = _word_hashes(text)
    digest = hashlib.blake2b(hashes.astype("<u8").tobytes(), digest_size=_DIGEST).digest()
    head = bytes([VERSION]) + digest
    if len(hashes) < MIN_WORDS:
        return head
    return head + _signature(_shingle_hashes(hashes)).astype("<u4").tobytes()


_NO_WORDS = fingerprint("")[1:]


def _check(fp: Fingerprint) -> bytes:
    """The digest of a valid fingerprint; ValueError for anything else."""
    if not isinstance(fp, (bytes, bytearray)) or len(fp) not in (1 + _DIGEST, 1 + _DIGEST + _SIG_BYTES):
        raise ValueError("not a near-duplicate fingerprint (compute it with fingerprint())")
    if fp[0] != VERSION:
        raise ValueError(f"fingerprint of version {fp[0]}, this code makes {VERSION}: compute it again")
    return bytes(fp[1 : 1 + _DIGEST])


def _parse(fp: Fingerprint) -> tuple[bytes, _U32 | None]:
    digest = _check(fp)
    if len(fp) == 1 + _DIGEST:
        return digest, None
    return digest, np.frombuffer(bytes(fp[1 + _DIGEST :]), dtype="<u4").astype(np.uint32)


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """Estimated Jaccard similarity of two fingerprints' shingle sets (1.0 or 0.0 for short texts:
    equal normalised text or not)."""
    digest_a, sig_a = _parse(a)
    digest_b, sig_b = _parse(b)
    if digest_a == digest_b:
        return 0.0 if digest_a == _NO_WORDS else 1.0
    if sig_a is None or sig_b is None:
        return 0.0
    return float(np.count_nonzero(sig_a == sig_b)) / PERMS


def default_prefer(url: str) -> tuple[bool, int, str]:
    """Which URL of a group is kept: one without a query string (or fragment) first, then the
    shortest, then the lexicographically first. A print view or a ?ref= variant loses."""
    return ("?" in url or "#" in url, len(url), url)  # a query string or a fragment


def duplicates(
    docs: Sequence[tuple[str, str]],
    *,
    threshold: float = THRESHOLD,
    prefer: Callable[[str], Any] | None = None,
) -> dict[str, str]:
    """docs: (url, text) in the source's order. Returns {duplicate_url: kept_url} for every
    document that duplicates another; kept documents are absent. The grouping depends only on
    the documents, not their order; within a group the kept one is the min by `prefer` (default:
    `default_prefer`), ties broken by URL. Transitive groups collapse to one kept URL."""
    return group_fingerprints([(url, fingerprint(text)) for url, text in docs], threshold=threshold, prefer=prefer)


class _Sets:
    """Union-find over 0..n-1 (path halving)."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        root_i, root_j = self.find(i), self.find(j)
        if root_i != root_j:
            self.parent[max(root_i, root_j)] = min(root_i, root_j)


def _candidates(signatures: _U32) -> npt.NDArray[np.int64]:
    """Pairs (i < j) of rows that agree on all ROWS values of at least one band, as an (n, 2) array.

    Rows are in a content-determined order (sorted by digest), so the pairs do not depend on the
    order the documents came in. A bucket's members are paired with their next _ALL_PAIRS_UP_TO
    neighbours in (key, row) order: all pairs in buckets up to that size, a chain beyond it (a
    huge bucket is a mass of near-identical pages, which the chain still joins)."""
    count = len(signatures)
    found: list[npt.NDArray[np.int64]] = []
    for band in range(BANDS):
        values = signatures[:, band * ROWS : (band + 1) * ROWS].astype(np.uint64)
        with np.errstate(over="ignore"):
            keys = _mix((values * _BAND_MUL[None, :]).sum(axis=1, dtype=np.uint64) + np.uint64(band))
        order = np.argsort(keys, kind="stable")  # ties in row order
        keys_sorted = keys[order]
        for step in range(1, min(_ALL_PAIRS_UP_TO, count - 1) + 1):
            same = np.flatnonzero(keys_sorted[step:] == keys_sorted[:-step])
            if not len(same):
                break  # no bucket holds step + 1 rows
            first, second = order[same], order[same + step]
            found.append(np.stack([np.minimum(first, second), np.maximum(first, second)], axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate([pair[:, 0] * count + pair[:, 1] for pair in found]))
    return np.stack([codes // count, codes % count], axis=1)


def group_fingerprints(
    docs: Sequence[tuple[str, Fingerprint]],
    *,
    threshold: float = THRESHOLD,
    prefer: Callable[[str], Any] | None = None,
) -> dict[str, str]:
    """`duplicates` over stored fingerprints: docs are (url, fingerprint(text))."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")
    urls = [url for url, _ in docs]
    if len(set(urls)) != len(urls):
        seen: set[str] = set()
        for url in urls:
            if url in seen:
                raise ValueError(f"a URL appears twice: {url}")
            seen.add(url)
    rank = prefer or default_prefer

    # Exact duplicates (equal normalised text) first, short or long: one representative each.
    by_digest: dict[bytes, list[int]] = {}
    signature_of: dict[bytes, bytes] = {}
    for index, (_, fp) in enumerate(docs):
        digest = _check(fp)
        by_digest.setdefault(digest, []).append(index)
        if len(fp) > 1 + _DIGEST:
            signature_of[digest] = bytes(fp[1 + _DIGEST :])
    sets = _Sets(len(docs))
    for digest, members in by_digest.items():
        if digest == _NO_WORDS:
            continue
        for other in members[1:]:
            sets.union(members[0], other)

    # Near duplicates among the distinct long texts, in digest order (independent of input order).
    digests = sorted(signature_of)
    if len(digests) > 1:
        joined = b"".join(signature_of[d] for d in digests)
        signatures = np.frombuffer(joined, dtype="<u4").astype(np.uint32).reshape(len(digests), PERMS)
        pairs = _candidates(signatures)
        needed = int(np.ceil(threshold * PERMS - 1e-9))
        for start in range(0, len(pairs), 1 << 18):
            chunk = pairs[start : start + (1 << 18)]
            agree = np.count_nonzero(signatures[chunk[:, 0]] == signatures[chunk[:, 1]], axis=1)
            for i, j in chunk[agree >= needed].tolist():
                sets.union(by_digest[digests[i]][0], by_digest[digests[j]][0])

    groups: dict[int, list[str]] = {}
    for index, url in enumerate(urls):
        groups.setdefault(sets.find(index), []).append(url)
    mapping: dict[str, str] = {}
    for group in groups.values():
        if len(group) < 2:
            continue
        kept = min(group, key=lambda url: (rank(url), url))
        mapping.update((url, kept) for url in group if url != kept)
    return mapping
