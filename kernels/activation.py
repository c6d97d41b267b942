"""Activation kernels: GELU, leaky ReLU, and the row-wise softmax and log-softmax.

Math (``g`` is the gradient of the output, ``y`` the forward output):

- ``gelu`` (``approximate=0``, exact): ``y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))``,
  ``dx = g * (Phi(x) + x * phi(x))`` with ``phi(x) = exp(-x^2 / 2) / sqrt(2 pi)``.
- ``gelu`` (``approximate=1``, tanh form): ``u = k (x + 0.044715 x^3)``, ``k = sqrt(2/pi)``,
  ``y = 0.5 x (1 + tanh u)``, ``dx = g * (0.5 (1 + tanh u)
  + 0.5 x (1 - tanh^2 u) k (1 + 3 * 0.044715 x^2))``.
- ``leaky_relu``: ``y = x if x > 0 else slope * x``; ``dx = g if x > 0 else slope * g``.
- ``softmax`` along each row: ``y_j = exp(x_j - m) / sum_k exp(x_k - m)`` with ``m`` the row
  max (any ``m`` gives the same value; the max keeps every ``exp`` in ``(0, 1]``, so nothing
  overflows); ``dx_j = y_j (g_j - sum_k g_k y_k)``.
- ``log_softmax``: ``y_j = x_j - m - log sum_k exp(x_k - m)``;
  ``dx_j = g_j - exp(y_j) sum_k g_k``.

Shapes: GELU and leaky ReLU are elementwise on 2-D ``(R, C)`` arrays, as the elementwise
family (the function layer views a tensor of any rank as 2-D). Softmax and log-softmax work
on each row of a 2-D ``(R, C)`` array: the function layer moves the softmax dimension last
and views the rest as rows. Outputs are C-contiguous; inputs may have any strides. The
parameters are keyword-only scalars: ``approximate`` (0 or 1), ``negative_slope``.

Cost per element: GELU about 20-30 FLOPs (an ``erf`` or a ``tanh``), leaky ReLU 1; softmax
3 passes over each row (max, exp-and-sum, scale), log-softmax 3 (max, exp-and-sum,
subtract), about ``R*C`` exponentials; bytes moved ``(inputs + outputs) * R*C*itemsize``.
All of them are memory-bound on a CPU once compiled. Row sums accumulate in float64 in every
variant (``np.float64(0.0)``: the interpreter and numba then agree on the type).

>>> import numpy as np
>>> y = np.empty((1, 3))
>>> softmax_forward_naive(y, np.array([[1.0, 1.0, 1.0]]))
>>> y.round(4).tolist()
[[0.3333, 0.3333, 0.3333]]
>>> leaky_relu_forward_naive(y, np.array([[-2.0, 0.0, 3.0]]), negative_slope=0.5)
>>> y.tolist()
[[-1.0, 0.0, 3.0]]
"""

import math

import numpy as np

from ._twins import kernel_table

SQRT_HALF = math.sqrt(0.5)  # erf(x / sqrt 2) = erf(x * sqrt(1/2))
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)  # the normal density's constant
K_TANH = math.sqrt(2.0 / math.pi)  # the tanh form's k
C_TANH = 0.044715  # the tanh form's cubic coefficient


# --- naive ------------------------------------------------------------------------------

def gelu_forward_naive(out, x, *, approximate):
    """``x * Phi(x)`` (exact, ``approximate=0``) or the tanh form (``approximate=1``).

    >>> import numpy as np
    >>> y = np.empty((1, 2))
    >>> gelu_forward_naive(y, np.array([[0.0, 1.0]]), approximate=0)
    >>> y.round(6).tolist()
    [[0.0, 0.841345]]
    """
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            v = x[i, j]
            if approximate:
                out[i, j] = 0.5 * v * (1.0 + np.tanh(K_TANH * (v + C_TANH * v * v * v)))
            else:
                # math.erf: numpy has no erf; numba compiles math.erf, and erf never
                # overflows, so the interpreter's math module is safe here too.
                out[i, j] = 0.5 * v * (1.0 + math.erf(v * SQRT_HALF))


