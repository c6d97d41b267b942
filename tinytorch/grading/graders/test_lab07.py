"""Grader of lab 07 (config): command-line overrides typed by their spelling, overrides
applied to a nested config (unknown keys refused with a suggestion, the input untouched),
a content hash of a config's canonical JSON, run folder names that sort by time, the
points of a sweep grid in a stable order, and one seed for every random stream (checked
against tinytorch's own ``build_data`` and by training twice).

Each test checks one function on its own: where a function uses another of the lab
(``apply_overrides`` parses with ``parse_override``, ``run_dir_name`` hashes with
``config_hash``), the grader swaps in its own stand-in for the other, so one bug costs the
points of its own function only.
"""

import copy
import datetime
import hashlib
import itertools
import json
import math
import random

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import nn
from tinytorch.config import load_config, to_dict
from tinytorch.grading import call, expect_close, expect_equal, points
from tinytorch.nn import functional as F


def _require(condition, message: str) -> None:
    """Fail with ``message`` alone (a bare assert would add pytest's internals)."""
    if not condition:
        raise AssertionError(message)


def _expect_raises(student, name: str, args: tuple, error: type, what: str, hint: str,
                   mentions=()) -> str:
    """Call ``name(*args)``, which must raise ``error`` whose message holds every string of
    ``mentions``; returns the message."""
    try:
        got = call(student, name, *args)
    except error as err:
        message = str(err)
        for text in mentions:
            _require(text in message, f"{what}: the {error.__name__} should name {text!r}; "
                     f"its message is {message!r}\nhint: {hint}")
        return message
    except Exception as err:  # noqa: BLE001 (the wrong error is the finding)
        pytest.fail(f"{what}: expected {error.__name__}, got {type(err).__name__}: {err}\n"
                    f"hint: {hint}", pytrace=False)
    pytest.fail(f"{what}: expected {error.__name__}, but it returned {got!r}\nhint: {hint}",
                pytrace=False)


def _same_typed(got, expected) -> bool:
    """Equal, and of the same types all the way down (``3.0 == 3`` is not enough here)."""
    if type(got) is not type(expected):
        return False
    if isinstance(expected, list):
        return len(got) == len(expected) and all(
            _same_typed(g, e) for g, e in zip(got, expected, strict=False))
    if isinstance(expected, float) and math.isnan(expected):
        return math.isnan(got)
    return got == expected


def _first_difference(got, expected, path: str = "") -> str | None:
    """Where two nested configs first differ, as ``"optim.lr: expected 0.1, got 0.5"``."""
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in list(expected) + [k for k in got if k not in expected]:
            where = f"{path}.{key}" if path else str(key)
            if key not in got:
                return f"{where}: missing"
            if key not in expected:
                return f"{where}: not expected, got {got[key]!r}"
            found = _first_difference(got[key], expected[key], where)
            if found:
                return found
        return None
    if got != expected or type(got) is not type(expected):
        return f"{path or 'the config'}: expected {expected!r}, got {got!r}"
    return None


def _expect_config(got, expected, what: str, hint: str) -> None:
    found = _first_difference(got, expected)
    if found:
        raise AssertionError(f"{what}: {found}\nhint: {hint}")


