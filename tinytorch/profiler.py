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
while a timer is installed (``dispatch.add_timer``), and the profiler's timer appends one
tuple per call; grouping, medians and formulas run when ``table()``, ``rows()`` or
``export_chrome_trace()`` ask. ``docs/profiling.md`` has the measured overhead.

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
import operator
import os
import statistics
import time
from collections.abc import Callable

from tinytorch import dispatch
from tinytorch.io import atomic_write_text

__all__ = ["profile", "Profile", "kernel_cost", "FLOPS_PER_ELEMENT", "SORT_KEYS"]

# FLOPs per element for the kernels that walk their operands once (elementwise, reduce,
# activation, loss, optim, pool, norm, transforms): a small constant per op, times the
# element count of the largest array argument. That is the output for elementwise ops, but
# the *input* for a reduction (``sum`` of ``(R, C)`` adds R*C numbers into R outputs) and
# the input plane for pooling (a window slides over every input once when stride = kernel):
# the count of elements the kernel actually works through. Transcendentals (exp, log, erf,
# tanh) count as one FLOP, as most profilers count them; copies count zero.
FLOPS_PER_ELEMENT: dict[str, int] = {
    # elementwise forward
    "add_forward": 1, "sub_forward": 1, "mul_forward": 1, "div_forward": 1, "neg_forward": 1,
    "abs_forward": 1, "pow_forward": 1, "exp_forward": 1, "log_forward": 1, "sqrt_forward": 1,
    "relu_forward": 1, "sigmoid_forward": 3, "tanh_forward": 1, "clamp_forward": 2,
    "where_forward": 1, "copy_forward": 0, "eq_forward": 1, "ne_forward": 1, "lt_forward": 1,
    "le_forward": 1, "gt_forward": 1, "ge_forward": 1,
    # elementwise backward (both gradients of a binary op)
    "mul_backward": 2, "div_backward": 4, "pow_backward": 6, "exp_backward": 1,
    "log_backward": 1, "sqrt_backward": 2, "relu_backward": 1, "abs_backward": 1,
    "sigmoid_backward": 3, "tanh_backward": 3, "clamp_backward": 2,
    # reductions (comparisons count as FLOPs)
    "sum_forward": 1, "mean_forward": 1, "max_forward": 1, "min_forward": 1,
    "max_backward": 1, "min_backward": 1, "amax_backward": 2, "amin_backward": 2,
    # activations (kernels/activation.py: GELU 20-30 FLOPs with its erf or tanh)
    "gelu_forward": 20, "gelu_backward": 30, "leaky_relu_forward": 1,
    "leaky_relu_backward": 2, "softmax_forward": 4, "softmax_backward": 4,
    "log_softmax_forward": 4, "log_softmax_backward": 3,
    # losses (kernels/loss.py: cross-entropy about 3 NC plus NC exponentials)
    "cross_entropy_forward": 4, "cross_entropy_backward": 4, "nll_forward": 1,
    "nll_backward": 1, "mse_forward": 2, "mse_backward": 3, "bce_with_logits_forward": 8,
    "bce_with_logits_backward": 6,
    # optimisers, per parameter element (kernels/optim.py: SGD at most 7, Adam about 15)
    "sgd_step": 7, "adam_step": 15,
    # pooling and normalisation (kernels/pool.py, kernels/norm.py)
    "max_pool2d_forward": 1, "max_pool2d_backward": 1, "avg_pool2d_forward": 1,
    "avg_pool2d_backward": 1, "adaptive_avg_pool2d_forward": 1,
    "adaptive_avg_pool2d_backward": 1, "batch_norm_forward": 6, "batch_norm_backward": 9,
    # data transforms (kernels/transforms.py)
    "to_dtype_forward": 1, "normalize_forward": 2, "crop_forward": 0, "hflip_forward": 0,
}

SORT_KEYS = {"total": "total_s", "calls": "calls", "median": "median_s", "first": "first_s",
             "flops": "flops", "bytes": "bytes", "op": "op"}


def _numel(shape) -> int:
    return math.prod(shape) if shape is not None else 0


