"""Grader of lab 06 (training): the SGD and Adam update loops (against tinytorch's numpy
kernels, compiled with numba, and as the optimiser of a real training run), the memory an
optimiser keeps, the closed-form cosine schedule, one epoch of training, and checkpoints:
a round trip, a bit-identical resume, no pickle, and an atomic write.

Each test checks one function of the lab on its own: the training and checkpoint tests use
the grader's own loop, so a bug in ``train_epoch`` costs its points only.
"""

import json
import os
import warnings
import zipfile

import numba
import numpy as np
import pytest

import tinytorch as tt
from tinytorch import nn
from tinytorch.examples.mlp_digits import train_mlp
from tinytorch.grading import call, expect_close, expect_equal, points
from tinytorch.nn import functional as F


def _require(condition, message: str) -> None:
    """Fail with ``message`` alone (a bare assert would add pytest's internals)."""
    if not condition:
        raise AssertionError(message)


def _oracle(op: str):
    """tinytorch's numpy kernel of ``op``: the reference every loop is checked against."""
    return tt.dispatch.kernel_for(op, "numpy")[1]


def _plain(fn):
    return getattr(fn, "__wrapped__", fn)  # kernprof's wrapper, if any, is not compilable


def _compile(student, name: str):
    """``numba.njit`` of the student's function; it compiles on its first call, which
    ``_run_compiled`` turns into feedback when it fails."""
    return numba.njit(_plain(getattr(student, name)))


