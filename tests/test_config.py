"""Experiment configs (module 07): TOML validated against dataclasses, overrides, grids,
run directories."""

import json
import math

import pytest

from tinytorch import config as C
from tinytorch.config import (
    Config,
    ConfigError,
    ConfigTypeError,
    load_config,
    parse_config,
    parse_grid,
    parse_override,
    sweep_points,
    to_toml,
    tomllib,  # the stdlib's, or tomli on Python 3.10
)
from tinytorch.runs import Run, RunDirError, environment

# --- the shipped configs -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn", "mnist_lenet", "cifar10_lenet"])
def test_every_shipped_config_loads_and_survives_a_toml_round_trip(name):
    cfg = load_config(name)
    assert cfg.name == name
    again = parse_config(tomllib.loads(to_toml(cfg)))
    assert again == cfg


def test_shipped_configs_are_listed_and_found_by_name_with_or_without_suffix():
    assert C.shipped_configs() == ["cifar10_lenet", "digits_cnn", "digits_mlp", "mnist_lenet"]
    assert load_config("digits_cnn.toml") == load_config("digits_cnn")
    assert load_config("digits_cnn").model.name == "cnn"
    assert load_config("digits_mlp").model.channels == []


def test_an_unknown_config_name_lists_the_shipped_ones_with_a_guess():
    with pytest.raises(FileNotFoundError) as err:
        load_config("digits_cn")
    text = str(err.value)
    assert "no config file 'digits_cn'" in text and "digits_mlp" in text
    assert "did you mean 'digits_cnn'?" in text


def test_a_config_file_on_disk_is_read_and_a_toml_syntax_error_names_the_file(tmp_path):
    good = tmp_path / "mine.toml"
    good.write_text('name = "mine"\nseed = 3\n[train]\nepochs = 2\n')
    cfg = load_config(good)
    assert (cfg.name, cfg.seed, cfg.train.epochs) == ("mine", 3, 2)
    bad = tmp_path / "broken.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match="broken.toml") as err:
        load_config(bad)
    assert "not valid TOML" in str(err.value)


# --- unknown keys, wrong types, bad values -------------------------------------------------


def test_an_unknown_key_names_its_dotted_path_and_the_nearest_real_key():
    with pytest.raises(ConfigError) as err:
        parse_config({"optim": {"lrr": 0.1}})
    assert err.value.problems == ["optim.lrr: unknown key; did you mean 'lr'?"]
    with pytest.raises(ConfigError, match=r"trian: unknown key; did you mean 'train'\?"):
        parse_config({"trian": {"epochs": 2}})
    with pytest.raises(ConfigError, match=r"data.batchsize: unknown key; did you mean "
                                          r"'batch_size'\?"):
        parse_config({"data": {"batchsize": 2}})


def test_names_from_other_frameworks_get_their_tinytorch_spelling():
    with pytest.raises(ConfigError, match=r"optim.learning_rate: unknown key; did you mean "
                                          r"'lr'\?"):
        parse_config({"optim": {"learning_rate": 0.1}})


def test_a_key_with_no_near_match_lists_what_is_allowed():
    with pytest.raises(ConfigError) as err:
        parse_config({"checkpoint": {"zzz": 1}})
    assert "allowed: every_epochs, keep_best, keep_last" in str(err.value)


def test_wrong_types_are_type_errors_that_name_the_path_and_the_expected_type():
    with pytest.raises(ConfigTypeError) as err:
        parse_config({"train": {"epochs": "ten"}, "optim": {"lr": True},
                      "model": {"channels": [8, "16"]}, "data": "digits"})
    assert isinstance(err.value, TypeError) and isinstance(err.value, ValueError)
    problems = err.value.problems
    assert "train.epochs: expected an integer, got string 'ten'" in problems
    assert "optim.lr: expected a number, got boolean True" in problems
    assert "model.channels[1]: expected an integer, got string '16'" in problems
    assert "data: expected a table ([data]), got string 'digits'" in problems


