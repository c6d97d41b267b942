"""2-D convolution as an autograd op (module 03): ``conv2d``, with PyTorch's arguments.

``F.conv2d`` and ``nn.Conv2d`` land here. Everything is checked before a kernel runs (the
compiled kernels do not bounds-check): shapes, dtypes, stride, padding, dilation, groups,
and that the (dilated) kernel fits the padded input. Then one ``conv2d_forward`` kernel
call computes the whole batch, and one ``conv2d_backward`` call all three gradients
(``kernels/conv.py``).

``padding`` is an int, a pair ``(pad_h, pad_w)``, ``"valid"`` (no padding) or ``"same"``
(output size = input size; stride 1 only). ``"same"`` pads ``dilation * (kernel - 1)`` in
all, half on the top/left and the rest, one more when the total is odd, on the
bottom/right: PyTorch's rule. A 3-D input ``(C, H, W)`` is one unbatched image.

>>> import tinytorch as tt
>>> x = tt.ones(1, 1, 3, 3)
>>> conv2d(x, tt.ones(1, 1, 2, 2), padding="same").tolist()
[[[[4.0, 4.0, 2.0], [4.0, 4.0, 2.0], [2.0, 2.0, 1.0]]]]
"""

from __future__ import annotations

import numpy as np

from tinytorch import dispatch
from tinytorch.autograd import Function
from tinytorch.ops._common import new, require_tensor, run
from tinytorch.tensor import Tensor

__all__ = ["conv2d", "conv2d_output_shape", "pair"]

_INTS = (int, np.integer)


def _int(value, op: str, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, _INTS):
        raise TypeError(f"{op}(): {name} must be an int or a pair of ints, got "
                        f"{type(value).__name__} {value!r}")
    return int(value)


