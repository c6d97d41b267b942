"""`tinytorch train`, `tinytorch train --resume`, `tinytorch eval` (modules 06 and 07)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinytorch import cli
from tinytorch.train import load_checkpoint

# A quick run of the digits MLP: a few seconds with cached kernels.
QUICK = ["digits_mlp", "train.epochs=2", "data.train_subset=300", "data.test_subset=100",
         "model.hidden=32"]


def _run_dir(out: str) -> Path:
    line = next(line for line in out.splitlines() if line.startswith("run directory: "))
    return Path(line.split(": ", 1)[1])


def _accuracy(out: str) -> float:
    line = next(line for line in out.splitlines() if line.startswith("test accuracy: "))
    return float(line.split(": ")[1])


@pytest.mark.slow
def test_the_default_command_trains_the_digits_cnn_to_98_percent(tmp_path):
    """The README's main-job command, as a user runs it: no arguments, in a fresh folder.
    (Its wall time is reported in the run's output and measured in the notes, not asserted:
    a timed assertion fails on a busy machine for no fault of the code.)"""
    env = dict(os.environ)
    env.pop("TINYTORCH_BACKEND", None)
    out = subprocess.run([sys.executable, "-m", "tinytorch.cli", "train"], cwd=tmp_path,
                         capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-2].startswith("test accuracy: 0.9")
    assert _accuracy(out.stdout) >= 0.98
    assert lines[-1].startswith("time per step (batch 32, cnn): naive ")
    assert " jit " in lines[-1] and lines[-1].endswith("x faster")
    run = tmp_path / _run_dir(out.stdout)
    assert run.parent == tmp_path / "runs" and run.name.startswith("digits_cnn-")
    assert (run / "config.toml").is_file() and (run / "environment.json").is_file()
    assert json.loads((run / "environment.json").read_text())["backend"] == "jit"
    events = [json.loads(line)["event"] for line in (run / "metrics.jsonl").open()]
    assert events == ["epoch"] * 20 + ["test"]
    assert "epoch  20/20" in out.stdout
    assert "it/s" not in out.stderr and "batch/s" not in out.stderr  # not a terminal


def test_train_with_a_config_overrides_and_a_backend(tmp_path, capsys):
    assert cli.main(["train", *QUICK, "--backend", "numpy", "--runs-dir", str(tmp_path),
                     "--naive-steps", "1"]) == 0
    out = capsys.readouterr().out
    run = _run_dir(out)
    assert run.parent == tmp_path and run.name.startswith("digits_mlp-")
    assert "epoch   2/2" in out and 0.0 <= _accuracy(out) <= 1.0
    assert "time per step (batch 32, mlp): naive " in out and "numpy " in out
    text = (run / "config.toml").read_text()
    assert 'backend = "numpy"' in text and "epochs = 2" in text and "hidden = [32]" in text
    test = [json.loads(line) for line in (run / "metrics.jsonl").open()][-1]
    assert test["event"] == "test" and test["test_accuracy"] == _accuracy(out)
    assert [p.name for p in sorted((run / "checkpoints").glob("*.json"))][-1] == \
        "ckpt-e0002-s00000018.json"


def test_quiet_prints_only_the_results(tmp_path, capsys):
    assert cli.main(["train", *QUICK, "--runs-dir", str(tmp_path), "--quiet",
                     "--no-compare"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["run directory", "test accuracy"]
    assert captured.err == ""


def test_resume_continues_a_run_and_eval_reports_its_checkpoints(tmp_path, capsys):
    assert cli.main(["train", *QUICK, "--runs-dir", str(tmp_path), "--quiet",
                     "--no-compare"]) == 0
    run = _run_dir(capsys.readouterr().out)
    assert cli.main(["train", "--resume", str(run), "train.epochs=3", "--no-compare"]) == 0
    out = capsys.readouterr().out
    assert f"resumed {run} from ckpt-e0002-s00000018.json (epoch 2, step 18)" in out
    assert "epoch   3/3" in out and "epoch   2/3" not in out
    final = _accuracy(out)
    assert load_checkpoint(run).epoch == 3

    assert cli.main(["eval", str(run), "--checkpoint", "latest"]) == 0
    out = capsys.readouterr().out
    assert "ckpt-e0003-s00000027.json (epoch 3, step 27)" in out
    assert _accuracy(out) == final
    assert cli.main(["eval", str(run), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("val accuracy: ")


def test_a_config_typo_names_the_key_and_makes_no_run_folder(tmp_path, capsys):
    assert cli.main(["train", "digits_mlp", "optim.lrr=0.1", "--runs-dir",
                     str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "optim.lrr: unknown key; did you mean 'optim.lr'?" in err
    assert cli.main(["train", "digits_mlp", "train.epochs=two"]) == 2
    assert "train.epochs: expected an integer, got 'two'" in capsys.readouterr().err
    assert cli.main(["train", "digits_mlp", "--backend", "jti"]) == 2
    assert "did you mean 'jit'?" in capsys.readouterr().err
    assert cli.main(["train", "digits_mpl"]) == 2
    assert "did you mean 'digits_mlp'?" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_bad_command_lines_are_explained(tmp_path, capsys):
    assert cli.main(["train", "digits_mlp", "digits_cnn"]) == 2
    assert "got two configs" in capsys.readouterr().err
    assert cli.main(["train", "digits_mlp", "--resume", str(tmp_path)]) == 2
    assert "give a CONFIG or --resume RUN_DIR, not both" in capsys.readouterr().err
    assert cli.main(["train", "--resume", str(tmp_path)]) == 2
    assert "is not a run directory: it has no config.toml" in capsys.readouterr().err
    assert cli.main(["eval", str(tmp_path / "missing")]) == 2
    assert "no run directory at" in capsys.readouterr().err


def test_a_missing_data_set_says_how_to_get_it(tmp_path, capsys):
    assert cli.main(["train", "mnist_lenet", f"data.root={tmp_path / 'data'}", "--runs-dir",
                     str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "mnist: the data set is not on this machine" in err
    assert "train-images-idx3-ubyte.gz" in err and "sha256" in err
    assert "data.download=true" in err
    assert not (tmp_path / "runs").exists()


def _fake_mnist(root: Path, n_train: int = 120, n_test: int = 40) -> None:
    """Decompressed MNIST-shaped files (what tinytorch.data.vision keeps after the first
    download), random pixels: enough to run the LeNet config without a network."""
    rng = np.random.default_rng(0)
    folder = root / "mnist"
    folder.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        np.save(folder / f"{prefix}-images-idx3-ubyte.npy",
                rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8))
        np.save(folder / f"{prefix}-labels-idx1-ubyte.npy",
                rng.integers(0, 10, n, dtype=np.uint8))


def test_the_lenet_config_trains_on_mnist_files_in_the_data_folder(tmp_path, capsys):
    _fake_mnist(tmp_path / "data")
    assert cli.main(["train", "mnist_lenet", f"data.root={tmp_path / 'data'}",
                     "train.epochs=1", "data.augment=true", "--runs-dir",
                     str(tmp_path / "runs"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "time per step" not in out  # the naive comparison is for the digits only
    assert 0.0 <= _accuracy(out) <= 1.0
    ckpt = load_checkpoint(_run_dir(out))
    assert ckpt.meta["model"]["keys"][0] == "0.weight"
    assert ckpt.arrays["model.0.weight"].shape == (6, 1, 5, 5)
    assert {"shuffle", "crop", "tinytorch"} <= set(ckpt.meta["rng"])


def test_a_diverging_run_exits_1_with_the_reason(tmp_path, capsys):
    assert cli.main(["train", *QUICK, "optim.name=sgd", "optim.lr=1e12", "--runs-dir",
                     str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "error: training stopped: the loss became" in err
    assert "hint: lower the learning rate (now 1e+12)" in err
