# %% [markdown]
# # Lab 06: training, optimiser update loops, schedules, checkpoint and resume
#
# A training step ends with the optimiser: one small update loop per parameter, over
# every element, at every step. The loop does a handful of FLOPs per element and moves
# several arrays through memory, so its speed is set by bytes, not arithmetic. Around the
# steps sit the learning-rate schedule and the checkpoint, which decides whether a crash
# costs a minute or a week.
#
# **Systems questions**:
#
# 1. How many bytes does one Adam step read and write per parameter element when it is one
#    fused loop (read `p`, `g`, `m`, `v`; write `p`, `m`, `v`)? And when it is written as
#    one numpy operation per line, each a pass over memory with a temporary? Which of the
#    two sets the time: the FLOPs or the bytes?
# 2. How much memory does the optimiser keep beside the parameters: SGD, SGD with
#    momentum, Adam? What does that make the memory of a 7-billion-parameter model trained
#    in float32 before a single activation is stored?
# 3. Why does a schedule written in closed form, `lr(epoch)`, make resuming easy?
# 4. What must a checkpoint hold so that a resumed run is *bit-identical* to one that never
#    stopped? (More than the weights.)
# 5. Why write a checkpoint to a temporary file, `fsync` it and rename it over the old one?
#    And why must loading a checkpoint never unpickle anything?
#
# Fill in each `TODO`, run `python lab06_training.py` for the experiments and
# `tinytorch grade 06` to check. `kernels/optim.py` and `docs/optim.md` state the rules.

# %%
import builtins
import json
import math
import os
import tempfile
import time
import warnings

import numba
import numpy as np

import tinytorch as tt
from tinytorch import nn
from tinytorch.data.datasets import Digits
from tinytorch.examples.mlp_digits import accuracy, build_mlp, train_mlp
from tinytorch.nn import functional as F

# `kernprof -l -v lab06_training.py` puts a `profile` decorator into builtins; without
# kernprof the decorator does nothing.
profile = getattr(builtins, "profile", lambda fn: fn)


# %% [markdown]
# ## 1. SGD as a loop
#
# tinytorch's optimisers call one *kernel* per parameter: `sgd_step(param, grad,
# momentum_buf, *, lr, momentum, dampening, nesterov, weight_decay, first)` on **flat 1-D
# arrays** of `N` elements (the parameter and its state are written in place: they are the
# outputs). PyTorch's rule, for each element `i`:
#
# ```
# d = g[i] + weight_decay * p[i]
# if momentum != 0:
#     buf[i] = d                                          on the first step (first=True)
#     buf[i] = momentum * buf[i] + (1 - dampening) * d    on every later step
#     d = d + momentum * buf[i]  if nesterov  else  buf[i]
# p[i] = p[i] - lr * d
# ```
#
# On the first step the buffer is fresh memory (`np.empty`): write it, never read it. With
# `momentum == 0` the buffer is not used at all and the caller may pass an empty array.
# Write one loop over `i` with numbers only (no whole-array operations), so that
# `numba.njit` compiles it.


# %%
@profile
def sgd_step(param, grad, momentum_buf, *, lr, momentum, dampening, nesterov,
             weight_decay, first):
    """One SGD step over flat arrays of ``N`` elements, in place; returns nothing.

    ``param`` (N,) is updated; ``grad`` (N,) is read; ``momentum_buf`` (N,) is written
    (and read, except on the first step) only when ``momentum != 0``.

    >>> p, g = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    >>> sgd_step(p, g, np.empty(0), lr=0.1, momentum=0.0, dampening=0.0, nesterov=False,
    ...          weight_decay=0.0, first=True)
    >>> p.tolist()
    [0.95, 2.1]
    """
    # TODO: one loop over the elements; d, then the buffer (if momentum), then p
    raise NotImplementedError("TODO: implement sgd_step")