def gelu_backward_naive(grad_x, g, x, *, approximate):
    """``g * d gelu / dx`` at the saved input ``x``.

    >>> import numpy as np
    >>> gx = np.empty((1, 1))
    >>> gelu_backward_naive(gx, np.ones((1, 1)), np.zeros((1, 1)), approximate=1)
    >>> gx.tolist()
    [[0.5]]
    """
    for i in range(grad_x.shape[0]):
        for j in range(grad_x.shape[1]):
            v = x[i, j]
            if approximate:
                t = np.tanh(K_TANH * (v + C_TANH * v * v * v))
                d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * K_TANH * (
                    1.0 + 3.0 * C_TANH * v * v)
            else:
                cdf = 0.5 * (1.0 + math.erf(v * SQRT_HALF))
                d = cdf + v * INV_SQRT_2PI * np.exp(-0.5 * v * v)
            grad_x[i, j] = g[i, j] * d


def leaky_relu_forward_naive(out, x, *, negative_slope):
    """``x`` where ``x > 0``, else ``negative_slope * x`` (NaN stays NaN).

    >>> import numpy as np
    >>> y = np.empty((1, 2))
    >>> leaky_relu_forward_naive(y, np.array([[-1.0, 2.0]]), negative_slope=0.1)
    >>> y.tolist()
    [[-0.1, 2.0]]
    """
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            v = x[i, j]
            out[i, j] = v if v > 0 else v * negative_slope


def leaky_relu_backward_naive(grad_x, g, x, *, negative_slope):
    """``g`` where ``x > 0``, else ``negative_slope * g`` (PyTorch's choice at 0: the slope).

    >>> import numpy as np
    >>> gx = np.empty((1, 2))
    >>> leaky_relu_backward_naive(gx, np.ones((1, 2)), np.array([[-1.0, 2.0]]),
    ...                           negative_slope=0.1)
    >>> gx.tolist()
    [[0.1, 1.0]]
    """
    for i in range(grad_x.shape[0]):
        for j in range(grad_x.shape[1]):
            grad_x[i, j] = g[i, j] if x[i, j] > 0 else g[i, j] * negative_slope


def softmax_forward_naive(out, x):
    """Softmax of each row, max subtracted first (three passes: max, exp and sum, scale).

    >>> import numpy as np
    >>> y = np.empty((1, 2))
    >>> softmax_forward_naive(y, np.array([[1000.0, 1000.0]]))  # no overflow
    >>> y.tolist()
    [[0.5, 0.5]]
    """
    R, C = x.shape
    if C == 0:
        return
    for i in range(R):
        m = x[i, 0]
        for j in range(1, C):
            if x[i, j] > m:
                m = x[i, j]
        s = np.float64(0.0)
        for j in range(C):
            e = np.exp(x[i, j] - m)
            out[i, j] = e
            s += e
        for j in range(C):
            out[i, j] = out[i, j] / s


def softmax_backward_naive(grad_x, g, y):
    """``y * (g - sum_k g_k y_k)`` per row (the Jacobian-vector product of softmax).

    >>> import numpy as np
    >>> gx = np.empty((1, 2))
    >>> softmax_backward_naive(gx, np.array([[1.0, 1.0]]), np.array([[0.5, 0.5]]))
    >>> gx.tolist()  # a constant shift of the input does not change softmax
    [[0.0, 0.0]]
    """
    R, C = y.shape
    for i in range(R):
        dot = np.float64(0.0)
        for j in range(C):
            dot += g[i, j] * y[i, j]
        for j in range(C):
            grad_x[i, j] = y[i, j] * (g[i, j] - dot)


