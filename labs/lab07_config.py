# %% [markdown]
# # Lab 07: experiment management: configs, seeds, run directories, sweeps
#
# A training run is more than its code: it is a config (every number that was chosen),
# the overrides typed on the command line, the seeds of every random stream, the folder its
# results went to, and, in a sweep, its place in a grid of many such runs. When any of
# these is implicit, a result cannot be trusted or repeated: which learning rate gave that
# 98%? Was it the same data order? Did the typo `optim.lrr=0.1` train an hour with the
# default rate?
#
# ```
# config.toml ── overrides ── validated config ── hash ── run folder ── seeds ── train
#                parse_override  (tinytorch)     config_hash  run_dir_name  seed_everything
#                apply_overrides                                   grid ── one run per point
#                                                               grid_points
# ```
#
# You write each piece, then use it with tinytorch's real machinery (`tinytorch/config.py`,
# `tinytorch/runs.py`, `tinytorch/sweep.py`, `docs/training.md`) on the embedded digits.
#
# **Systems questions**:
#
# 1. What does a run depend on besides its code? Which of those does a tinytorch run folder
#    record (`config.toml`, `environment.json`), and what would you still need to repeat
#    the run bit for bit a year from now?
# 2. `lr=1` is an int, `lr=1.0` a float, `name=007` the int 7 and `country=no` (in YAML
#    1.1) the boolean false: typing a value by its *spelling* guesses. tinytorch types an
#    override by the schema field it lands on instead. What does each way get wrong, and
#    when? Where does an override of a key that does not exist go, if nothing checks it?
# 3. Python's `hash("digits_mlp")` changes from one process to the next
#    (`PYTHONHASHSEED`): why can it not name a run? What must a content hash of a config
#    make canonical (key order, the text of a float), and how many hex digits does it need
#    before two of your thousand runs are likely to share one?
# 4. Why does a run folder's name start with a zero-padded timestamp? Two runs start in
#    the same second with the same config: what makes them end up in two folders (why is
#    "check whether it exists, then create it" not enough)?
# 5. A grid of 4 learning rates x 3 widths x 3 seeds: how many runs, and how long at a
#    minute each? Why validate every point's config before the first one trains?
# 6. tinytorch gives the shuffling, each augmentation and the validation split their own
#    generators, seeded from `[seed, k]`, apart from the one the weights are drawn from.
#    With one shared generator instead, what else changes when you switch augmentation on?
#
# Fill in each `TODO`, run `python lab07_config.py` for the experiments and
# `tinytorch grade 07` to check.

# %%
import copy  # noqa: F401 (for apply_overrides)
import datetime
import difflib  # noqa: F401 (for apply_overrides)
import hashlib  # noqa: F401 (for config_hash)
import itertools  # noqa: F401 (for grid_points)
import json
import math
import os
import random  # noqa: F401 (for seed_everything)
import string  # noqa: F401 (for run_dir_name)
import subprocess
import sys
import tempfile
import time

import numpy as np

import tinytorch as tt
from tinytorch import config as ttconfig
from tinytorch.data.datasets import Digits
from tinytorch.examples.mlp_digits import build_mlp
from tinytorch.nn import functional as F
from tinytorch.runs import Run
from tinytorch.sweep import format_table, run_sweep

# %% [markdown]
# ## 1. An override from the command line
#
# `tinytorch train digits_mlp optim.lr=3e-3 train.epochs=2` changes two values of the
# config without editing the file. Each override is text, `key=value`: split it at the
# **first** `=` (a value may hold another), strip the spaces around both parts, and check
# the key: dotted names (`train.epochs`), every part a Python identifier
# (`part.isidentifier()`), else `ValueError` naming the override. Text without `=` is a
# `ValueError` too, and anything that is not a `str` a `TypeError`.
#
# Here the value is typed by its *spelling* (as Hydra or a YAML file would), in this order:
#
# 1. `[a, b, ...]` is a list: split the inside at `,`, strip each item and type it by
#    these same rules; `[]` is the empty list (lists inside lists are not needed);
# 2. text in matching quotes, `"..."` or `'...'`, is the string inside them (no typing:
#    `"007"` stays the string `'007'`);
# 3. `true` / `false`, in any case, are the booleans;
# 4. text that `int()` reads is an int (`3`, `-2`), else text that `float()` reads is a
#    float (`1e-3`, `0.5`, `inf`);
# 5. anything else is the string itself (`mlp`).
#
# Mind the order of 4: `float("3")` works too, and `3.0` is not what `epochs=3` meant.


