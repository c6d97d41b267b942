"""Crash-safe checkpoints (module 06): ``.npz`` for the arrays, JSON for everything else.

A checkpoint is two files in a run's ``checkpoints/`` folder, named after the epoch and the
optimiser step it was taken at::

    ckpt-e0003-s00000135.npz    every array: model parameters and buffers, optimiser state
    ckpt-e0003-s00000135.json   epoch, step, optimiser groups and counters, scheduler state,
                                random generator states, metrics, trainer state, config,
                                the npz's name, size and sha256, and a checksum of itself

Why it survives a crash: each file is written to a temporary file in the same folder,
fsync'ed and renamed over its final name (``tinytorch.io.atomic_write_bytes``), so a reader
sees the whole file or none of it; the npz goes first and the JSON, which names the npz and
its checksum, last: the JSON is the commit record. A process killed at any moment leaves
the previous checkpoint complete (at worst a stray temporary file or an npz without its
JSON, which the next save sweeps away).

Why a damaged file is never loaded: the JSON carries the sha256 and size of its npz and a
sha256 of its own content; loading checks both before reading an array, and a mismatch is a
``CheckpointError`` that names the file and says what to do. Nothing is unpickled: the
arrays are read with ``np.load(..., allow_pickle=False)`` and the rest is JSON.

>>> import tempfile
>>> import tinytorch as tt
>>> from tinytorch import nn
>>> model = nn.Linear(3, 2)
>>> opt = tt.optim.Adam(model.parameters(), lr=0.1)
>>> folder = tempfile.mkdtemp()
>>> path = save_checkpoint(folder, model=model, optimizer=opt, epoch=1, step=10)
>>> path.name
'ckpt-e0001-s00000010.json'
>>> other = nn.Linear(3, 2)
>>> ckpt = load_checkpoint(path)
>>> ckpt.restore(other); ckpt.step
10
>>> bool((other.weight == model.weight).numpy().all())
True
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import math
import re
from pathlib import Path

import numpy as np

from tinytorch.io import atomic_write_bytes
from tinytorch.tensor import Tensor

__all__ = ["CheckpointError", "Checkpoint", "CheckpointManager", "save_checkpoint",
           "load_checkpoint", "list_checkpoints", "checkpoint_name"]

FORMAT = "tinytorch-checkpoint"
VERSION = 1
_NAME = re.compile(r"^ckpt-e(\d{4,})-s(\d{8,})\.json$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: missing, truncated, corrupted, or not made for
    the model/optimiser it is restored into. The message names the file."""


def checkpoint_name(epoch: int, step: int) -> str:
    """The file stem of the checkpoint taken after ``epoch`` epochs and ``step`` steps
    (zero-padded, so names sort in training order).

    >>> checkpoint_name(3, 135)
    'ckpt-e0003-s00000135'
    """
    return f"ckpt-e{epoch:04d}-s{step:08d}"


