"""Optimisers (module 06): the update kernels against a numpy oracle on every backend, SGD and
Adam/AdamW against hand-computed values and against PyTorch, zero_grad, state_dict round
trips, the learning-rate schedulers, gradient clipping, and every kind of bad input."""

import json
import math

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.kernels import REGISTRY
from tinytorch.kernels import optim as K
from tinytorch.nn.utils import clip_grad_norm_, clip_grad_value_
from tinytorch.optim import SGD, Adam, AdamW
from tinytorch.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, LambdaLR, StepLR
from tinytorch.testing import KernelCalled, assert_close

# --- the kernels against an oracle ---------------------------------------------------------


def sgd_oracle(p, g, buf, lr, momentum, dampening, nesterov, weight_decay, first):
    """PyTorch's SGD rule, written again with whole arrays, in float64."""
    p, g = p.astype(np.float64), g.astype(np.float64)
    d = g + weight_decay * p
    if momentum:
        buf = d.copy() if first else momentum * buf + (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    return p - lr * d, buf


def adam_oracle(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step, decoupled):
    p, g = p.astype(np.float64), g.astype(np.float64)
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    denom = np.sqrt(v) / math.sqrt(1 - beta2 ** step) + eps
    return p - lr / (1 - beta1 ** step) * m / denom, m, v


SGD_CASES = [
    dict(lr=0.1, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, first=True),
    dict(lr=0.05, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0, first=True),
    dict(lr=0.05, momentum=0.9, dampening=0.25, nesterov=False, weight_decay=0.01,
         first=False),
    dict(lr=0.2, momentum=0.5, dampening=0.0, nesterov=True, weight_decay=0.1, first=False),
    dict(lr=0.2, momentum=0.5, dampening=0.0, nesterov=True, weight_decay=0.0, first=True),
]
ADAM_CASES = [
    dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, step=1, decoupled=False),
    dict(lr=0.1, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1, step=7, decoupled=False),
    dict(lr=0.1, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1, step=3, decoupled=True),
    dict(lr=0.5, beta1=0.0, beta2=0.5, eps=0.0, weight_decay=0.0, step=2, decoupled=True),
]
SIZES = [0, 1, 7, 33]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("case", range(len(SGD_CASES)))
def test_sgd_kernel_matches_the_oracle(backend, rng, case, n, dtype):
    kw = SGD_CASES[case]
    p, g, buf = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    want_p, want_buf = sgd_oracle(p, g, buf.astype(np.float64), **kw)
    tt.dispatch.call("sgd_step", p, g, buf if kw["momentum"] else np.empty(0, dtype), **kw)
    assert_close(p, want_p.astype(dtype))
    if kw["momentum"]:
        assert_close(buf, want_buf.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("case", range(len(ADAM_CASES)))
def test_adam_kernel_matches_the_oracle(backend, rng, case, n, dtype):
    kw = ADAM_CASES[case]
    p, g = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    m = rng.standard_normal(n).astype(dtype)
    v = rng.uniform(0.1, 2.0, n).astype(dtype)
    want = adam_oracle(p, g, m.astype(np.float64), v.astype(np.float64), **kw)
    tt.dispatch.call("adam_step", p, g, m, v, **kw)
    for got, expected in zip((p, m, v), want, strict=True):
        assert_close(got, expected.astype(dtype))


def test_the_kernels_are_registered_with_jit_twins_of_the_naive_loops():
    for op in ("sgd_step", "adam_step"):
        assert set(REGISTRY[op]) == {"naive", "jit", "numpy"}
        assert REGISTRY[op]["jit"].py_func is REGISTRY[op]["naive"]
    assert K.KERNELS["adam_step"]["jit"] is K.adam_step_jit


# --- SGD: hand-computed values -------------------------------------------------------------


def run_steps(opt_cls, grads, p0, dtype=tt.float64, **kw):
    """Apply ``opt_cls`` to one parameter starting at ``p0`` with the given gradients."""
    w = tt.tensor(p0, dtype=dtype, requires_grad=True)
    opt = opt_cls([w], **kw)
    out = []
    for g in grads:
        w.grad = tt.tensor(g, dtype=dtype)
        opt.step()
        out.append(w.tolist())
    return out


SGD_BY_HAND = [
    # plain: p -= lr * g
    (dict(lr=0.1), [[1.0], [2.0]], [[0.9], [0.7]]),
    # momentum: buf = g on the first step, then 0.9 buf + g
    (dict(lr=0.1, momentum=0.9), [[1.0]] * 3, [[0.9], [0.71], [0.439]]),
    # dampening: buf = 0.9 buf + 0.5 g after the first step (which is undamped)
    (dict(lr=0.1, momentum=0.9, dampening=0.5), [[1.0]] * 2, [[0.9], [0.76]]),
    # nesterov: d = g + 0.9 buf
    (dict(lr=0.1, momentum=0.9, nesterov=True), [[1.0]] * 2, [[0.81], [0.539]]),
    # weight decay: d = g + 0.5 p (p = 1, then 0.85)
    (dict(lr=0.1, weight_decay=0.5), [[1.0]] * 2, [[0.85], [0.7075]]),
]


@pytest.mark.parametrize("kw,grads,expected", SGD_BY_HAND, ids=lambda x: str(x)[:40])
def test_sgd_hand_computed(backend, kw, grads, expected):
    got = run_steps(SGD, grads, [1.0], **kw)
    assert_close(np.array(got), np.array(expected), rtol=1e-12, atol=1e-12)


def test_sgd_defaults_are_pytorchs():
    w = tt.zeros(1, requires_grad=True)
    group = SGD([w]).param_groups[0]
    assert {k: v for k, v in group.items() if k != "params"} == {
        "lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}


# --- Adam and AdamW: hand-computed values --------------------------------------------------


def test_adam_hand_computed(backend):
    # Step 1: m = 0.1 g, v = 0.001 g^2; bias-corrected they are g and g^2, so the step is
    # lr * g / (|g| + eps). Step 2 with g = -1: m = 0.09 - 0.1 = -0.01, v = 0.001999,
    # bc1 = 0.19, bc2 = 0.001999: m_hat = -1/19, v_hat = 1: p += 0.1 / 19 / (1 + 1e-8).
    got = run_steps(Adam, [[1.0], [-1.0]], [1.0], lr=0.1)
    step1 = 1.0 - 0.1 * 1.0 / (1.0 + 1e-8)
    step2 = step1 + 0.1 / 19 / (1.0 + 1e-8)
    assert_close(np.array(got), np.array([[step1], [step2]]), rtol=1e-12, atol=1e-12)
    assert abs(step2 - 0.9052631579) < 1e-9


def test_adam_l2_weight_decay_is_added_to_the_gradient(backend):
    # g = 0.5 + 0.1 * 2 = 0.7; the first step is lr * sign: 2 - 0.1
    got = run_steps(Adam, [[0.5]], [2.0], lr=0.1, eps=0.0, weight_decay=0.1)
    assert_close(np.array(got), np.array([[1.9]]), rtol=1e-12, atol=1e-12)
    # a gradient of 0 becomes 0.1 * p through the decay, so the parameter still moves
    got = run_steps(Adam, [[0.0]], [2.0], lr=0.1, eps=0.0, weight_decay=0.1)
    assert_close(np.array(got), np.array([[1.9]]), rtol=1e-12, atol=1e-12)


def test_adamw_decouples_the_weight_decay(backend):
    # p = 2 * (1 - 0.1 * 0.5) = 1.9, then the Adam step of a positive gradient: - 0.1
    got = run_steps(AdamW, [[3.0]], [2.0], lr=0.1, eps=0.0, weight_decay=0.5)
    assert_close(np.array(got), np.array([[1.8]]), rtol=1e-12, atol=1e-12)
    # a zero gradient: only the decay acts (m = v = 0, so the Adam term is 0 / eps = 0)
    got = run_steps(AdamW, [[0.0]] * 2, [2.0], lr=0.1, weight_decay=0.5)
    assert_close(np.array(got), np.array([[1.9], [1.805]]), rtol=1e-12, atol=1e-12)


def test_adam_defaults_are_pytorchs():
    w = tt.zeros(1, requires_grad=True)
    adam, adamw = Adam([w]).param_groups[0], AdamW([w]).param_groups[0]
    assert (adam["lr"], adam["betas"], adam["eps"], adam["weight_decay"]) == \
        (1e-3, (0.9, 0.999), 1e-8, 0.0)
    assert adamw["weight_decay"] == 1e-2 and adamw["decoupled_weight_decay"] is True
    assert adam["decoupled_weight_decay"] is False


def test_adam_state_counts_steps_per_parameter(backend):
    a, b = tt.ones(2, requires_grad=True), tt.ones(3, requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    a.grad = tt.ones(2)
    opt.step()  # b has no grad: skipped, no state
    assert opt.state[a]["step"] == 1 and b not in opt.state and b.tolist() == [1.0] * 3
    b.grad = tt.ones(3)
    opt.step()
    assert opt.state[a]["step"] == 2 and opt.state[b]["step"] == 1


def test_a_parameter_without_grad_is_skipped(backend):
    a, b = tt.ones(2, requires_grad=True), tt.ones(2, requires_grad=True)
    opt = SGD([a, b], lr=0.5, momentum=0.9)
    a.grad = tt.ones(2)
    opt.step()
    assert a.tolist() == [0.5, 0.5] and b.tolist() == [1.0, 1.0] and b not in opt.state


# --- a real training loop -------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: Adam(ps, lr=0.05), lambda ps: AdamW(ps, lr=0.05)],
                         ids=["sgd", "adam", "adamw"])
def test_optimisers_fit_a_least_squares_problem(rng, make):
    x = tt.tensor(rng.standard_normal((32, 3)), dtype=tt.float32)
    true_w = tt.tensor([[1.0], [-2.0], [0.5]])
    y = x @ true_w
    w = tt.zeros(3, 1, requires_grad=True)
    opt = make([w])
    first = None
    for _ in range(150):
        opt.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.05 * first
    assert np.abs(w.numpy() - true_w.numpy()).max() < 0.15


def test_adam_trains_a_linear_classifier_on_the_digits():
    from tinytorch.data.datasets import Digits

    images, labels = Digits("train", flatten=True).tensors()
    onehot = tt.tensor(np.eye(10, dtype=np.float32)[labels.numpy()])
    w = tt.zeros(64, 10, requires_grad=True)
    b = tt.zeros(10, requires_grad=True)
    opt = Adam([w, b], lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        loss = ((images @ w + b - onehot) ** 2).mean()
        loss.backward()
        opt.step()
    accuracy = ((images @ w + b).argmax(dim=1) == labels).numpy().mean()
    assert accuracy > 0.85, accuracy


# --- against PyTorch -------------------------------------------------------------------------

TORCH_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=0.1)),
    ("AdamW", dict(lr=0.01, betas=(0.5, 0.9), eps=1e-4, weight_decay=0.3)),
]