# %%
def parse_override(item: str) -> tuple:
    """``"key.sub=value"`` -> ``("key.sub", value)``, the value typed by its spelling.

    >>> parse_override("train.epochs=3"), parse_override("optim.lr = 1e-3")
    (('train.epochs', 3), ('optim.lr', 0.001))
    >>> parse_override("model.hidden=[64, 32]"), parse_override("data.augment=True")
    (('model.hidden', [64, 32]), ('data.augment', True))
    >>> parse_override('name="007"'), parse_override("note=a=b")
    (('name', '007'), ('note', 'a=b'))
    """
    # TODO: check the type; partition at the first "="; check the key; type the value
    raise NotImplementedError("TODO: implement parse_override")


# %% [markdown]
# ## 2. Overrides applied to a nested config
#
# A config here is plain nested dicts, as a TOML file reads (`tomllib`) or as
# `tinytorch.config.to_dict(cfg)` gives it: tables of tables, values at the leaves.
# `apply_overrides(config, overrides)` returns a **new** config with each override (text,
# through your `parse_override`) set, in order, so a later one wins. The input is left
# exactly as it was, and the result shares no table or list with it (`copy.deepcopy`):
# a caller that keeps the defaults must not see them change.
#
# An override may only change a key that **exists**: a typo must fail at once, not train an
# hour with the default. Walk the dotted key one part at a time; when a part is missing
# raise `ValueError` with the override's key and the full dotted path of the closest key at
# that level (`difflib.get_close_matches(part, keys, n=1)`), e.g.
# `unknown key 'optim.lrr'; did you mean 'optim.lr'?`, or, when nothing is close, every key
# of that table (`optim has: lr, momentum, name`). A path that goes *through* a value
# (`optim.lr.x`), or that would replace a whole table by a value (`optim=3`), is a
# `ValueError` too.
#
# (Whether `train.epochs=2.5` has the right *type* is for validation after the overrides:
# tinytorch's `parse_config` does it, with the schema.)


# %%
def apply_overrides(config: dict, overrides) -> dict:
    """A deep copy of ``config`` with each ``"key.sub=value"`` of ``overrides`` set.

    >>> base = {"seed": 0, "optim": {"name": "sgd", "lr": 0.1}}
    >>> apply_overrides(base, ["optim.lr=0.01", "seed=3"])
    {'seed': 3, 'optim': {'name': 'sgd', 'lr': 0.01}}
    >>> base["optim"]["lr"]
    0.1
    >>> apply_overrides(base, ["optim.lrr=0.01"])
    Traceback (most recent call last):
    ...
    ValueError: unknown key 'optim.lrr'; did you mean 'optim.lr'?
    """
    # TODO: deepcopy; for each override: parse_override, walk the parts, check, then set
    raise NotImplementedError("TODO: implement apply_overrides")


# %% [markdown]
# ## 3. A content hash of a config
#
# Two runs with the same config should be recognisable as such, across processes,
# machines and years. Python's `hash()` is salted per process, `str(config)` depends on the
# order the keys were inserted in: neither will do. Hash a **canonical** text instead: the
# JSON of the config with every table's keys sorted (at every depth) and no spaces,
#
# `json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)`
#
# then `hashlib.sha256` of its UTF-8 bytes; return the first **12** hex digits. JSON writes
# a float as the shortest text that reads back as the same float, so `0.1 + 0.2` and `0.3`
# differ, as they should: they are different numbers, and rounding them "to hide float
# noise" would also make `1e-7` and `2e-7` one learning rate. NaN and infinity are not
# JSON (and NaN is not even equal to itself): `allow_nan=False` raises `ValueError`.