def _run_compiled(fn, name: str, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except numba.core.errors.NumbaError as err:
        pytest.fail(f"numba could not compile {name}: {_numba_reason(err)}\nhint: use only "
                    "loops, numbers, math.sqrt and indexing a[i] (no lists, no methods of "
                    "Python objects)", pytrace=False)


def _numba_reason(err) -> str:
    """The lines of a numba error that say what and where (it opens with a generic one)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    where = [line for line in lines if line.startswith("File ")][:1]
    return "\n".join(lines[:2] + where)


# --- sgd_step ----------------------------------------------------------------------------

SGD_RULE = ("d = g + weight_decay * p; buf = d on the first step, momentum * buf + (1 - "
            "dampening) * d after; d = d + momentum * buf (nesterov) or buf; p -= lr * d")


def _sgd_steps(student, hp: dict, steps: int, n: int = 9, seed: int = 0) -> None:
    """Run ``steps`` SGD steps of the student's loop and of the oracle side by side (new
    gradients each step) and compare the buffer and the parameter after each."""
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(n)
    # The buffer starts as garbage (np.empty in the optimiser): NaN shows a read of it.
    buf = np.full(n, np.nan) if hp["momentum"] else np.empty(0)
    mine = [p.copy(), buf.copy()]
    what = ", ".join(f"{k}={v}" for k, v in hp.items())
    for step in range(1, steps + 1):
        g = rng.standard_normal(n)
        first = step == 1
        _oracle("sgd_step")(p, g, buf, first=first, **hp)
        call(student, "sgd_step", mine[0], g.copy(), mine[1], first=first, **hp)
        where = f"sgd_step with {what}, step {step} (first={first})"
        if hp["momentum"]:
            expect_close(mine[1], buf, what=f"{where}: momentum_buf", rtol=1e-9, atol=1e-12,
                         hint="on the first step buf = d (the buffer is fresh memory: do "
                              "not read it, and no dampening); later buf = momentum * buf + "
                              "(1 - dampening) * d")
        expect_close(mine[0], p, what=f"{where}: param", rtol=1e-9, atol=1e-12, hint=SGD_RULE)


@points(2)
def test_sgd_step_without_momentum(student):
    """Plain SGD, with and without weight decay; the buffer is an empty array."""
    for hp in ({"lr": 0.1, "weight_decay": 0.0}, {"lr": 0.05, "weight_decay": 0.1}):
        _sgd_steps(student, dict(hp, momentum=0.0, dampening=0.0, nesterov=False), steps=2)


@points(2)
def test_sgd_step_with_momentum_and_dampening(student):
    """Momentum with dampening and weight decay over three steps: the first step starts
    the buffer at d, undamped (PyTorch's rule)."""
    _sgd_steps(student, {"lr": 0.1, "momentum": 0.9, "dampening": 0.25, "nesterov": False,
                         "weight_decay": 0.01}, steps=3, seed=1)


@points(1)
def test_sgd_step_with_nesterov_momentum(student):
    """Nesterov momentum: the step is d + momentum * buf."""
    _sgd_steps(student, {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "nesterov": True,
                         "weight_decay": 0.0}, steps=3, seed=2)


def _params_like(values: list) -> list:
    return [tt.tensor(v.copy(), requires_grad=True) for v in values]


@points(2)
def test_sgd_step_compiles_and_runs_as_the_optimizer_kernel(student):
    """numba.njit(sgd_step) registered as backend "student" drives tt.optim.SGD (momentum,
    Nesterov, weight decay) as tinytorch's jit kernel does."""
    call(student, "sgd_step", np.zeros(1), np.ones(1), np.empty(0), lr=0.1, momentum=0.0,
         dampening=0.0, nesterov=False, weight_decay=0.0, first=True)
    tt.register_kernel("sgd_step", "student", _compile(student, "sgd_step"))
    rng = np.random.default_rng(3)
    start = [rng.standard_normal((4, 3)).astype(np.float32),
             rng.standard_normal(5).astype(np.float32)]
    grads = [[rng.standard_normal(v.shape).astype(np.float32) for v in start]
             for _ in range(3)]
    results = {}
    for backend in ("student", "jit"):
        params = _params_like(start)
        opt = tt.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # borrowed ops warn once
            with tt.backend(backend, fallback="jit"):
                for step_grads in grads:
                    for p, g in zip(params, step_grads, strict=True):
                        p.grad = tt.tensor(g)
                    if backend == "student":
                        _run_compiled(opt.step, "sgd_step")
                    else:
                        opt.step()
        results[backend] = [p.numpy().copy() for p in params]
    for k, (mine, ref) in enumerate(zip(results["student"], results["jit"], strict=True)):
        expect_close(mine, ref, what=f"parameter {k} {ref.shape} after 3 tt.optim.SGD steps "
                     "on your compiled kernel", hint=SGD_RULE)


# --- adam_step ---------------------------------------------------------------------------

ADAM_RULE = ("p -= (lr / (1 - beta1 ** step)) * m / (sqrt(v) / sqrt(1 - beta2 ** step) + eps),"
             " with the new m and v: are both bias corrections there?")
EPS_HINT = ("with gradients near 1e-9, sqrt(v) / sqrt(1 - beta2 ** step) is about 1e-9 and "
            "eps = 1e-8 decides the step: add eps after the square root and the bias "
            "correction, not inside the square root nor before the correction")


def _adam_steps(student, hp: dict, steps: int, *, n: int = 8, seed: int = 0,
                grad_scale: float = 1.0, rtol: float = 1e-7, hint: str = ADAM_RULE) -> None:
    """``steps`` Adam steps of the student's loop and of the oracle side by side; compares
    the moments and the change of the parameter after each step."""
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(n)
    m, v = np.zeros(n), np.zeros(n)
    mine = [p.copy(), m.copy(), v.copy()]
    what = ", ".join(f"{k}={val}" for k, val in hp.items())
    for step in range(1, steps + 1):
        g = rng.standard_normal(n) * grad_scale
        before = p.copy()
        _oracle("adam_step")(p, g, m, v, step=step, **hp)
        call(student, "adam_step", mine[0], g.copy(), mine[1], mine[2], step=step, **hp)
        where = f"adam_step with {what}, step={step}"
        expect_close(mine[1], m, what=f"{where}: exp_avg", rtol=rtol, atol=0.0,
                     hint="exp_avg = beta1 * exp_avg + (1 - beta1) * g, with g including "
                          "weight_decay * p for Adam (decoupled=False) only")
        expect_close(mine[2], v, what=f"{where}: exp_avg_sq", rtol=rtol, atol=0.0,
                     hint="exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g")
        # The change of p, not p: a wrong update of 1e-3 would hide in p's rounding.
        expect_close(mine[0] - before, p - before, what=f"{where}: the change of param",
                     rtol=rtol, atol=0.0, hint=hint)
        mine[0][...] = p  # the next step starts from the right value either way


ADAM_HP = {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


@points(2)
def test_adam_step_matches_the_update_rule(student):
    """Four steps without weight decay: moments, bias corrections and the update."""
    _adam_steps(student, dict(ADAM_HP, weight_decay=0.0, decoupled=False), steps=4)


@points(1)
def test_adam_step_with_l2_weight_decay(student):
    """Adam (decoupled=False): weight_decay * p is added to the gradient."""
    _adam_steps(student, dict(ADAM_HP, weight_decay=0.1, decoupled=False), steps=3, seed=1)


@points(1)
def test_adam_step_with_decoupled_weight_decay(student):
    """AdamW (decoupled=True): p shrinks by (1 - lr * weight_decay); the gradient stays."""
    _adam_steps(student, dict(ADAM_HP, lr=0.05, weight_decay=0.1, decoupled=True), steps=3,
                seed=2)


@points(1)
def test_adam_step_adds_eps_after_the_square_root(student):
    """Gradients of about 1e-9, where eps matters: it goes after sqrt and the correction."""
    _adam_steps(student, dict(ADAM_HP, weight_decay=0.0, decoupled=False), steps=2, seed=3,
                grad_scale=1e-9, rtol=1e-6, hint=EPS_HINT)


@points(1)
def test_adam_step_compiles_with_numba(student):
    """numba.njit(adam_step) on float32 arrays agrees with tinytorch's jit kernel."""
    call(student, "adam_step", np.zeros(1), np.ones(1), np.zeros(1), np.zeros(1),
         step=1, weight_decay=0.0, decoupled=False, **ADAM_HP)
    fn = _compile(student, "adam_step")
    rng = np.random.default_rng(4)
    start = [rng.standard_normal(37).astype(np.float32), np.zeros(37, np.float32),
             np.zeros(37, np.float32)]
    mine, ref = [a.copy() for a in start], [a.copy() for a in start]
    hp = dict(ADAM_HP, weight_decay=0.01, decoupled=True)
    for step in (1, 2, 3):
        g = rng.standard_normal(37).astype(np.float32)
        _run_compiled(fn, "adam_step", mine[0], g, mine[1], mine[2], step=step, **hp)
        tt.dispatch.kernel_for("adam_step", "jit")[1](ref[0], g, ref[1], ref[2], step=step,
                                                      **hp)
    expect_close(mine[0], ref[0], what="numba.njit(adam_step): param after 3 AdamW steps on "
                 "float32", hint=ADAM_RULE, rtol=1e-5)


@points(2)
def test_adam_step_trains_the_digits_mlp_as_a_backend(student):
    """Registered as backend "student", your compiled kernel is the optimiser of the digits
    MLP: 15 training steps give the losses of tinytorch's jit kernel."""
    call(student, "adam_step", np.zeros(1), np.ones(1), np.zeros(1), np.zeros(1),
         step=1, weight_decay=0.0, decoupled=False, **ADAM_HP)
    tt.register_kernel("adam_step", "student", _compile(student, "adam_step"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the other ops borrow jit
        try:
            mine = train_mlp("student", epochs=1, max_steps=15, fallback="jit")["losses"]
        except numba.core.errors.NumbaError as err:
            pytest.fail(f"numba could not compile adam_step: {_numba_reason(err)}",
                        pytrace=False)
        ref = train_mlp("jit", epochs=1, max_steps=15)["losses"]
    expect_close(mine, ref, what="the losses of 15 Adam steps on the digits MLP with your "
                 "kernel", rtol=1e-4, atol=1e-6, hint=ADAM_RULE)


# --- optimizer_state_bytes ---------------------------------------------------------------

def _stepped(make, shapes=((5, 3), (3,))):
    params = [tt.zeros(*s, requires_grad=True) for s in shapes]
    opt = make(params)
    for p in params:
        p.grad = tt.ones(*p.shape)
    return opt, params


@points(1)
def test_optimizer_state_bytes_counts_the_buffers(student):
    """0 before the first step and for plain SGD; 1x the parameters for SGD momentum, 2x
    for Adam (float32 and float64)."""
    params = [tt.zeros(5, 3, requires_grad=True), tt.zeros(3, requires_grad=True)]
    fresh = tt.optim.Adam(params)
    expect_equal(call(student, "optimizer_state_bytes", fresh), 0,
                 what="optimizer_state_bytes of an Adam that has not stepped yet",
                 hint="the state is created by the first step(); before it, state is empty")
    cases = [("SGD", lambda ps: tt.optim.SGD(ps, lr=0.1), 0),
             ("SGD momentum", lambda ps: tt.optim.SGD(ps, lr=0.1, momentum=0.9), 1),
             ("Adam", lambda ps: tt.optim.Adam(ps), 2)]
    for name, make, copies in cases:
        opt, ps = _stepped(make)
        opt.step()
        expect_equal(call(student, "optimizer_state_bytes", opt), copies * 18 * 4,
                     what=f"optimizer_state_bytes of {name} after one step over 18 float32 "
                          "parameter elements",
                     hint="add t.nbytes of every tt.Tensor in each optimizer.state[p]; the "
                          "int 'step' counts nothing")
    opt = tt.optim.Adam([tt.zeros(4, dtype=tt.float64, requires_grad=True)])
    opt.param_groups[0]["params"][0].grad = tt.ones(4, dtype=tt.float64)
    opt.step()
    expect_equal(call(student, "optimizer_state_bytes", opt), 2 * 4 * 8,
                 what="optimizer_state_bytes of Adam over 4 float64 elements",
                 hint="nbytes already counts the element size")


# --- cosine_lr ---------------------------------------------------------------------------

COSINE = "eta_min + (base_lr - eta_min) * (1 + cos(pi * step / t_max)) / 2"


@points(1)
def test_cosine_lr_endpoints_and_midpoint(student):
    """base_lr at 0, half way between at t_max / 2, eta_min at t_max."""
    base, t_max, eta = 0.1, 10, 0.002
    for step, expected in [(0, base), (5, eta + (base - eta) / 2), (10, eta)]:
        got = call(student, "cosine_lr", step, base, t_max, eta)
        expect_close(got, expected, what=f"cosine_lr({step}, {base}, {t_max}, {eta})",
                     rtol=1e-12, atol=1e-15, hint=COSINE)


@points(2)
def test_cosine_lr_matches_cosine_annealing_lr(student):
    """Every epoch over two periods and a half equals tt.optim.lr_scheduler's
    CosineAnnealingLR (which climbs back after t_max)."""
    base, t_max, eta = 0.5, 7, 0.01
    opt = tt.optim.SGD([tt.zeros(1, requires_grad=True)], lr=base)
    sched = tt.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta)
    for step in range(5 * t_max // 2 + 1):
        got = call(student, "cosine_lr", step, base, t_max, eta)
        expect_close(got, sched.get_last_lr()[0], what=f"cosine_lr({step}, {base}, {t_max}, "
                     f"{eta})", rtol=1e-9, atol=1e-12, hint=COSINE + "; step is the epoch, "
                     "starting at 0")
        opt.step()
        sched.step()


# --- train_epoch -------------------------------------------------------------------------

def _mlp(seed: int):
    tt.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 4))


def _data(n: int = 50, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 6)).astype(np.float32), rng.integers(0, 4, n)


def _reference_epoch(model, opt, images, labels, batch_size, rng) -> float:
    """The loop the lab specifies: one permutation, then zero_grad/forward/backward/step."""
    order = rng.permutation(len(labels))
    losses = []
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        opt.zero_grad()
        loss = F.cross_entropy(model(tt.tensor(images[index])), tt.tensor(labels[index]))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def _weights(model) -> dict:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _twin_epochs(student, epochs: int = 2):
    """The student's train_epoch and the reference on twin models (SGD with momentum; 50
    samples in batches of 16: the last batch has 2)."""
    x, y = _data()
    runs = []
    for fn in ("student", "reference"):
        model = _mlp(0)
        opt = tt.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        losses = []
        for epoch in range(epochs):
            rng = np.random.default_rng(epoch)
            if fn == "student":
                losses.append(call(student, "train_epoch", model, opt, x, y, 16, rng))
            else:
                losses.append(_reference_epoch(model, opt, x, y, 16, rng))
        runs.append((losses, _weights(model)))
    return runs


EPOCH_HINT = ("order = rng.permutation(N) once; for each batch order[s:s + batch_size]: "
              "optimizer.zero_grad(), forward, F.cross_entropy, backward, optimizer.step()")


@points(2)
def test_train_epoch_returns_the_mean_batch_loss(student):
    """The mean of the batch losses of two epochs, the last small batch counting once."""
    (mine, _), (ref, _) = _twin_epochs(student)
    for epoch, (got, expected) in enumerate(zip(mine, ref, strict=True)):
        _require(isinstance(got, (float, np.floating)),
                 f"train_epoch should return the mean loss as a float, got "
                 f"{type(got).__name__} {got!r}\nhint: loss.item() is a float; "
                 "float(np.mean(losses))")
        expect_close(got, expected, what=f"the mean loss of epoch {epoch}", rtol=1e-6,
                     hint="the mean over batches (each batch once, the last smaller one "
                          "too) of loss.item(); " + EPOCH_HINT)


@points(2)
def test_train_epoch_updates_like_the_reference_loop(student):
    """After two epochs the weights equal those of the loop the lab specifies."""
    (_, mine), (_, ref) = _twin_epochs(student)
    for name, expected in ref.items():
        expect_close(mine[name], expected, what=f"{name} {expected.shape} after two epochs",
                     rtol=1e-5, atol=1e-6,
                     hint="backward() adds into .grad: without zero_grad() every batch "
                          "steps with the sum of all gradients so far; " + EPOCH_HINT)


# --- checkpoints -------------------------------------------------------------------------

def _adam_run(seed: int = 0, lr: float = 0.05, epochs: int = 2):
    """A model and its Adam (one group, weight decay) after ``epochs`` of the grader's loop."""
    x, y = _data()
    model = _mlp(seed)
    opt = tt.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-3)
    for epoch in range(epochs):
        _reference_epoch(model, opt, x, y, 16, np.random.default_rng(epoch))
    return model, opt


