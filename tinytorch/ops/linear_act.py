"""Linear layer and activation fused: ``act(x @ weight.T + bias)`` as one kernel call forward
(``linear_act_forward``) and one backward (``linear_act_backward``: the activation's mask or
slope and all three gradients), instead of ``linear`` then ``relu`` (two calls each way, and
an ``(M, N)`` intermediate written and read back). ``kernels/linear_act.py`` has the math and
the byte counts, ``docs/fusion.md`` the measured gain.

``x`` may have any number of leading dimensions (``(..., in_features)``), flattened into rows
as ``ops.linear`` does. For ReLU the backward reads the output itself (``out > 0`` exactly
where the pre-activation is positive), so the op saves nothing extra; for GELU it saves the
pre-activation ``z`` (one ``(M, N)`` array, as PyTorch's unfused ``linear`` + ``gelu`` does).

>>> import tinytorch as tt
>>> x = tt.tensor([[1.0, 2.0]])
>>> w = tt.tensor([[1.0, 0.0], [-1.0, -1.0]])
>>> linear_relu(x, w, tt.tensor([0.5, 1.0])).tolist()
[[1.5, 0.0]]
"""

from __future__ import annotations

import numpy as np

from tinytorch import dispatch
from tinytorch.autograd import Function
from tinytorch.ops._common import new
from tinytorch.ops.linear import _rows, check_linear
from tinytorch.tensor import Tensor

__all__ = ["linear_act", "linear_relu", "linear_gelu", "ACTIVATIONS"]

# The activation names the op accepts and the kernel's code for each (kernels/linear_act.py).
ACTIVATIONS = {"relu": 0, "gelu": 1, "gelu_tanh": 2}
_RELU = ACTIVATIONS["relu"]
_EMPTY = {np.dtype(np.float32): np.empty((0, 0), np.float32),
          np.dtype(np.float64): np.empty((0, 0), np.float64)}  # ReLU's unused `pre`


def linear_act(x: Tensor, weight: Tensor, bias: Tensor | None = None,
               activation: str = "relu") -> Tensor:
    """``act(x @ weight.T + bias)`` in one kernel, ``activation`` one of ``"relu"``,
    ``"gelu"`` (exact, erf) or ``"gelu_tanh"`` (the tanh approximation). ``weight`` is
    ``(out_features, in_features)``, ``x`` is ``(..., in_features)``.

    >>> import tinytorch as tt
    >>> x, w = tt.tensor([[1.0, -1.0]]), tt.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> linear_act(x, w, activation="relu").tolist()
    [[1.0, 0.0]]
    >>> [round(v, 4) for v in linear_act(x, w, activation="gelu").tolist()[0]]
    [0.8413, -0.1587]
    """
    code = _check(x, weight, bias, activation, "linear_act")
    return _LinearAct.apply(x, weight, bias, code)


def linear_relu(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``relu(x @ weight.T + bias)``, one fused kernel each way (see ``linear_act``).

    >>> import tinytorch as tt
    >>> linear_relu(tt.tensor([[2.0]]), tt.tensor([[1.0], [-1.0]])).tolist()
    [[2.0, 0.0]]
    """
    _check(x, weight, bias, "relu", "linear_relu")
    return _LinearAct.apply(x, weight, bias, _RELU)


def linear_gelu(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                approximate: str = "none") -> Tensor:
    """``gelu(x @ weight.T + bias)`` (``approximate`` ``"none"`` or ``"tanh"``, as
    ``F.gelu``), one fused kernel each way (see ``linear_act``).

    >>> import tinytorch as tt
    >>> round(linear_gelu(tt.tensor([[1.0]]), tt.tensor([[1.0]])).item(), 4)
    0.8413
    """
    if approximate not in ("none", "tanh"):
        if not isinstance(approximate, str):
            raise TypeError(f"linear_gelu(): approximate must be a string, 'none' or 'tanh', "
                            f"got {type(approximate).__name__} {approximate!r}")
        raise ValueError(f"linear_gelu(): approximate={approximate!r} is not supported; use "
                         "'none' (the exact erf form) or 'tanh'")
    name = "gelu" if approximate == "none" else "gelu_tanh"
    code = _check(x, weight, bias, name, "linear_gelu")
    return _LinearAct.apply(x, weight, bias, code)


def _check(x, weight, bias, activation, op: str) -> int:
    """Every check before any kernel runs (the compiled loops index without bounds checks);
    returns the kernel's activation code."""
    if not isinstance(activation, str):
        raise TypeError(f"{op}(): activation must be a string, one of "
                        f"{', '.join(ACTIVATIONS)}; got {type(activation).__name__} "
                        f"{activation!r}")
    code = ACTIVATIONS.get(activation)
    if code is None:
        raise ValueError(f"{op}(): activation={activation!r} is not supported; use one of "
                         f"{', '.join(ACTIVATIONS)}\nhint: for any other activation call "
                         "F.linear, then the activation")
    check_linear(x, weight, bias, op)
    return code


class _LinearAct(Function):
    """Saves ``x``, ``weight`` and what the activation's derivative reads: the output for
    ReLU (saved detached, so the graph holds no cycle), the pre-activation for GELU."""

    @staticmethod
    def forward(ctx, x, weight, bias, code):
        x2 = _rows(x._data)
        n = weight.shape[0]
        dtype = weight.dtype.np
        b = bias._data if bias is not None else np.zeros(n, dtype)
        out = np.empty((x2.shape[0], n), dtype)
        pre = _EMPTY[dtype] if code == _RELU else np.empty(out.shape, dtype)
        if out.size:
            dispatch.call("linear_act_forward", out, pre, x2, weight._data, b,
                          activation=code)
        result = new(out.reshape(x.shape[:-1] + (n,)))
        if ctx.needs_input_grad:  # recording a graph: keep what backward reads
            ctx.code = code
            ctx.save_for_backward(x, weight, result.detach() if code == _RELU else new(pre))
        return result

    @staticmethod
    def backward(ctx, grad):
        x, weight, saved = ctx.saved_tensors
        need_x, need_w, need_b, _ = ctx.needs_input_grad
        x2 = _rows(x._data)
        dtype = weight.dtype.np
        grad_w = np.empty(weight.shape, dtype)
        grad_b = np.empty(weight.shape[0], dtype)
        grad_x = np.empty(x2.shape, dtype) if need_x else _EMPTY[dtype]
        dispatch.call("linear_act_backward", grad_x, grad_w, grad_b, _rows(grad._data), x2,
                      weight._data, _rows(saved._data), need_x=need_x,
                      activation=ctx.code)
        return (new(grad_x.reshape(x.shape)) if need_x else None,
                new(grad_w) if need_w else None,
                new(grad_b) if need_b else None,
                None)
