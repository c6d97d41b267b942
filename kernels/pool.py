"""Pooling kernels (NCHW): max, average and adaptive average pooling, forward and backward.

Shapes: ``x`` and ``grad_x`` ``(N, C, H, W)``; ``out``, ``g`` and ``indices`` ``(N, C, OH,
OW)``. Window ``kh x kw``, stride ``sh, sw``, padding ``ph, pw`` (implicit: padded positions
are never read), dilation ``dh, dw`` (max pooling only). Output row ``oh`` looks at input rows
``h = oh*sh - ph + i*dh`` for ``i < kh`` that fall inside ``[0, H)``; columns alike. The
function layer (``tinytorch/ops/pool.py``) computes ``OH, OW`` (PyTorch's formula, with
``ceil_mode``) and checks every parameter: the kernels assume them valid.

Math:

- ``max_pool2d``: ``out`` is the largest value of the window, ``indices`` its position
  ``h*W + w`` within its ``(H, W)`` plane (PyTorch's convention). Ties keep the first maximum
  in row-major window order; a NaN always wins (the last NaN), as PyTorch's CPU kernel. A
  window that covers padding only (possible with a large dilation) gives ``-inf`` and index
  ``-1``. Backward: ``grad_x = 0``, then ``grad_x[n, c].flat[indices] += g`` (overlapping
  windows add up).
- ``avg_pool2d``: ``out = (sum of the window's inputs) / divisor`` with PyTorch's divisor:
  ``divisor_override`` when > 0; else, with ``count_include_pad``, the window's size clipped
  to the padded input ``[-ph, H + ph)`` (so a ``ceil_mode`` window hanging past the padding
  counts only its padded part); else the number of real inputs in the window. Backward:
  every input of the window gets ``g / divisor``.
- ``adaptive_avg_pool2d``: output row ``oh`` averages input rows
  ``[floor(oh*H/OH), ceil((oh+1)*H/OH))``, columns alike (windows may overlap by one).
  Backward: each of them gets ``g / (window size)``.

Cost (``P = N*C*OH*OW`` outputs, ``K = kh*kw``): max forward ``P*K`` comparisons, reads ``x``
once from memory (windows overlap only in cache), writes ``P*(itemsize + 8)`` bytes (values
and int64 indices); max backward no arithmetic but ``P`` adds, writes ``N*C*H*W*itemsize``
and reads ``P*(itemsize + 8)``. Average forward ``P*K`` adds and ``P`` divisions; backward
``P*K`` adds. All are memory-bound: about one FLOP per byte moved or less.

Variants: ``naive`` is the specification above as loops; ``jit`` is the same source
compiled, except for max pooling, whose launchers pick a tuned kernel where it pays (the 2x2
window of stride 2 forward, a flat-plane scatter backward; see ``# --- jit ---``);
``numpy`` loops over the ``K`` window taps and does each tap for all outputs at once
(gathers and strided slices): the test oracle.

>>> import numpy as np
>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> out, idx = np.empty((1, 1, 2, 2)), np.empty((1, 1, 2, 2), np.int64)
>>> max_pool2d_forward_naive(out, idx, x, 2, 2, 2, 2, 0, 0, 1, 1)
>>> out[0, 0].tolist(), idx[0, 0].tolist()
([[5.0, 7.0], [13.0, 15.0]], [[5, 7], [13, 15]])
>>> avg_pool2d_forward_naive(out, x, 2, 2, 2, 2, 0, 0, True, 0)
>>> out[0, 0].tolist()
[[2.5, 4.5], [10.5, 12.5]]
"""

import numpy as np
from numba import njit
from numba.extending import register_jitable


def _jit(fn):
    """The jit twin of a naive kernel: literally the same source, compiled on first call."""
    return njit(cache=True, error_model="numpy")(fn)


# --- naive ------------------------------------------------------------------------------

def max_pool2d_forward_naive(out, indices, x, kh, kw, sh, sw, ph, pw, dh, dw):
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    best = -np.inf
                    best_at = -1
                    for i in range(kh):
                        h = oh * sh - ph + i * dh
                        if h < 0 or h >= H:
                            continue
                        for j in range(kw):
                            w = ow * sw - pw + j * dw
                            if w < 0 or w >= W:
                                continue
                            v = x[n, c, h, w]
                            # strict > keeps the first of tied maxima; a NaN always wins
                            if best_at < 0 or v > best or np.isnan(v):
                                best = v
                                best_at = h * W + w
                    out[n, c, oh, ow] = best
                    indices[n, c, oh, ow] = best_at


