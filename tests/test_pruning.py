"""Pruning (tinytorch.pruning): magnitude masks and their survival through optimiser steps,
global vs per-layer ranking, structured pruning that rebuilds smaller layers (checked
exactly against the masked dense model), distillation, fine-tuning, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import nn
from tinytorch import pruning as P
from tinytorch.testing import assert_close, gradcheck
from tinytorch.train.models import cnn, count_parameters, mlp


def small_cnn(dtype=tt.float32, batchnorm=True):
    """Conv -> BN -> ReLU -> pool, twice, then Flatten -> Linear -> ReLU -> Linear."""
    layers = [nn.Conv2d(1, 4, 3, padding=1, dtype=dtype)]
    layers += [nn.BatchNorm2d(4, dtype=dtype)] if batchnorm else []
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1, dtype=dtype)]
    layers += [nn.BatchNorm2d(6, dtype=dtype)] if batchnorm else []
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 2 * 2, 8, dtype=dtype),
               nn.ReLU(), nn.Linear(8, 3, dtype=dtype)]
    return nn.Sequential(*layers)


def randomise_batchnorm(model, rng):
    """Non-trivial running statistics and affine parameters, so the rebuild is tested."""
    with tt.no_grad():
        for m in model:
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean[...] = tt.tensor(rng.normal(size=c), dtype=m.weight.dtype)
                m.running_var[...] = tt.tensor(rng.uniform(0.5, 2, c), dtype=m.weight.dtype)
                m.weight[...] = tt.tensor(rng.uniform(0.5, 2, c), dtype=m.weight.dtype)
                m.bias[...] = tt.tensor(rng.normal(size=c), dtype=m.weight.dtype)


# --- amounts and layer types --------------------------------------------------------------

BAD_AMOUNTS = [-0.1, 1.0, 1.5, float("nan"), float("inf")]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=str)
def test_amount_outside_0_1_is_a_value_error_naming_it(amount):
    model = mlp((1, 2, 2), hidden=[4])
    calls = [lambda: P.l1_unstructured(model[1], amount),
             lambda: P.global_unstructured(model, amount),
             lambda: P.magnitude_prune(model, amount),
             lambda: P.prune_channels(model, amount),
             lambda: P.prune_model(model, amount, structured=True)]
    for call in calls:
        with pytest.raises(ValueError, match=rf"amount must be in \[0, 1\), got {amount!r}"):
            call()
    assert P.sparsity(model)["zeros"] == 0  # nothing was touched


def test_amount_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="amount must be a number in \\[0, 1\\), got str"):
        P.l1_unstructured(nn.Linear(2, 2), "0.5")
    with pytest.raises(TypeError, match="got bool True"):
        P.prune_channels(mlp((1, 2, 2), hidden=[4]), True)


def test_unsupported_layer_types_are_type_errors():
    with pytest.raises(TypeError, match="cannot prune a ReLU; supported layers: Linear, "
                                        "Conv2d"):
        P.l1_unstructured(nn.ReLU(), 0.5)
    with pytest.raises(TypeError, match="cannot prune a BatchNorm2d"):
        P.global_unstructured([nn.Linear(2, 2), nn.BatchNorm2d(2)], 0.5)
    with pytest.raises(TypeError, match="has no Linear or Conv2d layer"):
        P.magnitude_prune(nn.Sequential(nn.ReLU()), 0.5)
    with pytest.raises(TypeError, match="expected an nn.Sequential"):
        P.prune_channels(nn.Linear(4, 4), 0.5)
    with pytest.raises(TypeError, match="layer 2 is a Softmax, which structured pruning "
                                        "does not support"):
        P.prune_channels(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Softmax(dim=1),
                                       nn.Linear(4, 2)), 0.5)
    # after the last layer, a softmax mixes only outputs that are never pruned
    P.prune_channels(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2),
                                   nn.LogSoftmax(dim=1)), 0.5)


def test_structures_that_cannot_be_pruned_by_channel_are_value_errors():
    grouped = nn.Sequential(nn.Conv2d(2, 4, 1, groups=2), nn.ReLU(), nn.Conv2d(4, 2, 1))
    with pytest.raises(ValueError, match="layer 0 is a Conv2d with groups=2"):
        P.prune_channels(grouped, 0.5)
    flat = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Flatten(start_dim=2), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="only Flatten\\(\\) \\(start_dim=1, end_dim=-1\\)"):
        P.prune_channels(flat, 0.5)
    bad = nn.Sequential(nn.Conv2d(1, 3, 1), nn.Flatten(), nn.Linear(8, 2))
    with pytest.raises(ValueError, match="in_features=8, not a multiple of the 3 channels"):
        P.prune_channels(bad, 0.5)


def test_sigmoid_between_pruned_layers_is_refused_but_fine_after_the_last():
    # sigmoid(0) = 0.5: a pruned channel would feed 0.5 * weights on, not zeros
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Sigmoid(), nn.Flatten(), nn.Linear(4 * 2 * 2, 3))
    with pytest.raises(ValueError, match=r"layer 1 is a Sigmoid between two pruned layers; "
                                         r"sigmoid\(0\) = 0.5"):
        P.prune_channels(model, 0.5)
    with pytest.raises(ValueError, match="layer 1 is a Sigmoid"):
        P.prune_model(model, 0.5, structured=True)
    tail = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2), nn.Sigmoid())
    assert P.prune_channels(tail, 0.5)[0].out_features == 3
    bn = nn.Sequential(nn.Conv2d(1, 4, 1), nn.BatchNorm2d(4, affine=False), nn.Conv2d(4, 2, 1))
    with pytest.raises(ValueError, match=r"layer 1 is a BatchNorm2d\(affine=False\) between "
                                         "two pruned layers"):
        P.prune_channels(bn, 0.5)


def test_a_linear_whose_outputs_are_not_the_next_layers_inputs_is_refused(rng):
    # Linear on (N, 2, 4) -> (N, 2, 6), flattened to 12 features ordered position-major:
    # removing neuron j must drop features j and 6 + j, not a contiguous pair.
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Flatten(), nn.Linear(12, 3))
    assert model(tt.tensor(rng.standard_normal((2, 2, 4)).astype(np.float32))).shape == (2, 3)
    with pytest.raises(ValueError, match="the Linear at layer 3 has in_features=12 but the "
                                         "Linear at layer 0 feeding it has out_features=6"):
        P.prune_channels(model, 0.5)
    into_conv = nn.Sequential(nn.Linear(4, 4), nn.Conv2d(4, 2, 1))
    with pytest.raises(ValueError, match="the Linear at layer 0 feeds the Conv2d at layer 1"):
        P.prune_channels(into_conv, 0.5)
    # a 2-D input flattened is a no-op: still prunable, and exact
    ok = nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.ReLU(), nn.Flatten(), nn.Linear(6, 3))
    assert P.prune_channels(ok, 0.5)[4].in_features == 3


# --- magnitude pruning ----------------------------------------------------------------------

@pytest.mark.parametrize("amount", [0.0, 0.3, 0.5, 0.9])
def test_l1_unstructured_zeros_the_smallest_magnitudes(rng, amount):
    layer = nn.Linear(7, 5, dtype=tt.float64)
    w = rng.standard_normal((5, 7))
    layer.weight = nn.Parameter(tt.tensor(w))
    P.l1_unstructured(layer, amount)
    k = round(amount * w.size)
    expected = w.copy()
    expected.reshape(-1)[np.argsort(np.abs(w).reshape(-1))[:k]] = 0
    np.testing.assert_array_equal(layer.weight.numpy(), expected)
    np.testing.assert_array_equal(layer.weight_mask.numpy(), (expected != 0).astype(float))
    assert "weight_mask" in layer.state_dict()


def test_pruning_again_keeps_the_earlier_zeros(rng):
    layer = P.l1_unstructured(nn.Conv2d(3, 4, 3), 0.5)
    first = layer.weight.numpy() == 0
    P.l1_unstructured(layer, 0.8)
    now = layer.weight.numpy() == 0
    assert now[first].all() and now.mean() == pytest.approx(0.8, abs=1 / now.size)
    P.l1_unstructured(layer, 0.2)  # a smaller amount never un-prunes
    assert (layer.weight.numpy() == 0).mean() == now.mean()


def test_global_ranks_across_layers_and_per_layer_does_not(rng):
    big, small = nn.Linear(10, 10), nn.Linear(10, 10)
    # every weight of `big` outranks every weight of `small`
    big.weight = nn.Parameter(tt.tensor(rng.uniform(1, 2, (10, 10)).astype(np.float32)))
    small.weight = nn.Parameter(tt.tensor(rng.uniform(-0.5, 0.5, (10, 10))
                                          .astype(np.float32)))
    model = nn.Sequential(big, nn.ReLU(), small)
    P.global_unstructured(model, 0.5)
    report = P.sparsity(model)
    assert report["sparsity"] == 0.5
    assert report["layers"]["0"]["zeros"] == 0 and report["layers"]["2"]["sparsity"] == 1.0
    per_layer = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 10))
    P.magnitude_prune(per_layer, 0.5)
    assert [v["sparsity"] for v in P.sparsity(per_layer)["layers"].values()] == [0.5, 0.5]


def test_remove_makes_pruning_permanent():
    layer = P.l1_unstructured(nn.Linear(4, 4), 0.5)
    zeros = layer.weight.numpy() == 0
    P.remove(layer)
    assert not P.is_pruned(layer) and "weight_mask" not in layer.state_dict()
    assert (layer.weight.numpy()[zeros] == 0).all()
    with pytest.raises(ValueError, match="has no pruning mask"):
        P.remove(layer)


def _train_steps(model, opt, rng, steps=5):
    for _ in range(steps):
        x = tt.tensor(rng.standard_normal((8, 6)).astype(np.float32))
        y = tt.tensor(rng.integers(0, 3, 8))
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("make_opt", [
    lambda p: tt.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
    lambda p: tt.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: tt.optim.Adam(p, lr=0.05),
    lambda p: tt.optim.AdamW(p, lr=0.05, weight_decay=0.1),
], ids=["sgd-momentum-decay", "nesterov", "adam", "adamw"])
def test_masks_survive_optimiser_steps(rng, make_opt):
    _ = tt.manual_seed(1)
    model = P.magnitude_prune(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)),
                              0.6)
    masks = [m.weight_mask.numpy().copy() for m in (model[0], model[2])]
    before = [m.weight.numpy().copy() for m in (model[0], model[2])]
    opt = make_opt(list(model.parameters()))
    keeper = P.keep_masks(opt, model)
    _train_steps(model, opt, rng)
    for layer, mask, old in zip((model[0], model[2]), masks, before, strict=True):
        w = layer.weight.numpy()
        assert (w[mask == 0] == 0).all()  # exactly zero, not merely small
        assert (w[mask == 1] != old[mask == 1]).any()  # the others did train
    keeper.remove()  # the plain optimiser again: pruned weights are free to move
    _train_steps(model, opt, rng, steps=2)
    assert (model[0].weight.numpy()[masks[0] == 0] != 0).any()


def test_keep_masks_checks_its_arguments():
    model = P.magnitude_prune(nn.Sequential(nn.Linear(2, 2)), 0.5)
    opt = tt.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="optimizer must be a tt.optim optimizer, got list"):
        P.keep_masks([], model)
    with pytest.raises(TypeError, match="model must be an nn.Module, got SGD"):
        P.keep_masks(opt, opt)
    keeper = P.keep_masks(opt, model)
    with pytest.raises(ValueError, match="already wrapped"):
        P.keep_masks(opt, model)
    keeper.remove()
    P.keep_masks(opt, model).remove()


def test_sparsity_report_and_table():
    model = P.magnitude_prune(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2)), 0.5)
    report = P.sparsity(model)
    assert report["numel"] == 30 and report["zeros"] == 15
    assert report["layers"]["0"] == {"shape": (5, 4), "numel": 20, "zeros": 10,
                                     "sparsity": 0.5}
    table = P.format_sparsity(report)
    assert table.splitlines()[0].startswith("layer") and "total" in table
    with pytest.raises(TypeError, match="expected an nn.Module"):
        P.sparsity([1])


# --- structured pruning ---------------------------------------------------------------------

def _zero_pruned_channels(model, plan):
    """The masked dense twin: each pruned channel's filter, bias and batch-norm scale and
    shift set to zero, so it outputs exactly 0 (in eval mode)."""
    import copy

    twin = copy.deepcopy(model)
    layers = list(twin)
    with tt.no_grad():
        for index, keep in plan.items():
            dropped = np.setdiff1d(np.arange(layers[index].weight.shape[0]), keep)
            for t in (layers[index].weight, layers[index].bias):
                arr = t.numpy().copy()
                arr[dropped] = 0
                t[...] = tt.tensor(arr)
            nxt = layers[index + 1]
            if isinstance(nxt, nn.BatchNorm2d):
                for t in (nxt.weight, nxt.bias):
                    arr = t.numpy().copy()
                    arr[dropped] = 0
                    t[...] = tt.tensor(arr)
    return twin


@pytest.mark.parametrize("batchnorm", [True, False])
def test_structured_pruning_equals_the_masked_dense_model(backend, rng, batchnorm):
    _ = tt.manual_seed(2)
    model = small_cnn(tt.float64, batchnorm)
    randomise_batchnorm(model, rng)
    model.eval()
    plan = P.plan_channels(model, 0.5)
    convs = [i for i, m in enumerate(model) if isinstance(m, nn.Conv2d)]
    assert sorted(plan) == convs + [len(model) - 3]  # every conv and the hidden Linear
    small = P.prune_channels(model, 0.5)
    twin = _zero_pruned_channels(model, plan)
    x = tt.tensor(rng.standard_normal((2, 1, 8, 8)))
    with tt.no_grad():
        assert_close(small(x), twin(x))
        assert not np.allclose(small(x).numpy(), model(x).numpy())  # it did prune
    assert [small[i].out_channels for i in convs] == [2, 3]
    assert small[convs[1]].in_channels == 2
    lin = len(model) - 3
    assert (small[lin].in_features, small[lin].out_features) == (3 * 2 * 2, 4)
    assert small[-1].in_features == 4 and small[-1].out_features == 3  # outputs kept
    assert not small.training and model[0].out_channels == 4  # original untouched


def test_structured_pruning_keeps_the_largest_norm_channels(rng):
    model = mlp((1, 2, 2), hidden=[6])
    w = rng.standard_normal((6, 4)).astype(np.float32)
    w[[1, 4]] *= 1e-3  # the two weakest neurons
    model[1].weight = nn.Parameter(tt.tensor(w))
    assert P.plan_channels(model, 1 / 3)[1].tolist() == [0, 2, 3, 5]
    assert P.plan_channels(model, 1 / 3, norm="l2")[1].tolist() == [0, 2, 3, 5]
    assert P.plan_channels(model, 0.99)[1].size == 1  # at least one channel survives
    with pytest.raises(ValueError, match="norm must be 'l1' or 'l2'"):
        P.channel_norms(model[1], "l3")


def test_structured_pruning_carries_unstructured_masks_along():
    _ = tt.manual_seed(0)
    model = P.magnitude_prune(mlp((1, 2, 2), hidden=[6]), 0.5)
    small = P.prune_channels(model, 0.5)
    for m in (small[1], small[3]):
        assert m.weight_mask.shape == m.weight.shape
        assert (m.weight.numpy()[m.weight_mask.numpy() == 0] == 0).all()


def test_the_pruned_digits_cnn_is_smaller_and_trains():
    from tinytorch.data.datasets import Digits

    _ = tt.manual_seed(0)
    model = cnn((1, 8, 8), channels=[8, 16])
    small = P.prune_model(model, 0.5, structured=True)
    assert count_parameters(small) < 0.4 * count_parameters(model)
    images, labels = Digits("train").tensors()
    x, y = (images[:256] - 0.3) * 3.0, labels[:256]  # roughly standardised pixels
    opt = tt.optim.Adam(small.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = nn.functional.cross_entropy(small(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# --- distillation ---------------------------------------------------------------------------

def _kd_numpy(s, t, y, T, alpha):
    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    log_pt, log_ps = log_softmax(t / T), log_softmax(s / T)
    kl = (np.exp(log_pt) * (log_pt - log_ps)).sum() / s.shape[0]
    ce = -log_softmax(s)[np.arange(len(y)), y].mean()
    return alpha * kl * T * T + (1 - alpha) * ce


@pytest.mark.parametrize("T,alpha", [(4.0, 0.9), (1.0, 0.5), (2.5, 1.0), (3.0, 0.0)])
def test_distillation_loss_matches_the_numpy_formula(backend, rng, T, alpha):
    s, t = rng.normal(size=(5, 4)) * 3, rng.normal(size=(5, 4)) * 3
    y = rng.integers(0, 4, 5)
    got = P.distillation_loss(tt.tensor(s), tt.tensor(t), tt.tensor(y), T=T, alpha=alpha)
    assert got.item() == pytest.approx(_kd_numpy(s, t, y, T, alpha), rel=1e-10)


@pytest.mark.parametrize("T,alpha", [(4.0, 0.9), (1.0, 0.3)])
def test_distillation_loss_gradcheck(backend, rng, T, alpha):
    s = tt.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    t = tt.tensor(rng.normal(size=(3, 4)), requires_grad=True)  # a teacher's, detached
    y = tt.tensor(rng.integers(0, 4, 3))
    assert gradcheck(lambda a: P.distillation_loss(a, t, y, T=T, alpha=alpha), [s])
    P.distillation_loss(s, t, y, T=T, alpha=alpha).backward()
    assert t.grad is None  # the teacher learns nothing from the student


def test_distillation_loss_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    s, t = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    y = rng.integers(0, 5, 6)
    T, alpha = 3.0, 0.7
    ts = torch.tensor(s, requires_grad=True)
    soft = torch.nn.functional.kl_div(torch.log_softmax(ts / T, 1),
                                      torch.softmax(torch.tensor(t) / T, 1),
                                      reduction="batchmean") * T * T
    expected = alpha * soft + (1 - alpha) * torch.nn.functional.cross_entropy(
        ts, torch.tensor(y))
    expected.backward()
    mine = tt.tensor(s, requires_grad=True)
    got = P.distillation_loss(mine, tt.tensor(t), tt.tensor(y), T=T, alpha=alpha)
    got.backward()
    assert got.item() == pytest.approx(expected.item(), rel=1e-12)
    assert_close(mine.grad, ts.grad.numpy())


def test_bad_distillation_input_raises_before_any_kernel(spy):
    s, t, y = tt.zeros(2, 3), tt.zeros(2, 3), tt.tensor([0, 2])
    with pytest.raises(ValueError, match=r"teacher_logits \(float32 \(2, 4\)\) must match"):
        P.distillation_loss(s, tt.zeros(2, 4), y)
    with pytest.raises(ValueError, match="temperature T must be a finite number > 0, "
                                         "got 0.0"):
        P.distillation_loss(s, t, y, T=0)
    with pytest.raises(ValueError, match="alpha must be in \\[0, 1\\].*got 1.5"):
        P.distillation_loss(s, t, y, alpha=1.5)
    with pytest.raises(ValueError, match="target 3 is out of range for 3 classes"):
        P.distillation_loss(s, t, tt.tensor([0, 3]))
    with pytest.raises(TypeError, match="target must hold class indices"):
        P.distillation_loss(s, t, tt.zeros(2))
    with pytest.raises(ValueError, match=r"target must have shape \(2,\)"):
        P.distillation_loss(s, t, tt.tensor([0]))
    with pytest.raises(ValueError, match="must be 2-D"):
        P.distillation_loss(tt.zeros(3), tt.zeros(3), tt.tensor(0))
    with pytest.raises(TypeError, match="T must be a number, got str"):
        P.distillation_loss(s, t, y, T="4")
    assert spy == []


def test_finetune_keeps_masks_and_learns_from_a_teacher(rng):
    _ = tt.manual_seed(0)
    x = tt.tensor(rng.standard_normal((64, 6)).astype(np.float32))
    y = tt.tensor((x.numpy()[:, 0] > 0).astype(np.int64))
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    teacher = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    P.finetune(teacher, batches, 10, lr=1e-2)
    student = P.prune_model(teacher, 0.7)
    zeros = [m.weight.numpy() == 0 for m in (student[0], student[2])]
    out = P.finetune(student, batches, 3, teacher=teacher, lr=1e-2, val_loader=batches)
    assert [r["epoch"] for r in out["history"]] == [1, 2, 3]
    assert 0.0 <= out["history"][-1]["val_accuracy"] <= 1.0
    for m, z in zip((student[0], student[2]), zeros, strict=True):
        assert (m.weight.numpy()[z] == 0).all()
    assert "step" not in type(teacher).__dict__  # nothing left wrapped
    with pytest.raises(ValueError, match="epochs must be >= 0"):
        P.finetune(student, batches, -1)
    with pytest.raises(ValueError, match="alpha must be in"):
        P.finetune(student, batches, 1, teacher=teacher, alpha=2)
    with pytest.raises(TypeError, match="teacher must be an nn.Module or None"):
        P.finetune(student, batches, 1, teacher="big")


@pytest.mark.slow
def test_digits_cnn_recovers_accuracy_after_structured_pruning_and_distillation():
    """The recipe of docs/pruning.md, shortened: train the default digits CNN (24, 48
    channels), prune half its channels, fine-tune with the teacher; the pruned model ends
    within 1 point of the teacher's test accuracy (the issue's bar)."""
    from tinytorch.config import load_config
    from tinytorch.train.experiment import build

    cfg = load_config("digits_cnn", ["train.epochs=8"])
    exp = build(cfg, log=None, progress=False)
    exp.trainer.fit(epochs=8)
    teacher = exp.model
    before = P.accuracy(teacher, exp.data.test)
    small = P.prune_model(teacher, 0.5, structured=True)
    assert [m.out_channels for m in small if isinstance(m, nn.Conv2d)] == [12, 24]
    tt.manual_seed(0)
    P.finetune(small, exp.data.train, 5, teacher=teacher, lr=9e-4)
    after = P.accuracy(small, exp.data.test)
    assert after >= before - 0.01, (before, after)


# --- saving and loading ---------------------------------------------------------------------

def _same_outputs(a, b, x):
    with tt.no_grad():
        assert_close(a.eval()(x), b.eval()(x))


def test_save_and_load_a_structured_pruned_model(tmp_path, rng):
    _ = tt.manual_seed(0)
    model = small_cnn()
    randomise_batchnorm(model, rng)
    small = P.prune_channels(model, 0.5)
    path = P.save_pruned(tmp_path / "small", small, meta={"amount": 0.5})
    record = json.loads(path.read_text())
    assert record["format"] == "tinytorch-pruned-model" and record["meta"] == {"amount": 0.5}
    assert [e["out_channels"] for e in record["architecture"] if e["type"] == "Conv2d"] == \
        [2, 3]
    loaded = P.load_pruned(path)
    _same_outputs(loaded, small, tt.tensor(rng.standard_normal((2, 1, 8, 8))
                                           .astype(np.float32)))
    assert P.describe(loaded) == P.describe(small)


def test_save_and_load_keeps_masks_and_sparse_layers(tmp_path, rng):
    _ = tt.manual_seed(0)
    masked = P.prune_model(mlp((1, 4, 4), hidden=[12]), 0.85)
    loaded = P.load_pruned(P.save_pruned(tmp_path / "masked.json", masked))
    assert P.is_pruned(loaded[1]) and P.is_pruned(loaded[3])
    x = tt.tensor(rng.standard_normal((3, 1, 4, 4)).astype(np.float32))
    _same_outputs(loaded, masked, x)
    sparse = P.to_sparse(masked, min_sparsity=0.5)
    assert [type(m).__name__ for m in sparse][1] == "SparseLinear"
    back = P.load_pruned(P.save_pruned(tmp_path / "sparse", sparse))
    assert type(back[1]).__name__ == "SparseLinear"
    _same_outputs(back, masked, x)


def test_load_refuses_damaged_or_missing_files(tmp_path):
    path = P.save_pruned(tmp_path / "m", mlp((1, 2, 2), hidden=[3]))
    npz = tmp_path / "m.npz"
    data = bytearray(npz.read_bytes())
    data[-5] ^= 0xFF
    npz.write_bytes(bytes(data))
    with pytest.raises(P.PrunedModelError, match="size or sha256 differs"):
        P.load_pruned(path)
    npz.unlink()
    with pytest.raises(P.PrunedModelError, match="its arrays file m.npz is missing"):
        P.load_pruned(path)
    with pytest.raises(P.PrunedModelError, match="no such pruned-model file"):
        P.load_pruned(tmp_path / "absent")
    (tmp_path / "other.json").write_text('{"format": "something-else"}')
    with pytest.raises(P.PrunedModelError, match="not a tinytorch-pruned-model file"):
        P.load_pruned(tmp_path / "other.json")
    with pytest.raises(TypeError, match="a pruned model is saved as an nn.Sequential"):
        P.save_pruned(tmp_path / "x", nn.Linear(2, 2))


def test_the_saved_parameter_count_covers_sparse_layers(tmp_path):
    _ = tt.manual_seed(0)
    masked = P.prune_model(mlp((1, 4, 4), hidden=[12]), 0.85)
    sparse = P.to_sparse(masked, min_sparsity=0.0)
    assert [type(m).__name__ for m in sparse][1::2] == ["SparseLinear", "SparseLinear"]
    weights = [masked[1].weight.numpy(), masked[3].weight.numpy()]
    nonzero = sum(int(np.count_nonzero(w)) for w in weights) + 12 + 10  # + the biases
    for name, model in (("masked", masked), ("sparse", sparse)):
        record = json.loads(P.save_pruned(tmp_path / name, model).read_text())
        assert record["parameters"] == count_parameters(masked) == 16 * 12 + 12 + 12 * 10 + 10
        assert record["parameters"] - record["zeros"] == nonzero


def _hand_edited(tmp_path, edit):
    """A saved sparse MLP (layers 1 and 3 SparseLinear), its JSON changed by ``edit``."""
    _ = tt.manual_seed(0)
    model = P.to_sparse(P.prune_model(mlp((1, 4, 4), hidden=[12]), 0.85), min_sparsity=0.0)
    path = P.save_pruned(tmp_path / "m", model)
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record))
    return path, model


def _set(key, value, layer=1):
    def edit(record):
        if value is None:
            del record["architecture"][layer][key]
        else:
            record["architecture"][layer][key] = value
    return edit


def _drop(key):
    return lambda record: record.pop(key)


def _arch(spec):
    return lambda record: record.update(architecture=spec)


@pytest.mark.parametrize("edit, message", [
    (_drop("npz"), "entry 'npz' must be {'file'"),
    (_drop("architecture"), "no 'architecture' entry"),
    (lambda r: r["npz"].update(file="../m.npz"), "entry 'npz' must be {'file'"),
    (_set("out_features", "12"), "architecture entry 1 (SparseLinear): out_features must be "
                                 "an int, got str '12'"),
    (_set("nnz", -1), "architecture entry 1 (SparseLinear): nnz must be >= 0, got -1"),
    (_set("out_features", 10 ** 12), "architecture entry 1 (SparseLinear): it declares "
                                     "1.indptr of shape (1000000000001,), but the arrays "
                                     "file holds shape (13,)"),
    (_set("bias", None), "architecture entry 1 (SparseLinear) has no 'bias' field"),
    (_set("dtype", "float16"), "architecture entry 1 (SparseLinear)"),
    (_arch([{"type": "Conv2d", "in_channels": 1, "out_channels": 2}]),
     "architecture entry 0 (Conv2d) has no 'groups' field"),
    (_arch([{"type": "Conv2d", "in_channels": 1, "out_channels": 2, "groups": 1}]),
     "architecture entry 0 (Conv2d) has no 'kernel_size' field"),
    (_arch([{"type": "Linear", "in_features": 16, "out_features": 10 ** 12, "bias": True,
             "dtype": "float32"}]),
     "architecture entry 0 (Linear): the arrays file has no '0.weight'"),
    (_arch([{"type": "Sequential"}]), "architecture entry 0 (Sequential) has no 'layers'"),
    (_arch({"type": "Linear"}), "architecture: expected a list of layer dicts, got dict"),
    (_arch([{"type": ["Linear"]}]), "architecture entry 0 has unknown type ['Linear']"),
])
def test_load_turns_every_hand_edit_into_a_pruned_model_error(tmp_path, edit, message):
    path, _ = _hand_edited(tmp_path, edit)
    with pytest.raises(P.PrunedModelError) as err:
        P.load_pruned(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_load_compares_declared_sizes_with_the_arrays_before_allocating(tmp_path):
    path = P.save_pruned(tmp_path / "dense", mlp((1, 4, 4), hidden=[12]))
    record = json.loads(path.read_text())
    record["architecture"][1]["out_features"] = 10 ** 12  # 4e12 float32 bytes if allocated
    path.write_text(json.dumps(record))
    with pytest.raises(P.PrunedModelError, match=r"dense.json: architecture entry 1 "
                                                 r"\(Linear\): it declares 1.weight of "
                                                 r"shape \(1000000000000, 16\), but the "
                                                 r"arrays file holds shape \(12, 16\)"):
        P.load_pruned(path)


def test_load_validates_the_csr_structure_before_any_forward_pass(tmp_path):
    # 12 x 16 with column indices up to 15; declare 10 columns: every size still matches
    # the arrays, but an index >= 10 would make the compiled kernel read outside x.
    path, model = _hand_edited(tmp_path, _set("in_features", 10))
    assert int(model[1].indices.numpy().max()) >= 10
    with pytest.raises(P.PrunedModelError, match=r"architecture entry 1 \(SparseLinear\) "
                                                 r"has an invalid CSR weight: .*column index "
                                                 r"\d+ is out of range for 10 columns"):
        P.load_pruned(path)


def test_load_accepts_the_npz_path_and_a_loaded_sparse_model_runs_under_no_grad(tmp_path,
                                                                                 rng):
    path, model = _hand_edited(tmp_path, lambda record: None)
    loaded = P.load_pruned(path.with_suffix(".npz"))
    x = tt.tensor(rng.standard_normal((3, 1, 4, 4)).astype(np.float32))
    _same_outputs(loaded, model, x)
    assert "tt.no_grad()" in P.load_pruned.__doc__ and "inference-only" in \
        P.load_pruned.__doc__


# --- to_sparse ------------------------------------------------------------------------------

def test_to_sparse_swaps_only_layers_above_the_threshold(rng):
    _ = tt.manual_seed(0)
    model = nn.Sequential(P.l1_unstructured(nn.Linear(8, 8), 0.9), nn.ReLU(),
                          P.l1_unstructured(nn.Linear(8, 4), 0.5))
    swapped = P.to_sparse(model)  # default: the measured crossover
    assert [type(m).__name__ for m in swapped] == ["SparseLinear", "ReLU", "Linear"]
    assert [type(m).__name__ for m in P.to_sparse(model, 0.0)] == \
        ["SparseLinear", "ReLU", "SparseLinear"]
    assert type(model[0]).__name__ == "Linear"  # the original is untouched
    x = tt.tensor(rng.standard_normal((5, 8)).astype(np.float32))
    _same_outputs(swapped, model, x)
    assert P.sparsity(swapped)["zeros"] == P.sparsity(model)["zeros"]
    with pytest.raises(ValueError, match="min_sparsity must be in \\[0, 1\\], got 1.5"):
        P.to_sparse(model, 1.5)
    with pytest.raises(TypeError, match="pass a model that contains the Linear layer"):
        P.to_sparse(nn.Linear(2, 2))


def test_describe_and_build_refuse_what_they_cannot_rebuild():
    class Custom(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="layer 1 is a Custom, which a pruned-model file "
                                        "cannot rebuild"):
        P.describe(nn.Sequential(nn.Linear(2, 2), Custom()))
    with pytest.raises(ValueError, match="entry 0 has unknown type 'Quantum'"):
        P.build([{"type": "Quantum"}])
    with pytest.raises(TypeError, match="structured must be True or False"):
        P.prune_model(mlp((1, 2, 2), hidden=[3]), 0.5, structured="yes")
