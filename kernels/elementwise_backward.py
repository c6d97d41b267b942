"""Elementwise backward kernels: the gradients of the differentiable unary and binary ops.

Math (``g`` is the gradient of the output, ``y`` the forward output):

- ``mul``: ``da = g * b``, ``db = g * a``
- ``div``: ``da = g / b``, ``db = -g * a / b**2``
- ``pow``: ``da = g * b * a**(b - 1)`` (0 where ``b == 0``),
  ``db = g * a**b * log(a)`` (0 where ``a == 0`` and ``b >= 0``, as PyTorch)
- ``exp``: ``dx = g * y``; ``log``: ``dx = g / x``; ``sqrt``: ``dx = g / (2 * y)``
- ``relu``: ``dx = g`` where ``x > 0``, else 0; ``abs``: ``dx = g * sign(x)`` (0 at 0)
- ``sigmoid``: ``dx = g * y * (1 - y)``; ``tanh``: ``dx = g * (1 - y**2)``
- ``clamp``: ``dx = g`` where ``lo <= x <= hi`` (both ends included, as PyTorch), else 0;
  NaN ``x`` fails both tests and gets 0. The caller passes ``lo``/``hi`` as the forward
  used them (``-inf``/``inf`` for a missing bound), in the gradient's dtype.

``add``, ``sub`` and ``neg`` need no kernel of their own: their gradients are the incoming
gradient itself or its negation, which the function layer gets from the ``copy`` and ``neg``
forward kernels (through the dispatcher). Nor does ``where``: its gradients are
``where(cond, g, 0)`` and ``where(cond, 0, g)``, the ``where`` forward kernel again.

Shapes: as the forward kernels, every operand is 2-D ``(R, C)``: the function layer
broadcasts ``g``, the inputs and the outputs to the output's shape and views them as 2-D
(``layout.views_2d``); the gradient of a broadcast input is reduced back to its shape by the
autograd engine (``ops.sum``), not here. Outputs come first: ``mul_backward(grad_a, grad_b,
g, a, b)``, ``exp_backward(grad_x, g, y)``, ``clamp_backward(grad_x, g, x, lo=..., hi=...)``.

Cost per element: a few FLOPs and ``(operands) * itemsize`` bytes moved: memory-bound, as the
forward ops.

>>> import numpy as np
>>> ga, gb = np.empty((1, 2)), np.empty((1, 2))
>>> mul_backward_naive(ga, gb, np.ones((1, 2)), np.array([[2.0, 3.0]]),
...                    np.array([[5.0, 7.0]]))
>>> ga.tolist(), gb.tolist()
([[5.0, 7.0]], [[2.0, 3.0]])
"""

import numpy as np

from ._twins import kernel_table

# --- naive ------------------------------------------------------------------------------
# Binary ops: (grad_a, grad_b, g, a, b).

def mul_backward_naive(grad_a, grad_b, g, a, b):
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            grad_a[i, j] = g[i, j] * b[i, j]
            grad_b[i, j] = g[i, j] * a[i, j]


def div_backward_naive(grad_a, grad_b, g, a, b):
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            q = g[i, j] / b[i, j]
            grad_a[i, j] = q
            grad_b[i, j] = -q * a[i, j] / b[i, j]


def pow_backward_naive(grad_a, grad_b, g, a, b):
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            x, e = a[i, j], b[i, j]
            grad_a[i, j] = 0.0 if e == 0 else g[i, j] * e * x ** (e - 1)
            grad_b[i, j] = 0.0 if (x == 0 and e >= 0) else g[i, j] * x ** e * np.log(x)


# Unary ops: (grad_x, g, saved) where saved is x or the forward output y.

def exp_backward_naive(grad_x, g, y):
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            grad_x[i, j] = g[i, j] * y[i, j]


def log_backward_naive(grad_x, g, x):
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            grad_x[i, j] = g[i, j] / x[i, j]


def sqrt_backward_naive(grad_x, g, y):
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            grad_x[i, j] = g[i, j] / (2 * y[i, j])