def _fresh(seed: int = 1):
    """A twin initialised differently, with an Adam of other hyperparameters, unstepped."""
    model = _mlp(seed)
    return model, tt.optim.Adam(model.parameters(), lr=0.5, betas=(0.8, 0.9))


def _expect_weights(model, expected: dict, what: str, hint: str) -> None:
    got = _weights(model)
    for name, value in expected.items():
        expect_close(got[name], value, what=f"{what}: {name} {value.shape}", rtol=0.0,
                     atol=0.0, hint=hint)


def _plainify(obj):
    """JSON's view of a value: tuples become lists (what a JSON round trip gives)."""
    return json.loads(json.dumps(obj))


@points(2)
def test_checkpoint_round_trip_restores_the_model_and_epoch(student, tmp_path):
    """save_checkpoint then load_checkpoint into a model initialised differently gives the
    same weights, bit for bit, and returns the saved epoch."""
    model, opt = _adam_run()
    path = tmp_path / "ckpt.npz"
    call(student, "save_checkpoint", str(path), model, opt, 2)
    _require(path.is_file(), f"save_checkpoint(path, ...) wrote no file at {path}; files "
             f"there: {sorted(p.name for p in tmp_path.iterdir())}\nhint: write exactly "
             "the path given (np.savez into an open file does not add '.npz')")
    other, other_opt = _fresh()
    epoch = call(student, "load_checkpoint", str(path), other, other_opt)
    expect_equal(epoch, 2, what="the epoch load_checkpoint returns for a checkpoint saved "
                 "with epoch=2", hint="store the epoch in the JSON metadata and return it")
    _expect_weights(other, _weights(model), "the model after load_checkpoint",
                    "save every tensor of model.state_dict() and load them with "
                    "model.load_state_dict; float32 stays float32, bit for bit")


