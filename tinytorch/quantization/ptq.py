"""Post-training quantisation (PTQ): ``prepare`` -> ``calibrate`` -> ``convert``, or all
three in one call, ``quantize_model(model, loader)`` (PyTorch's eager-mode flow, without
fake quantisation).

1. ``prepare(model, qconfig)`` returns a copy of the model in which every ``nn.Linear``
   and ``nn.Conv2d`` is wrapped in an observed layer: an observer of its input
   activations (``qconfig.activation``), then the float layer itself.
2. ``calibrate(prepared, loader)`` runs batches through it (eval mode, no gradients): each
   input observer learns the range of its layer's activations.
3. ``convert(prepared)`` replaces each observed layer with ``QuantLinear`` /
   ``QuantConv2d``: weights quantised by ``qconfig.weight`` (per output channel by
   default), activations with the calibrated scale and zero point. Converting a layer
   whose observer saw no data is a QuantizationError, not a silent scale of 1.

Between the int8 layers, activations are float (ReLU and max-pool run in float, as the
float model's own layers); every Linear and Conv2d multiplies in int8.

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> _ = tt.manual_seed(0)
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> batches = [(tt.randn(16, 4), None) for _ in range(3)]
>>> qmodel = quantize_model(model, batches)
>>> [type(m).__name__ for m in qmodel]
['QuantLinear', 'ReLU', 'QuantLinear']
>>> x = tt.randn(5, 4)
>>> bool(((qmodel(x) - model(x)).abs() < 0.05).numpy().all())
True
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from tinytorch.autograd import no_grad
from tinytorch.nn import Conv2d, Linear
from tinytorch.nn.module import Module
from tinytorch.quantization.functional import QuantizationError
from tinytorch.quantization.modules import QuantConv2d, QuantLinear
from tinytorch.quantization.observers import (
    MinMaxObserver,
    ObserverBase,
    PercentileObserver,
    PerChannelMinMaxObserver,
)
from tinytorch.tensor import Tensor

__all__ = ["QConfig", "SCHEMES", "get_qconfig", "ObservedLinear", "ObservedConv2d",
           "prepare", "calibrate", "convert", "quantize_ptq", "quantize_model"]


@dataclass(frozen=True)
class QConfig:
    """Which observers to use: ``activation()`` and ``weight()`` each build a fresh one
    (PyTorch's ``QConfig``)."""

    activation: Callable[[], ObserverBase]
    weight: Callable[[], ObserverBase]


SCHEMES = {
    # per-tensor affine activations (min/max), per-output-channel symmetric weights:
    # PyTorch's fbgemm default and TFLite's int8 scheme
    "per_channel": QConfig(MinMaxObserver, PerChannelMinMaxObserver),
    # one scale for a whole weight tensor: simpler, and less precise
    "per_tensor": QConfig(MinMaxObserver,
                          lambda: MinMaxObserver(qscheme="per_tensor_symmetric")),
    # activations clipped at the 99.99th percentile: outliers no longer set the scale
    "percentile": QConfig(PercentileObserver, PerChannelMinMaxObserver),
}


def get_qconfig(scheme: str = "per_channel") -> QConfig:
    """The QConfig of a named scheme (``SCHEMES``).

    >>> get_qconfig("per_tensor").weight().qscheme
    'per_tensor_symmetric'
    """
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ValueError(f"unknown quantisation scheme {scheme!r}; choose one of "
                         f"{', '.join(SCHEMES)}")
    return SCHEMES[scheme]


class _Observed(Module):
    """A float layer with an observer of its input in front."""

    def __init__(self, module: Module, qconfig: QConfig):
        super().__init__()
        self.module = module
        self.input_observer = qconfig.activation()
        self._qconfig = qconfig

    def forward(self, x: Tensor) -> Tensor:
        return self.module(self.input_observer(x))


class ObservedLinear(_Observed):
    """``nn.Linear`` with an input observer (made by ``prepare``)."""


class ObservedConv2d(_Observed):
    """``nn.Conv2d`` with an input observer (made by ``prepare``)."""


_OBSERVED = {Linear: ObservedLinear, Conv2d: ObservedConv2d}


def _children(model: Module):
    """(parent, name, child) for every module below ``model``, parents before children."""
    for _, parent in model.named_modules():
        for name, child in list(parent._modules.items()):
            if child is not None:
                yield parent, name, child


def prepare(model: Module, qconfig: QConfig | str = "per_channel", *,
            inplace: bool = False) -> Module:
    """A copy of ``model`` (or ``model`` itself with ``inplace=True``) with observers in
    front of every ``nn.Linear`` and ``nn.Conv2d`` (groups=1). Calibrate it, then
    ``convert`` it.

    >>> from tinytorch import nn
    >>> prepare(nn.Sequential(nn.Linear(2, 2)))[0].__class__.__name__
    'ObservedLinear'
    """
    if not isinstance(model, Module):
        raise TypeError(f"prepare(): model must be an nn.Module, got {type(model).__name__}")
    if isinstance(qconfig, str):
        qconfig = get_qconfig(qconfig)
    if not isinstance(qconfig, QConfig):
        raise TypeError(f"prepare(): qconfig must be a QConfig or a scheme name, got "
                        f"{type(qconfig).__name__}")
    if isinstance(model, (Linear, Conv2d)):
        raise QuantizationError("prepare(): the model is a single layer; wrap it first: "
                                "nn.Sequential(layer)")
    if not inplace:
        model = copy.deepcopy(model)
    found = 0
    for parent, name, child in list(_children(model)):
        if isinstance(child, (QuantLinear, QuantConv2d)):
            raise QuantizationError(f"prepare(): layer {name!r} is already quantised "
                                    f"({type(child).__name__})\nhint: prepare the float model")
        if isinstance(parent, _Observed):
            continue
        kind = type(child)
        if kind in _OBSERVED and not (kind is Conv2d and child.groups != 1):
            parent.add_module(name, _OBSERVED[kind](child, qconfig))
            found += 1
    if not found:
        raise QuantizationError("prepare(): the model has no nn.Linear or nn.Conv2d "
                                "(groups=1) layer to quantise")
    return model


def _batches(loader, num_batches):
    if isinstance(num_batches, bool) or not (num_batches is None or isinstance(
            num_batches, int)):
        raise TypeError(f"num_batches must be an int or None, got {type(num_batches).__name__}")
    if num_batches is not None and num_batches < 1:
        raise ValueError(f"num_batches must be >= 1, got {num_batches}")
    try:
        it = iter(loader)
    except TypeError:
        raise TypeError(f"calibrate(): the loader must be iterable (a DataLoader, a list of "
                        f"batches), got {type(loader).__name__}") from None
    for i, batch in enumerate(it):
        if num_batches is not None and i >= num_batches:
            return
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        if not isinstance(x, Tensor):
            raise TypeError(f"calibrate(): batch {i} gives a {type(x).__name__}, not a "
                            "Tensor (batches are tensors or (inputs, targets) pairs)")
        yield x


def calibrate(prepared: Module, loader, num_batches: int | None = None) -> int:
    """Run ``loader``'s inputs (a batch or the first item of an ``(x, y)`` pair) through
    ``prepared`` in eval mode without gradients; returns the number of batches. The
    model's train/eval mode is restored afterwards.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> p = prepare(nn.Sequential(nn.Linear(2, 2)))
    >>> calibrate(p, [tt.ones(4, 2), tt.zeros(4, 2)]), p[0].input_observer.max_val
    (2, 1.0)
    """
    observed = [m for m in prepared.modules() if isinstance(m, _Observed)]
    if not observed:
        raise QuantizationError("calibrate(): the model has no observers\nhint: "
                                "prepared = prepare(model) first")
    was_training = prepared.training
    prepared.eval()
    n = 0
    try:
        with no_grad():
            for x in _batches(loader, num_batches):
                prepared(x)
                n += 1
    finally:
        prepared.train(was_training)
    if n == 0:
        raise QuantizationError("calibrate(): the loader gave no batches\nhint: calibrate "
                                "on a few hundred representative inputs (training data)")
    return n


def convert(prepared: Module, *, inplace: bool = False) -> Module:
    """Replace every observed layer of ``prepared`` with its int8 twin; the result is in
    eval mode. Every layer's observer must have seen data (``calibrate``).

    >>> from tinytorch import nn
    >>> convert(prepare(nn.Sequential(nn.Linear(2, 2))))
    Traceback (most recent call last):
    ...
    tinytorch.quantization.functional.QuantizationError: convert(): 1 observed layer was never calibrated: '0' (Linear(in_features=2, out_features=2, bias=True))
    hint: run calibrate(prepared, loader) first, or quantize_model(model, loader) for all three steps
    """  # noqa: E501
    if not isinstance(prepared, Module):
        raise TypeError(f"convert(): expected an nn.Module, got {type(prepared).__name__}")
    sites = [(p, n, c) for p, n, c in _children(prepared) if isinstance(c, _Observed)]
    if not sites:
        raise QuantizationError("convert(): the model has no observed layers, so there is "
                                "nothing calibrated to convert\nhint: quantize_model(model, "
                                "loader), or prepare -> calibrate -> convert")
    names = {id(c): n for n, c in prepared.named_modules()}
    cold = [f"{names[id(c)]!r} ({c.module!r})" for _, _, c in sites
            if not c.input_observer.calibrated]
    if cold:
        s = "" if len(cold) == 1 else "s"
        raise QuantizationError(
            f"convert(): {len(cold)} observed layer{s} {'was' if not s else 'were'} never "
            f"calibrated: {', '.join(cold)}\nhint: run calibrate(prepared, loader) first, "
            "or quantize_model(model, loader) for all three steps")
    if not inplace:
        prepared = copy.deepcopy(prepared)
        sites = [(p, n, c) for p, n, c in _children(prepared) if isinstance(c, _Observed)]
    for parent, name, obs in sites:
        scale, zp = obs.input_observer.calculate_qparams()
        twin = QuantLinear if isinstance(obs, ObservedLinear) else QuantConv2d
        q = twin.from_float(obs.module, float(scale[0]), int(zp[0]),
                            weight_observer=obs._qconfig.weight(),
                            input_range=(obs.input_observer.quant_min,
                                         obs.input_observer.quant_max))
        parent.add_module(name, q)
    return prepared.eval()


def quantize_ptq(model: Module, loader, qconfig: QConfig | str = "per_channel",
                 num_batches: int | None = None) -> Module:
    """``convert(calibrate(prepare(model)))`` in one call; ``model`` is left as it was."""
    prepared = prepare(model, qconfig)
    calibrate(prepared, loader, num_batches)
    return convert(prepared, inplace=True)


def quantize_model(model: Module, calibration_loader, scheme: str = "per_channel",
                   num_batches: int | None = None) -> Module:
    """Post-training int8 quantisation of a trained float model: the entry point of a
    ``tinytorch compress`` command. ``scheme``: ``"per_channel"`` (default),
    ``"per_tensor"`` or ``"percentile"`` (``SCHEMES``); ``num_batches`` limits the
    calibration. Returns a new model; ``save_quantized`` writes it to disk.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> q = quantize_model(nn.Sequential(nn.Linear(3, 2)), [tt.randn(8, 3)], "per_tensor")
    >>> q[0].qscheme
    'per_tensor_symmetric'
    """
    return quantize_ptq(model, calibration_loader, get_qconfig(scheme), num_batches)