def _shown(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return f"{value!r} ({type(value).__name__})"


# --- parse_override ----------------------------------------------------------------------

TYPING = ("the value's spelling decides, in this order: [a, b] a list (each item typed the "
          "same way), quoted text a str, true/false (any case) a bool, int() an int, "
          "float() a float, anything else the str itself")


def _check_overrides(student, cases: dict, hint: str) -> None:
    for item, (key, value) in cases.items():
        got = call(student, "parse_override", item)
        _require(isinstance(got, tuple) and len(got) == 2, f"parse_override({item!r}) "
                 f"should return a (key, value) tuple, got {got!r}")
        expect_equal(got[0], key, what=f"the key of parse_override({item!r})",
                     hint="split at the first '=' and strip the spaces around the key")
        _require(_same_typed(got[1], value), f"parse_override({item!r}): expected the value "
                 f"{_shown(value)}, got {_shown(got[1])}\nhint: {hint}")


@points(2)
def test_parse_override_types_numbers_and_booleans(student):
    """Ints, floats and booleans, each of its own type (``3`` is an int, ``3.0`` a float)."""
    _check_overrides(student, {
        "train.epochs=3": ("train.epochs", 3),
        "seed=-2": ("seed", -2),
        "optim.lr=1e-3": ("optim.lr", 0.001),
        "optim.lr=0.5": ("optim.lr", 0.5),
        "train.epochs=3.0": ("train.epochs", 3.0),
        "optim.weight_decay=inf": ("optim.weight_decay", math.inf),
        "data.augment=true": ("data.augment", True),
        "data.augment=False": ("data.augment", False),
        "data.drop_last=TRUE": ("data.drop_last", True),
    }, TYPING + "; try int() before float(): float('3') reads too")


@points(2)
def test_parse_override_strings_lists_and_spaces(student):
    """Strings (bare or quoted), lists typed item by item, spaces stripped, the value cut
    at the first ``=`` only."""
    _check_overrides(student, {
        "model.name=cnn": ("model.name", "cnn"),
        'name="007"': ("name", "007"),
        "name='true'": ("name", "true"),
        "  optim.lr =  0.25 ": ("optim.lr", 0.25),
        "model.hidden=[64, 32]": ("model.hidden", [64, 32]),
        "optim.betas=[0.9,0.99]": ("optim.betas", [0.9, 0.99]),
        "tags=[a, true, 1, 2.5]": ("tags", ["a", True, 1, 2.5]),
        "model.channels=[]": ("model.channels", []),
        "note=a=b": ("note", "a=b"),
        "data.root=": ("data.root", ""),
    }, TYPING + "; partition at the first '=' and strip both parts")


@points(1)
def test_parse_override_rejects_malformed_overrides(student):
    """No ``=``, an empty or broken dotted key: ``ValueError`` naming the override; not a
    str: ``TypeError``."""
    hint = "item.partition('='); every part of the key split at '.' must be .isidentifier()"
    for item in ("train.epochs", "=3", "train..epochs=3", ".lr=1", "train epochs=3"):
        _expect_raises(student, "parse_override", (item,), ValueError,
                       f"parse_override({item!r})", hint, mentions=(item,))
    _expect_raises(student, "parse_override", (("seed", 3),), TypeError,
                   "parse_override(('seed', 3))", "check isinstance(item, str) first")


# --- apply_overrides -----------------------------------------------------------------------

def _base() -> dict:
    """A config as TOML reads it: tables of tables, in no particular key order."""
    return {"name": "digits", "seed": 0,
            "model": {"name": "mlp", "hidden": [128], "dropout": 0.0},
            "optim": {"name": "adam", "lr": 0.001, "momentum": 0.0, "betas": [0.9, 0.999]},
            "train": {"epochs": 10, "early": {"patience": 0, "min_delta": 0.0}}}


# The grader's stand-in for the student's parse_override while apply_overrides is graded
# (so a bug there costs parse_override's points only): the answers for exactly the
# overrides these tests use.
_PARSED = {"train.epochs=3": ("train.epochs", 3), "optim.lr=0.01": ("optim.lr", 0.01),
           "model.hidden=[64, 64]": ("model.hidden", [64, 64]), "name=big": ("name", "big"),
           "train.early.patience=5": ("train.early.patience", 5), "seed=1": ("seed", 1),
           "seed=2": ("seed", 2), "optim.lrr=0.1": ("optim.lrr", 0.1),
           "tarin.epochs=3": ("tarin.epochs", 3), "optim.zzz=1": ("optim.zzz", 1),
           "train.early.patiense=2": ("train.early.patiense", 2),
           "optim.lr.x=1": ("optim.lr.x", 1), "optim=3": ("optim", 3),
           "model.dropout=0.5": ("model.dropout", 0.5)}


def _stand_in_parse(item):
    if item not in _PARSED:
        raise AssertionError(f"apply_overrides passed {item!r} to parse_override; expected "
                             "each override text exactly as given")
    key, value = _PARSED[item]
    return key, copy.deepcopy(value)


@pytest.fixture
def parsed(student, monkeypatch):
    monkeypatch.setattr(student, "parse_override", _stand_in_parse, raising=False)


@points(2)
def test_apply_overrides_sets_nested_keys_in_order(student, parsed):
    """Each override lands at its dotted path, at any depth; a later one wins; the rest
    of the config stays as it was."""
    overrides = ["train.epochs=3", "optim.lr=0.01", "model.hidden=[64, 64]", "name=big",
                 "train.early.patience=5", "seed=1", "seed=2"]
    got = call(student, "apply_overrides", _base(), overrides)
    expected = _base()
    expected.update(name="big", seed=2)
    expected["train"]["epochs"] = 3
    expected["optim"]["lr"] = 0.01
    expected["model"]["hidden"] = [64, 64]
    expected["train"]["early"]["patience"] = 5
    _expect_config(got, expected, what=f"apply_overrides(config, {overrides})",
                   hint="walk the parts of the dotted key down the tables, set the last one; "
                        "apply the overrides in order (seed=1 then seed=2 leaves 2)")
    _expect_config(call(student, "apply_overrides", _base(), []), _base(),
                   what="apply_overrides(config, []) (no overrides: an equal copy)",
                   hint="return the copy as it is")


@points(2)
def test_apply_overrides_leaves_the_input_alone(student, parsed):
    """The input config does not change, and the result shares no table or list with it."""
    base = _base()
    pristine = copy.deepcopy(base)
    got = call(student, "apply_overrides", base, ["optim.lr=0.01", "model.dropout=0.5"])
    _expect_config(base, pristine, what="the config passed to apply_overrides, after the "
                   "call", hint="work on copy.deepcopy(config): a dict(config) copy still "
                   "shares every inner table with the caller")
    _require(isinstance(got, dict), f"apply_overrides should return a dict, got {got!r}")
    got["train"]["early"]["patience"] = 99
    got["model"]["hidden"].append(99)
    got["optim"]["betas"][0] = 0.0
    _expect_config(base, pristine, what="the input config after changing the tables and "
                   "lists of the returned one", hint="the result must share nothing with the "
                   "input: copy.deepcopy(config)")


@points(2)
def test_apply_overrides_rejects_unknown_keys_with_a_suggestion(student, parsed):
    """A key that is not in the config is a ValueError naming it and the closest real key
    (its whole dotted path), or every key of its table when none is close."""
    hint = ("check each part of the key exists before going down; difflib.get_close_"
            "matches(part, keys_at_that_level, n=1) gives the suggestion")
    for item, key, guess in (("optim.lrr=0.1", "optim.lrr", "optim.lr"),
                             ("tarin.epochs=3", "tarin.epochs", "train"),
                             ("train.early.patiense=2", "train.early.patiense",
                              "train.early.patience")):
        base = _base()
        message = _expect_raises(student, "apply_overrides", (base, [item]), ValueError,
                                 f"apply_overrides(config, [{item!r}])", hint,
                                 mentions=(key,))
        _require(f"'{guess}'" in message or f'"{guess}"' in message,
                 f"apply_overrides(config, [{item!r}]): the error should suggest the closest "
                 f"key by its full dotted path, {guess!r}; the message is {message!r}\n"
                 f"hint: {hint}")
        _expect_config(base, _base(), what=f"the config after the refused {item!r}",
                       hint="change nothing in the caller's config")
    message = _expect_raises(student, "apply_overrides", (_base(), ["optim.zzz=1"]),
                             ValueError, "apply_overrides(config, ['optim.zzz=1'])", hint,
                             mentions=("optim.zzz",))
    missing = [k for k in _base()["optim"] if k not in message]
    _require(not missing, f"apply_overrides(config, ['optim.zzz=1']): nothing is close to "
             f"'zzz', so the error should list the keys of optim; {missing} are not in "
             f"{message!r}\nhint: e.g. \"optim has: betas, lr, momentum, name\"")


@points(1)
def test_apply_overrides_rejects_paths_through_values_and_tables(student, parsed):
    """``optim.lr.x`` goes through a value, ``optim=3`` would replace a table: ValueError."""
    hint = ("only a table can hold a key, and only a value can be replaced: check "
            "isinstance(node, dict) on the way down and at the leaf")
    _expect_raises(student, "apply_overrides", (_base(), ["optim.lr.x=1"]), ValueError,
                   "apply_overrides(config, ['optim.lr.x=1'])", hint, mentions=("optim.lr",))
    _expect_raises(student, "apply_overrides", (_base(), ["optim=3"]), ValueError,
                   "apply_overrides(config, ['optim=3'])", hint, mentions=("optim",))


# --- config_hash ---------------------------------------------------------------------------

def _canonical_hash(config) -> str:
    """The recipe the lab states, spelled out: the oracle of these tests."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


HASH_HINT = ('hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":"), '
             'allow_nan=False).encode("utf-8")).hexdigest()[:12]')


def _as_plain(name: str) -> dict:
    """A shipped config as plain nested dicts."""
    return to_dict(load_config(name))


def _reordered(table):
    """The same config with every table's keys in the opposite order."""
    if isinstance(table, dict):
        return {k: _reordered(table[k]) for k in reversed(list(table))}
    if isinstance(table, list):
        return [_reordered(v) for v in table]
    return table


@points(2)
def test_config_hash_is_the_sha256_of_canonical_json(student):
    """12 lowercase hex digits: the sha256 of the sorted, space-free JSON."""
    configs = [{}, {"seed": 0}, _base(),
               _as_plain("digits_mlp"),
               {"name": "café", "sweep": {"optim.lr": [0.001, 0.003]}, "lr": 1 / 3}]
    for config in configs:
        got = call(student, "config_hash", copy.deepcopy(config))
        shown = json.dumps(config)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        _require(isinstance(got, str), f"config_hash({shown}) should return a str of 12 hex "
                 f"digits, got {type(got).__name__} {got!r}\nhint: {HASH_HINT}")
        expect_equal(got, _canonical_hash(config), what=f"config_hash({shown})",
                     hint=HASH_HINT)


@points(2)
def test_config_hash_ignores_key_order_at_every_depth(student):
    """The same config with its keys in another order, at the top and inside tables,
    has the same hash."""
    for config in (_base(), _as_plain("digits_cnn")):
        a = call(student, "config_hash", config)
        b = call(student, "config_hash", _reordered(config))
        _require(a == b, f"config_hash gives {a!r} for a config and {b!r} for the same config "
                 "with the keys of every table in reverse order\nhint: json.dumps(..., "
                 "sort_keys=True) sorts the keys of the inner tables too; sorting only the "
                 "top level is not enough")


@points(1)
def test_config_hash_tells_every_float_apart(student):
    """Different floats give different hashes (``0.1 + 0.2`` is not ``0.3``, ``1e-7`` is not
    ``2e-7``); the same float spelled two ways gives one."""
    pairs = ((0.1 + 0.2, 0.3), (1e-7, 2e-7), (1.0000001, 1.0000002), (1 / 3, 0.333333))
    for a, b in pairs:
        ha = call(student, "config_hash", {"optim": {"lr": a}})
        hb = call(student, "config_hash", {"optim": {"lr": b}})
        _require(ha != hb, f"config_hash gives one hash, {ha!r}, for lr={a!r} and lr={b!r}: "
                 "two different learning rates would look like one run\nhint: let "
                 "json.dumps write each float (the shortest text that reads back exactly); "
                 "never round them")
    same = [call(student, "config_hash", {"lr": v}) for v in (0.003, 3e-3, 3 / 1000)]
    _require(len(set(same)) == 1, f"config_hash gives {same} for lr=0.003, 3e-3 and 3 / 1000, "
             "the same float\nhint: hash the JSON of the value, not the text it was typed as")


@points(1)
def test_config_hash_rejects_nan_and_infinity(student):
    """NaN and infinity are not JSON: ValueError."""
    for value in (math.nan, math.inf):
        _expect_raises(student, "config_hash", ({"optim": {"lr": value}},), ValueError,
                       f"config_hash({{'optim': {{'lr': {value}}}}})",
                       "json.dumps(..., allow_nan=False) raises ValueError for them")


# --- run_dir_name --------------------------------------------------------------------------

@pytest.fixture
def hashed(student, monkeypatch):
    """run_dir_name is graded with the lab's config_hash recipe standing in for the
    student's (a bug there costs config_hash's points only)."""
    monkeypatch.setattr(student, "config_hash", _canonical_hash, raising=False)


NAME_HINT = ('f"{when.strftime(\'%Y%m%d-%H%M%S\')}-{safe_name}-{config_hash(config)[:8]}"')


@points(2)
def test_run_dir_name_format(student, hashed):
    """``<YYYYmmdd-HHMMSS>-<name>-<hash8>``; two configs at the same second differ."""
    when = datetime.datetime(2025, 1, 2, 3, 4, 5)
    for config in ({"name": "digits_mlp", "seed": 0}, {"name": "digits_mlp", "seed": 1},
                   {"name": "Run-7", "optim": {"lr": 0.1}}):
        expected = f"20250102-030405-{config['name']}-{_canonical_hash(config)[:8]}"
        expect_equal(call(student, "run_dir_name", config, when), expected,
                     what=f"run_dir_name({config}, {when!r})", hint=NAME_HINT)
    late = datetime.datetime(2031, 12, 30, 23, 59, 58)
    config = {"name": "x"}
    expect_equal(call(student, "run_dir_name", config, late),
                 f"20311230-235958-x-{_canonical_hash(config)[:8]}",
                 what=f"run_dir_name({config}, {late!r})", hint=NAME_HINT)


@points(2)
def test_run_dir_names_sort_by_start_time(student, hashed):
    """Sorting the names of runs sorts them by start time (across days, months, hours)."""
    starts = [datetime.datetime(2025, 1, 9, 23, 59, 59), datetime.datetime(2025, 1, 10, 0, 0),
              datetime.datetime(2025, 2, 1, 9, 5, 7), datetime.datetime(2025, 10, 1, 10, 0),
              datetime.datetime(2025, 10, 1, 10, 0, 9), datetime.datetime(2025, 10, 1, 10, 1),
              datetime.datetime(2026, 1, 1, 0, 0)]
    config = {"name": "digits"}
    names = [call(student, "run_dir_name", config, when) for when in starts]
    ordered = [starts[names.index(n)] for n in sorted(names)]
    if ordered != sorted(starts):
        wrong = next(i for i, (a, b) in enumerate(zip(ordered, sorted(starts), strict=True))
                     if a != b)
        pytest.fail(f"sorted(names) puts the run started at {ordered[wrong]} before the one "
                    f"started at {sorted(starts)[wrong]}; the names: {sorted(names)}\nhint: "
                    "every field of the timestamp needs its fixed width (month 01, hour 09): "
                    "when.strftime('%Y%m%d-%H%M%S')", pytrace=False)


@points(1)
def test_run_dir_name_is_a_safe_folder_name(student, hashed):
    """Characters other than ASCII letters, digits, ``-`` and ``_`` become ``-``; no name
    is ``run``."""
    when = datetime.datetime(2025, 6, 7, 8, 9, 10)
    for name, safe in (("../../etc/passwd", "------etc-passwd"), ("my run #1", "my-run--1"),
                       ("a.b", "a-b"), ("ok_Name-2", "ok_Name-2"), ("", "run"),
                       (None, "run")):
        config = {"name": name} if name is not None else {"seed": 0}
        ending = f"-{safe}-{_canonical_hash(config)[:8]}"  # the timestamp has its own test
        got = call(student, "run_dir_name", config, when)
        _require(isinstance(got, str) and got.endswith(ending) and "/" not in got,
                 f"run_dir_name({config}, ...) should end with {ending!r}, got {got!r}\n"
                 "hint: replace each character that is not an ASCII letter, digit, '-' or "
                 "'_' by '-' (so no '/' and no '..'); the name is 'run' when the config has "
                 "none or an empty one")


# --- grid_points ---------------------------------------------------------------------------

def _product(grid: dict) -> list:
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(grid[k] for k in keys))]