@points(2)
def test_checkpoint_restores_the_optimizer_state(student, tmp_path):
    """After loading, the optimiser has the saved hyperparameters, step counts and both
    Adam moments, bit for bit."""
    model, opt = _adam_run()
    opt.param_groups[0]["lr"] = 0.0123  # as a schedule would have left it
    path = tmp_path / "ckpt.npz"
    call(student, "save_checkpoint", str(path), model, opt, 2)
    other, other_opt = _fresh()
    call(student, "load_checkpoint", str(path), other, other_opt)
    saved, got = opt.state_dict(), other_opt.state_dict()
    hint = ("save optimizer.state_dict(): its tensors as arrays, its numbers and "
            "param_groups as JSON; restore with optimizer.load_state_dict")
    expect_equal(_plainify(got["param_groups"]), _plainify(saved["param_groups"]),
                 what="the optimiser's param_groups after load_checkpoint", hint=hint)
    expect_equal(sorted(got["state"]), sorted(saved["state"]),
                 what="the parameters that have optimiser state after load_checkpoint",
                 hint=hint)
    for index, entry in saved["state"].items():
        expect_equal(got["state"][index]["step"], entry["step"],
                     what=f"state[{index}]['step'] after load_checkpoint", hint=hint)
        for key in ("exp_avg", "exp_avg_sq"):
            expect_close(got["state"][index][key], entry[key].numpy(), rtol=0.0, atol=0.0,
                         what=f"state[{index}][{key!r}] after load_checkpoint", hint=hint)