def _against_torch(rng, name, kw, dtype, steps=6):
    torch = pytest.importorskip("torch")
    starts = [rng.standard_normal((3, 4)), rng.standard_normal(5), rng.standard_normal(1)]
    grads = [[rng.standard_normal(s.shape) for s in starts] for _ in range(steps)]
    ours = [tt.tensor(s, dtype=dtype, requires_grad=True) for s in starts]
    theirs = [torch.tensor(s, dtype=getattr(torch, dtype.name), requires_grad=True)
              for s in starts]
    opt, topt = getattr(tt.optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw)
    for gs in grads:
        for p, q, g in zip(ours, theirs, gs, strict=True):
            p.grad = tt.tensor(g, dtype=dtype)
            q.grad = torch.tensor(g, dtype=q.dtype)
        opt.step()
        topt.step()
    for p, q in zip(ours, theirs, strict=True):
        assert_close(p, q.detach().numpy())
    # the state too: momentum buffers and moments, under PyTorch's names
    for i, (p, q) in enumerate(zip(ours, theirs, strict=True)):
        for key, value in topt.state[q].items():
            if key == "step":
                assert opt.state[p]["step"] == int(value.item()), i
            else:
                assert_close(opt.state[p][key], value.numpy(), msg=f"state[{i}][{key}] ")


