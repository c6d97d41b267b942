"""Line-by-line profiles of one kernel (module 08): which line of the loops takes the time.

``profile_lines("matmul_forward")`` runs the naive kernel of an op (any key of the
dispatcher's table that has a naive kernel) under line_profiler's ``LineProfiler`` on small
inputs, and returns a ``LineReport``: the profiler's own text (hits, time and % per line)
and the hot lines, the largest first.

Where the inputs come from: each kernel family has a small *driver*, a few lines of
tinytorch code (``x.relu().sum().backward()``, a conv layer's forward and backward, an
optimiser step, ...) run once on the numpy backend with a dispatcher hook that copies the
arguments of the first call of the wanted kernel. So the arrays and keyword scalars are
exactly what the function layer passes (shapes, dtypes, the 2-D views of the elementwise
kernels, the placeholders of unneeded gradients), and a new kernel only needs a line in
its family's driver. ``size`` scales the driver's main dimension (``DEFAULT_SIZE``).

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
import contextlib
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
from collections.abc import Callable

import numpy as np

__all__ = ["profile_lines", "supported_ops", "kernel_inputs", "variants_of", "LineReport",
           "LineStat", "DEFAULT_SIZE", "FAMILY_OF", "JIT_NOTE"]

JIT_NOTE = ("jit kernel run as Python with NUMBA_DISABLE_JIT=1: line times are the "
            "interpreter's, not the compiled code's; they show where the loops are, not how "
            "fast they run compiled")


# --- drivers: a little tinytorch code per family that calls its kernels ------------------
#
# Each takes the size n and a seeded numpy Generator and runs on the numpy backend (fast,
# and present in every process, NUMBA_DISABLE_JIT or not). The capture hook records the
# first call of the wanted kernel, so a driver may call many kernels.

def _param(tt, rng, *shape, positive: bool = False):
    data = rng.standard_normal(shape)
    if positive:
        data = np.abs(data) + 0.5  # log, sqrt and pow need positive operands
    return tt.tensor(data.astype(np.float32), requires_grad=True)


def _drive_elementwise(tt, n, rng):
    x = _param(tt, rng, n, n)
    p = _param(tt, rng, n, n, positive=True)
    for y in (x.neg(), x.abs(), x.exp(), p.log(), p.sqrt(), x.relu(), x.sigmoid(),
              x.tanh(), x.clamp(-0.5, 0.5)):
        y.sum().backward()
    for y in (x + p, x - p, x * p, x / p, p ** x):
        y.sum().backward()
    for compare in (tt.eq, tt.ne, tt.lt, tt.le, tt.gt, tt.ge):
        compare(x, p)
    tt.where(x > 0, x, p).sum().backward()
    x.transpose(0, 1).contiguous()  # a strided view made contiguous: the copy kernel


def _drive_reduce(tt, n, rng):
    x = _param(tt, rng, n, n)
    x.sum(dim=1).sum().backward()
    x.mean(dim=1).sum().backward()
    x.max(dim=1)[0].sum().backward()
    x.min(dim=1)[0].sum().backward()
    x.amax(dim=1).sum().backward()
    x.amin(dim=1).sum().backward()


def _drive_matmul(tt, n, rng):
    from tinytorch.nn import functional as F  # noqa: PLC0415

    a, b = _param(tt, rng, n, n), _param(tt, rng, n, n)
    (a @ b).sum().backward()
    F.linear(a, b, _param(tt, rng, n)).sum().backward()


def _drive_activation(tt, n, rng):
    from tinytorch.nn import functional as F  # noqa: PLC0415

    x = _param(tt, rng, n, n)
    for y in (F.gelu(x), F.leaky_relu(x, 0.1), F.softmax(x, dim=1), F.log_softmax(x, dim=1)):
        (y * y).sum().backward()


def _drive_loss(tt, n, rng):
    from tinytorch.nn import functional as F  # noqa: PLC0415

    logits = _param(tt, rng, n, 10)
    target = tt.tensor(rng.integers(0, 10, n))
    F.cross_entropy(logits, target).backward()
    F.nll_loss(F.log_softmax(logits, dim=1), target).backward()
    y = tt.tensor(rng.random((n, 10)).astype(np.float32))
    F.mse_loss(logits, y).backward()
    F.binary_cross_entropy_with_logits(logits, y).backward()


def _drive_optim(tt, n, rng):
    for make in (lambda ps: tt.optim.SGD(ps, lr=0.1, momentum=0.9),
                 lambda ps: tt.optim.Adam(ps, lr=0.01)):
        w = _param(tt, rng, n, n)
        w.grad = tt.tensor(rng.standard_normal((n, n)).astype(np.float32))
        make([w]).step()


def _drive_transforms(tt, n, rng):
    from tinytorch.data import transforms as T  # noqa: PLC0415

    images = rng.integers(0, 256, (4, 1, n, n)).astype(np.uint8)
    pipeline = T.Compose([T.ToDtype(tt.float32, scale=True),
                          T.RandomCrop(n, padding=1, generator=0),
                          T.RandomHorizontalFlip(p=1.0, generator=1),
                          T.Normalize([0.5], [0.25])])
    pipeline(images)


def _drive_conv(tt, n, rng):
    from tinytorch.nn import functional as F  # noqa: PLC0415

    x = _param(tt, rng, 2, 3, n, n)
    F.conv2d(x, _param(tt, rng, 4, 3, 3, 3), _param(tt, rng, 4), padding=1).sum().backward()


def _drive_pool(tt, n, rng):
    from tinytorch.nn import functional as F  # noqa: PLC0415

    x = _param(tt, rng, 2, 3, n, n)
    F.max_pool2d(x, 2).sum().backward()
    F.avg_pool2d(x, 2).sum().backward()
    F.adaptive_avg_pool2d(x, 2).sum().backward()


def _drive_norm(tt, n, rng):
    from tinytorch.nn import functional as F  # noqa: PLC0415

    x = _param(tt, rng, n, 3, 4, 4)
    weight, bias = _param(tt, rng, 3), _param(tt, rng, 3)
    running_mean, running_var = tt.zeros(3), tt.ones(3)
    (F.batch_norm(x, running_mean, running_var, weight, bias, training=True) ** 2).sum() \
        .backward()


# family -> (driver, default size, what the size means)
_FAMILIES: dict[str, tuple[Callable, int, str]] = {
    "elementwise": (_drive_elementwise, 32, "n x n operands"),
    "reduce": (_drive_reduce, 32, "n x n input, reduced along rows"),
    "matmul": (_drive_matmul, 16, "n x n @ n x n"),
    "activation": (_drive_activation, 16, "n x n input"),
    "loss": (_drive_loss, 16, "batch n, 10 classes"),
    "optim": (_drive_optim, 32, "an n x n parameter"),
    "transforms": (_drive_transforms, 8, "4 images 1 x n x n"),
    "conv": (_drive_conv, 6, "x 2x3xnxn, w 4x3x3x3, padding 1"),
    "pool": (_drive_pool, 8, "x 2x3xnxn, 2x2 windows"),
    "norm": (_drive_norm, 8, "x nx3x4x4, training mode"),
}
DEFAULT_SIZE = {family: size for family, (_, size, _) in _FAMILIES.items()}
# Under the line profiler every executed line costs about a microsecond: the largest size per
# family keeps a profile to about a minute (matmul at 128 is 2 million inner-loop hits).
MAX_SIZE = {"elementwise": 1024, "reduce": 1024, "matmul": 128, "activation": 512,
            "loss": 4096, "optim": 1024, "transforms": 256, "conv": 48, "pool": 256,
            "norm": 256}

# kernel family file (tinytorch.kernels.<module>) -> driver family
_MODULE_FAMILY = {
    "elementwise": "elementwise", "elementwise_backward": "elementwise", "reduce": "reduce",
    "reduce_backward": "reduce", "matmul": "matmul", "linear": "matmul",
    "activation": "activation", "loss": "loss", "optim": "optim",
    "transforms": "transforms", "conv": "conv", "pool": "pool", "norm": "norm",
}


def _naive_kernels() -> dict[str, Callable]:
    from tinytorch import dispatch  # noqa: PLC0415

    return {op: dispatch._TABLE[op]["naive"] for op in sorted(dispatch._TABLE)
            if "naive" in dispatch._TABLE[op]}


def _family_of(fn) -> str | None:
    return _MODULE_FAMILY.get(getattr(fn, "__module__", "").rsplit(".", 1)[-1])


FAMILY_OF: dict[str, str] = {}  # op -> driver family, filled on first use (supported_ops)


def supported_ops() -> list[str]:
    """Every op that ``profile_lines`` can profile: the dispatcher's ops with a naive
    kernel in a family that has a driver, sorted.

    >>> ops = supported_ops()
    >>> "matmul_forward" in ops and "conv2d_backward" in ops and "adam_step" in ops
    True
    """
    if not FAMILY_OF:
        for op, fn in _naive_kernels().items():
            family = _family_of(fn)
            if family is not None:
                FAMILY_OF[op] = family
    return sorted(FAMILY_OF)


def _check_op(op) -> str:
    if not isinstance(op, str):
        raise TypeError(f"op must be a kernel name such as 'matmul_forward', got "
                        f"{type(op).__name__}")
    ops = supported_ops()
    if op not in ops:
        near = [o for o in ops if o.startswith(op.split("_")[0])] if op else []
        hint = f"\nhint: did you mean {', '.join(near)}?" if near else \
            "\nhint: kernel names end in _forward, _backward or _step (matmul_forward)"
        raise ValueError(f"no naive kernel to line-profile for op {op!r}; supported ops: "
                         f"{', '.join(ops)}{hint}")
    return op


def _check_size(size, op: str) -> int:
    family = FAMILY_OF[op]
    if size is None:
        return DEFAULT_SIZE[family]
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"size must be an int, got {type(size).__name__}")
    if not 1 <= size <= MAX_SIZE[family]:
        raise ValueError(f"size must be between 1 and {MAX_SIZE[family]} for {op}, got "
                         f"{size}; it means {_FAMILIES[family][2]} (default "
                         f"{DEFAULT_SIZE[family]})\nhint: interpreted loops under the line "
                         "profiler run about a microsecond a line: small inputs show the "
                         "same hot lines")
    return size


def _copy_arg(a):
    return np.array(a, copy=True) if isinstance(a, np.ndarray) else a


def kernel_inputs(op: str, size: int | None = None, seed: int = 0) -> tuple[list, dict]:
    """``(args, params)`` for one call of ``op``'s kernel: copies of what the function layer
    passed to it when its family's driver ran on the numpy backend (outputs first, then
    inputs; ``params`` the keyword scalars). ``size`` scales the driver (``DEFAULT_SIZE``).

    >>> args, params = kernel_inputs("matmul_forward", size=3)
    >>> [a.shape for a in args], params
    ([(1, 3, 3), (1, 3, 3), (1, 3, 3)], {})
    >>> sorted(kernel_inputs("conv2d_forward", size=5)[1])[:3]
    ['dil_h', 'dil_w', 'groups']
    """
    import tinytorch as tt  # noqa: PLC0415
    from tinytorch import dispatch  # noqa: PLC0415

    op = _check_op(op)
    size = _check_size(size, op)
    captured: list = []

    def hook(name, backend, args, params):
        if name == op and not captured:
            captured.append(([_copy_arg(a) for a in args],
                             {k: _copy_arg(v) for k, v in params.items()}))
        return contextlib.nullcontext()

    driver = _FAMILIES[FAMILY_OF[op]][0]
    dispatch.add_hook(hook)
    try:
        with tt.backend("numpy"):
            driver(tt, size, np.random.default_rng(seed))
    finally:
        dispatch.remove_hook(hook)
    if not captured:  # a driver that misses one of its family's kernels: a bug here
        raise RuntimeError(f"the {FAMILY_OF[op]} driver never called {op}; add a call to "
                           f"_drive_{FAMILY_OF[op]} in tinytorch/profiler_lines.py")
    return captured[0]


def variants_of(op: str) -> dict[str, Callable]:
    """The ladder of ``op``'s kernel when its family file has one (``VARIANTS`` or
    ``BACKWARD_VARIANTS`` whose ``"naive"`` entry is this op's naive kernel), else just
    ``{"naive": ..., "jit": ...}`` from the dispatcher's table.

    >>> list(variants_of("matmul_forward"))[:4]
    ['naive', 'jit_ijk', 'jit_ikj', 'jit_blocked']
    >>> list(variants_of("relu_forward"))
    ['naive', 'jit']
    """
    from tinytorch import dispatch  # noqa: PLC0415

    op = _check_op(op)
    naive = dispatch._TABLE[op]["naive"]
    module = sys.modules[naive.__module__]
    for name in ("VARIANTS", "BACKWARD_VARIANTS"):
        table = getattr(module, name, None)
        if isinstance(table, dict) and table.get("naive") is naive:
            return dict(table)
    return {b: dispatch._TABLE[op][b] for b in ("naive", "jit") if b in dispatch._TABLE[op]}


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