def log_softmax_forward_naive(out, x):
    """``x - max - log(sum exp(x - max))`` per row.

    >>> import numpy as np
    >>> y = np.empty((1, 2))
    >>> log_softmax_forward_naive(y, np.array([[0.0, 0.0]]))
    >>> y.round(6).tolist()
    [[-0.693147, -0.693147]]
    """
    R, C = x.shape
    if C == 0:
        return
    for i in range(R):
        m = x[i, 0]
        for j in range(1, C):
            if x[i, j] > m:
                m = x[i, j]
        s = np.float64(0.0)
        for j in range(C):
            s += np.exp(x[i, j] - m)
        log_s = np.log(s)
        for j in range(C):
            out[i, j] = (x[i, j] - m) - log_s


def log_softmax_backward_naive(grad_x, g, y):
    """``g - exp(y) * sum_k g_k`` per row (``exp(y)`` is the softmax).

    >>> import numpy as np
    >>> gx = np.empty((1, 2))
    >>> log_softmax_backward_naive(gx, np.array([[1.0, 0.0]]), np.log([[0.5, 0.5]]))
    >>> gx.tolist()
    [[0.5, -0.5]]
    """
    R, C = y.shape
    for i in range(R):
        total = np.float64(0.0)
        for j in range(C):
            total += g[i, j]
        for j in range(C):
            grad_x[i, j] = g[i, j] - np.exp(y[i, j]) * total


# --- jit --------------------------------------------------------------------------------
# Each jit kernel is its naive twin compiled (built in the table below by kernel_table()). At the
# sizes of a classifier head (10-1000 classes) the rows fit in L1 and the three passes of
# softmax cost little; for a single-pass formulation see cross_entropy_forward_jit_online
# in loss.py.


# --- numpy ------------------------------------------------------------------------------

# numpy has no erf (scipy.special.erf would be the production choice, and tinytorch does
# not depend on scipy): this applies the C library's erf element by element. It is exact but
# pays a Python-level call per element, so the numpy GELU is the one numpy kernel here that
# is not faster than the compiled loop.
_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_forward_numpy(out, x, *, approximate):
    if approximate:
        out[...] = 0.5 * x * (1.0 + np.tanh(K_TANH * (x + C_TANH * x * x * x)))
    else:
        out[...] = 0.5 * x * (1.0 + _erf(x * SQRT_HALF))


def gelu_backward_numpy(grad_x, g, x, *, approximate):
    if approximate:
        t = np.tanh(K_TANH * (x + C_TANH * x * x * x))
        d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * K_TANH * (1.0 + 3.0 * C_TANH * x * x)
    else:
        d = 0.5 * (1.0 + _erf(x * SQRT_HALF)) + x * INV_SQRT_2PI * np.exp(-0.5 * x * x)
    grad_x[...] = g * d


def leaky_relu_forward_numpy(out, x, *, negative_slope):
    out[...] = np.where(x > 0, x, x * negative_slope)


def leaky_relu_backward_numpy(grad_x, g, x, *, negative_slope):
    grad_x[...] = np.where(x > 0, g, g * negative_slope)


def softmax_forward_numpy(out, x):
    if x.size == 0:  # max() of an empty row is undefined; nothing to write anyway
        return
    e = np.exp(x - x.max(axis=1, keepdims=True))
    out[...] = e / e.sum(axis=1, keepdims=True, dtype=np.float64)


def softmax_backward_numpy(grad_x, g, y):
    dot = (g * y).sum(axis=1, keepdims=True, dtype=np.float64)
    grad_x[...] = y * (g - dot)


def log_softmax_forward_numpy(out, x):
    if x.size == 0:
        return
    z = x - x.max(axis=1, keepdims=True)
    out[...] = z - np.log(np.exp(z).sum(axis=1, keepdims=True, dtype=np.float64))


def log_softmax_backward_numpy(grad_x, g, y):
    grad_x[...] = g - np.exp(y) * g.sum(axis=1, keepdims=True, dtype=np.float64)


# --- table ------------------------------------------------------------------------------

OPS = ("gelu", "leaky_relu", "softmax", "log_softmax")

KERNELS = kernel_table(globals(), [f"{name}_{direction}" for name in OPS
                                    for direction in ("forward", "backward")])