def test_a_float_for_an_integer_is_refused_with_a_hint_and_an_int_for_a_float_is_fine():
    with pytest.raises(ConfigTypeError, match=r"train.epochs: expected an integer, got float "
                                              r"2.0 \(write it without a decimal point\)"):
        parse_config({"train": {"epochs": 2.0}})
    cfg = parse_config({"optim": {"lr": 1}})
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)


def test_a_choice_outside_its_set_gets_a_did_you_mean():
    with pytest.raises(ConfigError) as err:
        parse_config({"optim": {"name": "adm"}, "model": {"name": "lenet5"}})
    assert "optim.name: unknown value 'adm'; did you mean 'adam'?" in err.value.problems
    assert "model.name: unknown value 'lenet5'; did you mean 'lenet'?" in err.value.problems
    assert not isinstance(err.value, TypeError)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        parse_config({"optim": {"name": "adm", "lrr": 1}, "train": {"epochs": 2.5},
                      "seeed": 1})
    assert len(err.value.problems) == 4
    text = str(err.value)
    assert text.startswith("invalid config:\n")
    for path in ("optim.name", "optim.lrr", "train.epochs", "seeed"):
        assert f"  {path}:" in text


@pytest.mark.parametrize("data, message", [
    ({"optim": {"lr": -0.1}}, "optim.lr: must be a finite number > 0, got -0.1"),
    ({"optim": {"lr": math.inf}}, "optim.lr: must be a finite number > 0, got inf"),
    ({"train": {"epochs": 0}}, "train.epochs: must be > 0, got 0"),
    ({"data": {"batch_size": 0}}, "data.batch_size: must be > 0, got 0"),
    ({"data": {"val_fraction": 1.0}}, "data.val_fraction: must lie in [0, 1), got 1.0"),
    ({"model": {"dropout": 1.0}}, "model.dropout: must lie in [0, 1), got 1.0"),
    ({"model": {"kernel_size": 4}}, "model.kernel_size: must be a positive odd integer"),
    ({"optim": {"betas": [0.9]}}, "optim.betas: must be two numbers in [0, 1)"),
    ({"seed": -1}, "seed: must be a finite number >= 0, got -1"),
    ({"name": "a/b"}, "name: must be a non-empty folder name without '/'"),
    ({"checkpoint": {"keep_last": 0}}, "checkpoint.keep_last: must be > 0, got 0"),
    ({"model": {"name": "mlp", "channels": [8]}}, "model.channels: the mlp has no "
                                                  "convolutions"),
    ({"model": {"name": "cnn", "channels": []}}, "model.channels: a cnn needs at least one"),
    ({"optim": {"name": "sgd", "nesterov": True}}, "optim.nesterov: needs optim.momentum > 0"),
])
def test_values_out_of_range_are_value_errors_naming_the_path(data, message):
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert not isinstance(err.value, TypeError)
    assert message in str(err.value)


def test_monitoring_a_validation_metric_needs_a_validation_split():
    with pytest.raises(ConfigError, match="'val_accuracy' needs a validation split") as err:
        parse_config({"data": {"val_fraction": 0.0}})
    assert "monitor 'train_loss'" in str(err.value)
    cfg = parse_config({"data": {"val_fraction": 0.0}, "train": {"monitor": "train_loss"}})
    assert cfg.train.monitor == "train_loss"


def test_an_unknown_backend_gets_a_did_you_mean():
    with pytest.raises(ConfigError, match=r"backend: unknown backend 'jti'; did you mean "
                                          r"'jit'\?"):
        parse_config({"backend": "jti"})


def test_a_non_table_is_refused():
    with pytest.raises(ConfigTypeError, match="expected a table, got list"):
        parse_config([1, 2])


# --- overrides -----------------------------------------------------------------------------


