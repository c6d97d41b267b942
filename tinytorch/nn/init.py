"""Weight initialisation (``tinytorch.nn.init``), with PyTorch's names, formulas and fans.

Every function fills its tensor in place (under ``no_grad``, through the copy kernel, so a
parameter keeps its identity and any view is written through) and returns it. Random
numbers come from the global generator, ``tinytorch.random.generator()``, so
``tt.manual_seed(s)`` makes a model's initial weights reproducible.

Fans, as PyTorch computes them for a weight of shape ``(out, in, *kernel)``: ``fan_in = in *
prod(kernel)`` and ``fan_out = out * prod(kernel)`` (a ``Linear`` weight is ``(out, in)``).

- Xavier/Glorot keeps the variance of activations and gradients: ``std = gain *
  sqrt(2 / (fan_in + fan_out))``; the uniform version draws from ``U(-a, a)`` with ``a =
  sqrt(3) * std``.
- Kaiming/He keeps the variance through ReLU-like layers: ``std = gain / sqrt(fan)``, with
  ``fan`` chosen by ``mode`` (``fan_in`` keeps the forward pass's variance, ``fan_out`` the
  backward's); uniform: ``bound = sqrt(3) * std``.

``Linear``'s default, ``kaiming_uniform_(w, a=sqrt(5))``, works out to ``U(-1/sqrt(fan_in),
1/sqrt(fan_in))``.

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> _ = tt.manual_seed(0)
>>> w = nn.init.kaiming_uniform_(tt.empty(128, 64), nonlinearity="relu")
>>> bound = (2 ** 0.5) * (3 / 64) ** 0.5
>>> bool((w.abs() <= bound).numpy().all())
True
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch import random as _random
from tinytorch.autograd import no_grad
from tinytorch.tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "sigmoid")
_NONLINEARITIES = _LINEAR_FNS + ("tanh", "relu", "leaky_relu", "selu")


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(
        x, (bool, np.bool_))


def _check_number(value, fn: str, name: str) -> float:
    if not _is_number(value):
        raise TypeError(f"{fn}(): {name} must be a number, got {type(value).__name__} "
                        f"{value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{fn}(): {name} must be finite, got {value}")
    return float(value)


def _check_tensor(tensor, fn: str, *, floating: bool = True) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{fn}(): expected a Tensor, got {type(tensor).__name__}\nhint: "
                        f"initialise a parameter or a tensor, e.g. {fn}(layer.weight)")
    if floating and not tensor.dtype.is_floating_point:
        raise TypeError(f"{fn}(): random initialisation needs a floating point tensor, got "
                        f"{tensor.dtype} (shape {tensor.shape})")
    return tensor


def _write(tensor: Tensor, values) -> Tensor:
    """Write ``values`` (an array of the tensor's shape, or a scalar) into ``tensor`` in
    place: ``tensor[...] = value`` runs the copy kernel, which casts to the tensor's dtype
    and follows its strides. ``no_grad``: this is not an op to differentiate (and writing
    into a leaf that requires grad is only allowed outside recording)."""
    if isinstance(values, np.ndarray):
        values = Tensor(values.astype(tensor.dtype.np, copy=False))
    with no_grad():
        tensor[...] = values
    return tensor


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended scale of initial weights for a nonlinearity (PyTorch's table):
    1 for linear/conv/sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 +
    negative_slope**2)) for leaky_relu (``param`` is the slope, default 0.01), 3/4 for selu.

    >>> calculate_gain("tanh"), round(calculate_gain("leaky_relu", 0.2), 4)
    (1.6666666666666667, 1.3868)
    """
    if not isinstance(nonlinearity, str):
        raise TypeError(f"calculate_gain(): nonlinearity must be a string such as 'relu', "
                        f"got {type(nonlinearity).__name__}")
    if nonlinearity in _LINEAR_FNS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else _check_number(param, "calculate_gain",
                                                          "param (negative_slope)")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain(): unsupported nonlinearity {nonlinearity!r}; "
                     f"supported: {', '.join(_NONLINEARITIES)}")