@points(3)
def test_grid_points_is_the_product_last_key_fastest(student):
    """Every combination once, as dicts with the grid's keys in order, the last key
    varying fastest (the order of tinytorch's sweep_points and its p00, p01 ... folders)."""
    grids = [{"optim.lr": [0.1, 0.01], "model.hidden": [[32], [64, 64], [128]]},
             {"seed": [0, 1, 2], "optim.name": ["sgd"], "train.epochs": [1, 2],
              "data.augment": [False, True]},
             {"b": [1, 2, 3], "a": [10, 20]}]
    for grid in grids:
        got = call(student, "grid_points", copy.deepcopy(grid))
        expected = _product(grid)
        _require(isinstance(got, list), f"grid_points should return a list of dicts, got "
                 f"{type(got).__name__}")
        expect_equal(len(got), len(expected), what=f"the number of points of {grid}",
                     hint="one point per combination: the product of the axes' lengths")
        for i, (point, want) in enumerate(zip(got, expected, strict=True)):
            _require(point == want and list(point) == list(want),
                     f"grid_points({grid}): point {i} should be {want}, got {point}\nhint: "
                     "the last key varies fastest, as itertools.product(*values) counts; "
                     "keep the keys in the grid's order")


@points(1)
def test_grid_points_edge_cases(student):
    """The empty grid has one point, ``{}``; one axis gives one point per value; tuples
    work as lists."""
    expect_equal(call(student, "grid_points", {}), [{}], what="grid_points({})",
                 hint="the product of no axes has one element, the empty combination: the "
                      "config as it is")
    expect_equal(call(student, "grid_points", {"seed": (3, 1, 2)}),
                 [{"seed": 3}, {"seed": 1}, {"seed": 2}], what="grid_points({'seed': (3, 1, "
                 "2)})", hint="the values in their given order")