@points(3)
def test_resume_is_bit_identical_to_an_uninterrupted_run(student, tmp_path):
    """Train 2 epochs, checkpoint, train 2 more; a fresh model and optimiser that load the
    checkpoint and train the same 2 epochs end with exactly the same weights."""
    x, y = _data()
    model, opt = _adam_run(epochs=2)
    path = tmp_path / "ckpt.npz"
    call(student, "save_checkpoint", str(path), model, opt, 2)
    for epoch in (2, 3):
        _reference_epoch(model, opt, x, y, 16, np.random.default_rng(epoch))
    resumed, resumed_opt = _fresh()
    call(student, "load_checkpoint", str(path), resumed, resumed_opt)
    for epoch in (2, 3):
        _reference_epoch(resumed, resumed_opt, x, y, 16, np.random.default_rng(epoch))
    _expect_weights(resumed, _weights(model), "after resuming and training epochs 2 and 3",
                    "a resumed run needs the weights AND the optimiser: Adam's moments and "
                    "step counts and each group's hyperparameters (lr, betas, ...)")


@points(1)
def test_checkpoint_with_sgd_momentum(student, tmp_path):
    """An SGD optimiser with Nesterov momentum resumes bit-identically too."""
    x, y = _data()

    def make(seed, lr):
        model = _mlp(seed)
        return model, tt.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True)

    model, opt = make(0, 0.05)
    _reference_epoch(model, opt, x, y, 16, np.random.default_rng(0))
    path = tmp_path / "sgd.npz"
    call(student, "save_checkpoint", str(path), model, opt, 1)
    _reference_epoch(model, opt, x, y, 16, np.random.default_rng(1))
    resumed, resumed_opt = make(1, 0.9)
    call(student, "load_checkpoint", str(path), resumed, resumed_opt)
    _reference_epoch(resumed, resumed_opt, x, y, 16, np.random.default_rng(1))
    _expect_weights(resumed, _weights(model), "SGD with momentum, resumed after epoch 0",
                    "the momentum buffers (state[i]['momentum_buffer']) and lr must come "
                    "back too")