@pytest.mark.parametrize("item, expected", [
    ("train.epochs=3", ("train.epochs", 3)),
    ("optim.lr=1e-3", ("optim.lr", 0.001)),
    ("data.augment=true", ("data.augment", True)),
    ("data.augment=0", ("data.augment", False)),
    ("model.hidden=64,32", ("model.hidden", [64, 32])),
    ("model.hidden=[64, 32]", ("model.hidden", [64, 32])),
    ("model.hidden=", ("model.hidden", [])),
    ("optim.betas=0.8,0.99", ("optim.betas", [0.8, 0.99])),
    ("name=my run", ("name", "my run")),
    ("optim.name=sgd", ("optim.name", "sgd")),
    (" seed = 7", ("seed", 7)),
])
def test_overrides_are_typed_by_the_field_they_set(item, expected):
    assert parse_override(item) == expected


def test_overrides_apply_on_top_of_the_file_and_are_validated_with_it():
    cfg = load_config("digits_mlp", ["train.epochs=2", "optim.name=sgd", "optim.momentum=0.9"])
    assert (cfg.train.epochs, cfg.optim.name, cfg.optim.momentum) == (2, "sgd", 0.9)
    assert load_config("digits_mlp").train.epochs == 30  # the file is not changed
    with pytest.raises(ConfigError, match="optim.lr: must be a finite number > 0"):
        load_config("digits_mlp", ["optim.lr=-1"])


def test_a_bad_override_names_the_key_and_what_was_expected():
    with pytest.raises(ConfigTypeError, match="train.epochs: expected an integer, got 'abc'"):
        parse_override("train.epochs=abc")
    with pytest.raises(ConfigTypeError, match="data.augment: expected a boolean"):
        parse_override("data.augment=maybe")
    with pytest.raises(ConfigError, match=r"train.epoch: unknown key; did you mean "
                                          r"'train.epochs'\?"):
        parse_override("train.epoch=3")
    with pytest.raises(ConfigError, match="an override is key=value"):
        parse_override("train.epochs")
    with pytest.raises(ConfigError, match="unknown key"):
        parse_override("train=3")  # a table, not a value


def test_apply_overrides_copies_and_accepts_pairs():
    raw = {"train": {"epochs": 5}}
    out = C.apply_overrides(raw, ["train.epochs=2", ("optim.lr", 0.5)])
    assert out == {"train": {"epochs": 2}, "optim": {"lr": 0.5}}
    assert raw == {"train": {"epochs": 5}}


# --- sweeps --------------------------------------------------------------------------------


def test_a_sweep_table_in_either_spelling_becomes_a_grid_of_points():
    text = ('[sweep]\n"optim.lr" = [0.1, 0.01]\n[sweep.model]\nhidden = [[32], [64, 64]]\n')
    cfg = parse_config(tomllib.loads(text))
    assert cfg.sweep == {"optim.lr": [0.1, 0.01], "model.hidden": [[32], [64, 64]]}
    assert sweep_points(cfg) == [
        {"optim.lr": 0.1, "model.hidden": [32]}, {"optim.lr": 0.1, "model.hidden": [64, 64]},
        {"optim.lr": 0.01, "model.hidden": [32]}, {"optim.lr": 0.01, "model.hidden": [64, 64]}]


def test_sweep_keys_and_values_are_checked_like_the_rest():
    with pytest.raises(ConfigError) as err:
        parse_config({"sweep": {"optim.lrr": [1], "train.epochs": [1, "2"],
                                "seed": 3, "data.augment": []}})
    problems = err.value.problems
    assert "sweep.optim.lrr: unknown key; did you mean 'optim.lr'?" in problems
    assert "sweep.train.epochs[1]: expected an integer, got string '2'" in problems
    assert "sweep.seed: expected a non-empty list of values, got integer 3" in problems
    assert "sweep.data.augment: expected a non-empty list of values, got list []" in problems


