"""Experiment configs (module 07): TOML files validated against dataclasses.

A config is one TOML file whose tables mirror the dataclasses below (``[model]``,
``[data]``, ``[optim]``, ``[scheduler]``, ``[train]``, ``[checkpoint]``, ``[sweep]``).
Loading checks everything before anything runs, and reports every problem at once, each
named by its dotted path: an unknown key gets a did-you-mean hint (difflib), a wrong type
names what was expected (``TypeError``), a bad value says what is allowed (``ValueError``).
Command-line overrides ``key.sub=value`` are typed by the dataclass field they land on, so
``train.epochs=3`` is an int and ``optim.lr=1e-3`` a float. ``docs/training.md`` has the
whole schema.

>>> cfg = load_config("digits_mlp", overrides=["train.epochs=2", "optim.lr=3e-3"])
>>> cfg.model.name, cfg.train.epochs, cfg.optim.lr
('mlp', 2, 0.003)
>>> parse_config({"trian": {"epochs": 2}})
Traceback (most recent call last):
...
tinytorch.config.ConfigError: invalid config:
  trian: unknown key; did you mean 'train'?
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomllib is the tomli package, moved into 3.11
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None  # load_config says what to install

__all__ = ["Config", "ModelConfig", "DataConfig", "OptimConfig", "SchedulerConfig",
           "TrainConfig", "CheckpointConfig", "ConfigError", "ConfigTypeError",
           "load_config", "parse_config", "apply_overrides", "parse_override", "to_dict",
           "to_toml", "shipped_configs", "config_path", "sweep_points", "parse_grid"]


class ConfigError(ValueError):
    """A config that cannot be used: every problem, one per line, each named by its dotted
    path (``train.epochs``). ``problems`` holds the lines."""

    def __init__(self, problems: list[str], source: str = ""):
        self.problems = list(problems)
        where = f" ({source})" if source else ""
        super().__init__(f"invalid config{where}:\n" + "\n".join(f"  {p}" for p in problems))


class ConfigTypeError(ConfigError, TypeError):
    """A ConfigError whose every problem is a value of the wrong type."""


# --- the schema --------------------------------------------------------------------------
# Each field's comment is the documentation docs/training.md repeats. Defaults are those
# of a small, quick run; the shipped configs in tinytorch/configs/ set what they need.

@dataclass
class ModelConfig:
    """``[model]``: which model of the zoo (``tinytorch.train.models``) and its widths.

    >>> ModelConfig(name="cnn", channels=[8, 16]).channels
    [8, 16]
    """

    name: Literal["mlp", "cnn", "lenet"] = "mlp"
    channels: list[int] = field(default_factory=list)  # conv widths: one conv-relu-pool each
    hidden: list[int] = field(default_factory=lambda: [128])  # hidden linear layer widths
    kernel_size: int = 3  # of every convolution
    dropout: float = 0.0  # before each linear layer (0: none)


@dataclass
class DataConfig:
    """``[data]``: the data set, its splits and the loader.

    >>> DataConfig().dataset, DataConfig().batch_size
    ('digits', 32)
    """

    dataset: Literal["digits", "mnist", "fashion_mnist", "cifar10"] = "digits"
    root: str = ""  # folder of downloaded data sets ("": $TINYTORCH_DATA, else the cache)
    download: bool = False  # fetch a missing data set (MNIST, CIFAR-10) from its mirrors
    batch_size: int = 32
    eval_batch_size: int = 256
    val_fraction: float = 0.1  # share of the training split held out for validation
    train_subset: int = 0  # train on the first N images of the training split (0: all)
    test_subset: int = 0  # evaluate on the first N test images (0: all)
    augment: bool = False  # random crops (and flips for CIFAR-10) while training
    drop_last: bool = False
    prefetch: int = 0  # batches prepared ahead by a background thread (0: none)


@dataclass
class OptimConfig:
    """``[optim]``: the optimiser (``tinytorch.optim``).

    >>> OptimConfig(name="sgd", lr=0.1, momentum=0.9).momentum
    0.9
    """

    name: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.0  # sgd only
    nesterov: bool = False  # sgd only
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # adam, adamw
    eps: float = 1e-8  # adam, adamw


@dataclass
class SchedulerConfig:
    """``[scheduler]``: the learning-rate schedule (``tinytorch.optim.lr_scheduler``).

    >>> SchedulerConfig().name
    'none'
    """

    name: Literal["none", "step", "cosine"] = "none"
    interval: Literal["epoch", "step"] = "epoch"  # when scheduler.step() runs
    step_size: int = 10  # step: decay every step_size intervals
    gamma: float = 0.1  # step: the decay factor
    t_max: int = 0  # cosine: intervals to anneal over (0: the whole run)
    eta_min: float = 0.0  # cosine: the final rate


@dataclass
class TrainConfig:
    """``[train]``: the loop.

    >>> TrainConfig().epochs
    10
    """

    epochs: int = 10
    clip_grad_norm: float = 0.0  # clip the gradients' total 2-norm to this (0: off)
    early_stopping_patience: int = 0  # stop after this many epochs without improvement
    min_delta: float = 0.0  # the least change of `monitor` that counts as one
    monitor: Literal["val_loss", "val_accuracy", "train_loss", "train_accuracy"] = \
        "val_accuracy"  # what early stopping and the best checkpoint watch


@dataclass
class CheckpointConfig:
    """``[checkpoint]``: how often to save, and what to keep.

    >>> CheckpointConfig().keep_last
    2
    """

    every_epochs: int = 1  # save after every N epochs (and after the last one)
    keep_last: int = 2  # keep the N newest checkpoints ...
    keep_best: bool = True  # ... and the best one by train.monitor


@dataclass
class Config:
    """A whole experiment. ``sweep`` maps dotted keys to lists of values (a grid).

    >>> cfg = Config(name="demo", seed=1)
    >>> cfg.train.epochs, cfg.checkpoint.keep_best, cfg.sweep
    (10, True, {})
    """

    name: str = "run"  # the run folder is <runs_dir>/<name>-<timestamp>
    seed: int = 0  # seeds the weights, the shuffling and the augmentation
    backend: str = "jit"  # naive | jit | numpy | any registered backend
    runs_dir: str = "runs"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    sweep: dict[str, list] = field(default_factory=dict)


# --- type checking -----------------------------------------------------------------------

_HINTS: dict[type, dict] = {}


def _hints(cls) -> dict:
    """The resolved field types of a dataclass (the annotations are strings here)."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        (inner,) = typing.get_args(tp)
        return f"a list of {_type_name(inner)}s" if inner is not typing.Any else "a list"
    if origin is dict:
        return "a table"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {bool: "a boolean (true or false)", int: "an integer", float: "a number",
            str: "a string"}.get(tp, getattr(tp, "__name__", str(tp)))


