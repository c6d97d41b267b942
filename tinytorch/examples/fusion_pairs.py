"""The (fused, unfused) pairs that ``tinytorch.examples.fusion`` checks and times: one builder
per fused kernel (``linear+relu``, ``cross_entropy``, ``adam_step``), each returning
``_Pair`` objects that hold both paths as zero-argument callables, their float64 oracle and
their minimum byte traffic.

Separate from the measuring code because this is where the kernels and their unfused
equivalents are wired up (buffers, views, byte counts): adding a fused kernel means adding a
builder here, while the checking and interleaved timing in ``fusion`` stay as they are.

>>> pairs = _cross_entropy_pairs(3, 4, "numpy", np.float64)
>>> [(p.level, p.direction) for p in pairs][:2]
[('kernels', 'forward'), ('kernels', 'forward+backward')]
>>> float(np.abs(pairs[0].fused()[0] - pairs[0].oracle[0]).max()) < 1e-12
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import tinytorch as tt
from tinytorch import dispatch
from tinytorch.nn import functional as F
from tinytorch.ops.linear_act import linear_relu

IGNORE = -100


@dataclass
class _Pair:
    kernel: str
    level: str  # "kernels" or "tensor API"
    direction: str  # "forward", "forward+backward" or "step"
    shape: str
    fused_name: str
    unfused_name: str
    fused: Callable[[], object]  # one call of each path; returns its outputs (arrays)
    unfused: Callable[[], object]
    oracle: list  # float64 arrays that the outputs must match
    fused_bytes: int
    unfused_bytes: int


# --- linear + ReLU -------------------------------------------------------------------------

def _linear_relu_pairs(m: int, k: int, n: int, backend: str, dtype) -> list[_Pair]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((m, k)).astype(dtype)
    w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal((m, n)).astype(dtype)
    z64 = x.astype(np.float64) @ w.T.astype(np.float64) + b
    y64 = np.maximum(z64, 0)
    dz64 = np.where(z64 > 0, g, 0.0)
    grads64 = [dz64 @ w, dz64.T @ x, dz64.sum(0)]
    s = np.dtype(dtype).itemsize
    shape = f"{m}x{k} -> {n}"

    def kern(op):
        return dispatch.kernel_for(op, backend)[1]

    fwd, bwd = kern("linear_act_forward"), kern("linear_act_backward")
    lin_f, lin_b = kern("linear_forward"), kern("linear_backward")
    relu_f, relu_b = kern("relu_forward"), kern("relu_backward")
    mm, add = kern("matmul_forward"), kern("add_forward")
    out, z, no_pre = np.empty((m, n), dtype), np.empty((m, n), dtype), np.empty((0, 0), dtype)
    gx, gw, gb, dz = np.empty_like(x), np.empty_like(w), np.empty_like(b), np.empty_like(g)
    b_wide = np.broadcast_to(b, (m, n))  # the bias as the add kernel sees it (stride 0)

    def fused_fwd():
        fwd(out, no_pre, x, w, b, activation=0)
        return [out]

    def linear_then_relu():
        lin_f(z, x, w, b)
        relu_f(out, z)
        return [out]

    def matmul_add_relu():
        mm(z[None], x[None], w.T[None])
        add(z, z, b_wide)
        relu_f(out, z)
        return [out]

    def fused_both():
        fwd(out, no_pre, x, w, b, activation=0)
        bwd(gx, gw, gb, g, x, w, out, True, activation=0)
        return [out, gx, gw, gb]

    def unfused_both():
        lin_f(z, x, w, b)
        relu_f(out, z)
        relu_b(dz, g, z)
        lin_b(gx, gw, gb, dz, x, w, True)
        return [out, gx, gw, gb]

    # Tensor API: what a model runs (allocation, dispatch, autograd included).
    xt, wt, bt, gt = (tt.tensor(a) for a in (x, w, b, g))
    leaves = [tt.tensor(a, requires_grad=True) for a in (x, w, b)]

    def api(fn, backward):
        def run():
            with tt.backend(backend):
                if not backward:
                    with tt.no_grad():
                        return [fn(xt, wt, bt)]
                for t in leaves:
                    t.grad = None
                y = fn(*leaves)
                y.backward(gt)
                return [y] + [t.grad for t in leaves]
        return run

    def unfused_api(x, w, b):
        return F.relu(F.linear(x, w, b))

    mk, nk, mn = m * k, n * k, m * n
    lin_bytes = (mk + nk + n + mn) * s
    bwd_fused = (2 * mn + 2 * mk + 2 * nk + n) * s  # g, out; x, gx; w, gw; gb
    bwd_unfused = (3 * mn + mn + 2 * mk + 2 * nk + n) * s  # relu_backward, then linear's
    lr = "linear+relu"
    return [
        _Pair(lr, "kernels", "forward", shape, "linear_act", "linear, relu", fused_fwd,
              linear_then_relu, [y64], lin_bytes, lin_bytes + 2 * mn * s),
        _Pair(lr, "kernels", "forward", shape, "linear_act", "matmul, add, relu",
              fused_fwd, matmul_add_relu, [y64], lin_bytes,
              (mk + nk + mn) * s + (2 * mn + n) * s + 2 * mn * s),
        _Pair(lr, "kernels", "forward+backward", shape, "linear_act fwd+bwd",
              "linear, relu fwd+bwd", fused_both, unfused_both, [y64] + grads64,
              lin_bytes + bwd_fused, lin_bytes + 2 * mn * s + bwd_unfused),
        _Pair(lr, "tensor API", "forward", shape, "linear_relu(x, w, b)",
              "F.relu(F.linear(x, w, b))", api(linear_relu, False), api(unfused_api, False),
              [y64], lin_bytes, lin_bytes + 2 * mn * s),
        _Pair(lr, "tensor API", "forward+backward", shape, "linear_relu + backward",
              "F.relu(F.linear) + backward", api(linear_relu, True), api(unfused_api, True),
              [y64] + grads64, lin_bytes + bwd_fused, lin_bytes + 2 * mn * s + bwd_unfused),
    ]


# --- cross-entropy -------------------------------------------------------------------------

def _cross_entropy_pairs(rows: int, classes: int, backend: str, dtype) -> list[_Pair]:
    rng = np.random.default_rng(1)
    x = (3 * rng.standard_normal((rows, classes))).astype(dtype)
    t = rng.integers(0, classes, rows)
    g = np.full(rows, 1.0 / rows, dtype)  # the gradient of a mean reduction
    x64 = x.astype(np.float64)
    lse = np.log(np.exp(x64 - x64.max(1, keepdims=True)).sum(1)) + x64.max(1)
    loss64 = lse - x64[np.arange(rows), t]
    p64 = np.exp(x64 - lse[:, None])
    p64[np.arange(rows), t] -= 1
    grad64 = p64 * g[:, None]
    s = np.dtype(dtype).itemsize
    shape = f"{rows}x{classes}"

    def kern(op):
        return dispatch.kernel_for(op, backend)[1]

    ce_f, ce_b = kern("cross_entropy_forward"), kern("cross_entropy_backward")
    ls_f, ls_b = kern("log_softmax_forward"), kern("log_softmax_backward")
    nll_f, nll_b = kern("nll_forward"), kern("nll_backward")
    loss, lse_buf = np.empty(rows, dtype), np.empty(rows, np.float64)
    logp, glogp, gx = (np.empty_like(x) for _ in range(3))

    def fused_fwd():
        ce_f(loss, lse_buf, x, t, ignore_index=IGNORE, label_smoothing=0.0)
        return [loss]

    def unfused_fwd():
        ls_f(logp, x)
        nll_f(loss, logp, t, ignore_index=IGNORE)
        return [loss]

    def fused_both():
        ce_f(loss, lse_buf, x, t, ignore_index=IGNORE, label_smoothing=0.0)
        ce_b(gx, g, x, lse_buf, t, ignore_index=IGNORE, label_smoothing=0.0)
        return [loss, gx]

    def unfused_both():
        ls_f(logp, x)
        nll_f(loss, logp, t, ignore_index=IGNORE)
        nll_b(glogp, g, t, ignore_index=IGNORE)
        ls_b(gx, glogp, logp)
        return [loss, gx]

    xt, tt_t = tt.tensor(x), tt.tensor(t)
    leaf = tt.tensor(x, requires_grad=True)

    def api(fn, backward):
        def run():
            with tt.backend(backend):
                if not backward:
                    with tt.no_grad():
                        return [fn(xt, tt_t)]
                leaf.grad = None
                out = fn(leaf, tt_t)
                out.backward()
                return [out, leaf.grad]
        return run

    def unfused_api(x, t):
        return F.nll_loss(F.log_softmax(x, dim=1), t)

    nc = rows * classes
    small = rows * (s + 8 + 8)  # loss, lse (float64), targets (int64)
    fwd_fused, fwd_unfused = nc * s + small, 2 * nc * s + rows * (2 * s + 8)
    bwd_fused = 2 * nc * s + rows * (s + 16)  # read x, write grad; g, lse, targets
    bwd_unfused = nc * s + 3 * nc * s + rows * (s + 8)  # nll_backward; log_softmax's
    mean64 = np.array(loss64.mean())
    return [
        _Pair("cross_entropy", "kernels", "forward", shape, "cross_entropy",
              "log_softmax, nll", fused_fwd, unfused_fwd, [loss64], fwd_fused, fwd_unfused),
        _Pair("cross_entropy", "kernels", "forward+backward", shape,
              "cross_entropy fwd+bwd", "log_softmax, nll fwd+bwd", fused_both, unfused_both,
              [loss64, grad64], fwd_fused + bwd_fused, fwd_unfused + bwd_unfused),
        _Pair("cross_entropy", "tensor API", "forward", shape, "F.cross_entropy",
              "F.nll_loss(F.log_softmax)", api(F.cross_entropy, False),
              api(unfused_api, False), [mean64], fwd_fused, fwd_unfused),
        _Pair("cross_entropy", "tensor API", "forward+backward", shape,
              "F.cross_entropy + backward", "F.nll_loss(F.log_softmax) + backward",
              api(F.cross_entropy, True), api(unfused_api, True), [mean64, grad64],
              fwd_fused + bwd_fused, fwd_unfused + bwd_unfused),
    ]


# --- Adam ----------------------------------------------------------------------------------

HYPER = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
STEP = 10  # a step past the first, so both bias corrections are in play
ADAM_PASSES = 13  # elementwise kernels in the unfused update
ADAM_UNFUSED_ARRAYS = 30  # array-sized reads + writes of those 13 kernels (see _unfused_adam)


def _adam_oracle(p, g, m, v):
    p, g, m, v = (a.astype(np.float64) for a in (p, g, m, v))
    b1, b2 = HYPER["beta1"], HYPER["beta2"]
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    step_size = HYPER["lr"] / (1 - b1**STEP)
    return [p - step_size * m / (np.sqrt(v) / np.sqrt(1 - b2**STEP) + HYPER["eps"]), m, v]


def _unfused_adam(backend: str):
    """The Adam update as separate elementwise kernels on 2-D ``(1, N)`` views, each a pass
    over memory (r = array-sized reads, w = writes; scalars arrive as stride-0 arrays)."""
    kern = {op: dispatch.kernel_for(f"{op}_forward", backend)[1]
            for op in ("mul", "add", "sub", "div", "sqrt")}
    mul, add, sub, div, sqrt = (kern[k] for k in ("mul", "add", "sub", "div", "sqrt"))
    b1, b2 = HYPER["beta1"], HYPER["beta2"]
    bc2 = np.sqrt(1 - b2**STEP)
    step_size = HYPER["lr"] / (1 - b1**STEP)

    def constants(shape, dtype):
        """The scalars as stride-0 arrays of ``shape``, made once (not inside the timing)."""
        values = {"b1": b1, "1-b1": 1 - b1, "b2": b2, "1-b2": 1 - b2, "bc2": bc2,
                  "eps": HYPER["eps"], "step_size": step_size}
        return {k: np.broadcast_to(np.dtype(dtype).type(x), shape) for k, x in values.items()}

    def update(p, g, m, v, t, d, c):
        mul(m, m, c["b1"])           # m *= b1              r w
        mul(t, g, c["1-b1"])         # t = (1 - b1) g       r w
        add(m, m, t)                 # m += t               2r w
        mul(v, v, c["b2"])           # v *= b2              r w
        mul(t, g, g)                 # t = g * g            r w
        mul(t, t, c["1-b2"])         # t *= 1 - b2          r w
        add(v, v, t)                 # v += t               2r w
        sqrt(d, v)                   # d = sqrt(v)          r w
        div(d, d, c["bc2"])          # d /= sqrt(bc2)       r w
        add(d, d, c["eps"])          # d += eps             r w
        div(t, m, d)                 # t = m / d            2r w
        mul(t, t, c["step_size"])    # t *= step_size       r w
        sub(p, p, t)                 # p -= t               2r w
    return update, constants


def _adam_pairs(sizes: tuple, backend: str, dtype) -> list[_Pair]:
    rng = np.random.default_rng(2)
    start = [[rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype),
              (0.1 * rng.standard_normal(n)).astype(dtype),
              (0.01 * rng.random(n)).astype(dtype)] for n in sizes]
    oracle = [a for p, g, m, v in start for a in _adam_oracle(p, g, m, v)]
    s = np.dtype(dtype).itemsize
    total = sum(sizes)
    shape = f"{len(sizes)} params, {total:,} elements"
    fused_kernel = dispatch.kernel_for("adam_step", backend)[1]
    unfused, constants = _unfused_adam(backend)

    def fresh():
        return [[a.copy() for a in arrays] for arrays in start]

    # The oracle check is the first call of each path, on the fresh copies made here; the
    # timed calls then keep updating the same arrays (the values stay finite).
    state_f, state_u = fresh(), fresh()
    scratch = [(np.empty((1, n), dtype), np.empty((1, n), dtype), constants((1, n), dtype))
               for n in sizes]

    def fused():
        for p, g, m, v in state_f:
            fused_kernel(p, g, m, v, **HYPER, weight_decay=0.0, step=STEP, decoupled=False)
        return [a for p, g, m, v in state_f for a in (p, m, v)]

    def separate():
        for (p, g, m, v), (t, d, c) in zip(state_u, scratch, strict=True):
            unfused(p[None], g[None], m[None], v[None], t, d, c)
        return [a for p, g, m, v in state_u for a in (p, m, v)]

    # Tensor API: tt.optim.Adam (one fused kernel per parameter) against the textbook loop
    # written with tensor ops, as PyTorch's single-tensor (foreach=False, fused=False) Adam.
    def make_api(fused_api: bool):
        params = [tt.tensor(p.copy(), requires_grad=True) for p, _, _, _ in start]
        for prm, (_, g, _, _) in zip(params, start, strict=True):
            prm.grad = tt.tensor(g)
        moments = [(tt.tensor(m.copy()), tt.tensor(v.copy())) for _, _, m, v in start]
        opt = tt.optim.Adam(params, lr=HYPER["lr"], betas=(HYPER["beta1"], HYPER["beta2"]),
                            eps=HYPER["eps"])
        for prm, (m, v) in zip(params, moments, strict=True):  # start at step STEP - 1
            opt.state[prm] = {"step": STEP - 1, "exp_avg": m, "exp_avg_sq": v}
        b1, b2 = HYPER["beta1"], HYPER["beta2"]
        bc2 = float(np.sqrt(1 - b2**STEP))
        step_size = HYPER["lr"] / (1 - b1**STEP)

        def step():
            with tt.backend(backend):
                if fused_api:
                    opt.step()
                    for prm in params:  # keep the step count fixed (same math each call)
                        opt.state[prm]["step"] = STEP - 1
                else:
                    with tt.no_grad():
                        for prm, (m, v) in zip(params, moments, strict=True):
                            g = prm.grad
                            m.mul_(b1)
                            m.add_(g * (1 - b1))
                            v.mul_(b2)
                            v.add_(g * g * (1 - b2))
                            denom = v.sqrt() / bc2 + HYPER["eps"]
                            prm.sub_(m / denom * step_size)
            return [a for prm, (m, v) in zip(params, moments, strict=True)
                    for a in (prm, m, v)]
        return step

    return [
        _Pair("adam_step", "kernels", "step", shape, "adam_step (1 pass)",
              f"{ADAM_PASSES} elementwise kernels", fused, separate, oracle, 7 * total * s,
              ADAM_UNFUSED_ARRAYS * total * s),
        _Pair("adam_step", "tensor API", "step", shape, "tt.optim.Adam.step()",
              "Adam as tensor ops", make_api(True), make_api(False), oracle,
              7 * total * s, ADAM_UNFUSED_ARRAYS * total * s),
    ]
