# %% [markdown]
# # Lab 03: convolution as a memory problem: direct loops, im2col, padding
#
# A convolution layer slides a small kernel over every image: each output pixel is a dot
# product of the kernel with the patch of input under it. Written out, that is seven
# nested loops and two bounds tests; the loops are easy, and what makes them fast or slow
# is how they walk memory. In this lab you write the direct loops, remove their bounds
# tests by padding the input once, lower the convolution to one matrix product with
# *im2col* (paying for it in memory), write max pooling with the indices its backward pass
# needs, race all of it against tinytorch's own kernels, and train tinytorch's digits CNN
# on *your* kernels.
#
# **Systems questions** (answer them in your own words as you go):
#
# 1. A convolution of a batch `x (N, C_in, H, W)` with `w (C_out, C_in, KH, KW)` gives
#    `(N, C_out, OH, OW)`. How many FLOPs does it do (a multiply and an add per term)? How
#    many bytes must at least move in float32 (read `x`, `w`, `b` once, write `out` once)?
#    For the layer of the experiments (batch 32, 3 -> 16 channels, 32 x 32, 3 x 3,
#    padding 1), what is the ratio, and how many times is each input pixel used?
# 2. The direct loops test `0 <= ih < H` and `0 <= iw < W` for every multiply-add. What do
#    those tests cost, and why does padding the input *once* remove them? What does the
#    padded copy cost in memory, next to the input?
# 3. im2col copies every output pixel's receptive field into a column of a matrix, so the
#    convolution becomes one matrix product. How big is that matrix next to the input, for
#    a 3 x 3 kernel, and for a 64-channel 56 x 56 layer at batch 32? When is the trade
#    worth it, and when is it not?
# 4. What must max pooling keep for its backward pass, and how many bytes is that next to
#    its input and its output? What would a smaller index type save?
#
# **Kernel contract** (tinytorch's, `docs/kernels.md`): a kernel's outputs come first, the
# caller allocates them (with `np.empty`: they hold garbage until you write every element),
# computes the output's shape, and your function returns nothing. NCHW layout: `x[n, c, h,
# w]`; the weight is `w[co, ci, kh, kw]`. A convolution here is PyTorch's: a
# *cross-correlation* (the kernel is not flipped). Fill in each `TODO`, run
# `python lab03_cnn.py` for the experiments and `tinytorch grade 03` to check.

# %%
import builtins
import time
import tracemalloc
import types
import warnings

import numba
import numpy as np

import tinytorch as tt
from tinytorch.data.datasets import Digits
from tinytorch.examples.mlp_digits import accuracy, batches
from tinytorch.nn import functional as F
from tinytorch.train.models import digits_cnn

# `kernprof -l -v lab03_cnn.py` puts a `profile` decorator into builtins; without kernprof
# the decorator does nothing, so the file runs the same either way.
profile = getattr(builtins, "profile", lambda fn: fn)


# %% [markdown]
# ## 1. The output size
#
# Along one dimension of `size` pixels, padded by `padding` on **both** sides, a kernel of
# `kernel` taps spaced `dilation` apart spans `dilation * (kernel - 1) + 1` pixels. It
# starts at position 0, then every `stride` pixels, as long as it still fits:
#
# `out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1`
#
# (PyTorch's formula: a last window that does not fit is dropped, hence the floor.)


# %%
def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    """The number of output positions along one dimension.

    >>> conv_output_size(32, 3, padding=1)
    32
    >>> conv_output_size(7, 3, stride=2)
    3
    """
    # TODO: the formula above, with integer (floor) division
    raise NotImplementedError("TODO: implement conv_output_size")


# %% [markdown]
# ## 2. The direct loops
#
# `out[n, co, oh, ow] = b[co] + sum over ci, kh, kw of x[n, ci, ih, iw] * w[co, ci, kh, kw]`
# with `ih = oh * stride - padding + kh` and `iw = ow * stride - padding + kw`.
#
# Shapes: `out (N, C_out, OH, OW)`, `x (N, C_in, H, W)`, `w (C_out, C_in, KH, KW)`,
# `b (C_out,)`; `stride` and `padding` are ints, the same for rows and columns. Take `OH`
# and `OW` from `out.shape` (the caller computed them). A term whose `(ih, iw)` falls
# outside the input reads the zero padding: skip it, with a test `0 <= ih < H` and
# `0 <= iw < W`. Careful: `x[n, ci, -1, 0]` is **not** an error in Python or numpy, it is
# the last row.


