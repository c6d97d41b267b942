"""The schema of ``save_quantized``'s JSON and blob, checked before ``load_quantized``
uses a single value: every key present with the right type, every offset aligned, every
array inside the blob and none overlapping another. Each problem is a QuantizationError
that names the file and the entry.

It is separate from ``serialize`` because it is the one part a reader must trust: a JSON
edited by hand (or damaged) must be refused here, not crash a kernel that indexes past an
array later. ``serialize`` re-exports what it uses (``_fail``, ``_check_meta``,
``_check_arrays``).

>>> _ints([3, 3], 2, 1), _ints([3, 0], 2, 1), _is_int(True)
(True, False, False)
>>> _check_entry(Path("m.json"), 0, {"name": "fc"})
Traceback (most recent call last):
...
tinytorch.quantization.functional.QuantizationError: m.json: entry layers[0] ('fc'): is missing type, args, qscheme, input_scale, input_zero_point, input_range, weight, zero_point, scale, bias
hint: the file was edited or damaged; save the model again with save_quantized
"""  # noqa: E501

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tinytorch.quantization.functional import INT8_MAX, INT8_MIN, QSCHEMES, QuantizationError

__all__: list[str] = []  # private: serialize.load_quantized is the API


def _fail(path: Path, what: str, hint: str = "") -> QuantizationError:
    return QuantizationError(f"{path}: {what}" + (f"\nhint: {hint}" if hint else ""))


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
