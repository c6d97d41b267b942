"""Unstructured magnitude pruning: zero the weights of smallest absolute value, keep a mask,
and keep the zeros through fine-tuning.

- ``l1_unstructured(layer, amount)``: in one layer, zero the ``round(amount * numel)``
  entries of smallest ``|w|``; ``global_unstructured(model, amount)``: the same ranking
  across every prunable layer at once (layers with many small weights lose more);
  ``magnitude_prune(model, amount, global_=False)`` does either for a whole model.
- The mask is a buffer ``weight_mask`` (0 or 1, the weight's dtype) on the layer, as in
  PyTorch, so it is saved with ``state_dict``; ``remove(layer)`` makes the pruning permanent
  (the zeros stay, the mask goes).
- ``keep_masks(optimizer, model)``: after every ``optimizer.step()`` the masks are applied
  again (and, before it, to the gradients), so pruned weights stay exactly zero through
  SGD, momentum, Adam or weight decay.

Why a hook on the optimiser rather than a parametrisation (PyTorch computes ``weight =
weight_orig * mask`` in a forward pre-hook): the layer stays a plain ``nn.Linear`` /
``nn.Conv2d`` whose ``weight`` *is* the pruned tensor, the forward pass costs nothing more
(no extra multiply and graph node per layer per step), and the invariant we need -- the
weights an optimiser leaves behind are zero where the mask is -- is checked in exactly the
place that could break it. Masking the gradients as well keeps the optimiser's moments at
zero for pruned weights, so a later ``remove`` and more training starts them from rest.

``amount`` is the fraction of the layer's (or model's) entries that are zero afterwards,
including those already pruned: pruning 0.5 then 0.8 leaves 80% zeros (PyTorch's iterative
pruning would instead prune 80% of what was left).

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> _ = tt.manual_seed(0)
>>> layer = l1_unstructured(nn.Linear(10, 4), amount=0.5)
>>> int((layer.weight == 0).sum().item()), layer.weight_mask.shape
(20, (4, 10))
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch.autograd import no_grad
from tinytorch.nn import Conv2d, Linear, Module
from tinytorch.tensor import Tensor

__all__ = ["PRUNABLE", "check_amount", "prunable_layers", "l1_unstructured",
           "global_unstructured", "magnitude_prune", "remove", "is_pruned", "apply_masks",
           "keep_masks", "MaskKeeper", "sparsity", "format_sparsity"]

# Layers whose ``weight`` magnitude pruning knows how to mask (and the kernels that run a
# masked weight unchanged).
PRUNABLE = (Linear, Conv2d)
MASK = "weight_mask"


def check_amount(amount, where: str) -> float:
    """``amount`` as a float in [0, 1), else TypeError (not a number) / ValueError.

    >>> check_amount(0.5, "prune")
    0.5
    >>> check_amount(1.0, "prune")
    Traceback (most recent call last):
    ...
    ValueError: prune: amount must be in [0, 1), got 1.0
    hint: amount is the fraction of weights (or channels) to remove; 1 would remove all
    """
    if isinstance(amount, (bool, np.bool_)) or not isinstance(
            amount, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: amount must be a number in [0, 1), got "
                        f"{type(amount).__name__} {amount!r}")
    if not (math.isfinite(amount) and 0.0 <= amount < 1.0):
        raise ValueError(f"{where}: amount must be in [0, 1), got {amount!r}\nhint: amount "
                         "is the fraction of weights (or channels) to remove; 1 would remove "
                         "all")
    return float(amount)


def _check_layer(layer, where: str) -> Module:
    if not isinstance(layer, PRUNABLE):
        raise TypeError(f"{where}: cannot prune a {type(layer).__name__}; supported layers: "
                        f"{', '.join(c.__name__ for c in PRUNABLE)}\nhint: pass a layer of "
                        "the model (model[0]) or use magnitude_prune(model, amount)")
    return layer


def prunable_layers(model: Module) -> list[tuple[str, Module]]:
    """``(name, layer)`` for every Linear and Conv2d in ``model`` (itself included).

    >>> from tinytorch import nn
    >>> [name for name, _ in prunable_layers(nn.Sequential(nn.Linear(2, 3), nn.ReLU(),
    ...                                                    nn.Linear(3, 1)))]
    ['0', '2']
    """
    if not isinstance(model, Module):
        raise TypeError(f"expected an nn.Module, got {type(model).__name__}")
    return [(name, m) for name, m in model.named_modules() if isinstance(m, PRUNABLE)]


def _set_mask(layer: Module, keep: np.ndarray) -> None:
    """Combine ``keep`` (bool, the weight's shape) with the layer's mask and zero the weight."""
    w = layer.weight
    old = layer._buffers.get(MASK)
    if old is not None:
        keep = keep & (old._data != 0)
    mask = Tensor(keep.astype(w.dtype.np))
    if old is None:
        layer.register_buffer(MASK, mask)
    else:
        with no_grad():
            old[...] = mask
        mask = old
    with no_grad():
        w.mul_(mask)


def _keep_largest(magnitudes: np.ndarray, n_prune: int) -> np.ndarray:
    """A bool array: False at the ``n_prune`` smallest entries (ties: lower index first)."""
    keep = np.ones(magnitudes.size, bool)
    if n_prune:
        keep[np.argsort(magnitudes.reshape(-1), kind="stable")[:n_prune]] = False
    return keep.reshape(magnitudes.shape)


def l1_unstructured(layer: Module, amount: float, name: str = "weight") -> Module:
    """Zero the ``round(amount * numel)`` weights of smallest ``|w|`` in ``layer`` (a
    Linear or Conv2d), in place; returns the layer, with its ``weight_mask``.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> layer = nn.Linear(2, 2)
    >>> layer.weight = nn.Parameter(tt.tensor([[0.1, -2.0], [3.0, -0.2]]))
    >>> l1_unstructured(layer, 0.5).weight.tolist()
    [[0.0, -2.0], [3.0, -0.0]]
    """
    where = f"l1_unstructured({type(layer).__name__})"
    _check_layer(layer, where)
    amount = check_amount(amount, where)
    if name != "weight":
        raise ValueError(f"{where}: only name='weight' is pruned here, got {name!r}")
    w = layer.weight._data
    _set_mask(layer, _keep_largest(np.abs(w), int(round(amount * w.size))))
    return layer


def global_unstructured(model, amount: float) -> Module | list:
    """Rank ``|w|`` over every Linear and Conv2d weight of ``model`` (a module, or a list of
    layers) together, and zero the ``round(amount * total)`` smallest, in place.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> _ = tt.manual_seed(0)
    >>> model = global_unstructured(nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 4)), 0.75)
    >>> sparsity(model)["sparsity"]
    0.75
    """
    where = "global_unstructured()"
    amount = check_amount(amount, where)
    if isinstance(model, Module):
        layers = [m for _, m in prunable_layers(model)]
    elif isinstance(model, (list, tuple)):
        layers = [_check_layer(m, where) for m in model]
    else:
        raise TypeError(f"{where}: expected a Module or a list of layers, got "
                        f"{type(model).__name__}")
    if not layers:
        raise TypeError(f"{where}: {type(model).__name__} has no Linear or Conv2d layer to "
                        "prune")
    flat = np.concatenate([np.abs(m.weight._data).astype(np.float64).reshape(-1)
                           for m in layers])
    keep = _keep_largest(flat, int(round(amount * flat.size)))
    start = 0
    for m in layers:
        n = m.weight.numel()
        _set_mask(m, keep[start:start + n].reshape(m.weight.shape))
        start += n
    return model


def magnitude_prune(model: Module, amount: float, *, global_: bool = False) -> Module:
    """Prune every Linear and Conv2d of ``model`` by magnitude, in place: each layer to
    ``amount`` (``global_=False``) or the model as a whole (``global_=True``).

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> model = magnitude_prune(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2)), 0.6)
    >>> [round(v["sparsity"], 2) for v in sparsity(model)["layers"].values()]
    [0.6, 0.6]
    """
    where = "magnitude_prune()"
    if not isinstance(model, Module):
        raise TypeError(f"{where}: expected an nn.Module, got {type(model).__name__}")
    check_amount(amount, where)
    if global_:
        return global_unstructured(model, amount)
    layers = prunable_layers(model)
    if not layers:
        raise TypeError(f"{where}: {type(model).__name__} has no Linear or Conv2d layer to "
                        "prune")
    for _, layer in layers:
        l1_unstructured(layer, amount)
    return model


def is_pruned(layer: Module) -> bool:
    """Whether ``layer`` carries a pruning mask.

    >>> from tinytorch import nn
    >>> is_pruned(nn.Linear(2, 2)), is_pruned(l1_unstructured(nn.Linear(2, 2), 0.5))
    (False, True)
    """
    return isinstance(layer, Module) and layer._buffers.get(MASK) is not None


def remove(layer: Module, name: str = "weight") -> Module:
    """Make the pruning permanent: the zeros stay in the weight, the mask goes (and
    ``keep_masks`` no longer holds those weights at zero).

    >>> from tinytorch import nn
    >>> layer = remove(l1_unstructured(nn.Linear(3, 3), 0.5))
    >>> is_pruned(layer), "weight_mask" in layer.state_dict()
    (False, False)
    """
    if name != "weight":
        raise ValueError(f"remove(): only name='weight' is pruned here, got {name!r}")
    if not is_pruned(layer):
        raise ValueError(f"remove(): {type(layer).__name__} has no pruning mask\nhint: "
                         "prune it first (l1_unstructured)")
    with no_grad():
        layer.weight.mul_(layer._buffers[MASK])
    del layer._buffers[MASK]
    return layer


def _masked(model: Module) -> list[tuple[Tensor, Tensor]]:
    return [(m._parameters["weight"], m._buffers[MASK]) for m in model.modules()
            if m._buffers.get(MASK) is not None]


def apply_masks(model: Module, grads: bool = False) -> int:
    """Multiply every masked weight (or, with ``grads=True``, its gradient) by its mask, in
    place; returns how many layers have masks.

    >>> from tinytorch import nn
    >>> model = magnitude_prune(nn.Sequential(nn.Linear(3, 3)), 0.5)
    >>> apply_masks(model)
    1
    """
    pairs = _masked(model)
    with no_grad():
        for w, mask in pairs:
            if not grads:
                w.mul_(mask)
            elif w.grad is not None:
                w.grad.mul_(mask)
    return len(pairs)


class MaskKeeper:
    """What ``keep_masks`` returns: ``remove()`` restores the optimiser's own ``step``."""

    def __init__(self, optimizer, model: Module):
        self.optimizer, self.model = optimizer, model
        self._step = optimizer.step  # the bound method of the optimiser's class

        def step(closure=None):
            apply_masks(model, grads=True)
            loss = self._step(closure)
            apply_masks(model)
            return loss

        optimizer.step = step  # an instance attribute: the class and state_dict untouched

    def remove(self) -> None:
        """Detach: the optimiser steps as it did before ``keep_masks``."""
        self.optimizer.__dict__.pop("step", None)


