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
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
from pathlib import Path

import numpy as np

from tinytorch.io import atomic_write_bytes
from tinytorch.nn import Conv2d, Linear
from tinytorch.nn.module import Module
from tinytorch.quantization.functional import INT8_MAX, INT8_MIN, QSCHEMES, QuantizationError
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


def _fail(path: Path, what: str, hint: str = "") -> QuantizationError:
    return QuantizationError(f"{path}: {what}" + (f"\nhint: {hint}" if hint else ""))


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


# --- the schema: every entry checked before any value is used ------------------------------

_ARGS = {"QuantLinear": ("in_features", "out_features"),
         "QuantConv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                         "dilation")}
_ENTRY = ("name", "type", "args", "qscheme", "input_scale", "input_zero_point",
          "input_range", "weight", "zero_point", "scale", "bias")
_HINT = "the file was edited or damaged; save the model again with save_quantized"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _ints(v, n: int, least: int) -> bool:
    """``v`` is a list of ``n`` ints, each >= ``least``."""
    return isinstance(v, list) and len(v) == n and all(_is_int(i) and i >= least for i in v)


def _check_meta(path: Path, meta: dict) -> None:
    """The JSON's structure and types: a QuantizationError naming the file and the entry
    for the first problem (the values are checked against the npz in _check_arrays)."""
    def bad(where: str, what: str):
        return _fail(path, f"entry {where}: {what}", _HINT)

    for key, kind in (("npz", dict), ("layers", list), ("float_keys", list),
                      ("parameters", int)):
        if key not in meta:
            raise bad(repr(key), "is missing")
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            raise bad(repr(key), f"must be a {kind.__name__}, got {meta[key]!r:.60}")
    npz = meta["npz"]
    file = npz.get("file")
    # a bare file name next to the JSON: never a path that reaches elsewhere
    if not isinstance(file, str) or not file.endswith(".npz") or Path(file).name != file \
            or "/" in file or "\\" in file or file.startswith("."):
        raise bad("'npz.file'", f"must be a bare file name ending in .npz (the file next to "
                  f"the JSON), got {file!r:.80}")
    if not _is_int(npz.get("bytes")) or npz["bytes"] < 0:
        raise bad("'npz.bytes'", f"must be an int >= 0, got {npz.get('bytes')!r:.60}")
    sha = npz.get("sha256")
    if not isinstance(sha, str) or len(sha) != 64 or \
            any(c not in "0123456789abcdef" for c in sha):
        raise bad("'npz.sha256'", f"must be 64 lowercase hex digits, got {sha!r:.80}")
    if not meta["layers"]:
        raise bad("'layers'", "is empty; a quantised model has at least one int8 layer")
    if not all(isinstance(k, str) for k in meta["float_keys"]) or \
            len(set(meta["float_keys"])) != len(meta["float_keys"]):
        raise bad("'float_keys'", "must be a list of distinct strings")
    names = set()
    for i, entry in enumerate(meta["layers"]):
        _check_entry(path, i, entry)
        if entry["name"] in names:
            raise _fail(path, f"entry layers[{i}] ({entry['name']!r}): the layer name "
                        "appears twice", _HINT)
        names.add(entry["name"])


def _check_entry(path: Path, i: int, entry) -> None:
    def bad(key: str, what: str):
        name = entry.get("name") if isinstance(entry, dict) else None
        who = f"layers[{i}]" + (f" ({name!r})" if isinstance(name, str) else "")
        return _fail(path, f"entry {who}.{key}: {what}" if key else f"entry {who}: {what}",
                     _HINT)

    if not isinstance(entry, dict):
        raise bad("", f"must be an object, got {entry!r:.60}")
    missing = [k for k in _ENTRY if k not in entry]
    if missing:
        raise bad("", f"is missing {', '.join(missing)}")
    if not isinstance(entry["name"], str):
        raise bad("name", f"must be a string, got {entry['name']!r:.60}")
    kind = entry["type"]
    if kind not in _ARGS:
        raise bad("type", f"must be one of {', '.join(_ARGS)}, got {kind!r:.60}")
    args = entry["args"]
    if not isinstance(args, dict) or sorted(args) != sorted(_ARGS[kind]):
        got = sorted(args) if isinstance(args, dict) else args
        raise bad("args", f"must hold exactly {', '.join(_ARGS[kind])}, got {got!r:.80}")
    for k in _ARGS[kind][:2]:
        if not _is_int(args[k]) or args[k] < 1:
            raise bad(f"args.{k}", f"must be an int >= 1, got {args[k]!r:.60}")
    if kind == "QuantConv2d":
        for k, least in (("kernel_size", 1), ("stride", 1), ("dilation", 1)):
            if not _ints(args[k], 2, least):
                raise bad(f"args.{k}", f"must be a list of two ints >= {least}, got "
                          f"{args[k]!r:.60}")
        pad = args["padding"]
        if not (pad in ("same", "valid") or _ints(pad, 2, 0)):
            raise bad("args.padding", f"must be 'same', 'valid' or two ints >= 0, got "
                      f"{pad!r:.60}")
    if entry["qscheme"] not in QSCHEMES:
        raise bad("qscheme", f"must be one of {', '.join(QSCHEMES)}, got "
                  f"{entry['qscheme']!r:.60}")
    scale = entry["input_scale"]
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or \
            not math.isfinite(scale) or scale <= 0:
        raise bad("input_scale", f"must be a finite number > 0, got {scale!r:.60}")
    if not _ints(entry["input_range"], 2, INT8_MIN) or \
            not entry["input_range"][0] < entry["input_range"][1] <= INT8_MAX:
        raise bad("input_range", f"must be two ints [qmin, qmax], {INT8_MIN} <= qmin < qmax "
                  f"<= {INT8_MAX}, got {entry['input_range']!r:.60}")
    qmin, qmax = entry["input_range"]
    z = entry["input_zero_point"]
    if not _is_int(z) or not qmin <= z <= qmax:
        raise bad("input_zero_point", f"must be an int in [{qmin}, {qmax}], got {z!r:.60}")
    weight = entry["weight"]
    if not isinstance(weight, list) or len(weight) != 2 or not _is_int(weight[0]) or \
            weight[0] < 0 or not isinstance(weight[1], list):
        raise bad("weight", f"must be [offset >= 0, shape], got {weight!r:.80}")
    want = [args["out_features"], args["in_features"]] if kind == "QuantLinear" else \
        [args["out_channels"], args["in_channels"], *args["kernel_size"]]
    if weight[1] != want or not _ints(weight[1], len(want), 1):
        raise bad("weight", f"shape {weight[1]!r:.60} does not match args (expected {want})")
    for key, align in (("zero_point", 1), ("scale", 4), ("bias", 4)):
        off = entry[key]
        if off is None and key != "scale":
            continue
        if not _is_int(off) or off < 0 or off % align:
            what = "an int offset" + (" or null" if key != "scale" else "")
            raise bad(key, f"must be {what} >= 0, a multiple of {align}, got {off!r:.60}")


def _check_arrays(path: Path, meta: dict, arrays: dict) -> None:
    """The blob: present, 1-D uint8, and every layer's arrays inside it, none
    overlapping another; every float key present."""
    data = arrays.get("data")
    if data is None or data.dtype != np.uint8 or data.ndim != 1:
        what = "is missing" if data is None else f"is {data.ndim}-D {data.dtype}"
        raise _fail(path, f"the npz array 'data' {what}, not a 1-D uint8 byte blob", _HINT)
    spans = []
    for i, entry in enumerate(meta["layers"]):
        c_out = entry["weight"][1][0]
        for key, off, nbytes in (
                ("weight", entry["weight"][0], int(np.prod(entry["weight"][1]))),
                ("zero_point", entry["zero_point"], c_out), ("scale", entry["scale"], 4 * c_out),
                ("bias", entry["bias"], 4 * c_out)):
            if off is None:
                continue
            if off + nbytes > data.size:
                raise _fail(path, f"entry layers[{i}] ({entry['name']!r}).{key}: bytes "
                            f"[{off}, {off + nbytes}) pass the end of the {data.size}-byte "
                            "blob", _HINT)
            spans.append((off, off + nbytes, f"layers[{i}] ({entry['name']!r}).{key}"))
    spans.sort()
    for (_, end, first), (start, _, second) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise _fail(path, f"entry {second}: its bytes overlap those of {first}", _HINT)
    for k in meta["float_keys"]:
        if f"float.{k}" not in arrays:
            raise _fail(path, f"entry float_keys: {k!r} has no array 'float.{k}' in the npz",
                        _HINT)


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