# %%
@profile
def conv2d_loops(out, x, w, b, stride, padding):
    """The convolution as seven nested loops; out-of-range terms are skipped.

    >>> out = np.empty((1, 1, 2, 2))
    >>> conv2d_loops(out, np.arange(9.0).reshape(1, 1, 3, 3), np.ones((1, 1, 2, 2)),
    ...              np.zeros(1), 1, 0)
    >>> out[0, 0].tolist()
    [[8.0, 12.0], [20.0, 24.0]]
    """
    # TODO: loops n, co, oh, ow; acc = b[co]; loops ci, kh, kw adding the in-range terms;
    #       then out[n, co, oh, ow] = acc
    raise NotImplementedError("TODO: implement conv2d_loops")


# %% [markdown]
# ## 3. Pad once, then loop without a test
#
# Copy the input once into a zero-bordered array `xp` of shape
# `(N, C, H + 2 * pad, W + 2 * pad)`, with `x` in the middle:
# `xp[n, c, pad + i, pad + j] = x[n, c, i, j]`. Then every tap of every output is in range:
# `xp[n, ci, oh * stride + kh, ow * stride + kw]`, and the loops need no test at all.
#
# `pad2d` returns a **new** array of `x`'s dtype, `x` unchanged. It must compile with
# `numba.njit` (the experiments and the grader compile it together with `conv2d_padded`):
# `np.zeros(shape, x.dtype)` and a slice assignment work, loops work; `np.pad` does not.


