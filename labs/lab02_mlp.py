# %% [markdown]
# # Lab 02: the MLP forward pass as loops: matmul, bias, activations; loop order
#
# A multi-layer perceptron is three kernels in a row: a *linear* layer
# `out = x @ w.T + b`, an *activation* (ReLU), another linear layer, and a *softmax* that
# turns the last layer's scores (logits) into probabilities. In this lab you write each of
# them as plain loops over numbers, compile them with `numba.njit`, race them against
# tinytorch's own kernels and numpy, and finally train tinytorch's digits MLP on *your*
# linear kernel.
#
# **Systems questions** (answer them in your own words as you go):
#
# 1. A linear layer `x (M, K) @ w.T + b` with `w (N, K)`: how many FLOPs does it do (one
#    multiply and one add per term)? How many bytes must at least move in float32 (read
#    `x`, `w`, `b` once, write `out` once)? Their ratio, the *arithmetic intensity*, for the
#    digits MLP's first layer (M=32, K=64, N=128), and for one image (M=1)?
# 2. `matmul_ijk` and `matmul_ikj` do the same multiply-adds, in the same order for each
#    output, so they give the same result bit for bit. Why is one of them several times
#    faster once compiled? What is the memory stride of the innermost loop in each?
# 3. The bias could be a second pass over `out` after the matmul. What does that pass cost
#    in bytes, compared with its FLOPs? And as a separate tinytorch op, what else does it
#    cost (calls, allocations)?
# 4. Why does a softmax subtract each row's max first? What does `exp(1000.0)` give in
#    float64, and `exp(100.0)` in float32?
# 5. Which arrays does one forward pass allocate, and how big are they for a batch of 32
#    and of 4096 images, next to the weights? What does running ReLU *in place* save?
#
# **Kernel contract** (the same as tinytorch's, `docs/kernels.md`): outputs come first,
# the caller allocates them (with `np.empty`: they hold garbage until you write every
# element) and your function returns nothing. Inputs may be views with any strides, so
# always index them as `a[i, j]`. Fill in each `TODO`, run `python lab02_mlp.py` for the
# experiments and `tinytorch grade 02` to check.

# %%
import builtins
import time
import warnings

import numba
import numpy as np

import tinytorch as tt

# `kernprof -l -v lab02_mlp.py` puts a `profile` decorator into builtins; without
# kernprof the decorator does nothing, so the file runs the same either way.
profile = getattr(builtins, "profile", lambda fn: fn)


# %% [markdown]
# ## 1. Matrix multiply, loop order i-j-k
#
# `out[bi, i, j] = sum over k of a[bi, i, k] * b[bi, k, j]`: a batch of matrix products
# (tinytorch's `matmul_forward` kernel signature; `bi` is the batch index, since `b` is the
# right operand). Shapes: `out` is `(B, M, N)`, `a` is `(B, M, K)`, `b` is `(B, K, N)`. In
# the i-j-k order each `out[bi, i, j]` is one dot product: a sum that starts at 0 and runs
# over **all** `K` terms. With `K = 0` the sum is empty and `out` is all zeros.


# %%
@profile
def matmul_ijk(out, a, b):
    """``out[bi] = a[bi] @ b[bi]`` for each batch ``bi``; loops bi, i, j, then k innermost.

    >>> out = np.empty((1, 1, 1))
    >>> matmul_ijk(out, np.ones((1, 1, 2)), np.full((1, 2, 1), 3.0))
    >>> out.tolist()
    [[[6.0]]]
    """
    # TODO: for each (bi, i, j): acc = 0.0, add a[bi, i, k] * b[bi, k, j] for every k,
    #       then store acc in out[bi, i, j]
    raise NotImplementedError("TODO: implement matmul_ijk")


# %% [markdown]
# ## 2. The same product, loop order i-k-j
#
# Swap the two inner loops. Now the innermost loop runs along `j`: it adds
# `a[bi, i, k] * b[bi, k, j]` into `out[bi, i, j]` for every `j`, walking a **row** of `b`
# and a row of `out`, both contiguous in memory. There is no single accumulator any more:
# `out` itself accumulates, so each row `out[bi, i, :]` must be set to 0 first (remember:
# `out` arrives full of garbage). Every `out[bi, i, j]` still adds its terms in the order
# k = 0, 1, ..., K - 1, so in float64 the result is identical to `matmul_ijk`'s.