@pytest.mark.parametrize("name,kw", TORCH_CASES, ids=lambda x: str(x)[:50])
def test_matches_torch_float64(backend, rng, name, kw):
    _against_torch(rng, name, kw, tt.float64)


@pytest.mark.parametrize("name,kw", TORCH_CASES, ids=lambda x: str(x)[:50])
def test_matches_torch_float32(rng, name, kw):
    _against_torch(rng, name, kw, tt.float32)


def test_a_model_trained_with_autograd_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((8, 3))
    w0 = rng.standard_normal((3, 2))
    w = tt.tensor(w0, dtype=tt.float64, requires_grad=True)
    tw = torch.tensor(w0, requires_grad=True)
    opt, topt = AdamW([w], lr=0.05), torch.optim.AdamW([tw], lr=0.05)
    tx = torch.tensor(x)
    for _ in range(5):
        opt.zero_grad()
        (tt.tensor(x) @ w).tanh().sum().backward()
        opt.step()
        topt.zero_grad()
        (tx @ tw).tanh().sum().backward()
        topt.step()
    assert_close(w, tw.detach().numpy())


# --- zero_grad ------------------------------------------------------------------------------


def test_zero_grad_sets_to_none_by_default(backend):
    w = tt.ones(2, requires_grad=True)
    (w * 2).sum().backward()
    SGD([w]).zero_grad()
    assert w.grad is None


def test_zero_grad_in_place_keeps_the_tensor(backend):
    w = tt.ones(2, 3, requires_grad=True)
    (w * 2).sum().backward()
    g = w.grad
    SGD([w]).zero_grad(set_to_none=False)
    assert w.grad is g and g.tolist() == [[0.0] * 3] * 2
    (w * 3).sum().backward()  # accumulates into the zeroed gradient
    assert w.grad.tolist() == [[3.0] * 3] * 2


def test_zero_grad_leaves_missing_gradients_alone():
    a, b = tt.ones(1, requires_grad=True), tt.ones(1, requires_grad=True)
    SGD([a, b]).zero_grad(set_to_none=False)
    assert a.grad is None and b.grad is None


# --- state_dict ------------------------------------------------------------------------------


def _model(rng, dtype=tt.float64):
    return [tt.tensor(rng.standard_normal(s), dtype=dtype, requires_grad=True)
            for s in ((3, 2), (2,), (4,))]


def _grads(rng, n):
    return [[rng.standard_normal(s) for s in ((3, 2), (2,), (4,))] for _ in range(n)]


def _steps(opt, params, grads):
    for gs in grads:
        for p, g in zip(params, gs, strict=True):
            p.grad = tt.tensor(g, dtype=p.dtype)
        opt.step()


