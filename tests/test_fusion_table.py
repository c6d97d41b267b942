"""``tinytorch.examples.fusion``: the rows' structure, the oracle check that guards every
timing, the byte counts, and the command line, on tiny shapes (no timing is asserted)."""

import numpy as np
import pytest

from tinytorch import dispatch
from tinytorch.examples import fusion

KEYS = {"kernel", "level", "direction", "shape", "fused", "unfused", "fused_us", "unfused_us",
        "speedup", "fused_bytes", "unfused_bytes", "fused_error", "unfused_error"}


@pytest.mark.parametrize("backend_name", ["naive", "jit", "numpy"])
def test_rows_cover_every_pair_and_pass_the_oracle(backend_name):
    rows = fusion.fusion_table("tiny", backend=backend_name, rounds=1, block_s=0)
    assert all(set(r) == KEYS for r in rows)
    pairs = {(r["kernel"], r["level"], r["direction"], r["unfused"]) for r in rows}
    assert len(pairs) == len(rows) == 11
    assert {(k, lvl) for k, lvl, _, _ in pairs} == {
        (k, lvl) for k in ("linear+relu", "cross_entropy", "adam_step")
        for lvl in ("kernels", "tensor API")}
    for r in rows:
        assert r["fused_error"] < 1e-4 and r["unfused_error"] < 1e-4, r
        assert r["fused_us"] > 0 and r["unfused_us"] > 0 and r["speedup"] > 0
        # fusion never moves more bytes than the path it replaces
        assert 0 < r["fused_bytes"] < r["unfused_bytes"], r


def test_byte_counts_follow_the_formulas():
    rows = fusion.fusion_table("tiny", rounds=1, block_s=0)
    by = {(r["kernel"], r["level"], r["direction"], r["unfused"]): r for r in rows}
    m, k, n = fusion.SHAPES["tiny"]["linear"]
    linear = (m * k + n * k + n + m * n) * 4  # float32: x, w, b read, out written once
    fwd = by[("linear+relu", "kernels", "forward", "linear, relu")]
    assert (fwd["fused_bytes"], fwd["unfused_bytes"]) == (linear, linear + 2 * m * n * 4)
    three = by[("linear+relu", "kernels", "forward", "matmul, add, relu")]
    assert three["unfused_bytes"] == (m * k + n * k + 5 * m * n + n) * 4
    elements = sum(fusion.SHAPES["tiny"]["adam"])
    adam = by[("adam_step", "kernels", "step", "13 elementwise kernels")]
    assert (adam["fused_bytes"], adam["unfused_bytes"]) == (7 * elements * 4,
                                                             30 * elements * 4)
    rows_, classes = fusion.SHAPES["tiny"]["ce"]
    ce = by[("cross_entropy", "kernels", "forward", "log_softmax, nll")]
    # the unfused chain writes and reads back an (N, C) log-probability array (one more
    # N*C pass); the fused kernel writes the float64 log-sum-exp per row (8 bytes, not 4)
    assert ce["unfused_bytes"] - ce["fused_bytes"] == rows_ * classes * 4 + rows_ * (4 - 8)


def test_a_wrong_kernel_is_caught_before_it_is_timed(monkeypatch):
    def broken(out, pre, x, w, b, *, activation):
        np.matmul(x, w.T, out=out)  # forgets the bias and the ReLU

    monkeypatch.setitem(dispatch._TABLE["linear_act_forward"], "numpy", broken)
    with pytest.raises(AssertionError, match=r"linear\+relu kernels forward .* oracle"):
        fusion.fusion_table("tiny", backend="numpy", rounds=1, block_s=0,
                            kernels={"linear+relu"})


def test_the_oracle_matches_numpy_on_its_own():
    """The oracle of the linear+relu pairs is independent of every kernel: rebuild it."""
    pairs = fusion._linear_relu_pairs(5, 3, 4, "numpy", np.float64)
    rng = np.random.default_rng(0)  # the same draws as the pair builder
    x = rng.standard_normal((5, 3))
    w = rng.standard_normal((4, 3)) / np.sqrt(3)
    b = rng.standard_normal(4)
    np.testing.assert_allclose(pairs[0].oracle[0], np.maximum(x @ w.T + b, 0))


def test_kernel_subset_and_bad_arguments():
    rows = fusion.fusion_table("tiny", rounds=1, block_s=0, kernels={"adam_step"})
    assert {r["kernel"] for r in rows} == {"adam_step"}
    with pytest.raises(ValueError, match="shapes='huge' is not one of"):
        fusion.fusion_table("huge")
    with pytest.raises(ValueError, match=r"unknown kernels \['conv'\]"):
        fusion.fusion_table("tiny", kernels={"conv"})


def test_the_command_prints_a_markdown_table(capsys):
    assert fusion.main(["--quick"]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert table[0].startswith("| kernel | level | direction | shape |")
    assert len(table) == 2 + 11 and all(line.count("|") == 12 for line in table)
    assert "interleaved rounds" in out
    with pytest.raises(SystemExit):
        fusion.main(["--rounds", "0"])


def test_a_kernel_that_writes_nothing_fails_the_check_of_its_path(monkeypatch):
    """The two paths of a pair share output buffers: a no-op relu must not pass on what the
    fused path wrote there."""
    from tinytorch import dispatch

    monkeypatch.setitem(dispatch._TABLE["relu_forward"], "jit", lambda out, x: None)
    with pytest.raises(AssertionError, match="linear\\+relu kernels forward"):
        fusion.fusion_table("tiny", rounds=1, block_s=0, kernels=["linear+relu"])