# %%
@profile
def pad2d(x, pad):
    """A zero-padded copy of the NCHW array ``x``: ``pad`` pixels on every side.

    >>> pad2d(np.ones((1, 1, 1, 2)), 1)[0, 0].tolist()
    [[0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    # TODO: allocate zeros of the padded shape, copy x into the middle, return it
    raise NotImplementedError("TODO: implement pad2d")


# %% [markdown]
# Now the convolution on the padded copy: call your `pad2d` **once**, before any loop
# (padding inside a loop would copy the whole input again and again). Then reorder the
# loops so that the innermost one runs along the **output width**: for each `(n, co, oh)`,
# set the output row `out[n, co, oh, :]` to the bias, then for each tap `(ci, kh, kw)` read
# the weight `w[co, ci, kh, kw]` once and add it times the input row into the whole output
# row. That inner loop reads `xp` and writes `out` along a row, contiguous in memory (with
# stride 1), with no branch in it: the kind of loop a compiler turns into SIMD
# instructions.


# %%
@profile
def conv2d_padded(out, x, w, b, stride, padding):
    """The same convolution as ``conv2d_loops``: pads once with ``pad2d``, no bounds tests,
    the output width innermost.

    >>> out = np.empty((1, 1, 3, 3))
    >>> conv2d_padded(out, np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), np.zeros(1), 1, 1)
    >>> out[0, 0].tolist()
    [[4.0, 6.0, 4.0], [6.0, 9.0, 6.0], [4.0, 6.0, 4.0]]
    """
    # TODO: xp = pad2d(x, padding); loops n, co, oh; out row = b[co]; loops ci, kh, kw:
    #       wv = w[co, ci, kh, kw], then for every ow add wv * xp[n, ci, ih, ow*stride + kw]
    raise NotImplementedError("TODO: implement conv2d_padded")


# %% [markdown]
# ## 4. im2col: the convolution as one matrix product
#
# Look at the sum again: for a fixed output pixel `p = (oh, ow)`, it runs over
# `K = C * KH * KW` taps `(c, kh, kw)`. Copy those `K` input values into **column** `p` of
# a matrix, in the order `k = (c * KH + kh) * KW + kw`; do that for every output pixel
# `p = oh * OW + ow`. The result, per image, is a `(K, OH * OW)` matrix `cols`:
#
# `cols[n, (c * KH + kh) * KW + kw, oh * OW + ow] = xp[n, c, oh * stride + kh, ow * stride + kw]`
#
# (`xp`: the padded input). `w.reshape(C_out, K)` orders each row of the weight the same
# way, `(c, kh, kw)`, so the whole convolution is one matrix product per image:
# `out[n] = w.reshape(C_out, K) @ cols[n] + b[:, None]`, reshaped to `(C_out, OH, OW)`.
#
# `im2col` returns a new `(N, C * KH * KW, OH * OW)` array of `x`'s dtype; loops or numpy
# slicing, your choice (each `(c, kh, kw)` is one strided slice of `xp`).


# %%
@profile
def im2col(x, kh, kw, stride, padding):
    """The column matrix ``(N, C*kh*kw, OH*OW)`` of ``x (N, C, H, W)``: one column per output
    pixel, holding its receptive field in ``(c, kh, kw)`` order.

    >>> im2col(np.arange(9.0).reshape(1, 1, 3, 3), 2, 2, 1, 0)[0].tolist()
    [[0.0, 1.0, 3.0, 4.0], [1.0, 2.0, 4.0, 5.0], [3.0, 4.0, 6.0, 7.0], [4.0, 5.0, 7.0, 8.0]]
    """
    # TODO: pad once; cols = np.empty((N, C * kh * kw, OH * OW), x.dtype); fill row
    #       (c * kh + i) * kw + j with the input under tap (i, j) of channel c, for every
    #       output pixel
    raise NotImplementedError("TODO: implement im2col")


# %%
@profile
def conv2d_im2col(x, w, b, stride, padding):
    """The convolution as ``w.reshape(C_out, K) @ im2col(x) + b``: a new array
    ``(N, C_out, OH, OW)``.

    >>> conv2d_im2col(np.ones((1, 2, 3, 3)), np.ones((1, 2, 3, 3)), np.array([0.5]), 1, 0)
    array([[[[18.5]]]])
    """
    # TODO: cols = im2col(...); a (C_out, K) @ (N, K, P) matmul broadcasts over the batch;
    #       add the bias to every column; reshape to (N, C_out, OH, OW)
    raise NotImplementedError("TODO: implement conv2d_im2col")


# %% [markdown]
# The price of im2col is its buffer. Count it:


# %%
def im2col_nbytes(x_shape, kh, kw, stride, padding, itemsize):
    """Bytes of ``im2col``'s result for an input of ``x_shape (N, C, H, W)`` whose elements
    take ``itemsize`` bytes each.

    >>> im2col_nbytes((32, 3, 32, 32), 3, 3, 1, 1, 4)  # 9x the input's 393,216 bytes
    3538944
    """
    # TODO: N * (C * kh * kw) * (OH * OW) elements, itemsize bytes each
    raise NotImplementedError("TODO: implement im2col_nbytes")


# %% [markdown]
# ## 5. Max pooling, and what it saves for backward
#
# `out[n, c, oh, ow]` is the largest `x[n, c, oh * stride + i, ow * stride + j]` over the
# `k x k` window (`i, j < k`; no padding: the caller sized `out` so that every window
# fits). Backward sends each output's gradient to the one input that won, so forward
# records **where** it was: `indices[n, c, oh, ow] = h * W + w`, the winner's position in
# its `(H, W)` plane (PyTorch's convention; `indices` is int64). When several inputs tie
# for the maximum, keep the **first** in row-major window order (scan `i`, then `j`, and
# replace the best only on a strictly larger value), as PyTorch does.
#
# Backward: `grad_x (N, C, H, W)` gets `g[n, c, oh, ow]` **added** at the position
# `indices[n, c, oh, ow]` of its plane (row `k // W`, column `k % W`), and 0 wherever no
# window picked an input. With overlapping windows (stride < k) one input can win several
# windows: its gradients add up. `grad_x` arrives as garbage, like every output.


# %%
@profile
def max_pool2d_loops(out, indices, x, k, stride):
    """``k x k`` max pooling with stride ``stride``; the winners' positions into
    ``indices``.

    >>> out, idx = np.empty((1, 1, 1, 2)), np.empty((1, 1, 1, 2), np.int64)
    >>> max_pool2d_loops(out, idx, np.array([[[[1.0, 5.0, 2.0, 2.0], [3.0, 4.0, 0.0, 1.0]]]]),
    ...                  2, 2)
    >>> out.tolist(), idx.tolist()
    ([[[[5.0, 2.0]]]], [[[[1, 2]]]])
    """
    # TODO: loops n, c, oh, ow; scan the window keeping the best value and its h * W + w
    raise NotImplementedError("TODO: implement max_pool2d_loops")


# %%
@profile
def max_pool2d_backward_loops(grad_x, g, indices):
    """``grad_x = 0``, then each ``g[n, c, oh, ow]`` added at its saved index.

    >>> gx = np.empty((1, 1, 2, 2))
    >>> max_pool2d_backward_loops(gx, np.array([[[[3.0]]]]), np.array([[[[2]]]]))
    >>> gx.tolist()
    [[[[0.0, 0.0], [3.0, 0.0]]]]
    """
    # TODO: zero every element of grad_x; then for every output, += g into its winner
    raise NotImplementedError("TODO: implement max_pool2d_backward_loops")


# %% [markdown]
# ## Experiments
#
# Run `python lab03_cnn.py`. For a line-by-line profile of your loops (which line of the
# seven loops takes the time: the bounds tests, the indexing, the multiply-add?):
#
# ```bash
# kernprof -l -v lab03_cnn.py
# ```
#
# Your loops run interpreted on a tiny problem only (each multiply-add costs dozens of
# bytecodes); the experiments scale that time to the full layer, then time the same
# sources compiled with `numba.njit` on the full layer.


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


def _plain(fn):
    """Your function without kernprof's wrapper (numba compiles Python source, not the
    profiler's wrapper)."""
    return getattr(fn, "__wrapped__", fn)


