"""Matrix products: ``a @ b`` for 1-D, 2-D and batched operands, with broadcast batches.

PyTorch's rules (``torch.matmul``): a 1-D first operand is a row ``(1, K)`` and a 1-D second
operand a column ``(K, 1)``, and the added dimension is removed from the result; leading
(batch) dimensions broadcast. The kernel always sees 3-D ``(B, M, K) @ (B, K, N)``.

>>> import tinytorch as tt
>>> (tt.ones(2, 3) @ tt.ones(3)).tolist()
[3.0, 3.0]
>>> (tt.ones(5, 1, 2, 3) @ tt.ones(4, 3, 2)).shape
(5, 4, 2, 2)
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch import dispatch
from tinytorch import dtypes as dt
from tinytorch.autograd import Function, sum_to
from tinytorch.layout import broadcast_shapes
from tinytorch.ops._common import as_array, new, require_tensor, reshape_view


def _batched(arr: np.ndarray, batch: tuple, rows: int, cols: int) -> np.ndarray:
    """``arr`` broadcast to ``batch + (rows, cols)`` and viewed as 3-D; a broadcast batch
    keeps stride 0 when it can, else it is copied once through the copy kernel."""
    if len(batch) <= 1 and arr.shape == batch + (rows, cols):  # already 3-D, or 2-D: a view
        return arr if batch else arr[None]
    return reshape_view(np.broadcast_to(arr, batch + (rows, cols)),
                        (math.prod(batch), rows, cols))


def matmul(a, b):
    """Matrix product with PyTorch's shape rules (see the module docstring).

    >>> import tinytorch as tt
    >>> tt.matmul(tt.tensor([[1, 2], [3, 4]]), tt.tensor([[1], [1]])).tolist()
    [[3], [7]]
    """
    return _Matmul.apply(a, b)


class _Matmul(Function):
    """``grad_a = grad @ b^T`` and ``grad_b = a^T @ grad``: two more products through the
    same ``matmul_forward`` kernel, on transposed views (nothing copied). A 1-D operand is
    treated as the row/column the forward made of it, and a broadcast batch is summed back
    (``sum_to``)."""

    @staticmethod
    def forward(ctx, a, b):
        out = _matmul_forward(a, b)
        ctx.save_for_backward(a, b)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        a2 = a.unsqueeze(0) if a.ndim == 1 else a
        b2 = b.unsqueeze(-1) if b.ndim == 1 else b
        m, n = a2.shape[-2], b2.shape[-1]
        tail = (() if a.ndim == 1 else (m,)) + (() if b.ndim == 1 else (n,))
        g = grad.reshape(grad.shape[:grad.ndim - len(tail)] + (m, n))
        grad_a = grad_b = None
        if need_a:
            grad_a = sum_to(_matmul_forward(g, b2.transpose(-1, -2)), a2.shape).reshape(a.shape)
        if need_b:
            grad_b = sum_to(_matmul_forward(a2.transpose(-1, -2), g), b2.shape).reshape(b.shape)
        return grad_a, grad_b


def _matmul_forward(a, b):
    require_tensor(a, "matmul", "a")
    require_tensor(b, "matmul", "b")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul(): both operands need at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape}\nhint: use * for scalars")
    compute = dt.promote_types(a.dtype, b.dtype)
    if compute is dt.bool_:
        raise TypeError("matmul() is not supported for bool tensors; cast with .to(tt.int64)")
    a_shape = (1,) + a.shape if a.ndim == 1 else a.shape
    b_shape = b.shape + (1,) if b.ndim == 1 else b.shape
    m, k = a_shape[-2:]
    k2, n = b_shape[-2:]
    if k != k2:
        raise ValueError(f"matmul(): shapes {a.shape} and {b.shape} cannot be multiplied: "
                         f"a has {k} columns but b has {k2} rows ({m}x{k} @ {k2}x{n})")
    try:
        batch = broadcast_shapes(a_shape[:-2], b_shape[:-2],
                                 names=("a's batch", "b's batch"))
    except ValueError as err:  # name the operands' full shapes, not only the batch parts
        raise ValueError(f"matmul(): shapes {a.shape} and {b.shape} cannot be multiplied: "
                         f"the batch dimensions do not broadcast ({err})") from None
    a3 = _batched(as_array(a, compute).reshape(a_shape), batch, m, k)
    b3 = _batched(as_array(b, compute).reshape(b_shape), batch, k, n)
    out = np.empty((a3.shape[0], m, n), compute.np)
    if out.size:
        dispatch.call("matmul_forward", out, a3, b3)
    shape = batch + (m, n)
    if a.ndim == 1:
        shape = shape[:-2] + (n,)
    if b.ndim == 1:
        shape = shape[:-1]
    return new(out.reshape(shape))
