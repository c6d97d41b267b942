"""CSR against dense, and a structured-pruned CNN against the original
(``pytest bench -k sparse --benchmark-only``).

- ``test_linear_512``: one 512 x 512 float32 weight pruned to each sparsity, at batch 32 and
  256: the dense jit ``linear_forward`` (what ``nn.Linear`` runs) and the jit
  ``csr_linear_forward`` (what ``SparseLinear`` runs) in one group per (batch, sparsity),
  each checked against the numpy oracle first. The crossover table of docs/pruning.md comes
  from ``python -m tinytorch.pruning.measure``, which interleaves the two in one loop; here
  pytest-benchmark times them one after the other.
- ``test_cnn_forward``: the digits CNN of the default config (24, 48 channels; untrained
  weights: the speed does not depend on the values) against the same model with half its
  channels pruned (``prune_channels``), forward only, eval mode, no graph, checked against
  the numpy backend first. With the conv launcher as committed the pruned model is not
  faster here; docs/pruning.md explains why (``IM2COL_MIN_TAPS``).
"""

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.kernels.sparse import csr_from_dense
from tinytorch.pruning import prune_channels
from tinytorch.testing import assert_close
from tinytorch.train.models import digits_cnn

SPARSITIES = [0.5, 0.8, 0.9, 0.95, 0.99]


def _layer(sparsity: float, batch: int):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((512, 512)).astype(np.float32)
    w.reshape(-1)[rng.permutation(w.size)[:int(round(sparsity * w.size))]] = 0
    x = rng.standard_normal((batch, 512)).astype(np.float32)
    b = rng.standard_normal(512).astype(np.float32)
    return w, x, b


@pytest.mark.parametrize("batch", [32, 256])
@pytest.mark.parametrize("sparsity", SPARSITIES)
@pytest.mark.parametrize("kind", ["dense", "csr"])
def test_linear_512(bench_kernel, benchmark, kind, sparsity, batch):
    benchmark.group = f"linear 512x512 float32, batch {batch}, sparsity {sparsity}"
    w, x, b = _layer(sparsity, batch)
    out = np.empty((batch, 512), np.float32)
    if kind == "dense":
        bench_kernel("linear_forward", "jit", out, x, w, b, rtol=1e-4)
    else:
        bench_kernel("csr_linear_forward", "jit", out, x, *csr_from_dense(w), b, rtol=1e-4)


@pytest.mark.parametrize("batch", [32, 359])
@pytest.mark.parametrize("pruned", [False, True], ids=["dense", "half-channels"])
def test_cnn_forward(benchmark, pruned, batch):
    benchmark.group = f"digits CNN forward, batch {batch}"
    tt.manual_seed(0)
    model = digits_cnn((24, 48)).eval()
    if pruned:
        model = prune_channels(model, 0.5)
        assert [m.out_channels for m in model if isinstance(m, tt.nn.Conv2d)] == [12, 24]
    x = tt.randn(batch, 1, 8, 8)
    with tt.no_grad():
        got = model(x)  # compiles, or loads numba's cache
        with tt.backend("numpy"):
            expected = model(x)
        assert_close(got, expected, rtol=1e-4, atol=1e-4)
        benchmark(model, x)