def _compiled(fn, *helpers):
    """``numba.njit`` of ``fn``, where each function in ``helpers`` that ``fn`` calls is
    compiled too: numba compiles a call to a global function only if that function is
    itself compiled, so ``fn`` gets a copy of its globals in which they are."""
    fn = _plain(fn)
    env = dict(fn.__globals__)
    for helper in helpers:
        env[helper.__name__] = numba.njit(_plain(helper))
    twin = types.FunctionType(fn.__code__, env, fn.__name__, fn.__defaults__, fn.__closure__)
    return numba.njit(twin)


def _tried(*names) -> bool:
    """True when every named function of the lab is implemented (a tiny call each)."""
    x, w, b = np.ones((1, 1, 2, 2)), np.ones((1, 1, 1, 1)), np.zeros(1)
    probes = {
        "conv_output_size": lambda: conv_output_size(2, 1),
        "conv2d_loops": lambda: conv2d_loops(np.empty((1, 1, 2, 2)), x, w, b, 1, 0),
        "pad2d": lambda: pad2d(x, 1),
        "conv2d_padded": lambda: conv2d_padded(np.empty((1, 1, 2, 2)), x, w, b, 1, 0),
        "im2col": lambda: im2col(x, 1, 1, 1, 0),
        "conv2d_im2col": lambda: conv2d_im2col(x, w, b, 1, 0),
        "im2col_nbytes": lambda: im2col_nbytes(x.shape, 1, 1, 1, 0, 8),
        "max_pool2d_loops": lambda: max_pool2d_loops(np.empty((1, 1, 1, 1)),
                                                     np.empty((1, 1, 1, 1), np.int64), x, 2, 2),
        "max_pool2d_backward_loops": lambda: max_pool2d_backward_loops(
            np.empty((1, 1, 2, 2)), np.ones((1, 1, 1, 1)), np.zeros((1, 1, 1, 1), np.int64)),
    }
    for name in names:
        try:
            probes[name]()
        except NotImplementedError as err:
            missing = str(err).removeprefix("TODO: implement ")
            _todo(missing if missing in probes else name)
            return False
    return True


def _conv_oracle(x, w, b, stride, padding):
    """tinytorch's numpy kernel: the reference every variant is checked against."""
    N, C_out = x.shape[0], w.shape[0]
    OH = (x.shape[2] + 2 * padding - w.shape[2]) // stride + 1
    OW = (x.shape[3] + 2 * padding - w.shape[3]) // stride + 1
    out = np.empty((N, C_out, OH, OW), x.dtype)
    tt.dispatch.kernel_for("conv2d_forward", "numpy")[1](
        out, x, w, b, stride_h=stride, stride_w=stride, pad_h=padding, pad_w=padding,
        dil_h=1, dil_w=1, groups=1)
    return out


def _framework_conv(fn):
    """Your conv ``fn(out, x, w, b, stride, padding)`` behind tinytorch's conv2d_forward
    signature (``kernels/conv.py``), for the settings your loops support."""
    def conv2d_forward(out, x, w, b, *, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                       groups):
        OH = (x.shape[2] + 2 * pad_h - w.shape[2]) // stride_h + 1
        if (stride_h != stride_w or pad_h != pad_w or dil_h != 1 or dil_w != 1 or groups != 1
                or out.shape[2] != OH):
            raise ValueError("the student conv supports equal strides and paddings (rows and "
                             "columns), no dilation, no groups, symmetric padding")
        fn(out, x, w, b, stride_h, pad_h)
    return conv2d_forward


