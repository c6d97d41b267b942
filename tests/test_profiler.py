"""tt.profile: what it records, its formulas, its chrome trace, and that it leaves no trace
in the dispatcher or in results. Timings are never asserted (the box is shared)."""

import json

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import dispatch, nn
from tinytorch.nn import functional as F
from tinytorch.profiler import kernel_cost


def _train_step(model, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss


@pytest.fixture
def mlp_batch(rng):
    tt.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    x = tt.tensor(rng.standard_normal((4, 6)).astype(np.float32))
    y = tt.tensor(np.array([0, 2, 1, 2]))
    return model, x, y


@pytest.mark.parametrize("backend_name", ["jit", "numpy"])
def test_records_forward_and_backward_ops(backend_name, mlp_batch):
    model, x, y = mlp_batch
    with tt.backend(backend_name), tt.profile() as prof:
        for _ in range(2):
            model.zero_grad()
            _train_step(model, x, y)
    rows = prof.rows()
    calls = {}
    for r in rows:
        assert r["backend"] == backend_name
        calls[r["op"]] = calls.get(r["op"], 0) + r["calls"]
    assert calls["linear_forward"] == 4 and calls["linear_backward"] == 4
    assert calls["relu_forward"] == 2 and calls["relu_backward"] == 2
    assert calls["cross_entropy_forward"] == 2 and calls["cross_entropy_backward"] == 2
    assert sum(r["calls"] for r in rows) == len(prof)
    first = next(r for r in rows if r["op"] == "linear_forward" and r["shapes"][0] == (4, 5))
    assert first["shapes"] == [(4, 5), (4, 6), (5, 6), (5,)]
    assert first["dtypes"] == ["float32"] * 4


def test_first_call_is_kept_apart_from_the_median(rng):
    a = tt.tensor(rng.standard_normal((3, 4)))
    with tt.backend("numpy"), tt.profile() as prof:
        for _ in range(5):
            a + a
    (row,) = prof.rows()
    durations = [rec[-1] for rec in prof.records]
    assert row["calls"] == 5 and row["first_s"] == durations[0]
    assert row["median_s"] == float(np.median(durations[1:]))
    assert row["total_s"] == pytest.approx(sum(durations))


def test_a_new_dtype_or_shape_is_a_new_key(rng):
    with tt.backend("numpy"), tt.profile() as prof:
        tt.ones(2, 3) + tt.ones(2, 3)
        tt.ones(2, 3, dtype=tt.float64) + tt.ones(2, 3, dtype=tt.float64)
        tt.ones(4, 3) + tt.ones(4, 3)
    # the kernels' shapes: contiguous elementwise operands arrive coalesced to one row
    assert sorted((r["dtypes"][0], r["shapes"][0]) for r in prof.rows()) == [
        ("float32", (1, 6)), ("float32", (1, 12)), ("float64", (1, 6))]
    assert all(r["calls"] == 1 and r["median_s"] == r["first_s"] for r in prof.rows())


def test_matmul_flops_follow_the_formula(rng):
    a = tt.tensor(rng.standard_normal((2, 5, 7)).astype(np.float32))
    b = tt.tensor(rng.standard_normal((2, 7, 3)).astype(np.float32))
    with tt.backend("numpy"), tt.profile() as prof:
        a @ b
    (row,) = prof.rows()
    assert row["op"] == "matmul_forward"
    assert row["flops"] == 2 * 2 * 5 * 3 * 7
    assert row["bytes"] == (2 * 5 * 3 + 2 * 5 * 7 + 2 * 7 * 3) * 4
    assert row["gflops"] == pytest.approx(row["flops"] / row["median_s"] / 1e9)
    assert row["gbs"] == pytest.approx(row["bytes"] / row["median_s"] / 1e9)


def test_linear_flops_follow_the_formula_and_match_summary(rng):
    layer = nn.Linear(64, 128)
    x = tt.tensor(rng.standard_normal((32, 64)).astype(np.float32), requires_grad=True)
    with tt.backend("numpy"), tt.profile() as prof:
        layer(x).sum().backward()
    forward = next(r for r in prof.rows() if r["op"] == "linear_forward")
    backward = next(r for r in prof.rows() if r["op"] == "linear_backward")
    assert forward["flops"] == 2 * 32 * 128 * 64 + 32 * 128
    assert forward["flops"] == tt.summary(layer, (32, 64)).rows[0].flops
    assert backward["flops"] == 4 * 32 * 128 * 64 + 32 * 128  # grad_x, grad_w, grad_b


def test_kernel_cost_of_conv_and_elementwise():
    f32, i64 = np.dtype("float32"), np.dtype("int64")
    flops, nbytes = kernel_cost("conv2d_forward", [(2, 4, 6, 6), (2, 3, 8, 8), (4, 3, 3, 3),
                                                   (4,)], [f32] * 4)
    assert flops == 2 * 4 * 6 * 6 * (2 * 3 * 3 * 3 + 1)
    assert nbytes == (2 * 4 * 36 + 2 * 3 * 64 + 4 * 27 + 4) * 4
    # unneeded gradients arrive as empty placeholders and cost nothing
    flops, _ = kernel_cost("conv2d_backward", [(0, 0, 0, 0), (4, 3, 3, 3), (0,),
                                              (2, 4, 6, 6), (2, 3, 8, 8), (4, 3, 3, 3)],
                           [f32] * 6)
    assert flops == 2 * (2 * 4 * 36) * 27
    # a reduction counts the elements it reads; bytes follow each array's own dtype
    assert kernel_cost("max_forward", [(3,), (3,), (3, 10)], [f32, i64, f32]) == (
        30, 3 * 4 + 3 * 8 + 30 * 4)
    assert kernel_cost("adam_step", [(10,)] * 4, [f32] * 4) == (150, 160)


def test_chrome_trace_has_one_complete_event_per_call(tmp_path, mlp_batch):
    model, x, y = mlp_batch
    with tt.backend("numpy"), tt.profile() as prof:
        _train_step(model, x, y)
    path = tmp_path / "sub" / "trace.json"
    prof.export_chrome_trace(path)
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    assert len(events) == len(prof) == len(prof.records)
    assert [e["name"] for e in events] == [rec[0] for rec in prof.records]
    for event, rec in zip(events, prof.records, strict=True):
        assert event["ph"] == "X" and event["args"]["backend"] == "numpy"
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int)
        assert event["dur"] >= 0 and event["ts"] >= 0
        assert event["args"]["shapes"] == [list(s) for s, _ in rec[2]]
    starts = [e["ts"] for e in events]
    assert starts == sorted(starts)  # calls run one after the other
    assert not list(tmp_path.glob("sub/.*.tmp"))  # atomic write: no temporary left