# %%
@profile
def matmul_ikj(out, a, b):
    """``out[bi] = a[bi] @ b[bi]``, loops bi, i, k, then j innermost (same result as ijk).

    >>> out = np.empty((1, 1, 2))
    >>> matmul_ikj(out, np.ones((1, 1, 2)), np.arange(4.0).reshape(1, 2, 2))
    >>> out.tolist()
    [[[2.0, 4.0]]]
    """
    # TODO: for each (bi, i): zero out[bi, i, :]; then for each k, read a[bi, i, k] once
    #       and add it times b[bi, k, j] into out[bi, i, j] for every j
    raise NotImplementedError("TODO: implement matmul_ikj")


# %% [markdown]
# ## 3. The linear layer, bias fused in
#
# `out = x @ w.T + b`, with `x` of shape `(M, K)` (M inputs of K features), `w` of shape
# `(N, K)` (one row per output feature, PyTorch's `Linear.weight` layout), `b` of shape
# `(N,)` and `out` of shape `(M, N)`:
#
# `out[i, j] = b[j] + sum over k of x[i, k] * w[j, k]`
#
# Look at the indices: the sum walks row `i` of `x` and row `j` of `w`, both contiguous.
# That is why PyTorch stores `w` as `(out_features, in_features)`: `x @ w.T` is a dot
# product of two rows. Add the bias in the same loop nest (one add per output, while
# `out[i, j]` is still in a register) instead of a second pass over `out`.


# %%
@profile
def linear_forward(out, x, w, b):
    """``out[i, j] = b[j] + sum_k x[i, k] * w[j, k]``; ``x`` (M, K), ``w`` (N, K), ``b`` (N,),
    ``out`` (M, N).

    >>> out = np.empty((1, 2))
    >>> linear_forward(out, np.array([[1.0, 2.0]]), np.array([[1.0, 0.0], [1.0, 1.0]]),
    ...                np.array([0.5, -1.0]))
    >>> out.tolist()
    [[1.5, 2.0]]
    """
    # TODO: three loops (i over M, j over N, k over K); start from 0 or from b[j]
    raise NotImplementedError("TODO: implement linear_forward")


# %% [markdown]
# ## 4. ReLU
#
# `out[i, j] = max(x[i, j], 0)` on 2-D arrays of the same shape `(R, C)`. Write into the
# elements of `out`: `out = np.maximum(x, 0)` would only rebind your local name `out`, and
# the caller's array would keep its garbage. Because each element is read before it is
# written, `relu_forward(h, h)` (in place) works too.


# %%
@profile
def relu_forward(out, x):
    """``out[i, j] = max(x[i, j], 0)`` for every element of the 2-D arrays.

    >>> out = np.empty((1, 3))
    >>> relu_forward(out, np.array([[-1.0, 0.0, 2.0]]))
    >>> out.tolist()
    [[0.0, 0.0, 2.0]]
    """
    # TODO: two loops over the rows and the columns of out
    raise NotImplementedError("TODO: implement relu_forward")


# %% [markdown]
# ## 5. Softmax of each row, numerically stable
#
# `out[i, j] = exp(x[i, j]) / sum over c of exp(x[i, c])`, for `x` and `out` of shape
# `(R, C)` with `C >= 1`. Computed like that, `exp(1000.0)` is `inf` in float64
# (`exp(100.0)` already in float32), and `inf / inf` is `nan`. Subtracting any number `m`
# from a whole row does not change the softmax (it cancels between the top and the bottom);
# with `m` the row's max, every `exp` lies in `(0, 1]` and nothing overflows. Three passes
# per row: the max, then `exp(x - max)` and its sum, then divide.


# %%
@profile
def softmax_rows(out, x):
    """The softmax of each row of ``x`` (R, C) into ``out`` (R, C); each out row sums to 1.

    >>> out = np.empty((2, 2))
    >>> softmax_rows(out, np.array([[0.0, 0.0], [1000.0, 1000.0]]))
    >>> out.tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """
    # TODO: per row: m = the max; out[i, j] = exp(x[i, j] - m) and sum them; divide by the sum
    raise NotImplementedError("TODO: implement softmax_rows")