def _framework_max_pool(fn):
    """Your max pool behind tinytorch's max_pool2d_forward signature (``kernels/pool.py``)."""
    def max_pool2d_forward(out, indices, x, kh, kw, sh, sw, ph, pw, dh, dw):
        if kh != kw or sh != sw or ph or pw or dh != 1 or dw != 1:
            raise ValueError("the student max pool supports square windows, equal strides, "
                             "no padding, no dilation")
        fn(out, indices, x, kh, sh)
    return max_pool2d_forward


def experiment_conv_cost() -> None:
    if not _tried("conv_output_size"):
        return
    N, C_in, H, W, C_out, K, pad = 32, 3, 32, 32, 16, 3, 1
    OH, OW = conv_output_size(H, K, 1, pad), conv_output_size(W, K, 1, pad)
    theirs = tt.ops.conv.conv2d_output_shape((N, C_in, H, W), (C_out, C_in, K, K), padding=pad)
    print(f"conv ({N}, {C_in}, {H}, {W}) * ({C_out}, {C_in}, {K}, {K}), padding {pad}: your "
          f"output size {OH} x {OW}; tinytorch's output shape {theirs}")
    for size, k, s, p, d in [(28, 5, 1, 0, 1), (224, 7, 2, 3, 1), (56, 3, 2, 1, 1),
                             (32, 3, 1, 2, 2)]:
        print(f"  size {size:3}, kernel {k}, stride {s}, padding {p}, dilation {d}: "
              f"{conv_output_size(size, k, s, p, d)}")
    macs = N * C_out * OH * OW * C_in * K * K
    moved = 4 * (N * C_in * H * W + C_out * C_in * K * K + C_out + N * C_out * OH * OW)
    print(f"FLOPs: 2 * {N}*{C_out}*{OH}*{OW} outputs * {C_in * K * K} taps = {2 * macs:,}; "
          f"at least {moved:,} bytes (float32): {2 * macs / moved:.1f} FLOPs per byte")
    print(f"each input pixel feeds {K * K * C_out} multiply-adds (KH*KW taps x C_out "
          "channels): a kernel that keeps what it loads in cache is limited by arithmetic, "
          "not memory")


def experiment_ladder() -> None:
    if not _tried("conv2d_loops", "pad2d", "conv2d_padded", "im2col", "conv2d_im2col"):
        return
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 7))
    w, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    for stride, padding in ((1, 1), (2, 0)):
        expected = _conv_oracle(x, w, b, stride, padding)
        for name, fn in (("conv2d_loops", conv2d_loops), ("conv2d_padded", conv2d_padded),
                         ("conv2d_im2col", None)):
            out = np.full(expected.shape, np.nan)
            try:
                if fn is None:
                    out = conv2d_im2col(x, w, b, stride, padding)
                else:
                    fn(out, x, w, b, stride, padding)
            except (IndexError, ValueError, TypeError) as err:
                out = f"{type(err).__name__}: {err}"
            if not (isinstance(out, np.ndarray) and out.shape == expected.shape
                    and np.allclose(out, expected)):
                print(f"{name} does not match numpy yet (stride {stride}, padding {padding}"
                      f"{'; it raised ' + out if isinstance(out, str) else ''}): fix it "
                      "before timing it (`tinytorch grade 03` says what is wrong)")
                return

    N, C_in, H, W, C_out, K, pad = 32, 3, 32, 32, 16, 3, 1
    x = rng.standard_normal((N, C_in, H, W)).astype(np.float32)
    w = (rng.standard_normal((C_out, C_in, K, K)) / np.sqrt(C_in * K * K)).astype(np.float32)
    b = rng.standard_normal(C_out).astype(np.float32)
    out = np.empty((N, C_out, H, W), np.float32)
    macs = N * C_out * H * W * C_in * K * K
    params = {"stride_h": 1, "stride_w": 1, "pad_h": pad, "pad_w": pad, "dil_h": 1,
              "dil_w": 1, "groups": 1}
    tt_jit = tt.dispatch.kernel_for("conv2d_forward", "jit")[1]
    tt_numpy = tt.dispatch.kernel_for("conv2d_forward", "numpy")[1]

    # Interpreted: one image, 4 output channels, 16 x 16; scaled by the multiply-adds.
    small_x, small_out = x[:1, :, :16, :16].copy(), np.empty((1, 4, 16, 16), np.float32)
    small = small_out.size * C_in * K * K
    rows = {}
    for name, fn in (("your loops", conv2d_loops), ("your padded loops", conv2d_padded)):
        s = _median_s(fn, small_out, small_x, w[:4], b[:4], 1, pad, repeat=1)
        rows[name + " (scaled)"] = s * macs / small
    loops = _compiled(conv2d_loops)
    padded = _compiled(conv2d_padded, pad2d)
    rows["your loops, njit"] = _median_s(loops, out, x, w, b, 1, pad)
    rows["your padded, njit"] = _median_s(padded, out, x, w, b, 1, pad)
    rows["your im2col + matmul"] = _median_s(conv2d_im2col, x, w, b, 1, pad, repeat=3)
    rows["tinytorch jit"] = _median_s(lambda: tt_jit(out, x, w, b, **params), repeat=11)
    rows["tinytorch numpy"] = _median_s(lambda: tt_numpy(out, x, w, b, **params), repeat=5)
    try:
        import torch  # noqa: PLC0415 (optional)

        tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
        time.sleep(0.5)  # numba's threads spin for a while after a parallel kernel: let them
        with torch.no_grad():
            rows["torch"] = _median_s(lambda: torch.nn.functional.conv2d(tx, tw, tb,
                                                                         padding=pad),
                                      repeat=11)
    except ImportError:
        print("(torch is not installed: no torch row)")
    print(f"\nconv ({N}, {C_in}, {H}, {W}) -> ({N}, {C_out}, {H}, {W}), 3 x 3, padding {pad}, "
          f"float32: {2 * macs / 1e6:.1f} MFLOP, median times (interpreted: timed on "
          f"{small_x.shape} -> {small_out.shape}, scaled):")
    base = rows["your loops (scaled)"]
    for name, s in rows.items():
        print(f"  {name:26} {s * 1e3:11.3f} ms {2 * macs / s / 1e9:8.2f} GFLOP/s "
              f"({base / s:9.1f}x your loops)")
    print("why: compiled, your loops still test two bounds inside the tap loops, and their "
          "innermost loop (kw) is 3 long:\ntoo short to vectorise. The padded loops have no "
          "test, and their inner loop runs along an output row (32 long,\nunit stride): "
          "SIMD. im2col first copies 9x the input, then numpy's matmul (BLAS) does the "
          "arithmetic;\ntinytorch's jit kernel is direct (one padded copy) with register "
          "blocking and threads (kernels/conv.py, docs/conv.md).\nQuestion: which rows "
          "would change if the layer had 64 input channels? Which if the batch were 1?")