def _digest(meta: dict) -> str:
    """sha256 of the JSON content without its own checksum, in one canonical spelling."""
    body = {k: v for k, v in meta.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _jsonable(value, where: str):
    """A JSON copy of optimiser/scheduler values (tuples become lists); anything else is a
    TypeError that names where it sits, rather than a checkpoint that cannot be read."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise TypeError(f"save_checkpoint(): {where} is a {type(value).__name__}, which a "
                    "checkpoint cannot hold (numbers, strings, lists, dicts and tensors only)")


def _check_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"save_checkpoint(): {name} must be an int, got "
                        f"{type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"save_checkpoint(): {name} must be >= 0, got {value}")
    return int(value)


def save_checkpoint(directory, *, model, optimizer=None, scheduler=None, epoch: int = 0,
                    step: int = 0, config: dict | None = None, generators: dict | None = None,
                    metrics: dict | None = None, monitor: dict | None = None,
                    trainer: dict | None = None) -> Path:
    """Write the checkpoint ``<directory>/ckpt-e<epoch>-s<step>.{npz,json}`` atomically and
    return the JSON's path.

    ``generators`` maps names to ``numpy.random.Generator`` objects whose exact states are
    saved (``{"tinytorch": tt.random.generator(), "loader": loader.generator}``);
    ``monitor`` is ``{"name", "value", "mode"}``, what ``CheckpointManager`` ranks the
    checkpoints by; ``trainer`` holds the loop's own counters (early stopping);
    ``config`` the run's config as a dict.
    """
    from tinytorch.nn.module import Module  # noqa: PLC0415 (nn imports much; load lazily)
    from tinytorch.optim.lr_scheduler import LRScheduler  # noqa: PLC0415
    from tinytorch.optim.optimizer import Optimizer  # noqa: PLC0415

    if not isinstance(model, Module):
        raise TypeError(f"save_checkpoint(): model must be an nn.Module, got "
                        f"{type(model).__name__}")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"save_checkpoint(): optimizer must be a tt.optim optimizer, got "
                        f"{type(optimizer).__name__}")
    if scheduler is not None and not isinstance(scheduler, LRScheduler):
        raise TypeError(f"save_checkpoint(): scheduler must be an lr_scheduler, got "
                        f"{type(scheduler).__name__}")
    epoch, step = _check_int("epoch", epoch), _check_int("step", step)
    arrays: dict[str, np.ndarray] = {}
    model_keys = []
    for key, value in model.state_dict().items():
        arrays[f"model.{key}"] = value.numpy()
        model_keys.append(key)
    meta: dict = {"format": FORMAT, "version": VERSION, "epoch": epoch, "step": step,
                  "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                  "model": {"type": type(model).__name__, "keys": model_keys}}
    if optimizer is not None:
        sd = optimizer.state_dict()
        state = {}
        for index, entry in sd["state"].items():
            saved = {}
            for key, value in entry.items():
                if isinstance(value, Tensor):
                    name = f"optimizer.{index}.{key}"
                    arrays[name] = value.numpy()
                    saved[key] = {"array": name}
                else:
                    saved[key] = _jsonable(value, f"optimizer state[{index}][{key!r}]")
            state[str(index)] = saved
        meta["optimizer"] = {"type": type(optimizer).__name__, "state": state,
                             "param_groups": _jsonable(sd["param_groups"],
                                                       "optimizer param_groups")}
    if scheduler is not None:
        meta["scheduler"] = {"type": type(scheduler).__name__,
                             "state": _jsonable(scheduler.state_dict(), "scheduler state")}
    rng = {}
    for name, gen in (generators or {}).items():
        if not isinstance(gen, np.random.Generator):
            raise TypeError(f"save_checkpoint(): generators[{name!r}] must be a "
                            f"numpy.random.Generator, got {type(gen).__name__}")
        rng[name] = gen.bit_generator.state  # a dict of ints: exact in JSON
    meta["rng"] = rng
    meta["metrics"] = _jsonable(metrics or {}, "metrics")
    meta["monitor"] = _jsonable(monitor, "monitor")
    meta["trainer"] = _jsonable(trainer or {}, "trainer")
    meta["config"] = _jsonable(config, "config")

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    directory = Path(directory)
    stem = checkpoint_name(epoch, step)
    meta["arrays"] = {"file": f"{stem}.npz", "bytes": len(data),
                      "sha256": hashlib.sha256(data).hexdigest(), "keys": sorted(arrays)}
    meta["checksum"] = _digest(meta)
    # The npz first, the JSON last: a checkpoint exists once its JSON does.
    atomic_write_bytes(directory / f"{stem}.npz", data)
    json_path = directory / f"{stem}.json"
    atomic_write_bytes(json_path, (json.dumps(meta, indent=1) + "\n").encode("utf-8"))
    return json_path


class Checkpoint:
    """A loaded, verified checkpoint: ``meta`` (the JSON), ``arrays`` (name -> ndarray),
    and ``restore(...)`` to put it back into live objects.

    >>> import tempfile
    >>> from tinytorch import nn
    >>> path = save_checkpoint(tempfile.mkdtemp(), model=nn.Linear(2, 1), epoch=2, step=7,
    ...                        metrics={"val_accuracy": 0.5})
    >>> ckpt = load_checkpoint(path)
    >>> ckpt.epoch, ckpt.step, ckpt.metrics
    (2, 7, {'val_accuracy': 0.5})
    """

    def __init__(self, path: Path, meta: dict, arrays: dict):
        self.path = Path(path)
        self.meta = meta
        self.arrays = arrays

    epoch = property(lambda self: self.meta["epoch"], doc="epochs completed")
    step = property(lambda self: self.meta["step"], doc="optimiser steps taken")
    metrics = property(lambda self: self.meta.get("metrics") or {}, doc="metrics saved")
    config = property(lambda self: self.meta.get("config"), doc="the run's config (dict)")
    trainer = property(lambda self: self.meta.get("trainer") or {}, doc="loop counters")

    def model_state(self) -> dict:
        """The model's state dict, as tensors (fresh arrays, owned by them)."""
        return {key: Tensor(self.arrays[f"model.{key}"])
                for key in self.meta["model"]["keys"]}

    def _fail(self, what: str, err: Exception) -> CheckpointError:
        return CheckpointError(f"checkpoint {self.path} does not fit this {what}:\n{err}\n"
                               "hint: restore it into the model and optimiser of the config "
                               "it was saved with (its config is inside the JSON)")

    def restore(self, model, optimizer=None, scheduler=None, generators=None) -> None:
        """Load the model (strict: every key, every shape), then the optimiser, the
        scheduler and the generators' states, each only if given. A part the checkpoint
        lacks, or that does not fit, is a CheckpointError; the model is checked in full
        before anything is copied into it."""
        from tinytorch.nn.module import LoadStateDictError  # noqa: PLC0415

        try:
            model.load_state_dict(self.model_state())
        except LoadStateDictError as err:
            raise self._fail("model", err) from None
        if optimizer is not None:
            saved = self.meta.get("optimizer")
            if saved is None:
                raise CheckpointError(f"checkpoint {self.path} holds no optimiser state")
            if saved["type"] != type(optimizer).__name__:
                raise CheckpointError(f"checkpoint {self.path} holds the state of a "
                                      f"{saved['type']} optimiser, not of a "
                                      f"{type(optimizer).__name__}")
            state = {}
            for index, entry in saved["state"].items():
                state[int(index)] = {
                    key: Tensor(self.arrays[value["array"]]) if isinstance(value, dict)
                    else value for key, value in entry.items()}
            groups = []
            for current, group in zip(optimizer.param_groups, saved["param_groups"],
                                      strict=False):
                # JSON has no tuples: give back the tuple type the optimiser uses (betas)
                groups.append({k: tuple(v) if isinstance(current.get(k), tuple) else v
                               for k, v in group.items()})
            groups += saved["param_groups"][len(groups):]
            try:
                optimizer.load_state_dict({"state": state, "param_groups": groups})
            except (ValueError, TypeError) as err:
                raise self._fail("optimiser", err) from None
        if scheduler is not None:
            saved = self.meta.get("scheduler")
            if saved is None or saved["type"] != type(scheduler).__name__:
                kind = "no scheduler" if saved is None else f"a {saved['type']}"
                raise CheckpointError(f"checkpoint {self.path} holds {kind} state, not a "
                                      f"{type(scheduler).__name__}'s")
            try:
                scheduler.load_state_dict(saved["state"])
            except (ValueError, TypeError) as err:
                raise self._fail("scheduler", err) from None
        for name, gen in (generators or {}).items():
            state = self.meta.get("rng", {}).get(name)
            if state is None:
                raise CheckpointError(f"checkpoint {self.path} holds no state for the "
                                      f"random generator {name!r} (it has "
                                      f"{sorted(self.meta.get('rng', {}))})")
            try:
                gen.bit_generator.state = state
            except (ValueError, TypeError, KeyError) as err:
                raise CheckpointError(f"checkpoint {self.path}: the state of generator "
                                      f"{name!r} does not fit a "
                                      f"{type(gen.bit_generator).__name__}: {err}") from None

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.path)!r}, epoch={self.epoch}, step={self.step})"