# %% [markdown]
# ## 6. The forward pass of a two-layer MLP
#
# `probs = softmax(relu(x @ w1.T + b1) @ w2.T + b2)`, built from your kernels: `x` is
# `(N, D)` (N images of D features), `w1` `(H, D)`, `b1` `(H,)`, `w2` `(C, H)`, `b2` `(C,)`;
# the result is a new `(N, C)` array of class probabilities (numpy arrays in and out).
# Allocate each intermediate with `np.empty(shape, dtype=x.dtype)` and let your kernels
# fill it; the ReLU can run in place on the hidden layer.


# %%
@profile
def mlp_forward(x, w1, b1, w2, b2):
    """Class probabilities ``(N, C)`` of the MLP ``Linear -> ReLU -> Linear -> softmax``.

    >>> x = np.array([[1.0, -1.0]])
    >>> w1, b1 = np.eye(2), np.zeros(2)
    >>> w2, b2 = np.array([[1.0, 1.0], [0.0, 0.0]]), np.zeros(2)
    >>> mlp_forward(x, w1, b1, w2, b2).round(4).tolist()  # hidden [1, 0], logits [1, 0]
    [[0.7311, 0.2689]]
    """
    # TODO: linear_forward -> relu_forward -> linear_forward -> softmax_rows
    raise NotImplementedError("TODO: implement mlp_forward")


# %% [markdown]
# ## Experiments
#
# Run `python lab02_mlp.py`. For a line-by-line profile of your loops (where do the
# interpreted loops spend their time: the indexing, the multiply, the loop itself?):
#
# ```bash
# kernprof -l -v lab02_mlp.py
# ```
#
# The experiments time the interpreted loops on small shapes only (they run about a
# million times slower than the hardware could), then the same source compiled with
# `numba.njit` on shapes big enough to measure.


# %%
def _todo(name: str) -> None:
    print(f"TODO: implement {name} first")


def _median_s(fn, *args, repeat: int = 5) -> float:
    fn(*args)  # warm-up: the first call of a jit function compiles
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _compiled(fn):
    """``numba.njit`` of your function (under kernprof, of the function kernprof wraps)."""
    return numba.njit(getattr(fn, "__wrapped__", fn))


def _table(title: str, rows: dict, flops: float, moved: float, base: str) -> None:
    print(title)
    for name, s in rows.items():
        print(f"  {name:24} {s * 1e3:10.3f} ms {flops / s / 1e9:8.2f} GFLOP/s "
              f"{moved / s / 1e9:7.2f} GB/s  ({rows[base] / s:8.1f}x {base})")


def _tried(*names) -> bool:
    """True when every named function of the lab is implemented (a tiny call each)."""
    one = np.ones((1, 1, 1))
    probes = {"matmul_ijk": lambda: matmul_ijk(np.empty((1, 1, 1)), one, one),
              "matmul_ikj": lambda: matmul_ikj(np.empty((1, 1, 1)), one, one),
              "linear_forward": lambda: linear_forward(np.empty((1, 1)), one[0], one[0],
                                                       one[0, 0]),
              "relu_forward": lambda: relu_forward(np.empty((1, 1)), one[0]),
              "softmax_rows": lambda: softmax_rows(np.empty((1, 1)), one[0]),
              "mlp_forward": lambda: mlp_forward(one[0], one[0], one[0, 0], one[0], one[0, 0])}
    for name in names:
        try:
            probes[name]()
        except NotImplementedError:
            _todo(name)
            return False
    return True


