"""Structured pruning: remove whole output channels (Conv2d) or neurons (Linear) and rebuild
*smaller dense layers*, so the same dense kernels do less work.

Zeroing single weights leaves every shape as it was; dropping output channel ``c`` of a
convolution removes a row of its weight, its bias entry, channel ``c`` of the BatchNorm2d
that follows (weight, bias, running statistics) and input channel ``c`` of the *next*
layer: a Conv2d loses ``weight[:, c]``, and a Linear after ``Flatten`` loses the ``H * W``
input features of that channel (Flatten lays out ``(C, H, W)`` channel by channel, so
channel ``c`` owns features ``c*H*W ... (c+1)*H*W - 1``). Both layers shrink: pruning half
the channels of every block halves the output of one convolution *and* the input of the
next, about a quarter of the multiply-adds in between.

Which channels: the ``round(amount * C)`` with the smallest L1 (or L2) norm of their
filter ``weight[c]`` (Li et al., "Pruning Filters for Efficient ConvNets", 2017); at least
one channel is kept. The layer that produces the model's output (the last Linear) keeps
every output.

Supported: an ``nn.Sequential`` of Conv2d, Linear, BatchNorm2d, Flatten, pooling
(max, average, adaptive average), activations that act per element and keep zero at zero
(ReLU, LeakyReLU, GELU, Tanh), Dropout and Identity. Other layers are a TypeError (what
would pruning a channel mean for them?). The rebuilt model gives exactly the outputs of the
original with the pruned channels' filters, biases and batch-norm scale and shift set to
zero, because every layer between two pruned layers maps a zero channel to a zero
channel, which the next layer then ignores: ``tests/test_pruning.py`` checks that. So an
activation with ``f(0) != 0`` (Sigmoid: ``sigmoid(0) = 0.5``) and a BatchNorm2d without
scale and shift (``affine=False``: it maps 0 to ``-mean / std``) are refused between two
pruned layers (a ValueError naming the layer); after the last Conv2d/Linear, whose outputs
are never pruned, Sigmoid, Softmax and LogSoftmax are fine. A pruned Linear's outputs are
its last axis, so the next Conv2d/Linear must read exactly them: a Linear feeding a Conv2d,
or a Linear applied to a >2-D input and then flattened (``in_features`` of the next Linear
!= ``out_features``), is a ValueError.

>>> import tinytorch as tt
>>> from tinytorch.train.models import cnn
>>> _ = tt.manual_seed(0)
>>> model = cnn((1, 8, 8), channels=[8, 16])
>>> small = prune_channels(model, 0.5)
>>> [m.out_channels for m in small if isinstance(m, tt.nn.Conv2d)], small[-1].in_features
([4, 8], 32)
>>> small(tt.zeros(2, 1, 8, 8)).shape
(2, 10)
"""

from __future__ import annotations

import copy

import numpy as np

from tinytorch import nn
from tinytorch.nn import Module
from tinytorch.nn.parameter import Parameter
from tinytorch.pruning.magnitude import MASK, check_amount, magnitude_prune
from tinytorch.tensor import Tensor

__all__ = ["channel_norms", "plan_channels", "prune_channels", "prune_model",
           "PASS_THROUGH"]

# Layers that act on each channel alone, keep the channel count and map an all-zero channel
# to an all-zero channel (f(0) = 0; max or mean of zeros): a pruned channel passes through
# them as a pruned channel.
PASS_THROUGH = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.Tanh, nn.Dropout, nn.Identity,
                nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
_PRODUCERS = (nn.Conv2d, nn.Linear)
# Allowed after the last producer only: Softmax / LogSoftmax mix the outputs, Sigmoid maps 0
# to 0.5; the last producer's outputs are never pruned, so neither matters there.
_TAIL = (nn.Softmax, nn.LogSoftmax, nn.Sigmoid)


