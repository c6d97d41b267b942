"""What fusion buys, measured: each fused kernel against the unfused path it replaces, on
the shapes of the digits MLP and on a larger one, through the kernels and through the
tensor API a user runs.

``python -m tinytorch.examples.fusion [--rounds 15] [--backend jit] [--quick]``

Pairs (fused against unfused):

- ``linear+relu``: ``linear_act_forward`` (one pass, the ReLU applied in registers) against
  ``linear_forward`` then ``relu_forward``, and against ``matmul_forward``, ``add_forward``
  (the bias) and ``relu_forward``; forward, and forward + backward (``linear_act_backward``
  against ``relu_backward`` then ``linear_backward``).
- ``cross_entropy``: ``cross_entropy_forward`` (log-softmax and NLL in one pass, nothing of
  size ``(N, C)`` written) against ``log_softmax_forward`` then ``nll_forward``; forward, and
  forward + backward.
- ``adam_step``: one pass that reads ``p, g, m, v`` and writes ``p, m, v`` against the same
  update as 13 elementwise kernels (``mul``, ``add``, ``sqrt``, ``div``, ``sub``), each a
  pass over memory.

Method: every pair is first checked against a float64 numpy oracle (both paths; a wrong
kernel never gets a time). Then rounds alternate the two paths (A, B, then B, A), each a
block of back-to-back calls lasting at least ``block_s``; a path's time is the median over
rounds of its per-call time, and the speed-up is the median over rounds of the per-round
ratio (unfused / fused), so a slow phase of a shared machine hits both sides of a ratio.
Bytes are the minimum traffic of each path: every array a kernel reads or writes counted
once per kernel (cache reuse inside one kernel is assumed, none between kernels).

The pairs themselves (buffers, oracles, byte counts) are built in
``tinytorch.examples.fusion_pairs``; this module checks them, times them and prints the table.

>>> rows = fusion_table(shapes="tiny", rounds=2, block_s=1e-4)
>>> sorted({r["kernel"] for r in rows})
['adam_step', 'cross_entropy', 'linear+relu']
>>> all(r["fused_error"] < 1e-3 and r["unfused_error"] < 1e-3 for r in rows)
True
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

import tinytorch as tt

# The pair builders and their constants live in fusion_pairs; re-exported here, where the
# benchmarks (bench/test_bench_fusion.py) and the tests import them from.
from tinytorch.examples.fusion_pairs import (  # noqa: F401
    ADAM_PASSES,
    ADAM_UNFUSED_ARRAYS,
    HYPER,
    IGNORE,
    STEP,
    _adam_oracle,
    _adam_pairs,
    _cross_entropy_pairs,
    _linear_relu_pairs,
    _Pair,
    _unfused_adam,
)

__all__ = ["fusion_table", "format_table", "SHAPES", "main"]

# (M, K, N) of a linear layer, (N, C) of a classifier head, Adam's parameter sizes.
SHAPES = {
    "digits": {"linear": (32, 64, 128), "ce": (32, 10), "adam": (128 * 64, 128, 10 * 128, 10)},
    "large": {"linear": (4096, 64, 128), "ce": (4096, 1000), "adam": (1 << 20,)},
    "tiny": {"linear": (5, 3, 4), "ce": (3, 4), "adam": (7, 3)},  # tests and doctests
}


def _checked_call(pair: _Pair, path: Callable[[], object]) -> list:
    """The outputs of one call of ``path``, made so that a path which writes nothing cannot
    pass: the two paths of a pair share output buffers, so a first call fills them, NaN
    overwrites every float output, and a second call must write them all again. An
    optimiser step updates its state in place, so it is checked on its first call, on
    fresh copies of its own (see ``_adam_pairs``)."""
    if pair.direction == "step":
        return path()
    for arr in path():
        if isinstance(arr, np.ndarray) and arr.dtype.kind == "f":
            arr.fill(np.nan)
    return path()


def _error(outputs, oracle) -> float:
    """Largest relative-to-scale difference between a path's outputs and the oracle."""
    worst = 0.0
    for got, want in zip(outputs, oracle, strict=True):
        got = np.asarray(getattr(got, "_data", got), np.float64)
        scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
        error = float(np.abs(got - want).max()) / scale if want.size else 0.0
        if error != error:  # NaN: an output the path never wrote (max() would drop it)
            return math.inf
        worst = max(worst, error)
    return worst

# --- timing --------------------------------------------------------------------------------

