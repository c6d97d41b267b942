"""Reduction backward kernels: where the gradient of a max or a min goes.

A max (or min) is a selection, not arithmetic, so its gradient is the incoming gradient put
back where the winner was, and 0 elsewhere. PyTorch has two rules, and so do we:

- ``max_backward`` (``max(dim)``/``min(dim)``, which return indices): the gradient goes to
  the one element the forward picked, ``grad_x[r, c] = g[r]`` if ``c == indices[r]`` else 0.
  Ties: the forward picked the first occurrence, so the first one gets it all.
- ``amax_backward`` (``amax``/``amin``, and ``max()``/``min()`` over everything): the
  gradient is shared evenly by every element equal to the result, ``grad_x[r, c] =
  g[r] / n_r`` where ``x[r, c] == values[r]`` (``n_r`` such elements). NaN, as PyTorch:
  with ``nan_ties`` (``max()``/``min()``, PyTorch's ``evenly_distribute_backward``) a NaN
  result counts every NaN of the row as a tie and every other element gets exactly 0;
  without it (``amax``/``amin``, PyTorch's ``(g / n) * mask``) a NaN result matches
  nothing, ``n`` is 0, and the whole row's gradient is NaN.

``min_backward`` and ``amin_backward`` are the same kernels under the names of their forward
op (the rule does not depend on which extreme was taken), so that ``set_op_backend("min",
...)`` covers both directions of ``min``.

Shapes: the layout of the forward (``reduce.py``): ``x`` and ``grad_x`` are 2-D ``(R, C)``
with the reduced dimensions last (``R`` kept rows, ``C`` reduced elements per row), ``g``,
``values`` and ``indices`` 1-D ``(R,)``. The function layer writes into a fresh ``(R, C)``
buffer and views it back in the input's dimension order. Outputs first:
``max_backward(grad_x, g, indices)``, ``amax_backward(grad_x, g, x, values, nan_ties=...)``.

Cost: ``max_backward`` does no arithmetic and writes ``R*C*itemsize`` bytes (reading
``R*(itemsize + 8)``); ``amax_backward`` reads ``x`` twice (count, then write: ``2*R*C``
comparisons, ``R`` divisions) and writes ``R*C*itemsize`` bytes. Both are memory-bound.

>>> import numpy as np
>>> gx = np.empty((2, 3))
>>> max_backward_naive(gx, np.array([5.0, 7.0]), np.array([2, 0]))
>>> gx.tolist()
[[0.0, 0.0, 5.0], [7.0, 0.0, 0.0]]
>>> amax_backward_naive(gx, np.array([1.0, 1.0]), np.array([[3.0, 1.0, 3.0], [0.0, 2.0, 1.0]]),
...                     np.array([3.0, 2.0]), nan_ties=False)
>>> gx.tolist()
[[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]]
"""

import numpy as np
from numba import njit


def _jit(fn):
    """The jit twin of a naive kernel: literally the same source, compiled on first call."""
    return njit(cache=True, error_model="numpy")(fn)


# --- naive ------------------------------------------------------------------------------

def max_backward_naive(grad_x, g, indices):
    for r in range(grad_x.shape[0]):
        k = indices[r]
        for c in range(grad_x.shape[1]):
            grad_x[r, c] = g[r] if c == k else 0.0


def amax_backward_naive(grad_x, g, x, values, nan_ties):
    for r in range(x.shape[0]):
        v = values[r]
        nan_row = nan_ties and v != v  # only NaN differs from itself
        count = 0
        for c in range(x.shape[1]):
            e = x[r, c]
            if e == v or (nan_row and e != e):
                count += 1
        # g / 0 (amax of a NaN row) is inf or NaN, and times 0 below gives NaN: PyTorch's
        # (g / n) * mask. The max() rule writes a plain 0 instead.
        share = g[r] / count
        other = 0.0 if nan_ties else share * 0.0
        for c in range(x.shape[1]):
            e = x[r, c]
            grad_x[r, c] = share if (e == v or (nan_row and e != e)) else other


# --- jit --------------------------------------------------------------------------------
# Each jit kernel is its naive twin compiled (built in the table below with _jit()). There
# is no tuned variant: both kernels stream memory once or twice, which the compiled loops
# already do at memory speed.


# --- numpy ------------------------------------------------------------------------------

def max_backward_numpy(grad_x, g, indices):
    grad_x[...] = 0
    np.put_along_axis(grad_x, indices[:, None], g[:, None], axis=1)


def amax_backward_numpy(grad_x, g, x, values, nan_ties):
    v = values[:, None]
    mask = x == v
    if nan_ties:
        mask |= np.isnan(x) & np.isnan(v)
    with np.errstate(all="ignore"):  # 0 ties (a NaN amax row) divides by zero, as intended
        share = (g / mask.sum(axis=1).astype(g.dtype))[:, None]
        if nan_ties:
            np.copyto(grad_x, np.where(mask, share, 0.0), casting="unsafe")
        else:
            np.copyto(grad_x, share * mask, casting="unsafe")


# --- table ------------------------------------------------------------------------------

KERNELS = {}
for _name in ("max", "amax"):
    _naive = globals()[f"{_name}_backward_naive"]
    _jitted = _jit(_naive)
    globals()[f"{_name}_backward_jit"] = _jitted  # importable by name, like the others
    KERNELS[f"{_name}_backward"] = {"naive": _naive, "jit": _jitted,
                                    "numpy": globals()[f"{_name}_backward_numpy"]}
# min picks the other extreme, but its gradient goes where the forward said, by the same rule.
KERNELS["min_backward"] = dict(KERNELS["max_backward"])
KERNELS["amin_backward"] = dict(KERNELS["amax_backward"])
del _name, _naive, _jitted