@points(1)
def test_grid_points_rejects_bad_axes(student):
    """An axis that is not a list or tuple: TypeError; an empty one: ValueError; both
    naming the key."""
    hint = "check every axis before building anything"
    for grid in ({"optim.lr": "0.1,0.01"}, {"seed": 3}, {"seed": [0], "optim.lr": 0.1}):
        key = [k for k, v in grid.items() if not isinstance(v, list)][0]
        _expect_raises(student, "grid_points", (grid,), TypeError, f"grid_points({grid})",
                       hint + " (a str is iterable: it would sweep one character at a time)",
                       mentions=(key,))
    _expect_raises(student, "grid_points", ({"seed": [0, 1], "optim.lr": []},), ValueError,
                   "grid_points({'seed': [0, 1], 'optim.lr': []})", hint, mentions=("optim.lr",))


# --- seed_everything -----------------------------------------------------------------------

STREAMS = {"shuffle": 1, "crop": 2, "flip": 3, "split": 4}


def _generators(student, seed: int) -> dict:
    """``seed_everything(seed)``, checked to be a dict holding the five generators."""
    gens = call(student, "seed_everything", seed)
    names = ["model", *STREAMS]
    _require(isinstance(gens, dict) and set(names) <= set(gens),
             f"seed_everything({seed}) should return a dict with the generators {names}, got "
             f"{sorted(gens) if isinstance(gens, dict) else type(gens).__name__}")
    return gens


