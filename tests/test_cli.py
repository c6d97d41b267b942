"""The `tinytorch` command: doctor (module 00), bench, modules."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import bench, cli, doctor
from tinytorch.manifest import MODULES, module


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tinytorch.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_doctor_reports_every_section_and_times_each_backend():
    out = run_cli("doctor")
    assert out.returncode == 0, out.stdout + out.stderr
    for section in ("python", "versions", "numpy", "numba", "llvmlite", "cpu", "blas",
                    "numba threads", "threading layer", "jit cache", "cuda", "backend"):
        assert section in out.stdout, f"doctor output lacks {section!r}:\n{out.stdout}"
    kernel_lines = [line.split() for line in out.stdout.splitlines()
                    if line.split()[-1:] in (["ok"], ["WRONG"])]
    assert [line[0] for line in kernel_lines][:3] == ["naive", "jit", "numpy"]
    assert all(line[-1] == "ok" for line in kernel_lines)
    jit = kernel_lines[1]
    assert jit[2] != "-", "jit must report its compile time apart"
    assert "all checks passed" in out.stdout


def test_doctor_exits_nonzero_with_a_hint_when_a_kernel_is_wrong(monkeypatch, capsys):
    def broken(out, a, b):
        out[...] = 0

    monkeypatch.setitem(tt.dispatch._TABLE["add_forward"], "numpy", broken)
    assert doctor.main() == 1
    text = capsys.readouterr().out
    assert "the numpy kernel failed its check" in text and "problems:" in text


def test_doctor_flags_a_bad_backend_variable():
    env = dict(os.environ, TINYTORCH_BACKEND="turbo")
    out = run_cli("doctor", "--no-kernels", env=env)
    assert out.returncode == 1
    assert "TINYTORCH_BACKEND='turbo' is not a backend" in out.stdout


def test_bench_matmul_table_has_the_promised_columns():
    out = run_cli("bench", "matmul", "--sizes", "8", "24", "--rounds", "2", "--quiet")
    assert out.returncode == 0, out.stderr
    header = out.stdout.splitlines()[0].split()
    assert header == ["size", "backend", "median", "IQR", "GFLOP/s", "GB/s", "vs", "naive",
                      "vs", "numpy", "first", "call"]
    rows = [line.split() for line in out.stdout.splitlines()[2:] if line.strip()[:1].isdigit()]
    assert {(r[0], r[1]) for r in rows} >= {("8", "naive"), ("8", "jit"), ("8", "numpy"),
                                            ("24", "naive"), ("24", "jit"), ("24", "numpy")}


def test_bench_json_rows_carry_ratios_and_compile_time(tmp_path):
    path = tmp_path / "rows.json"
    out = run_cli("bench", "add", "--sizes", "1000", "--backends", "naive", "jit", "numpy",
                  "--rounds", "2", "--json", str(path))
    assert out.returncode == 0, out.stderr
    rows = json.loads(path.read_text())
    by_backend = {r["backend"]: r for r in rows}
    assert by_backend["naive"]["speedup_vs_naive"] == pytest.approx(1.0)
    assert by_backend["numpy"]["ratio_to_numpy"] == pytest.approx(1.0)
    assert by_backend["jit"]["first_call_s"] >= by_backend["jit"]["median_s"]
    assert by_backend["jit"]["compile_s"] >= 0


def test_bench_refuses_to_time_a_wrong_kernel():
    def wrong(out, a, b):
        np.matmul(a, b, out=out)
        out += 1

    tt.register_kernel("matmul_forward", "wrong", wrong)
    with pytest.raises(AssertionError, match="disagrees with the numpy oracle"):
        bench.run_bench("matmul", backends=["wrong"], sizes=[8], rounds=1, min_time=0)


def test_bench_rejects_unknown_ops_and_backends():
    out = run_cli("bench", "conv9d")
    assert out.returncode == 2 and "no benchmark for conv9d" in out.stderr
    out = run_cli("bench", "add", "--backends", "warp")
    assert out.returncode == 2 and "unknown backend 'warp'" in out.stderr


def test_modules_follow_the_manifest(capsys):
    assert cli.main(["modules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [m.number for m in MODULES]
    assert [m.number for m in MODULES] == [f"{i:02d}" for i in range(13)]
    assert module("1").name == "tensor" and module("autograd").number == "04"
    with pytest.raises(ValueError, match="no module '99'"):
        module("99")


def test_readme_quick_start_commands_exist():
    """The README's two commands name things that exist here."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    text = open(os.path.join(root, "README.md")).read()
    assert "pip install -e . && tinytorch train" in text
    assert 'pip install -e ".[dev]" && python -m pytest' in text


def test_every_package_folder_is_listed_for_the_wheel():
    """pyproject lists packages by hand (kernels/ and labs/ are mapped into tinytorch), so a
    new subpackage must be added there or a regular install would lack it."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    listed = set(re.findall(r'"(tinytorch[\w.]*)"', (root / "pyproject.toml").read_text()))
    mapping = {"tinytorch": root / "tinytorch", "tinytorch.kernels": root / "kernels",
               "tinytorch.labs": root / "labs"}
    found = set()
    for prefix, folder in mapping.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            if "__pycache__" not in rel:
                found.add(".".join((prefix, *rel)))
    found.discard("tinytorch.kernels.kernels")
    assert found <= listed, f"missing from pyproject packages: {sorted(found - listed)}"


def test_mlp_command_trains_and_reports(capsys):
    assert cli.main(["mlp", "--backends", "jit", "--epochs", "2", "--no-torch",
                     "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "MLP 64-128-10 on the digits" in out and "jit step:" in out
    row = next(line for line in out.splitlines() if line.startswith("jit "))
    assert float(row.split()[1].rstrip("%")) > 50  # two epochs already learn a lot


def test_mlp_command_rejects_bad_arguments(capsys):
    assert cli.main(["mlp", "--epochs", "0"]) == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err
    assert cli.main(["mlp", "--backends", "turbo", "--no-torch"]) == 2
    assert "turbo" in capsys.readouterr().err


def test_profile_command_prints_the_op_table_and_writes_a_trace(tmp_path, capsys):
    trace = tmp_path / "trace.json"
    assert cli.main(["profile", "digits_cnn", "model.channels=4,8", "--steps", "2",
                     "--warmup", "1", "--trace", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "conv2d_forward" in out and "linear_backward" in out and "adam_step" in out
    assert "digits_cnn on jit, batch 32: 2 steps in" in out and "kernels" in out
    events = json.loads(trace.read_text())["traceEvents"]
    assert events and all(e["ph"] == "X" for e in events)
    assert sum(e["name"] == "conv2d_forward" for e in events) == 2 * 2  # 2 layers, 2 steps


def test_profile_command_rejects_bad_arguments(capsys):
    assert cli.main(["profile", "--steps", "0"]) == 2
    assert "--steps must be >= 1" in capsys.readouterr().err
    assert cli.main(["profile", "model.chanels=4"]) == 2
    assert "chanels" in capsys.readouterr().err
