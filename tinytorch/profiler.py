"""The op-level profiler of module 08: where a model's time goes, kernel by kernel.

``with tt.profile() as prof:`` times every kernel call that goes through the dispatcher
(``tinytorch.dispatch.call``) and groups the calls by ``(op, backend, shapes, dtypes)``:

- ``calls``, ``total_s`` (every call), ``first_s`` (the first call of the key, kept apart:
  on the jit backend it includes compilation or the load of numba's disk cache, seconds
  against microseconds) and ``median_s`` (the calls after the first: the steady state);
- ``flops`` and ``bytes`` per call from a formula per kernel family (``kernel_cost``), and
  the achieved ``gflops`` (GFLOP/s) and ``gbs`` (GB/s) at the median time: how close a
  kernel gets to the machine's compute or memory roof (module 11's roofline).

Recording is cheap on purpose: the dispatcher reads the clock twice around the kernel only
while a recorder is installed (``dispatch.add_recorder``) and appends one record tuple per
call to the profile's list; grouping, medians and formulas run when ``table()``, ``rows()``
or ``export_chrome_trace()`` ask. ``docs/profiling.md`` has the measured overhead.

>>> import tinytorch as tt
>>> a, b = tt.ones(4, 3), tt.ones(3, 2)
>>> with tt.backend("numpy"), tt.profile() as prof:
...     for _ in range(3):
...         c = a @ b
>>> [(r["op"], r["calls"], r["shapes"], r["flops"]) for r in prof.rows()]
[('matmul_forward', 3, [(1, 4, 2), (1, 4, 3), (1, 3, 2)], 48)]
>>> print(prof.table().splitlines()[0])  # doctest: +NORMALIZE_WHITESPACE
op  backend  dtype  shapes  calls  total ms  first us  median us  GFLOP/s  GB/s
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable

from tinytorch import dispatch
from tinytorch.io import atomic_write_text
from tinytorch.kernel_cost import FLOPS_PER_ELEMENT, kernel_cost

__all__ = ["profile", "Profile", "measure_overhead", "kernel_cost", "FLOPS_PER_ELEMENT",
           "SORT_KEYS"]

SORT_KEYS = {"total": "total_s", "calls": "calls", "median": "median_s", "first": "first_s",
             "flops": "flops", "bytes": "bytes", "op": "op"}


_MEMORY_PROFILES: list = []  # the active profile_memory profiles (they share tracemalloc's peak)


def _fold_peak_into_active() -> None:
    for prof in _MEMORY_PROFILES:
        prof._fold_peak()


class Profile:
    """Kernel calls recorded while the profile is active (``with prof:``); build one with
    ``tt.profile()``. Entering the same profile again inside its block is allowed (it
    records once); two different profiles that nest both record every call. The timer is
    removed on exit, also when the block raises.

    >>> import tinytorch as tt
    >>> prof = tt.profile()
    >>> with prof, tt.backend("numpy"):
    ...     _ = tt.ones(2, 2) + 1
    >>> with prof:  # a second block adds to the same records
    ...     with tt.backend("numpy"):
    ...         _ = tt.ones(2, 2) + 1
    >>> [(r["op"], r["calls"]) for r in prof.rows()]
    [('add_forward', 2)]
    """

    def __init__(self, *, record_shapes: bool = True, profile_memory: bool = False) -> None:
        for name, value in (("record_shapes", record_shapes),
                            ("profile_memory", profile_memory)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, got {value!r}")
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        # One record per kernel call, built by the dispatcher (dispatch.add_recorder):
        # (op, backend, ((shape, dtype) per argument) or None, start in perf_counter
        # seconds, duration). About 0.5 KiB per call with shapes; nothing is grouped or
        # hashed until asked.
        self._records: list[tuple] = []
        # profile_memory: bytes traced by tracemalloc right after each call, and the peak
        self._traced: list[int] = []
        self._traced_start = 0
        self._block_starts: dict[int, int] = {}  # call index -> bytes traced at block start
        self._peak = 0
        self._started_tracing = False
        self._append = self._records.append if not profile_memory else self._append_traced
        self._depth = 0
        self._origin = time.perf_counter()  # time zero of the chrome trace

    def _fold_peak(self) -> None:
        self._peak = max(self._peak, tracemalloc.get_traced_memory()[1] - self._traced_start)

    def _append_traced(self, record: tuple) -> None:
        self._records.append(record)
        current, peak = tracemalloc.get_traced_memory()  # peak: since the previous call
        self._traced.append((current, peak))
        # fold the interval's peak into the block's before resetting it for the next call
        self._peak = max(self._peak, peak - self._traced_start)
        tracemalloc.reset_peak()

    def __enter__(self) -> Profile:
        if self._depth == 0:
            if self.profile_memory:
                # numpy reports its buffers to tracemalloc, so it sees every array a step
                # allocates; it slows every allocation down, which is why it is opt-in
                self._started_tracing = not tracemalloc.is_tracing()
                if self._started_tracing:
                    tracemalloc.start()
                else:  # an enclosing memory profile's interval peak: fold it before resetting
                    _fold_peak_into_active()
                tracemalloc.reset_peak()
                self._traced_start = tracemalloc.get_traced_memory()[0]
                self._block_starts[len(self._records)] = self._traced_start
            dispatch.add_recorder(self._append, shapes=self.record_shapes)
            if self.profile_memory:
                _MEMORY_PROFILES.append(self)
        self._depth += 1
        return self

    def __exit__(self, *exc) -> bool:
        self._depth -= 1
        if self._depth == 0:
            dispatch.remove_recorder(self._append)
            if self.profile_memory:
                self._fold_peak()
                if self in _MEMORY_PROFILES:
                    _MEMORY_PROFILES.remove(self)
                if self._started_tracing:
                    tracemalloc.stop()
        return False

    @property
    def peak_bytes(self) -> int | None:
        """With ``profile_memory=True``: the most memory (numpy buffers and Python objects,
        as tracemalloc counts them) live at once in the profiled blocks, above what was
        live when each block began; ``None`` otherwise."""
        return self._peak if self.profile_memory else None

    @property
    def records(self) -> list[tuple]:
        """Every call in order: ``(op, backend, ((shape, dtype), ...), start, seconds)``."""
        return list(self._records)

    def __len__(self) -> int:
        """The number of kernel calls recorded."""
        return len(self._records)

    @property
    def active(self) -> bool:
        """True inside the profile's ``with`` block."""
        return self._depth > 0

    def rows(self, sort_by: str = "total") -> list[dict]:
        """One dict per ``(op, backend, shapes, dtypes)``, largest ``sort_by`` first (``op``
        sorts by name): ``op``, ``backend``, ``shapes`` and ``dtypes`` (per argument,
        outputs first; ``None`` for a scalar), ``calls``, ``total_s``, ``first_s``,
        ``median_s`` (of the calls after the first; the first when there is one call),
        ``flops`` and ``bytes`` per call, ``gflops`` and ``gbs`` at the median time.

        >>> import tinytorch as tt
        >>> with tt.backend("numpy"), tt.profile() as prof:
        ...     _ = tt.ones(3) * 2
        >>> row = prof.rows()[0]
        >>> row["op"], row["backend"], row["calls"], row["flops"], row["bytes"]
        ('mul_forward', 'numpy', 1, 3, 36)
        """
        field = _sort_field(sort_by)
        groups: dict[tuple, list[int]] = {}  # (op, backend, key) -> indices of its calls
        for i, (op, backend, key, _, _) in enumerate(self._records):
            group = (op, backend, key if self.record_shapes else None)
            calls = groups.get(group)
            if calls is None:
                groups[group] = [i]
            else:
                calls.append(i)
        allocated = self._allocated() if self.profile_memory else None
        rows = []
        for (op, backend, key), calls in groups.items():
            times = [self._records[i][4] for i in calls]
            median = statistics.median(times[1:]) if len(times) > 1 else times[0]
            rate = 1e-9 / median if median > 0 else 0.0
            row = {"op": op, "backend": backend, "shapes": None, "dtypes": None,
                   "calls": len(times), "total_s": math.fsum(times), "first_s": times[0],
                   "median_s": median, "flops": None, "bytes": None, "gflops": None,
                   "gbs": None, "alloc_bytes": None}
            if key is not None:
                shapes = [s for s, _ in key]
                dtypes = [d for _, d in key]
                flops, nbytes = kernel_cost(op, shapes, dtypes)
                row.update(shapes=shapes, dtypes=[str(d) if d is not None else None
                                                  for d in dtypes],
                           flops=flops, bytes=nbytes, gflops=flops * rate, gbs=nbytes * rate)
            if allocated is not None:
                steady = [allocated[i] for i in calls[1:]] or [allocated[calls[0]]]
                row["alloc_bytes"] = int(statistics.median(steady))  # as median_s: warm calls
            rows.append(row)
        rows.sort(key=lambda r: r[field] if r[field] is not None else -1,
                  reverse=field != "op")
        return rows

    def _allocated(self) -> list[int]:
        """Bytes each call's op allocated: how far tracemalloc's count rose above its value
        when the previous kernel ended, at its highest, up to the end of this kernel. An op
        allocates its outputs (and any scratch) just before its kernel runs, so this counts
        them, scratch freed before the kernel ends included; memory freed *before* the
        allocation in the same interval (a tensor dropped by the caller) offsets it."""
        previous, out = 0, []
        for i, (current, peak) in enumerate(self._traced):
            previous = self._block_starts.get(i, previous)
            out.append(max(0, peak - previous))
            previous = current
        return out

    def table(self, sort_by: str = "total", limit: int | None = None) -> str:
        """The rows as an aligned text table, ready to print, with a total line; ``limit``
        keeps the first rows after sorting.

        >>> import tinytorch as tt
        >>> with tt.backend("numpy"), tt.profile() as prof:
        ...     _ = tt.ones(3) + tt.ones(3)
        >>> "add_forward" in prof.table(limit=1)
        True
        """
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int):
                raise TypeError(f"limit must be an int or None, got {type(limit).__name__}")
            if limit < 0:
                raise ValueError(f"limit must be >= 0, got {limit}; None shows every row")
        rows = self.rows(sort_by)
        shown = rows if limit is None else rows[:limit]
        memory = self.profile_memory
        header = (f"{'op':24s} {'backend':7s} {'dtype':8s} {'shapes':34s} {'calls':>6s} "
                  f"{'total ms':>9s} {'first us':>9s} {'median us':>10s} {'GFLOP/s':>8s} "
                  f"{'GB/s':>7s}" + (f" {'alloc KiB':>10s}" if memory else ""))
        lines = [header, "-" * len(header)]
        for r in shown:
            if r["shapes"] is None:  # record_shapes=False
                shapes, dtype, gflops, gbs = "-", "-", f"{'-':>8s}", f"{'-':>7s}"
            else:
                shapes = " ".join("x".join(map(str, s)) or "()" for s in r["shapes"]
                                  if s is not None)
                dtype, gflops, gbs = (str(r["dtypes"][0]), f"{r['gflops']:8.2f}",
                                      f"{r['gbs']:7.2f}")
            if len(shapes) > 34:
                shapes = shapes[:31] + "..."
            lines.append(f"{r['op']:24s} {r['backend']:7s} {dtype:8s} "
                         f"{shapes:34s} {r['calls']:6d} {r['total_s'] * 1e3:9.3f} "
                         f"{r['first_s'] * 1e6:9.1f} {r['median_s'] * 1e6:10.2f} "
                         f"{gflops} {gbs}"
                         + (f" {r['alloc_bytes'] / 1024:10.1f}" if memory else ""))
        lines.append("-" * len(header))
        total = math.fsum(r["total_s"] for r in rows)
        first = math.fsum(r["first_s"] for r in rows)
        calls = sum(r["calls"] for r in rows)
        hidden = f", {len(rows) - len(shown)} more rows not shown" if len(shown) < len(rows) \
            else ""
        lines.append(f"{calls} kernel calls in {len(rows)} rows: {total * 1e3:.3f} ms in "
                     f"kernels, of which {first * 1e3:.3f} ms in first calls (compilation "
                     f"or cache loads){hidden}")
        if memory:
            lines.append(f"peak memory above the start: {self._peak / 2**20:.2f} MiB "
                         "(tracemalloc: numpy buffers and Python objects); alloc: bytes "
                         "allocated per call, between the previous kernel and this one")
        return "\n".join(lines)

    def export_chrome_trace(self, path) -> None:
        """Write the calls as a Chrome trace (the Trace Event format that chrome://tracing
        and https://ui.perfetto.dev open): one complete event (``"ph": "X"``) per kernel
        call, ``ts`` and ``dur`` in microseconds from the profile's creation, ``name`` the
        op, ``args`` the backend, shapes and dtypes. Written atomically (a reader sees the
        old file or the new one). Calls are not tagged by thread: every event shares one
        ``tid``, which is right for the single-threaded training loops of this project.

        >>> import json, os, tempfile, tinytorch as tt
        >>> with tt.backend("numpy"), tt.profile() as prof:
        ...     _ = tt.ones(2) + 1
        >>> path = os.path.join(tempfile.mkdtemp(), "trace.json")
        >>> prof.export_chrome_trace(path)
        >>> [e["name"] for e in json.load(open(path))["traceEvents"]]
        ['add_forward']
        """
        pid, origin = os.getpid(), self._origin
        events = []
        for op, backend, key, start, seconds in self._records:
            args = {"backend": backend}
            if key is not None and self.record_shapes:
                args["shapes"] = [list(s) if s is not None else None for s, _ in key]
                args["dtypes"] = [str(d) if d is not None else None for _, d in key]
            events.append({"name": op, "cat": "kernel", "ph": "X", "pid": pid, "tid": 0,
                           "ts": round((start - origin) * 1e6, 3),
                           "dur": round(seconds * 1e6, 3), "args": args})
        trace = {"traceEvents": events, "displayTimeUnit": "ms"}
        atomic_write_text(path, json.dumps(trace))


