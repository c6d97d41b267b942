"""Elementwise kernels: unary ops, binary ops, clamp and where.

Math: ``out[i, j] = f(x[i, j])`` (unary) or ``out[i, j] = f(a[i, j], b[i, j])`` (binary).

Shapes: every operand is 2-D ``(R, C)``. The function layer broadcasts the operands of a
tensor op to the output shape (a broadcast dimension gets stride 0, so nothing is copied),
merges dimensions that are contiguous in every operand, and views the result as 2-D. A
contiguous tensor of any shape arrives as ``(1, numel)``; ``x + row`` with ``x`` of shape
``(R, C)`` and ``row`` of shape ``(C,)`` arrives as two ``(R, C)`` arrays, the second with
row stride 0. That is why two loops are enough for tensors of any rank.

Cost per element: 1 FLOP (``exp``, ``tanh``, ``sigmoid``: a few tens), and bytes moved
``(inputs + 1) * itemsize``: elementwise ops are memory-bound, so the lesson here is that a
compiled loop reaches numpy's speed (both stream memory) while the Python loop pays about
100 ns of interpreter work per element.

Variants: ``naive`` is the specification, evaluated by the interpreter one numpy scalar at a
time; ``jit`` is *the same function object* compiled by numba (``error_model="numpy"`` so
that ``1/0`` gives ``inf`` as in numpy instead of raising); ``numpy`` is the ufunc.
Scalar math uses ``np.exp`` and friends rather than ``math.exp``: numba compiles both, but
in the interpreter ``math.exp(1000.0)`` raises OverflowError where numpy returns ``inf``.
"""

import numpy as np
from numba import njit


def _jit(fn):
    """The jit twin of a naive kernel: literally the same source, compiled on first call."""
    return njit(cache=True, error_model="numpy")(fn)


# --- naive ------------------------------------------------------------------------------
# Unary ops: out[i, j] = f(x[i, j]).

def copy_forward_naive(out, x):
    """Copy (and cast to ``out.dtype``): ``.contiguous()``, ``.to(dtype)``, ``cat``."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = x[i, j]


def neg_forward_naive(out, x):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = -x[i, j]


def abs_forward_naive(out, x):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = abs(x[i, j])


def exp_forward_naive(out, x):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.exp(x[i, j])


def log_forward_naive(out, x):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.log(x[i, j])


def sqrt_forward_naive(out, x):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sqrt(x[i, j])


def relu_forward_naive(out, x):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            v = x[i, j]
            # `v < 0` rather than `v > 0`: NaN fails every comparison, so NaN passes through
            # as in PyTorch instead of becoming 0.
            out[i, j] = 0 if v < 0 else v


def sigmoid_forward_naive(out, x):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            v = x[i, j]
            # Two branches so that exp only ever sees a non-positive argument: 1/(1+exp(-v))
            # overflows exp for v << 0, the second form for v >> 0.
            if v >= 0:
                out[i, j] = 1 / (1 + np.exp(-v))
            else:
                e = np.exp(v)
                out[i, j] = e / (1 + e)


def tanh_forward_naive(out, x):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.tanh(x[i, j])


def clamp_forward_naive(out, x, lo, hi):
    """``min(max(x, lo), hi)``; NaN stays NaN, and a NaN bound gives NaN (as numpy and
    PyTorch). The caller passes ``lo``/``hi`` in ``out.dtype`` (``-inf``/``inf`` or the
    integer limits for a missing bound)."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            v = x[i, j]
            if v < lo or lo != lo:  # lo != lo: only NaN differs from itself
                v = lo
            if v > hi or hi != hi:
                v = hi
            out[i, j] = v


# Binary ops: out[i, j] = f(a[i, j], b[i, j]).

def add_forward_naive(out, a, b):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i, j] + b[i, j]


def sub_forward_naive(out, a, b):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i, j] - b[i, j]


def mul_forward_naive(out, a, b):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i, j] * b[i, j]


def div_forward_naive(out, a, b):
    """True division; the caller casts integer operands to float first."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i, j] / b[i, j]


def pow_forward_naive(out, a, b):
    """The caller rejects negative integer exponents (integers have no 2 ** -1)."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i, j] ** b[i, j]