def experiment_loop_order() -> None:
    if not _tried("matmul_ijk", "matmul_ikj"):
        return
    rng = np.random.default_rng(0)
    a, bm = rng.standard_normal((2, 5, 7)), rng.standard_normal((2, 7, 3))
    ijk, ikj = np.empty((2, 5, 3)), np.empty((2, 5, 3))
    matmul_ijk(ijk, a, bm)
    matmul_ikj(ikj, a, bm)
    print(f"(2, 5, 7) @ (2, 7, 3) float64: ijk matches numpy: {np.allclose(ijk, a @ bm)}, "
          f"ikj matches numpy: {np.allclose(ikj, a @ bm)}, ijk == ikj bit for bit: "
          f"{np.array_equal(ijk, ikj)}")
    if not (np.allclose(ijk, a @ bm) and np.allclose(ikj, a @ bm)):
        print("fix your matmul loops before timing them")
        return

    # Interpreted: a small problem, since every multiply-add is dozens of bytecodes.
    n = 40
    a = rng.standard_normal((1, n, n)).astype(np.float32)
    bm = rng.standard_normal((1, n, n)).astype(np.float32)
    out = np.empty((1, n, n), np.float32)
    flops, moved = 2 * n**3, 3 * n * n * 4
    _table(f"\nmatmul (1, {n}, {n}) @ (1, {n}, {n}) float32, interpreted, median of 3:",
           {"your ijk loops": _median_s(matmul_ijk, out, a, bm, repeat=3),
            "your ikj loops": _median_s(matmul_ikj, out, a, bm, repeat=3)},
           flops, moved, "your ijk loops")

    # Compiled: the same sources through numba, on a problem 1000x bigger.
    n = 384
    a = rng.standard_normal((1, n, n)).astype(np.float32)
    bm = rng.standard_normal((1, n, n)).astype(np.float32)
    out = np.empty((1, n, n), np.float32)
    flops, moved = 2 * n**3, 3 * n * n * 4
    rows = {"your ijk, njit": _median_s(_compiled(matmul_ijk), out, a, bm, repeat=3),
            "your ikj, njit": _median_s(_compiled(matmul_ikj), out, a, bm),
            "tinytorch jit": _median_s(tt.dispatch.kernel_for("matmul_forward", "jit")[1],
                                       out, a, bm),
            "numpy (BLAS)": _median_s(tt.dispatch.kernel_for("matmul_forward", "numpy")[1],
                                      out, a, bm)}
    _table(f"\nmatmul (1, {n}, {n}) @ (1, {n}, {n}) float32, compiled, median:", rows, flops,
           moved, "your ijk, njit")
    print(f"why: ijk's inner loop reads b[bi, k, j] down a column, a stride of {n * 4} bytes, "
          "so every multiply-add touches a new\ncache line (64 bytes, of which it uses 4) and "
          "the sum cannot be vectorised without reordering it. ikj's inner loop walks\na row "
          "of b and a row of out with a stride of 4 bytes: 16 floats per cache line, and "
          "independent adds that LLVM\nturns into SIMD instructions. tinytorch's jit kernel "
          "adds blocking for the caches and registers (kernels/matmul.py).")

    # Your kernel as a tinytorch backend: every `@` on the "student" backend runs it.
    tt.register_kernel("matmul_forward", "student", _compiled(matmul_ikj))
    x, y = tt.randn(2, 3, 4), tt.randn(4, 5)
    with tt.backend("student"):
        z = x @ y
    print(f"x (2, 3, 4) @ y (4, 5) on the student backend: {z.shape}, matches numpy: "
          f"{np.allclose(z.numpy(), x.numpy() @ y.numpy(), atol=1e-5)}")


