"""Pooling ops with autograd (NCHW, PyTorch's semantics): ``max_pool2d``, ``avg_pool2d``,
``adaptive_avg_pool2d``.

Each op checks everything first (the compiled kernels index with these numbers and do not
bounds-check), computes the output size with PyTorch's formula, and makes one kernel call
forward and one backward (``kernels/pool.py``). A 3-D ``(C, H, W)`` input is one unbatched
image, as in PyTorch: it is viewed as ``(1, C, H, W)`` for the kernels, for free.

What backward needs: max pooling keeps the int64 index of each output's winner (8 bytes per
output element; the input is not kept); average pooling keeps only shapes and settings.

>>> import tinytorch as tt
>>> x = tt.arange(16.0).reshape(1, 1, 4, 4)
>>> max_pool2d(x, 2).tolist()
[[[[5.0, 7.0], [13.0, 15.0]]]]
>>> avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=False)[0, 0, 0].tolist()
[0.0, 0.5, 1.5, 2.5, 3.0]
>>> adaptive_avg_pool2d(x, 1).flatten().tolist()
[7.5]
"""

from __future__ import annotations

import numpy as np

from tinytorch import dispatch
from tinytorch.autograd import Function
from tinytorch.ops._common import new
from tinytorch.tensor import Tensor

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]

_BOOLS = (bool, np.bool_)
_INTS = (int, np.integer)


# --- argument checks ----------------------------------------------------------------------

def _is_int(v) -> bool:
    return isinstance(v, _INTS) and not isinstance(v, _BOOLS)


def _pair(value, op: str, name: str) -> tuple[int, int]:
    """An int, or a tuple/list of one or two ints, as ``(rows, columns)``."""
    if _is_int(value):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) in (1, 2) and all(map(_is_int, value)):
        return int(value[0]), int(value[-1])
    raise TypeError(f"{op}(): {name} must be an int or a pair of ints, got "
                    f"{type(value).__name__} {value!r}")


def _check_bool(value, op: str, name: str) -> bool:
    if not isinstance(value, _BOOLS):
        raise TypeError(f"{op}(): {name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def pool_params(op: str, kernel_size, stride, padding, dilation, ceil_mode) -> tuple:
    """Check a pooling layer's settings (once, for a module) and return them as the tuple
    ``(kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode)``; ``stride=None`` means the kernel size.

    >>> pool_params("max_pool2d", 3, None, 1, 1, False)
    (3, 3, 3, 3, 1, 1, 1, 1, False)
    >>> pool_params("max_pool2d", 3, 1, 2, 1, False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: max_pool2d(): padding (2, 2) must be at most half of kernel_size (3, 3) ...
    """
    kh, kw = _pair(kernel_size, op, "kernel_size")
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        sh, sw = kh, kw  # PyTorch: no stride (None or []) means stride = kernel_size
    else:
        sh, sw = _pair(stride, op, "stride")
    ph, pw = _pair(padding, op, "padding")
    dh, dw = _pair(dilation, op, "dilation")
    ceil_mode = _check_bool(ceil_mode, op, "ceil_mode")
    for name, pair in (("kernel_size", (kh, kw)), ("stride", (sh, sw)),
                       ("dilation", (dh, dw))):
        if min(pair) < 1:
            raise ValueError(f"{op}(): {name} must be at least 1, got {pair}")
    if min(ph, pw) < 0:
        raise ValueError(f"{op}(): padding must be non-negative, got {(ph, pw)}")
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"{op}(): padding {(ph, pw)} must be at most half of kernel_size "
                         f"{(kh, kw)} (PyTorch's rule: a window may not start more than half "
                         f"in the padding)\nhint: padding <= kernel_size // 2, here "
                         f"{(kh // 2, kw // 2)}")
    return kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode


def _out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's ``pooling_output_shape``: windows that start inside the input or its left
    padding; ``ceil_mode`` keeps a last, partial window."""
    span = size + 2 * p - d * (k - 1) - 1  # room for window starts beyond the first
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1  # Python's // floors, as div_rtn
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window would start in the right padding: drop it
    return out


def _check_input(x, op: str) -> np.ndarray:
    """The input as a 4-D array (a view of a 3-D one), after the type and shape checks."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): input must be a Tensor, got {type(x).__name__}\n"
                        "hint: wrap data with tt.tensor(...)")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{op}(): input must be a floating point tensor, got {x.dtype.name}\n"
                        "hint: convert it with .float()")
    data = x._data
    if data.ndim not in (3, 4) or 0 in data.shape[-3:]:
        raise ValueError(f"{op}(): expected a 3-D (C, H, W) or 4-D (N, C, H, W) input with "
                         f"non-zero C, H, W (N may be 0), got shape {x.shape}")
    return data if data.ndim == 4 else data[None]


