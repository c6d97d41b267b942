"""`python -m tinytorch.examples.matmul_ladder`: every rung checked against numpy before it
is timed, the table's structure, and bad arguments."""

import numpy as np
import pytest

from tinytorch.examples import matmul_ladder as ml


def test_every_rung_gets_a_row_per_size_and_numpy_is_the_unit():
    rows = ml.ladder(sizes=(8, 20), rounds=2, pause=0.0, budget=0.0)
    assert [(r["rung"], r["n"]) for r in rows[:len(ml.RUNGS)]] == [(g, 8) for g in ml.RUNGS]
    assert len(rows) == 2 * len(ml.RUNGS)
    for r in rows:
        assert r["median_s"] > 0 and r["gflops"] > 0 and r["ratio_to_numpy"] > 0
        if r["rung"] == "numpy":
            assert r["ratio_to_numpy"] == 1.0
    table = ml.format_table(rows)
    assert table.splitlines()[0] == ("| rung | n=8: GFLOP/s (x numpy) | n=20: GFLOP/s "
                                     "(x numpy) |")
    assert all(f"| {g} |" in table for g in ml.RUNGS)


def test_a_wrong_rung_is_never_timed(monkeypatch):
    def wrong(out, a, b):
        np.matmul(a, b, out=out)
        out[0, 0, 0] += 1.0

    monkeypatch.setitem(ml.mm.VARIANTS, "jit_ikj", wrong)
    with pytest.raises(AssertionError, match="jit_ikj at n=8 differs from numpy"):
        ml.ladder(sizes=(8,), rounds=1, rungs=("jit_ikj", "numpy"), pause=0.0)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown rung"):
        ml.ladder(sizes=(8,), rungs=("jit_fast",))
    with pytest.raises(ValueError, match="rounds must be an int >= 1"):
        ml.ladder(sizes=(8,), rounds=0)


def test_the_command_prints_the_table(capsys):
    ml.main(["--sizes", "8", "--rounds", "1", "--rungs", "jit_packed", "numpy"])
    out = capsys.readouterr().out
    assert "| jit_packed |" in out and "median of 1 rounds" in out


def test_a_rung_that_writes_nothing_is_caught(monkeypatch):
    monkeypatch.setitem(ml.mm.VARIANTS, "jit_ikj", lambda out, a, b: None)
    with pytest.raises(AssertionError, match="jit_ikj at n=8 differs from numpy"):
        ml.ladder(sizes=(8,), rounds=1, rungs=("jit_ijk", "jit_ikj"), pause=0.0)
