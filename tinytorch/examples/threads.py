"""numba's threads against BLAS's threads, measured: a parallel jit matmul (``prange``) and
``np.matmul`` (OpenBLAS), each alone and the two alternating in a loop (what a model on the
jit backend with a numpy loss or metric, or a mixed-backend model, does), under several
thread policies.

``python -m tinytorch.examples.threads [--sizes 256 512] [--rounds 5] [--no-children]``

Policies run in this process, interleaved round by round (A, B, C, A, B, C, ...), medians
over rounds:

* ``default``: both pools at their start-up counts;
* ``blas_1``: BLAS on one thread, numba keeps its threads (``tt.threads.limit_blas(1)``;
  what the ``"auto"`` policy does while the jit backend is selected);
* ``numba_1``: numba on one thread, BLAS keeps its threads (``tt.threads.limit_numba(1)``);
* ``blas_1_around_jit``: BLAS limited only around each jit call (a threadpoolctl call per
  kernel: the per-call cost the library avoids; here to show whether it would help).

Environment variables such as ``OMP_WAIT_POLICY`` are read when a library starts, so those
policies run in child processes (``subprocess`` with a changed environment), one child per
policy per round, interleaved with the in-process rounds; ``default_child`` is the control:
an unchanged environment, in a child. Compare a child's row with ``default_child`` rather
than with the in-process rows.

Each row: ``policy``, ``where`` ("process" or "child"), ``n``, the medians in microseconds
``jit_alone_us``, ``blas_alone_us``, ``pair_us`` (one jit call then one ``np.matmul``, in a
loop), ``jit_in_pair_us``, ``blas_in_pair_us``, then ``slowdown`` (the pair against the sum
of this policy's alone times, median of per-round ratios) and ``vs_default_alone`` (the pair
against the sum of the in-process default's alone times: what the policy costs or saves
against the ideal of no contention and both pools at full width).

>>> rows = contention_table(sizes=(8,), rounds=1, reps=2, settle=0.0, children=())
>>> sorted({r["policy"] for r in rows})
['blas_1', 'blas_1_around_jit', 'default', 'numba_1']
>>> all(r["pair_us"] > 0 and r["slowdown"] > 0 for r in rows)
True
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import tinytorch as tt
from tinytorch import threads
from tinytorch.kernels import matmul as mm

#: In-process policies: name -> (context for the whole measurement, context around each
#: jit call or None).
POLICIES = {
    "default": (contextlib.nullcontext, None),
    "blas_1": (lambda: threads.limit_blas(1), None),
    "numba_1": (lambda: threads.limit_numba(1), None),
    "blas_1_around_jit": (contextlib.nullcontext, lambda: threads.limit_blas(1)),
}

#: Policies that need a fresh process: name -> environment variables added for the child.
#: OMP_WAIT_POLICY=passive: numba's OpenMP workers sleep as soon as a parallel region ends
#: (GNU OpenMP reads it when numba loads it). OPENBLAS_THREAD_TIMEOUT=4: OpenBLAS's workers
#: spin 2**4 cycles instead of about 2**28 before they sleep (read when numpy loads it).
#: NUMBA_THREADING_LAYER=workqueue: numba's own simple pool, whose workers wait on a lock
#: instead of spinning.
ENV_POLICIES = {
    "default_child": {},
    "passive_env": {"OMP_WAIT_POLICY": "passive", "OPENBLAS_THREAD_TIMEOUT": "4"},
    "omp_passive": {"OMP_WAIT_POLICY": "passive"},
    "blas_timeout": {"OPENBLAS_THREAD_TIMEOUT": "4"},
    "workqueue": {"NUMBA_THREADING_LAYER": "workqueue"},
}

_FIELDS = ("jit_alone", "blas_alone", "pair", "jit_in_pair", "blas_in_pair")


def _operands(n: int, dtype=np.float32):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, n, n)).astype(dtype)
    b = rng.standard_normal((1, n, n)).astype(dtype)
    return a, b, np.empty((1, n, n), dtype), np.empty((1, n, n), dtype)


def _median_call(fn, reps: int) -> float:
    fn()  # untimed: wakes the pool (a sleeping worker can cost a scheduler tick)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _measure(n: int, policy: str, reps: int, settle: float) -> dict:
    """One round of one policy at size n: seconds, medians over ``reps`` calls."""
    a, b, out_jit, out_np = _operands(n)
    jit = mm.matmul_forward_jit_parallel
    outer, around_jit = POLICIES[policy]
    result = {}
    with outer():
        # A pause before each block lets the workers of whatever ran before fall asleep, so
        # an "alone" time is not taken next to the other pool's spinning threads.
        time.sleep(settle)
        result["jit_alone"] = _median_call(lambda: jit(out_jit, a, b), reps)
        time.sleep(settle)
        result["blas_alone"] = _median_call(lambda: np.matmul(a, b, out=out_np), reps)
        time.sleep(settle)
        pair, jit_part, blas_part = [], [], []
        for i in range(reps + 1):  # the first pair is untimed, as in _median_call
            t0 = time.perf_counter()
            if around_jit is None:
                jit(out_jit, a, b)
            else:
                with around_jit():
                    jit(out_jit, a, b)
            t1 = time.perf_counter()
            np.matmul(a, b, out=out_np)
            t2 = time.perf_counter()
            if i:
                pair.append(t2 - t0)
                jit_part.append(t1 - t0)
                blas_part.append(t2 - t1)
        result["pair"] = statistics.median(pair)
        result["jit_in_pair"] = statistics.median(jit_part)
        result["blas_in_pair"] = statistics.median(blas_part)
    return result


def _child_round(env_policy: str, sizes, reps: int, settle: float) -> dict:
    """One round in a fresh process with ``ENV_POLICIES[env_policy]`` added: {n: seconds}."""
    env = dict(os.environ, **ENV_POLICIES[env_policy])
    env[threads.POLICY_ENV_VAR] = "off"  # the child measures raw pools, like the parent
    cmd = [sys.executable, "-m", "tinytorch.examples.threads", "--child",
           "--sizes", *map(str, sizes), "--reps", str(reps), "--settle", str(settle)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child process for policy {env_policy!r} failed "
                           f"(exit {done.returncode}):\n{done.stderr[-2000:]}")
    return {int(k): v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def contention_table(sizes=(256, 512), rounds: int = 5, reps: int = 20, settle: float = 0.2,
                     policies=tuple(POLICIES), children=tuple(ENV_POLICIES)) -> list[dict]:
    """Rows of the contention table, one per (policy, n); see the module docstring for the
    fields. ``children`` names the ``ENV_POLICIES`` to run in child processes (``()`` for
    none). The library's own thread policy is switched off while this runs (it would limit
    BLAS under the jit backend) and restored after.

    >>> rows = contention_table(sizes=(8,), rounds=1, reps=2, settle=0.0,
    ...                         policies=["default"], children=())
    >>> sorted(rows[0])  # doctest: +NORMALIZE_WHITESPACE
    ['blas_alone_us', 'blas_in_pair_us', 'jit_alone_us', 'jit_in_pair_us', 'n', 'pair_us',
     'policy', 'slowdown', 'vs_default_alone', 'where']
    """
    sizes = [int(n) for n in sizes]
    if not sizes or any(n < 1 for n in sizes):
        raise ValueError(f"sizes must be positive matrix sizes, got {sizes}")
    if rounds < 1 or reps < 1:
        raise ValueError(f"rounds and reps must be at least 1, got {rounds} and {reps}")
    unknown = [p for p in policies if p not in POLICIES]
    unknown += [p for p in children if p not in ENV_POLICIES]
    if unknown:
        raise ValueError(f"unknown policies {unknown}; in-process: {', '.join(POLICIES)}; "
                         f"child processes: {', '.join(ENV_POLICIES)}")
    policies = list(policies)
    if "default" not in policies:  # vs_default_alone needs it
        policies.insert(0, "default")
    saved_policy = threads.get_policy()
    threads.set_policy("off")
    try:
        for n in sizes:  # compile (or load from the cache) outside the timed rounds
            a, b, out, _ = _operands(n)
            mm.matmul_forward_jit_parallel(out, a, b)
        samples: dict[tuple, list[dict]] = {}
        for _ in range(rounds):
            for n in sizes:
                for policy in policies:
                    samples.setdefault((policy, "process", n), []).append(
                        _measure(n, policy, reps, settle))
            for env_policy in children:
                for n, result in _child_round(env_policy, sizes, reps, settle).items():
                    samples.setdefault((env_policy, "child", n), []).append(result)
    finally:  # the policy back, and applied to the backend in use (not left at full width)
        threads.set_policy(saved_policy, backend=tt.get_backend())
    rows = []
    for (policy, where, n), runs in samples.items():
        base = samples[("default", "process", n)]
        row = {"policy": policy, "where": where, "n": n}
        for field in _FIELDS:
            row[field + "_us"] = statistics.median(r[field] for r in runs) * 1e6
        row["slowdown"] = statistics.median(
            r["pair"] / (r["jit_alone"] + r["blas_alone"]) for r in runs)
        row["vs_default_alone"] = row["pair_us"] / (
            statistics.median(r["jit_alone"] + r["blas_alone"] for r in base) * 1e6)
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows as a Markdown table, times in microseconds.

    >>> print(format_table([{"policy": "default", "where": "process", "n": 8,
    ...     "jit_alone_us": 1.0, "blas_alone_us": 2.0, "pair_us": 6.0, "jit_in_pair_us": 4.0,
    ...     "blas_in_pair_us": 2.0, "slowdown": 2.0, "vs_default_alone": 2.0}]))
    ... # doctest: +NORMALIZE_WHITESPACE
    | policy | where | n | jit alone (us) | BLAS alone (us) | pair (us) | jit in pair (us) |
      BLAS in pair (us) | pair / own alone sum | pair / default alone sum |
    |---|---|---|---|---|---|---|---|---|---|
    | default | process | 8 | 1.0 | 2.0 | 6.0 | 4.0 | 2.0 | 2.00 | 2.00 |
    """
    lines = ["| policy | where | n | jit alone (us) | BLAS alone (us) | pair (us) "
             "| jit in pair (us) | BLAS in pair (us) | pair / own alone sum "
             "| pair / default alone sum |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["n"], r["where"] != "process")):
        times = " | ".join(f"{r[f + '_us']:.1f}" for f in _FIELDS)
        lines.append(f"| {r['policy']} | {r['where']} | {r['n']} | {times} "
                     f"| {r['slowdown']:.2f} | {r['vs_default_alone']:.2f} |")
    return "\n".join(lines)


def _busy_jiffies() -> int | None:
    """CPU time every process on the machine has used, in clock ticks (Linux), else None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(fields) - fields[3] - fields[4]  # all but idle and iowait


def _others_load(busy_before, cpu_before, wall: float) -> float | None:
    """Cores' worth of CPU that other processes used during the run (this process and its
    children subtracted): 0.0 on a quiet machine; on 2 cores, 1.0 means half the machine
    was busy elsewhere and no figure of a 2-thread kernel is clean."""
    busy = _busy_jiffies()
    if busy is None or busy_before is None or wall <= 0:
        return None
    t = os.times()
    ours = (t.user + t.system + t.children_user + t.children_system) - cpu_before
    return max(0.0, (busy - busy_before) / os.sysconf("SC_CLK_TCK") - ours) / wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tinytorch.examples.threads",
        description="numba threads against BLAS threads: a prange matmul and np.matmul "
                    "alone and alternating, per thread policy.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512],
                        help="square matmul sizes n (default 256 512)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--reps", type=int, default=20, help="calls per timed block")
    parser.add_argument("--settle", type=float, default=0.2,
                        help="seconds of pause before each block, so spinning workers sleep")
    parser.add_argument("--no-children", action="store_true",
                        help="skip the policies that need child processes (env variables)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one round of the default policy, for the parent: JSON on stdout
        result = {}
        for n in args.sizes:
            a, b, out, _ = _operands(n)
            mm.matmul_forward_jit_parallel(out, a, b)  # compile or load outside the timing
        for n in args.sizes:
            result[n] = _measure(n, "default", args.reps, args.settle)
        print(json.dumps(result))
        return 0
    busy_before, start = _busy_jiffies(), time.perf_counter()
    t = os.times()
    cpu_before = t.user + t.system + t.children_user + t.children_system
    rows = contention_table(args.sizes, args.rounds, args.reps, args.settle,
                            children=() if args.no_children else tuple(ENV_POLICIES))
    others = _others_load(busy_before, cpu_before, time.perf_counter() - start)
    report = threads.info()
    blas = ", ".join(f"{b['library']} {b['version']} ({b['threads']} threads)"
                     for b in report["blas"]) or "none found"
    print(f"numba {report['numba']['threads']} threads, layer {report['numba']['layer']}; "
          f"BLAS: {blas}; cores: {os.cpu_count()}")
    if others is not None:
        print(f"other processes used {others:.2f} cores on average during the run "
              "(noise: compare rows of one run only)")
    print(format_table(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"others_load": others, "info": report, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
