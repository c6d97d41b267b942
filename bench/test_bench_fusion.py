"""Fused kernels against the unfused paths they replace, as pytest-benchmark pairs: one group
per comparison, holding its ``fused`` and ``unfused`` benchmark (``pytest bench -k fusion
--benchmark-only``). The pairs are those of ``tinytorch.examples.fusion`` (whose command
interleaves the two sides in one process; here pytest-benchmark times each side in turn), on
the jit backend, at the digits MLP's shapes and the larger ones. Every side is checked
against the float64 oracle before it is timed; its first call (compilation, or a load from
numba's cache) is stored in ``extra_info``.
"""

import functools
import time

import numpy as np
import pytest

from tinytorch.examples import fusion


@functools.cache
def _pairs(shapes: str) -> dict:
    spec = fusion.SHAPES[shapes]
    pairs = (fusion._linear_relu_pairs(*spec["linear"], "jit", np.float32)
             + fusion._cross_entropy_pairs(*spec["ce"], "jit", np.float32)
             + fusion._adam_pairs(spec["adam"], "jit", np.float32))
    return {f"{p.kernel} {p.level} {p.direction} ({p.unfused_name}) {p.shape}": p
            for p in pairs}


# 11 pairs per set of shapes (5 linear+relu, 4 cross-entropy, 2 Adam): ids without arrays.
IDS = [(shapes, i) for shapes in ("digits", "large") for i in range(11)]


@pytest.mark.parametrize("side", ["fused", "unfused"])
@pytest.mark.parametrize("shapes, index", IDS, ids=[f"{s}-{i}" for s, i in IDS])
def test_fusion_pair(benchmark, shapes, index, side):
    name, pair = list(_pairs(shapes).items())[index]
    benchmark.group = name
    fn = getattr(pair, side)
    start = time.perf_counter()
    outputs = fn()  # the first call: the oracle check, on fresh state
    benchmark.extra_info["first_call_s"] = time.perf_counter() - start
    error = fusion._error(outputs, pair.oracle)
    assert error < 1e-4, f"{name} {side}: {error:.2e} from the float64 oracle"
    benchmark.extra_info["bytes"] = pair.fused_bytes if side == "fused" else pair.unfused_bytes
    benchmark(fn)
