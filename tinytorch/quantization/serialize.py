"""Saving and loading quantised models: int8 arrays in an ``.npz``, metadata in JSON.

``save_quantized(qmodel, "out/digits_int8")`` writes two files, each atomically
(``tinytorch.io.atomic_write_bytes``), the npz first and the JSON last, as checkpoints do
(``tinytorch/train/checkpoint.py``): the JSON names its npz and that file's size and
sha256, so it is the commit record, and a damaged npz is never read.

- ``<stem>.npz`` (read with ``allow_pickle=False``; nothing is ever unpickled):
  ``data``, one byte blob: per int8 layer its weight codes, its weight zero points (int8;
  left out when all zero, as for symmetric weights), its float32 scales and bias, each at
  an offset aligned to its item size; and ``float.<key>`` for any float state outside the
  int8 layers (a BatchNorm's statistics...).
- ``<stem>.json``: the format and version, the parameter count, and per int8 layer its
  dotted name, type, constructor arguments, input scale and zero point, and where its
  arrays sit in the blob.

Why one blob rather than one npz entry per array: each entry costs a few hundred bytes of
zip and npy headers, which for a small model (the digits CNN: 12.6 k weights) would eat a
real share of the 4x that int8 saves. ``model_file_bytes`` measures what a model costs on
disk, float (an npz of its state dict) or quantised (both files), through the same writer.

Loading needs the architecture: ``load_quantized(path, model)`` takes the float model it
was made from (e.g. ``digits_cnn()``, freshly built: its values are not used), checks every
layer's type and shape against the file, and returns the int8 model.

>>> import tempfile, os
>>> import tinytorch as tt
>>> from tinytorch import nn
>>> from tinytorch.quantization import quantize_model
>>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
>>> q = quantize_model(model, [tt.randn(8, 3)])
>>> folder = tempfile.mkdtemp()
>>> save_quantized(q, os.path.join(folder, "model")).name
'model.json'
>>> sorted(os.listdir(folder))
['model.json', 'model.npz']
>>> again = load_quantized(os.path.join(folder, "model.json"),
...                        nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
>>> x = tt.randn(2, 3)
>>> again(x).tolist() == q(x).tolist()
True

The file's schema (every JSON entry and blob offset checked before a value is used) is in
``_schema``.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
from pathlib import Path

import numpy as np

from tinytorch.io import atomic_write_bytes
from tinytorch.nn import Conv2d, Linear
from tinytorch.nn.module import Module
from tinytorch.quantization._schema import _check_arrays, _check_meta, _fail
from tinytorch.quantization.functional import QuantizationError
from tinytorch.quantization.modules import QuantConv2d, QuantLinear, _QuantLayer
from tinytorch.tensor import Tensor

__all__ = ["save_quantized", "load_quantized", "model_file_bytes", "FORMAT", "VERSION"]

FORMAT = "tinytorch-quantized"
VERSION = 1
_FLOAT_OF = {"QuantLinear": Linear, "QuantConv2d": Conv2d}


def _layer_args(m: _QuantLayer) -> dict:
    if isinstance(m, QuantLinear):
        return {"in_features": m.in_features, "out_features": m.out_features}
    pad = m.padding if isinstance(m.padding, str) else list(m.padding)
    return {"in_channels": m.in_channels, "out_channels": m.out_channels,
            "kernel_size": list(m.kernel_size), "stride": list(m.stride),
            "padding": pad, "dilation": list(m.dilation)}


def _quant_layers(model: Module) -> list[tuple[str, _QuantLayer]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _QuantLayer)]


def _encode(model: Module, quantised: bool, npz_name: str = "model.npz") -> tuple:
    """``(npz bytes, json bytes)`` of ``model``: the quantised format, or for a float
    model an npz of its state dict (and no JSON)."""
    buffer = io.BytesIO()
    if not quantised:
        np.savez(buffer, **{k: v.numpy() for k, v in model.state_dict().items()})
        return buffer.getvalue(), b""
    layers, chunks = [], []
    size = 0
    inside = set()

    def put(arr: np.ndarray) -> int:  # append to the blob at an aligned offset
        nonlocal size
        pad = -size % arr.itemsize
        if pad:
            chunks.append(bytes(pad))
        chunks.append(np.ascontiguousarray(arr).tobytes())
        size += pad + arr.nbytes
        return size - arr.nbytes

    for name, m in _quant_layers(model):
        b = m._buffers
        w = b["weight_int8"].numpy()
        zp = b["weight_zero_point"].numpy()
        bias = b["bias"].numpy() if b.get("bias") is not None else None
        entry = {"name": name, "type": type(m).__name__, "args": _layer_args(m),
                 "qscheme": m.qscheme, "input_scale": _short_float(m._s_x[0]),
                 "input_zero_point": m._z_x,
                 "input_range": [m.input_quant_min, m.input_quant_max],
                 "weight": [put(w), list(w.shape)],
                 # zero points are int8 codes; all-zero (symmetric) ones are not stored
                 "zero_point": put(zp.astype(np.int8)) if zp.any() else None,
                 "scale": put(b["weight_scale"].numpy().astype(np.float32)),
                 "bias": None if bias is None else put(bias.astype(np.float32))}
        layers.append(entry)
        inside.update(f"{name}.{k}" if name else k for k in b)
    arrays = {"data": np.frombuffer(b"".join(chunks), np.uint8)}
    rest = [k for k in model.state_dict() if k not in inside]
    for k in rest:
        arrays[f"float.{k}"] = model.state_dict()[k].numpy()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    parameters = sum(m._buffers["weight_int8"].numel() + (
        m._buffers["bias"].numel() if m._buffers.get("bias") is not None else 0)
        for _, m in _quant_layers(model)) + sum(p.numel() for p in model.parameters())
    meta = {"format": FORMAT, "version": VERSION, "parameters": int(parameters),
            "npz": {"file": npz_name, "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()},
            "layers": layers, "float_keys": rest}
    return data, json.dumps(meta, separators=(",", ":")).encode("utf-8")


def _short_float(value: float) -> float:
    """A float32-valued number with its shortest repr (``0.003921569``, not
    ``0.003921568859368563``): it reads back to the same float32."""
    return float(str(np.float32(value)))


def _stem(path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".json", ".npz") else path


def save_quantized(qmodel: Module, path) -> Path:
    """Write a quantised model (from ``quantize_model``/``convert``) as ``<stem>.npz`` and
    ``<stem>.json`` (``path``: the stem, or either file's name), atomically, the JSON last;
    returns the JSON's path. ``model_file_bytes(qmodel)`` is the two files' size."""
    if not isinstance(qmodel, Module):
        raise TypeError(f"save_quantized(): expected an nn.Module, got "
                        f"{type(qmodel).__name__}")
    if not _quant_layers(qmodel):
        raise QuantizationError("save_quantized(): the model has no int8 layer\nhint: "
                                "quantize_model(model, loader) first; a float model is "
                                "saved with tinytorch.train.save_checkpoint")
    stem = _stem(path)
    data, text = _encode(qmodel, quantised=True, npz_name=stem.name + ".npz")
    atomic_write_bytes(stem.with_name(stem.name + ".npz"), data)
    json_path = stem.with_name(stem.name + ".json")
    atomic_write_bytes(json_path, text)
    return json_path


def model_file_bytes(model: Module, name: str = "model") -> int:
    """Bytes a model costs on disk: a quantised model in ``save_quantized``'s format (both
    files; ``name`` is their stem, which the JSON spells out), a float model as an
    uncompressed ``.npz`` of its state dict.

    >>> from tinytorch import nn
    >>> model_file_bytes(nn.Linear(256, 256)) > 4 * 256 * 256
    True
    """
    if not isinstance(model, Module):
        raise TypeError(f"model_file_bytes(): expected an nn.Module, got "
                        f"{type(model).__name__}")
    data, text = _encode(model, quantised=bool(_quant_layers(model)), npz_name=f"{name}.npz")
    return len(data) + len(text)


def _read(path: Path) -> tuple[Path, dict, dict]:
    """``(json path, meta, arrays)`` of a saved quantised model, verified."""
    float_hint = ("load it with tinytorch.train.load_checkpoint into its float model, "
                  "then quantize_model(model, loader) and save_quantized(qmodel, path)")
    stem = _stem(path)
    json_path = stem.with_name(stem.name + ".json")
    try:
        text = json_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(json_path, "no such file (save_quantized writes <stem>.json and "
                    "<stem>.npz)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise _fail(json_path, f"cannot be read ({err})") from None
    try:
        meta = json.loads(text)
    except ValueError as err:
        raise _fail(json_path, f"is not valid JSON ({err})", "the file is damaged; save "
                    "the model again with save_quantized") from None
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if fmt == "tinytorch-checkpoint":
        raise _fail(json_path, "is a float training checkpoint, not a quantised model",
                    float_hint)
    if fmt != FORMAT:
        raise _fail(json_path, f"is not a tinytorch quantised model (format {fmt!r})")
    if meta.get("version") != VERSION:
        raise _fail(json_path, f"has format version {meta.get('version')!r}; this tinytorch "
                    f"reads version {VERSION}")
    _check_meta(json_path, meta)
    npz = json_path.with_name(meta["npz"]["file"])
    try:
        data = npz.read_bytes()
    except FileNotFoundError:
        raise _fail(npz, f"is missing (named by {json_path.name})") from None
    if len(data) != meta["npz"]["bytes"] or \
            hashlib.sha256(data).hexdigest() != meta["npz"]["sha256"]:
        raise _fail(npz, f"is corrupt: its size or sha256 differs from what "
                    f"{json_path.name} recorded", "save the model again") from None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as err:  # a valid checksum of a file that is no npz
        raise _fail(npz, f"is not a readable npz ({err})", "save the model again") from None
    _check_arrays(json_path, meta, arrays)
    return json_path, meta, arrays


def _module_at(model: Module, name: str):
    parent, _, leaf = name.rpartition(".")
    owner = model
    for part in parent.split(".") if parent else []:
        owner = owner._modules.get(part) if owner is not None else None
    child = owner._modules.get(leaf) if owner is not None else None
    return owner, leaf, child


def load_quantized(path, model: Module) -> Module:
    """The int8 model saved at ``path`` (the JSON, the npz, or their stem), built on a
    copy of ``model``: the float model of the same architecture (its layer types and
    shapes are checked; its values unused). Every mismatch is reported in one
    QuantizationError."""
    if not isinstance(model, Module):
        raise TypeError(f"load_quantized(): model must be the float nn.Module the file was "
                        f"made from (e.g. digits_cnn()), got {type(model).__name__}")
    path, meta, arrays = _read(path)
    model = copy.deepcopy(model)
    data = arrays["data"]
    problems, built = [], []
    for entry in meta["layers"]:
        name, kind, args = entry["name"], entry["type"], entry["args"]
        owner, leaf, child = _module_at(model, name)
        want = _FLOAT_OF.get(kind)
        if want is None:
            problems.append(f"layer {name!r}: unknown type {kind!r}")
            continue
        if child is None:
            problems.append(f"layer {name!r} ({kind}): the model has no module there")
            continue
        if type(child) not in (want, _quant_for(kind)):
            problems.append(f"layer {name!r}: the file holds a {kind}, the model a "
                            f"{type(child).__name__}")
            continue
        mismatch = [f"{k}={getattr(child, k)!r} (file: {v!r})" for k, v in args.items()
                    if _norm(getattr(child, k, None)) != _norm(v)]
        if mismatch:
            problems.append(f"layer {name!r}: " + ", ".join(mismatch))
            continue
        if (getattr(child, "bias", None) is None) != (entry["bias"] is None):
            has = ("no bias", "has one") if entry["bias"] is None else ("a bias", "has none")
            problems.append(f"layer {name!r}: the file holds {has[0]}, the model's "
                            f"{type(child).__name__} {has[1]}")
            continue
        off, shape = entry["weight"]
        c_out = shape[0]
        w = data[off:off + int(np.prod(shape))].view(np.int8).reshape(shape)
        zp = np.zeros(c_out, np.int32) if entry["zero_point"] is None else \
            data[entry["zero_point"]:entry["zero_point"] + c_out].view(np.int8).astype(np.int32)
        scale = _floats(data, entry["scale"], c_out).astype(np.float64)
        bias = None if entry["bias"] is None else _floats(data, entry["bias"], c_out)
        common = {"weight_q": w, "weight_scale": scale, "weight_zero_point": zp, "bias": bias,
                  "input_scale": entry["input_scale"],
                  "input_zero_point": entry["input_zero_point"],
                  "input_range": tuple(entry["input_range"]), "qscheme": entry["qscheme"]}
        try:
            q = _build(kind, args, common)
        except (TypeError, ValueError) as err:  # the values: scales, codes, overflow...
            problems.append(f"layer {name!r}: its values are refused: {err}")
            continue
        built.append((owner, leaf, q))
    if problems:
        raise _fail(path, "does not fit this model:\n  " + "\n  ".join(problems),
                    "pass the float model it was quantised from (same layers and sizes)")
    for owner, leaf, q in built:
        owner.add_module(leaf, q)
    rest = {k: Tensor(arrays[f"float.{k}"]) for k in meta["float_keys"]}
    expected = {k for k in model.state_dict() if not _in_quant(model, k)}
    if set(rest) != expected:
        raise _fail(path, f"its float state {sorted(rest)} does not match the model's "
                    f"{sorted(expected)}")
    if rest:
        model.load_state_dict({**model.state_dict(), **rest})
    return model.eval()


def _build(kind: str, args: dict, common: dict) -> _QuantLayer:
    if kind == "QuantLinear":
        return QuantLinear(args["in_features"], args["out_features"], **common)
    pad = args["padding"] if isinstance(args["padding"], str) else tuple(args["padding"])
    return QuantConv2d(args["in_channels"], args["out_channels"], tuple(args["kernel_size"]),
                       stride=tuple(args["stride"]), padding=pad,
                       dilation=tuple(args["dilation"]), **common)


def _floats(data: np.ndarray, offset: int, n: int) -> np.ndarray:
    return data[offset:offset + 4 * n].view(np.float32)


def _quant_for(kind: str):
    return QuantLinear if kind == "QuantLinear" else QuantConv2d


def _norm(value):
    return list(value) if isinstance(value, (tuple, list)) else value


def _in_quant(model: Module, key: str) -> bool:
    names = {n for n, _ in _quant_layers(model)}
    parts = key.split(".")
    return any(".".join(parts[:i]) in names for i in range(len(parts)))