def _block(fn: Callable, reps: int) -> float:
    """Seconds per call of ``reps`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def _reps(fn: Callable, block_s: float) -> int:
    """Calls per block so that a block lasts about ``block_s``."""
    per = _block(fn, 1)
    reps = 1
    while per * reps < block_s and reps < 1_000_000:
        reps *= 2
    return reps


def _time_pair(fused: Callable, unfused: Callable, rounds: int, block_s: float):
    for fn in (fused, unfused):  # compile (or load from numba's cache) and warm the caches
        fn()
        fn()
    reps = (_reps(fused, block_s), _reps(unfused, block_s))
    times_f, times_u, ratios = [], [], []
    enabled = gc.isenabled()
    gc.disable()  # a collection inside one block would land on one side of the ratio only
    try:
        for r in range(rounds):
            if r % 2 == 0:  # A, B then B, A: drift of the machine cancels in the ratio
                tf, tu = _block(fused, reps[0]), _block(unfused, reps[1])
            else:
                tu, tf = _block(unfused, reps[1]), _block(fused, reps[0])
            times_f.append(tf)
            times_u.append(tu)
            ratios.append(tu / tf)
    finally:
        if enabled:
            gc.enable()
    return statistics.median(times_f), statistics.median(times_u), statistics.median(ratios)


def fusion_table(shapes="both", *, backend: str = "jit", rounds: int = 15,
                 block_s: float = 0.02, dtype=np.float32, kernels=None) -> list[dict]:
    """Measure every (fused, unfused) pair; one dict per pair with ``kernel``, ``level``
    (``"kernels"`` or ``"tensor API"``), ``direction``, ``shape``, ``fused`` and ``unfused``
    (what runs), ``fused_us`` and ``unfused_us`` (median microseconds per call),
    ``speedup`` (median of per-round unfused / fused), ``fused_bytes`` and
    ``unfused_bytes`` (minimum traffic), ``fused_error`` and ``unfused_error`` (largest
    difference from the float64 oracle, relative to the oracle's scale).

    ``shapes``: ``"digits"``, ``"large"``, ``"both"`` or ``"tiny"``; ``kernels``: a subset of
    ``{"linear+relu", "cross_entropy", "adam_step"}`` (default: all).

    >>> rows = fusion_table("tiny", rounds=1, block_s=0, kernels={"linear+relu"})
    >>> [r["unfused"] for r in rows][:3]
    ['linear, relu', 'matmul, add, relu', 'linear, relu fwd+bwd']
    """
    names = ("digits", "large") if shapes == "both" else (shapes,)
    for name in names:
        if name not in SHAPES:
            raise ValueError(f"fusion_table(): shapes={shapes!r} is not one of digits, large, "
                             "both, tiny")
    wanted = {"linear+relu", "cross_entropy", "adam_step"} if kernels is None else set(kernels)
    unknown = wanted - {"linear+relu", "cross_entropy", "adam_step"}
    if unknown:
        raise ValueError(f"fusion_table(): unknown kernels {sorted(unknown)}; choose from "
                         "linear+relu, cross_entropy, adam_step")
    tol = 1e-4 if np.dtype(dtype) == np.float32 else 1e-10
    rows = []
    # kernel-level rows call kernels directly: the block gives them the backend's thread
    # policy (tinytorch.threads), as the tensor-API rows get it from their own blocks
    with tt.backend(backend):
        for name in names:
            rows += _measure_shape(name, wanted, backend, dtype, tol, rounds, block_s)
    return rows


def _measure_shape(name, wanted, backend, dtype, tol, rounds, block_s) -> list[dict]:
    """Every pair of the wanted kernels at the shapes ``SHAPES[name]``: checked, then timed."""
    rows = []
    spec = SHAPES[name]
    pairs = []
    if "linear+relu" in wanted:
        pairs += _linear_relu_pairs(*spec["linear"], backend, dtype)
    if "cross_entropy" in wanted:
        pairs += _cross_entropy_pairs(*spec["ce"], backend, dtype)
    if "adam_step" in wanted:
        pairs += _adam_pairs(spec["adam"], backend, dtype)
    for pair in pairs:
        errors = (_error(_checked_call(pair, pair.fused), pair.oracle),
                  _error(_checked_call(pair, pair.unfused), pair.oracle))
        if not max(errors) <= tol:  # NaN (an output never written) fails too
            raise AssertionError(f"{pair.kernel} {pair.level} {pair.direction} on "
                                 f"{pair.shape}: fused error {errors[0]:.2e}, unfused "
                                 f"{errors[1]:.2e} against the float64 oracle (> {tol})")
        tf, tu, speedup = _time_pair(pair.fused, pair.unfused, rounds, block_s)
        rows.append({"kernel": pair.kernel, "level": pair.level,
                     "direction": pair.direction, "shape": pair.shape,
                     "fused": pair.fused_name, "unfused": pair.unfused_name,
                     "fused_us": tf * 1e6, "unfused_us": tu * 1e6, "speedup": speedup,
                     "fused_bytes": pair.fused_bytes, "unfused_bytes": pair.unfused_bytes,
                     "fused_error": errors[0], "unfused_error": errors[1]})
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows as a markdown table.

    >>> format_table([]).splitlines()[0].split(" | ")[:3]
    ['| kernel', 'level', 'direction']
    """
    head = ("| kernel | level | direction | shape | fused | unfused | fused (us) | "
            "unfused (us) | speed-up | fused bytes | unfused bytes |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(f"| {r['kernel']} | {r['level']} | {r['direction']} | {r['shape']} | "
                     f"{r['fused']} | {r['unfused']} | {r['fused_us']:.1f} | "
                     f"{r['unfused_us']:.1f} | {r['speedup']:.2f}x | {r['fused_bytes']:,} | "
                     f"{r['unfused_bytes']:,} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinytorch.examples.fusion",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per pair")
    parser.add_argument("--block", type=float, default=0.02,
                        help="seconds per block of back-to-back calls")
    parser.add_argument("--backend", default="jit", help="backend of every kernel (jit)")
    parser.add_argument("--shapes", default="both", choices=["digits", "large", "both"])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, 3 rounds")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    shapes, rounds = ("tiny", 3) if args.quick else (args.shapes, args.rounds)
    start = time.perf_counter()
    rows = fusion_table(shapes, backend=args.backend, rounds=rounds, block_s=args.block)
    print(f"float32, backend {args.backend}, {rounds} interleaved rounds per pair, medians "
          f"(speed-up: median of per-round unfused/fused)")
    print(format_table(rows))
    print(f"\n{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
