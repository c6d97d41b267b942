"""One training epoch of the default digits CNN (conv 1->24, relu, pool, conv 24->48, relu,
pool, linear; Adam, batch 32) on the digits training split, tinytorch on each backend against
the same model, optimiser and batches in PyTorch, in one process
(``pytest bench/test_bench_cnn.py --benchmark-only``). Target: tinytorch-jit <= 1.5x PyTorch.

Each tinytorch run first trains a few steps outside the timing (compilation or a load from
numba's cache); the jit losses are checked against numpy's before timing.
"""

import time

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.examples.mlp_digits import _arrays, batches
from tinytorch.nn import functional as F
from tinytorch.train import models

CHANNELS = (24, 48)  # tinytorch/configs/digits_cnn.toml


def tinytorch_runner(backend: str, max_steps=None, seed: int = 0):
    """Data, model and optimiser built here; the returned function trains one epoch."""
    images, labels = _arrays("train")
    images = images.reshape(-1, 1, 8, 8)
    tt.manual_seed(seed)
    model = models.digits_cnn(CHANNELS)
    opt = tt.optim.Adam(model.parameters(), lr=3e-3)

    def run() -> list:
        losses = []
        with tt.backend(backend):
            for index in batches(len(labels), 32, np.random.default_rng(seed)):
                loss = F.cross_entropy(model(tt.tensor(images[index])),
                                       tt.tensor(labels[index]))
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
                if max_steps is not None and len(losses) >= max_steps:
                    break
        return losses

    return run


def torch_runner(torch, seed: int = 0):
    images, labels = _arrays("train")
    images = images.reshape(-1, 1, 8, 8)
    torch.manual_seed(seed)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 24, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(24, 48, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(48 * 2 * 2, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def run() -> None:
        for index in batches(len(labels), 32, np.random.default_rng(seed)):
            loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(images[index])),
                                                     torch.from_numpy(labels[index]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()

    return run


@pytest.mark.parametrize("backend", ["jit", "numpy"])
def test_digits_cnn_epoch(benchmark, backend):
    benchmark.group = "digits CNN 24-48 epoch, batch 32, Adam"
    start = time.perf_counter()
    warm = tinytorch_runner(backend, max_steps=3)()
    benchmark.extra_info["first_steps_s"] = time.perf_counter() - start
    np.testing.assert_allclose(warm, tinytorch_runner("numpy", max_steps=3)(), rtol=1e-4)
    benchmark.pedantic(lambda run: run(), setup=lambda: ((tinytorch_runner(backend),), {}),
                       rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("threads", [None, 1], ids=["default-threads", "1-thread"])
def test_digits_cnn_epoch_torch(benchmark, threads):
    torch = pytest.importorskip("torch")
    benchmark.group = "digits CNN 24-48 epoch, batch 32, Adam"
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        benchmark.pedantic(lambda run: run(), setup=lambda: ((torch_runner(torch),), {}),
                           rounds=5, warmup_rounds=1)
    finally:
        torch.set_num_threads(previous)