def _output_hw(op: str, x4: np.ndarray, params: tuple) -> tuple[int, int]:
    kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode = params
    H, W = x4.shape[2], x4.shape[3]
    OH = _out_size(H, kh, sh, ph, dh, ceil_mode)
    OW = _out_size(W, kw, sw, pw, dw, ceil_mode)
    if OH < 1 or OW < 1:
        eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        raise ValueError(f"{op}(): the window ({eh}x{ew} with dilation) is larger than the "
                         f"padded input ({H + 2 * ph}x{W + 2 * pw}: input {H}x{W} plus padding "
                         f"{(ph, pw)} on each side); calculated output size {OH}x{OW} is too "
                         f"small\nhint: a smaller kernel_size, more padding, or ceil_mode=True")
    return OH, OW


def _unbatch(arr: np.ndarray, batched: bool):
    return new(arr if batched else arr[0])


# --- max pooling --------------------------------------------------------------------------

def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False):
    """The maximum of each ``kernel_size`` window (PyTorch's ``F.max_pool2d``). With
    ``return_indices=True`` also the int64 position ``h * W + w`` of each maximum in its
    plane. Ties go to the first maximum, NaN wins.

    >>> import tinytorch as tt
    >>> out, idx = max_pool2d(tt.tensor([[[[1.0, 3.0], [3.0, 2.0]]]]), 2, return_indices=True)
    >>> out.tolist(), idx.tolist()
    ([[[[3.0]]]], [[[[1]]]])
    """
    params = pool_params("max_pool2d", kernel_size, stride, padding, dilation, ceil_mode)
    return max_pool2d_checked(input, params,
                              _check_bool(return_indices, "max_pool2d", "return_indices"))


def max_pool2d_checked(input: Tensor, params: tuple, return_indices: bool = False):  # noqa: A002
    """``max_pool2d`` with settings already checked by ``pool_params`` (what ``nn.MaxPool2d``
    calls on every step: only the input is checked).

    >>> import tinytorch as tt
    >>> p = pool_params("max_pool2d", 2, None, 0, 1, False)
    >>> max_pool2d_checked(tt.ones(3, 4, 4), p).shape
    (3, 2, 2)
    """
    x4 = _check_input(input, "max_pool2d")
    OH, OW = _output_hw("max_pool2d", x4, params)
    indices = [] if return_indices else None
    out = _MaxPool2d.apply(input, (x4, params, (OH, OW), indices))
    if return_indices:
        # a copy for the caller: the graph's copy feeds a scatter that does not bounds-check
        idx = indices[0].copy()
        return out, new(idx if input.ndim == 4 else idx[0])
    return out


# Each Function below takes the input tensor and one tuple of everything else: the settings
# take no gradient, and every argument of apply() costs an edge and an entry on the node.

class _MaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, settings):
        x4, params, out_hw, indices_sink = settings
        kh, kw, sh, sw, ph, pw, dh, dw, _ = params
        N, C = x4.shape[0], x4.shape[1]
        out = np.empty((N, C) + out_hw, x4.dtype)
        indices = np.empty((N, C) + out_hw, np.int64)
        dispatch.call("max_pool2d_forward", out, indices, x4, kh=kh, kw=kw, sh=sh, sw=sw,
                      ph=ph, pw=pw, dh=dh, dw=dw)
        # saved as a tensor, so graph-memory accounting counts its 8 bytes per output
        ctx.save_for_backward(Tensor(indices))
        ctx.shape4, ctx.batched = x4.shape, x.ndim == 4
        if indices_sink is not None:
            indices_sink.append(indices)
        return _unbatch(out, ctx.batched)

    @staticmethod
    def backward(ctx, grad):
        (indices,) = ctx.saved_tensors
        g = grad._data
        grad_x = np.empty(ctx.shape4, g.dtype)
        dispatch.call("max_pool2d_backward", grad_x, g if ctx.batched else g[None],
                      indices._data)
        return _unbatch(grad_x, ctx.batched), None


# --- average pooling ----------------------------------------------------------------------

