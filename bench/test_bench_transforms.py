"""Per-channel normalisation of batches of CIFAR-sized images (module 05): two FLOPs
per element, pure memory traffic.

Cases, oracle check and cost model come from `tinytorch bench`'s specs
(``pytest bench/test_bench_transforms.py --benchmark-only``).
"""

import pytest
from conftest import family_cases


@pytest.mark.parametrize("op,backend,n", family_cases("transforms"))
def test_transforms(bench_op, op, backend, n):
    bench_op(op, backend, n)