def _shown(value) -> str:
    kind = {bool: "boolean", int: "integer", float: "float", str: "string", list: "list",
            dict: "table"}.get(type(value), type(value).__name__)
    text = repr(value)
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"


class _Problems:
    """Collects problems so that a config with three typos reports three lines."""

    def __init__(self):
        self.lines: list[str] = []
        self.all_types = True

    def add(self, path: str, message: str, *, is_type: bool = False) -> None:
        self.lines.append(f"{path}: {message}")
        self.all_types = self.all_types and is_type

    def raise_if_any(self, source: str = "") -> None:
        if self.lines:
            cls = ConfigTypeError if self.all_types else ConfigError
            raise cls(self.lines, source)


# Names from other frameworks that difflib cannot match to ours by spelling.
_ALIASES = {"learning_rate": "lr", "optimizer": "optim", "lr_scheduler": "scheduler",
            "schedule": "scheduler", "bs": "batch_size", "num_epochs": "epochs",
            "max_epochs": "epochs", "patience": "early_stopping_patience", "arch": "name",
            "architecture": "name", "device": "backend", "clip": "clip_grad_norm",
            "max_grad_norm": "clip_grad_norm", "widths": "hidden", "random_seed": "seed"}


def _suggest(word: str, options) -> str | None:
    """The option ``word`` most likely meant: a known alias, else the closest spelling. For
    a dotted word, the last part is matched among the options of the same table first."""
    options = list(options)
    head, _, leaf = word.rpartition(".")
    alias = _ALIASES.get(leaf)
    if alias is not None and (f"{head}.{alias}" if head else alias) in options:
        return f"{head}.{alias}" if head else alias
    if head:
        siblings = [o.rpartition(".")[2] for o in options if o.rpartition(".")[0] == head]
        close = difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.6)
        if close:
            return f"{head}.{close[0]}"
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return close[0] if close else None


