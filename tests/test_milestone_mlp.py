"""The module 02/04/06 milestone: an MLP trained with tinytorch's own kernels on the embedded
digits reaches >= 97% test accuracy on the jit backend, and every CPU backend computes the
same losses step for step."""

import numpy as np
import pytest

from tinytorch.examples import mlp_digits


def test_mlp_reaches_97_percent_test_accuracy_on_jit():
    result = mlp_digits.train_mlp("jit", seed=0)  # 30 epochs, Adam lr 2e-3
    assert result["test_accuracy"] >= 0.97, result["test_accuracy"]
    losses = result["losses"]
    assert np.mean(losses[-20:]) < 0.2 * np.mean(losses[:20])  # it learned, smoothly


@pytest.mark.parametrize("other", ["naive", "numpy"])
def test_backends_agree_on_the_first_training_steps(other):
    steps = 3
    jit = mlp_digits.train_mlp("jit", epochs=1, batch_size=8, max_steps=steps, seed=1)
    theirs = mlp_digits.train_mlp(other, epochs=1, batch_size=8, max_steps=steps, seed=1)
    assert len(jit["losses"]) == len(theirs["losses"]) == steps
    np.testing.assert_allclose(theirs["losses"], jit["losses"], rtol=1e-5, atol=1e-5)


def test_same_seed_same_run_and_another_seed_another_run():
    a = mlp_digits.train_mlp("jit", epochs=1, max_steps=5, seed=3)
    b = mlp_digits.train_mlp("jit", epochs=1, max_steps=5, seed=3)
    c = mlp_digits.train_mlp("jit", epochs=1, max_steps=5, seed=4)
    assert a["losses"] == b["losses"]
    assert a["losses"] != c["losses"]


def test_torch_trains_the_same_model_to_a_similar_accuracy():
    pytest.importorskip("torch")
    seconds, accuracy = mlp_digits.torch_mlp_epoch_seconds(epochs=2)
    assert len(seconds) == 2 and accuracy > 0.8


def test_memory_does_not_grow_over_thousands_of_training_steps():
    """Saved tensors, gradients and optimiser state are released or reused: a real step
    (nn, fused cross-entropy, backward, Adam) 2,000 times leaves memory flat."""

    import tinytorch as tt
    from tinytorch.nn import functional as F

    tt.manual_seed(0)
    model = mlp_digits.build_mlp()
    opt = tt.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = tt.tensor(rng.random((32, 64), dtype=np.float32))
    y = tt.tensor(rng.integers(0, 10, 32))

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    growth = tt.testing.memory_growth(step, steps=2000, warmup=150)
    assert growth < 64 * 1024, f"memory grew by {growth} bytes over 2000 steps"