# %%
def config_hash(config: dict) -> str:
    """The first 12 hex digits of the sha256 of ``config``'s canonical JSON.

    >>> a = config_hash({"seed": 0, "optim": {"lr": 0.1, "name": "sgd"}})
    >>> a == config_hash({"optim": {"name": "sgd", "lr": 0.1}, "seed": 0}), len(a)
    (True, 12)
    >>> config_hash({"lr": 0.1 + 0.2}) == config_hash({"lr": 0.3})
    False
    """
    # TODO: json.dumps(..., sort_keys=True, separators=(",", ":"), allow_nan=False),
    # encode, hashlib.sha256, hexdigest, first 12
    raise NotImplementedError("TODO: implement config_hash")


# %% [markdown]
# ## 4. The name of a run folder
#
# `run_dir_name(config, when)` names the folder of a run that starts at `when` (a
# `datetime.datetime`):
#
# `<YYYYmmdd-HHMMSS>-<name>-<first 8 hex digits of config_hash(config)>`
#
# e.g. `20250102-030405-digits_mlp-1a2b3c4d`. The **timestamp** comes first and every field
# has its fixed number of digits (`when.strftime("%Y%m%d-%H%M%S")`), so that sorting the
# names sorts the runs by start time (`ls runs/` is the history); the **name** is the
# config's `"name"` (`"run"` when it is missing or empty), made safe for a file system:
# every character that is not an ASCII letter, a digit, `-` or `_` becomes `-` (a name
# like `../../etc` must not climb out of `runs/`); the **hash** tells runs of one second
# apart and finds the reruns of one config (`ls runs/*-1a2b3c4d`).
#
# Use your `config_hash`. Two runs of one config in the same second still get one name:
# tinytorch's `Run.create` then makes the folder with one atomic `os.mkdir` and adds `-2`
# when it already exists (see the experiments).


# %%
def run_dir_name(config: dict, when) -> str:
    """``<YYYYmmdd-HHMMSS>-<safe name>-<config_hash[:8]>`` for a run starting at ``when``.

    >>> when = datetime.datetime(2025, 1, 2, 3, 4, 5)
    >>> run_dir_name({"name": "digits mlp/2"}, when)[:-8]
    '20250102-030405-digits-mlp-2-'
    >>> run_dir_name({}, when)[16:19]
    'run'
    """
    # TODO: when.strftime(...), the safe name, config_hash(config)[:8]
    raise NotImplementedError("TODO: implement run_dir_name")


# %% [markdown]
# ## 5. The points of a grid
#
# A sweep is a grid, `{"optim.lr": [1e-3, 3e-3], "model.hidden": [[64], [128]]}`: one run
# for each combination of values. `grid_points(grid)` returns them as a list of dicts
# `{key: value}`, keys in the grid's order, in a **stable order**: the last key varies
# fastest (as `itertools.product` counts, and as tinytorch's `sweep_points` and the `p00`,
# `p01`, ... folders of `tinytorch sweep` do), so point `i` is the same run every time the
# sweep is started. The empty grid has one point, `{}` (the config as it is).
#
# Check the grid first: each value must be a `list` or a `tuple` (`TypeError` naming the
# key otherwise: a string `"0.1,0.01"` would be swept one character at a time), and not
# empty (`ValueError` naming the key: a grid with an empty axis has no points at all, which
# is never what was meant).


# %%
def grid_points(grid: dict) -> list:
    """Every combination of the grid's values, the last key varying fastest.

    >>> grid_points({"lr": [0.1, 0.01], "hidden": [32, 64]})  # doctest: +NORMALIZE_WHITESPACE
    [{'lr': 0.1, 'hidden': 32}, {'lr': 0.1, 'hidden': 64},
     {'lr': 0.01, 'hidden': 32}, {'lr': 0.01, 'hidden': 64}]
    >>> grid_points({})
    [{}]
    """
    # TODO: check every value; then itertools.product over the values, in key order
    raise NotImplementedError("TODO: implement grid_points")


