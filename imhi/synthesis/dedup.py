"""Exact and near-duplicate detection for explanations (MinHash + LSH, deterministic).

Reads and writes nothing. Shingles are word 3-grams (character 4-grams for Chinese),
hashed with crc32 so results are the same in every process; candidates from LSH are
confirmed by exact Jaccard similarity.
"""

from __future__ import annotations

import functools
import re
import zlib

import numpy as np

# MinHash permutations h(x) = (a·x + b) mod p over p = 2^31 − 1 with a, b drawn from [0, p):
# a 2-universal family whose products fit in uint64. (a < 2^31 with p = 2^61 − 1, as before,
# made h nearly monotone in x, so all 64 minima fell on the same few shingles: estimates were
# far off and every row met dozens of false LSH candidates.)
PRIME = (1 << 31) - 1
_RNG = np.random.default_rng(20240521)
PERMS = 64
BANDS = 16
A = _RNG.integers(1, PRIME, size=PERMS, dtype=np.uint64)
B = _RNG.integers(0, PRIME, size=PERMS, dtype=np.uint64)
_NON_WORD = re.compile(r"\W+")  # CJK characters are word characters too
_CJK = re.compile("[\u4e00-\u9fff]")


@functools.lru_cache(maxsize=4096)  # a reply's text is normalised by several filters in a row
def norm(text: str) -> str:
    """Lowercase, keep letters/digits/CJK, collapse the rest to single spaces (the exact-duplicate key)."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def shingles(text: str) -> set[int]:
    """crc32 hashes of word 3-grams, or character 4-grams when the text is mostly CJK."""
    t = norm(text)
    cjk = len(_CJK.findall(t)) > len(t) / 3
    if cjk:
        t = t.replace(" ", "")
        grams = [t[i:i + 4] for i in range(max(1, len(t) - 3))]
    else:
        words = t.split()
        grams = [" ".join(words[i:i + 3]) for i in range(max(1, len(words) - 2))]
    return {zlib.crc32(g.encode()) for g in grams}


def _minhash(text: str) -> tuple[set[int], np.ndarray]:
    """The text's shingle set and its MinHash signature (PERMS values)."""
    sh = shingles(text)
    x = np.fromiter(sh, dtype=np.uint64, count=len(sh)) % PRIME if sh else np.zeros(1, np.uint64)
    return sh, ((x[None, :] * A[:, None] + B[:, None]) % PRIME).min(axis=1)


def jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class NearDuplicateIndex:
    """Add texts one by one; ``match`` returns the id of a similar text already added.

    LSH buckets propose candidates; their MinHash signatures give a vectorised estimate of
    the similarity, and only candidates whose estimate is near the threshold get an exact
    Jaccard check (boilerplate-heavy explanations otherwise make that check quadratic).
    """

    def __init__(self, threshold: float = 0.85) -> None:
        self.threshold = threshold
        self.buckets: dict[tuple[int, bytes], list[int]] = {}
        self.keys: list[str] = []
        self.sets: list[set[int]] = []
        self.sigs = np.zeros((0, PERMS), dtype=np.uint64)
        self.exact: dict[str, str] = {}
        self._memo: tuple[str, set[int], np.ndarray] | None = None
        self._prepared: dict[str, tuple[set[int], np.ndarray]] = {}

    def prepare(self, text: str) -> None:
        """Compute a text's shingles and MinHash ahead of ``match``/``add`` (e.g. while other
        replies are still in flight); kept until that text is matched."""
        if text not in self._prepared:
            self._prepared[text] = _minhash(text)

    def _signature(self, text: str) -> tuple[set[int], np.ndarray]:
        if self._memo and self._memo[0] == text:
            return self._memo[1], self._memo[2]
        sh, sig = self._prepared.pop(text, None) or _minhash(text)
        self._memo = (text, sh, sig)
        return sh, sig

    @staticmethod
    def _bands(sig: np.ndarray) -> list[tuple[int, bytes]]:
        rows = PERMS // BANDS
        return [(b, sig[b * rows:(b + 1) * rows].tobytes()) for b in range(BANDS)]

    def exact_match(self, text: str) -> str | None:
        return self.exact.get(norm(text))

    def match(self, text: str) -> tuple[str, float] | None:
        """The most similar earlier text at or above the threshold, with its similarity."""
        sh, sig = self._signature(text)
        cands: set[int] = set()
        for band in self._bands(sig):
            cands.update(self.buckets.get(band, ()))
        if not cands:
            return None
        idx = np.fromiter(cands, dtype=np.int64, count=len(cands))
        estimate = (self.sigs[idx] == sig[None, :]).mean(axis=1)
        best: tuple[str, float] | None = None
        for i in idx[estimate >= self.threshold - 0.15]:
            sim = jaccard(sh, self.sets[int(i)])
            if sim >= self.threshold and (best is None or sim > best[1]):
                best = (self.keys[int(i)], sim)
        return best

    def add(self, key: str, text: str) -> None:
        sh, sig = self._signature(text)
        i = len(self.keys)
        self.keys.append(key)
        self.sets.append(sh)
        if i == len(self.sigs):  # grow by doubling: adding stays amortised O(1)
            self.sigs = np.vstack([self.sigs, np.zeros((max(64, i), PERMS), dtype=np.uint64)])
        self.sigs[i] = sig
        self.exact.setdefault(norm(text), key)
        for band in self._bands(sig):
            self.buckets.setdefault(band, []).append(i)