@pytest.mark.parametrize("make", [
    lambda ps, lr: SGD([{"params": ps[:2]}, {"params": ps[2:], "lr": lr / 2}], lr=lr,
                       momentum=0.9, nesterov=True),
    lambda ps, lr: Adam([{"params": ps[:1]}, {"params": ps[1:], "betas": (0.5, 0.9)}], lr=lr),
    lambda ps, lr: AdamW(ps, lr=lr, weight_decay=0.1),
], ids=["sgd", "adam", "adamw"])
def test_state_dict_round_trip_continues_identically(backend, rng, make):
    params = _model(rng)
    grads = _grads(rng, 6)
    opt = make(params, 0.1)
    _steps(opt, params, grads[:3])
    saved = opt.state_dict()
    twin_params = [tt.tensor(p.numpy().copy(), requires_grad=True) for p in params]
    twin = make(twin_params, 0.7)  # other hyperparameters: the load restores them
    twin.load_state_dict(saved)
    assert [g["lr"] for g in twin.param_groups] == [g["lr"] for g in opt.param_groups]
    _steps(opt, params, grads[3:])
    _steps(twin, twin_params, grads[3:])
    for p, q in zip(params, twin_params, strict=True):
        assert np.array_equal(p.numpy(), q.numpy())


def test_state_dict_layout_is_pytorchs(rng):
    params = _model(rng)
    opt = SGD([{"params": params[:2]}, {"params": params[2:], "lr": 0.5}], lr=0.1,
              momentum=0.9)
    _steps(opt, params, _grads(rng, 1))
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1] == {"lr": 0.5, "momentum": 0.9, "dampening": 0.0,
                                     "weight_decay": 0.0, "nesterov": False, "params": [2]}
    assert sorted(sd["state"]) == [0, 1, 2]
    assert isinstance(sd["state"][2]["momentum_buffer"], tt.Tensor)
    json.dumps(sd["param_groups"])  # hyperparameters are plain data
    adam = Adam(params)
    _steps(adam, params, _grads(rng, 2))
    st = adam.state_dict()["state"][1]
    assert st["step"] == 2 and st["exp_avg"].shape == (2,) and st["exp_avg_sq"].shape == (2,)


def test_state_dict_matches_torchs_keys(rng):
    torch = pytest.importorskip("torch")
    params = _model(rng)
    theirs = [torch.tensor(p.numpy().copy(), requires_grad=True) for p in params]
    for make, tmake in ((lambda ps: SGD(ps, lr=0.1, momentum=0.5),
                         lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.5)),
                        (lambda ps: Adam(ps), lambda ps: torch.optim.Adam(ps))):
        opt, topt = make(params), tmake(theirs)
        for p, q in zip(params, theirs, strict=True):
            p.grad = tt.ones(*p.shape, dtype=tt.float64)
            q.grad = torch.ones_like(q)
        opt.step()
        topt.step()
        ours, their = opt.state_dict(), topt.state_dict()
        assert sorted(ours["state"]) == sorted(their["state"])
        for k in their["state"]:
            assert set(ours["state"][k]) == set(their["state"][k])
        assert [g["params"] for g in ours["param_groups"]] == \
            [g["params"] for g in their["param_groups"]]


def test_a_torch_state_dict_loads_and_training_continues_alike(rng):
    """The layouts agree: PyTorch's Adam state (step as a tensor) converted tensor by tensor
    loads here, and both optimisers then take the same steps."""
    torch = pytest.importorskip("torch")
    params = _model(rng)
    theirs = [torch.tensor(p.numpy().copy(), requires_grad=True) for p in params]
    topt = torch.optim.Adam(theirs, lr=0.05, weight_decay=0.01)
    grads = _grads(rng, 5)
    for gs in grads[:3]:
        for q, g in zip(theirs, gs, strict=True):
            q.grad = torch.tensor(g)
        topt.step()
    sd = topt.state_dict()
    converted = {
        "state": {k: {name: tt.tensor(v.numpy()) for name, v in st.items()}
                  for k, st in sd["state"].items()},
        "param_groups": [{k: v for k, v in g.items() if k in ("lr", "betas", "eps",
                                                               "weight_decay", "params")}
                         for g in sd["param_groups"]],
    }
    ours = [tt.tensor(q.detach().numpy().copy(), requires_grad=True) for q in theirs]
    opt = Adam(ours)
    opt.load_state_dict(converted)
    assert opt.state[ours[0]]["step"] == 3 and opt.param_groups[0]["lr"] == 0.05
    _steps(opt, ours, grads[3:])
    for gs in grads[3:]:
        for q, g in zip(theirs, gs, strict=True):
            q.grad = torch.tensor(g)
        topt.step()
    for p, q in zip(ours, theirs, strict=True):
        assert_close(p, q.detach().numpy())


def test_repr_lists_the_groups():
    opt = SGD([w_()], lr=0.1)
    assert repr(opt).splitlines()[:3] == ["SGD (", "Parameter Group 0", "    dampening: 0.0"]


def test_load_state_dict_copies_and_casts_the_buffers(rng):
    params = _model(rng)
    opt = Adam(params)
    _steps(opt, params, _grads(rng, 1))
    sd = opt.state_dict()
    f32 = [tt.tensor(p.numpy().copy(), dtype=tt.float32, requires_grad=True) for p in params]
    twin = Adam(f32)
    twin.load_state_dict(sd)
    m = twin.state[f32[0]]["exp_avg"]
    assert m.dtype == tt.float32 and not m.shares_storage(sd["state"][0]["exp_avg"])
    before = m.tolist()
    _steps(opt, params, _grads(rng, 1))  # the original's buffers change, the copy's do not
    assert m.tolist() == before