# %% [markdown]
# ## 6. One seed, every stream
#
# A run draws random numbers in several places: the initial weights and dropout (from
# tinytorch's global generator, `tt.manual_seed`), the order of each epoch, the
# augmentation, the validation split. Seed them all from one integer, but give each its
# **own stream**, so that switching augmentation on does not change the data order or the
# weights. numpy's `np.random.default_rng([seed, k])` makes streams that are independent
# of one another and of `default_rng(seed)`; tinytorch's `build` uses `k = 1` for the
# shuffle, `2` for random crops, `3` for flips and `4` for the validation split.
#
# `seed_everything(seed)`:
#
# - checks the seed: an `int` (not a `bool`) else `TypeError`, `>= 0` else `ValueError`,
#   each naming the value, before anything is seeded;
# - seeds tinytorch's global generator, `tt.manual_seed(seed)`, and Python's `random`
#   (`random.seed(seed)`, for any code of yours that uses it);
# - returns `{"model": <tinytorch's global generator>, "shuffle": default_rng([seed, 1]),
#   "crop": default_rng([seed, 2]), "flip": default_rng([seed, 3]),
#   "split": default_rng([seed, 4])}`, five different generators.
#
# (Seeding numpy's legacy global state, `np.random.seed`, seeds none of these.)


# %%
def seed_everything(seed: int) -> dict:
    """Seed tinytorch and Python's ``random`` with ``seed``; return the run's generators.

    >>> gens = seed_everything(0)
    >>> sorted(gens), gens["model"] is tt.random.generator()
    (['crop', 'flip', 'model', 'shuffle', 'split'], True)
    >>> gens["shuffle"].permutation(5).tolist() == \\
    ...     np.random.default_rng([0, 1]).permutation(5).tolist()
    True
    """
    # TODO: check; tt.manual_seed, random.seed; the generators
    raise NotImplementedError("TODO: implement seed_everything")


# %% [markdown]
# ## Experiments
#
# Run `python lab07_config.py`: each experiment puts your functions next to tinytorch's
# own config, run-directory and sweep code, on the embedded digits (a few seconds in all).


# %%
def _todo(name: str) -> None:
    print(f"TODO: implement {name} first")


def _missing(fn, *args):
    """The TODO that stops ``fn(*args)`` (its own, or one it calls), else None; any other
    error is fine here: the call is only a probe."""
    try:
        fn(*args)
    except NotImplementedError as err:
        return str(err).rsplit(" ", 1)[-1]
    except Exception:  # noqa: BLE001
        pass
    return None


def _base_config(*overrides) -> dict:
    """The shipped digits MLP config, small and quick, as plain nested dicts."""
    quick = ["train.epochs=3", "checkpoint.every_epochs=0", "data.test_subset=200"]
    return ttconfig.to_dict(ttconfig.load_config("digits_mlp", quick + list(overrides)))


def _shown(value) -> str:
    return f"{value!r} ({type(value).__name__})"


def experiment_overrides() -> None:
    if todo := _missing(parse_override, "a=1"):
        return _todo(todo)
    items = ["optim.lr=3e-3", "optim.lr=1", "train.epochs=3", "train.epochs=3.0",
             "data.augment=yes", "name=007", 'name="007"', "model.hidden=[64, 32]"]
    print(f"{'override':24} {'yours (by spelling)':26} tinytorch (by the schema)")
    for item in items:
        try:
            mine = _shown(parse_override(item)[1])
        except ValueError as err:
            mine = f"ValueError: {err}"
        try:
            theirs = _shown(ttconfig.parse_override(item)[1])
        except ttconfig.ConfigError as err:
            theirs = f"{type(err).__name__}: {err.problems[0]}"
        print(f"{item:24} {mine:26} {theirs}")
    if todo := _missing(apply_overrides, {"a": 0}, ["a=1"]):
        return _todo(todo)
    base = _base_config()
    print("\nyour apply_overrides on digits_mlp, then tinytorch's validation (parse_config):")
    for overrides in (["optim.lr=1", "train.epochs=2"], ["train.epochs=2.0"],
                      ["optim.lrr=3e-3"], ["optim.learning_rate=3e-3"]):
        try:
            data = apply_overrides(base, overrides)
        except ValueError as err:
            print(f"  {overrides}: your check stops it: {err}")
            continue
        try:
            cfg = ttconfig.parse_config(data)
        except ttconfig.ConfigError as err:
            print(f"  {overrides}: validation stops it: {err.problems[0]}")
            continue
        print(f"  {overrides}: optim.lr = {cfg.optim.lr!r}, train.epochs = "
              f"{cfg.train.epochs!r} (the schema turned the int 1 into a float)")
    unchanged = base == _base_config()
    print(f"the base config unchanged after all of them: {unchanged}")