def experiment_memory() -> None:
    if not _tried("pad2d", "im2col", "conv2d_im2col", "im2col_nbytes"):
        return
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 3, 32, 32)).astype(np.float32)
    w = rng.standard_normal((16, 3, 3, 3)).astype(np.float32)
    b = np.zeros(16, np.float32)
    kib = 1024
    print(f"input (32, 3, 32, 32) float32: {x.nbytes / kib:,.0f} KiB; output (32, 16, 32, "
          f"32): {32 * 16 * 32 * 32 * 4 / kib:,.0f} KiB")
    print(f"your im2col_nbytes for a 3 x 3 kernel, padding 1: "
          f"{im2col_nbytes(x.shape, 3, 3, 1, 1, 4) / kib:,.0f} KiB "
          f"({im2col_nbytes(x.shape, 3, 3, 1, 1, 4) / x.nbytes:.1f}x the input)")
    # tracemalloc sees numpy's allocations: the peak is what a call needed at once.
    for name, fn in (("pad2d(x, 1)", lambda: pad2d(x, 1)),
                     ("im2col(x, 3, 3, 1, 1)", lambda: im2col(x, 3, 3, 1, 1)),
                     ("conv2d_im2col(x, w, b, 1, 1)", lambda: conv2d_im2col(x, w, b, 1, 1))):
        tracemalloc.start()
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"  your {name:30} peak {peak / kib:8,.0f} KiB, returns {result.nbytes / kib:8,.0f}"
              f" KiB ({peak / x.nbytes:4.1f}x the input)")
    big = (32, 64, 56, 56)  # a ResNet-style layer: 64 -> 64 channels, 3 x 3, padding 1
    mib = 1024 * 1024
    print(f"a (32, 64, 56, 56) float32 input ({np.prod(big) * 4 / mib:.1f} MiB) with a 3 x 3 "
          f"kernel: im2col {im2col_nbytes(big, 3, 3, 1, 1, 4) / mib:.1f} MiB, the padded copy "
          f"{32 * 64 * 58 * 58 * 4 / mib:.1f} MiB")
    print("the trade: im2col buys a matrix product (tuned BLAS) with KH*KW copies of the "
          "input; the direct loops need one padded\ncopy (a few percent more than the "
          "input). With C_in*KH*KW = 27 the matrix is thin, and moving 9x the input can "
          "cost\nmore than the arithmetic it enables.")