def max_pool2d_backward_naive(grad_x, g, indices):
    N, C, H, W = grad_x.shape
    OH, OW = g.shape[2], g.shape[3]
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    grad_x[n, c, h, w] = 0.0
            for oh in range(OH):
                for ow in range(OW):
                    k = indices[n, c, oh, ow]
                    if k >= 0:  # -1: a window of padding only, which took no input
                        grad_x[n, c, k // W, k % W] += g[n, c, oh, ow]


@register_jitable  # plain Python for the naive kernels, inlined into the compiled ones
def _avg_window(oh, ow, H, W, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """The window of output ``(oh, ow)`` clipped to the input, and its divisor."""
    h0 = oh * sh - ph
    w0 = ow * sw - pw
    h1 = min(h0 + kh, H + ph)  # clipped to the padded input first: PyTorch's pool_size
    w1 = min(w0 + kw, W + pw)
    pool_size = (h1 - h0) * (w1 - w0)
    h0 = max(h0, 0)
    w0 = max(w0, 0)
    h1 = min(h1, H)
    w1 = min(w1, W)
    if divisor_override > 0:
        divisor = divisor_override
    elif count_include_pad:
        divisor = pool_size
    else:
        divisor = (h1 - h0) * (w1 - w0)
    return h0, h1, w0, w1, divisor


def avg_pool2d_forward_naive(out, x, kh, kw, sh, sw, ph, pw, count_include_pad,
                             divisor_override):
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    h0, h1, w0, w1, divisor = _avg_window(oh, ow, H, W, kh, kw, sh, sw, ph, pw,
                                                          count_include_pad, divisor_override)
                    # a float64 accumulator on every backend (numpy 2 keeps Python's
                    # 0.0 + float32 in float32, numba would widen it: both now agree)
                    acc = np.float64(0.0)
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            acc += x[n, c, h, w]
                    out[n, c, oh, ow] = acc / divisor


def avg_pool2d_backward_naive(grad_x, g, kh, kw, sh, sw, ph, pw, count_include_pad,
                              divisor_override):
    N, C, H, W = grad_x.shape
    OH, OW = g.shape[2], g.shape[3]
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    grad_x[n, c, h, w] = 0.0
            for oh in range(OH):
                for ow in range(OW):
                    h0, h1, w0, w1, divisor = _avg_window(oh, ow, H, W, kh, kw, sh, sw, ph, pw,
                                                          count_include_pad, divisor_override)
                    share = g[n, c, oh, ow] / divisor
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            grad_x[n, c, h, w] += share


def adaptive_avg_pool2d_forward_naive(out, x):
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                h0 = (oh * H) // OH
                h1 = ((oh + 1) * H + OH - 1) // OH  # ceil((oh + 1) * H / OH)
                for ow in range(OW):
                    w0 = (ow * W) // OW
                    w1 = ((ow + 1) * W + OW - 1) // OW
                    acc = np.float64(0.0)
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            acc += x[n, c, h, w]
                    out[n, c, oh, ow] = acc / ((h1 - h0) * (w1 - w0))


def adaptive_avg_pool2d_backward_naive(grad_x, g):
    N, C, H, W = grad_x.shape
    OH, OW = g.shape[2], g.shape[3]
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    grad_x[n, c, h, w] = 0.0
            for oh in range(OH):
                h0 = (oh * H) // OH
                h1 = ((oh + 1) * H + OH - 1) // OH
                for ow in range(OW):
                    w0 = (ow * W) // OW
                    w1 = ((ow + 1) * W + OW - 1) // OW
                    share = g[n, c, oh, ow] / ((h1 - h0) * (w1 - w0))
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            grad_x[n, c, h, w] += share


# --- jit --------------------------------------------------------------------------------

max_pool2d_forward_jit_naive = _jit(max_pool2d_forward_naive)
max_pool2d_backward_jit_naive = _jit(max_pool2d_backward_naive)


@njit(cache=True, error_model="numpy")
def max_pool2d_forward_jit_2x2(out, indices, x):
    # The 2x2 window of stride 2 (nn.MaxPool2d(2), most CNNs), with 2*OH <= H, 2*OW <= W.
    # Trick 1: a window whose shape is a compile-time constant. LLVM unrolls the four taps,
    # turns the compares into selects and vectorises the loop over ow (packed compares and
    # maxima; the stride 2 is a constant too): about 6x the naive source compiled, whose
    # tap loops and signed, maybe-negative indices (each one tested for Python's negative
    # wrap-around) stay scalar and branchy.
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    h = 2 * oh
                    w = 2 * ow
                    best = x[n, c, h, w]
                    best_at = h * W + w
                    # Trick 2: NaN off the hot path. v - v is 0 for a finite v and NaN for
                    # NaN or inf: one add per tap instead of an isnan test (which cost 3x).
                    # A window whose probe is not 0 is scanned again by the exact rule.
                    probe = best - best
                    for i in range(2):
                        for j in range(2):
                            v = x[n, c, h + i, w + j]
                            probe += v - v
                            if v > best:
                                best = v
                                best_at = (h + i) * W + w + j
                    if probe != 0:  # a NaN wins, the last one (an inf alone changes nothing)
                        for i in range(2):
                            for j in range(2):
                                v = x[n, c, h + i, w + j]
                                if np.isnan(v):
                                    best = v
                                    best_at = (h + i) * W + w + j
                    out[n, c, oh, ow] = best
                    indices[n, c, oh, ow] = best_at


def max_pool2d_forward_jit(out, indices, x, kh, kw, sh, sw, ph, pw, dh, dw):
    """The registered jit launcher: ``max_pool2d_forward_jit_2x2`` for a 2x2 window of
    stride 2 without padding or dilation whose windows all fit, else the naive source
    compiled (``max_pool2d_forward_jit_naive``). Both give the naive kernel's results."""
    if (kh == 2 and kw == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0 and dh == 1
            and dw == 1 and 2 * out.shape[2] <= x.shape[2] and 2 * out.shape[3] <= x.shape[3]):
        max_pool2d_forward_jit_2x2(out, indices, x)
    else:
        max_pool2d_forward_jit_naive(out, indices, x, kh, kw, sh, sw, ph, pw, dh, dw)


@njit(cache=True, error_model="numpy")
def max_pool2d_backward_jit_flat(grad_flat, g, indices):
    # grad_x viewed as (N*C, H*W): the saved index addresses its plane directly. The
    # naive kernel's k // W and k % W (two integer divisions per output) cost 3.5x.
    N, C, OH, OW = g.shape
    for p in range(grad_flat.shape[0]):
        for k in range(grad_flat.shape[1]):
            grad_flat[p, k] = 0.0
    for n in range(N):
        for c in range(C):
            p = n * C + c
            for oh in range(OH):
                for ow in range(OW):
                    k = indices[n, c, oh, ow]
                    if k >= 0:
                        grad_flat[p, k] += g[n, c, oh, ow]


def max_pool2d_backward_jit(grad_x, g, indices):
    """The registered jit launcher: ``max_pool2d_backward_jit_flat`` on a C-contiguous
    ``grad_x`` (a free reshape to planes), else the naive source compiled."""
    if grad_x.flags.c_contiguous:
        N, C, H, W = grad_x.shape
        max_pool2d_backward_jit_flat(grad_x.reshape(N * C, H * W), g, indices)
    else:
        max_pool2d_backward_jit_naive(grad_x, g, indices)


avg_pool2d_forward_jit = _jit(avg_pool2d_forward_naive)
avg_pool2d_backward_jit = _jit(avg_pool2d_backward_naive)
adaptive_avg_pool2d_forward_jit = _jit(adaptive_avg_pool2d_forward_naive)
adaptive_avg_pool2d_backward_jit = _jit(adaptive_avg_pool2d_backward_naive)


# --- numpy ------------------------------------------------------------------------------

def _taps(n_out, stride, pad, tap, size):
    """Input positions of one window tap for every output position, clipped into range,
    and which of them are real inputs (not padding)."""
    pos = np.arange(n_out) * stride - pad + tap
    return np.clip(pos, 0, size - 1), (pos >= 0) & (pos < size)


def max_pool2d_forward_numpy(out, indices, x, kh, kw, sh, sw, ph, pw, dh, dw):
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    best = np.full(out.shape, -np.inf, x.dtype)
    at = np.full(out.shape, -1, np.int64)
    for i in range(kh):
        h, h_ok = _taps(OH, sh, ph, i * dh, H)
        for j in range(kw):
            w, w_ok = _taps(OW, sw, pw, j * dw, W)
            v = x[:, :, h[:, None], w[None, :]]  # this tap of every window: (N, C, OH, OW)
            take = (h_ok[:, None] & w_ok[None, :]) & ((at < 0) | (v > best) | np.isnan(v))
            best = np.where(take, v, best)
            at = np.where(take, h[:, None] * W + w[None, :], at)
    out[...] = best
    indices[...] = at


def max_pool2d_backward_numpy(grad_x, g, indices):
    N, C, H, W = grad_x.shape
    planes, per_plane = N * C, g.shape[2] * g.shape[3]
    flat = (np.arange(planes)[:, None] * (H * W) + indices.reshape(planes, per_plane)).ravel()
    weights = g.reshape(planes, per_plane).ravel()
    keep = indices.reshape(-1) >= 0
    grad_x[...] = np.bincount(flat[keep], weights[keep], minlength=planes * H * W).reshape(
        grad_x.shape)


def _avg_divisors(OH, OW, H, W, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    if divisor_override > 0:
        return np.full((OH, OW), float(divisor_override))
    h0, w0 = np.arange(OH) * sh - ph, np.arange(OW) * sw - pw
    h1, w1 = np.minimum(h0 + kh, H + ph), np.minimum(w0 + kw, W + pw)
    if not count_include_pad:
        h0, h1 = np.maximum(h0, 0), np.minimum(h1, H)
        w0, w1 = np.maximum(w0, 0), np.minimum(w1, W)
    return ((h1 - h0)[:, None] * (w1 - w0)[None, :]).astype(np.float64)


def _padded_shape(x_shape, OH, OW, kh, kw, sh, sw, ph, pw):
    """Zero padding on every side, plus what a ceil_mode window hangs past the right edge."""
    N, C, H, W = x_shape
    return (N, C, max(H + 2 * ph, (OH - 1) * sh + kh), max(W + 2 * pw, (OW - 1) * sw + kw))


def avg_pool2d_forward_numpy(out, x, kh, kw, sh, sw, ph, pw, count_include_pad,
                             divisor_override):
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    xp = np.zeros(_padded_shape(x.shape, OH, OW, kh, kw, sh, sw, ph, pw))
    xp[:, :, ph:ph + H, pw:pw + W] = x
    acc = np.zeros(out.shape)
    for i in range(kh):
        for j in range(kw):
            acc += xp[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw]
    out[...] = acc / _avg_divisors(OH, OW, H, W, kh, kw, sh, sw, ph, pw, count_include_pad,
                                   divisor_override)


def avg_pool2d_backward_numpy(grad_x, g, kh, kw, sh, sw, ph, pw, count_include_pad,
                              divisor_override):
    N, C, H, W = grad_x.shape
    OH, OW = g.shape[2], g.shape[3]
    share = g / _avg_divisors(OH, OW, H, W, kh, kw, sh, sw, ph, pw, count_include_pad,
                              divisor_override)
    gp = np.zeros(_padded_shape(grad_x.shape, OH, OW, kh, kw, sh, sw, ph, pw))
    for i in range(kh):
        for j in range(kw):
            gp[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw] += share
    grad_x[...] = gp[:, :, ph:ph + H, pw:pw + W]


def _adaptive_windows(n_out, size):
    return [((o * size) // n_out, -((-(o + 1) * size) // n_out)) for o in range(n_out)]


def adaptive_avg_pool2d_forward_numpy(out, x):
    H, W = x.shape[2], x.shape[3]
    for oh, (h0, h1) in enumerate(_adaptive_windows(out.shape[2], H)):
        for ow, (w0, w1) in enumerate(_adaptive_windows(out.shape[3], W)):
            out[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3), dtype=np.float64)


def adaptive_avg_pool2d_backward_numpy(grad_x, g):
    H, W = grad_x.shape[2], grad_x.shape[3]
    acc = np.zeros(grad_x.shape)
    for oh, (h0, h1) in enumerate(_adaptive_windows(g.shape[2], H)):
        for ow, (w0, w1) in enumerate(_adaptive_windows(g.shape[3], W)):
            acc[:, :, h0:h1, w0:w1] += g[:, :, oh, ow, None, None] / ((h1 - h0) * (w1 - w0))
    grad_x[...] = acc


KERNELS = {
    "max_pool2d_forward": {"naive": max_pool2d_forward_naive, "jit": max_pool2d_forward_jit,
                           "numpy": max_pool2d_forward_numpy},
    "max_pool2d_backward": {"naive": max_pool2d_backward_naive, "jit": max_pool2d_backward_jit,
                            "numpy": max_pool2d_backward_numpy},
    "avg_pool2d_forward": {"naive": avg_pool2d_forward_naive, "jit": avg_pool2d_forward_jit,
                           "numpy": avg_pool2d_forward_numpy},
    "avg_pool2d_backward": {"naive": avg_pool2d_backward_naive, "jit": avg_pool2d_backward_jit,
                            "numpy": avg_pool2d_backward_numpy},
    "adaptive_avg_pool2d_forward": {"naive": adaptive_avg_pool2d_forward_naive,
                                    "jit": adaptive_avg_pool2d_forward_jit,
                                    "numpy": adaptive_avg_pool2d_forward_numpy},
    "adaptive_avg_pool2d_backward": {"naive": adaptive_avg_pool2d_backward_naive,
                                     "jit": adaptive_avg_pool2d_backward_jit,
                                     "numpy": adaptive_avg_pool2d_backward_numpy},
}
