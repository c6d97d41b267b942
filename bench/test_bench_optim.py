"""SGD (momentum) and Adam update kernels over one flat parameter: the fused jit loop
moves each element once, numpy's one-operation-per-line version several times (see
kernels/optim.py for the byte counts).

Cases, oracle check and cost model come from `tinytorch bench`'s specs
(``pytest bench/test_bench_optim.py --benchmark-only``).
"""

import pytest
from conftest import family_cases


@pytest.mark.parametrize("op,backend,n", family_cases("optim"))
def test_optim(bench_op, op, backend, n):
    bench_op(op, backend, n)
