"""Grid sweeps (module 07): every point is checked first, runs in its own folder, and lands
in summary.csv and the printed table."""

import csv

import pytest

from tinytorch import cli
from tinytorch.config import ConfigError, load_config, parse_grid
from tinytorch.sweep import COLUMNS, format_table, point_configs, run_sweep

QUICK = ["train.epochs=1", "data.train_subset=120", "data.test_subset=40", "model.hidden=16",
         "checkpoint.every_epochs=0"]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_grid_runs_every_point_and_writes_the_summary_csv(tmp_path):
    cfg = load_config("digits_mlp", QUICK)
    out = run_sweep(cfg, parse_grid(["optim.lr=0.01,0.001", "model.hidden=8;16,16"]),
                    runs_dir=tmp_path, log=None)
    assert out["dir"].parent == tmp_path and out["dir"].name.startswith("digits_mlp-sweep-")
    rows = _rows(out["csv"])
    assert list(rows[0]) == ["point", "optim.lr", "model.hidden", *COLUMNS]
    assert [(r["point"], r["optim.lr"], r["model.hidden"]) for r in rows] == [
        ("0", "0.01", "8"), ("1", "0.01", "16,16"), ("2", "0.001", "8"),
        ("3", "0.001", "16,16")]
    assert all(r["status"] == "completed" and r["epochs"] == "1" for r in rows)
    assert all(0.0 <= float(r["test_accuracy"]) <= 1.0 for r in rows)
    for i, row in enumerate(out["rows"]):
        point_dir = out["dir"] / f"p{i:02d}"
        assert row["run_dir"] == str(point_dir)
        snapshot = load_config(point_dir / "config.toml")
        assert snapshot.optim.lr == row["optim.lr"] and snapshot.model.hidden == \
            row["model.hidden"]
        assert snapshot.sweep == {}  # a point is a plain run


def test_the_sweep_table_of_a_config_file_is_used_and_grid_arguments_replace_its_keys(
        tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('name = "mine"\n[model]\nhidden = [16]\n[train]\nepochs = 1\n'
                    '[data]\ntrain_subset = 100\ntest_subset = 30\n[checkpoint]\n'
                    'every_epochs = 0\n[sweep]\n"optim.lr" = [0.1, 0.01]\n'
                    '[sweep.seed]\n')
    with pytest.raises(ConfigError, match="sweep.seed: expected a non-empty list of values, "
                                          "got table {}"):
        load_config(path)
    path.write_text(path.read_text().replace("[sweep.seed]\n", "[sweep.optim]\n"
                                             "name = ['sgd', 'adam']\n"))
    cfg = load_config(path)
    keys, configs = point_configs(cfg)
    assert keys == ["optim.lr", "optim.name"] and len(configs) == 4
    keys, configs = point_configs(cfg, {"optim.lr": [0.5]})
    assert [(c.optim.lr, c.optim.name) for c in configs] == [(0.5, "sgd"), (0.5, "adam")]


def test_every_point_is_validated_before_the_first_one_runs(tmp_path):
    cfg = load_config("digits_mlp", QUICK)
    with pytest.raises(ConfigError) as err:
        run_sweep(cfg, {"data.val_fraction": [0.1, 0.0]}, runs_dir=tmp_path, log=None)
    assert "point 1 (data.val_fraction=0.0): train.monitor: 'val_accuracy' needs a " \
        "validation split" in str(err.value)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="nothing to sweep"):
        run_sweep(cfg, {}, runs_dir=tmp_path, log=None)
    with pytest.raises(ConfigError, match="sweep.optim.lrr: unknown key"):
        point_configs(cfg, {"optim.lrr": [1.0]})


def test_a_diverging_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    cfg = load_config("digits_mlp", QUICK + ["optim.name=sgd"])
    lines = []
    out = run_sweep(cfg, {"optim.lr": [1e12, 0.01]}, runs_dir=tmp_path, log=lines.append)
    assert [r["status"] for r in out["rows"]] == ["diverged", "completed"]
    assert lines[0].startswith("point 1/2 (optim.lr=1e+12): diverged in ")
    assert lines[1].startswith("point 2/2 (optim.lr=0.01): completed, test accuracy ")
    rows = _rows(out["csv"])
    assert rows[0]["status"] == "diverged" and rows[0]["test_accuracy"] == ""


def test_the_printed_table_aligns_its_columns():
    rows = [{"point": 0, "optim.lr": 0.01, "status": "completed", "test_accuracy": 0.9611},
            {"point": 1, "optim.lr": 0.001, "status": "diverged", "test_accuracy": None}]
    assert format_table(rows, ["optim.lr"]).splitlines() == [
        "point  optim.lr  status     test_accuracy",
        "0      0.01      completed  0.9611",
        "1      0.001     diverged"]


def test_the_sweep_command_prints_the_table_and_the_csv_path(tmp_path, capsys):
    assert cli.main(["sweep", "digits_mlp", *QUICK, "--grid", "optim.lr=0.01,0.003",
                     "--runs-dir", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["point", "optim.lr", "status"]
    assert out[1].split()[:3] == ["0", "0.01", "completed"]
    assert out[-1].startswith("wrote ") and out[-1].endswith("summary.csv")
    assert len(_rows(out[-1][len("wrote "):])) == 2


def test_the_sweep_command_explains_bad_input(tmp_path, capsys):
    assert cli.main(["sweep", "--grid", "optim.lr=1,2"]) == 2
    assert "give a CONFIG" in capsys.readouterr().err
    assert cli.main(["sweep", "digits_mlp", "--grid", "optim.lrr=1,2"]) == 2
    assert "did you mean 'optim.lr'?" in capsys.readouterr().err
    assert cli.main(["sweep", "digits_mlp", "--runs-dir", str(tmp_path)]) == 2
    assert "nothing to sweep" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
