"""BatchNorm2d forward (training: statistics, normalisation, running averages) and
backward (three gradients in one kernel) on 16 x 16 channel images.

Cases, oracle check and cost model come from `tinytorch bench`'s specs
(``pytest bench/test_bench_norm.py --benchmark-only``).
"""

import pytest
from conftest import family_cases


@pytest.mark.parametrize("op,backend,n", family_cases("norm"))
def test_norm(bench_op, op, backend, n):
    bench_op(op, backend, n)