def relu_backward_naive(grad_x, g, x):
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            grad_x[i, j] = g[i, j] if x[i, j] > 0 else 0.0


def abs_backward_naive(grad_x, g, x):
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            v = x[i, j]
            if v > 0:
                grad_x[i, j] = g[i, j]
            elif v < 0:
                grad_x[i, j] = -g[i, j]
            else:
                grad_x[i, j] = 0.0 * g[i, j]  # 0 at 0 (NaN stays NaN through g)


def sigmoid_backward_naive(grad_x, g, y):
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            s = y[i, j]
            grad_x[i, j] = g[i, j] * s * (1 - s)


def tanh_backward_naive(grad_x, g, y):
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            t = y[i, j]
            grad_x[i, j] = g[i, j] * (1 - t * t)


# Unary ops with parameters: (grad_x, g, x, *params), the params by keyword as in forward.

def clamp_backward_naive(grad_x, g, x, lo, hi):
    """``g`` where ``lo <= x <= hi``, else exactly 0 (a NaN or infinite ``g`` outside the
    range does not leak through, as PyTorch's masked gradient).

    >>> gx = np.empty((1, 4))
    >>> clamp_backward_naive(gx, np.full((1, 4), 2.0), np.array([[-1.0, 0.0, 1.0, 3.0]]),
    ...                      lo=0.0, hi=1.0)
    >>> gx.tolist()
    [[0.0, 2.0, 2.0, 0.0]]
    """
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            v = x[i, j]
            grad_x[i, j] = g[i, j] if (v >= lo and v <= hi) else 0.0


# --- jit --------------------------------------------------------------------------------
# Each jit kernel is its naive twin compiled (built in the table below by kernel_table()).


# --- numpy ------------------------------------------------------------------------------

def mul_backward_numpy(grad_a, grad_b, g, a, b):
    np.multiply(g, b, out=grad_a, casting="unsafe")
    np.multiply(g, a, out=grad_b, casting="unsafe")


def div_backward_numpy(grad_a, grad_b, g, a, b):
    q = g / b
    np.copyto(grad_a, q, casting="unsafe")
    np.copyto(grad_b, -q * a / b, casting="unsafe")


def pow_backward_numpy(grad_a, grad_b, g, a, b):
    with np.errstate(all="ignore"):
        np.copyto(grad_a, np.where(b == 0, 0.0, g * b * a ** (b - 1)), casting="unsafe")
        np.copyto(grad_b, np.where((a == 0) & (b >= 0), 0.0, g * a ** b * np.log(a)),
                  casting="unsafe")


def exp_backward_numpy(grad_x, g, y):
    np.multiply(g, y, out=grad_x, casting="unsafe")


def log_backward_numpy(grad_x, g, x):
    np.true_divide(g, x, out=grad_x, casting="unsafe")


def sqrt_backward_numpy(grad_x, g, y):
    np.copyto(grad_x, g / (2 * y), casting="unsafe")


def relu_backward_numpy(grad_x, g, x):
    np.copyto(grad_x, np.where(x > 0, g, 0.0), casting="unsafe")


def abs_backward_numpy(grad_x, g, x):
    np.copyto(grad_x, g * np.sign(x), casting="unsafe")


def sigmoid_backward_numpy(grad_x, g, y):
    np.copyto(grad_x, g * y * (1 - y), casting="unsafe")


def tanh_backward_numpy(grad_x, g, y):
    np.copyto(grad_x, g * (1 - y * y), casting="unsafe")


def clamp_backward_numpy(grad_x, g, x, lo, hi):
    np.copyto(grad_x, np.where((x >= lo) & (x <= hi), g, 0.0), casting="unsafe")


# --- table ------------------------------------------------------------------------------

BINARY = ("mul", "div", "pow")
UNARY = ("exp", "log", "sqrt", "relu", "abs", "sigmoid", "tanh")
PARAMETRIC = ("clamp",)  # unary, with keyword parameters after the arrays

KERNELS = kernel_table(globals(), [f"{name}_backward" for name in BINARY + UNARY + PARAMETRIC])
