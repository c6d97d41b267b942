"""The matmul ladder of module 10, measured: ``python -m tinytorch.examples.matmul_ladder``.

Every rung of ``kernels/matmul.py``'s ``VARIANTS`` (ijk, ikj, blocked, packed, parallel, the
registered jit launcher) against numpy's BLAS, in one process: each round times one block
of calls per rung, with a pause after each block (numba's OpenMP threads and OpenBLAS's
threads spin for a while after a call and would steal the cores from whoever runs next),
and a rung's ratio to numpy is the median over rounds of numpy's time / its time in that
round. Each rung runs under the thread policy of its backend (``tinytorch.threads``: jit
rungs with BLAS on one thread, numpy with BLAS's own width); ``numpy_1thread`` is numpy on
one thread. docs/matmul.md has the measured table.

>>> rows = ladder(sizes=(16,), rounds=1, rungs=("jit_ikj", "numpy"), pause=0.0)
>>> [(r["rung"], r["n"]) for r in rows]
[('jit_ikj', 16), ('numpy', 16)]
>>> rows[1]["ratio_to_numpy"]
1.0
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from tinytorch import threads
from tinytorch.kernels import matmul as mm

__all__ = ["RUNGS", "ladder", "format_table", "main"]

RUNGS = ("jit_ijk", "jit_ikj", "jit_blocked", "jit_packed", "jit_parallel", "jit", "numpy",
         "numpy_1thread")


def _kernel(rung: str):
    return mm.matmul_forward_numpy if rung == "numpy_1thread" else mm.VARIANTS[rung]


def _seconds(fn, out, a, b, *, budget: float, min_reps: int, warm: bool) -> float:
    """Median time of ``fn(out, a, b)``: ``min_reps`` calls or ``budget`` seconds, after one
    untimed call (waking a sleeping thread can cost a scheduler tick)."""
    if warm:
        fn(out, a, b)
    times, end = [], time.perf_counter() + budget
    while len(times) < min_reps or time.perf_counter() < end:
        start = time.perf_counter()
        fn(out, a, b)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _time_rung(rung, out, a, b, budget):
    slow = rung == "jit_ijk" and a.shape[1] > 256  # seconds per call: one call, no warm-up
    policy = "numpy" if rung.startswith("numpy") else "jit"
    threads.apply_backend_policy(policy)
    try:
        if rung == "numpy_1thread":
            with threads.limit_blas(1):
                return _seconds(_kernel(rung), out, a, b, budget=budget, min_reps=3, warm=True)
        return _seconds(_kernel(rung), out, a, b, budget=budget, min_reps=1 if slow else 3,
                        warm=not slow)
    finally:
        import tinytorch as tt  # noqa: PLC0415

        threads.apply_backend_policy(tt.get_backend())


def ladder(sizes=(256, 512, 1024), *, rounds: int = 7, dtype=np.float32, rungs=RUNGS,
           budget: float = 0.2, pause: float = 0.3, seed: int = 0, progress=None) -> list[dict]:
    """One row per (rung, n): ``median_s``, ``gflops`` and ``ratio_to_numpy`` (the median
    over rounds of numpy's time / the rung's, so 1.0 is as fast as numpy; ``None`` when
    numpy is not among the rungs). Every rung's result is checked against numpy first."""
    unknown = [r for r in rungs if r not in RUNGS]
    if unknown:
        raise ValueError(f"unknown rung(s) {unknown}; choose from {', '.join(RUNGS)}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be an int >= 1, got {rounds!r}")
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        a = rng.standard_normal((1, n, n)).astype(dtype)
        b = rng.standard_normal((1, n, n)).astype(dtype)
        out, expected = np.empty((1, n, n), dtype), a @ b
        tol = 1e-4 * np.sqrt(n) * float(np.abs(expected).max())
        for rung in rungs:  # a wrong kernel is never timed
            out.fill(np.nan)  # a rung that writes nothing must not pass on the last one's out
            _kernel(rung)(out, a, b)
            worst = float(np.abs(out - expected).max())
            if not worst <= tol:
                raise AssertionError(f"{rung} at n={n} differs from numpy by {worst:.3g} "
                                     f"(tolerance {tol:.3g})")
        times: dict[str, list[float]] = {rung: [] for rung in rungs}
        for _ in range(rounds):
            for rung in rungs:
                if progress:
                    progress(f"n={n} {rung}")
                times[rung].append(_time_rung(rung, out, a, b, budget))
                time.sleep(pause)
        for rung in rungs:
            ratio = (statistics.median(np.array(times["numpy"]) / np.array(times[rung]))
                     if "numpy" in times else None)
            median = statistics.median(times[rung])
            rows.append({"rung": rung, "n": n, "dtype": np.dtype(dtype).name,
                         "median_s": median, "gflops": 2 * n ** 3 / median / 1e9,
                         "ratio_to_numpy": None if ratio is None else float(ratio)})
    return rows


def format_table(rows: list[dict]) -> str:
    """A Markdown table: one line per rung, one column per size, "GFLOP/s (x numpy)"."""
    sizes = sorted({r["n"] for r in rows})
    rungs = list(dict.fromkeys(r["rung"] for r in rows))
    cell = {(r["rung"], r["n"]): r for r in rows}
    lines = ["| rung | " + " | ".join(f"n={n}: GFLOP/s (x numpy)" for n in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for rung in rungs:
        parts = []
        for n in sizes:
            r = cell.get((rung, n))
            ratio = "" if r is None or r["ratio_to_numpy"] is None else \
                f" ({r['ratio_to_numpy']:.2f})"
            parts.append("-" if r is None else f"{r['gflops']:.1f}{ratio}")
        lines.append(f"| {rung} | " + " | ".join(parts) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tinytorch.examples.matmul_ladder",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--rungs", nargs="+", default=list(RUNGS), choices=RUNGS)
    args = parser.parse_args(argv)
    rows = ladder(args.sizes, rounds=args.rounds, dtype=np.dtype(args.dtype),
                  rungs=args.rungs)
    print(format_table(rows))
    print(f"\n{args.dtype}, B = 1, n x n @ n x n; median of {args.rounds} rounds; x numpy = "
          "median over rounds of numpy's time / the rung's")


if __name__ == "__main__":
    main()
