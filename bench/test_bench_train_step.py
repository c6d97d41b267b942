"""One training step, the unit the 250 us target is stated in: forward, fused cross-entropy,
backward and Adam update on one fixed batch of 32 digits, for the MLP 64-128-10 and the
default digits CNN (conv 1->24, relu, pool, conv 24->48, relu, pool, linear), on the jit
and numpy backends and in PyTorch, in one process
(``pytest bench/test_bench_train_step.py --benchmark-only``).

``test_bench_mlp.py`` and ``test_bench_cnn.py`` time whole epochs (batching, shuffling and
all); this file times the step alone on a batch already in memory, so the figure is the
framework's per-step cost. Each model first takes a few steps outside the timing
(compilation, or a load from numba's cache; Adam's state), and the jit losses are checked
against numpy's before anything is timed.
"""

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.examples.mlp_digits import _arrays, build_mlp
from tinytorch.nn import functional as F
from tinytorch.train import models

CNN_CHANNELS = (24, 48)  # tinytorch/configs/digits_cnn.toml
BATCH = 32


def _batch(image_shape):
    images, labels = _arrays("train")
    return images[:BATCH].reshape(BATCH, *image_shape), labels[:BATCH]


def tinytorch_step(kind: str, backend: str, seed: int = 0):
    """A fresh model and Adam, and a zero-argument function that runs one step on the fixed
    batch and returns the loss."""
    tt.manual_seed(seed)
    if kind == "mlp":
        model, (images, labels) = build_mlp(), _batch((64,))
    else:
        model, (images, labels) = models.digits_cnn(CNN_CHANNELS), _batch((1, 8, 8))
    opt = tt.optim.Adam(model.parameters(), lr=2e-3)
    x, y = tt.tensor(images), tt.tensor(labels)

    def step() -> float:
        with tt.backend(backend):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.item()

    return step


def torch_step(torch, kind: str, seed: int = 0):
    nn = torch.nn
    torch.manual_seed(seed)
    if kind == "mlp":
        model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
        images, labels = _batch((64,))
    else:
        c1, c2 = CNN_CHANNELS
        model = nn.Sequential(nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(c2 * 2 * 2, 10))
        images, labels = _batch((1, 8, 8))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)

    def step() -> float:
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


@pytest.mark.parametrize("backend", ["jit", "numpy"])
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_train_step(benchmark, kind, backend):
    benchmark.group = f"one training step, digits {kind}, batch {BATCH}, Adam"
    step = tinytorch_step(kind, backend)
    oracle = tinytorch_step(kind, "numpy")
    losses = [step() for _ in range(3)]  # warm: compile, Adam state
    np.testing.assert_allclose(losses, [oracle() for _ in range(3)], rtol=1e-4)
    benchmark(step)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_train_step_torch(benchmark, kind):
    torch = pytest.importorskip("torch")
    benchmark.group = f"one training step, digits {kind}, batch {BATCH}, Adam"
    step = torch_step(torch, kind)
    for _ in range(3):
        step()
    benchmark(step)
