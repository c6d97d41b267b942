"""Thread pools: numba's (``prange`` kernels of the jit backend) and the BLAS's (``np.matmul``
of the numpy backend), and the policy that keeps them from fighting over the cores.

Two pools share the machine. The jit backend's parallel kernels run on numba's threads
(its OpenMP threading layer here); ``np.matmul`` runs on OpenBLAS's threads. After a call
each pool's workers keep spinning for a while, waiting for more work, so a kernel of one
pool that starts right after a call of the other finds a core taken: on 2 cores a jit
matmul right after an ``np.matmul`` ran several times slower than alone
(``docs/threads.md`` has the measured table; ``python -m tinytorch.examples.threads``
reproduces it).

The policy (``set_policy``): ``"auto"`` (the default) gives the cores to the pool the
backend uses. When the jit backend is selected, BLAS runs on one thread: tinytorch's jit
kernels never call BLAS, so this costs them nothing, and a stray ``np.matmul`` (a numpy loss,
a metric, a per-op override to numpy) leaves no spinning BLAS worker behind to slow the next
``prange`` kernel. Any other backend gets the BLAS thread count the process started with.
``"off"`` leaves both pools alone. The policy is applied when the backend changes
(``apply_backend_policy``), never per kernel call: a thread-count change costs microseconds,
a kernel call must not.

>>> import tinytorch as tt
>>> from tinytorch import threads
>>> with threads.limit_blas(1):
...     threads.get_num_threads()["blas"]
1
>>> sorted(threads.info())
['blas', 'env', 'numba', 'openmp', 'policy']

Numba's thread count is per calling thread (numba's own rule): ``set_num_threads`` and
``limit_numba`` change it for the thread that calls them; other threads keep numba's
default (``NUMBA_NUM_THREADS``). BLAS thread counts are per process.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numba

__all__ = [
    "POLICIES", "set_num_threads", "get_num_threads", "limit_blas", "limit_numba", "info",
    "set_policy", "get_policy", "apply_backend_policy",
]

POLICIES = ("auto", "off")
POLICY_ENV_VAR = "TINYTORCH_THREADS"

# Backends whose kernels run on numba's pool and never on BLAS: under "auto" BLAS gets one
# thread while one of these is the process's backend.
_NUMBA_BACKENDS = frozenset({"jit"})

_controller = None  # threadpoolctl's view of the BLAS libraries, built on first use
_blas_original: list[int] | None = None  # each BLAS's thread count before we changed it
_blas_applied: int | None = None  # the count the policy set last (None: the original)
_policy: str | None = None  # None: read TINYTORCH_THREADS (default "auto")
_explicit_blas_limits = 0  # open limit_blas blocks: the policy does not override them


def _blas_libs() -> list:
    """threadpoolctl's controllers of the BLAS libraries loaded now (numpy's OpenBLAS).

    One ``ThreadpoolController`` is kept: building one scans every loaded library (about a
    millisecond), while setting a count through a kept controller costs about a microsecond.
    """
    global _controller, _blas_original
    if _controller is None:
        from threadpoolctl import ThreadpoolController  # noqa: PLC0415 (costs ms: lazy)

        _controller = ThreadpoolController().select(user_api="blas")
        _blas_original = [lib.num_threads for lib in _controller.lib_controllers]
    return _controller.lib_controllers


def _check_count(n, name: str = "n") -> int:
    # bool is an int subclass; True threads is a bug, not a count
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{name} must be an int number of threads, got {type(n).__name__} "
                        f"{n!r}\nhint: tt.threads.set_num_threads(2)")
    if n < 1:
        raise ValueError(f"{name} must be at least 1 thread, got {n}\n"
                         "hint: 1 runs everything on the calling thread")
    return n


def _check_numba(n: int) -> int:
    top = numba.config.NUMBA_NUM_THREADS
    if n > top:
        raise ValueError(
            f"numba can use at most {top} threads in this process (NUMBA_NUM_THREADS), "
            f"got {n}\nhint: start Python with NUMBA_NUM_THREADS={n} to allow more")
    return n


def _set_blas(n: int | None) -> None:
    """Every BLAS to n threads; None restores the counts the process started with."""
    libs = _blas_libs()
    for lib, original in zip(libs, _blas_original, strict=True):
        lib.set_num_threads(original if n is None else n)


def get_num_threads() -> dict:
    """The thread counts in force for the calling thread: ``{"numba": n, "blas": n}``
    (``"blas"`` is the largest count among the BLAS libraries loaded, ``None`` if none).

    >>> from tinytorch import threads
    >>> sorted(threads.get_num_threads())
    ['blas', 'numba']
    """
    counts = [lib.get_num_threads() for lib in _blas_libs()]
    return {"numba": numba.get_num_threads(), "blas": max(counts) if counts else None}


def set_num_threads(n: int, *, numba_pool: bool = True, blas: bool = True) -> None:
    """Set numba's pool (for the calling thread) and every BLAS library's pool to ``n``
    threads. ``numba_pool=False`` or ``blas=False`` leaves that pool alone.

    The BLAS count stays until changed again, and becomes the count that the ``"auto"``
    policy gives back to BLAS-using backends; switching to the jit backend under ``"auto"``
    still drops BLAS to one thread (``set_policy("off")`` first to keep yours).

    >>> from tinytorch import threads
    >>> before = threads.get_num_threads()["numba"]
    >>> threads.set_num_threads(1, blas=False)  # numba only: BLAS as it was
    >>> threads.get_num_threads()["numba"]
    1
    >>> threads.set_num_threads(before, blas=False)
    """
    global _blas_original, _blas_applied
    _check_count(n)
    if numba_pool:
        _check_numba(n)
        numba.set_num_threads(n)
    if blas:
        libs = _blas_libs()
        for lib in libs:
            lib.set_num_threads(n)
        # n becomes the count that BLAS-using backends get back from the policy
        _blas_original = [n] * len(libs)
        _blas_applied = None


@contextlib.contextmanager
def limit_blas(n: int) -> Iterator[int]:
    """Run the block with every BLAS library on ``n`` threads; the previous counts come back
    when the block ends, also when it raises. Costs a few microseconds each way.

    >>> import numpy as np
    >>> from tinytorch import threads
    >>> with threads.limit_blas(1):
    ...     float((np.ones((64, 64)) @ np.ones((64, 64)))[0, 0])
    64.0
    """
    global _explicit_blas_limits
    _check_count(n)
    libs = _blas_libs()
    before = [lib.get_num_threads() for lib in libs]
    for lib in libs:
        lib.set_num_threads(n)
    _explicit_blas_limits += 1  # the policy leaves an explicit limit alone (see below)
    try:
        yield n
    finally:
        _explicit_blas_limits -= 1
        for lib, count in zip(libs, before, strict=True):
            lib.set_num_threads(count)


@contextlib.contextmanager
def limit_numba(n: int) -> Iterator[int]:
    """Run the block with numba's pool at ``n`` threads for the calling thread; the previous
    count comes back when the block ends, also when it raises.

    >>> import numba
    >>> from tinytorch import threads
    >>> with threads.limit_numba(1):
    ...     numba.get_num_threads()
    1
    """
    _check_numba(_check_count(n))
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(before)


def _numba_layer() -> str | None:
    """The threading layer numba chose, or None before any parallel kernel has run (numba
    picks it at the first parallel launch; asking earlier raises)."""
    try:
        return numba.threading_layer()
    except ValueError:
        return None


def info() -> dict:
    """What runs on which threads, for a report or a bug: numba's pool (threads for the
    calling thread, its maximum, the layer requested and the layer in use, ``None`` until a
    parallel kernel has run), every BLAS and OpenMP library threadpoolctl finds (name,
    version, threads, file), the policy, and the environment variables that change threading
    (read at process start).

    >>> from tinytorch import threads
    >>> report = threads.info()
    >>> sorted(report["numba"])
    ['layer', 'layer_requested', 'max_threads', 'threads']
    >>> all(sorted(lib) == ['filepath', 'library', 'threads', 'version']
    ...     for lib in report["blas"])
    True
    """
    from threadpoolctl import threadpool_info  # noqa: PLC0415 (rescans: a report, not hot)

    libs = {"blas": [], "openmp": []}
    for pool in threadpool_info():
        if pool.get("user_api") in libs:
            libs[pool["user_api"]].append({
                "library": pool.get("internal_api"), "version": pool.get("version"),
                "threads": pool.get("num_threads"), "filepath": pool.get("filepath")})
    env_names = ("NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "OMP_NUM_THREADS",
                 "OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT",
                 "GOMP_SPINCOUNT", POLICY_ENV_VAR)
    return {
        "numba": {"threads": numba.get_num_threads(),
                  "max_threads": numba.config.NUMBA_NUM_THREADS,
                  "layer_requested": numba.config.THREADING_LAYER,
                  "layer": _numba_layer()},
        "blas": libs["blas"],
        "openmp": libs["openmp"],
        "policy": _policy_or_error(),
        "env": {k: os.environ[k] for k in env_names if k in os.environ},
    }


def _policy_or_error() -> str:
    try:
        return get_policy()
    except ValueError as err:  # a report shows the problem rather than failing on it
        return f"invalid ({err})"


def get_policy() -> str:
    """The thread policy in force: ``set_policy``'s, else ``TINYTORCH_THREADS``, else
    ``"auto"``.

    >>> from tinytorch import threads
    >>> threads.get_policy() in threads.POLICIES
    True
    """
    if _policy is not None:
        return _policy
    raw = os.environ.get(POLICY_ENV_VAR, "auto").strip() or "auto"
    if raw not in POLICIES:
        raise ValueError(f"{POLICY_ENV_VAR}={raw!r} is not a thread policy; "
                         f"policies: {', '.join(POLICIES)}")
    return raw


def set_policy(policy: str, backend: str | None = None) -> None:
    """Choose the thread policy: ``"auto"`` (BLAS on one thread while the jit backend is
    selected, the original BLAS count otherwise) or ``"off"`` (restore the original BLAS
    count and leave both pools alone from now on). With ``backend`` the policy is applied
    to it at once (``apply_backend_policy``).

    >>> from tinytorch import threads
    >>> threads.set_policy("off"); threads.get_policy()
    'off'
    >>> threads.set_policy("auto")
    """
    global _policy
    if not isinstance(policy, str):
        raise TypeError(f"policy must be a string, one of {', '.join(POLICIES)}; "
                        f"got {type(policy).__name__}")
    if policy not in POLICIES:
        raise ValueError(f"unknown thread policy {policy!r}; policies: {', '.join(POLICIES)}")
    _policy = policy
    if policy == "off":
        _restore_blas()
    elif backend is not None:
        apply_backend_policy(backend)


def _restore_blas() -> None:
    global _blas_applied
    if _blas_applied is not None:
        _set_blas(None)
        _blas_applied = None


def apply_backend_policy(backend: str) -> None:
    """Give the cores to the pool that ``backend`` uses (policy ``"auto"``): call when the
    process's backend changes (``tt.set_backend``, and once at import for the default). A
    no-op when nothing changes (about a microsecond: it reads ``TINYTORCH_THREADS``); a
    change costs a few microseconds. Not meant for every kernel call.

    >>> import tinytorch as tt
    >>> from tinytorch import threads
    >>> saved = threads.get_policy(); threads.set_policy("auto")
    >>> threads.apply_backend_policy("jit"); threads.get_num_threads()["blas"]
    1
    >>> threads.apply_backend_policy("numpy"); threads.get_num_threads()["blas"] >= 1
    True
    >>> threads.set_policy(saved, backend=tt.get_backend())  # as the process had it
    """
    global _blas_applied
    if get_policy() != "auto" or _explicit_blas_limits:  # inside limit_blas: the user's count
        return
    if backend in _NUMBA_BACKENDS:
        if _blas_applied != 1:
            _set_blas(1)
            _blas_applied = 1
    else:
        _restore_blas()
