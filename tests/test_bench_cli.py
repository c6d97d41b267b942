"""``tinytorch bench`` over every op family: specs, oracle checks, probes, JSON, the plot.

Timings are never asserted (the machine is shared and noisy): the tests check what is
measured and that nothing wrong is ever timed.
"""

import dataclasses
import json
import math

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import bench, bench_ops, cli, probes

# sizes at which the naive loops take milliseconds (pooling needs an even image side)
TINY = {"matmul": 5, "linear": 5, "linear_backward": 5, "conv2d": 4, "conv2d_backward": 4,
        "max_pool2d": 4, "max_pool2d_backward": 4, "avg_pool2d": 4, "batch_norm": 2,
        "batch_norm_backward": 2, "softmax": 3, "softmax_backward": 3, "log_softmax": 3,
        "cross_entropy": 3, "cross_entropy_backward": 3, "normalize": 1}
REQUIRED = ("matmul", "linear", "conv2d", "max_pool2d", "avg_pool2d", "batch_norm", "relu",
            "gelu", "softmax", "log_softmax", "cross_entropy", "sum", "mean", "max", "add",
            "mul", "exp", "sgd_step", "adam_step", "normalize")


_MEASURE = probes.measure


def _quick_measure(**_):
    """The probes at test sizes: the CLI's full-size ones move 384 MiB per pass."""
    return _MEASURE(quick=True)


def test_every_required_op_and_family_has_a_spec():
    assert set(REQUIRED) <= set(bench.BENCH_OPS)
    assert set(bench.FAMILIES) == {"elementwise", "reduce", "matmul", "linear", "activation",
                                   "loss", "optim", "conv", "pool", "norm", "transforms"}
    for name, spec in bench.BENCH_OPS.items():
        assert spec.kernel in tt.dispatch._TABLE, name
        assert spec.quick <= spec.naive_max, f"{name}: `bench all` would skip naive"
        assert spec.flops(spec.quick) > 0 and spec.bytes(spec.quick, 4) > 0, name


@pytest.mark.parametrize("op", list(bench_ops.BENCH_OPS))
def test_every_op_passes_its_oracle_check_on_every_backend(op, backend):
    rows = bench.run_bench(op, backends=[backend], sizes=[TINY.get(op, 16)], rounds=1,
                           min_time=0)
    (row,) = rows
    assert row["backend"] == backend and row["oracle_checked"] is True
    assert row["median_s"] > 0 and math.isfinite(row["gflops"]) and row["gflops"] > 0
    assert row["intensity"] == pytest.approx(row["flops"] / row["bytes"])
    assert row["family"] == bench.BENCH_OPS[op].family


@pytest.mark.parametrize("op", ["cross_entropy", "max_pool2d", "batch_norm", "adam_step"])
def test_specs_are_deterministic_and_do_not_share_buffers(op):
    spec = bench.BENCH_OPS[op]
    a = spec.make(4, np.dtype("float32"), np.random.default_rng(0))
    b = spec.make(4, np.dtype("float32"), np.random.default_rng(0))
    for x, y in zip(a.args[a.n_out:], b.args[b.n_out:], strict=True):
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
            assert not np.shares_memory(x, y)


def _spy_timer(monkeypatch):
    timed = []
    real = bench._time_rounds
    monkeypatch.setattr(bench, "_time_rounds", lambda fn, *a: timed.append(fn) or real(fn, *a))
    return timed


def test_a_wrong_kernel_is_never_timed(monkeypatch):
    timed = _spy_timer(monkeypatch)

    def wrong(out, x):  # relu that lets -0.5 through
        np.maximum(x, -0.5, out=out)

    tt.register_kernel("relu_forward", "wrong", wrong)
    with pytest.raises(AssertionError, match=r"relu on wrong at n=64 disagrees with the numpy "
                                             r"oracle \(argument 0 of relu_forward\)"):
        bench.run_bench("relu", backends=["numpy", "wrong"], sizes=[64], rounds=1,
                        min_time=0)
    assert len(timed) == 1  # numpy's, before the wrong kernel's check failed


def test_an_unwritten_output_element_is_caught(monkeypatch):
    """Outputs start as NaN for the kernel under test: skipping an element cannot pass by
    inheriting a value from the oracle's run."""
    timed = _spy_timer(monkeypatch)

    def lazy(out, x):
        np.exp(x[:, 1:], out=out[:, 1:])

    tt.register_kernel("exp_forward", "lazy", lazy)
    with pytest.raises(AssertionError, match="got nan"):
        bench.run_bench("exp", backends=["lazy"], sizes=[32], rounds=1, min_time=0)
    assert timed == []