def keep_masks(optimizer, model: Module) -> MaskKeeper:
    """Keep ``model``'s pruned weights at zero through ``optimizer``: every ``step()``
    masks the gradients first and the weights after. Masks added later count too (they are
    looked up at each step).

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> model = magnitude_prune(nn.Sequential(nn.Linear(4, 4)), 0.5)
    >>> opt = tt.optim.Adam(model.parameters(), lr=0.1)
    >>> keeper = keep_masks(opt, model)
    >>> model(tt.ones(2, 4)).sum().backward(); opt.step()
    >>> int((model[0].weight == 0).sum().item())
    8
    """
    from tinytorch.optim import Optimizer  # noqa: PLC0415 (optim imports nn; keep it lazy)

    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"keep_masks(): optimizer must be a tt.optim optimizer, got "
                        f"{type(optimizer).__name__}")
    if not isinstance(model, Module):
        raise TypeError(f"keep_masks(): model must be an nn.Module, got "
                        f"{type(model).__name__}")
    if "step" in optimizer.__dict__:
        raise ValueError("keep_masks(): this optimizer's step is already wrapped (keep_masks "
                         "called twice?)\nhint: call .remove() on the first MaskKeeper")
    return MaskKeeper(optimizer, model)


def sparsity(model: Module) -> dict:
    """The zeros in every Linear and Conv2d weight (and SparseLinear): ``{"layers": {name:
    {"shape", "numel", "zeros", "sparsity"}}, "numel", "zeros", "sparsity"}``.

    >>> from tinytorch import nn
    >>> report = sparsity(magnitude_prune(nn.Sequential(nn.Linear(4, 4)), 0.25))
    >>> report["zeros"], report["numel"], report["sparsity"]
    (4, 16, 0.25)
    """
    from tinytorch.pruning.sparse import SparseLinear  # noqa: PLC0415 (imports this module)

    if not isinstance(model, Module):
        raise TypeError(f"sparsity(): expected an nn.Module, got {type(model).__name__}")
    layers = {}
    for name, m in model.named_modules():
        if isinstance(m, PRUNABLE):
            w = m.weight._data
            numel, zeros = int(w.size), int(w.size - np.count_nonzero(w))
            shape = tuple(w.shape)
        elif isinstance(m, SparseLinear):
            shape = (m.out_features, m.in_features)
            numel = m.out_features * m.in_features
            zeros = numel - int(np.count_nonzero(m.values._data))
        else:
            continue
        layers[name or type(m).__name__] = {"shape": shape, "numel": numel, "zeros": zeros,
                                            "sparsity": zeros / numel if numel else 0.0}
    numel = sum(v["numel"] for v in layers.values())
    zeros = sum(v["zeros"] for v in layers.values())
    return {"layers": layers, "numel": numel, "zeros": zeros,
            "sparsity": zeros / numel if numel else 0.0}


def format_sparsity(report: dict) -> str:
    """``sparsity(model)`` as a table, one line per layer.

    >>> from tinytorch import nn
    >>> print(format_sparsity(sparsity(nn.Sequential(nn.Linear(2, 2)))))
    layer  shape   zeros / numel  sparsity
    0      (2, 2)          0 / 4      0.0%
    total                  0 / 4      0.0%
    """
    rows = [(name, str(v["shape"]), f"{v['zeros']} / {v['numel']}", f"{v['sparsity']:.1%}")
            for name, v in report["layers"].items()]
    rows.append(("total", "", f"{report['zeros']} / {report['numel']}",
                 f"{report['sparsity']:.1%}"))
    w0 = max(5, *(len(r[0]) for r in rows))
    w1 = max(5, *(len(r[1]) for r in rows))
    w2 = max(13, *(len(r[2]) for r in rows))
    lines = [f"{'layer':<{w0}}  {'shape':<{w1}}  {'zeros / numel':>{w2}}  sparsity"]
    lines += [f"{a:<{w0}}  {b:<{w1}}  {c:>{w2}}  {d:>8}" for a, b, c, d in rows]
    return "\n".join(line.rstrip() for line in lines)