def _did_you_mean(word: str, options) -> str:
    guess = _suggest(word, options)
    return f"; did you mean {guess!r}?" if guess else \
        f"; allowed: {', '.join(sorted(options))}"


def _check_value(value, tp, path: str, problems: _Problems):
    """``value`` checked against ``tp``; returns the converted value (ints to floats for a
    float field) or None after noting a problem."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            problems.add(path, f"expected a table ([{path}]), got {_shown(value)}",
                         is_type=True)
            return None
        return _build(tp, value, path, problems)
    if origin is Literal:
        choices = typing.get_args(tp)
        if not isinstance(value, str):
            problems.add(path, f"expected {_type_name(tp)}, got {_shown(value)}", is_type=True)
            return None
        if value not in choices:
            problems.add(path, f"unknown value {value!r}" + _did_you_mean(value, choices))
            return None
        return value
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, list):
            problems.add(path, f"expected {_type_name(tp)}, got {_shown(value)}", is_type=True)
            return None
        if inner is typing.Any:
            return list(value)
        out = [_check_value(v, inner, f"{path}[{i}]", problems) for i, v in enumerate(value)]
        return out
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.add(path, f"expected a number, got {_shown(value)}", is_type=True)
            return None
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            hint = " (write it without a decimal point)" if isinstance(value, float) and \
                value.is_integer() else ""
            problems.add(path, f"expected an integer, got {_shown(value)}{hint}", is_type=True)
            return None
        return value
    if tp in (bool, str):
        if type(value) is not tp:
            problems.add(path, f"expected {_type_name(tp)}, got {_shown(value)}", is_type=True)
            return None
        return value
    raise AssertionError(f"config schema: unsupported field type {tp!r} at {path}")


def _build(cls, data: dict, prefix: str, problems: _Problems):
    """An instance of the dataclass ``cls`` from the table ``data``; unknown keys and bad
    values are noted in ``problems`` (the defaults stand in for them)."""
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if key not in hints:
            problems.add(path, "unknown key" + _did_you_mean(key, names))
            continue
        if key == "sweep" and cls is Config:
            kwargs[key] = _check_sweep(value, problems)
            continue
        checked = _check_value(value, hints[key], path, problems)
        if checked is not None:
            kwargs[key] = checked
    return cls(**kwargs)


# --- value checks (after the types are right) ----------------------------------------------

def _check_ranges(cfg: Config, problems: _Problems) -> None:
    def need(ok: bool, path: str, message: str) -> None:
        if not ok:
            problems.add(path, message)

    def positive(path: str, value) -> None:
        need(value > 0, path, f"must be > 0, got {value}")

    def non_negative(path: str, value) -> None:
        need(value >= 0 and (not isinstance(value, float) or math.isfinite(value)), path,
             f"must be a finite number >= 0, got {value}")

    need(bool(cfg.name) and "/" not in cfg.name and cfg.name not in (".", ".."), "name",
         f"must be a non-empty folder name without '/', got {cfg.name!r}")
    non_negative("seed", cfg.seed)
    _check_backend(cfg.backend, problems)
    need(bool(cfg.runs_dir), "runs_dir", "must not be empty (use '.' for this folder)")
    m = cfg.model
    for i, width in enumerate(m.channels):
        positive(f"model.channels[{i}]", width)
    for i, width in enumerate(m.hidden):
        positive(f"model.hidden[{i}]", width)
    need(m.kernel_size >= 1 and m.kernel_size % 2 == 1, "model.kernel_size",
         f"must be a positive odd integer (padding keeps the size), got {m.kernel_size}")
    need(0 <= m.dropout < 1, "model.dropout", f"must lie in [0, 1), got {m.dropout}")
    if m.name == "mlp" and m.channels:
        problems.add("model.channels", f"the mlp has no convolutions; got {m.channels}\n"
                     "  hint: set model.name = 'cnn', or channels = []")
    if m.name in ("cnn", "lenet") and not m.channels:
        problems.add("model.channels", f"a {m.name} needs at least one convolution width")
    d = cfg.data
    positive("data.batch_size", d.batch_size)
    positive("data.eval_batch_size", d.eval_batch_size)
    need(0 <= d.val_fraction < 1, "data.val_fraction",
         f"must lie in [0, 1), got {d.val_fraction}")
    non_negative("data.train_subset", d.train_subset)
    non_negative("data.test_subset", d.test_subset)
    non_negative("data.prefetch", d.prefetch)
    o = cfg.optim
    need(o.lr > 0 and math.isfinite(o.lr), "optim.lr", f"must be a finite number > 0, "
         f"got {o.lr}")
    non_negative("optim.momentum", o.momentum)
    non_negative("optim.weight_decay", o.weight_decay)
    positive("optim.eps", o.eps)
    need(len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas), "optim.betas",
         f"must be two numbers in [0, 1), got {o.betas}")
    if o.nesterov and o.name == "sgd" and o.momentum == 0:
        problems.add("optim.nesterov", "needs optim.momentum > 0")
    s = cfg.scheduler
    positive("scheduler.step_size", s.step_size)
    non_negative("scheduler.gamma", s.gamma)
    non_negative("scheduler.t_max", s.t_max)
    non_negative("scheduler.eta_min", s.eta_min)
    t = cfg.train
    positive("train.epochs", t.epochs)
    non_negative("train.clip_grad_norm", t.clip_grad_norm)
    non_negative("train.early_stopping_patience", t.early_stopping_patience)
    non_negative("train.min_delta", t.min_delta)
    if t.monitor.startswith("val_") and d.val_fraction == 0:
        problems.add("train.monitor", f"{t.monitor!r} needs a validation split, but "
                     "data.val_fraction is 0\n  hint: set data.val_fraction = 0.1, or "
                     "monitor 'train_loss'")
    c = cfg.checkpoint
    non_negative("checkpoint.every_epochs", c.every_epochs)
    positive("checkpoint.keep_last", c.keep_last)


def _check_backend(name: str, problems: _Problems) -> None:
    from tinytorch import dispatch  # noqa: PLC0415 (config.py stays importable alone)

    known = dispatch.available_backends()
    if name not in known:
        problems.add("backend", f"unknown backend {name!r}" + _did_you_mean(name, known))


# --- sweeps --------------------------------------------------------------------------------

def _flatten(table: dict, prefix: str = "") -> dict:
    """``{"optim": {"lr": [...]}}`` -> ``{"optim.lr": [...]}`` (both spellings allowed)."""
    out = {}
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            out.update(_flatten(value, path))
        else:
            out[path] = value
    return out


def _check_sweep(value, problems: _Problems) -> dict:
    if not isinstance(value, dict):
        problems.add("sweep", f"expected a table of key = [values], got {_shown(value)}",
                     is_type=True)
        return {}
    out = {}
    for path, values in _flatten(value).items():
        where = f"sweep.{path}"
        if not isinstance(values, list) or not values:
            problems.add(where, f"expected a non-empty list of values, got {_shown(values)}",
                         is_type=True)
            continue
        tp = _field_type(path, problems, where)
        if tp is None:
            continue
        if path.startswith("sweep"):
            problems.add(where, "a sweep cannot sweep itself")
            continue
        ok = [_check_value(v, tp, f"{where}[{i}]", problems) for i, v in enumerate(values)]
        if all(v is not None for v in ok):
            out[path] = ok
    return out


def _all_paths(cls=Config, prefix: str = "") -> dict:
    """Every dotted leaf path of the schema and its type."""
    out = {}
    for name, tp in _hints(cls).items():
        path = f"{prefix}.{name}" if prefix else name
        if dataclasses.is_dataclass(tp):
            out.update(_all_paths(tp, path))
        else:
            out[path] = tp
    return out


def _field_type(path: str, problems: _Problems, where: str | None = None):
    """The type of the leaf at the dotted ``path``, or None after noting a problem that
    names the closest real path."""
    paths = _all_paths()
    if path in paths and path != "sweep":
        return paths[path]
    candidates = [p for p in paths if p != "sweep"]
    problems.add(where or path, "unknown key" + _did_you_mean(path, candidates))
    return None


def sweep_points(cfg: Config) -> list[dict]:
    """The grid of ``cfg.sweep`` as a list of ``{dotted key: value}``, in the order of the
    keys (the last key varies fastest).

    >>> cfg = parse_config({"sweep": {"optim.lr": [0.1, 0.01], "train": {"epochs": [1, 2]}}})
    >>> sweep_points(cfg)  # doctest: +NORMALIZE_WHITESPACE
    [{'optim.lr': 0.1, 'train.epochs': 1}, {'optim.lr': 0.1, 'train.epochs': 2},
     {'optim.lr': 0.01, 'train.epochs': 1}, {'optim.lr': 0.01, 'train.epochs': 2}]
    """
    keys = list(cfg.sweep)
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(cfg.sweep[k] for k in keys))]


def parse_grid(items) -> dict:
    """``["optim.lr=0.1,0.01", "model.hidden=32;64,64"]`` -> a sweep table, each value
    typed by its field: scalars split on ``,``, list fields on ``;`` (and their items on
    ``,``).

    >>> parse_grid(["optim.lr=0.1,0.01", "model.hidden=32;64,64"])
    {'optim.lr': [0.1, 0.01], 'model.hidden': [[32], [64, 64]]}
    """
    problems = _Problems()
    out = {}
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            problems.add(str(item), "a grid entry is key=v1,v2,... (e.g. optim.lr=0.1,0.01)")
            continue
        path, _, text = item.partition("=")
        path = path.strip()
        tp = _field_type(path, problems, f"--grid {path}")
        if tp is None:
            continue
        sep = ";" if typing.get_origin(tp) is list else ","
        values = [_parse_text(part.strip(), tp, f"--grid {path}", problems)
                  for part in text.split(sep)]
        out[path] = values
    problems.raise_if_any("--grid")
    return out


# --- overrides -------------------------------------------------------------------------------

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _parse_text(text: str, tp, path: str, problems: _Problems):
    """A command-line string converted to the field type ``tp`` (None after a problem)."""
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
        if origin is list:
            (inner,) = typing.get_args(tp)
            body = text.strip()
            if body.startswith("[") and body.endswith("]"):
                body = body[1:-1]
            parts = [p.strip() for p in body.split(",") if p.strip()]
            return [_parse_text(p, inner, path, problems) for p in parts]
        return text  # str and Literal: the value check comes with the rest
    except ValueError:
        problems.add(path, f"expected {_type_name(tp)}, got {text!r}", is_type=True)
        return None


def parse_override(item: str) -> tuple[str, object]:
    """``"train.epochs=3"`` -> ``("train.epochs", 3)``, the value typed by the field.

    >>> parse_override("optim.lr=1e-3"), parse_override("model.hidden=64,32")
    (('optim.lr', 0.001), ('model.hidden', [64, 32]))
    >>> parse_override("optim.learning_rate=0.1")
    Traceback (most recent call last):
    ...
    tinytorch.config.ConfigError: invalid config (override 'optim.learning_rate=0.1'):
      optim.learning_rate: unknown key; did you mean 'optim.lr'?
    """
    problems = _Problems()
    if not isinstance(item, str) or "=" not in item:
        raise ConfigError([f"{item!r}: an override is key=value, e.g. train.epochs=3"])
    path, _, text = item.partition("=")
    path = path.strip()
    tp = _field_type(path, problems)
    value = None if tp is None else _parse_text(text.strip(), tp, path, problems)
    problems.raise_if_any(f"override {item!r}")
    return path, value


def _set_path(data: dict, path: str, value) -> None:
    keys = path.split(".")
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def apply_overrides(data: dict, overrides) -> dict:
    """A copy of the raw config table ``data`` with each ``key.sub=value`` (or ``(key,
    value)`` pair) set; validation comes after, with the rest.

    >>> apply_overrides({"train": {"epochs": 5}}, ["train.epochs=2", ("seed", 3)])
    {'train': {'epochs': 2}, 'seed': 3}
    """
    out = json.loads(json.dumps(data))  # a deep copy of plain TOML data
    for item in overrides:
        path, value = parse_override(item) if isinstance(item, str) else item
        _set_path(out, path, value)
    return out


# --- loading and saving -----------------------------------------------------------------------

def parse_config(data: dict, *, overrides=(), source: str = "") -> Config:
    """A validated ``Config`` from a raw table (as ``tomllib`` returns it), after the
    overrides. Every problem is reported in one ``ConfigError``.

    >>> parse_config({"train": {"epochs": "ten"}})
    Traceback (most recent call last):
    ...
    tinytorch.config.ConfigTypeError: invalid config:
      train.epochs: expected an integer, got string 'ten'
    """
    if not isinstance(data, dict):
        raise ConfigTypeError([f"expected a table, got {type(data).__name__}"], source)
    if overrides:
        data = apply_overrides(data, overrides)
    problems = _Problems()
    cfg = _build(Config, data, "", problems)
    problems.raise_if_any(source)  # ranges are checked on well-typed values only
    _check_ranges(cfg, problems)
    problems.raise_if_any(source)
    return cfg


def shipped_configs() -> list[str]:
    """The names of the configs that come with tinytorch (``tinytorch/configs/*.toml``).

    >>> "digits_cnn" in shipped_configs()
    True
    """
    folder = resources.files("tinytorch.configs")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def config_path(name_or_path) -> Path:
    """The file for a path to a TOML file, or the name of a shipped config
    (``digits_mlp`` or ``digits_mlp.toml``).

    >>> config_path("digits_cnn").name
    'digits_cnn.toml'
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    stem = path.name[:-5] if path.name.endswith(".toml") else path.name
    if path.parent == Path(".") and stem in shipped_configs():
        return Path(str(resources.files("tinytorch.configs").joinpath(f"{stem}.toml")))
    if path.is_dir() and (path / "config.toml").is_file():
        return path / "config.toml"  # a run directory: its snapshot
    hint = difflib.get_close_matches(stem, shipped_configs(), n=1)
    raise FileNotFoundError(f"no config file {str(name_or_path)!r}\nhint: give a path to a "
                            f"TOML file or one of the shipped configs: "
                            f"{', '.join(shipped_configs())}"
                            + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def load_config(name_or_path, overrides=()) -> Config:
    """Read, override and validate a config: a TOML path or a shipped config's name.

    >>> load_config("digits_cnn").model.name
    'cnn'
    """
    path = config_path(name_or_path)
    if tomllib is None:
        raise ModuleNotFoundError("reading TOML configs needs Python 3.11 or later (tomllib) "
                                  "or, on Python 3.10, the tomli package: pip install tomli")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"not valid TOML: {err}"], str(path)) from None
    return parse_config(data, overrides=overrides, source=str(path))


def to_dict(cfg: Config) -> dict:
    """The config as plain nested dicts (JSON- and TOML-ready).

    >>> to_dict(Config())["optim"]["lr"]
    0.001
    """
    return dataclasses.asdict(cfg)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest text that reads back to the same float
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: the same escapes as JSON
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"to_toml(): cannot write a {type(value).__name__}")


def to_toml(cfg: Config) -> str:
    """The config as TOML text that ``load_config`` reads back to an equal config (the
    run directory's snapshot).

    >>> cfg = Config(name="x", sweep={"optim.lr": [0.1, 0.2]})
    >>> parse_config(tomllib.loads(to_toml(cfg))) == cfg
    True
    """
    data = to_dict(cfg)
    lines = [f"{key} = {_toml_value(value)}" for key, value in data.items()
             if not isinstance(value, dict)]
    for key, value in data.items():
        if isinstance(value, dict):
            lines += ["", f"[{key}]"]
            lines += [f"{json.dumps(k) if '.' in k else k} = {_toml_value(v)}"
                      for k, v in value.items()]
    return "\n".join(lines) + "\n"