def test_recorder_is_removed_on_exit_and_on_exception():
    before = list(dispatch._recorders)
    with tt.profile():
        assert len(dispatch._recorders) == len(before) + 1 and dispatch._timing
    assert dispatch._recorders == before and not dispatch._timing
    with pytest.raises(RuntimeError, match="boom"), tt.profile():
        raise RuntimeError("boom")
    assert dispatch._recorders == before and not dispatch._timing


def test_without_shapes_calls_group_by_op_and_no_flops_are_claimed(rng):
    a = tt.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    b = tt.tensor(rng.standard_normal((6, 3)).astype(np.float32))
    with tt.backend("numpy"), tt.profile(record_shapes=False) as prof:
        a.relu()
        b.relu()  # another shape: the same row without shapes
    (row,) = prof.rows()
    assert (row["op"], row["calls"], row["shapes"], row["flops"], row["gflops"]) == (
        "relu_forward", 2, None, None, None)
    table = prof.table()
    assert "relu_forward" in table and "-" in table.splitlines()[2]
    assert not dispatch._shapes_wanted


def test_a_profile_without_shapes_beside_one_with_shapes_still_groups_by_op(rng):
    x = tt.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    with tt.backend("numpy"), tt.profile() as full, tt.profile(record_shapes=False) as light:
        x.relu()
        x[:2].relu()
    assert len(full.rows()) == 2 and len(light.rows()) == 1