@points(2)
def test_seed_everything_seeds_tinytorch_and_random(student):
    """After ``seed_everything(s)`` tinytorch draws what it draws after ``tt.manual_seed(s)``,
    ``"model"`` is its global generator, and Python's ``random`` is seeded with ``s``."""
    for seed in (0, 7):
        tt.manual_seed(seed)
        expected = tt.randn(6).numpy().copy()
        tt.manual_seed(seed + 100)
        random.seed(seed + 100)
        gens = _generators(student, seed)
        _require(gens.get("model") is tt.random.generator(),
                 f"seed_everything({seed})['model'] should be tinytorch's global generator "
                 "(tt.random.generator()) after seeding\nhint: tt.manual_seed(seed) returns "
                 "it")
        expect_close(tt.randn(6), expected, rtol=0.0, atol=0.0,
                     what=f"tt.randn(6) after seed_everything({seed})",
                     hint="tt.manual_seed(seed): np.random.seed seeds numpy's legacy global "
                          "state, which tinytorch never draws from")
        expect_equal(random.random(), random.Random(seed).random(),
                     what=f"random.random() after seed_everything({seed})",
                     hint="random.seed(seed)")


def _state(gen) -> dict:
    return gen.bit_generator.state


@points(2)
def test_seed_everything_returns_the_streams_of_tinytorch_build(student):
    """``shuffle``, ``crop``, ``flip`` and ``split`` are ``default_rng([seed, k])``, five
    separate generators, and the first two are the ones tinytorch's build_data makes."""
    from tinytorch.train.experiment import build_data  # noqa: PLC0415

    seed = 5
    gens = _generators(student, seed)
    for name, k in STREAMS.items():
        _require(isinstance(gens[name], np.random.Generator), f"seed_everything({seed})"
                 f"[{name!r}] should be a numpy Generator, got {type(gens[name]).__name__}")
        _require(_state(gens[name]) == _state(np.random.default_rng([seed, k])),
                 f"seed_everything({seed})[{name!r}] is not in the state of "
                 f"np.random.default_rng([{seed}, {k}])\nhint: one fresh "
                 "np.random.default_rng([seed, k]) per stream: shuffle 1, crop 2, flip 3, "
                 "split 4")
    objects = [gens[name] for name in ("model", *STREAMS)]
    _require(len({id(g) for g in objects}) == len(objects), "seed_everything returns one "
             "generator object under several names: a draw from one stream moves the "
             "others\nhint: a new default_rng([seed, k]) for each")
    data = build_data(load_config("digits_mlp", [f"seed={seed}", "data.augment=true"]))
    gens = _generators(student, seed)
    for name in ("shuffle", "crop"):
        _require(_state(gens[name]) == _state(data.generators[name]),
                 f"seed_everything({seed})[{name!r}] differs from the {name!r} generator of "
                 f"tinytorch's build_data for seed {seed}\nhint: default_rng([seed, "
                 f"{STREAMS[name]}])")


