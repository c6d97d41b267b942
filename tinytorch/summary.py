"""Where a model's memory and arithmetic go, layer by layer (the systems lesson of modules 02
and 03): ``tt.summary(model, input_shape)``.

For every leaf layer, one forward pass (with gradients recorded, as in training) measures:

- the output shape and its bytes (the activation that the next layer reads);
- the bytes of the layer's own parameters;
- the bytes the layer's ops saved for backward: the tensors held by the autograd graph
  until ``backward()`` frees them, counted once per storage and without the parameters
  (they exist anyway). This is what makes training take more memory than inference;
- FLOPs of the forward pass, from a formula per layer type (``FLOPS``; multiply-adds count
  as two);
- workspace bytes: scratch memory a kernel needs besides its inputs and outputs (the
  im2col buffer of a convolution computed as a matrix product; 0 for the others).

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
>>> report = tt.summary(model, (32, 64))
>>> [(row.name, row.output_shape, row.flops) for row in report.rows]
[('0', (32, 128), 528384), ('1', (32, 128), 4096), ('2', (32, 10), 82240)]
>>> report.total("param_bytes")
38440
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tinytorch import autograd
from tinytorch.tensor import Tensor

__all__ = ["summary", "Summary", "LayerStats", "FLOPS", "WORKSPACE"]


@dataclass
class LayerStats:
    name: str
    kind: str
    output_shape: tuple
    output_bytes: int
    param_bytes: int
    saved_bytes: int
    flops: int
    workspace_bytes: int


@dataclass
class Summary:
    """The rows of ``summary``; ``str()`` is the table, ``total(column)`` sums a column."""

    rows: list[LayerStats] = field(default_factory=list)
    input_shape: tuple = ()

    def total(self, column: str) -> int:
        return sum(getattr(row, column) for row in self.rows)

    def __str__(self) -> str:
        header = (f"{'layer':14s} {'kind':12s} {'output':>18s} {'params':>10s} "
                  f"{'activation':>11s} {'saved':>10s} {'workspace':>10s} {'MFLOP':>9s}")
        lines = [f"input {self.input_shape}", header, "-" * len(header)]
        for r in self.rows:
            lines.append(f"{r.name:14s} {r.kind:12s} {str(r.output_shape):>18s} "
                         f"{_size(r.param_bytes):>10s} {_size(r.output_bytes):>11s} "
                         f"{_size(r.saved_bytes):>10s} {_size(r.workspace_bytes):>10s} "
                         f"{r.flops / 1e6:9.2f}")
        lines.append("-" * len(header))
        lines.append(f"{'total':27s} {'':>18s} {_size(self.total('param_bytes')):>10s} "
                     f"{_size(self.total('output_bytes')):>11s} "
                     f"{_size(self.total('saved_bytes')):>10s} "
                     f"{_size(max((r.workspace_bytes for r in self.rows), default=0)):>10s}"
                     f" {self.total('flops') / 1e6:9.2f}")
        lines.append("saved: held by the graph until backward; workspace: the largest "
                     "scratch buffer (reused between layers)")
        return "\n".join(lines)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# --- FLOPs and workspace per layer type (by class name: no import of every layer) ---------

def _linear_flops(m, x, out) -> int:
    rows = math.prod(out.shape[:-1])
    return 2 * rows * m.in_features * m.out_features + (rows * m.out_features
                                                          if m.bias is not None else 0)


def _conv_flops(m, x, out) -> int:
    n, c_out, h, w = out.shape
    kh, kw = m.weight.shape[2:]
    per_output = 2 * (m.weight.shape[1] * kh * kw)
    return n * c_out * h * w * per_output + (out.numel() if m.bias is not None else 0)


def _window_flops(m, x, out) -> int:
    kernel = getattr(m, "kernel_size", 1)
    kh, kw = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    return out.numel() * kh * kw


def _per_element(k: int) -> Callable:
    return lambda m, x, out: k * out.numel()


FLOPS: dict[str, Callable] = {
    "Linear": _linear_flops,
    "Conv2d": _conv_flops,
    "MaxPool2d": _window_flops,
    "AvgPool2d": _window_flops,
    "AdaptiveAvgPool2d": lambda m, x, out: x.numel(),
    "BatchNorm2d": _per_element(4),  # subtract mean, divide by std, scale, shift
    "ReLU": _per_element(1),
    "LeakyReLU": _per_element(1),
    "Sigmoid": _per_element(4),
    "Tanh": _per_element(4),
    "GELU": _per_element(8),
    "Softmax": _per_element(4),
    "LogSoftmax": _per_element(4),
    "Dropout": _per_element(1),
    "Flatten": _per_element(0),
    "Identity": _per_element(0),
}


def _conv_workspace(m, x, out) -> int:
    """The im2col buffer: one column of ``C_in/groups * KH * KW`` values per output pixel
    (per group, per image), what a convolution computed as a matrix product allocates."""
    n, _, h, w = out.shape
    kh, kw = m.weight.shape[2:]
    return n * m.weight.shape[1] * kh * kw * h * w * m.weight.dtype.itemsize * m.groups


WORKSPACE: dict[str, Callable] = {"Conv2d": _conv_workspace}


# --- the measurement --------------------------------------------------------------------

def summary(model, input_shape: tuple, *, dtype=None) -> Summary:
    """Run ``model`` once on zeros of ``input_shape`` (gradients recorded, as in training)
    and report each leaf layer: output shape and bytes, parameter bytes, bytes saved for
    backward, FLOPs and workspace bytes. The model is left as it was (mode, weights)."""
    from tinytorch import nn  # noqa: PLC0415 (nn imports this package)

    if not isinstance(model, nn.Module):
        raise TypeError(f"summary() takes an nn.Module, got {type(model).__name__}")
    if not isinstance(input_shape, (tuple, list)) or not all(
            isinstance(s, int) and s > 0 for s in input_shape):
        raise ValueError(f"summary(): input_shape must be a tuple of positive ints, got "
                         f"{input_shape!r}")
    params = list(model.parameters())
    if dtype is None:
        dtype = params[0].dtype if params else np.float32
    param_storages = {id(p._storage) for p in params}
    leaves = [(name, m) for name, m in model.named_modules() if not any(True for _ in
                                                                         m.children())]
    report = Summary(input_shape=tuple(input_shape))
    created: list = []
    patched = []

    def measure(name, module, forward):
        def wrapped(*args, **kwargs):
            start = len(created)
            out = forward(*args, **kwargs)
            nodes = created[start:]
            report.rows.append(_stats(name or type(module).__name__, module, args[0], out,
                                      nodes, param_storages))
            return out
        return wrapped

    for name, module in leaves:
        object.__setattr__(module, "forward", measure(name, module, module.forward))
        patched.append(module)
    autograd._node_observers.append(created.append)
    try:
        with autograd.enable_grad():
            from tinytorch.creation import zeros  # noqa: PLC0415

            model(zeros(*input_shape, dtype=dtype))
    finally:
        autograd._node_observers.remove(created.append)
        for module in patched:
            object.__delattr__(module, "forward")
    return report


def _stats(name, module, x, out, nodes, param_storages) -> LayerStats:
    kind = type(module).__name__
    saved, seen = 0, set()
    for node in nodes:
        ctx = node.ctx
        for t in (ctx._saved or ()) if ctx is not None else ():
            if isinstance(t, Tensor) and id(t._storage) not in param_storages \
                    and id(t._storage) not in seen:
                seen.add(id(t._storage))
                saved += t._storage.nbytes
    flops = FLOPS.get(kind)
    workspace = WORKSPACE.get(kind)
    return LayerStats(
        name=name, kind=kind, output_shape=out.shape, output_bytes=out.nbytes,
        param_bytes=sum(p.nbytes for p in module.parameters(recurse=False)),
        saved_bytes=saved,
        flops=int(flops(module, x, out)) if flops else 0,
        workspace_bytes=int(workspace(module, x, out)) if workspace else 0)