# %% [markdown]
# ## 2. Adam as a loop
#
# `adam_step(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay,
# step, decoupled)`, flat 1-D arrays again; `step` counts from 1 (this is the step-th
# update). PyTorch's rule, for each element:
#
# ```
# if decoupled:  p = p * (1 - lr * weight_decay)        (AdamW: shrink the weight)
# else:          g = g + weight_decay * p               (Adam: L2 term in the gradient)
# m = beta1 * m + (1 - beta1) * g                       (write back to exp_avg)
# v = beta2 * v + (1 - beta2) * g * g                   (write back to exp_avg_sq)
# p = p - (lr / (1 - beta1 ** step)) * m / (sqrt(v) / sqrt(1 - beta2 ** step) + eps)
# ```
#
# The two bias corrections undo the zero start of `m` and `v`; `eps` is added *after* the
# square root and the correction. The corrections are the same for every element:
# compute them once, before the loop. Use `math.sqrt` (numba compiles it).


# %%
@profile
def adam_step(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay,
              step, decoupled):
    """One Adam (``decoupled=False``) or AdamW (``decoupled=True``) step over flat arrays of
    ``N`` elements, in place; returns nothing. ``param``, ``exp_avg`` and ``exp_avg_sq``
    (N,) are read and written, ``grad`` (N,) is read.

    >>> p, g = np.array([1.0, -1.0]), np.array([2.0, -2.0])
    >>> m, v = np.zeros(2), np.zeros(2)
    >>> adam_step(p, g, m, v, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
    ...           step=1, decoupled=False)
    >>> [round(x, 6) for x in p.tolist()], [round(x, 6) for x in m.tolist()]
    ([0.9, -0.9], [0.2, -0.2])
    """
    # TODO: both bias corrections once; then one loop: decay, m, v, then p
    raise NotImplementedError("TODO: implement adam_step")


# %% [markdown]
# ## 3. The memory an optimiser keeps
#
# `optimizer.state` maps each parameter to a dict of its state: SGD with momentum keeps a
# `momentum_buffer`, Adam keeps `exp_avg` and `exp_avg_sq` (and an int `step`). The buffers
# are tensors as large as their parameter, created at the first `step()` (a parameter that
# never had a gradient has no state). Count the bytes they hold (`t.nbytes`).


# %%
def optimizer_state_bytes(optimizer) -> int:
    """The bytes held by every tensor in ``optimizer.state`` (numbers count nothing).

    >>> w = tt.zeros(10, requires_grad=True); w.grad = tt.ones(10)
    >>> opt = tt.optim.Adam([w]); optimizer_state_bytes(opt)
    0
    >>> opt.step(); optimizer_state_bytes(opt)   # two float32 buffers of 10 elements
    80
    """
    # TODO: sum value.nbytes over the values of each parameter's state that are tt.Tensor
    raise NotImplementedError("TODO: implement optimizer_state_bytes")


# %% [markdown]
# ## 4. A cosine schedule in closed form
#
# `CosineAnnealingLR` computes each rate from the previous one (PyTorch's way). The same
# schedule in closed form needs nothing but the epoch number, which is what you want when a
# run resumes:
#
# `lr(t) = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / t_max)) / 2`
#
# Past `t_max` it climbs back up (the cosine goes on), as `CosineAnnealingLR` does.


# %%
def cosine_lr(step: int, base_lr: float, t_max: int, eta_min: float = 0.0) -> float:
    """The learning rate at epoch (or step) ``step`` of a cosine schedule.

    >>> cosine_lr(0, 0.1, 10), cosine_lr(10, 0.1, 10, 0.001)
    (0.1, 0.001)
    >>> round(cosine_lr(5, 0.1, 10), 6)
    0.05
    """
    # TODO: the closed form above (math.cos, math.pi)
    raise NotImplementedError("TODO: implement cosine_lr")


# %% [markdown]
# ## 5. One epoch of training
#
# `images` is a numpy array `(N, features)` of float32, `labels` a numpy array `(N,)` of
# int64, `rng` a `np.random.Generator`. Draw the order of the epoch **once**, with
# `order = rng.permutation(N)`, and cut it into batches `order[0:B]`, `order[B:2B]`, ...
# (the last one may be smaller). For each batch: `optimizer.zero_grad()`, forward,
# `F.cross_entropy(logits, targets)`, `loss.backward()`, `optimizer.step()`. Return the
# mean of the batch losses as a Python float (each batch counts once, the last one too).
# Why `zero_grad`? `backward()` *adds* into `.grad`.