def eq_forward_naive(out, a, b):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i, j] == b[i, j]


def ne_forward_naive(out, a, b):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i, j] != b[i, j]


def lt_forward_naive(out, a, b):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i, j] < b[i, j]


def le_forward_naive(out, a, b):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i, j] <= b[i, j]


def gt_forward_naive(out, a, b):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i, j] > b[i, j]


def ge_forward_naive(out, a, b):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i, j] >= b[i, j]


def where_forward_naive(out, cond, a, b):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i, j] if cond[i, j] else b[i, j]


# --- jit --------------------------------------------------------------------------------
# Each jit kernel is its naive twin compiled: the lesson is that the *same loops* run
# 100-1000x faster once the interpreter is gone. Built in the table below with _jit().


# --- numpy ------------------------------------------------------------------------------
# The vectorised references, and the test oracle. `out=` writes in place like the loops.

def _ufunc1(ufunc):
    def kernel(out, x):
        ufunc(x, out=out, casting="unsafe")
    kernel.__name__ = f"{ufunc.__name__}_numpy"
    return kernel


def _ufunc2(ufunc):
    def kernel(out, a, b):
        ufunc(a, b, out=out, casting="unsafe")
    kernel.__name__ = f"{ufunc.__name__}_numpy"
    return kernel


def copy_forward_numpy(out, x):
    np.copyto(out, x, casting="unsafe")


def relu_forward_numpy(out, x):
    # np.maximum propagates NaN, like the loop and like PyTorch.
    np.maximum(x, 0, out=out, casting="unsafe")


def sigmoid_forward_numpy(out, x):
    # The same two-branch formula as the loop, vectorised (with errors silenced: the branch
    # not taken may overflow, and np.where evaluates both).
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
        np.copyto(out, np.where(x >= 0, 1 / (1 + e), e / (1 + e)), casting="unsafe")


def clamp_forward_numpy(out, x, lo, hi):
    # minimum(maximum(x, lo), hi) rather than np.clip: np.clip's NaN handling has varied
    # across numpy versions.
    np.minimum(np.maximum(x, lo), hi, out=out, casting="unsafe")


def where_forward_numpy(out, cond, a, b):
    np.copyto(out, np.where(cond, a, b), casting="unsafe")


# --- table ------------------------------------------------------------------------------

_NUMPY = {
    "copy": copy_forward_numpy,
    "neg": _ufunc1(np.negative),
    "abs": _ufunc1(np.absolute),
    "exp": _ufunc1(np.exp),
    "log": _ufunc1(np.log),
    "sqrt": _ufunc1(np.sqrt),
    "relu": relu_forward_numpy,
    "sigmoid": sigmoid_forward_numpy,
    "tanh": _ufunc1(np.tanh),
    "clamp": clamp_forward_numpy,
    "add": _ufunc2(np.add),
    "sub": _ufunc2(np.subtract),
    "mul": _ufunc2(np.multiply),
    "div": _ufunc2(np.true_divide),
    "pow": _ufunc2(np.power),
    "eq": _ufunc2(np.equal),
    "ne": _ufunc2(np.not_equal),
    "lt": _ufunc2(np.less),
    "le": _ufunc2(np.less_equal),
    "gt": _ufunc2(np.greater),
    "ge": _ufunc2(np.greater_equal),
    "where": where_forward_numpy,
}

UNARY = ("copy", "neg", "abs", "exp", "log", "sqrt", "relu", "sigmoid", "tanh")
BINARY = ("add", "sub", "mul", "div", "pow")
COMPARISON = ("eq", "ne", "lt", "le", "gt", "ge")

KERNELS = {}
for _name, _numpy_kernel in _NUMPY.items():
    _naive = globals()[f"{_name}_forward_naive"]
    _jitted = _jit(_naive)
    globals()[f"{_name}_forward_jit"] = _jitted  # importable by name, like the others
    KERNELS[f"{_name}_forward"] = {"naive": _naive, "jit": _jitted, "numpy": _numpy_kernel}
del _name, _numpy_kernel, _naive, _jitted
