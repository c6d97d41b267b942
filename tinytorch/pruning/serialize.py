"""Saving and loading pruned models: the architecture in JSON, the arrays in ``.npz``.

A structured-pruned model has shapes no config describes (``channels = [12, 24]`` after
pruning ``[24, 48]`` by half; a hidden layer of 37 neurons), so the file records the
architecture itself: one JSON entry per layer with its constructor arguments (channels,
kernel size, stride, ...), which masks it carries, and the CSR size of a ``SparseLinear``.
``load_pruned`` rebuilds the model from that list and loads the arrays strictly.

Two files, written as checkpoints are (``tinytorch.io.atomic_write_bytes``: a temporary
file, fsync, rename): ``<stem>.npz`` first, then ``<stem>.json``, which names the npz with
its size and sha256 and so commits the pair. Nothing is unpickled
(``np.load(..., allow_pickle=False)``).

>>> import tempfile, tinytorch as tt
>>> from tinytorch.pruning import prune_channels
>>> from tinytorch.train.models import cnn
>>> small = prune_channels(cnn((1, 8, 8), channels=[4, 8]), 0.5)
>>> path = save_pruned(tempfile.mkdtemp() + "/small", small)
>>> path.name, describe(load_pruned(path))[0]["out_channels"]
('small.json', 2)
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from tinytorch import dtypes as _dt
from tinytorch import nn
from tinytorch.io import atomic_write_bytes
from tinytorch.kernels.sparse import INDICES_DTYPE, INDPTR_DTYPE
from tinytorch.nn import Module
from tinytorch.pruning.magnitude import MASK, sparsity
from tinytorch.pruning.sparse import CSR, SparseLinear
from tinytorch.tensor import Tensor

__all__ = ["FORMAT", "describe", "build", "save_pruned", "load_pruned", "PrunedModelError"]

FORMAT = "tinytorch-pruned-model"
VERSION = 1

# type name -> (class, constructor arguments read from the layer's attributes)
_LAYERS = {
    "Conv2d": (nn.Conv2d, ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                           "dilation", "groups")),
    "Linear": (nn.Linear, ("in_features", "out_features")),
    "BatchNorm2d": (nn.BatchNorm2d, ("num_features", "eps", "momentum", "affine",
                                     "track_running_stats")),
    "ReLU": (nn.ReLU, ()), "Tanh": (nn.Tanh, ()), "Sigmoid": (nn.Sigmoid, ()),
    "Identity": (nn.Identity, ()),
    "LeakyReLU": (nn.LeakyReLU, ("negative_slope",)),
    "GELU": (nn.GELU, ("approximate",)),
    "Softmax": (nn.Softmax, ("dim",)), "LogSoftmax": (nn.LogSoftmax, ("dim",)),
    "Dropout": (nn.Dropout, ("p",)),
    "Flatten": (nn.Flatten, ("start_dim", "end_dim")),
    "MaxPool2d": (nn.MaxPool2d, nn.MaxPool2d._SETTINGS),
    "AvgPool2d": (nn.AvgPool2d, nn.AvgPool2d._SETTINGS),
    "AdaptiveAvgPool2d": (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool2d._SETTINGS),
}
_WITH_DTYPE = ("Conv2d", "Linear", "BatchNorm2d")


class PrunedModelError(ValueError):
    """A pruned-model file that cannot be loaded; the message names the file."""


def _json(value):
    return list(_json(v) for v in value) if isinstance(value, (tuple, list)) else value


def _python(value):
    return tuple(_python(v) for v in value) if isinstance(value, list) else value


def describe(model: Module) -> list[dict]:
    """The architecture of an ``nn.Sequential`` (nested ones included) as JSON-ready dicts,
    one per layer: ``{"type": ..., <constructor arguments>, "mask": bool?}``.

    >>> from tinytorch import nn
    >>> spec = describe(nn.Sequential(nn.Linear(3, 2), nn.ReLU()))
    >>> spec[0]
    {'type': 'Linear', 'in_features': 3, 'out_features': 2, 'bias': True, 'dtype': 'float32', \
'mask': False}
    >>> spec[1]
    {'type': 'ReLU'}
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"describe(): a pruned model is saved as an nn.Sequential, got "
                        f"{type(model).__name__}")
    spec = []
    for i, layer in enumerate(model):
        name = type(layer).__name__
        if isinstance(layer, nn.Sequential):
            spec.append({"type": "Sequential", "layers": describe(layer)})
            continue
        if isinstance(layer, SparseLinear):
            spec.append({"type": "SparseLinear", "in_features": layer.in_features,
                         "out_features": layer.out_features,
                         "nnz": int(layer.values.shape[0]),
                         "bias": layer.bias is not None,
                         "dtype": layer.values.dtype.name})
            continue
        if name not in _LAYERS or type(layer) is not _LAYERS[name][0]:
            raise TypeError(f"describe(): layer {i} is a {name}, which a pruned-model file "
                            f"cannot rebuild; known layers: {', '.join(_LAYERS)}, "
                            "SparseLinear, Sequential")
        if isinstance(layer, nn.MaxPool2d) and layer.return_indices:
            raise ValueError(f"describe(): layer {i} is MaxPool2d(return_indices=True)")
        entry = {"type": name}
        entry.update((arg, _json(getattr(layer, arg))) for arg in _LAYERS[name][1])
        if name in ("Conv2d", "Linear"):
            entry["bias"] = layer.bias is not None
        if name in _WITH_DTYPE:
            w = layer.weight if layer._parameters.get("weight") is not None else \
                layer.running_mean
            entry["dtype"] = (w.dtype.name if w is not None else _dt.default_float.name)
        if name in ("Conv2d", "Linear"):
            entry["mask"] = layer._buffers.get(MASK) is not None
        spec.append(entry)
    return spec


