"""The module 03 milestones: a LeNet-style CNN takes a training step on CIFAR-10-shaped input
on every CPU backend with the same loss (naive at batch 1), and tt.summary accounts for a
CNN's memory layer by layer. (The digits CNN reaching >= 98% with jit is the default
`tinytorch train`, tested in tests/test_cli_train.py.)"""

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.nn import functional as F
from tinytorch.train import models


def lenet_step(backend: str, batch: int, seed: int = 0) -> tuple[float, list]:
    """One SGD step of LeNet on N x 3 x 32 x 32: the loss, and the updated parameters."""
    tt.manual_seed(seed)
    model = models.lenet((3, 32, 32))
    opt = tt.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(seed)
    x = tt.tensor(rng.standard_normal((batch, 3, 32, 32)).astype(np.float32))
    y = tt.tensor(rng.integers(0, 10, batch))
    with tt.backend(backend):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item(), [p.numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("backend, batch", [("naive", 1), ("numpy", 8), ("numpy", 1)])
def test_lenet_step_on_cifar_shaped_input_agrees_with_jit(backend, batch):
    jit_loss, jit_params = lenet_step("jit", batch)
    loss, params = lenet_step(backend, batch)
    assert np.isfinite(jit_loss)
    np.testing.assert_allclose(loss, jit_loss, rtol=1e-5)
    for ours, theirs in zip(params, jit_params, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_lenet_matches_torch_on_the_same_weights():
    torch = pytest.importorskip("torch")
    tt.manual_seed(0)
    model = models.lenet((3, 32, 32))
    layers = [m for m in model.modules() if isinstance(m, (tt.nn.Conv2d, tt.nn.Linear))]
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(400, 120), torch.nn.ReLU(),
        torch.nn.Linear(120, 84), torch.nn.ReLU(), torch.nn.Linear(84, 10))
    torch_layers = [m for m in theirs if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        for ours, t in zip(layers, torch_layers, strict=True):
            t.weight.copy_(torch.from_numpy(ours.weight.numpy()))
            t.bias.copy_(torch.from_numpy(ours.bias.numpy()))
    x = np.random.default_rng(1).standard_normal((4, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(model(tt.tensor(x)).detach().numpy(),
                               theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_summary_accounts_for_a_cnn():
    tt.manual_seed(0)
    model = models.digits_cnn(channels=(4, 8))
    report = tt.summary(model, (32, 1, 8, 8))
    kinds = [r.kind for r in report.rows]
    assert kinds[:3] == ["Conv2d", "ReLU", "MaxPool2d"] and kinds[-1] == "Linear"
    conv = report.rows[0]
    assert conv.output_shape == (32, 4, 8, 8)
    assert conv.flops == 32 * 4 * 8 * 8 * (2 * 1 * 3 * 3) + 32 * 4 * 8 * 8
    assert conv.param_bytes == (4 * 1 * 3 * 3 + 4) * 4
    assert conv.workspace_bytes == 32 * (1 * 3 * 3) * (8 * 8) * 4  # the im2col columns
    assert conv.saved_bytes >= 32 * 1 * 8 * 8 * 4  # at least its input
    pool = report.rows[2]
    assert pool.output_shape == (32, 4, 4, 4)
    assert pool.saved_bytes >= 32 * 4 * 4 * 4 * 8  # the argmax indices, int64
    assert report.total("param_bytes") == sum(p.nbytes for p in model.parameters())


def test_the_conv_ladder_measures_checked_rungs_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    from tinytorch.examples import conv_ladder

    rows = conv_ladder.ladder(batch=2, rounds=1, rungs=["naive", "jit", "im2col"])
    assert [r["rung"] for r in rows][:3] == ["naive", "jit", "im2col"]
    assert all(r["seconds"] > 0 for r in rows)
    assert "| jit |" in conv_ladder.format_table(rows)
    conv_ladder.plot(rows, tmp_path / "ladder.png")
    assert (tmp_path / "ladder.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
