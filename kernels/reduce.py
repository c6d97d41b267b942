"""Reduction kernels: sum, mean, and max/min with the index of the winner.

Math: ``out[r] = sum_c x[r, c]`` (``mean`` divides by C); ``values[r] = max_c x[r, c]`` and
``indices[r]`` the first ``c`` where it occurs (PyTorch and numpy agree on "first").

Shapes: ``x`` is 2-D ``(R, C)``, reduced along axis 1; outputs are 1-D ``(R,)``. The function
layer moves the reduced dimensions of a tensor to the end and views it as ``(kept, reduced)``,
so ``x.sum(dim=(0, 2))`` of a ``(A, B, C)`` tensor arrives as ``(B, A*C)``. A full reduction
arrives as ``(1, numel)``.

Cost: ``R*C`` FLOPs (comparisons for max/min) and ``R*C*itemsize`` bytes read: memory-bound
like the elementwise ops.

NaN: ``max``/``min`` propagate NaN as PyTorch does (the result is NaN and the index is the
first NaN's); the test ``v != v`` is true only for NaN.

Accumulators: ``acc = out.dtype.type(0)`` adds in the output's dtype, in the interpreter
and in numba alike (a bare ``acc = 0`` would not: the interpreter keeps float32 while numba
widens to float64, and the "same loops" would disagree). The caller hands ``sum``/``mean`` a
float64 ``out`` for floating inputs and an int64 one for integers, then casts the small
result back: a float32 running sum of 10^6 terms would lose about three digits. ``max``
needs ``C >= 1``: the caller rejects empty reductions, as PyTorch does.
"""

import numpy as np
from numba import njit


def _jit(fn):
    return njit(cache=True, error_model="numpy")(fn)


# --- naive ------------------------------------------------------------------------------

def sum_forward_naive(out, x):
    for r in range(x.shape[0]):
        acc = out.dtype.type(0)
        for c in range(x.shape[1]):
            acc += x[r, c]
        out[r] = acc


def mean_forward_naive(out, x):
    """The caller guarantees ``C >= 1`` and a floating ``out``."""
    n = x.shape[1]
    for r in range(x.shape[0]):
        acc = out.dtype.type(0)
        for c in range(n):
            acc += x[r, c]
        out[r] = acc / n


def max_forward_naive(values, indices, x):
    for r in range(x.shape[0]):
        best = x[r, 0]
        best_c = 0
        for c in range(1, x.shape[1]):
            v = x[r, c]
            if best != best:  # already NaN: nothing beats it
                break
            if v > best or v != v:
                best = v
                best_c = c
        values[r] = best
        indices[r] = best_c


def min_forward_naive(values, indices, x):
    for r in range(x.shape[0]):
        best = x[r, 0]
        best_c = 0
        for c in range(1, x.shape[1]):
            v = x[r, c]
            if best != best:
                break
            if v < best or v != v:
                best = v
                best_c = c
        values[r] = best
        indices[r] = best_c


# --- jit --------------------------------------------------------------------------------
# The same loops compiled (see the table). A float sum does not vectorise without
# reassociation (fastmath), which would change the rounding; module 10 shows that trade.


# --- numpy ------------------------------------------------------------------------------

def sum_forward_numpy(out, x):
    np.sum(x, axis=1, out=out, dtype=out.dtype)


def mean_forward_numpy(out, x):
    np.mean(x, axis=1, out=out, dtype=np.float64 if out.dtype == np.float64 else None)


def max_forward_numpy(values, indices, x):
    # argmax returns the first NaN when there is one, matching the loop's rule.
    np.argmax(x, axis=1, out=indices)
    values[...] = np.take_along_axis(x, indices[:, None], axis=1)[:, 0]


def min_forward_numpy(values, indices, x):
    np.argmin(x, axis=1, out=indices)
    values[...] = np.take_along_axis(x, indices[:, None], axis=1)[:, 0]


# --- table ------------------------------------------------------------------------------

KERNELS = {}
for _name in ("sum", "mean", "max", "min"):
    _naive = globals()[f"{_name}_forward_naive"]
    _jitted = _jit(_naive)
    globals()[f"{_name}_forward_jit"] = _jitted
    KERNELS[f"{_name}_forward"] = {
        "naive": _naive, "jit": _jitted, "numpy": globals()[f"{_name}_forward_numpy"]}
del _name, _naive, _jitted
