"""Reductions of one row into a float64 accumulator (sum, mean) and max with its
index: numpy's pairwise SIMD sum against the jit loop's sequential one.

Cases, oracle check and cost model come from `tinytorch bench`'s specs
(``pytest bench/test_bench_reduce.py --benchmark-only``).
"""

import pytest
from conftest import family_cases


@pytest.mark.parametrize("op,backend,n", family_cases("reduce"))
def test_reduce(bench_op, op, backend, n):
    bench_op(op, backend, n)