def pair(value, op: str, name: str, minimum: int) -> tuple[int, int]:
    """``value`` (an int or a pair of ints) as ``(h, w)``, each at least ``minimum``.

    >>> pair(2, "conv2d", "stride", 1), pair((1, 3), "conv2d", "dilation", 1)
    ((2, 2), (1, 3))
    >>> pair(0, "conv2d", "stride", 1)
    Traceback (most recent call last):
    ...
    ValueError: conv2d(): stride must be >= 1, got (0, 0)
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{op}(): {name} must be an int or a pair (h, w), got "
                             f"{len(value)} values {tuple(value)!r}")
        hw = (_int(value[0], op, name), _int(value[1], op, name))
    else:
        hw = (_int(value, op, name),) * 2
    if min(hw) < minimum:
        what = f"negative {name} is not supported" if minimum == 0 else \
            f"{name} must be >= {minimum}"
        raise ValueError(f"{op}(): {what}, got {hw}")
    return hw


def _padding(padding, kernel: tuple, dilation: tuple, stride: tuple, op: str):
    """``((top, bottom), (left, right))`` from an int, a pair, "valid" or "same"."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"{op}(): padding={padding!r} is not supported; use an int, a "
                             "pair (pad_h, pad_w), 'valid' or 'same'")
        if stride != (1, 1):
            raise ValueError(f"{op}(): padding='same' is not supported for strided "
                             f"convolutions (stride={stride})\nhint: compute the padding "
                             "yourself, or use stride=1")
        sides = []
        for k, d in zip(kernel, dilation, strict=True):
            total = d * (k - 1)  # PyTorch: the odd one out goes to the bottom/right
            sides.append((total // 2, total - total // 2))
        return tuple(sides)
    ph, pw = pair(padding, op, "padding", 0)
    return (ph, ph), (pw, pw)


def conv2d_output_shape(input_shape, weight_shape, stride=1, padding=0, dilation=1):
    """``(N, C_out, OH, OW)`` (or ``(C_out, OH, OW)`` for a 3-D input) that ``conv2d``
    returns; ``OH = (H + pad_top + pad_bottom - dilation*(KH - 1) - 1) // stride + 1``.

    >>> conv2d_output_shape((32, 3, 32, 32), (16, 3, 3, 3), padding=1)
    (32, 16, 32, 32)
    >>> conv2d_output_shape((3, 9, 9), (8, 3, 3, 3), stride=2)
    (8, 4, 4)
    """
    stride = pair(stride, "conv2d", "stride", 1)
    dilation = pair(dilation, "conv2d", "dilation", 1)
    pads = _padding(padding, tuple(weight_shape[2:]), dilation, stride, "conv2d")
    hw = tuple((size + sum(p) - d * (k - 1) - 1) // s + 1 for size, p, d, k, s in
               zip(input_shape[-2:], pads, dilation, weight_shape[2:], stride, strict=True))
    return (*input_shape[:-3], weight_shape[0], *hw)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,  # noqa: A002
           padding=0, dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation of ``input`` ``(N, C_in, H, W)`` (or ``(C_in, H, W)``) with
    ``weight`` ``(C_out, C_in / groups, KH, KW)``, plus ``bias`` ``(C_out,)``: PyTorch's
    ``F.conv2d``, NCHW. Differentiable in ``input``, ``weight`` and ``bias``.

    >>> import tinytorch as tt
    >>> x = tt.ones(2, 4, 5, 5)
    >>> conv2d(x, tt.ones(6, 2, 3, 3), tt.zeros(6), stride=2, padding=1, groups=2).shape
    (2, 6, 3, 3)
    """
    op = "conv2d"
    require_tensor(input, op, "input")
    require_tensor(weight, op, "weight")
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}(): expected a 4-D input (N, C_in, H, W) or a 3-D unbatched "
                         f"input (C_in, H, W), got shape {input.shape}\nhint: add the batch "
                         "dimension with x.unsqueeze(0), or reshape flattened images")
    if weight.ndim != 4:
        raise ValueError(f"{op}(): weight must be 4-D (C_out, C_in / groups, KH, KW), got "
                         f"shape {weight.shape}")
    if not weight.dtype.is_floating_point or input.dtype != weight.dtype:
        raise TypeError(f"{op}(): input and weight must have the same floating dtype, got "
                        f"{input.dtype.name} and {weight.dtype.name}\nhint: "
                        "x.to(weight.dtype)")
    if bias is not None:
        require_tensor(bias, op, "bias")
        if bias.dtype != weight.dtype:
            raise TypeError(f"{op}(): bias dtype {bias.dtype.name} differs from weight dtype "
                            f"{weight.dtype.name}")
    s = pair(stride, op, "stride", 1)
    d = pair(dilation, op, "dilation", 1)
    if isinstance(groups, (bool, np.bool_)) or not isinstance(groups, _INTS):
        raise TypeError(f"{op}(): groups must be an int, got {type(groups).__name__} "
                        f"{groups!r}")
    if groups < 1:
        raise ValueError(f"{op}(): groups must be >= 1, got {groups}")
    groups = int(groups)
    C_out, C_g, KH, KW = weight.shape
    if C_out % groups:
        raise ValueError(f"{op}(): groups={groups} does not divide the {C_out} output "
                         f"channels of weight of shape {weight.shape}\nhint: out_channels "
                         "must be a multiple of groups")
    C_in, H, W = input.shape[-3:]
    if C_in != C_g * groups:
        hint = (f"groups={groups} does not divide the input's {C_in} channels" if C_in % groups
                else "the input's dim -3 is its channels (NCHW layout)")
        raise ValueError(f"{op}(): input of shape {input.shape} has {C_in} channels but "
                         f"weight of shape {weight.shape} with groups={groups} expects "
                         f"{C_g} * {groups} = {C_g * groups}\nhint: {hint}")
    if bias is not None and bias.shape != (C_out,):
        raise ValueError(f"{op}(): bias must have shape ({C_out},) to match weight of shape "
                         f"{weight.shape}, got {bias.shape}")
    (pt, pb), (pl, pr) = _padding(padding, (KH, KW), d, s, op)
    span = (d[0] * (KH - 1) + 1, d[1] * (KW - 1) + 1)
    if span[0] > H + pt + pb or span[1] > W + pl + pr:
        raise ValueError(f"{op}(): the kernel ({KH} x {KW}, dilation {d}: it spans "
                         f"{span[0]} x {span[1]}) is larger than the padded input "
                         f"({H + pt + pb} x {W + pl + pr}: input {H} x {W}, padding "
                         f"top/bottom {pt}/{pb}, left/right {pl}/{pr})\nhint: pad more, or "
                         "use a smaller kernel or dilation")
    params = {"stride_h": s[0], "stride_w": s[1], "pad_h": pt, "pad_w": pl, "dil_h": d[0],
              "dil_w": d[1], "groups": groups}
    out_hw = ((H + pt + pb - span[0]) // s[0] + 1, (W + pl + pr - span[1]) // s[1] + 1)
    if input.ndim == 3:  # unbatched: a batch of one, through views that autograd follows
        return _Conv2d.apply(input.unsqueeze(0), weight, bias, params, out_hw).squeeze(0)
    return _Conv2d.apply(input, weight, bias, params, out_hw)


def _c_contiguous(arr: np.ndarray) -> np.ndarray:
    """``arr`` itself when C-contiguous, else a copy through the copy kernel (a broadcast
    gradient, stride 0, would make every kernel read one number over and over)."""
    if arr.flags.c_contiguous:
        return arr
    out = np.empty(arr.shape, arr.dtype)
    run("copy_forward", out, arr)
    return out


class _Conv2d(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, params, out_hw):
        dtype = weight.dtype.np
        C_out = weight.shape[0]
        b = bias._data if bias is not None else np.zeros(C_out, dtype)
        out = np.empty((x.shape[0], C_out, *out_hw), dtype)
        if out.size:
            dispatch.call("conv2d_forward", out, x._data, weight._data, b, **params)
        ctx.save_for_backward(x, weight)
        ctx.params = params
        return new(out)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dtype = weight.dtype.np
        none = np.empty((0, 0, 0, 0), dtype)  # placeholder for a gradient nobody needs
        grad_x = np.empty(x.shape, dtype) if need_x else none
        grad_w = np.empty(weight.shape, dtype) if need_w else none
        grad_b = np.empty(weight.shape[0], dtype) if need_b else np.empty(0, dtype)
        dispatch.call("conv2d_backward", grad_x, grad_w, grad_b, _c_contiguous(grad._data),
                      x._data, weight._data, need_x=need_x, need_w=need_w, need_b=need_b,
                      **ctx.params)
        return (new(grad_x) if need_x else None, new(grad_w) if need_w else None,
                new(grad_b) if need_b else None, None, None)