def test_a_failed_load_changes_nothing(rng):
    params = _model(rng)
    opt = SGD(params, lr=0.1, momentum=0.9)
    _steps(opt, params, _grads(rng, 1))
    sd = opt.state_dict()
    sd = {"state": dict(sd["state"]), "param_groups": [dict(g) for g in sd["param_groups"]]}
    sd["state"][2] = {"momentum_buffer": tt.zeros(5, dtype=tt.float64)}  # wrong shape
    groups, state = opt.param_groups, opt.state
    with pytest.raises(ValueError, match=r"state\[2\]\['momentum_buffer'\] has shape \(5,\), "
                                         r"but parameter 2 has shape \(4,\)"):
        opt.load_state_dict(sd)
    assert opt.param_groups is groups and opt.state is state


# --- the learning-rate schedulers -----------------------------------------------------------


def _lrs(sched, opt, n):
    out = []
    for _ in range(n):
        out.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return out


def _opt(lr=0.1):
    return SGD([tt.zeros(1, requires_grad=True)], lr=lr)


def test_step_lr_closed_form():
    opt = _opt(1.0)
    lrs = _lrs(StepLR(opt, step_size=3, gamma=0.5), opt, 10)
    assert lrs == [1.0 * 0.5 ** (t // 3) for t in range(10)]


def test_exponential_lr_closed_form():
    opt = _opt(0.3)
    lrs = _lrs(ExponentialLR(opt, gamma=0.9), opt, 8)
    assert_close(np.array(lrs), np.array([0.3 * 0.9 ** t for t in range(8)]), rtol=1e-12,
                 atol=1e-15)


@pytest.mark.parametrize("T_max,eta_min", [(1, 0.0), (5, 0.0), (10, 0.01), (7, 0.05)])
def test_cosine_annealing_closed_form(T_max, eta_min):
    opt = _opt(0.1)
    lrs = _lrs(CosineAnnealingLR(opt, T_max=T_max, eta_min=eta_min), opt, 3 * T_max + 2)
    closed = [eta_min + (0.1 - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2
              for t in range(3 * T_max + 2)]
    assert_close(np.array(lrs), np.array(closed), rtol=1e-12, atol=1e-12)
    assert abs(lrs[T_max] - eta_min) < 1e-15  # the minimum is reached exactly


def test_lambda_lr_per_group():
    a, b = tt.zeros(1, requires_grad=True), tt.zeros(1, requires_grad=True)
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.5)
    sched = LambdaLR(opt, [lambda t: 1 / (t + 1), lambda t: 0.5 ** t])
    for t in range(1, 5):
        opt.step()
        sched.step()
        assert sched.get_last_lr() == [0.5 / (t + 1), 0.5 ** t]
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()


SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.8)),
    ("CosineAnnealingLR", dict(T_max=6)),
    ("CosineAnnealingLR", dict(T_max=4, eta_min=0.01)),
    ("CosineAnnealingLR", dict(T_max=1, eta_min=0.02)),
]


@pytest.mark.parametrize("name,kw", SCHEDULES, ids=lambda x: str(x))
def test_schedulers_match_torch(name, kw):
    torch = pytest.importorskip("torch")
    w = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([w], lr=0.1)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    opt = _opt(0.1)
    sched = getattr(tt.optim.lr_scheduler, name)(opt, **kw)
    n = 2 * kw.get("T_max", 8) + 3
    theirs = []
    for _ in range(n):
        theirs.append(tsched.get_last_lr()[0])
        topt.step()
        tsched.step()
    ours = _lrs(sched, opt, n)
    assert_close(np.array(ours), np.array(theirs), rtol=1e-12, atol=1e-12)
    assert sched.last_epoch == tsched.last_epoch == n


def test_scheduler_sets_initial_lr_and_resumes_from_its_state_dict():
    opt = _opt(0.1)
    sched = CosineAnnealingLR(opt, T_max=10)
    assert opt.param_groups[0]["initial_lr"] == 0.1 and sched.base_lrs == [0.1]
    _lrs(sched, opt, 4)
    saved, opt_saved = sched.state_dict(), opt.state_dict()
    json.dumps(saved)  # numbers and lists only
    rest = _lrs(sched, opt, 6)
    opt2 = _opt(0.1)
    opt2.load_state_dict(opt_saved)
    sched2 = CosineAnnealingLR(opt2, T_max=10, last_epoch=3)  # needs initial_lr: restored
    sched2.load_state_dict(saved)
    assert _lrs(sched2, opt2, 6) == rest


def test_resuming_without_initial_lr_is_an_error():
    with pytest.raises(KeyError, match=r"param_groups\[0\] has no 'initial_lr'"):
        StepLR(_opt(), step_size=2, last_epoch=4)


def test_lambda_lr_state_dict_leaves_the_functions_out():
    opt = _opt()
    sched = LambdaLR(opt, lambda t: 0.5)
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [None] and "optimizer" not in sd
    sched.load_state_dict(sd)


# --- gradient clipping ----------------------------------------------------------------------