# %%
def train_epoch(model, optimizer, images, labels, batch_size: int, rng) -> float:
    """Train ``model`` for one epoch over ``images`` (N, F) / ``labels`` (N,) in batches of
    ``batch_size``, in the order ``rng.permutation(N)``; returns the mean batch loss.

    >>> _ = tt.manual_seed(0); model = nn.Linear(4, 3)
    >>> opt = tt.optim.SGD(model.parameters(), lr=0.1)
    >>> x = np.ones((10, 4), np.float32); y = np.arange(10) % 3
    >>> loss = train_epoch(model, opt, x, y, 4, np.random.default_rng(0))
    >>> isinstance(loss, float) and loss > 0
    True
    """
    # TODO: rng.permutation once; per batch: zero_grad, forward, loss, backward, step
    raise NotImplementedError("TODO: implement train_epoch")


# %% [markdown]
# ## 6. Checkpoint and resume
#
# A checkpoint must hold everything the next step depends on: the model's
# `state_dict()`, the optimiser's `state_dict()` (Adam's moments and step counts *and* the
# hyperparameters of each group, `lr` included) and the epoch. The data order is the
# loop's job: draw each epoch's order from a generator seeded by the epoch
# (`np.random.default_rng([seed, epoch])`), so it does not depend on the epochs before.
#
# The file: **one `.npz` archive** at `path` (the name as given), holding
#
# - each model tensor as an array, e.g. under `"model." + name`;
# - each optimiser state tensor, e.g. under `f"optim.{index}.{key}"`;
# - the rest (epoch, `param_groups`, step counts) as JSON text in a 0-d string array:
#   `np.array(json.dumps(meta))`. Mind that JSON keys are strings and tuples come back as
#   lists; `optimizer.load_state_dict` accepts lists.
#
# No pickle anywhere: read it with `np.load(path, allow_pickle=False)`, which refuses
# object arrays (loading a pickle runs whatever code the file names). A file that needs
# pickle must raise `ValueError` before the model or the optimiser changes.
#
# Write it **atomically**: `np.savez` into a temporary file *in the same folder*
# (`tempfile.mkstemp(dir=...)`: a rename across file systems is not atomic), `flush` and
# `os.fsync` it, then `os.replace(tmp, path)`. A crash at any moment then leaves the old
# checkpoint or the new one, never half of one. (`tinytorch/io.py` does the same for
# text.) Load the arrays with `tt.tensor(array)` into `model.load_state_dict(...)` and
# `optimizer.load_state_dict({"state": {index: {...}}, "param_groups": [...]})`.


# %%
def save_checkpoint(path, model, optimizer, epoch: int) -> None:
    """Write the model, the optimiser and ``epoch`` (the number of epochs done) to the
    ``.npz`` file ``path``, atomically.

    >>> folder = tempfile.mkdtemp(); path = os.path.join(folder, "ckpt.npz")
    >>> model = nn.Linear(2, 2); opt = tt.optim.Adam(model.parameters())
    >>> save_checkpoint(path, model, opt, 3); os.path.isfile(path)
    True
    """
    # TODO: arrays + JSON meta -> np.savez into a temp file; flush, fsync, os.replace
    raise NotImplementedError("TODO: implement save_checkpoint")


def load_checkpoint(path, model, optimizer) -> int:
    """Restore ``model`` and ``optimizer`` in place from ``path``; returns the epoch saved.
    Raises ``ValueError`` for a file that needs pickle (nothing is changed then).

    >>> folder = tempfile.mkdtemp(); path = os.path.join(folder, "ckpt.npz")
    >>> a = nn.Linear(2, 2); save_checkpoint(path, a, tt.optim.Adam(a.parameters()), 3)
    >>> b = nn.Linear(2, 2); load_checkpoint(path, b, tt.optim.Adam(b.parameters()))
    3
    >>> bool((a.weight == b.weight).numpy().all())
    True
    """
    # TODO: np.load(path, allow_pickle=False); json.loads the meta; load both state dicts
    raise NotImplementedError("TODO: implement load_checkpoint")


