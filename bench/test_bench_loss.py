"""Fused cross-entropy forward and backward on rows of 100 classes: one pass of
exponentials per row, the log-sum-exp kept in float64 for the backward.

Cases, oracle check and cost model come from `tinytorch bench`'s specs
(``pytest bench/test_bench_loss.py --benchmark-only``).
"""

import pytest
from conftest import family_cases


@pytest.mark.parametrize("op,backend,n", family_cases("loss"))
def test_loss(bench_op, op, backend, n):
    bench_op(op, backend, n)
