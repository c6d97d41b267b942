"""Line-by-line profiles of one kernel (module 08): which line of the loops takes the time.

``profile_lines("matmul_forward")`` runs the naive kernel of an op (any key of the
dispatcher's table that has a naive kernel) under line_profiler's ``LineProfiler`` on small
inputs, and returns a ``LineReport``: the profiler's own text (hits, time and % per line)
and the hot lines, the largest first.

Where the inputs come from: ``tinytorch.profiler_inputs`` (re-exported here) runs a small
*driver* per kernel family on the numpy backend and copies the arguments of the first call
of the wanted kernel, so the arrays and keyword scalars are exactly what the function layer
passes. ``size`` scales the driver's main dimension (``DEFAULT_SIZE``).

Compiled kernels cannot be line-profiled: numba's machine code has no Python lines. For
``backend="jit"`` (and the compiled rungs of a ladder, ``variant="jit_packed"``) the
profile runs in a child process started with ``NUMBA_DISABLE_JIT=1``: numba reads it at
import and ``njit`` then returns the plain Python function, so the jit *source* runs in the
interpreter and can be profiled. The report says so (``JIT_NOTE``): those line times are
the interpreter's, they show where the loops are, not how fast they run compiled.

>>> report = profile_lines("relu_forward", size=4)
>>> report.kernel, report.shapes
('relu_forward_naive', [[1, 16], [1, 16]])
>>> any("for" in line.source for line in report.hot_lines())
True
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import linecache
import math
import os
import re
import signal
import subprocess
import sys
import types

import numpy as np

# The inputs (drivers, the supported ops, size checks, ladders) live in profiler_inputs;
# re-exported here: this module's public API, and the helpers that other code imports.
from tinytorch.profiler_inputs import (  # noqa: F401
    _FAMILIES,
    _MODULE_FAMILY,
    DEFAULT_SIZE,
    FAMILY_OF,
    MAX_SIZE,
    _check_op,
    _check_size,
    _copy_arg,
    _family_of,
    _naive_kernels,
    kernel_inputs,
    supported_ops,
    variants_of,
)

__all__ = ["profile_lines", "supported_ops", "kernel_inputs", "variants_of", "LineReport",
           "LineStat", "DEFAULT_SIZE", "FAMILY_OF", "JIT_NOTE"]

JIT_NOTE = ("jit kernel run as Python with NUMBA_DISABLE_JIT=1: line times are the "
            "interpreter's, not the compiled code's; they show where the loops are, not how "
            "fast they run compiled")

# --- the report --------------------------------------------------------------------------

@dataclasses.dataclass
class LineStat:
    """One profiled line: where, how often, how long (seconds, all hits), and its share of
    the kernel's total time (``percent``, 0-100)."""

    function: str
    file: str
    lineno: int
    hits: int
    time_s: float
    percent: float
    source: str
    calls_profiled: bool = False  # the line calls another profiled function