def _sort_field(sort_by) -> str:
    if not isinstance(sort_by, str):
        raise TypeError(f"sort_by must be a string, got {type(sort_by).__name__}")
    field = SORT_KEYS.get(sort_by)
    if field is None:
        raise ValueError(f"unknown sort_by {sort_by!r}; choose one of "
                         f"{', '.join(SORT_KEYS)}")
    return field


def profile(*, record_shapes: bool = True, profile_memory: bool = False) -> Profile:
    """A new, inactive ``Profile``: ``with tt.profile() as prof:`` records every kernel
    call in the block; ``print(prof.table())`` shows where the time went.

    ``record_shapes=False`` groups calls by op and backend only, without FLOPs or bytes:
    reading every operand's shape is most of the profiler's cost per call (docs/profiling.md
    has the measured overhead of each mode). ``profile_memory=True`` adds, through
    tracemalloc, the bytes each op allocates and the peak memory of the block
    (``prof.peak_bytes``); it slows every allocation down while it runs.

    >>> import tinytorch as tt
    >>> with tt.profile() as prof:
    ...     y = (tt.ones(8, 4) @ tt.ones(4, 2)).relu().sum()
    >>> {"matmul_forward", "relu_forward", "sum_forward"} <= {r["op"] for r in prof.rows()}
    True
    """
    return Profile(record_shapes=record_shapes, profile_memory=profile_memory)