def experiment_pooling() -> None:
    if not _tried("max_pool2d_loops", "max_pool2d_backward_loops"):
        return
    rng = np.random.default_rng(2)
    x = rng.standard_normal((32, 16, 32, 32)).astype(np.float32)
    out, idx = np.empty((32, 16, 16, 16), np.float32), np.empty((32, 16, 16, 16), np.int64)
    ref_out, ref_idx = np.empty_like(out), np.empty_like(idx)
    tt_fwd = tt.dispatch.kernel_for("max_pool2d_forward", "jit")[1]
    tt_np = tt.dispatch.kernel_for("max_pool2d_forward", "numpy")[1]
    small = x[:1, :4]
    small_out, small_idx = out[:1, :4], idx[:1, :4]
    max_pool2d_loops(small_out, small_idx, small, 2, 2)
    tt_np(ref_out[:1, :4], ref_idx[:1, :4], small, 2, 2, 2, 2, 0, 0, 1, 1)
    if not (np.array_equal(small_out, ref_out[:1, :4])
            and np.array_equal(small_idx, ref_idx[:1, :4])):
        print("max_pool2d_loops does not match tinytorch yet: fix it before timing it")
        return
    interpreted = _median_s(max_pool2d_loops, small_out, small_idx, small, 2, 2, repeat=1)
    rows = {"your loops (scaled)": interpreted * x.size / small.size,
            "your loops, njit": _median_s(_compiled(max_pool2d_loops), out, idx, x, 2, 2),
            "tinytorch jit": _median_s(tt_fwd, out, idx, x, 2, 2, 2, 2, 0, 0, 1, 1),
            "tinytorch numpy": _median_s(tt_np, out, idx, x, 2, 2, 2, 2, 0, 0, 1, 1)}
    moved = x.nbytes + out.nbytes + idx.nbytes
    print(f"max pool 2 x 2, stride 2, on {x.shape} float32, median times:")
    for name, s in rows.items():
        print(f"  {name:22} {s * 1e3:10.3f} ms {moved / s / 1e9:7.2f} GB/s "
              f"({rows['your loops (scaled)'] / s:8.1f}x your loops)")
    kib = 1024
    print(f"saved for backward: the int64 indices, {idx.nbytes / kib:,.0f} KiB: twice the "
          f"output ({out.nbytes / kib:,.0f} KiB), half the input ({x.nbytes / kib:,.0f} KiB). "
          f"A window has {2 * 2} positions:\nan int8 offset inside it would need "
          f"{idx.size / kib:,.0f} KiB, but then backward must recompute h*W + w from it.")
    gx = np.empty_like(x)
    g = rng.standard_normal(out.shape).astype(np.float32)
    backward = _compiled(max_pool2d_backward_loops)
    tt_bwd = tt.dispatch.kernel_for("max_pool2d_backward", "jit")[1]
    print(f"backward: yours njit {_median_s(backward, gx, g, idx) * 1e3:.3f} ms, tinytorch jit "
          f"{_median_s(tt_bwd, gx, g, idx) * 1e3:.3f} ms (it writes all of grad_x: "
          f"{gx.nbytes / kib:,.0f} KiB, for {g.size:,} adds)")


def experiment_summary() -> None:
    tt.manual_seed(0)
    model = digits_cnn()
    report = tt.summary(model, (32, 1, 8, 8))
    print(report)
    print("workspace is the im2col buffer a matrix-product convolution would need; saved is "
          "what the graph holds until backward:\nthe conv keeps its input, ReLU its output, "
          "max pool its int64 indices.")
    try:
        mine = im2col_nbytes((32, 16, 4, 4), 3, 3, 1, 1, 4)
    except NotImplementedError:
        return _todo("im2col_nbytes")
    print(f"your im2col_nbytes for layer 3 (input (32, 16, 4, 4)): {mine:,} bytes; "
          f"tt.summary: {report.rows[3].workspace_bytes:,}")


