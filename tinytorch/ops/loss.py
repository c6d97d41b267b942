"""Losses with autograd: cross-entropy, negative log-likelihood, MSE, BCE with logits.

PyTorch's semantics throughout (``torch.nn.functional``): ``reduction`` is ``"mean"``,
``"sum"`` or ``"none"``; class targets hold integer indices, and a target equal to
``ignore_index`` contributes neither loss nor gradient (``"mean"`` divides by the number of
targets that are not ignored, so all-ignored gives NaN, as PyTorch). Every argument,
including every class index, is checked before any kernel runs: the kernels index with the
targets and compiled code does not bounds-check.

Each loss is one fused forward kernel (``kernels/loss.py``) plus, for ``"mean"``/``"sum"``,
the float64 ``sum`` kernel; and one backward kernel: the gradient of the reduction (``1/n``
or ``1``) is folded into the per-row gradient ``g`` the backward kernel reads, so there is no
separate pass to broadcast or scale it. ``docs/losses.md`` explains the numerics.

>>> import tinytorch as tt
>>> logits = tt.tensor([[2.0, 0.0], [0.0, 2.0]], requires_grad=True)
>>> loss = tt.ops.cross_entropy(logits, tt.tensor([0, 1]))
>>> round(loss.item(), 4)
0.1269
>>> loss.backward()
>>> [round(v, 4) for v in logits.grad[0].tolist()]
[-0.0596, 0.0596]
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch import dispatch
from tinytorch import dtypes as dt
from tinytorch.autograd import Function
from tinytorch.layout import broadcast_shapes
from tinytorch.ops._common import as_array, new, require_tensor, run
from tinytorch.ops.activation import require_floating, require_real
from tinytorch.ops.elementwise import neg
from tinytorch.tensor import Tensor

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits"]

_REDUCTIONS = ("mean", "sum", "none")
_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


# --- argument checks ----------------------------------------------------------------------

def _check_reduction(op: str, reduction) -> str:
    if not isinstance(reduction, str):
        raise TypeError(f"{op}(): reduction must be a string, one of 'mean', 'sum', 'none'; "
                        f"got {type(reduction).__name__} {reduction!r}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}(): reduction={reduction!r} is not valid; use one of 'mean', "
                         "'sum', 'none'")
    return reduction


def _check_class_input(op: str, x) -> None:
    """Logits (or log-probabilities) of shape ``(N, C)`` or ``(C,)``, floating, ``C >= 1``."""
    require_floating(x, op)
    if x.ndim not in (1, 2):
        raise ValueError(f"{op}(): input must have shape (N, C) or (C,), got {x.shape}\n"
                         "hint: for (N, C, d1, ...) scores move the class dimension last and "
                         "flatten: x.permute(0, 2, 3, 1).reshape(-1, C), target.reshape(-1)")
    if x.shape[-1] == 0:
        raise ValueError(f"{op}(): input of shape {x.shape} has no classes (C = 0)")


def _check_ignore_index(op: str, ignore_index) -> int:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{op}(): ignore_index must be an int, got "
                        f"{type(ignore_index).__name__} {ignore_index!r}")
    if not _INT64_MIN <= ignore_index <= _INT64_MAX:
        raise ValueError(f"{op}(): ignore_index={ignore_index} does not fit in int64")
    return int(ignore_index)


def _check_targets(op: str, target, x: Tensor, ignore_index: int) -> tuple[Tensor, int]:
    """Class indices for ``x``: an integer tensor of shape ``(N,)`` (``()`` for a ``(C,)``
    input) with every value in ``[0, C)`` or equal to ``ignore_index``. Returns the targets
    as an int64 tensor (the kernels' index type; cast through the copy kernel only if
    needed) and the number of targets that are not ignored."""
    require_tensor(target, op, "target")
    if target.dtype is dt.bool_ or target.dtype.is_floating_point:
        raise TypeError(f"{op}(): target must hold class indices of an integer dtype, got "
                        f"{target.dtype}\nhint: convert with target.long() (class "
                        "probabilities as targets are not supported)")
    expected = x.shape[:1] if x.ndim == 2 else ()
    if target.shape != expected:
        raise ValueError(f"{op}(): target of shape {target.shape} does not match input of "
                         f"shape {x.shape}: expected one class index per row, shape "
                         f"{expected}")
    t = target._data
    n_classes = x.shape[-1]
    count = t.size
    if count:
        lo, hi = int(t.min()), int(t.max())
        # Fast path (two reductions): all in range and none equal to ignore_index.
        if lo < 0 or hi >= n_classes or lo <= ignore_index <= hi:
            t64 = t.astype(np.int64).reshape(-1)
            ignored = t64 == ignore_index
            bad = ~ignored & ((t64 < 0) | (t64 >= n_classes))
            if bad.any():
                pos = int(np.argmax(bad))
                where = f"target[{pos}]" if t.ndim else "target"
                raise ValueError(
                    f"{op}(): {where} = {int(t64[pos])} is out of range for {n_classes} "
                    f"classes: class indices must be in [0, {n_classes - 1}] or equal "
                    f"ignore_index ({ignore_index})")
            count -= int(ignored.sum())
    if target.dtype is not dt.int64:
        target = new(as_array(target, dt.int64))
    return target, count


def _refuse_grad_of(ctx, op: str, names: dict) -> None:
    """``names``: {position in forward's arguments: name}. Gradients for those inputs are
    not implemented; refuse them rather than silently return none."""
    needs = ctx.needs_input_grad
    for pos, name in names.items():
        if needs and needs[pos]:
            raise NotImplementedError(
                f"{op}(): the gradient with respect to {name} is not implemented, and "
                f"{name} requires grad\nhint: pass {name}.detach()")


# --- reductions ---------------------------------------------------------------------------

def _reduce(per_item: np.ndarray, reduction: str, count: int, out_shape: tuple) -> np.ndarray:
    """``"none"``: ``per_item`` as ``out_shape``; else its float64 sum (the ``sum`` kernel),
    divided by ``count`` for ``"mean"`` (NaN when ``count`` is 0, as PyTorch), as a 0-d
    array of ``per_item``'s dtype."""
    if reduction == "none":
        return per_item.reshape(out_shape)
    acc = np.empty(1, np.float64)
    dispatch.call("sum_forward", acc, per_item.reshape(1, -1))
    total = float(acc[0])
    if reduction == "mean":
        total = total / count if count else math.nan
    return np.array(total, per_item.dtype)


def _scale(grad: Tensor, reduction: str, count: int) -> float:
    """The gradient that each item receives from a ``"mean"``/``"sum"`` reduction."""
    g = grad.item()
    if reduction == "mean":
        return g / count if count else math.nan  # count 0: every item is ignored, unread
    return g


# --- cross-entropy and nll ----------------------------------------------------------------

def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
                  ignore_index: int = -100, label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits ``input`` (``(N, C)``, or ``(C,)`` with a 0-d target)
    against class indices ``target``: ``log_softmax`` and ``nll_loss`` fused into one
    stable kernel. ``label_smoothing`` mixes the one-hot target with the uniform
    distribution, as PyTorch: ``(1 - eps) * onehot + eps / C``.

    >>> import tinytorch as tt
    >>> x = tt.tensor([[10000.0, 0.0], [0.0, 0.0]])  # finite even at 1e4
    >>> cross_entropy(x, tt.tensor([1, 0]), reduction="none").tolist()
    [10000.0, 0.6931471824645996]
    >>> cross_entropy(x, tt.tensor([1, -100])).item()  # mean over the one kept row
    10000.0
    """
    return _CrossEntropy.apply(input, target, reduction, ignore_index, label_smoothing)


class _CrossEntropy(Function):
    """Saves the logits (already held by the caller), the float64 per-row log-sum-exp
    (``N`` numbers) and the targets: the backward kernel rebuilds ``softmax`` from
    ``exp(x - lse)`` instead of keeping an ``(N, C)`` probability array alive."""

    @staticmethod
    def forward(ctx, x, target, reduction, ignore_index, label_smoothing):
        op = "cross_entropy"
        _check_class_input(op, x)
        ignore = _check_ignore_index(op, ignore_index)
        eps = require_real(label_smoothing, op, "label_smoothing")
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"{op}(): label_smoothing must be in [0, 1], got "
                             f"{label_smoothing!r}")
        _check_reduction(op, reduction)
        target, count = _check_targets(op, target, x, ignore)
        x2 = x._data.reshape(1, -1) if x.ndim == 1 else x._data
        t = target._data.reshape(-1)
        loss = np.empty(x2.shape[0], x.dtype.np)
        lse = np.empty(x2.shape[0], np.float64)
        with np.errstate(all="ignore"):
            dispatch.call("cross_entropy_forward", loss, lse, x2, t, ignore_index=ignore,
                          label_smoothing=eps)
        ctx.params = (reduction, count, ignore, eps)
        ctx.save_for_backward(x, new(lse), target)
        return new(_reduce(loss, reduction, count, x.shape[:-1]))

    @staticmethod
    def backward(ctx, grad):
        x, lse, target = ctx.saved_tensors
        reduction, count, ignore, eps = ctx.params
        x2 = x._data.reshape(1, -1) if x.ndim == 1 else x._data
        n = x2.shape[0]
        if reduction == "none":
            g = grad._data.reshape(n)
        else:
            g = np.full(n, _scale(grad, reduction, count), x.dtype.np)
        grad_x = np.empty(x2.shape, x.dtype.np)
        with np.errstate(all="ignore"):
            dispatch.call("cross_entropy_backward", grad_x, g, x2, lse._data,
                          target._data.reshape(-1), ignore_index=ignore, label_smoothing=eps)
        return new(grad_x.reshape(x.shape)), None, None, None, None


def nll_loss(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
             ignore_index: int = -100) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (``(N, C)``, or ``(C,)``
    with a 0-d target): ``-input[i, target[i]]``, reduced. ``nll_loss(log_softmax(x, 1),
    t)`` equals ``cross_entropy(x, t)``.

    >>> import tinytorch as tt
    >>> logp = tt.tensor([[-0.5, -1.0], [-2.0, -0.25]])
    >>> nll_loss(logp, tt.tensor([0, 1]), reduction="none").tolist()
    [0.5, 0.25]
    >>> nll_loss(logp, tt.tensor([0, 1]), reduction="sum").item()
    0.75
    """
    return _NllLoss.apply(input, target, reduction, ignore_index)


class _NllLoss(Function):
    """Saves the targets only: the gradient is ``-g_i`` at ``(i, t_i)``."""

    @staticmethod
    def forward(ctx, x, target, reduction, ignore_index):
        op = "nll_loss"
        _check_class_input(op, x)
        ignore = _check_ignore_index(op, ignore_index)
        _check_reduction(op, reduction)
        target, count = _check_targets(op, target, x, ignore)
        x2 = x._data.reshape(1, -1) if x.ndim == 1 else x._data
        loss = np.empty(x2.shape[0], x.dtype.np)
        dispatch.call("nll_forward", loss, x2, target._data.reshape(-1), ignore_index=ignore)
        ctx.params = (reduction, count, ignore, x.shape)
        ctx.save_for_backward(target)
        return new(_reduce(loss, reduction, count, x.shape[:-1]))

    @staticmethod
    def backward(ctx, grad):
        (target,) = ctx.saved_tensors
        reduction, count, ignore, shape = ctx.params
        n, c = (1, shape[0]) if len(shape) == 1 else shape
        if reduction == "none":
            g = grad._data.reshape(n)
        else:
            g = np.full(n, _scale(grad, reduction, count), grad.dtype.np)
        grad_x = np.empty((n, c), grad.dtype.np)
        dispatch.call("nll_backward", grad_x, g, target._data.reshape(-1), ignore_index=ignore)
        return new(grad_x.reshape(shape)), None, None, None


# --- elementwise losses -------------------------------------------------------------------

def _check_pair(op: str, x, y) -> dt.DType:
    """Input and target: floating tensors of one shape; returns the compute dtype."""
    require_floating(x, op, "input")
    require_floating(y, op, "target")
    if x.shape != y.shape:
        raise ValueError(f"{op}(): target of shape {y.shape} does not match input of shape "
                         f"{x.shape}; they must be equal\nhint: reshape one of them, e.g. "
                         "target.reshape(input.shape)")
    return dt.promote_types(x.dtype, y.dtype)


def _elementwise_g(grad: Tensor, reduction: str, n: int, dtype: dt.DType) -> np.ndarray:
    """The per-element gradient: ``grad`` itself for ``"none"``, else one number that
    ``views_2d`` broadcasts with stride 0 (no array of ``n`` copies is made)."""
    if reduction == "none":
        return grad._data
    return np.asarray(_scale(grad, reduction, n), dtype.np)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error ``(input - target)^2``, reduced; both of one shape.

    >>> import tinytorch as tt
    >>> mse_loss(tt.tensor([1.0, 2.0]), tt.tensor([3.0, 2.0])).item()
    2.0
    """
    return _MseLoss.apply(input, target, reduction)


class _MseLoss(Function):
    """Saves input and target; one fused kernel each way (``2 g (x - y)``), the target's
    gradient being its negation (the ``neg`` kernel), computed only when needed."""

    @staticmethod
    def forward(ctx, x, y, reduction):
        op = "mse_loss"
        compute = _check_pair(op, x, y)
        _check_reduction(op, reduction)
        per = np.empty(x.shape, compute.np)
        run("mse_forward", per, as_array(x, compute), as_array(y, compute))
        ctx.params = (reduction, compute)
        ctx.save_for_backward(x, y)
        return new(_reduce(per, reduction, per.size, x.shape))

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        reduction, compute = ctx.params
        need_x, need_y, _ = ctx.needs_input_grad
        g = _elementwise_g(grad, reduction, x.numel(), compute)
        grad_x = np.empty(x.shape, compute.np)
        run("mse_backward", grad_x, g, as_array(x, compute), as_array(y, compute))
        gx = new(grad_x)
        return (gx if need_x else None), (neg(gx) if need_y else None), None


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of logits ``input`` against probabilities ``target`` (one
    shape), with the sigmoid folded in and computed stably:
    ``max(x, 0) - x * y + log1p(exp(-|x|))``. ``pos_weight`` (broadcast over ``input``,
    typically one weight per class) scales the positive term, as PyTorch.

    >>> import tinytorch as tt
    >>> x, y = tt.tensor([0.0, 1000.0]), tt.tensor([1.0, 1.0])
    >>> round(binary_cross_entropy_with_logits(x, y, reduction="sum").item(), 4)
    0.6931
    >>> binary_cross_entropy_with_logits(x, y, reduction="none",
    ...                                  pos_weight=tt.tensor([2.0])).tolist()[1]
    0.0
    """
    return _BceWithLogits.apply(input, target, reduction, pos_weight)


class _BceWithLogits(Function):
    """Saves input, target and pos_weight; one fused kernel each way. Gradients reach the
    input only: a target or pos_weight that requires grad is refused, not ignored."""

    @staticmethod
    def forward(ctx, x, y, reduction, pos_weight):
        op = "binary_cross_entropy_with_logits"
        compute = _check_pair(op, x, y)
        _check_reduction(op, reduction)
        if pos_weight is not None:
            require_floating(pos_weight, op, "pos_weight")
            try:
                ok = broadcast_shapes(pos_weight.shape, x.shape) == x.shape
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"{op}(): pos_weight of shape {pos_weight.shape} does not "
                                 f"broadcast to the input's shape {x.shape}\nhint: one weight "
                                 f"per class has shape ({x.shape[-1] if x.ndim else 1},)")
            compute = dt.promote_types(compute, pos_weight.dtype)
        _refuse_grad_of(ctx, op, {1: "target", 3: "pos_weight"})
        xa, ya = as_array(x, compute), as_array(y, compute)
        pw = np.ones((), compute.np) if pos_weight is None else as_array(pos_weight, compute)
        per = np.empty(x.shape, compute.np)
        run("bce_with_logits_forward", per, xa, ya, pw)
        ctx.params = (reduction, compute)
        ctx.save_for_backward(x, y, pos_weight)
        return new(_reduce(per, reduction, per.size, x.shape))

    @staticmethod
    def backward(ctx, grad):
        x, y, pos_weight = ctx.saved_tensors
        reduction, compute = ctx.params
        g = _elementwise_g(grad, reduction, x.numel(), compute)
        pw = np.ones((), compute.np) if pos_weight is None else as_array(pos_weight, compute)
        grad_x = np.empty(x.shape, compute.np)
        run("bce_with_logits_backward", grad_x, g, as_array(x, compute), as_array(y, compute),
            pw)
        return new(grad_x), None, None, None