def test_profile_memory_reports_allocation_per_op_and_the_peak(rng):
    import tracemalloc

    x = tt.tensor(rng.standard_normal((256, 256)).astype(np.float32))
    was_tracing = tracemalloc.is_tracing()
    kept = []
    with tt.backend("numpy"), tt.profile(profile_memory=True) as prof:
        for _ in range(3):
            kept.append(x * 2.0)  # one 256 KiB output per call, kept alive
    assert tracemalloc.is_tracing() == was_tracing  # stopped again if it started it
    (row,) = [r for r in prof.rows() if r["op"] == "mul_forward"]
    assert 256 * 1024 <= row["alloc_bytes"] < 2 * 256 * 1024
    assert prof.peak_bytes >= 256 * 1024
    assert "alloc KiB" in prof.table() and "peak memory" in prof.table()
    assert tt.profile().peak_bytes is None


def test_the_memory_peak_covers_the_whole_block_not_only_the_last_call():
    big, small = tt.ones(1000, 1000), tt.ones(2)
    with tt.backend("numpy"), tt.profile(profile_memory=True) as outer:
        y = big * 2.0  # 4 MB
        z = y + 1.0  # 8 MB live at once
        del y, z  # freed before the end of the block
        with tt.profile(profile_memory=True) as inner:
            _ = small + 1.0  # a tiny op last: the peak was earlier
    assert outer.peak_bytes >= 8_000_000
    assert inner.peak_bytes < 1_000_000


@pytest.mark.parametrize("bad", [1, None, "yes"])
def test_profile_flags_must_be_booleans(bad):
    with pytest.raises(TypeError, match="record_shapes must be True or False"):
        tt.profile(record_shapes=bad)
    with pytest.raises(TypeError, match="profile_memory must be True or False"):
        tt.profile(profile_memory=bad)


def test_measure_overhead_pairs_plain_and_profiled_blocks():
    x = tt.ones(8, 8)
    with tt.backend("numpy"):
        result = tt.profiler.measure_overhead(lambda: x.relu(), rounds=2, steps=3, warmup=1)
    assert result["calls_per_step"] == 1.0
    assert result["plain_s"] > 0 and result["profiled_s"] > 0
    assert result["overhead"] > -1
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        tt.profiler.measure_overhead(lambda: None, rounds=0)


def test_nested_profiles_and_reentry():
    with tt.backend("numpy"):
        outer = tt.profile()
        with outer:
            tt.ones(2) + 1
            with tt.profile() as inner:
                tt.ones(2) * 2
            with outer:  # re-entering the active profile records each call once
                tt.ones(2) - 1
            assert outer.active
        assert not outer.active and dispatch._timers == []
        tt.ones(2) + 1  # outside every block: recorded nowhere
    assert [r[0] for r in outer.records] == ["add_forward", "mul_forward", "sub_forward"]
    assert [r[0] for r in inner.records] == ["mul_forward"]


def test_profiling_does_not_change_results(rng, mlp_batch):
    model, x, y = mlp_batch
    with tt.backend("jit"):
        model.zero_grad()
        plain = _train_step(model, x, y).item()
        plain_grad = model[0].weight.grad.numpy().copy()
        model.zero_grad()
        with tt.profile():
            profiled = _train_step(model, x, y).item()
        assert profiled == plain
        np.testing.assert_array_equal(model[0].weight.grad.numpy(), plain_grad)


def test_table_sorts_limits_and_checks_its_arguments(rng):
    with tt.backend("numpy"), tt.profile() as prof:
        for _ in range(3):
            tt.ones(2) + 1
        tt.ones(4, 4) @ tt.ones(4, 4)
    text = prof.table(sort_by="calls", limit=1)
    lines = text.splitlines()
    assert "add_forward" in lines[2] and "matmul_forward" not in text
    assert "4 kernel calls in 2 rows" in lines[-1] and "1 more rows not shown" in lines[-1]
    assert [r["op"] for r in prof.rows(sort_by="op")] == ["add_forward", "matmul_forward"]
    with pytest.raises(ValueError, match="unknown sort_by 'speed'; choose one of total"):
        prof.table(sort_by="speed")
    with pytest.raises(TypeError, match="sort_by must be a string, got int"):
        prof.rows(sort_by=3)
    with pytest.raises(ValueError, match="limit must be >= 0, got -1"):
        prof.table(limit=-1)
    with pytest.raises(TypeError, match="limit must be an int or None, got float"):
        prof.table(limit=1.5)


