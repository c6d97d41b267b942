"""`tinytorch compress RUN_DIR`: the variants it builds, the files it writes next to the run,
the table it prints, and the clear errors for bad options (before anything is loaded)."""

import json
from pathlib import Path

import numpy as np
import pytest

from tinytorch import cli, compress, pruning, quantization
from tinytorch.config import load_config
from tinytorch.train.experiment import train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small digits CNN, trained briefly: enough for accuracy to mean something."""
    cfg = load_config("digits_cnn", ["train.epochs=3", "model.channels=8,16"])
    return train(cfg, runs_dir=tmp_path_factory.mktemp("runs"), log=None,
                 progress=False)["run_dir"]


def test_compress_command_builds_every_variant_and_prints_one_table(run_dir, capsys, tmp_path):
    out_json = tmp_path / "rows.json"
    code = cli.main(["compress", str(run_dir), "--quantize", "int8", "--prune", "0.5",
                     "--structured", "--finetune", "1", "--rounds", "3", "--json",
                     str(out_json)])
    assert code == 0
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if line.startswith("variant"))
    for column in ("parameters", "bytes on disk", "test accuracy", "latency/batch (jit)",
                   "speed-up"):
        assert column in header
    rows = {r["variant"]: r for r in json.loads(out_json.read_text())}
    assert list(rows) == ["float32", "pruned50s", "int8", "pruned50s+int8"]
    base = rows["float32"]
    assert base["speedup"] == 1.0
    # structured pruning halves every conv's channels: a smaller dense model
    assert rows["pruned50s"]["parameters"] < base["parameters"] / 2
    # int8 weights: about a quarter of the float32 bytes (scales and JSON on top)
    assert rows["int8"]["bytes"] * 3 < base["bytes"]
    assert rows["pruned50s+int8"]["bytes"] < rows["int8"]["bytes"]
    for r in rows.values():
        assert 0.0 <= r["accuracy"] <= 1.0 and r["latency_s"] > 0 and r["speedup"] > 0
        assert Path(r["path"]).is_file() and Path(r["path"]).with_suffix(".npz").is_file()
        assert Path(r["path"]).parent == Path(run_dir) / compress.COMPRESSED_DIR
    # int8 post-training quantisation keeps the float model's accuracy within a point
    assert rows["int8"]["accuracy"] >= base["accuracy"] - 0.02


def test_the_written_models_load_back_and_predict_as_measured(run_dir):
    rows = compress.compress_run(run_dir, quantize="int8", prune=0.5, structured=True,
                                 rounds=2, log=None)
    by_name = {r["variant"]: r for r in rows}
    pruned = pruning.load_pruned(by_name["pruned50s"]["path"])
    float_model = pruning.load_pruned(by_name["float32"]["path"])
    qmodel = quantization.load_quantized(by_name["int8"]["path"], float_model)
    from tinytorch.runs import Run
    from tinytorch.train.experiment import build

    exp = build(Run.open(run_dir).config(), None, progress=False, log=None)
    assert pruning.accuracy(pruned, exp.data.test) == pytest.approx(
        by_name["pruned50s"]["accuracy"])
    assert pruning.accuracy(qmodel, exp.data.test) == pytest.approx(
        by_name["int8"]["accuracy"])


def test_unstructured_pruning_writes_a_smaller_file_of_the_same_shapes(run_dir, tmp_path):
    rows = compress.compress_run(run_dir, prune=0.8, rounds=2, log=None)
    base, pruned = rows
    assert pruned["variant"] == "pruned80"
    assert 0 < pruned["parameters"] <= 0.25 * base["parameters"]  # zeros do not count
    assert pruned["bytes"] < 0.6 * base["bytes"]  # the zeros compress on disk
    record = json.loads(Path(pruned["path"]).read_text())
    assert record["sparsity"] >= 0.79 and "weight_mask" not in " ".join(record["keys"])
    # An MLP pruned by 90% has every Linear on CSR (SparseLinear, whose arrays are buffers):
    # its count must still be the non-zeros, not parameters() minus all zeros (negative).
    cfg = load_config("digits_mlp", ["train.epochs=1"])
    mlp_dir = train(cfg, runs_dir=tmp_path, log=None, progress=False)["run_dir"]
    base, pruned = compress.compress_run(mlp_dir, prune=0.9, rounds=2, log=None)
    record = json.loads(Path(pruned["path"]).read_text())
    assert "SparseLinear" in [e["type"] for e in record["architecture"]]
    assert record["parameters"] == base["parameters"]  # the same weights, zeros included
    assert 0 < pruned["parameters"] <= 0.25 * base["parameters"]
    assert pruned["parameters"] == record["parameters"] - record["zeros"]


@pytest.mark.parametrize("argv, message", [
    (["--prune", "1.0"], "amount must be in [0, 1)"),
    (["--prune", "-0.1"], "amount must be in [0, 1)"),
    ([], "nothing to do"),
    (["--structured", "--quantize", "int8"], "--structured needs --prune"),
    (["--finetune", "2", "--quantize", "int8"], "--finetune EPOCHS recovers accuracy after "
                                                "pruning"),
    (["--prune", "0.5", "--finetune", "-1"], "finetune must be an int >= 0"),
    (["--quantize", "int8", "--rounds", "0"], "rounds must be an int >= 1"),
    (["--quantize", "int8", "--calibration-batches", "0"], "calibration_batches must be an int"),
])
def test_bad_options_are_refused_before_anything_runs(run_dir, capsys, argv, message):
    before = sorted((Path(run_dir)).rglob("*"))
    assert cli.main(["compress", str(run_dir), *argv]) == 2
    assert message in capsys.readouterr().err
    assert sorted((Path(run_dir)).rglob("*")) == before  # nothing written


def test_a_missing_run_directory_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["compress", str(tmp_path / "nope"), "--quantize", "int8"]) == 2
    assert "no run directory" in capsys.readouterr().err


def test_latency_is_measured_for_every_model_in_interleaved_rounds():
    from tinytorch import nn

    models = {"a": nn.Sequential(nn.Linear(8, 4)), "b": nn.Sequential(nn.Linear(8, 2))}
    times = compress.measure_latency(models, np.zeros((4, 8), np.float32), rounds=3)
    assert set(times) == {"a", "b"} and all(t > 0 for t in times.values())