def _grader_run(gens, seed_data: int = 0, steps: int = 3):
    """A small model trained on the student's streams: returns its first batch and its
    weights."""
    rng = np.random.default_rng(seed_data)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    y = rng.integers(0, 4, 40)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    opt = tt.optim.SGD(model.parameters(), lr=0.1)
    order = gens["shuffle"].permutation(40)
    for s in range(steps):
        index = order[s * 8:(s + 1) * 8]
        opt.zero_grad()
        F.cross_entropy(model(tt.tensor(x[index])), tt.tensor(y[index])).backward()
        opt.step()
    return order[:8].tolist(), [p.numpy().copy() for p in model.parameters()]


@points(2)
def test_same_seed_gives_the_same_run(student):
    """Two runs after ``seed_everything(3)`` see the same batches and end with the same
    weights, bit for bit; a run after ``seed_everything(4)`` does not."""
    runs = []
    for seed in (3, 3, 4):
        tt.manual_seed(1000 + len(runs))  # whatever came before must not matter
        gens = _generators(student, seed)
        _require(isinstance(gens["shuffle"], np.random.Generator), "seed_everything(3)"
                 f"['shuffle'] should be a numpy Generator, got {type(gens['shuffle'])}")
        runs.append(_grader_run(gens))
    (batch_a, weights_a), (batch_b, weights_b), (batch_c, weights_c) = runs
    expect_equal(batch_b, batch_a, what="the first batch of two runs with seed 3",
                 hint="the shuffle stream must start fresh from the seed each time")
    for i, (a, b) in enumerate(zip(weights_a, weights_b, strict=True)):
        expect_close(b, a, rtol=0.0, atol=0.0, what=f"parameter {i} {a.shape} after two "
                     "runs with seed 3", hint="the initial weights come from tinytorch's "
                     "global generator: seed it with tt.manual_seed(seed)")
    _require(batch_c != batch_a or any(not np.array_equal(a, c) for a, c in
                                       zip(weights_a, weights_c, strict=True)),
             "runs with seed 3 and seed 4 are identical: the seed is not used")


@points(1)
def test_seed_everything_rejects_bad_seeds(student):
    """A seed that is not an int (a float, a bool, a str): TypeError; a negative one:
    ValueError; each naming the value, before anything is seeded."""
    for bad, error in ((1.5, TypeError), (True, TypeError), ("3", TypeError),
                       (-1, ValueError)):
        tt.manual_seed(11)
        before = tt.random.generator()
        random.seed(11)
        state = random.getstate()
        _expect_raises(student, "seed_everything", (bad,), error,
                       f"seed_everything({bad!r})", "check isinstance(seed, bool) or not "
                       "isinstance(seed, int), then seed < 0, before seeding anything",
                       mentions=(str(bad),))
        _require(tt.random.generator() is before and random.getstate() == state,
                 f"seed_everything({bad!r}) raised, but only after reseeding a generator\n"
                 "hint: check the seed first, then seed")