def test_in_place_state_and_inputs_are_checked_too(monkeypatch):
    """sgd_step updates its momentum buffer in place; a kernel that forgets it is wrong."""
    timed = _spy_timer(monkeypatch)
    numpy_sgd = tt.dispatch.kernel_for("sgd_step", "numpy")[1]

    def forgetful(param, grad, buf, **kw):
        saved = buf.copy()
        numpy_sgd(param, grad, buf, **kw)
        buf[:] = saved

    tt.register_kernel("sgd_step", "forgetful", forgetful)
    with pytest.raises(AssertionError, match=r"argument 2 of sgd_step"):
        bench.run_bench("sgd_step", backends=["forgetful"], sizes=[16], rounds=1, min_time=0)
    assert timed == []


def test_torch_row_is_checked_against_the_same_oracle(monkeypatch):
    pytest.importorskip("torch")
    rows = bench.run_bench("softmax", backends=["numpy", "torch"], sizes=[3], rounds=1,
                           min_time=0)
    by = {r["backend"]: r for r in rows}
    assert by["torch"]["oracle_checked"] is True and by["torch"]["ratio_to_numpy"] > 0
    # an optimiser step returns nothing comparable: the row says it was not checked
    rows = bench.run_bench("adam_step", backends=["torch"], sizes=[16], rounds=1, min_time=0)
    assert rows[0]["oracle_checked"] is False
    # a counterpart that disagrees is never timed either
    spec = bench.BENCH_OPS["softmax"]
    wrong = dataclasses.replace(spec, torch=lambda torch, case: (
        lambda: torch.log_softmax(torch.from_numpy(case.args[1]), 1)))
    monkeypatch.setitem(bench.BENCH_OPS, "softmax", wrong)
    timed = _spy_timer(monkeypatch)
    with pytest.raises(AssertionError, match="PyTorch's counterpart disagrees"):
        bench.run_bench("softmax", backends=["torch"], sizes=[3], rounds=1, min_time=0)
    assert timed == []


def test_ratios_and_compile_time_per_op_and_size():
    rows = bench.run_bench("linear", backends=["naive", "jit", "numpy"], sizes=[4, 6],
                           rounds=2, min_time=0)
    assert [(r["size"], r["backend"]) for r in rows] == [
        (4, "naive"), (4, "jit"), (4, "numpy"), (6, "naive"), (6, "jit"), (6, "numpy")]
    for r in rows:
        assert r["compile_s"] >= 0 and r["first_call_s"] > 0
        if r["backend"] == "numpy":
            assert r["ratio_to_numpy"] == pytest.approx(1.0)
        if r["backend"] == "naive":
            assert r["speedup_vs_naive"] == pytest.approx(1.0) and r["rounds"] == 1


def test_unknown_ops_families_and_bad_arguments_are_clear_errors(capsys):
    with pytest.raises(ValueError, match="no benchmark for conv9d; choose from all, matmul"):
        bench.resolve_ops(["conv9d"])
    with pytest.raises(ValueError, match=r"family quantum.*\nhint: families \(--family\): "
                                         r"matmul, linear, conv"):
        bench.resolve_ops([], ["quantum"])
    with pytest.raises(ValueError, match=r"sizes must be positive integers, got \[0\] for "
                                         r"add \(size = elements"):
        bench.run_bench("add", backends=["numpy"], sizes=[0])
    with pytest.raises(ValueError, match="rounds must be an integer >= 1.*rounds=0"):
        bench.run_bench("add", backends=["numpy"], sizes=[8], rounds=0)
    assert cli.main(["bench", "conv9d", "add"]) == 2
    assert "no benchmark for conv9d" in capsys.readouterr().err
    assert cli.main(["bench", "--family", "quantum"]) == 2
    assert "family quantum" in capsys.readouterr().err


def test_resolve_ops_expands_all_and_families_without_repeats():
    ops, wide = bench.resolve_ops(["all", "matmul"])
    assert ops == list(bench.BENCH_OPS) and wide
    ops, wide = bench.resolve_ops(["add"], ["pool"])
    assert ops == ["add", "max_pool2d", "max_pool2d_backward", "avg_pool2d"] and wide
    assert bench.resolve_ops(["add", "add"]) == (["add"], False)


