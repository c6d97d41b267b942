"""Activations with autograd: GELU, leaky ReLU, softmax, log-softmax, and dropout.

Each op checks its arguments, allocates its output and runs its kernel
(``kernels/activation.py``) through the dispatcher; its ``Function`` saves what the backward
kernel reads. GELU and leaky ReLU are elementwise: a tensor of any rank and strides becomes
2-D kernel calls (``layout.views_2d``). Softmax and log-softmax work on rows: the softmax
dimension is moved last and the rest viewed as rows. On a contiguous tensor with
``dim=-1`` that is a free view; otherwise the moved tensor is copied through the copy kernel
only when its strides do not allow a 2-D view, and the result is copied back into the
input's layout, so the output is contiguous as in PyTorch.

>>> import tinytorch as tt
>>> tt.ops.softmax(tt.tensor([[0.0, 0.0], [0.0, 2.0]]), dim=1).tolist()[0]
[0.5, 0.5]
>>> tt.ops.leaky_relu(tt.tensor([-1.0, 3.0]), 0.5).tolist()
[-0.5, 3.0]
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch import dispatch
from tinytorch import random as _random
from tinytorch.autograd import Function
from tinytorch.layout import normalize_dim
from tinytorch.ops._common import new, require_tensor, reshape_view, run
from tinytorch.tensor import Tensor

__all__ = ["gelu", "leaky_relu", "softmax", "log_softmax", "dropout"]

_REAL = (int, float, np.integer, np.floating)


def require_floating(x, op: str, name: str = "input") -> Tensor:
    """``x`` must be a tensor of a floating dtype (TypeError naming the dtype otherwise)."""
    require_tensor(x, op, name)
    if not x.dtype.is_floating_point:
        raise TypeError(f"{op}(): {name} must be a floating point tensor, got {x.dtype}\n"
                        "hint: convert it with .float()")
    return x


def require_real(value, op: str, name: str) -> float:
    """A real Python or numpy number (not a bool, not a tensor), as a float."""
    if isinstance(value, bool) or not isinstance(value, _REAL):
        raise TypeError(f"{op}(): {name} must be a number, got {type(value).__name__} "
                        f"{value!r}")
    return float(value)


# --- GELU ---------------------------------------------------------------------------------

_APPROXIMATE = {"none": 0, "tanh": 1}


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002 (PyTorch's name)
    """Gaussian error linear unit, ``x * Phi(x)``; ``approximate="tanh"`` uses
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` (as ``torch.nn.functional.gelu``).

    >>> import tinytorch as tt
    >>> [round(v, 4) for v in gelu(tt.tensor([-1.0, 0.0, 1.0])).tolist()]
    [-0.1587, 0.0, 0.8413]
    >>> round(gelu(tt.tensor([1.0]), approximate="tanh").item(), 4)
    0.8412
    """
    return _Gelu.apply(input, approximate)


class _Gelu(Function):
    """Saves the input; the backward kernel recomputes ``Phi`` and ``phi`` from it."""

    @staticmethod
    def forward(ctx, x, approximate):
        require_floating(x, "gelu")
        if not isinstance(approximate, str):
            raise TypeError(f"gelu(): approximate must be a string, 'none' or 'tanh', got "
                            f"{type(approximate).__name__} {approximate!r}")
        code = _APPROXIMATE.get(approximate)
        if code is None:
            raise ValueError(f"gelu(): approximate={approximate!r} is not supported; use "
                             "'none' (the exact erf form) or 'tanh'")
        out = np.empty(x.shape, x.dtype.np)
        run("gelu_forward", out, x._data, approximate=code)
        ctx.approximate = code
        ctx.save_for_backward(x)
        return new(out)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        grad_x = np.empty(grad.shape, grad.dtype.np)
        run("gelu_backward", grad_x, grad._data, x._data, approximate=ctx.approximate)
        return new(grad_x), None


# --- leaky ReLU ---------------------------------------------------------------------------

def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    """``x`` where ``x > 0``, else ``negative_slope * x``.

    >>> import tinytorch as tt
    >>> leaky_relu(tt.tensor([-2.0, 0.0, 2.0]), negative_slope=0.25).tolist()
    [-0.5, 0.0, 2.0]
    """
    return _LeakyRelu.apply(input, negative_slope)


class _LeakyRelu(Function):
    """Saves the input: the gradient is ``g`` or ``slope * g`` depending on its sign."""

    @staticmethod
    def forward(ctx, x, negative_slope):
        require_floating(x, "leaky_relu")
        slope = require_real(negative_slope, "leaky_relu", "negative_slope")
        out = np.empty(x.shape, x.dtype.np)
        run("leaky_relu_forward", out, x._data, negative_slope=slope)
        ctx.slope = slope
        ctx.save_for_backward(x)
        return new(out)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        grad_x = np.empty(grad.shape, grad.dtype.np)
        run("leaky_relu_backward", grad_x, grad._data, x._data, negative_slope=ctx.slope)
        return new(grad_x), None


# --- softmax and log-softmax --------------------------------------------------------------

def _as_rows(arr: np.ndarray, d: int) -> tuple[np.ndarray, tuple]:
    """``arr`` with dimension ``d`` moved last, as a 2-D ``(rows, C)`` array, and the moved
    shape. A view whenever the strides allow one (always for ``d`` last on a contiguous
    array); otherwise one copy through the copy kernel. A 0-d array is one row of one."""
    moved = arr.reshape(1) if arr.ndim == 0 else (
        arr if d == arr.ndim - 1 else np.moveaxis(arr, d, -1))
    shape = moved.shape
    rows = math.prod(shape[:-1])
    return reshape_view(moved, (rows, shape[-1])), shape


def _from_rows(rows2d: np.ndarray, moved_shape: tuple, shape: tuple, d: int) -> np.ndarray:
    """The inverse of ``_as_rows`` for a fresh contiguous result: back to ``shape``, copied
    (through the copy kernel) into row-major order only when ``d`` was not the last dim."""
    out = rows2d.reshape(moved_shape)
    if not shape:
        return out.reshape(())
    if d != len(shape) - 1:
        out = np.moveaxis(out, -1, d)
        if not out.flags.c_contiguous:  # size-1 trailing dims would leave it contiguous
            buf = np.empty(shape, rows2d.dtype)
            run("copy_forward", buf, out)
            out = buf
    return out


def _rows_forward(ctx, op: str, x: Tensor, dim) -> Tensor:
    """The forward of softmax and log_softmax. Saves the output (as the contiguous 2-D rows
    the kernel wrote), which is all either backward needs: ``y`` for softmax, ``exp(y)`` for
    log-softmax. The input is not kept."""
    require_floating(x, op)
    d = normalize_dim(dim, x.ndim)
    x2, moved_shape = _as_rows(x._data, d)
    y2 = np.empty(x2.shape, x.dtype.np)
    with np.errstate(all="ignore"):  # inf/NaN rows give NaN, as PyTorch, not warnings
        dispatch.call(f"{op}_forward", y2, x2)
    ctx.d, ctx.moved_shape = d, moved_shape
    saved = Tensor(y2)
    ctx.save_for_backward(saved)
    out = Tensor(_from_rows(y2, moved_shape, x.shape, d))
    if np.may_share_memory(out._data, y2):
        # the returned tensor is a view of what backward reads: one memory, one version
        # counter, so an in-place write to the output is caught at backward
        out._version_ref = saved._version_ref
    return out


def _rows_backward(ctx, op: str, grad: Tensor) -> Tensor:
    (y,) = ctx.saved_tensors
    y2 = y._data
    g2, _ = _as_rows(grad._data, ctx.d)
    grad2 = np.empty(y2.shape, y2.dtype)
    with np.errstate(all="ignore"):
        dispatch.call(f"{op}_backward", grad2, g2, y2)
    return Tensor(_from_rows(grad2, ctx.moved_shape, grad.shape, ctx.d))


class _Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        return _rows_forward(ctx, "softmax", x, dim)

    @staticmethod
    def backward(ctx, grad):
        return _rows_backward(ctx, "softmax", grad), None


class _LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        return _rows_forward(ctx, "log_softmax", x, dim)

    @staticmethod
    def backward(ctx, grad):
        return _rows_backward(ctx, "log_softmax", grad), None


def softmax(input: Tensor, dim: int) -> Tensor:  # noqa: A002
    """``exp(x) / sum(exp(x))`` along ``dim``, computed stably (the max is subtracted first).

    >>> import tinytorch as tt
    >>> softmax(tt.tensor([[1000.0, 1000.0], [0.0, 0.0]]), dim=0).tolist()
    [[1.0, 1.0], [0.0, 0.0]]
    """
    return _Softmax.apply(input, dim)


def log_softmax(input: Tensor, dim: int) -> Tensor:  # noqa: A002
    """``x - log(sum(exp(x)))`` along ``dim``, computed stably; finite where
    ``softmax(x).log()`` would give ``-inf``.

    >>> import tinytorch as tt
    >>> log_softmax(tt.tensor([0.0, 200.0]), dim=-1).tolist()
    [-200.0, 0.0]
    """
    return _LogSoftmax.apply(input, dim)


# --- dropout ------------------------------------------------------------------------------

def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:  # noqa: A002
    """Inverted dropout: zero each element with probability ``p`` and scale the survivors
    by ``1 / (1 - p)``, so the expected value is unchanged and evaluation needs no rescale.
    The mask comes from ``tinytorch.random.generator()``, so ``tt.manual_seed`` makes it
    reproducible. ``input`` itself when not ``training`` or ``p == 0``; zeros when ``p == 1``.

    >>> import tinytorch as tt
    >>> x = tt.ones(2, 4)
    >>> _ = tt.manual_seed(0); a = dropout(x, 0.5)
    >>> _ = tt.manual_seed(0); b = dropout(x, 0.5)
    >>> a.tolist() == b.tolist(), sorted(set(a.flatten().tolist())) in ([0.0, 2.0], [2.0])
    (True, True)
    >>> dropout(x, 0.5, training=False) is x
    True
    """
    require_floating(input, "dropout")
    prob = require_real(p, "dropout", "p")
    if not 0.0 <= prob <= 1.0:  # also refuses NaN
        raise ValueError(f"dropout(): p is the probability of zeroing an element and must "
                         f"be in [0, 1], got {p!r}")
    if not isinstance(training, bool):
        raise TypeError(f"dropout(): training must be a bool, got {type(training).__name__} "
                        f"{training!r}")
    if not training or prob == 0.0:
        return input
    return _Dropout.apply(input, prob)


class _Dropout(Function):
    """Saves the scaled mask (``0`` or ``1 / (1 - p)`` per element); the backward multiplies
    the incoming gradient by the same mask through the ``mul`` kernel."""

    @staticmethod
    def forward(ctx, x, p):
        dtype = x.dtype.np
        # Drawing the uniforms is sampling, like tt.rand; everything after it is a kernel.
        u = _random.generator().random(x.shape, dtype=dtype)
        keep = np.empty(x.shape, np.bool_)
        run("ge_forward", keep, u, np.asarray(p, dtype))  # P(u >= p) = 1 - p
        scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)  # p == 1 keeps nothing: no 1/0
        mask = np.empty(x.shape, dtype)
        run("where_forward", mask, keep, np.asarray(scale, dtype), np.zeros((), dtype))
        out = np.empty(x.shape, dtype)
        run("mul_forward", out, x._data, mask)
        ctx.save_for_backward(Tensor(mask))
        return new(out)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        grad_x = np.empty(grad.shape, grad.dtype.np)
        run("mul_forward", grad_x, grad._data, mask._data)
        return new(grad_x), None