def avg_params(kernel_size, stride, padding, ceil_mode, count_include_pad,
               divisor_override) -> tuple:
    """Check ``avg_pool2d``'s settings: ``pool_params``'s tuple (dilation 1) plus
    ``count_include_pad`` and ``divisor_override`` (0 for None).

    >>> avg_params(2, None, 0, False, True, None)
    (2, 2, 2, 2, 0, 0, 1, 1, False, True, 0)
    """
    params = pool_params("avg_pool2d", kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad = _check_bool(count_include_pad, "avg_pool2d", "count_include_pad")
    if divisor_override is None:
        divisor = 0
    elif not _is_int(divisor_override):
        raise TypeError(f"avg_pool2d(): divisor_override must be an int or None, got "
                        f"{type(divisor_override).__name__} {divisor_override!r}")
    elif divisor_override < 1:
        raise ValueError(f"avg_pool2d(): divisor_override must be at least 1, got "
                         f"{divisor_override}")
    else:
        divisor = int(divisor_override)
    return params + (count_include_pad, divisor)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """The mean of each ``kernel_size`` window (PyTorch's ``F.avg_pool2d``). The divisor is
    ``divisor_override`` if given; else, with ``count_include_pad``, the window's size within
    the padded input (a ``ceil_mode`` window hanging past it counts only its padded part);
    else the number of real inputs in the window.

    >>> import tinytorch as tt
    >>> x = tt.ones(1, 1, 2, 2)
    >>> avg_pool2d(x, 2, padding=1).flatten().tolist()
    [0.25, 0.25, 0.25, 0.25]
    >>> avg_pool2d(x, 2, padding=1, count_include_pad=False).flatten().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    return avg_pool2d_checked(input, avg_params(kernel_size, stride, padding, ceil_mode,
                                                count_include_pad, divisor_override))


def avg_pool2d_checked(input: Tensor, params: tuple) -> Tensor:  # noqa: A002
    """``avg_pool2d`` with settings already checked by ``avg_params`` (``nn.AvgPool2d``).

    >>> import tinytorch as tt
    >>> avg_pool2d_checked(tt.ones(2, 1, 4, 4), avg_params(2, 1, 0, False, True, None)).shape
    (2, 1, 3, 3)
    """
    x4 = _check_input(input, "avg_pool2d")
    out_hw = _output_hw("avg_pool2d", x4, params[:9])
    return _AvgPool2d.apply(input, (x4, params, out_hw))


def _avg_scalars(params: tuple) -> dict:
    kh, kw, sh, sw, ph, pw, _, _, _, count_include_pad, divisor = params
    return {"kh": kh, "kw": kw, "sh": sh, "sw": sw, "ph": ph, "pw": pw,
            "count_include_pad": count_include_pad, "divisor_override": divisor}


class _AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, settings):
        x4, params, out_hw = settings
        out = np.empty(x4.shape[:2] + out_hw, x4.dtype)
        dispatch.call("avg_pool2d_forward", out, x4, **_avg_scalars(params))
        ctx.params, ctx.shape4, ctx.batched = params, x4.shape, x.ndim == 4
        return _unbatch(out, ctx.batched)

    @staticmethod
    def backward(ctx, grad):
        g = grad._data
        grad_x = np.empty(ctx.shape4, g.dtype)
        dispatch.call("avg_pool2d_backward", grad_x, g if ctx.batched else g[None],
                      **_avg_scalars(ctx.params))
        return _unbatch(grad_x, ctx.batched), None


# --- adaptive average pooling -------------------------------------------------------------

def adaptive_size(output_size, op: str = "adaptive_avg_pool2d") -> tuple:
    """Check an adaptive pool's ``output_size``: an int, or a pair whose entries are ints or
    ``None`` (None keeps that input dimension).

    >>> adaptive_size(1), adaptive_size((None, 3))
    ((1, 1), (None, 3))
    """
    if _is_int(output_size):
        pair = (int(output_size), int(output_size))
    elif (isinstance(output_size, (tuple, list)) and len(output_size) == 2
          and all(v is None or _is_int(v) for v in output_size)):
        pair = tuple(None if v is None else int(v) for v in output_size)
    else:
        raise TypeError(f"{op}(): output_size must be an int or a pair of ints (or None "
                        f"entries), got {type(output_size).__name__} {output_size!r}")
    if any(v is not None and v < 0 for v in pair):
        raise ValueError(f"{op}(): output_size must be non-negative, got {output_size!r}")
    return pair


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:  # noqa: A002
    """Average pooling to a fixed ``output_size`` whatever the input size (PyTorch's
    ``F.adaptive_avg_pool2d``): output row ``i`` averages input rows
    ``floor(i*H/OH)`` to ``ceil((i+1)*H/OH)`` (exclusive), columns alike. Output 1 is global
    average pooling.

    >>> import tinytorch as tt
    >>> adaptive_avg_pool2d(tt.arange(6.0).reshape(1, 1, 2, 3), (1, 2)).tolist()  # cols 0-1, 1-2
    [[[[2.0, 3.0]]]]
    """
    return adaptive_avg_pool2d_checked(input, adaptive_size(output_size))


def adaptive_avg_pool2d_checked(input: Tensor, size: tuple) -> Tensor:  # noqa: A002
    """``adaptive_avg_pool2d`` with ``output_size`` already checked by ``adaptive_size``.

    >>> import tinytorch as tt
    >>> adaptive_avg_pool2d_checked(tt.ones(2, 3, 5, 5), (1, 1)).shape
    (2, 3, 1, 1)
    """
    x4 = _check_input(input, "adaptive_avg_pool2d")
    out_hw = (x4.shape[2] if size[0] is None else size[0],
              x4.shape[3] if size[1] is None else size[1])
    return _AdaptiveAvgPool2d.apply(input, (x4, out_hw))


class _AdaptiveAvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, settings):
        x4, out_hw = settings
        out = np.empty(x4.shape[:2] + out_hw, x4.dtype)
        dispatch.call("adaptive_avg_pool2d_forward", out, x4)
        ctx.shape4, ctx.batched = x4.shape, x.ndim == 4
        return _unbatch(out, ctx.batched)

    @staticmethod
    def backward(ctx, grad):
        g = grad._data
        grad_x = np.empty(ctx.shape4, g.dtype)
        dispatch.call("adaptive_avg_pool2d_backward", grad_x, g if ctx.batched else g[None])
        return _unbatch(grad_x, ctx.batched), None