@numba.njit
def _add_bias(out, b):
    """The bias as its own pass: read and write every element of out once more."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] += b[j]


def experiment_linear() -> None:
    if not _tried("linear_forward", "matmul_ijk"):
        return
    rng = np.random.default_rng(1)
    m, k, n = 32, 64, 128  # the first layer of the digits MLP, one batch
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    out = np.empty((m, n), np.float32)
    linear_forward(out, x, w, b)
    if not np.allclose(out, x @ w.T + b, atol=1e-4):
        print("linear_forward does not match numpy yet: fix it before timing it")
        return
    flops, moved = 2 * m * n * k, (m * k + n * k + n + m * n) * 4
    print(f"linear ({m}, {k}) -> ({m}, {n}) float32: {flops:,} FLOPs, at least {moved:,} "
          f"bytes moved: {flops / moved:.1f} FLOPs per byte")
    one_image = (k + n * k + 2 * n) * 4
    print(f"  one image (M=1): {2 * n * k:,} FLOPs, {one_image:,} bytes: "
          f"{2 * n * k / one_image:.2f} FLOPs per byte (all of w read for one row of x)")
    rows = {"your loops": _median_s(linear_forward, out, x, w, b, repeat=3),
            "your loops, njit": _median_s(_compiled(linear_forward), out, x, w, b),
            "tinytorch jit": _median_s(tt.dispatch.kernel_for("linear_forward", "jit")[1],
                                       out, x, w, b),
            "numpy": _median_s(tt.dispatch.kernel_for("linear_forward", "numpy")[1],
                               out, x, w, b)}
    _table("median times:", rows, flops, moved, "your loops")

    # The bias as a second pass: matmul (your ijk on views: a dot product of two rows per
    # output, x @ w.T) then one more sweep over out.
    m, k, n = 4096, 16, 64  # a thin layer: little work per output, so a pass over out weighs most
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    out = np.empty((m, n), np.float32)
    fused, ijk = _compiled(linear_forward), _compiled(matmul_ijk)

    def two_passes(out, x, w, b):
        ijk(out[None], x[None], w.T[None])
        _add_bias(out, b)

    fused_s = _median_s(fused, out, x, w, b, repeat=11)  # medians of many: a busy machine
    two_s = _median_s(two_passes, out, x, w, b, repeat=11)  # adds noise to single runs
    bias_s = _median_s(_add_bias, out, b, repeat=21)
    tt_s = _median_s(tt.dispatch.kernel_for("linear_forward", "jit")[1], out, x, w, b,
                     repeat=21)
    print(f"\nlinear ({m}, {k}) -> ({m}, {n}) float32, compiled: yours fused "
          f"{fused_s * 1e3:.3f} ms; your matmul, then a bias pass {two_s * 1e3:.3f} ms; "
          f"the bias pass alone {bias_s * 1e3:.3f} ms")
    print(f"  the bias pass does {m * n:,} adds ({100 / (2 * k):.1f}% of the FLOPs) but moves "
          f"{2 * m * n * 4:,} bytes (it reads and writes out again):\n  "
          f"{100 * 2 * m * n / (m * k + n * k + m * n):.0f}% of the layer's minimum traffic. "
          f"Next to your loops (each add waits for the previous one) it is "
          f"{100 * bias_s / fused_s:.1f}% of the time;\n  next to tinytorch's jit kernel "
          f"({tt_s * 1e3:.3f} ms, fused, register-blocked) it would be "
          f"{100 * bias_s / tt_s:.0f}%.")

    # In tinytorch, a separate bias is also a second op: one more dispatch, one more
    # allocation, one more node in the autograd graph.
    xt, wt, bt = tt.randn(32, 64), tt.randn(128, 64), tt.randn(128)
    with tt.no_grad():
        one_op = _median_s(lambda: tt.nn.functional.linear(xt, wt, bt), repeat=200)
        two_ops = _median_s(lambda: xt @ wt.T + bt, repeat=200)
    print(f"  tinytorch (32, 64) -> (32, 128): F.linear {one_op * 1e6:.1f} us, "
          f"x @ w.T + b {two_ops * 1e6:.1f} us")

    # Your kernel as the "student" backend of linear_forward, compiled: nn.Linear runs it in
    # every forward pass; every other op borrows tinytorch's jit kernels (fallback="jit").
    from tinytorch.examples.mlp_digits import train_mlp  # noqa: PLC0415 (loads the digits)

    tt.register_kernel("linear_forward", "student", _compiled(linear_forward))
    with warnings.catch_warnings(record=True) as borrowed:
        warnings.simplefilter("always", RuntimeWarning)
        mine = train_mlp("student", epochs=10, fallback="jit")
    reference = train_mlp("jit", epochs=10)
    print(f"\ndigits MLP 64-128-10, 10 epochs on the student backend ({len(borrowed)} ops "
          f"borrowed from jit): test accuracy {mine['test_accuracy'] * 100:.1f}%, "
          f"{np.median(mine['epoch_seconds'][1:]) * 1e3:.1f} ms per epoch")
    print(f"the same on tinytorch's jit backend: test accuracy "
          f"{reference['test_accuracy'] * 100:.1f}%, "
          f"{np.median(reference['epoch_seconds'][1:]) * 1e3:.1f} ms per epoch")


def experiment_activations() -> None:
    if not _tried("relu_forward", "softmax_rows"):
        return
    rng = np.random.default_rng(2)
    small = rng.standard_normal((64, 100)).astype(np.float32)
    big = rng.standard_normal((2048, 1024)).astype(np.float32)
    checks = {"relu_forward": (relu_forward, np.maximum(small, 0)),
              "softmax_rows": (softmax_rows, np.exp(small) / np.exp(small).sum(1, keepdims=True))}
    for name, (mine, expected) in checks.items():
        out = np.full_like(small, np.nan)
        mine(out, small)
        if not np.allclose(out, expected, atol=1e-6):
            print(f"{name} does not match numpy yet: fix it before timing it")
            return
    for op, mine, flops_per in (("relu_forward", relu_forward, 1),
                                ("softmax_forward", softmax_rows, 4)):
        out = np.empty_like(big)
        moved = 2 * big.nbytes  # read x, write out: both are memory-bound once compiled
        interpreted = _median_s(mine, np.empty_like(small), small, repeat=3)
        rows = {"your loops (scaled)": interpreted / small.size * big.size,
                "your loops, njit": _median_s(_compiled(mine), out, big),
                "tinytorch jit": _median_s(tt.dispatch.kernel_for(op, "jit")[1], out, big),
                "numpy": _median_s(tt.dispatch.kernel_for(op, "numpy")[1], out, big)}
        _table(f"\n{mine.__name__} on {big.shape} float32 (interpreted: timed on "
               f"{small.shape}, scaled):", rows, flops_per * big.size, moved,
               "your loops (scaled)")

    logits = np.array([[1000.0, 1001.0, 1002.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    out = np.empty_like(logits)
    softmax_rows(out, logits)
    print(f"\nsoftmax of {logits.tolist()}: exp / sum(exp) gives {naive.round(4).tolist()}, "
          f"yours {out.round(4).tolist()}")
    with np.errstate(over="ignore"):
        print(f"exp(1000.0) in float64: {np.exp(np.float64(1000.0))}; exp(100.0) in float32: "
              f"{np.exp(np.float32(100.0))} (the largest float32 is "
              f"{np.finfo(np.float32).max:.3g})")


def experiment_mlp() -> None:
    if not _tried("mlp_forward"):
        return
    from tinytorch.data.datasets import Digits  # noqa: PLC0415
    from tinytorch.examples.mlp_digits import build_mlp  # noqa: PLC0415

    images, labels = Digits("test", flatten=True).tensors()
    x = images.numpy()[:64]
    tt.manual_seed(0)
    model = build_mlp()  # untrained: the point is that both forward passes agree
    w1, b1 = model[0].weight.numpy(), model[0].bias.numpy()
    w2, b2 = model[2].weight.numpy(), model[2].bias.numpy()
    start = time.perf_counter()
    probs = mlp_forward(x, w1, b1, w2, b2)
    seconds = time.perf_counter() - start
    with tt.no_grad():
        theirs = tt.nn.functional.softmax(model(tt.tensor(x)), dim=1).numpy()
    print(f"your mlp_forward on {x.shape[0]} digits: {probs.shape} probabilities in "
          f"{seconds * 1e3:.0f} ms, largest difference from tinytorch's model: "
          f"{np.abs(probs - theirs).max():.2e}; same predictions: "
          f"{np.array_equal(probs.argmax(1), theirs.argmax(1))}")

    # Memory: the weights are fixed; the activations grow with the batch.
    weights = sum(p.nbytes for p in (w1, b1, w2, b2))
    print(f"\nweights: {weights:,} bytes. Activations of one forward pass (float32), per "
          "batch size:")
    print(f"  {'batch':>6} {'x':>12} {'hidden':>12} {'logits':>12} {'probs':>12} "
          f"{'total':>12}")
    for batch in (1, 32, 4096):
        sizes = [batch * width * 4 for width in (64, 128, 10, 10)]
        print(f"  {batch:>6} " + " ".join(f"{s:>12,}" for s in sizes) + f" {sum(sizes):>12,}")
    print("ReLU in place (relu_forward(h, h)) saves one hidden-sized buffer per pass; "
          "training cannot always do that:\nthe backward pass needs what the forward saved "
          "(lab 04).")


# %%
if __name__ == "__main__":
    for experiment in (experiment_loop_order, experiment_linear, experiment_activations,
                       experiment_mlp):
        print(f"\n== {experiment.__name__} ==")
        experiment()