def train_digits_cnn(backend: str, *, epochs: int = 2, batch_size: int = 32,
                     lr: float = 2e-3, seed: int = 0, max_steps=None,
                     fallback: str | None = None) -> dict:
    """Train tinytorch's digits CNN with Adam on ``backend``; per-step ``losses``,
    ``epoch_seconds`` and the final ``test_accuracy``."""
    train_x, train_y = (t.numpy() for t in Digits("train").tensors())
    test_x, test_y = (t.numpy() for t in Digits("test").tensors())
    tt.manual_seed(seed)
    model = digits_cnn()
    opt = tt.optim.Adam(model.parameters(), lr=lr)
    order = np.random.default_rng(seed)
    losses, epoch_seconds = [], []
    with tt.backend(backend, fallback=fallback):
        for _ in range(epochs):
            start = time.perf_counter()
            for index in batches(len(train_y), batch_size, order):
                loss = F.cross_entropy(model(tt.tensor(train_x[index])),
                                       tt.tensor(train_y[index]))
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
                if max_steps is not None and len(losses) >= max_steps:
                    break
            epoch_seconds.append(time.perf_counter() - start)
            if max_steps is not None and len(losses) >= max_steps:
                break
        test_accuracy = accuracy(model, test_x, test_y)
    return {"losses": losses, "epoch_seconds": epoch_seconds, "test_accuracy": test_accuracy}


def experiment_student_backend() -> None:
    if not _tried("pad2d", "conv2d_padded", "max_pool2d_loops", "max_pool2d_backward_loops"):
        return
    # Compiled code does not check indices: run the interpreted versions on small inputs
    # first (an index out of range is an IndexError there, not a crash).
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), np.ones(4)
    out = np.full((2, 4, 6, 6), np.nan)
    pooled, idx = np.full((2, 3, 3, 3), np.nan), np.full((2, 3, 3, 3), -1, np.int64)
    ref_pooled, ref_idx = np.empty_like(pooled), np.empty_like(idx)
    tt.dispatch.kernel_for("max_pool2d_forward", "numpy")[1](ref_pooled, ref_idx, x, 2, 2, 2,
                                                             2, 0, 0, 1, 1)
    gx, ref_gx = np.full(x.shape, np.nan), np.empty(x.shape)
    tt.dispatch.kernel_for("max_pool2d_backward", "numpy")[1](ref_gx, ref_pooled, ref_idx)
    checks = (("conv2d_padded", lambda: conv2d_padded(out, x, w, b, 1, 1),
               lambda: np.allclose(out, _conv_oracle(x, w, b, 1, 1))),
              ("max_pool2d_loops", lambda: max_pool2d_loops(pooled, idx, x, 2, 2),
               lambda: np.array_equal(idx, ref_idx)),
              ("max_pool2d_backward_loops",
               lambda: max_pool2d_backward_loops(gx, ref_pooled, ref_idx),
               lambda: np.allclose(gx, ref_gx)))
    for name, run, ok in checks:
        try:
            run()
            problem = "" if ok() else "does not match tinytorch yet"
        except (IndexError, ValueError, TypeError) as err:
            problem = f"raised {type(err).__name__}: {err}"
        if problem:
            print(f"{name} {problem}: fix it before training on it (`tinytorch grade 03` "
                  "says what is wrong)")
            return
    # Your kernels, compiled, as the forward convolution and both max-pool kernels of the
    # backend "student"; every other op (the conv's backward, ReLU, linear, the loss, Adam)
    # borrows tinytorch's jit kernel, with one warning per op.
    tt.register_kernel("conv2d_forward", "student",
                       _framework_conv(_compiled(conv2d_padded, pad2d)))
    tt.register_kernel("max_pool2d_forward", "student",
                       _framework_max_pool(_compiled(max_pool2d_loops)))
    tt.register_kernel("max_pool2d_backward", "student", _compiled(max_pool2d_backward_loops))
    with warnings.catch_warnings(record=True) as borrowed:
        warnings.simplefilter("always", RuntimeWarning)
        mine = train_digits_cnn("student", epochs=2, fallback="jit")
    reference = train_digits_cnn("jit", epochs=2)
    print(f"digits CNN (conv 1->16, pool, conv 16->32, pool, linear), 2 epochs on the student "
          f"backend ({len(borrowed)} ops borrowed from jit):\n  test accuracy "
          f"{mine['test_accuracy'] * 100:.1f}%, last epoch {mine['epoch_seconds'][-1]:.2f} s "
          "(the first includes compiling)")
    print(f"the same on tinytorch's jit backend: test accuracy "
          f"{reference['test_accuracy'] * 100:.1f}%, last epoch "
          f"{reference['epoch_seconds'][-1]:.2f} s")


# %%
if __name__ == "__main__":
    for experiment in (experiment_conv_cost, experiment_ladder, experiment_memory,
                       experiment_pooling, experiment_summary, experiment_student_backend):
        print(f"\n== {experiment.__name__} ==")
        experiment()