def kernel_cost(op: str, shapes, dtypes) -> tuple[int, int]:
    """``(flops, bytes)`` of one call of kernel ``op`` on arrays of ``shapes`` and
    ``dtypes`` (in argument order, outputs first; ``None`` for an argument that is not an
    array). Bytes: the sum of the arrays' ``nbytes``, each read or written once (a lower
    bound; a broadcast operand counts at its broadcast size). FLOPs: a multiply-add counts
    two; matmul, linear and conv2d from their shapes, the rest ``FLOPS_PER_ELEMENT[op]``
    (1 for an op it lacks) times the largest array's element count.

    >>> import numpy as np
    >>> f32 = np.dtype("float32")
    >>> kernel_cost("matmul_forward", [(1, 32, 10), (1, 32, 128), (1, 128, 10)], [f32] * 3)
    (81920, 22784)
    >>> kernel_cost("linear_forward", [(32, 128), (32, 64), (128, 64), (128,)], [f32] * 4)[0]
    528384
    """
    nbytes = sum(_numel(s) * d.itemsize for s, d in zip(shapes, dtypes, strict=True)
                 if s is not None and d is not None)
    if op == "matmul_forward":  # out (B, M, N), a (B, M, K)
        (batch, m, n), k = shapes[0], shapes[1][2]
        return 2 * batch * m * n * k, nbytes
    if op == "linear_forward":  # out (M, N), x (M, K): products plus the bias add
        (m, n), k = shapes[0], shapes[1][1]
        return 2 * m * n * k + m * n, nbytes
    if op == "linear_backward":  # grad_x (M, K) or (0, 0), grad_w (N, K), grad_b, g (M, N)
        (m, n), k = shapes[3], shapes[1][1]
        products = 2 * m * n * k * (2 if _numel(shapes[0]) else 1)  # grad_w, then grad_x
        return products + m * n, nbytes
    if op == "conv2d_forward":  # out (N, C_out, OH, OW), w (C_out, C_g, KH, KW)
        per_output = 2 * _numel(shapes[2][1:])
        return _numel(shapes[0]) * (per_output + 1), nbytes  # + 1: the bias
    if op == "conv2d_backward":  # unneeded gradients arrive as empty placeholders
        outputs, per_output = _numel(shapes[3]), 2 * _numel(shapes[5][1:])
        flops = sum(outputs * per_output for s in shapes[:2] if _numel(s))
        return flops + (outputs if _numel(shapes[2]) else 0), nbytes
    elements = max((_numel(s) for s in shapes if s is not None), default=0)
    return FLOPS_PER_ELEMENT.get(op, 1) * elements, nbytes


_SHAPE_DTYPE = operator.attrgetter("shape", "dtype")
# Kernels called with positional scalars after their arrays: how many arrays lead. Slicing
# them off is cheaper than the exception a scalar would raise in the attrgetter.
_ARRAY_PREFIX = {"linear_backward": 6}


