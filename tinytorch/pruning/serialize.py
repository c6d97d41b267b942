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
import zipfile
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

__all__ = ["FORMAT", "describe", "build", "count_parameters", "save_pruned", "load_pruned",
           "PrunedModelError"]

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


def _int(entry: dict, key: str, minimum: int = 0) -> int:
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{key} must be >= {minimum}, got {value}")
    return value


def _flag(entry: dict, key: str, default=None) -> bool:
    value = entry[key] if default is None else entry.get(key, default)
    if not isinstance(value, bool):
        raise TypeError(f"{key} must be true or false, got {type(value).__name__} {value!r}")
    return value


def _kernel(entry: dict) -> tuple[int, int]:
    value = entry["kernel_size"]
    pair = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not (isinstance(pair, list) and len(pair) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in pair)):
        raise ValueError(f"kernel_size must be an int >= 1 or a pair of them, got {value!r}")
    return pair[0], pair[1]


def _shapes(name: str, entry: dict) -> dict[str, tuple]:
    """The state-dict arrays (name -> shape) a layer entry allocates when built; every size
    it declares is type-checked here, before anything is allocated."""
    if name == "Linear":
        n, k = _int(entry, "out_features"), _int(entry, "in_features")
        shapes = {"weight": (n, k)}
        if _flag(entry, "bias"):
            shapes["bias"] = (n,)
        if _flag(entry, "mask", False):
            shapes[MASK] = (n, k)
        return shapes
    if name == "Conv2d":
        n, c = _int(entry, "out_channels"), _int(entry, "in_channels")
        groups = _int(entry, "groups", minimum=1)
        if c % groups or n % groups:
            raise ValueError(f"in_channels={c} and out_channels={n} must both be multiples "
                             f"of groups={groups}")
        shapes = {"weight": (n, c // groups, *_kernel(entry))}
        if _flag(entry, "bias"):
            shapes["bias"] = (n,)
        if _flag(entry, "mask", False):
            shapes[MASK] = shapes["weight"]
        return shapes
    if name == "BatchNorm2d":
        n = _int(entry, "num_features")
        shapes = {}
        if _flag(entry, "affine"):
            shapes.update(weight=(n,), bias=(n,))
        if _flag(entry, "track_running_stats"):
            shapes.update(running_mean=(n,), running_var=(n,), num_batches_tracked=())
        return shapes
    if name == "SparseLinear":
        n, k, nnz = _int(entry, "out_features"), _int(entry, "in_features"), _int(entry, "nnz")
        if nnz > n * k:
            raise ValueError(f"nnz={nnz} is more than the {n} x {k} = {n * k} entries")
        shapes = {"indptr": (n + 1,), "indices": (nnz,), "values": (nnz,)}
        if _flag(entry, "bias"):
            shapes["bias"] = (n,)
        return shapes
    return {}


def _layer(name: str, entry: dict) -> Module:
    if name == "SparseLinear":
        n, k, nnz = entry["out_features"], entry["in_features"], entry["nnz"]
        dtype = np.dtype(_dt.as_dtype(entry["dtype"]).np)
        # a valid placeholder of the right sizes; load_state_dict fills the real arrays
        indptr = np.zeros(n + 1, INDPTR_DTYPE)
        indptr[-1] = nnz
        bias = Tensor(np.zeros(n, dtype)) if entry["bias"] else None
        return SparseLinear(CSR(indptr, np.zeros(nnz, INDICES_DTYPE), np.zeros(nnz, dtype),
                                (n, k)), bias)
    cls, args = _LAYERS[name]
    kwargs = {arg: _python(entry[arg]) for arg in args}
    if name in ("Conv2d", "Linear"):
        kwargs["bias"] = entry["bias"]
    if name in _WITH_DTYPE:
        kwargs["dtype"] = _dt.as_dtype(entry["dtype"])
    layer = cls(**kwargs)
    if entry.get("mask"):
        layer.register_buffer(MASK, Tensor(np.ones(layer.weight.shape, layer.weight.dtype.np)))
    return layer


def _build(spec, arrays: dict | None, prefix: str, where: str) -> nn.Sequential:
    """``build``, with every problem of an entry a TypeError / ValueError that names it
    (``<where> entry <state-dict prefix> (<type>)``). With ``arrays`` (name -> array, the
    npz), each entry's declared sizes are compared with the arrays' shapes before the layer
    is built, so a damaged size never allocates."""
    if not isinstance(spec, list):
        raise TypeError(f"{where}: expected a list of layer dicts, got {type(spec).__name__}")
    # "build(): entry 3 ..." for the public function, "architecture entry 3 ..." in a file
    what = f"{where}: entry" if where.endswith(")") else f"{where} entry"
    layers = []
    for i, entry in enumerate(spec):
        label = f"{prefix}{i}"
        if not isinstance(entry, dict) or "type" not in entry:
            raise ValueError(f"{what} {label} is not a dict with a 'type': {entry!r}")
        name = entry["type"]
        if name == "Sequential":
            if "layers" not in entry:
                raise ValueError(f"{what} {label} (Sequential) has no 'layers' field")
            layers.append(_build(entry["layers"], arrays, label + ".", where))
            continue
        if not isinstance(name, str) or (name not in _LAYERS and name != "SparseLinear"):
            raise ValueError(f"{what} {label} has unknown type {name!r}")
        try:
            shapes = _shapes(name, entry)
            for suffix, shape in shapes.items() if arrays is not None else ():
                key = f"{label}.{suffix}"
                if key not in arrays:
                    raise ValueError(f"the arrays file has no {key!r}")
                if arrays[key].shape != shape:
                    raise ValueError(f"it declares {key} of shape {shape}, but the arrays "
                                     f"file holds shape {arrays[key].shape}")
            layers.append(_layer(name, entry))
        except KeyError as err:
            raise ValueError(f"{what} {label} ({name}) has no {err.args[0]!r} "
                             "field") from None
        except TypeError as err:
            raise TypeError(f"{what} {label} ({name}): {err}") from None
        except (ValueError, OverflowError, MemoryError) as err:
            raise ValueError(f"{what} {label} ({name}): {err}") from None
    return nn.Sequential(*layers)


def build(spec: list) -> nn.Sequential:
    """The (freshly initialised) ``nn.Sequential`` that ``describe`` described. A bad entry
    is a TypeError or ValueError naming it.

    >>> from tinytorch import nn
    >>> build(describe(nn.Sequential(nn.Conv2d(1, 3, 3), nn.Flatten())))
    Sequential(
      (0): Conv2d(1, 3, kernel_size=(3, 3), stride=(1, 1))
      (1): Flatten(start_dim=1, end_dim=-1)
    )
    """
    return _build(spec, None, "", "build()")


def count_parameters(model: Module) -> int:
    """Every weight and bias entry the model represents, zeros included: its parameters,
    plus the dense ``out_features * in_features`` (and bias) of each ``SparseLinear``, whose
    arrays are buffers. Minus ``sparsity(model)["zeros"]``, this is the non-zero count.

    >>> from tinytorch import nn
    >>> from tinytorch.pruning import l1_unstructured, to_sparse
    >>> model = nn.Sequential(l1_unstructured(nn.Linear(10, 10), 0.9), nn.Linear(10, 2))
    >>> count_parameters(model), count_parameters(to_sparse(model))
    (132, 132)
    """
    total = sum(p.numel() for p in model.parameters())
    for m in model.modules():
        if isinstance(m, SparseLinear):
            bias = m._buffers["bias"]
            total += m.out_features * m.in_features + (0 if bias is None else bias.numel())
    return int(total)


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
              "parameters": count_parameters(model),  # so parameters - zeros = non-zeros
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
    """The model ``save_pruned`` wrote (the ``.json`` or ``.npz`` path, or the stem), in eval
    mode. Every problem with the files (missing, damaged, hand-edited: a missing or
    ill-typed field, a size that does not match the arrays, an invalid CSR weight) is a
    ``PrunedModelError`` naming the file and the entry; nothing is allocated from a size
    before it is compared with the arrays.

    A model with ``SparseLinear`` layers is inference-only: call it under ``tt.no_grad()``
    (the layers before a SparseLinear have parameters, so its input would require grad).
    """
    path = Path(path)
    json_path = path.with_suffix(".json") if path.suffix in (".json", ".npz") else \
        path.with_name(path.name + ".json")
    try:
        record = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PrunedModelError(f"{json_path}: no such pruned-model file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PrunedModelError(f"{json_path}: not valid JSON ({err})") from None
    except OSError as err:
        raise PrunedModelError(f"{json_path}: cannot be read ({err})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise PrunedModelError(f"{json_path}: not a {FORMAT} file")
    if record.get("version") != VERSION:
        raise PrunedModelError(f"{json_path}: version {record.get('version')!r}; this "
                               f"tinytorch reads version {VERSION}")
    info = record.get("npz")
    if not (isinstance(info, dict) and isinstance(info.get("file"), str)
            and Path(info["file"]).name == info["file"]
            and isinstance(info.get("bytes"), int) and isinstance(info.get("sha256"), str)):
        raise PrunedModelError(f"{json_path}: entry 'npz' must be {{'file': a file name next "
                               f"to it, 'bytes': int, 'sha256': str}}, got {info!r}")
    if "architecture" not in record:
        raise PrunedModelError(f"{json_path}: no 'architecture' entry (the list of layers)")
    npz = json_path.with_name(info["file"])
    try:
        data = npz.read_bytes()
    except FileNotFoundError:
        raise PrunedModelError(f"{json_path}: its arrays file {npz.name} is missing") from None
    except OSError as err:
        raise PrunedModelError(f"{npz}: cannot be read ({err})") from None
    if len(data) != info["bytes"] or hashlib.sha256(data).hexdigest() != info["sha256"]:
        raise PrunedModelError(f"{npz}: size or sha256 differs from what {json_path.name} "
                               "recorded; the file is damaged or from another save")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz_arrays:
            arrays = {key: np.array(npz_arrays[key]) for key in npz_arrays.files}
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise PrunedModelError(f"{npz}: not a readable npz file ({err})") from None
    try:
        # sizes are checked against the arrays first, so a bad one never allocates
        model = _build(record["architecture"], arrays, "", "architecture")
        model.load_state_dict({key: Tensor(value) for key, value in arrays.items()})
    except nn.LoadStateDictError as err:
        raise PrunedModelError(f"{json_path}: the arrays do not fit the architecture:\n"
                               f"{err}") from None
    except (TypeError, ValueError) as err:
        raise PrunedModelError(f"{json_path}: {err}") from None
    # The compiled CSR kernels do not bounds-check: validate the loaded structure now, not
    # at the first forward pass.
    for name, m in model.named_modules():
        if isinstance(m, SparseLinear):
            try:
                m.csr  # noqa: B018 (the property validates and caches the CSR)
            except (TypeError, ValueError) as err:
                raise PrunedModelError(f"{json_path}: architecture entry {name} "
                                       f"(SparseLinear) has an invalid CSR weight: "
                                       f"{err}") from None
    return model.eval()
