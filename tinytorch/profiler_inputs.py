"""The inputs of a line profile (module 08): which kernels can be profiled, and on what arrays.

``tinytorch.profiler_lines`` profiles one kernel; this module finds what to call it with.
Separate because it is the part that grows with the framework (a new kernel family needs a
driver here) while the profiling machinery does not change.

Where the inputs come from: each kernel family has a small *driver*, a few lines of
tinytorch code (``x.relu().sum().backward()``, a conv layer's forward and backward, an
optimiser step, ...) run once on the numpy backend with a dispatcher hook that copies the
arguments of the first call of the wanted kernel. So the arrays and keyword scalars are
exactly what the function layer passes (shapes, dtypes, the 2-D views of the elementwise
kernels, the placeholders of unneeded gradients), and a new kernel only needs a line in
its family's driver. ``size`` scales the driver's main dimension (``DEFAULT_SIZE``, at most
``MAX_SIZE``).

>>> args, params = kernel_inputs("relu_forward", size=4)
>>> [a.shape for a in args], FAMILY_OF["relu_forward"]
([(1, 16), (1, 16)], 'elementwise')
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

import numpy as np

__all__ = ["supported_ops", "kernel_inputs", "variants_of", "DEFAULT_SIZE", "MAX_SIZE",
           "FAMILY_OF"]


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
                           f"_drive_{FAMILY_OF[op]} in tinytorch/profiler_inputs.py")
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