def _calculate_fan_in_and_fan_out(tensor: Tensor, fn: str) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight ``(out, in, *kernel)``: in/out times the kernel's
    number of elements (the receptive field)."""
    if tensor.ndim < 2:
        raise ValueError(f"{fn}(): fan in and fan out can not be computed for a tensor with "
                         f"fewer than 2 dimensions (shape {tensor.shape})\nhint: fans need "
                         f"a weight of shape (out_features, in_features, *kernel); use "
                         f"uniform_/normal_/zeros_ for biases")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode, fn: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{fn}(): mode {mode!r} not supported, please use one of fan_in, "
                         f"fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, fn)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with samples of ``U(a, b)``.

    >>> import tinytorch as tt
    >>> v = uniform_(tt.empty(1000), -0.5, 0.5).numpy()
    >>> bool(((v >= -0.5) & (v <= 0.5)).all())
    True
    """
    _check_tensor(tensor, "uniform_")
    a, b = _check_number(a, "uniform_", "a"), _check_number(b, "uniform_", "b")
    if a > b:
        raise ValueError(f"uniform_(): expects a <= b to draw from [a, b), got a={a} > b={b}")
    return _write(tensor, _random.generator().uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with samples of ``N(mean, std**2)``.

    >>> import tinytorch as tt
    >>> _ = tt.manual_seed(0)
    >>> w = normal_(tt.empty(100_000), mean=2.0, std=0.5)
    >>> round(float(w.numpy().mean()), 1), round(float(w.numpy().std()), 1)
    (2.0, 0.5)
    """
    _check_tensor(tensor, "normal_")
    mean, std = _check_number(mean, "normal_", "mean"), _check_number(std, "normal_", "std")
    if std < 0:
        raise ValueError(f"normal_(): std must be >= 0, got {std}")
    return _write(tensor, _random.generator().normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val`` (any dtype; the value is cast as the copy kernel casts).

    >>> import tinytorch as tt
    >>> constant_(tt.empty(3), 0.25).tolist()
    [0.25, 0.25, 0.25]
    """
    _check_tensor(tensor, "constant_", floating=False)
    if not _is_number(val) and not isinstance(val, (bool, np.bool_)):
        raise TypeError(f"constant_(): val must be a number, got {type(val).__name__}")
    return _write(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros.

    >>> import tinytorch as tt
    >>> zeros_(tt.ones(2)).tolist()
    [0.0, 0.0]
    """
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones.

    >>> import tinytorch as tt
    >>> ones_(tt.zeros(2)).tolist()
    [1.0, 1.0]
    """
    return constant_(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot uniform: ``U(-a, a)``, ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    >>> import tinytorch as tt
    >>> w = xavier_uniform_(tt.empty(30, 20))
    >>> bool((w.abs() <= (6 / 50) ** 0.5).numpy().all())
    True
    """
    _check_tensor(tensor, "xavier_uniform_")
    gain = _check_number(gain, "xavier_uniform_", "gain")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "xavier_uniform_")
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _write(tensor, _random.generator().uniform(-a, a, tensor.shape))


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot normal: ``N(0, std**2)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    >>> import tinytorch as tt
    >>> xavier_normal_(tt.empty(4, 3, 3, 3)).shape
    (4, 3, 3, 3)
    """
    _check_tensor(tensor, "xavier_normal_")
    gain = _check_number(gain, "xavier_normal_", "gain")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "xavier_normal_")
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _write(tensor, _random.generator().normal(0.0, std, tensor.shape))


def _kaiming_std(tensor, a, mode, nonlinearity, fn) -> float:
    _check_tensor(tensor, fn)
    a = _check_number(a, fn, "a")
    fan = _fan(tensor, mode, fn)
    gain = calculate_gain(nonlinearity, a)
    # a zero fan (a dimension of size 0) means there is nothing to fill
    return gain / math.sqrt(fan) if fan else 0.0


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """He uniform: ``U(-bound, bound)``, ``bound = gain * sqrt(3 / fan)``, ``gain =
    calculate_gain(nonlinearity, a)`` (``a`` is the leaky_relu slope).

    >>> import math, tinytorch as tt
    >>> w = kaiming_uniform_(tt.empty(8, 50), a=math.sqrt(5))   # Linear's default
    >>> bool((w.abs() <= 1 / math.sqrt(50)).numpy().all())
    True
    """
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    return _write(tensor, _random.generator().uniform(-bound, bound, tensor.shape))


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """He normal: ``N(0, std**2)``, ``std = gain / sqrt(fan)``.

    >>> import tinytorch as tt
    >>> kaiming_normal_(tt.empty(16, 8), mode="fan_out", nonlinearity="relu").shape
    (16, 8)
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    return _write(tensor, _random.generator().normal(0.0, std, tensor.shape))
