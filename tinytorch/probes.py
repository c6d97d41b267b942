"""Machine probes: the two roofs of a roofline, measured live on this machine.

A roofline bounds what a kernel can reach: ``min(peak, intensity * bandwidth)`` GFLOP/s,
where ``intensity`` is the kernel's FLOPs per byte of compulsory memory traffic. Both
roofs are *measured*, never typed in from a datasheet, because what matters is what this
machine, with its BLAS, its threads and its neighbours, delivers right now:

- ``peak_gflops``: the compute roof, from the best of a few float32 ``np.matmul`` calls
  at ``n = 2048`` (``2 n^3`` FLOPs each; smaller products pay more for threading and
  blocking overheads, and on a loaded machine measured well under the large ones). An
  optimised BLAS on every core is the fastest FLOP/s anything in this process will see; a
  kernel cannot beat it on dense arithmetic.
- ``stream_gbs``: the memory roof, from a STREAM-style triad ``a = b + s * c`` over
  float64 arrays several times larger than the last-level cache (so every pass goes to
  DRAM), compiled with numba and split over every core with ``prange``. It counts
  ``3 * 8`` bytes per element (two reads, one write; STREAM's convention, which ignores the
  extra read a cache does before it writes a line) and keeps the best of a few passes.

Both use every core, as the benchmarks' jit and numpy kernels may. On a shared or noisy
machine re-run them: they are a ceiling, so the best round is the honest figure.

>>> roof(0.25, peak=100.0, bandwidth=10.0), roof(50.0, peak=100.0, bandwidth=10.0)
(2.5, 100.0)
"""

from __future__ import annotations

import os
import time

import numba
import numpy as np

from tinytorch import threads

__all__ = ["peak_gflops", "stream_gbs", "last_level_cache_bytes", "roof", "measure"]


def roof(intensity: float, *, peak: float, bandwidth: float) -> float:
    """The attainable GFLOP/s at ``intensity`` FLOP/byte: ``min(peak, intensity * bw)``.

    >>> roof(1.0, peak=50.0, bandwidth=20.0)
    20.0
    """
    return min(peak, intensity * bandwidth)


def peak_gflops(n: int = 2048, repeats: int = 3) -> float:
    """The compute roof in GFLOP/s: the best of ``repeats`` float32 ``n x n`` BLAS matmuls.

    >>> peak_gflops(n=64, repeats=2) > 0
    True
    """
    if n < 1 or repeats < 1:
        raise ValueError(f"peak_gflops needs n >= 1 and repeats >= 1, got n={n}, "
                         f"repeats={repeats}")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    # the machine's roof: BLAS at its own width, whatever the thread policy of the backend
    # in use (under jit, tinytorch.threads keeps BLAS on one thread)
    threads.apply_backend_policy("numpy")
    try:
        np.matmul(a, b, out=out)  # wake the BLAS threads, fault the pages in
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - start)
    finally:
        import tinytorch as tt  # noqa: PLC0415

        threads.apply_backend_policy(tt.get_backend())
    return 2 * n ** 3 / max(best, 1e-9) / 1e9


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _triad(a, b, c, s):
    # prange splits the elements over every core: one core alone cannot saturate DRAM
    for i in numba.prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


def last_level_cache_bytes(default: int = 32 * 2 ** 20) -> int:
    """The largest CPU cache in bytes, from Linux's sysfs (``default`` elsewhere).

    >>> last_level_cache_bytes() > 0
    True
    """
    best = 0
    root = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in os.listdir(root):
            with open(os.path.join(root, entry, "size")) as f:
                text = f.read().strip()
            scale = {"K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30}.get(text[-1:], 1)
            best = max(best, int(text.rstrip("KMG")) * scale)
    except (OSError, ValueError):
        pass
    return best or default


def stream_gbs(elements: int | None = None, repeats: int = 5) -> float:
    """The memory roof in GB/s: the best of ``repeats`` triads ``a = b + s * c`` (float64).

    ``elements`` defaults to four times the last-level cache per array (at least 2^23:
    64 MiB each), so nothing is served from cache.

    >>> stream_gbs(elements=100_000, repeats=2) > 0
    True
    """
    if elements is None:
        elements = max(4 * last_level_cache_bytes() // 8, 2 ** 23)
    if elements < 1 or repeats < 1:
        raise ValueError(f"stream_gbs needs elements >= 1 and repeats >= 1, got "
                         f"elements={elements}, repeats={repeats}")
    b = np.ones(elements)
    c = np.full(elements, 2.0)
    a = np.zeros(elements)  # np.zeros, not np.empty: the first pass must not time page faults
    _triad(a, b, c, 3.0)  # compile (or load from cache), and touch every page
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        _triad(a, b, c, 3.0)
        best = min(best, time.perf_counter() - start)
    return 3 * 8 * elements / max(best, 1e-9) / 1e9


def measure(*, quick: bool = False) -> dict:
    """Both roofs and how they were measured, as a dict (``quick``: small, for tests).

    >>> sorted(measure(quick=True))
    ['peak_gflops', 'peak_probe', 'stream_gbs', 'stream_probe']
    """
    n, elements = (128, 1_000_000) if quick else (2048, None)
    elements = elements or max(4 * last_level_cache_bytes() // 8, 2 ** 23)
    return dict(peak_gflops=peak_gflops(n=n), stream_gbs=stream_gbs(elements=elements),
                peak_probe=f"np.matmul float32 n={n}, best of 3",
                stream_probe=f"triad a = b + s*c, float64, {elements} elements per array "
                             f"({3 * 8 * elements / 2 ** 20:.0f} MiB in all), numba prange on "
                             f"{numba.get_num_threads()} threads, best of 5, 24 bytes/element")