def build(spec: list) -> nn.Sequential:
    """The (freshly initialised) ``nn.Sequential`` that ``describe`` described.

    >>> from tinytorch import nn
    >>> build(describe(nn.Sequential(nn.Conv2d(1, 3, 3), nn.Flatten())))
    Sequential(
      (0): Conv2d(1, 3, kernel_size=(3, 3), stride=(1, 1))
      (1): Flatten(start_dim=1, end_dim=-1)
    )
    """
    if not isinstance(spec, list):
        raise TypeError(f"build(): expected a list of layer dicts, got {type(spec).__name__}")
    layers = []
    for i, entry in enumerate(spec):
        if not isinstance(entry, dict) or "type" not in entry:
            raise ValueError(f"build(): entry {i} is not a dict with a 'type': {entry!r}")
        name = entry["type"]
        if name == "Sequential":
            layers.append(build(entry["layers"]))
            continue
        if name == "SparseLinear":
            n, k, nnz = entry["out_features"], entry["in_features"], entry["nnz"]
            dtype = np.dtype(entry["dtype"])
            # a valid placeholder of the right sizes; load_state_dict fills the real arrays
            indptr = np.zeros(n + 1, INDPTR_DTYPE)
            indptr[-1] = nnz
            bias = Tensor(np.zeros(n, dtype)) if entry["bias"] else None
            layers.append(SparseLinear(CSR(indptr, np.zeros(nnz, INDICES_DTYPE),
                                           np.zeros(nnz, dtype), (n, k)), bias))
            continue
        if name not in _LAYERS:
            raise ValueError(f"build(): entry {i} has unknown type {name!r}")
        cls, args = _LAYERS[name]
        kwargs = {arg: _python(entry[arg]) for arg in args}
        if name in ("Conv2d", "Linear"):
            kwargs["bias"] = entry["bias"]
        if name in _WITH_DTYPE:
            kwargs["dtype"] = _dt.as_dtype(entry["dtype"])
        layer = cls(**kwargs)
        if entry.get("mask"):
            layer.register_buffer(MASK, Tensor(np.ones(layer.weight.shape,
                                                       layer.weight.dtype.np)))
        layers.append(layer)
    return nn.Sequential(*layers)


def save_pruned(path, model: Module, *, meta: dict | None = None) -> Path:
    """Write ``<stem>.npz`` (the state dict) and ``<stem>.json`` (format, architecture,
    sparsity, parameter count, ``meta``, the npz's size and sha256) atomically; returns
    the JSON's path. ``path`` may end in ``.json`` or have no suffix."""
    spec = describe(model)
    if meta is not None and not isinstance(meta, dict):
        raise TypeError(f"save_pruned(): meta must be a dict, got {type(meta).__name__}")
    path = Path(path)
    stem = path.with_suffix("") if path.suffix == ".json" else path
    arrays = {key: value.numpy() for key, value in model.state_dict().items()}
    buffer = io.BytesIO()
    # A pruned model is mostly zeros, and zeros compress: deflate stores them for a few bits
    # each (loading is the same np.load). A dense model is written plain, as checkpoints are.
    report = sparsity(model)
    (np.savez_compressed if report["sparsity"] > 0 else np.savez)(buffer, **arrays)
    data = buffer.getvalue()
    record = {"format": FORMAT, "version": VERSION, "architecture": spec,
              "keys": list(arrays),
              "parameters": int(sum(p.numel() for p in model.parameters())),
              "sparsity": report["sparsity"], "zeros": report["zeros"],
              "npz": {"file": stem.name + ".npz", "bytes": len(data),
                      "sha256": hashlib.sha256(data).hexdigest()},
              "meta": meta or {}}
    text = json.dumps(record, indent=1) + "\n"  # fails here, before writing, if meta is odd
    atomic_write_bytes(stem.with_name(stem.name + ".npz"), data)
    json_path = stem.with_name(stem.name + ".json")
    atomic_write_bytes(json_path, text.encode("utf-8"))
    return json_path


def load_pruned(path) -> nn.Sequential:
    """The model ``save_pruned`` wrote (the ``.json`` path, or the stem), in eval mode."""
    path = Path(path)
    json_path = path if path.suffix == ".json" else path.with_name(path.name + ".json")
    try:
        record = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PrunedModelError(f"{json_path}: no such pruned-model file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PrunedModelError(f"{json_path}: not valid JSON ({err})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise PrunedModelError(f"{json_path}: not a {FORMAT} file")
    if record.get("version") != VERSION:
        raise PrunedModelError(f"{json_path}: version {record.get('version')!r}; this "
                               f"tinytorch reads version {VERSION}")
    npz = json_path.with_name(record["npz"]["file"])
    try:
        data = npz.read_bytes()
    except FileNotFoundError:
        raise PrunedModelError(f"{json_path}: its arrays file {npz.name} is missing") from None
    if len(data) != record["npz"]["bytes"] or \
            hashlib.sha256(data).hexdigest() != record["npz"]["sha256"]:
        raise PrunedModelError(f"{npz}: size or sha256 differs from what {json_path.name} "
                               "recorded; the file is damaged or from another save")
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        state = {key: Tensor(np.array(arrays[key])) for key in arrays.files}
    model = build(record["architecture"])
    try:
        model.load_state_dict(state)
    except nn.LoadStateDictError as err:
        raise PrunedModelError(f"{json_path}: the arrays do not fit the architecture:\n"
                               f"{err}") from None
    return model.eval()
