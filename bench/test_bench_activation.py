"""Activation kernels (GELU, softmax, log-softmax and their backwards): elementwise
transcendentals and row-wise passes, memory-bound once compiled; GELU's erf is the costly
part (about 20 FLOPs an element).

Cases, oracle check and cost model come from `tinytorch bench`'s specs
(``pytest bench/test_bench_activation.py --benchmark-only``).
"""

import pytest
from conftest import family_cases


@pytest.mark.parametrize("op,backend,n", family_cases("activation"))
def test_activation(bench_op, op, backend, n):
    bench_op(op, backend, n)
