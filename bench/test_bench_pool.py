"""Max and average pooling (2x2, stride 2) forward, and the max-pool scatter backward,
on 8 x 16 channel images: pure data movement, about one FLOP per byte or less.

Cases, oracle check and cost model come from `tinytorch bench`'s specs
(``pytest bench/test_bench_pool.py --benchmark-only``).
"""

import pytest
from conftest import family_cases


@pytest.mark.parametrize("op,backend,n", family_cases("pool"))
def test_pool(bench_op, op, backend, n):
    bench_op(op, backend, n)