def _with_grads(rng, dtype=tt.float64, scale=3.0):
    params = [tt.zeros(*s, dtype=dtype, requires_grad=True) for s in ((3, 4), (5,), (1,))]
    for p in params:
        p.grad = tt.tensor(rng.standard_normal(p.shape) * scale, dtype=dtype)
    return params


def _norm(arrays, p):
    flat = np.concatenate([a.reshape(-1) for a in arrays])
    return np.abs(flat).max() if math.isinf(p) else (np.abs(flat) ** p).sum() ** (1 / p)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf"), 0.5])
@pytest.mark.parametrize("max_norm", [1.0, 1e6])
def test_clip_grad_norm_matches_numpy(backend, rng, norm_type, max_norm):
    params = _with_grads(rng)
    before = [p.grad.numpy().copy() for p in params]
    total = clip_grad_norm_(params, max_norm, norm_type)
    want = _norm(before, norm_type)
    assert total.shape == () and abs(total.item() - want) <= 1e-12 * want
    scale = min(1.0, max_norm / (want + 1e-6))
    for p, g in zip(params, before, strict=True):
        assert_close(p.grad, g * scale)
    if max_norm < want:  # clipped: the new norm is max_norm (up to the 1e-6)
        assert abs(_norm([p.grad.numpy() for p in params], norm_type) - max_norm) < 1e-5


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_matches_torch(rng, norm_type):
    torch = pytest.importorskip("torch")
    params = _with_grads(rng, tt.float32)
    theirs = []
    for p in params:
        q = torch.zeros(p.shape, requires_grad=True)
        q.grad = torch.tensor(p.grad.numpy().copy())
        theirs.append(q)
    total = clip_grad_norm_(params, 2.0, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, 2.0, norm_type)
    assert_close(total, ttotal.numpy())
    for p, q in zip(params, theirs, strict=True):
        assert_close(p.grad, q.grad.numpy())


def test_clip_grad_norm_skips_missing_grads_and_accepts_one_tensor(rng):
    a = tt.zeros(2, requires_grad=True)
    b = tt.zeros(2, requires_grad=True)
    a.grad = tt.tensor([3.0, 4.0])
    assert clip_grad_norm_([a, b], 100.0).item() == pytest.approx(5.0)
    assert clip_grad_norm_(a, 100.0).item() == pytest.approx(5.0)
    assert b.grad is None
    assert clip_grad_norm_([b], 1.0).item() == 0.0  # nothing to clip


def test_clip_grad_norm_nonfinite(rng):
    a = tt.zeros(2, requires_grad=True)
    a.grad = tt.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="total norm of order 2.0 .* is inf"):
        clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
    assert a.grad.tolist() == [float("inf"), 1.0]  # untouched when it raises
    assert math.isinf(clip_grad_norm_([a], 1.0).item())


def test_clip_grad_value(backend, rng):
    params = _with_grads(rng)
    before = [p.grad.numpy().copy() for p in params]
    assert clip_grad_value_(params, 0.5) is None
    for p, g in zip(params, before, strict=True):
        assert_close(p.grad, np.clip(g, -0.5, 0.5))


def test_clip_grad_value_matches_torch(rng):
    torch = pytest.importorskip("torch")
    params = _with_grads(rng, tt.float32)
    q = torch.zeros(3, 4, requires_grad=True)
    q.grad = torch.tensor(params[0].grad.numpy().copy())
    clip_grad_value_(params, 1.5)
    torch.nn.utils.clip_grad_value_([q], 1.5)
    assert_close(params[0].grad, q.grad.numpy())


# --- bad input -------------------------------------------------------------------------------





def test_the_spy_sees_an_optimiser_step(spy):
    w = tt.ones(2, requires_grad=True)
    w.grad = tt.ones(2)
    with pytest.raises(KernelCalled):
        SGD([w]).step()
    assert spy == ["sgd_step"]
    spy.clear()


def w_():
    return tt.ones(2, requires_grad=True)