# %% [markdown]
# ## Experiments
#
# Run `python lab06_training.py`. For a line-by-line profile of your update loops (the
# Python versions; numba's machine code has no lines to count):
#
# ```bash
# kernprof -l -v lab06_training.py
# ```


# %%
def _todo(name: str) -> None:
    print(f"TODO: implement {name} first")


def _median_s(fn, *args, repeat: int = 5, **kwargs) -> float:
    fn(*args, **kwargs)  # warm-up: the first call of a jit function compiles
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _plain(fn):
    """The function itself, without kernprof's wrapper (numba compiles only the former)."""
    return getattr(fn, "__wrapped__", fn)


def _digits():
    train_x, train_y = Digits("train", flatten=True).tensors()
    test_x, test_y = Digits("test", flatten=True).tensors()
    return train_x.numpy(), train_y.numpy(), test_x.numpy(), test_y.numpy()


ADAM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2,
        "decoupled": True}


def experiment_update_kernels() -> None:
    rng = np.random.default_rng(0)
    n = 1 << 21  # 2 Mi float32 elements per array: 8 MiB each, past most caches

    def arrays(size):
        p, g = rng.standard_normal((2, size), dtype=np.float32)
        return p, g, np.zeros(size, np.float32), np.zeros(size, np.float32)

    small = 20_000  # the Python loops: a few microseconds per element
    p, g, m, v = arrays(small)
    check = [a.copy() for a in (p, g, m, v)]
    try:
        adam_step(p, g, m, v, step=1, **ADAM)
    except NotImplementedError:
        return _todo("adam_step")
    tt.dispatch.kernel_for("adam_step", "numpy")[1](*check, step=1, **ADAM)
    if not (np.allclose(p, check[0], rtol=1e-5, atol=1e-7) and np.allclose(m, check[2])):
        print("adam_step does not match tinytorch's numpy kernel yet: fix it before timing")
        return
    loops_s = _median_s(adam_step, p, g, m, v, repeat=3, step=2, **ADAM) / small * n

    # numba's default error model checks every division for zero (to raise
    # ZeroDivisionError as Python would), and that branch keeps the loop from using SIMD;
    # tinytorch compiles its kernels with error_model="numpy" (inf and nan, like numpy).
    rows = {"your loops (extrapolated)": loops_s}
    for name, fn in [("your loops, njit", numba.njit(_plain(adam_step))),
                     ("  error_model='numpy'",
                      numba.njit(error_model="numpy")(_plain(adam_step))),
                     ("tinytorch jit", tt.dispatch.kernel_for("adam_step", "jit")[1]),
                     ("tinytorch numpy", tt.dispatch.kernel_for("adam_step", "numpy")[1])]:
        rows[name] = _median_s(fn, *arrays(n), step=2, **ADAM)
    fused = 7 * 4 * n  # read p, g, m, v; write p, m, v: 7 arrays of 4-byte elements
    print(f"one AdamW step on {n:,} float32 elements, median times:")
    for name, s in rows.items():
        print(f"  {name:26} {s * 1e3:9.2f} ms  {s / n * 1e9:7.2f} ns/element  "
              f"{fused / s / 1e9:6.2f} GB/s at 7 x 4 bytes/element")
    print("the fused loop moves 28 bytes per element; the numpy version makes ~13 passes "
          "with temporaries, ~30 x 4 bytes: compare its time with the fused kernels'")

    p, g, b = (rng.standard_normal(small) for _ in range(3))
    try:
        sgd_step(p, g, b, lr=0.1, momentum=0.9, dampening=0.0, nesterov=True,
                 weight_decay=0.0, first=True)
    except NotImplementedError:
        return _todo("sgd_step")
    sgd = {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "nesterov": True,
           "weight_decay": 0.0, "first": False}
    mine = _median_s(sgd_step, p, g, b, repeat=3, **sgd) / small * 1e9
    jit = _median_s(tt.dispatch.kernel_for("sgd_step", "jit")[1],
                    *(rng.standard_normal(n) for _ in range(3)), **sgd) / n * 1e9
    print(f"SGD with Nesterov momentum: your loops {mine:.1f} ns/element, tinytorch jit "
          f"{jit:.2f} ns/element (5 x 8 bytes each)")
    print("line by line: kernprof -l -v lab06_training.py (then read sgd_step, adam_step)")


