"""One training epoch of the MLP 64-128-10 (batch 32, Adam) on the digits training split,
on each backend and in PyTorch, in one process (``pytest bench -k mlp --benchmark-only``).

The epoch is the whole user-visible loop: batching, forward, fused cross-entropy, backward,
optimiser step. Each backend first trains a few steps outside the timing (compilation, or a
load from numba's cache), and the jit result is checked against numpy's before timing. The
naive backend is timed on a few steps, not an epoch: its loops take about a second a step.
"""

import numpy as np
import pytest

from tinytorch.examples import mlp_digits


@pytest.mark.parametrize("backend", ["jit", "numpy"])
def test_mlp_epoch(benchmark, backend):
    benchmark.group = "MLP 64-128-10 epoch, digits train split, batch 32"
    check = mlp_digits.train_mlp(backend, epochs=1, max_steps=5, seed=0)  # warm, compile
    oracle = mlp_digits.train_mlp("numpy", epochs=1, max_steps=5, seed=0)
    np.testing.assert_allclose(check["losses"], oracle["losses"], rtol=1e-4)
    benchmark.pedantic(lambda: mlp_digits.train_mlp(backend, epochs=1), rounds=7,
                       iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(mlp_digits.step_breakdown(backend, steps=100))


@pytest.mark.parametrize("threads", [None, 1], ids=["default-threads", "1-thread"])
def test_mlp_epoch_torch(benchmark, threads):
    pytest.importorskip("torch")
    benchmark.group = "MLP 64-128-10 epoch, digits train split, batch 32"
    benchmark.pedantic(lambda: mlp_digits.torch_mlp_epoch_seconds(epochs=1, threads=threads),
                       rounds=7, iterations=1, warmup_rounds=1)


def test_mlp_naive_steps(benchmark):
    benchmark.group = "MLP 64-128-10, 3 steps"
    benchmark.pedantic(lambda: mlp_digits.train_mlp("naive", epochs=1, max_steps=3),
                       rounds=2, iterations=1, warmup_rounds=1)
