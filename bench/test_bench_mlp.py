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
    # set-up (data, model, optimiser) outside the timing: one epoch from a fresh model
    benchmark.pedantic(lambda run: run(), setup=lambda: ((mlp_digits.epoch_runner(backend),),
                                                         {}), rounds=7, warmup_rounds=1)
    benchmark.extra_info.update(mlp_digits.step_breakdown(backend, steps=100))


@pytest.mark.parametrize("threads", [None, 1], ids=["default-threads", "1-thread"])
def test_mlp_epoch_torch(benchmark, threads):
    pytest.importorskip("torch")
    benchmark.group = "MLP 64-128-10 epoch, digits train split, batch 32"
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        benchmark.pedantic(lambda run: run(),
                           setup=lambda: ((mlp_digits.torch_epoch_runner(),), {}), rounds=7,
                           warmup_rounds=1)
    finally:
        torch.set_num_threads(previous)


def test_mlp_naive_steps(benchmark):
    benchmark.group = "MLP 64-128-10, 3 steps"
    benchmark.pedantic(lambda: mlp_digits.train_mlp("naive", epochs=1, max_steps=3),
                       rounds=2, iterations=1, warmup_rounds=1)