def test_grid_arguments_are_typed_and_list_fields_split_points_on_semicolons():
    assert parse_grid(["optim.lr=0.1,0.01", "model.channels=8,16;16,32", "seed=0,1"]) == {
        "optim.lr": [0.1, 0.01], "model.channels": [[8, 16], [16, 32]], "seed": [0, 1]}
    with pytest.raises(ConfigError, match=r"--grid optim.lrr: unknown key; did you mean "
                                          r"'optim.lr'\?"):
        parse_grid(["optim.lrr=1,2"])
    with pytest.raises(ConfigTypeError, match="--grid train.epochs: expected an integer, got "
                                              "'x'"):
        parse_grid(["train.epochs=1,x"])
    with pytest.raises(ConfigError, match="a grid entry is key=v1,v2"):
        parse_grid(["optim.lr"])


# --- TOML snapshot --------------------------------------------------------------------------


def test_the_toml_snapshot_reads_back_every_float_exactly():
    cfg = Config(name="snap", seed=12)
    cfg.optim.lr = 0.1 + 0.2  # 0.30000000000000004: repr keeps every bit
    cfg.optim.eps = 1e-300
    cfg.scheduler.eta_min = 5e-324
    cfg.model.hidden = []
    cfg.data.root = 'C:\\data "quoted"'
    cfg.sweep = {"optim.lr": [1e-3, 3e-3], "model.hidden": [[1, 2]]}
    again = parse_config(tomllib.loads(to_toml(cfg)))
    assert again == cfg
    assert again.optim.lr == 0.1 + 0.2


def test_to_dict_is_json_ready():
    assert json.loads(json.dumps(C.to_dict(load_config("digits_cnn"))))["model"]["channels"] \
        == load_config("digits_cnn").model.channels


# --- run directories ------------------------------------------------------------------------


def test_a_run_directory_holds_the_snapshot_the_environment_and_empty_metrics(tmp_path):
    cfg = load_config("digits_mlp", ["train.epochs=2", "backend=numpy"])
    run = Run.create(cfg, runs_dir=tmp_path)
    assert run.path.parent == tmp_path and run.path.name.startswith("digits_mlp-")
    assert sorted(p.name for p in run.path.iterdir()) == [
        "checkpoints", "config.toml", "environment.json", "metrics.jsonl"]
    assert run.config() == cfg
    env = json.loads(run.environment_path.read_text())
    assert env["backend"] == "numpy"
    assert {"python", "numpy", "numba", "tinytorch"} <= set(env["versions"])
    assert "git" in env  # a commit (this checkout) or None outside git
    if env["git"] is not None:
        assert len(env["git"]["commit"]) == 40 and isinstance(env["git"]["dirty"], bool)
    assert run.metrics() == []


def test_two_runs_started_in_the_same_second_get_two_folders(tmp_path):
    cfg = Config(name="same")
    paths = {Run.create(cfg, runs_dir=tmp_path).path for _ in range(3)}
    assert len(paths) == 3


def test_metrics_lines_are_json_even_for_nan_and_a_torn_last_line_is_skipped(tmp_path):
    run = Run.create(Config(name="m"), runs_dir=tmp_path)
    run.log({"event": "epoch", "step": 5, "train_loss": 0.5})
    run.log({"event": "diverged", "step": 6, "value": float("nan")})
    with open(run.metrics_path, "a") as f:
        f.write('{"event": "epo')  # a crash in the middle of a write
    lines = run.metrics_path.read_text().splitlines()
    assert json.loads(lines[1])["value"] == "nan"
    assert [r["event"] for r in run.metrics()] == ["epoch", "diverged"]
    run.truncate_metrics(5)
    assert [r["step"] for r in run.metrics()] == [5]


def test_opening_a_folder_that_is_not_a_run_says_what_is_missing(tmp_path):
    with pytest.raises(RunDirError, match="no run directory at"):
        Run.open(tmp_path / "nope")
    with pytest.raises(RunDirError, match="has no config.toml"):
        Run.open(tmp_path)


def test_environment_records_the_backend_and_thread_settings():
    env = environment("jit")
    assert env["backend"] == "jit" and env["cpu_count"] >= 1
    assert isinstance(env["numba_threads"], int)