def test_an_empty_profile_prints_an_empty_table(tmp_path):
    prof = tt.profile()
    assert prof.rows() == [] and len(prof) == 0
    assert "0 kernel calls in 0 rows" in prof.table()
    prof.export_chrome_trace(tmp_path / "empty.json")
    assert json.loads((tmp_path / "empty.json").read_text())["traceEvents"] == []


def test_add_timer_rejects_a_non_callable():
    with pytest.raises(TypeError, match="a timer must be callable"):
        dispatch.add_timer(42)
    assert dispatch._timers == []


def test_profile_command_measures_its_own_overhead_and_can_skip_shapes(capsys):
    from tinytorch import cli

    assert cli.main(["profile", "digits_mlp", "--overhead", "--steps", "2", "--warmup",
                     "1"]) == 0
    out = capsys.readouterr().out
    assert "tt.profile() " in out and "tt.profile(record_shapes=False)" in out
    assert out.count("overhead") == 2 and "17 kernel calls per step" in out
    assert cli.main(["profile", "digits_mlp", "--no-shapes", "--steps", "2", "--warmup",
                     "1"]) == 0
    table = capsys.readouterr().out
    assert "linear_forward" in table and "32x" not in table  # no shapes were read


def test_kernel_cost_of_the_fused_int8_and_sparse_kernels():
    f32, i8, i32, i64 = (np.dtype(t) for t in ("float32", "int8", "int32", "int64"))
    # linear + ReLU: the products, the bias add and the activation
    assert kernel_cost("linear_act_forward", [(4, 3), (0, 0), (4, 5), (3, 5), (3,)],
                       [f32] * 5)[0] == 2 * 4 * 3 * 5 + 2 * 4 * 3
    # backward without grad_x: one product (grad_w) instead of two
    assert kernel_cost("linear_act_backward", [(0, 0), (3, 5), (3,), (4, 3), (4, 5), (3, 5),
                                               (4, 3)], [f32] * 7)[0] == 2 * 60 + 24
    assert kernel_cost("qgemm_forward", [(4, 3), (4, 5), (3, 5), (3,), (3,)],
                       [i32, i8, i8, i32, i32])[0] == 2 * 4 * 3 * 5
    # CSR: two operations per stored weight and row of x, plus the bias
    shapes = [(4, 3), (4, 5), (4,), (6,), (6,), (3,)]
    assert kernel_cost("csr_linear_forward", shapes, [f32, f32, i64, i64, f32, f32])[0] == (
        2 * 4 * 6 + 4 * 3)
    assert kernel_cost("csr_matmul_forward", shapes[:5], [f32, f32, i64, i64, f32])[0] == 48


def test_every_kernel_has_a_cost_formula():
    """A new kernel needs a FLOPS_PER_ELEMENT entry or a shape formula: the fallback of one
    FLOP per element would understate a product-like kernel by orders of magnitude."""
    from tinytorch.kernel_cost import FLOPS_PER_ELEMENT, SHAPE_FORMULAS

    missing = sorted(set(dispatch._TABLE) - set(FLOPS_PER_ELEMENT) - SHAPE_FORMULAS)
    assert not missing, f"no FLOP formula for {missing}: add them to tinytorch/kernel_cost.py"


def test_bench_and_profiler_count_the_same_flops_where_both_have_a_formula():
    """`tinytorch bench` and `tt.profile` describe the same kernels: their FLOP models must
    agree (within 30%: the bench counts some per-window work the profiler's per-element
    constants round off)."""
    from tinytorch import bench_ops

    for op, spec in bench_ops.BENCH_OPS.items():
        n = 8 if any(f in op for f in ("conv", "pool", "norm", "normalize")) else 64
        case = spec.make(n, np.dtype("float32"), np.random.default_rng(0))
        shapes = [getattr(a, "shape", None) for a in case.args]
        dtypes = [getattr(a, "dtype", None) for a in case.args]
        flops = kernel_cost(spec.kernel, shapes, dtypes)[0]
        assert 0.7 <= spec.flops(n) / flops <= 1.3, (op, spec.flops(n), flops)