def _read_meta(path: Path) -> dict:
    """The JSON of a checkpoint, its own checksum verified."""
    hint = ("hint: it was damaged after it was written (a checkpoint is written atomically, "
            "so a crash cannot leave it half-written); resume from an earlier checkpoint "
            "in the same folder, or delete this one")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err}\n{hint}") from None
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"checkpoint {path} is corrupt: not valid JSON ({err}; "
                              f"{len(text)} characters)\n{hint}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a tinytorch checkpoint (no "
                              f"'format': {FORMAT!r} entry)")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has format version "
                              f"{meta.get('version')!r}; this tinytorch reads version "
                              f"{VERSION}")
    if meta.get("checksum") != _digest(meta):
        raise CheckpointError(f"checkpoint {path} is corrupt: its content does not match "
                              f"its checksum\n{hint}")
    return meta


def load_checkpoint(path) -> Checkpoint:
    """Load and verify a checkpoint: its JSON file (or its ``.npz``, or a folder, for the
    newest checkpoint in it or in its ``checkpoints/``). Truncated or altered files raise
    CheckpointError; nothing is unpickled."""
    path = Path(path)
    if path.is_dir():
        folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        found = list_checkpoints(folder)
        if not found:
            raise CheckpointError(f"no checkpoint in {folder}\nhint: a run saves one after "
                                  "each epoch (checkpoint.every_epochs)")
        newest = found[-1]
        try:
            return load_checkpoint(newest)
        except CheckpointError as err:
            if len(found) > 1:
                raise CheckpointError(f"{err}\nthe checkpoint before it is {found[-2]}; "
                                      "pass that file to load it instead") from None
            raise
    if path.suffix == ".npz":
        path = path.with_suffix(".json")
    meta = _read_meta(path)
    info = meta.get("arrays") or {}
    npz = path.parent / str(info.get("file", ""))
    try:
        data = npz.read_bytes()
    except OSError:
        raise CheckpointError(f"checkpoint {path} is incomplete: its arrays file {npz} is "
                              "missing") from None
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != info.get("bytes") or digest != info.get("sha256"):
        raise CheckpointError(f"checkpoint {path} is corrupt: {npz.name} has {len(data)} "
                              f"bytes and sha256 {digest[:16]}..., the checkpoint recorded "
                              f"{info.get('bytes')} bytes and {str(info.get('sha256'))[:16]}"
                              "...\nhint: the file was truncated or changed after it was "
                              "written; resume from an earlier checkpoint, or delete this "
                              "one")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError) as err:  # cannot happen after the checksum, but be sure
        raise CheckpointError(f"checkpoint {npz} cannot be read: {err}") from None
    if sorted(arrays) != info.get("keys"):
        raise CheckpointError(f"checkpoint {npz} holds arrays {sorted(arrays)[:5]}..., "
                              "not the ones its JSON lists")
    return Checkpoint(path, meta, arrays)