def _reversed_keys(table):
    """The same config with every table's keys in the opposite order."""
    if isinstance(table, dict):
        return {k: _reversed_keys(table[k]) for k in reversed(list(table))}
    return table


def experiment_config_hash() -> None:
    if todo := _missing(config_hash, {}):
        return _todo(todo)
    base = _base_config()
    print(f"digits_mlp: {config_hash(base)}; keys in reverse order: "
          f"{config_hash(_reversed_keys(base))}")
    print(f"str(config) with the keys reversed is the same text: "
          f"{str(base) == str(_reversed_keys(base))}")
    for a, b in ((0.003, 3e-3), (0.1 + 0.2, 0.3), (1e-7, 2e-7)):
        same = config_hash({**base, "seed": a}) == config_hash({**base, "seed": b})
        print(f"  {a!r} and {b!r}: {'the same hash' if same else 'different hashes'}")
    # Python's str hash is salted with a random key in every new process.
    env = dict(os.environ, PYTHONHASHSEED="random")
    salted = [subprocess.run([sys.executable, "-c", "print(hash('digits_mlp'))"], env=env,
                             capture_output=True, text=True, timeout=60).stdout.strip()
              for _ in range(2)]
    print(f"hash('digits_mlp') in two fresh processes: {salted[0]} and {salted[1]}")
    n = 1000
    for digits in (6, 8, 12):
        bits = 4 * digits
        p = -math.expm1(-n * (n - 1) / 2 / 2.0 ** bits)  # the birthday bound
        print(f"  {digits:2d} hex digits ({bits} bits): P(two of {n} runs share a hash) = "
              f"{p:.2g}")
    repeat = 200
    start = time.perf_counter()
    for _ in range(repeat):
        config_hash(base)
    print(f"one config_hash of digits_mlp: {(time.perf_counter() - start) / repeat * 1e6:.0f}"
          " us (mean of 200): nothing next to a run")


def experiment_run_dirs() -> None:
    if todo := _missing(run_dir_name, {}, datetime.datetime(2025, 1, 1)):
        return _todo(todo)
    base = _base_config()
    starts = [datetime.datetime(2025, 1, 10, 9, 0, 0), datetime.datetime(2025, 1, 9, 23, 59),
              datetime.datetime(2025, 12, 1, 0, 0, 1), datetime.datetime(2025, 2, 1, 10, 0)]
    names = [run_dir_name(base, when) for when in starts]
    by_name = [starts[names.index(name)] for name in sorted(names)]
    print("sorted names:")
    for name in sorted(names):
        print(f"  {name}")
    print(f"sorting the names sorts the start times: {by_name == sorted(starts)}")
    print(f"a hostile name: {run_dir_name({**base, 'name': '../../etc/passwd'}, starts[0])}")
    with tempfile.TemporaryDirectory() as runs:
        now = datetime.datetime.now()
        path = os.path.join(runs, run_dir_name(base, now))
        os.mkdir(path)  # atomic: of two processes, exactly one succeeds
        try:
            os.mkdir(path)
        except FileExistsError:
            print(f"a second os.mkdir of {os.path.basename(path)}: FileExistsError, so the "
                  "second run must pick another name (tinytorch adds -2)")
        cfg = ttconfig.parse_config(base)
        made = [Run.create(cfg, runs_dir=runs) for _ in range(2)]
        print(f"tinytorch's Run.create twice at once: {[r.path.name for r in made]}")
        print(f"a run folder holds: {sorted(os.listdir(made[0].path))}")
        env = made[0].environment()
        print(f"environment.json records: {sorted(env)}")
        print(f"  versions: {env['versions']}")