BAD_HYPERPARAMETERS = [
    (lambda: SGD([w_()], lr=-0.1), ValueError, "invalid lr=-0.1"),
    (lambda: SGD([w_()], lr=float("nan")), ValueError, "invalid lr=nan"),
    (lambda: SGD([w_()], lr="0.1"), TypeError, "lr must be a number, got str '0.1'"),
    (lambda: SGD([w_()], momentum=-0.5), ValueError, "invalid momentum=-0.5"),
    (lambda: SGD([w_()], weight_decay=-1), ValueError, "invalid weight_decay=-1"),
    (lambda: SGD([w_()], nesterov=True), ValueError,
     "Nesterov momentum needs momentum > 0 and dampening == 0, got momentum=0.0"),
    (lambda: SGD([w_()], momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "dampening=0.1"),
    (lambda: SGD([w_()], momentum=0.9, nesterov=1), TypeError, "nesterov must be True or "
     "False, got int 1"),
    (lambda: Adam([w_()], lr=-1e-3), ValueError, "invalid lr=-0.001"),
    (lambda: Adam([w_()], eps=-1e-8), ValueError, "invalid eps=-1e-08"),
    (lambda: Adam([w_()], betas=(1.0, 0.999)), ValueError, "invalid betas[0]=1.0; it must "
     "lie in [0, 1)"),
    (lambda: Adam([w_()], betas=(0.9, -0.1)), ValueError, "invalid betas[1]=-0.1"),
    (lambda: Adam([w_()], betas=0.9), TypeError, "betas must be a pair"),
    (lambda: AdamW([w_()], weight_decay=-0.01), ValueError, "AdamW: invalid weight_decay"),
    (lambda: SGD([{"params": [w_()], "lr": -2.0}], lr=0.1), ValueError, "invalid lr=-2.0"),
]


@pytest.mark.parametrize("make,exc,message", BAD_HYPERPARAMETERS, ids=lambda x: str(x)[:30])
def test_bad_hyperparameters(spy, make, exc, message):
    with pytest.raises(exc) as info:
        make()
    assert message in str(info.value)


def test_bad_parameter_lists(spy):
    w = w_()
    with tt.backend("numpy"):  # a non-leaf needs a kernel to be made
        not_leaf = w * 2
    frozen = np.ones(3, np.float32)
    frozen.flags.writeable = False
    read_only = tt.Tensor(frozen, requires_grad=True)
    cases = [
        (lambda: SGD([]), ValueError, "got an empty parameter list"),
        (lambda: SGD(w), TypeError, "got a single Tensor"),
        (lambda: SGD({w}), TypeError, "ordered collection"),
        (lambda: SGD(42), TypeError, "iterable of tensors or of dicts, got int"),
        (lambda: SGD([w, np.ones(2)]), TypeError, "parameter 1 of group 0 is a ndarray, "
         "not a Tensor"),
        (lambda: SGD([not_leaf]), ValueError, "is not a leaf"),
        (lambda: SGD([w, w]), ValueError, "parameter 1 of group 0 appears twice"),
        (lambda: SGD([{"params": [w]}, {"params": [w_(), w]}]), ValueError,
         "parameter 1 of group 1 is already in group 0"),
        (lambda: SGD([w, {"params": [w_()]}]), TypeError, "mixes tensors and dicts"),
        (lambda: SGD([{"lr": 0.1}]), ValueError, "parameter group 0 has no 'params'"),
        (lambda: SGD([tt.ones(3, 2).T.detach().requires_grad_()]), ValueError,
         "(shape (2, 3), strides (1, 2)) is not contiguous"),
        (lambda: SGD([read_only]), ValueError, "parameter 0 of group 0 (shape (3,)) is "
         "read-only"),
    ]
    for make, exc, message in cases:
        with pytest.raises(exc) as info:
            make()
        assert message in str(info.value), (message, str(info.value))


def test_add_param_group_checks_overlap_and_types(spy):
    w = w_()
    opt = SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="already in group 0"):
        opt.add_param_group({"params": [w]})
    with pytest.raises(TypeError, match="a parameter group must be a dict, got list"):
        opt.add_param_group([w_()])
    with pytest.raises(ValueError, match="invalid lr=-1"):
        opt.add_param_group({"params": [w_()], "lr": -1})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: SGD(ps, lr=0.1), lambda ps: Adam(ps)],
                         ids=["sgd-momentum", "sgd", "adam"])
def test_step_refuses_a_gradient_that_does_not_fit(spy, make):
    a, b = w_(), tt.ones(2, 3, requires_grad=True)
    opt = make([a, b])
    b.grad = tt.ones(3, 2)
    with pytest.raises(ValueError, match=r"parameter 1 of group 0 has shape \(2, 3\) but its "
                                         r"\.grad has shape \(3, 2\)"):
        opt.step()
    b.grad = tt.ones(2, 3, dtype=tt.float64)
    with pytest.raises(TypeError, match="parameter 1 of group 0 is float32 but its .grad is "
                                        "float64"):
        opt.step()
    b.grad = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match="has a .grad of type ndarray, not a Tensor"):
        opt.step()


def test_step_refuses_a_state_buffer_replaced_by_hand(spy):
    w = tt.ones(4, requires_grad=True)
    opt = Adam([w])
    w.grad = tt.ones(4)
    with tt.backend("numpy"):
        opt.step()
    opt.state[w]["exp_avg"] = tt.zeros(2)  # too small: the kernel would write past it
    with pytest.raises(ValueError, match=r"state\['exp_avg'\] \(shape \(2,\), "
                                         r"float32\) does not match"):
        opt.step()


def test_a_strided_gradient_is_read_correctly(backend):
    w = tt.zeros(2, 3, requires_grad=True)
    w.grad = tt.arange(6.0).reshape(3, 2).T  # a transposed view: not contiguous
    SGD([w], lr=1.0).step()
    assert w.tolist() == [[-0.0, -2.0, -4.0], [-1.0, -3.0, -5.0]]