class _RunsCodeWhenUnpickled:
    """What a hostile checkpoint can hold: unpickling it runs the code it names (here,
    harmlessly, setting an environment variable of this process)."""

    def __reduce__(self):
        return exec, ("import os; os.environ['TINYTORCH_LAB06_PICKLE_RAN'] = '1'",)


@points(2)
def test_load_refuses_a_file_that_needs_pickle(student, tmp_path):
    """A checkpoint whose arrays are pickled objects raises ValueError, runs nothing and
    changes nothing."""
    model, opt = _adam_run(epochs=1)
    path = tmp_path / "ckpt.npz"
    call(student, "save_checkpoint", str(path), model, opt, 1)
    _require(zipfile.is_zipfile(path), f"save_checkpoint should write one .npz archive at "
             f"path; {path.name} is not one\nhint: np.savez into the temporary file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            for key in keys:
                archive[key]
    except ValueError as err:
        pytest.fail(f"your own checkpoint needs pickle to read ({err})\nhint: store the "
                    "JSON text as np.array(json.dumps(meta)), a unicode array, never a dict "
                    "or an object array", pytrace=False)
    hostile = {}
    for key in keys:
        cell = np.empty(1, dtype=object)
        cell[0] = _RunsCodeWhenUnpickled()
        hostile[key] = cell
    np.savez(path, **hostile)  # the same names, every value a pickle
    other, other_opt = _fresh()
    before = _weights(other)
    os.environ.pop("TINYTORCH_LAB06_PICKLE_RAN", None)
    try:
        try:
            call(student, "load_checkpoint", str(path), other, other_opt)
        except ValueError:
            pass
        else:
            pytest.fail("load_checkpoint read a file whose arrays are pickled objects "
                        "without raising ValueError\nhint: np.load(path, allow_pickle=False)"
                        " refuses them", pytrace=False)
        ran = os.environ.get("TINYTORCH_LAB06_PICKLE_RAN") == "1"
    finally:
        os.environ.pop("TINYTORCH_LAB06_PICKLE_RAN", None)
    _require(not ran, "loading the hostile checkpoint ran the code inside its pickle (it set "
             "an environment variable): a checkpoint from anyone else could run anything\n"
             "hint: np.load(path, allow_pickle=False), always")
    _expect_weights(other, before, "the model after a refused load",
                    "read and check everything before changing the model")
    expect_equal(other_opt.state_dict()["state"], {}, what="the optimiser's state after a "
                 "refused load", hint="read and check everything before changing anything")


@points(2)
def test_save_checkpoint_is_atomic(student, tmp_path, monkeypatch):
    """A save that dies before its final rename leaves the previous checkpoint whole; a
    save fsyncs its data."""
    model, opt = _adam_run(epochs=1)
    path = tmp_path / "ckpt.npz"
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    call(student, "save_checkpoint", str(path), model, opt, 1)
    monkeypatch.setattr(os, "fsync", real_fsync)
    old = _weights(model)
    _reference_epoch(model, opt, *_data(), 16, np.random.default_rng(1))  # new weights
    renames = []

    def crash(src, dst, *args, **kwargs):
        renames.append((src, dst))
        raise OSError("simulated crash: the machine stopped before the rename")

    monkeypatch.setattr(os, "replace", crash)
    monkeypatch.setattr(os, "rename", crash)
    try:
        try:
            call(student, "save_checkpoint", str(path), model, opt, 2)
        except OSError:
            pass  # the simulated crash: what counts is what is left at path
    finally:
        monkeypatch.undo()
    other, other_opt = _fresh()
    try:
        epoch = call(student, "load_checkpoint", str(path), other, other_opt)
    except Exception as err:  # noqa: BLE001 (a torn file is the finding)
        pytest.fail(f"after a save that stopped before its rename, the old checkpoint no "
                    f"longer loads: {type(err).__name__}: {err}\nhint: write a temporary "
                    "file in the same folder, then os.replace(tmp, path)", pytrace=False)
    intact = epoch == 1 and all(np.array_equal(_weights(other)[k], v) for k, v in old.items())
    if not intact:
        if not renames:
            how = ("it never called os.replace: the new checkpoint went straight into path "
                   f"(load now returns epoch {epoch!r}), so a crash half way through the "
                   "write leaves half a file where the last good checkpoint was")
        else:
            how = ("yet path no longer holds the epoch-1 checkpoint (load returned epoch "
                   f"{epoch!r}): the file at path was changed before the rename")
        pytest.fail(f"save_checkpoint(path, ..., epoch=2) ran with os.replace made to fail, "
                    f"as in a crash just before the rename; {how}\nhint: np.savez into "
                    "tempfile.mkstemp(dir=<path's folder>), flush, os.fsync, then "
                    "os.replace(tmp, path)", pytrace=False)
    _require(synced, "save_checkpoint never called os.fsync: after a power cut the rename "
             "can reach the disk before the data it points to, and the checkpoint is "
             "empty\nhint: f.flush(); os.fsync(f.fileno()) before os.replace")