def channel_norms(layer: Module, norm: str = "l1") -> np.ndarray:
    """The L1 or L2 norm of each output channel's weights (``weight[c]``), float64.

    >>> import tinytorch as tt
    >>> layer = tt.nn.Linear(2, 2)
    >>> layer.weight = tt.nn.Parameter(tt.tensor([[1.0, -2.0], [3.0, 0.0]]))
    >>> channel_norms(layer).tolist(), channel_norms(layer, "l2").tolist()
    ([3.0, 3.0], [2.23606797749979, 3.0])
    """
    if not isinstance(layer, _PRODUCERS):
        raise TypeError(f"channel_norms(): expected a Conv2d or Linear, got "
                        f"{type(layer).__name__}")
    if norm not in ("l1", "l2"):
        raise ValueError(f"channel_norms(): norm must be 'l1' or 'l2', got {norm!r}")
    w = layer.weight._data.astype(np.float64).reshape(layer.weight.shape[0], -1)
    return np.abs(w).sum(axis=1) if norm == "l1" else np.sqrt((w * w).sum(axis=1))


def _links(model) -> list[tuple[int, int, bool, list[int]]]:
    """``(producer, consumer, through_flatten, batchnorms)`` for each prunable producer:
    the index of a Conv2d/Linear, of the next Conv2d/Linear fed by it, whether a Flatten
    sits between, and the BatchNorm2d layers between. Raises for what cannot be pruned."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"prune_channels(): expected an nn.Sequential (Conv2d -> BatchNorm2d "
                        f"-> ReLU -> ... -> Linear), got {type(model).__name__}")
    layers = list(model)
    producers = [i for i, m in enumerate(layers) if isinstance(m, _PRODUCERS)]
    if not producers:
        raise TypeError("prune_channels(): the model has no Conv2d or Linear layer")
    allowed = _PRODUCERS + PASS_THROUGH + (nn.BatchNorm2d, nn.Flatten)
    for i, m in enumerate(layers):
        if isinstance(m, _TAIL) and i > producers[-1]:
            continue
        inside = producers[0] < i < producers[-1]  # where pruned channels flow
        if isinstance(m, nn.Sigmoid) and not inside:
            continue
        if isinstance(m, nn.Sigmoid):
            raise ValueError(f"prune_channels(): layer {i} is a Sigmoid between two pruned "
                             "layers; sigmoid(0) = 0.5, so a pruned channel would not pass "
                             "zeros on and the pruned model would not match\nhint: "
                             "ReLU, LeakyReLU, GELU and Tanh (f(0) = 0) can be pruned "
                             "through; Sigmoid only after the last Conv2d/Linear")
        if not isinstance(m, allowed):
            raise TypeError(f"prune_channels(): layer {i} is a {type(m).__name__}, which "
                            f"structured pruning does not support\nhint: supported: "
                            f"{', '.join(c.__name__ for c in allowed)} (and Softmax / "
                            "LogSoftmax / Sigmoid after the last layer)")
        if isinstance(m, nn.Conv2d) and m.groups != 1:
            raise ValueError(f"prune_channels(): layer {i} is a Conv2d with groups="
                             f"{m.groups}; only groups=1 can be pruned by channel")
        if isinstance(m, nn.BatchNorm2d) and not m.affine and inside:
            raise ValueError(f"prune_channels(): layer {i} is a BatchNorm2d(affine=False) "
                             "between two pruned layers; without a scale and shift to zero "
                             "it maps a pruned channel to -mean / std, not to zeros\nhint: "
                             "use BatchNorm2d(affine=True)")
        if isinstance(m, nn.Flatten) and (m.start_dim, m.end_dim) != (1, -1):
            raise ValueError(f"prune_channels(): layer {i} is Flatten(start_dim="
                             f"{m.start_dim}, end_dim={m.end_dim}); only Flatten() "
                             "(start_dim=1, end_dim=-1) keeps channels in groups")
    links = []
    for producer, consumer in zip(producers, producers[1:], strict=False):
        between = layers[producer + 1:consumer]
        flat = any(isinstance(m, nn.Flatten) for m in between)
        norms = [producer + 1 + j for j, m in enumerate(between)
                 if isinstance(m, nn.BatchNorm2d)]
        src, dst = layers[producer], layers[consumer]
        if isinstance(src, nn.Linear) and norms:
            raise ValueError(f"prune_channels(): BatchNorm2d at layer {norms[0]} follows the "
                             f"Linear at layer {producer}")
        # A Linear's outputs are its input's last axis: the next layer must read exactly
        # those features. A Conv2d reads axis 1, and a Linear after a Flatten of a >2-D
        # output reads out_features * (other axes) features grouped position-major, not
        # by output feature, so dropping whole column groups would remove the wrong ones.
        if isinstance(src, nn.Linear) and isinstance(dst, nn.Conv2d):
            raise ValueError(f"prune_channels(): the Linear at layer {producer} feeds the "
                             f"Conv2d at layer {consumer}; a Linear's outputs are the last "
                             "axis, a Conv2d reads channels from axis 1, so they cannot be "
                             "pruned together")
        if isinstance(src, nn.Linear) and isinstance(dst, nn.Linear) and \
                dst.in_features != src.out_features:
            raise ValueError(f"prune_channels(): the Linear at layer {consumer} has "
                             f"in_features={dst.in_features} but the Linear at layer "
                             f"{producer} feeding it has out_features={src.out_features}; "
                             "they must be equal (a Linear applied to a >2-D input and then "
                             "flattened cannot be pruned by neuron)")
        if isinstance(src, nn.Conv2d) and isinstance(dst, nn.Linear) and not flat:
            raise ValueError(f"prune_channels(): the Conv2d at layer {producer} feeds the "
                             f"Linear at layer {consumer} without a Flatten between")
        if isinstance(src, nn.Conv2d) and isinstance(dst, nn.Linear) and \
                dst.in_features % src.out_channels:
            raise ValueError(f"prune_channels(): the Linear at layer {consumer} has "
                             f"in_features={dst.in_features}, not a multiple of the "
                             f"{src.out_channels} channels of the Conv2d at layer {producer}")
        links.append((producer, consumer, flat, norms))
    return links


def plan_channels(model, amount: float, norm: str = "l1") -> dict[int, np.ndarray]:
    """``{layer index: kept output channels (ascending)}`` for each layer that
    ``prune_channels`` would shrink (every Conv2d/Linear but the last).

    >>> import tinytorch as tt
    >>> from tinytorch.train.models import mlp
    >>> {i: len(keep) for i, keep in plan_channels(mlp((1, 2, 2), hidden=[8]), 0.25).items()}
    {1: 6}
    """
    amount = check_amount(amount, "prune_channels()")
    plan = {}
    for producer, _, _, _ in _links(model):
        layer = model[producer]
        scores = channel_norms(layer, norm)
        c = scores.size
        n_prune = min(int(round(amount * c)), c - 1)
        # Largest norms kept; ties broken towards the lower index, then back in order.
        order = np.argsort(-scores, kind="stable")
        plan[producer] = np.sort(order[:c - n_prune])
    return plan


def _param(arr: np.ndarray) -> Parameter:
    return Parameter(Tensor(np.ascontiguousarray(arr)))


def _rebuild(layer: Module, keep_in, keep_out, group: int) -> Module:
    """A copy of a Conv2d/Linear with output rows ``keep_out`` and input channels
    ``keep_in`` (each owning ``group`` consecutive input features of a Linear)."""
    w = layer.weight._data
    cols = None
    if keep_in is not None:
        cols = (keep_in[:, None] * group + np.arange(group)).reshape(-1) if group > 1 \
            else keep_in
    rows = keep_out if keep_out is not None else np.arange(w.shape[0])
    new_w = w[rows][:, cols] if cols is not None else w[rows]
    new = copy.deepcopy(layer)
    new.weight = _param(new_w)
    if layer.bias is not None:
        new.bias = _param(layer.bias._data[rows])
    mask = layer._buffers.get(MASK)
    if mask is not None:  # an unstructured mask rides along, cut the same way
        m = mask._data[rows][:, cols] if cols is not None else mask._data[rows]
        new._buffers[MASK] = Tensor(np.ascontiguousarray(m))
    if isinstance(new, nn.Conv2d):
        new.out_channels, new.in_channels = new_w.shape[0], new_w.shape[1]
    else:
        new.out_features, new.in_features = new_w.shape
    return new


def _rebuild_norm(bn: nn.BatchNorm2d, keep) -> nn.BatchNorm2d:
    new = copy.deepcopy(bn)
    new.num_features = len(keep)
    for name in ("weight", "bias"):
        if bn._parameters.get(name) is not None:
            setattr(new, name, _param(bn._parameters[name]._data[keep]))
    for name in ("running_mean", "running_var"):
        if bn._buffers.get(name) is not None:
            new._buffers[name] = Tensor(np.ascontiguousarray(bn._buffers[name]._data[keep]))
    return new


def prune_channels(model, amount: float, norm: str = "l1") -> nn.Sequential:
    """A new, smaller ``nn.Sequential``: ``amount`` of the output channels (neurons) of
    every Conv2d and hidden Linear removed (smallest L1/L2 filter norm first), and the
    layers that read them rebuilt to match. ``model`` is not changed.

    >>> import tinytorch as tt
    >>> from tinytorch.train.models import mlp, count_parameters
    >>> model = mlp((1, 8, 8), hidden=[64])
    >>> count_parameters(model), count_parameters(prune_channels(model, 0.5))
    (4810, 2410)
    """
    plan = plan_channels(model, amount, norm)
    layers = list(model)
    links = {producer: (consumer, flat, norms)
             for producer, consumer, flat, norms in _links(model)}
    keep_in: dict[int, tuple] = {}  # consumer index -> (kept input channels, group)
    rebuilt: dict[int, Module] = {}
    for producer, (consumer, flat, norms) in links.items():
        keep = plan[producer]
        channels = layers[producer].weight.shape[0]
        group = layers[consumer].in_features // channels if flat else 1
        keep_in[consumer] = (keep, group)
        for j in norms:
            rebuilt[j] = _rebuild_norm(layers[j], keep)
    for i, layer in enumerate(layers):
        if isinstance(layer, _PRODUCERS):
            cin, group = keep_in.get(i, (None, 1))
            rebuilt[i] = _rebuild(layer, cin, plan.get(i), group)
    out = nn.Sequential(*[rebuilt[i] if i in rebuilt else copy.deepcopy(m)
                          for i, m in enumerate(layers)])
    return out.train(model.training)


def prune_model(model, amount: float, structured: bool = False, *,
                global_: bool = True) -> Module:
    """One entry point for ``tinytorch compress``: a pruned copy of ``model``.

    - ``structured=True``: ``prune_channels(model, amount)``, a smaller dense model;
    - ``structured=False``: magnitude pruning of every Linear and Conv2d weight with masks
      (global ranking by default), same shapes; fine-tune it with ``finetune`` (which keeps
      the masks), then ``to_sparse`` for CSR inference.

    >>> import tinytorch as tt
    >>> from tinytorch.pruning import sparsity
    >>> from tinytorch.train.models import mlp
    >>> model = mlp((1, 4, 4), hidden=[8])
    >>> round(sparsity(prune_model(model, 0.5))["sparsity"], 2), sparsity(model)["zeros"]
    (0.5, 0)
    """
    if not isinstance(model, Module):
        raise TypeError(f"prune_model(): expected an nn.Module, got {type(model).__name__}")
    check_amount(amount, "prune_model()")
    if not isinstance(structured, (bool, np.bool_)):
        raise TypeError(f"prune_model(): structured must be True or False, got "
                        f"{structured!r}")
    if structured:
        return prune_channels(model, amount)
    return magnitude_prune(copy.deepcopy(model), amount, global_=global_)