def test_bad_state_dicts(spy, rng):
    params = _model(rng)
    opt = Adam(params)
    with tt.backend("numpy"):
        _steps(opt, params, _grads(rng, 1))
    good = opt.state_dict()
    one_group = Adam([{"params": params[:1]}, {"params": params[1:]}])
    cases = [
        (opt, [1, 2], TypeError, "expected a dict, got list"),
        (opt, {"state": {}}, ValueError, "lacks ['param_groups']"),
        (one_group, good, ValueError, "the loaded state dict has 1 parameter group(s), this "
         "optimizer has 2"),
        (Adam(params[:2]), good, ValueError, "loaded parameter group 0 has 3 parameter(s), "
         "but group 0 of this optimizer has 2"),
        (opt, {**good, "state": {7: {}}}, ValueError, "the state refers to parameter 7"),
        (opt, {**good, "state": {0: {"step": 1, "exp_avg": tt.zeros(3, 2,
                                                                     dtype=tt.float64)}}},
         ValueError, "lacks ['exp_avg_sq']"),
        (opt, {**good, "state": {0: {**good["state"][0], "step": -1}}}, ValueError,
         "state[0]['step'] must be a whole number >= 0, got int -1"),
        (opt, {**good, "state": {0: {**good["state"][0], "exp_avg": [1.0]}}}, TypeError,
         "state[0]['exp_avg'] must be a Tensor of shape (3, 2), got list"),
        (opt, {**good, "param_groups": [{**good["param_groups"][0], "lr": -1.0}]}, ValueError,
         "invalid lr=-1.0"),
        (opt, {**good, "param_groups": [{**good["param_groups"][0], "params": [0, 1, 1]}]},
         ValueError, "parameter index 1 appears twice"),
    ]
    for target, sd, exc, message in cases:
        with pytest.raises(exc) as info:
            target.load_state_dict(sd)
        assert message in str(info.value), (message, str(info.value))


def test_bad_scheduler_arguments(spy):
    opt = _opt()
    cases = [
        (lambda: StepLR(opt, step_size=0), ValueError, "step_size must be a positive int, "
         "got 0"),
        (lambda: StepLR(opt, step_size=-3), ValueError, "got -3"),
        (lambda: StepLR(opt, step_size=2.5), TypeError, "step_size must be an int, got "
         "float 2.5"),
        (lambda: CosineAnnealingLR(opt, T_max=0), ValueError, "T_max must be a positive "
         "int, got 0"),
        (lambda: CosineAnnealingLR(opt, T_max=5, eta_min=-1.0), ValueError,
         "invalid eta_min=-1.0"),
        (lambda: ExponentialLR(opt, gamma="x"), TypeError, "gamma must be a number"),
        (lambda: StepLR("opt", step_size=2), TypeError, "expected an Optimizer, got str"),
        (lambda: LambdaLR(opt, [lambda t: 1.0] * 2), ValueError, "got 2 lr_lambdas for 1 "
         "parameter groups"),
        (lambda: LambdaLR(opt, 0.5), TypeError, "lr_lambda 0 must be callable"),
        (lambda: StepLR(opt, 2, last_epoch=-2), ValueError, "last_epoch must be an int >= "
         "-1, got -2"),
    ]
    for make, exc, message in cases:
        with pytest.raises(exc) as info:
            make()
        assert message in str(info.value), (message, str(info.value))
    with pytest.raises(ValueError, match=r"unknown keys \['bogus'\]"):
        StepLR(opt, 2).load_state_dict({"bogus": 1})


def test_bad_clip_arguments(spy):
    w = w_()
    w.grad = tt.ones(2)
    cases = [
        (lambda: clip_grad_norm_([w], -1.0), ValueError, "max_norm must be >= 0, got -1.0"),
        (lambda: clip_grad_norm_([w], 1.0, norm_type=0), ValueError,
         "norm_type must be > 0 (or inf), got 0.0"),
        (lambda: clip_grad_norm_([w], "1"), TypeError, "max_norm must be a number, got str"),
        (lambda: clip_grad_norm_([w, 3], 1.0), TypeError, "parameter 1 has type int, not "
         "Tensor"),
        (lambda: clip_grad_norm_(5, 1.0), TypeError, "a Tensor or an iterable of tensors, "
         "got int"),
        (lambda: clip_grad_norm_([w], 1.0, error_if_nonfinite="yes"), TypeError,
         "error_if_nonfinite must be True or False"),
        (lambda: clip_grad_value_([w], -0.5), ValueError, "clip_value must be >= 0, got -0.5"),
        (lambda: clip_grad_value_([w], None), TypeError, "clip_value must be a number"),
    ]
    for make, exc, message in cases:
        with pytest.raises(exc) as info:
            make()
        assert message in str(info.value), (message, str(info.value))
    assert w.grad.tolist() == [1.0, 1.0]


def test_steps_bump_the_version_counter():
    """An update is an in-place write: autograd must see it (ops/inplace.py's counter)."""
    w = w_()
    w.grad = tt.ones(2)
    before = w._version
    SGD([w], lr=0.1).step()
    assert w._version == before + 1



def test_frozen_parameters_are_accepted_and_left_alone():
    """As PyTorch: a parameter that does not require grad gets no .grad, so no update."""
    trained = tt.ones(2, requires_grad=True)
    frozen = tt.ones(2)
    opt = SGD([trained, frozen], lr=0.5)
    (trained * frozen).sum().backward()
    opt.step()
    assert trained.tolist() == [0.5, 0.5] and frozen.tolist() == [1.0, 1.0]