def _make_timer(keys: list, starts: list, durations: list, interned: dict) -> Callable:
    """The timer ``dispatch`` calls after each kernel: three list appends and one dict
    look-up. ``map`` over an attrgetter is the cheapest key measured; interning the key
    lets the new tuple die at once, so a long profile holds three flat lists, not a tracked
    tuple per call for the garbage collector to walk. The arrays themselves are never kept
    (that would hold every activation of a run alive)."""
    key_append, start_append, duration_append = keys.append, starts.append, durations.append
    clock, key_of, prefix_of, intern = time.perf_counter, _SHAPE_DTYPE, _ARRAY_PREFIX.get, \
        interned.setdefault

    def timer(op, backend, args, seconds):
        n = prefix_of(op)
        try:
            key = (op, backend, tuple(map(key_of, args if n is None else args[:n])))
        except AttributeError:  # a scalar among the arguments: a kernel we do not know
            key = (op, backend, tuple([(getattr(a, "shape", None), getattr(a, "dtype", None))
                                       for a in args]))
        start_append(clock() - seconds)
        duration_append(seconds)
        key_append(intern(key, key))

    return timer


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

    def __init__(self) -> None:
        # One entry per kernel call in three parallel lists: the key (op, backend,
        # ((shape, dtype) per argument)), the start (perf_counter seconds), the duration.
        self._keys: list[tuple] = []
        self._starts: list[float] = []
        self._durations: list[float] = []
        self._timer = _make_timer(self._keys, self._starts, self._durations, {})
        self._depth = 0
        self._origin = time.perf_counter()  # time zero of the chrome trace

    def __enter__(self) -> Profile:
        if self._depth == 0:
            dispatch.add_timer(self._timer)
        self._depth += 1
        return self

    def __exit__(self, *exc) -> bool:
        self._depth -= 1
        if self._depth == 0:
            dispatch.remove_timer(self._timer)
        return False

    @property
    def records(self) -> list[tuple]:
        """Every call in order: ``(op, backend, ((shape, dtype), ...), start, seconds)``."""
        n = min(len(self._keys), len(self._starts), len(self._durations))
        return [(*key, start, seconds) for key, start, seconds
                in zip(self._keys[:n], self._starts[:n], self._durations[:n], strict=True)]

    def __len__(self) -> int:
        """The number of kernel calls recorded."""
        return len(self._keys)

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
        groups: dict[tuple, list[float]] = {}
        for key, seconds in zip(self._keys, self._durations, strict=False):
            times = groups.get(key)
            if times is None:
                groups[key] = [seconds]
            else:
                times.append(seconds)
        rows = []
        for (op, backend, key), times in groups.items():
            shapes = [s for s, _ in key]
            dtypes = [d for _, d in key]
            flops, nbytes = kernel_cost(op, shapes, dtypes)
            median = statistics.median(times[1:]) if len(times) > 1 else times[0]
            rate = 1e-9 / median if median > 0 else 0.0
            rows.append({
                "op": op, "backend": backend, "shapes": shapes,
                "dtypes": [str(d) if d is not None else None for d in dtypes],
                "calls": len(times), "total_s": math.fsum(times), "first_s": times[0],
                "median_s": median, "flops": flops, "bytes": nbytes,
                "gflops": flops * rate, "gbs": nbytes * rate})
        rows.sort(key=lambda r: r[field], reverse=field != "op")
        return rows

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
        header = (f"{'op':24s} {'backend':7s} {'dtype':8s} {'shapes':34s} {'calls':>6s} "
                  f"{'total ms':>9s} {'first us':>9s} {'median us':>10s} {'GFLOP/s':>8s} "
                  f"{'GB/s':>7s}")
        lines = [header, "-" * len(header)]
        for r in shown:
            shapes = " ".join("x".join(map(str, s)) or "()" for s in r["shapes"]
                              if s is not None)
            if len(shapes) > 34:
                shapes = shapes[:31] + "..."
            lines.append(f"{r['op']:24s} {r['backend']:7s} {str(r['dtypes'][0]):8s} "
                         f"{shapes:34s} {r['calls']:6d} {r['total_s'] * 1e3:9.3f} "
                         f"{r['first_s'] * 1e6:9.1f} {r['median_s'] * 1e6:10.2f} "
                         f"{r['gflops']:8.2f} {r['gbs']:7.2f}")
        lines.append("-" * len(header))
        total = math.fsum(r["total_s"] for r in rows)
        first = math.fsum(r["first_s"] for r in rows)
        calls = sum(r["calls"] for r in rows)
        hidden = f", {len(rows) - len(shown)} more rows not shown" if len(shown) < len(rows) \
            else ""
        lines.append(f"{calls} kernel calls in {len(rows)} rows: {total * 1e3:.3f} ms in "
                     f"kernels, of which {first * 1e3:.3f} ms in first calls (compilation "
                     f"or cache loads){hidden}")
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
        events = [{"name": op, "cat": "kernel", "ph": "X", "pid": pid, "tid": 0,
                   "ts": round((start - origin) * 1e6, 3), "dur": round(seconds * 1e6, 3),
                   "args": {"backend": backend,
                            "shapes": [list(s) if s is not None else None for s, _ in key],
                            "dtypes": [str(d) if d is not None else None for _, d in key]}}
                  for op, backend, key, start, seconds in self.records]
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


def profile() -> Profile:
    """A new, inactive ``Profile``: ``with tt.profile() as prof:`` records every kernel
    call in the block; ``print(prof.table())`` shows where the time went.

    >>> import tinytorch as tt
    >>> with tt.profile() as prof:
    ...     y = (tt.ones(8, 4) @ tt.ones(4, 2)).relu().sum()
    >>> {"matmul_forward", "relu_forward", "sum_forward"} <= {r["op"] for r in prof.rows()}
    True
    """
    return Profile()