def experiment_state_memory() -> None:
    train_x, train_y, _, _ = _digits()
    x, y = tt.tensor(train_x[:32]), tt.tensor(train_y[:32])
    rows = []
    for name, make in [("SGD", lambda ps: tt.optim.SGD(ps, lr=0.1)),
                       ("SGD momentum", lambda ps: tt.optim.SGD(ps, lr=0.1, momentum=0.9)),
                       ("Adam", lambda ps: tt.optim.Adam(ps))]:
        tt.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
        opt = make(list(model.parameters()))
        F.cross_entropy(model(x), y).backward()
        opt.step()
        try:
            rows.append((name, optimizer_state_bytes(opt)))
        except NotImplementedError:
            return _todo("optimizer_state_bytes")
    params = sum(p.nbytes for p in model.parameters())
    print(f"MLP 64-128-10: parameters {params:,} B (gradients as many again)")
    for name, state in rows:
        print(f"  {name:13} optimiser state {state:>9,} B = {state / params:.0f} x the "
              "parameters")
    billions = 7
    gb = billions * 4  # float32: 4 bytes per parameter, 1e9 parameters per GB
    print(f"a {billions}B model in float32: weights {gb} GB + gradients {gb} GB + Adam "
          f"{2 * gb} GB = {4 * gb} GB before any activation")


def experiment_schedule() -> None:
    base, t_max, eta_min = 0.1, 8, 0.001
    opt = tt.optim.SGD([tt.zeros(1, requires_grad=True)], lr=base)
    sched = tt.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min)
    try:
        cosine_lr(0, base, t_max, eta_min)
    except NotImplementedError:
        return _todo("cosine_lr")
    worst = 0.0
    print(" epoch  cosine_lr  CosineAnnealingLR")
    for epoch in range(2 * t_max + 1):
        mine, theirs = cosine_lr(epoch, base, t_max, eta_min), sched.get_last_lr()[0]
        worst = max(worst, abs(mine - theirs))
        if epoch % 2 == 0:
            print(f"  {epoch:4d}  {mine:9.6f}  {theirs:9.6f}")
        opt.step()
        sched.step()
    print(f"largest difference: {worst:.2e} (the scheduler recurses from its last rate; "
          f"the closed form needs only the epoch, so a resumed run needs no scheduler state)")
    print(f"half way the rate is {cosine_lr(t_max // 2, base, t_max, eta_min):.4f}: "
          f"eta_min + (base - eta_min) * (1 + cos(pi / 2)) / 2 = "
          f"{eta_min + (base - eta_min) * (1 + math.cos(math.pi / 2)) / 2:.4f}")


def _run(folder: str, *, epochs: int, stop_after=None, resume: bool = False,
         init_seed: int = 0) -> tuple:
    """Train the digits MLP with AdamW and a cosine schedule, checkpointing after each
    epoch; ``stop_after`` simulates a crash, ``resume`` starts from the checkpoint."""
    train_x, train_y, test_x, test_y = _digits()
    path = os.path.join(folder, "digits.npz")
    tt.manual_seed(init_seed)
    model = build_mlp()
    opt = tt.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    start = load_checkpoint(path, model, opt) if resume else 0
    save_s = []
    for epoch in range(start, epochs):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(epoch, 2e-3, epochs, 1e-4)
        # the order of epoch e depends on e alone, so a resumed run replays it exactly
        loss = train_epoch(model, opt, train_x, train_y, 32, np.random.default_rng([0, epoch]))
        t0 = time.perf_counter()
        save_checkpoint(path, model, opt, epoch + 1)
        save_s.append(time.perf_counter() - t0)
        print(f"  epoch {epoch + 1}/{epochs}  lr {opt.param_groups[0]['lr']:.5f}  loss "
              f"{loss:.4f}  checkpoint {save_s[-1] * 1e3:.1f} ms")
        if stop_after == epoch + 1:
            print("  -- the run stops here (a crash, a pre-empted job) --")
            break
    acc = accuracy(model, test_x, test_y)
    return model, opt, acc, path