@dataclasses.dataclass
class LineReport:
    """A line profile of one kernel: what ran (``op``, ``backend``, ``variant``, ``kernel``
    the function's name, ``shapes`` of its arrays), ``total_s`` (the kernel's time under
    the profiler, ``calls`` calls), ``lines`` (every line that ran, in source order),
    ``text`` (line_profiler's own listing), ``numba_disable_jit`` (whether numba's JIT was
    off where the kernel ran) and ``note`` (``JIT_NOTE`` when compiled code ran as Python).

    >>> report = profile_lines("add_forward", size=3)
    >>> report.top(1)[0].percent > 0, report.backend, report.note is None
    (True, 'naive', True)
    """

    op: str
    backend: str
    variant: str | None
    kernel: str
    size: int
    shapes: list
    calls: int
    total_s: float
    lines: list[LineStat]
    text: str
    numba_disable_jit: bool
    note: str | None = None

    def hot_lines(self) -> list[LineStat]:
        """The lines that do the work, slowest first: every line but those that call
        another profiled function (a launcher's call line: its time is the callee's lines,
        listed themselves)."""
        return sorted((s for s in self.lines if not s.calls_profiled),
                      key=lambda s: s.time_s, reverse=True)

    def top(self, k: int = 3) -> list[LineStat]:
        """The ``k`` hottest lines (``hot_lines()[:k]``)."""
        return self.hot_lines()[:k]

    def summary(self, k: int = 3) -> str:
        """A few lines of text: what ran, on what, and the ``k`` hottest lines."""
        shapes = " ".join("x".join(map(str, s)) or "()" for s in self.shapes if s is not None)
        what = self.kernel + (f" (variant {self.variant})" if self.variant else "")
        out = [f"{self.op}: {what}, arrays {shapes}; {self.calls} call(s), "
               f"{self.total_s * 1e3:.3f} ms under the line profiler",
               f"top {k} lines by % of the kernel's time:"]
        for s in self.top(k):
            out.append(f"  {s.percent:5.1f}%  {s.hits:>9,} hits  {s.function}:{s.lineno}  "
                       f"{s.source.strip()}")
        if self.note:
            out.append(f"note: {self.note}")
        return "\n".join(out)

    def format(self) -> str:
        """What ``tinytorch profile --lines`` prints: the note (if any), line_profiler's
        listing, then the summary."""
        parts = [f"note: {self.note}\n"] if self.note else []
        return "\n".join([*parts, self.text.rstrip(), "", self.summary()])

    def to_dict(self) -> dict:
        """Plain JSON-ready data (the child process of the jit path sends this)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LineReport:
        """The inverse of ``to_dict``."""
        data = dict(data)
        data["lines"] = [LineStat(**s) for s in data["lines"]]
        return cls(**data)


# --- profiling ---------------------------------------------------------------------------

def _plain_function(fn):
    """The Python function behind ``fn`` (a numba dispatcher keeps it as ``py_func``)."""
    fn = getattr(fn, "py_func", fn)
    return fn if isinstance(fn, types.FunctionType) else None


def _entries(value) -> list:
    """A value, or the entries of a table of kernels (``_fwd_flat[parallel](...)``: a
    ``(serial, parallel)`` pair or a dict)."""
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, (tuple, list)):
        return list(value)
    return [value]


def _callees(fn, limit: int = 24) -> list[types.FunctionType]:
    """``fn`` and the plain Python functions of the kernels package that it calls, transitively
    (a launcher and its rungs, a kernel and its helpers), so their lines are profiled too.
    In a process without NUMBA_DISABLE_JIT the compiled helpers are dispatchers, not plain
    functions, and are left out: they run as machine code anyway."""
    root = _plain_function(fn)
    package = root.__module__.rsplit(".", 1)[0] + "."  # tinytorch.kernels.: helper files too
    found, todo = [root], [root]
    while todo and len(found) < limit:
        code = todo.pop()
        for name in code.__code__.co_names:
            target = code.__globals__.get(name)
            # a table of kernels (``_fwd_flat[parallel](...)``) counts as its entries
            for t in _entries(target):
                if isinstance(t, types.FunctionType) and t not in found \
                        and t.__module__.startswith(package):
                    found.append(t)
                    todo.append(t)
    return found


def _line_stats(profiler, functions) -> tuple[list[LineStat], float]:
    stats = profiler.get_stats()
    root = functions[0]
    # Names a profiled function is called by: its own, its aliases in the module (a jit
    # twin bound under another name), and, per function, parameters that are called (a
    # helper passed in as an argument, such as a packing routine).
    called = {f.__name__ for f in functions[1:]} | {
        name for name, value in root.__globals__.items()
        if any(v is f for f in functions[1:] for v in _entries(value))}
    arg_names = {(f.__code__.co_filename, f.__name__):
                 set(f.__code__.co_varnames[:f.__code__.co_argcount]) for f in functions}
    rows, root_total = [], 0.0
    for (filename, _, func_name), timings in stats.timings.items():
        names = called | arg_names.get((filename, func_name), set())
        for lineno, hits, t in timings:
            seconds = t * stats.unit
            source = linecache.getline(filename, lineno).rstrip("\n")
            if func_name == root.__name__ and filename == root.__code__.co_filename:
                root_total += seconds
            calls = any(re.search(rf"\b{re.escape(name)}(\[[^]]*\])?\(", source)
                        for name in names)
            rows.append(LineStat(func_name, filename, lineno, hits, seconds, 0.0, source,
                                 calls))
    total = root_total or sum(r.time_s for r in rows) or 1.0
    for r in rows:
        r.percent = 100.0 * r.time_s / total
    rows.sort(key=lambda r: (r.function != root.__name__, r.file, r.lineno))
    return rows, root_total


def _profile_here(op: str, backend: str, variant: str | None, size: int,
                  repeat: int) -> LineReport:
    from line_profiler import LineProfiler  # noqa: PLC0415
    from numba.core import config as numba_config  # noqa: PLC0415

    args, params = kernel_inputs(op, size)
    fn = variants_of(op)[variant] if variant else variants_of(op)[backend]
    functions = _callees(fn)
    profiler = LineProfiler(*functions)
    runner = profiler(functions[0])
    with np.errstate(all="ignore"):  # inf and nan are results here, as in the dispatcher
        for _ in range(repeat):
            runner(*args, **params)
    lines, total = _line_stats(profiler, functions)
    text = io.StringIO()
    profiler.print_stats(stream=text, stripzeros=True)
    disabled = bool(numba_config.DISABLE_JIT)
    compiled = backend == "jit" or variant not in (None, "naive", "numpy")
    return LineReport(op=op, backend=backend, variant=variant, kernel=functions[0].__name__,
                      size=size, shapes=[list(a.shape) if isinstance(a, np.ndarray) else None
                                         for a in args],
                      calls=repeat, total_s=total, lines=lines, text=text.getvalue(),
                      numba_disable_jit=disabled,
                      note=JIT_NOTE if compiled and disabled else None)


def profile_lines(op: str, *, backend: str = "naive", variant: str | None = None,
                  size: int | None = None, repeat: int = 1, timeout: float = 300.0
                  ) -> LineReport:
    """Line-profile the kernel of ``op`` on small inputs (``kernel_inputs``).

    ``backend="naive"`` profiles the naive loops in this process. ``backend="jit"`` (or a
    compiled ``variant`` of the op's ladder, e.g. ``"jit_packed"`` for ``matmul_forward``;
    ``variants_of(op)`` lists them) runs in a child process with ``NUMBA_DISABLE_JIT=1``,
    where the jit source runs as Python: the report's ``note`` says what that means.
    ``repeat`` calls the kernel that many times.

    >>> r = profile_lines("sum_forward", size=4, repeat=2)
    >>> r.calls, r.kernel, r.top(1)[0].hits >= 16
    (2, 'sum_forward_naive', True)
    """
    op = _check_op(op)
    if backend not in ("naive", "jit"):
        raise ValueError(f"backend must be 'naive' or 'jit' for a line profile, got "
                         f"{backend!r}\nhint: numpy kernels are one library call: "
                         "tt.profile() times them")
    size = _check_size(size, op)
    if variant is not None:
        ladder = variants_of(op)
        if variant not in ladder:
            raise ValueError(f"{op} has no variant {variant!r}; its variants: "
                             f"{', '.join(ladder)}")
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"repeat must be an int >= 1, got {repeat!r}")
    from numba.core import config as numba_config  # noqa: PLC0415

    compiled = backend == "jit" or variant not in (None, "naive", "numpy")
    if compiled and not numba_config.DISABLE_JIT:
        return _profile_in_child(op, backend, variant, size, repeat, timeout)
    return _profile_here(op, backend, variant, size, repeat)


def _profile_in_child(op, backend, variant, size, repeat, timeout) -> LineReport:
    """The same profile in ``python -m tinytorch.profiler_lines`` with NUMBA_DISABLE_JIT=1
    (numba reads it once, at import: it cannot be switched on in this process)."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    cmd = [sys.executable, "-m", "tinytorch.profiler_lines", op, "--backend", backend,
           "--size", str(size), "--repeat", str(repeat)]
    if variant:
        cmd += ["--variant", variant]
    cmd += ["--deadline", str(timeout)]  # the child stops itself if this process dies
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                             check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the line profile of {op} in a child process took over "
                           f"{timeout:g} s and was stopped\nhint: lower --size or --repeat"
                           ) from None
    if out.returncode != 0:
        raise RuntimeError(f"the line profile of {op} in a child process with "
                           f"NUMBA_DISABLE_JIT=1 failed (exit {out.returncode}):\n"
                           f"{out.stderr[-2000:]}")
    return LineReport.from_dict(json.loads(out.stdout))


def _child_main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinytorch.profiler_lines",
                                     description="line-profile one kernel; prints JSON")
    parser.add_argument("op")
    parser.add_argument("--backend", default="naive")
    parser.add_argument("--variant")
    parser.add_argument("--size", type=int)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--deadline", type=float, help="seconds before this process stops "
                        "itself (its parent may have been killed)")
    args = parser.parse_args(argv)
    if args.deadline and hasattr(signal, "SIGALRM"):
        signal.alarm(max(1, math.ceil(args.deadline)) + 5)  # after the parent's own timeout
    try:
        report = profile_lines(args.op, backend=args.backend, variant=args.variant,
                               size=args.size, repeat=args.repeat)
    except (TypeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