def measure_overhead(step: Callable[[], object], *, rounds: int = 20, steps: int = 20,
                     warmup: int = 3, record_shapes: bool = True) -> dict:
    """What profiling costs: run ``step()`` in ``rounds`` pairs of blocks of ``steps`` calls,
    one block plain and one under a profile, in alternating order (so a slow phase of a
    shared machine hits both), and compare the median step times. Returns ``plain_s`` and
    ``profiled_s`` (median seconds per step), ``overhead`` (the median over rounds of
    profiled / plain - 1, paired within a round) and ``calls_per_step``. ``record_shapes``
    is passed to the profile.

    >>> import tinytorch as tt
    >>> x = tt.ones(8, 8)
    >>> r = measure_overhead(lambda: (x @ x).relu(), rounds=3, steps=5)
    >>> r["calls_per_step"], r["plain_s"] > 0
    (2.0, True)
    """
    for name, value, low in (("rounds", rounds, 1), ("steps", steps, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    clock = time.perf_counter

    def block() -> float:
        times = []
        for _ in range(steps):
            start = clock()
            step()
            times.append(clock() - start)
        return statistics.median(times)

    for _ in range(warmup):
        step()
    plain, profiled, ratios = [], [], []
    prof = Profile(record_shapes=record_shapes)
    for i in range(rounds):
        if i % 2:  # alternate which block goes first
            with prof:
                p = block()
            q = block()
        else:
            q = block()
            with prof:
                p = block()
        plain.append(q)
        profiled.append(p)
        ratios.append(p / q)
    return {"plain_s": statistics.median(plain), "profiled_s": statistics.median(profiled),
            "overhead": statistics.median(ratios) - 1.0,
            "calls_per_step": len(prof) / (rounds * steps)}