def experiment_sweep() -> None:
    grid = {"optim.lr": [3e-3, 1e-2], "model.hidden": [[32], [64]]}
    if todo := _missing(grid_points, {}):
        return _todo(todo)
    points = grid_points(grid)
    theirs = ttconfig.sweep_points(ttconfig.parse_config({"sweep": grid}))
    print(f"{len(points)} points; in the order of tinytorch's sweep_points: {points == theirs}")
    base = _base_config("name=lab07")
    todo = _missing(apply_overrides, {"a": 0}, ["a=1"]) or \
        _missing(run_dir_name, {}, datetime.datetime.now())
    if not todo:
        now = datetime.datetime.now()
        for i, point in enumerate(points):
            # Through the command-line form and back: what `--grid` does with each value.
            data = apply_overrides(base, [f"{k}={json.dumps(v)}" for k, v in point.items()])
            print(f"  p{i:02d} {point}: {run_dir_name(data, now)}")
    else:
        print(f"(implement {todo} to see each point's run folder name)")
    cfg = ttconfig.parse_config(base)
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        out = run_sweep(cfg, grid, runs_dir=runs, log=lambda line: print("  " + line))
        seconds = time.perf_counter() - start
        print(format_table(out["rows"], out["keys"]))
        print(f"the sweep took {seconds:.1f} s for {len(out['rows'])} points; folder "
              f"{out['dir'].name}/ holds {sorted(os.listdir(out['dir']))}")


def _tiny_run(gens, images, labels, steps: int = 20, batch: int = 32):
    """A few SGD steps of a fresh digits MLP, drawing only from ``gens``."""
    model = build_mlp(hidden=32)  # initial weights: the global generator's next draws
    opt = tt.optim.SGD(model.parameters(), lr=0.1)
    order = gens["shuffle"].permutation(len(labels))
    for s in range(steps):
        index = order[s * batch:(s + 1) * batch]
        opt.zero_grad()
        F.cross_entropy(model(tt.tensor(images[index])), tt.tensor(labels[index])).backward()
        opt.step()
    return order[:batch], [p.numpy().copy() for p in model.parameters()]


def experiment_seeds() -> None:
    if todo := _missing(seed_everything, 0):
        return _todo(todo)
    images, labels = (t.numpy() for t in Digits("train", flatten=True).tensors())
    runs = {}
    for name, seed in (("first", 0), ("again", 0), ("other", 1)):
        runs[name] = _tiny_run(seed_everything(seed), images, labels)
    for name in ("again", "other"):
        same_batch = np.array_equal(runs["first"][0], runs[name][0])
        diff = max(float(np.abs(a - b).max())
                   for a, b in zip(runs["first"][1], runs[name][1], strict=True))
        print(f"seed 0 vs {name} run (seed {1 if name == 'other' else 0}): first batch "
              f"{'the same' if same_batch else 'different'}, largest weight difference "
              f"after 20 steps {diff:.3g}")
    # tinytorch's own build draws from the same streams: your shuffle is its loader's.
    from tinytorch.train.experiment import build_data  # noqa: PLC0415 (only here)

    cfg = ttconfig.parse_config(_base_config("seed=5", "data.augment=true"))
    data = build_data(cfg)
    gens = seed_everything(5)
    for name in ("shuffle", "crop"):
        same = gens[name].bit_generator.state == data.generators[name].bit_generator.state
        print(f"your {name!r} generator is tinytorch's for seed 5: {same}")
    # One shared stream instead: one augmentation draw shifts every later permutation.
    plain = np.random.default_rng(0).permutation(10)
    shared = np.random.default_rng(0)
    shared.integers(0, 3, size=(32, 2))  # crop offsets of a batch, once augmentation is on
    print(f"one shared generator: the epoch order {plain.tolist()} becomes "
          f"{shared.permutation(10).tolist()} once augmentation draws from it too")


# %%
if __name__ == "__main__":
    for experiment in (experiment_overrides, experiment_config_hash, experiment_run_dirs,
                       experiment_sweep, experiment_seeds):
        print(f"\n== {experiment.__name__} ==")
        experiment()