def test_family_run_prints_one_table_with_an_op_column_and_size_footers(capsys):
    code = cli.main(["bench", "--family", "optim", "--sizes", "16", "--backends", "naive",
                     "numpy", "--rounds", "1", "--min-time", "0", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["op", "size"]
    assert {line.split()[0] for line in out.splitlines()[2:6]} == {"sgd_step", "adam_step"}
    assert "sgd_step (sgd_step), float32: size = parameters" in out
    assert "adam_step (adam_step), float32: size = parameters" in out


def test_probes_are_positive_finite_numbers():
    for value in (probes.peak_gflops(n=64, repeats=2),
                  probes.stream_gbs(elements=200_000, repeats=2)):
        assert math.isfinite(value) and value > 0
    machine = probes.measure(quick=True)
    assert machine["peak_gflops"] > 0 and machine["stream_gbs"] > 0
    assert "np.matmul" in machine["peak_probe"] and "triad" in machine["stream_probe"]
    assert probes.last_level_cache_bytes() > 0
    with pytest.raises(ValueError, match="n >= 1.*n=0"):
        probes.peak_gflops(n=0)
    with pytest.raises(ValueError, match="elements >= 1.*elements=-5"):
        probes.stream_gbs(elements=-5)


def test_roofline_bounds():
    assert probes.roof(0.1, peak=50.0, bandwidth=10.0) == pytest.approx(1.0)
    assert probes.roof(100.0, peak=50.0, bandwidth=10.0) == 50.0
    rows = [dict(intensity=2.0, gflops=5.0), dict(intensity=0.5, gflops=1.0)]
    bench.add_roofs(rows, dict(peak_gflops=10.0, stream_gbs=4.0))
    assert [r["roof_gflops"] for r in rows] == [8.0, 2.0]
    assert [r["of_roof"] for r in rows] == [0.625, 0.5]


def test_json_keeps_rows_and_adds_the_probes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(probes, "measure", _quick_measure)
    path = tmp_path / "rows.json"
    code = cli.main(["bench", "add", "max_pool2d", "--sizes", "8", "--backends", "jit",
                     "numpy", "--rounds", "2", "--min-time", "0", "--json", str(path),
                     "--quiet"])
    assert code == 0
    rows = json.loads(path.read_text())
    assert isinstance(rows, list) and {r["op"] for r in rows} == {"add", "max_pool2d"}
    keys = {"op", "family", "kernel", "size", "size_meaning", "backend", "dtype", "median_s",
            "iqr_s", "rounds", "first_call_s", "compile_s", "gflops", "gbs", "flops", "bytes",
            "intensity", "oracle_checked", "speedup_vs_naive", "ratio_to_numpy",
            "peak_gflops", "stream_gbs", "roof_gflops", "of_roof"}
    for r in rows:
        assert keys <= set(r), keys - set(r)
        assert r["roof_gflops"] == pytest.approx(min(r["peak_gflops"],
                                                     r["intensity"] * r["stream_gbs"]))
    out = capsys.readouterr().out
    assert "roofs: peak" in out and "of roof" in out


def test_plot_writes_a_valid_png_atomically(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(probes, "measure", _quick_measure)
    path = tmp_path / "sub" / "bench.png"
    code = cli.main(["bench", "add", "softmax", "--sizes", "4", "8", "--backends", "naive",
                     "jit", "numpy", "--rounds", "1", "--min-time", "0", "--plot", str(path),
                     "--quiet"])
    assert code == 0, capsys.readouterr().err
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 500 and height > 200
    assert [p.name for p in path.parent.iterdir()] == ["bench.png"]  # no temp file left


def test_plot_without_matplotlib_says_how_to_get_it_before_timing(monkeypatch, capsys,
                                                                  tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    timed = _spy_timer(monkeypatch)
    code = cli.main(["bench", "add", "--plot", str(tmp_path / "x.png")])
    assert code == 2
    err = capsys.readouterr().err
    assert "--plot needs matplotlib" in err and "pip install -e '.[plot]'" in err
    assert timed == [] and not (tmp_path / "x.png").exists()


def test_cli_reports_a_wrong_kernel_as_an_error_not_a_timing(capsys):
    tt.register_kernel("add_forward", "wrong", lambda out, a, b: np.subtract(a, b, out=out))
    code = cli.main(["bench", "add", "--backends", "wrong", "--sizes", "8", "--quiet"])
    assert code == 1
    captured = capsys.readouterr()
    assert "add on wrong at n=8 disagrees with the numpy oracle" in captured.err
    assert "a wrong kernel is never timed" in captured.err and "median" not in captured.out


def test_the_blas_probe_runs_at_blas_width_and_restores_the_policy(monkeypatch):
    """The compute roof is the machine's: BLAS at its own width even when the jit backend's
    policy keeps it on one thread, and the policy is back afterwards."""
    from tinytorch import probes, threads

    seen = []
    real = probes.np.matmul

    def spy(*args, **kwargs):
        seen.append(threads.get_num_threads()["blas"])
        return real(*args, **kwargs)

    with tt.backend("numpy"):
        blas_width = threads.get_num_threads()["blas"]
    before = threads.get_num_threads()
    monkeypatch.setattr(probes.np, "matmul", spy)
    with tt.backend("jit"):
        inside = threads.get_num_threads()
        probes.peak_gflops(n=32, repeats=1)
        assert threads.get_num_threads() == inside
    assert threads.get_num_threads() == before
    assert seen and set(seen) == {blas_width}