def experiment_checkpoint_resume() -> None:
    try:
        cosine_lr(0, 1.0, 1)
    except NotImplementedError:
        return _todo("cosine_lr")
    epochs = 6
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        try:
            print(f"uninterrupted, {epochs} epochs:")
            straight, _, acc, _ = _run(a, epochs=epochs)
            print("stopped after 3 epochs, then resumed into a model initialised "
                  "differently:")
            _run(b, epochs=epochs, stop_after=3)
            resumed, opt, acc2, path = _run(b, epochs=epochs, resume=True, init_seed=1)
        except NotImplementedError as err:
            return _todo(str(err).rsplit(" ", 1)[-1])
        same = all(np.array_equal(p.numpy(), q.numpy())
                   for p, q in zip(straight.parameters(), resumed.parameters(), strict=True))
        print(f"test accuracy {acc * 100:.2f}% (uninterrupted) and {acc2 * 100:.2f}% "
              f"(resumed); parameters bit-identical: {same}")
        params = sum(p.nbytes for p in resumed.parameters())
        with np.load(path, allow_pickle=False) as archive:
            meta = [k for k in archive.files if archive[k].dtype.kind == "U"]
            text = str(archive[meta[0]]) if meta else "(no JSON text found)"
        print(f"checkpoint {os.path.getsize(path):,} B for {params:,} B of parameters "
              f"and {optimizer_state_bytes(opt):,} B of Adam state; its JSON:")
        print("  " + json.dumps(json.loads(text) if meta else text)[:300])


def experiment_student_backend() -> None:
    try:
        adam_step(np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1), step=1, **ADAM)
    except NotImplementedError:
        return _todo("adam_step")
    # Ops without a "student" kernel borrow jit, with one RuntimeWarning per op: silenced
    # here, since the point is that only the optimiser is yours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        tt.register_kernel("adam_step", "student", adam_step)
        slow = train_mlp("student", epochs=1, max_steps=5, fallback="jit")
        print(f"your Python Adam loops as the optimiser: {slow['train_seconds'] / 5 * 1e3:.0f} "
              "ms per training step")
        tt.register_kernel("adam_step", "student", numba.njit(_plain(adam_step)))
        mine = train_mlp("student", epochs=5, fallback="jit")
        ref = train_mlp("jit", epochs=5)
    print(f"digits MLP, 5 epochs of Adam: your njit kernel {mine['test_accuracy'] * 100:.2f}% "
          f"test accuracy ({np.median(mine['epoch_seconds'][1:]) * 1e3:.1f} ms/epoch), "
          f"tinytorch jit {ref['test_accuracy'] * 100:.2f}% "
          f"({np.median(ref['epoch_seconds'][1:]) * 1e3:.1f} ms/epoch)")
    try:
        sgd_step(np.zeros(1), np.zeros(1), np.zeros(1), lr=0.1, momentum=0.9,
                 dampening=0.0, nesterov=False, weight_decay=0.0, first=True)
    except NotImplementedError:
        return _todo("sgd_step")
    train_x, train_y, test_x, test_y = _digits()
    tt.register_kernel("sgd_step", "student", numba.njit(_plain(sgd_step)))
    tt.manual_seed(0)
    model = build_mlp()
    opt = tt.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with tt.backend("student", fallback="jit"):
            for epoch in range(5):
                try:
                    train_epoch(model, opt, train_x, train_y, 32,
                                np.random.default_rng(epoch))
                except NotImplementedError:
                    return _todo("train_epoch")
    print(f"and SGD with Nesterov momentum on your sgd_step: "
          f"{accuracy(model, test_x, test_y) * 100:.2f}% after 5 epochs")


# %%
if __name__ == "__main__":
    for experiment in (experiment_update_kernels, experiment_state_memory,
                       experiment_schedule, experiment_checkpoint_resume,
                       experiment_student_backend):
        print(f"\n== {experiment.__name__} ==")
        experiment()
