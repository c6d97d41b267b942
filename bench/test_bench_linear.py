"""The fused linear layer (x @ w.T + b) and its three-gradient backward on square
operands: compute-bound at large n, call-overhead-bound at MLP sizes.

Cases, oracle check and cost model come from `tinytorch bench`'s specs
(``pytest bench/test_bench_linear.py --benchmark-only``).
"""

import pytest
from conftest import family_cases


@pytest.mark.parametrize("op,backend,n", family_cases("linear"))
def test_linear(bench_op, op, backend, n):
    bench_op(op, backend, n)