def list_checkpoints(directory) -> list[Path]:
    """The checkpoint JSON files in ``directory``, oldest first (by their names, which
    encode epoch and step). Nothing is read or verified here.

    >>> list_checkpoints("/nonexistent")
    []
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if _NAME.match(p.name))


def _better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


class CheckpointManager:
    """Saves into one folder and keeps the ``keep_last`` newest checkpoints plus, with
    ``keep_best``, the best one by the ``monitor`` value each save records.

    >>> import tempfile
    >>> from tinytorch import nn
    >>> m = CheckpointManager(tempfile.mkdtemp(), keep_last=1, mode="max")
    >>> model = nn.Linear(2, 1)
    >>> for epoch, acc in enumerate([0.5, 0.9, 0.7], start=1):
    ...     _ = m.save(model=model, epoch=epoch, step=epoch * 10,
    ...                monitor={"name": "val_accuracy", "value": acc, "mode": "max"})
    >>> [p.name for p in list_checkpoints(m.directory)]
    ['ckpt-e0002-s00000020.json', 'ckpt-e0003-s00000030.json']
    >>> m.best().name, m.latest().name
    ('ckpt-e0002-s00000020.json', 'ckpt-e0003-s00000030.json')
    """

    def __init__(self, directory, *, keep_last: int = 2, keep_best: bool = True,
                 mode: str = "max"):
        if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1:
            raise ValueError(f"CheckpointManager(): keep_last must be an int >= 1, got "
                             f"{keep_last!r}")
        if mode not in ("max", "min"):
            raise ValueError(f"CheckpointManager(): mode must be 'max' or 'min', got "
                             f"{mode!r}")
        self.directory = Path(directory)
        self.keep_last = keep_last
        self.keep_best = bool(keep_best)
        self.mode = mode

    def save(self, **kwargs) -> Path:
        """``save_checkpoint(self.directory, **kwargs)``, then drop what is not kept."""
        path = save_checkpoint(self.directory, **kwargs)
        self.prune()
        return path

    def latest(self) -> Path | None:
        """The newest checkpoint's JSON (not verified), or None."""
        found = list_checkpoints(self.directory)
        return found[-1] if found else None

    def _monitored(self) -> list[tuple[Path, float]]:
        out = []
        for path in list_checkpoints(self.directory):
            try:
                monitor = json.loads(path.read_text(encoding="utf-8")).get("monitor")
                value = float(monitor["value"])
            except (OSError, ValueError, TypeError, KeyError):
                continue  # no monitor value (or unreadable): never "best"
            if math.isfinite(value):
                out.append((path, value))
        return out

    def best(self) -> Path | None:
        """The checkpoint with the best monitor value (the earliest among ties), or None."""
        best = None
        for path, value in self._monitored():
            if best is None or _better(value, best[1], self.mode):
                best = (path, value)
        return best[0] if best else None

    def prune(self) -> None:
        """Delete checkpoints that are neither among the ``keep_last`` newest nor the best,
        and the leftovers of interrupted writes (temporary files, an npz without JSON)."""
        found = list_checkpoints(self.directory)
        keep = set(found[-self.keep_last:])
        if self.keep_best:
            best = self.best()
            if best is not None:
                keep.add(best)
        for path in found:
            if path not in keep:
                path.unlink(missing_ok=True)  # the JSON first: no JSON without its npz
                path.with_suffix(".npz").unlink(missing_ok=True)
        referenced = {p.with_suffix(".npz").name for p in keep}
        for path in self.directory.iterdir():
            name = path.name
            stray_tmp = name.startswith(".ckpt-") and name.endswith(".tmp")
            orphan = name.startswith("ckpt-") and name.endswith(".npz") and \
                name not in referenced
            if stray_tmp or orphan:
                path.unlink(missing_ok=True)
