"""Loss kernels: fused cross-entropy, negative log-likelihood, MSE and BCE with logits.

Math (per row ``i`` of ``N`` rows and ``C`` classes; ``t_i`` the target class, ``eps`` the
label smoothing, ``g`` the gradient of the per-row or per-element loss):

- ``cross_entropy``: ``m_i = max_c x_ic``, ``lse_i = m_i + log sum_c exp(x_ic - m_i)`` (the
  stable log-sum-exp: every ``exp`` sees an argument <= 0, and the sum is >= 1, so neither
  overflows nor underflows to ``log 0``); ``loss_i = (1 - eps) (lse_i - x_{i,t_i})
  + eps / C * sum_c (lse_i - x_ic)`` (PyTorch's label smoothing: the target distribution is
  ``(1 - eps) onehot + eps / C``). ``loss_i = lse_i - x_{i,t_i}`` is computed as
  ``(m_i - x_{i,t_i}) + log s_i``, so no large ``lse_i`` is cancelled against a large logit.
  Gradient: ``dx_ic = g_i (softmax_ic - (1 - eps) [c == t_i] - eps / C)`` with
  ``softmax_ic = exp(x_ic - lse_i)``. Rows whose target is ``ignore_index`` get loss 0 and
  gradient 0.
- ``nll`` (input: log-probabilities ``p``): ``loss_i = -p_{i,t_i}``; ``dp_ic = -g_i [c == t_i]``;
  ignored rows 0.
- ``mse`` (elementwise): ``loss = (x - y)^2``; ``dx = 2 g (x - y)``.
- ``bce_with_logits`` (elementwise, with PyTorch's ``pos_weight`` ``w``): with
  ``lw = (w - 1) y + 1``, ``loss = (1 - y) x + lw (log1p(exp(-|x|)) + max(-x, 0))``; for
  ``w = 1`` that is ``max(x, 0) - x y + log1p(exp(-|x|))``, never ``log`` of 0 or ``exp`` of a
  large positive number. ``dx = g (lw sigmoid(x) - w y)``; for ``w = 1``, ``g (sigmoid(x) - y)``.

Shapes: cross-entropy and nll take ``(N, C)`` inputs (any strides), an int64 ``target``
``(N,)``, a per-row gradient ``g`` ``(N,)`` (stride 0 when the reduction broadcast one
number), and write the per-row ``loss`` ``(N,)``. Cross-entropy also writes ``lse`` ``(N,)``,
float64 whatever the logits' dtype (at ``|x| ~ 1e4`` a float32 ``lse`` would be off by about
``5e-4``, and so would every probability the backward rebuilds from it), and its backward
reads it back instead of a stored ``(N, C)`` softmax. ``mse`` and ``bce_with_logits`` are
elementwise on 2-D ``(R, C)`` operands like the elementwise family (``pos_weight`` arrives
broadcast, often with stride 0). The function layer validates every target
(``0 <= t < C`` or ``t == ignore_index``) before any of these runs: the loops index with it.

Cost: cross-entropy forward about ``3 N C`` FLOPs plus ``N C`` exponentials, reading the
logits twice (max, then exp-and-sum; a third time only with label smoothing) and writing
``2 N`` numbers; backward ``N C`` exponentials (plus one per row), one read and one write of
``N C``. Bytes: the forward moves about ``N C * itemsize`` from memory (the second read of
a row hits L1 for rows up to a few thousand classes) plus ``N * (itemsize + 8)`` written; the
backward ``2 N C * itemsize``. The unfused chain log_softmax -> nll would also write and read
back an ``(N, C)`` log-probability array and keep it alive for backward. ``mse`` and
``bce_with_logits``: one pass each way, a few FLOPs (BCE: two transcendentals) per element.

>>> import numpy as np
>>> loss, lse = np.empty(1), np.empty(1)
>>> cross_entropy_forward_naive(loss, lse, np.array([[1e4, 0.0]]), np.array([0]),
...                             ignore_index=-100, label_smoothing=0.0)
>>> loss.tolist(), lse.tolist()
([0.0], [10000.0])
"""

import numpy as np

from ._twins import jit_twin as _jit
from ._twins import kernel_table

# --- naive ------------------------------------------------------------------------------

def cross_entropy_forward_naive(loss, lse, logits, target, *, ignore_index, label_smoothing):
    """Per-row cross-entropy of ``logits`` (N, C >= 1) and the per-row log-sum-exp.

    >>> import numpy as np
    >>> loss, lse = np.empty(2), np.empty(2)
    >>> cross_entropy_forward_naive(loss, lse, np.zeros((2, 4)), np.array([1, -100]),
    ...                             ignore_index=-100, label_smoothing=0.0)
    >>> loss.round(6).tolist()  # log 4, and 0 for the ignored row
    [1.386294, 0.0]
    """
    N, C = logits.shape
    for i in range(N):
        m = logits[i, 0]
        for c in range(1, C):
            if logits[i, c] > m:
                m = logits[i, c]
        s = np.float64(0.0)  # sum_c exp(x_c - m): every term in (0, 1], at least one 1
        for c in range(C):
            s += np.exp(logits[i, c] - m)
        log_s = np.log(s)
        lse[i] = m + log_s
        t = target[i]
        if t == ignore_index:
            loss[i] = 0.0
            continue
        nll = (m - logits[i, t]) + log_s  # lse - x_t without cancelling two large numbers
        if label_smoothing > 0:
            # A third pass, only when smoothing: sum_c (lse - x_c) = sum_c (m - x_c) + C log s.
            # Skipped at 0 rather than multiplied by 0: a -inf logit (a masked class) makes
            # this sum inf, and 0 * inf is NaN.
            d = np.float64(0.0)
            for c in range(C):
                d += m - logits[i, c]
            loss[i] = (1.0 - label_smoothing) * nll + label_smoothing / C * (d + C * log_s)
        else:
            loss[i] = nll


def cross_entropy_backward_naive(grad_logits, g, logits, lse, target, *, ignore_index,
                                 label_smoothing):
    """``g_i * (softmax_ic - (1 - eps) [c == t_i] - eps / C)``; 0 on ignored rows.

    >>> import numpy as np
    >>> gx = np.empty((1, 2))
    >>> cross_entropy_backward_naive(gx, np.ones(1), np.zeros((1, 2)), np.log([2.0]),
    ...                              np.array([0]), ignore_index=-100, label_smoothing=0.0)
    >>> gx.tolist()
    [[-0.5, 0.5]]
    """
    N, C = logits.shape
    off = label_smoothing / C  # every class's share of the smoothed target
    on = 1.0 - label_smoothing  # the target class's extra share
    for i in range(N):
        t = target[i]
        if t == ignore_index:
            for c in range(C):
                grad_logits[i, c] = 0.0
            continue
        gi = g[i]
        # lse (float64) split into hi + lo in the logits' dtype, read once per row (a store
        # to grad_logits might alias lse, as far as the compiler knows, so lse[i] in the
        # loop would be reloaded every time). x - hi is exact where it matters (x close to
        # hi, Sterbenz), so exp((x - hi) - lo) runs in float32 for float32 logits, about
        # twice as fast as a float64 exp, and stays accurate at |x| ~ 1e4. For float64
        # logits hi = lse and lo = 0.
        hi = logits.dtype.type(lse[i])
        lo = logits.dtype.type(lse[i] - hi)
        for c in range(C):  # no branch on c == t in here: the target is rewritten after
            grad_logits[i, c] = gi * (np.exp((logits[i, c] - hi) - lo) - off)
        # Recomputed rather than `-= gi * on` on the stored value: p - 1 of a confident
        # row (p = 1 - 1e-6) keeps its digits in float64 before one rounding to float32.
        grad_logits[i, t] = gi * (np.exp(logits[i, t] - lse[i]) - off - on)


def nll_forward_naive(loss, logp, target, *, ignore_index):
    """``-logp[i, t_i]`` per row; 0 where ``t_i == ignore_index``.

    >>> import numpy as np
    >>> loss = np.empty(2)
    >>> nll_forward_naive(loss, np.log([[0.5, 0.5], [0.25, 0.75]]), np.array([1, 1]),
    ...                   ignore_index=-100)
    >>> loss.round(6).tolist()
    [0.693147, 0.287682]
    """
    for i in range(logp.shape[0]):
        t = target[i]
        loss[i] = 0.0 if t == ignore_index else -logp[i, t]


def nll_backward_naive(grad_logp, g, target, *, ignore_index):
    """``-g_i`` at ``(i, t_i)``, 0 elsewhere and on ignored rows.

    >>> import numpy as np
    >>> gp = np.empty((2, 2))
    >>> nll_backward_naive(gp, np.ones(2), np.array([1, -100]), ignore_index=-100)
    >>> gp.tolist()
    [[0.0, -1.0], [0.0, 0.0]]
    """
    N, C = grad_logp.shape
    for i in range(N):
        t = target[i]
        for c in range(C):
            grad_logp[i, c] = -g[i] if (c == t and t != ignore_index) else 0.0


def mse_forward_naive(out, x, y):
    """``(x - y)^2`` elementwise: one pass instead of a subtraction then a square.

    >>> import numpy as np
    >>> out = np.empty((1, 2))
    >>> mse_forward_naive(out, np.array([[1.0, 2.0]]), np.array([[3.0, 2.0]]))
    >>> out.tolist()
    [[4.0, 0.0]]
    """
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            d = x[i, j] - y[i, j]
            out[i, j] = d * d


def mse_backward_naive(grad_x, g, x, y):
    """``2 g (x - y)`` elementwise (the target's gradient is its negation).

    >>> import numpy as np
    >>> gx = np.empty((1, 2))
    >>> mse_backward_naive(gx, np.ones((1, 2)), np.array([[1.0, 2.0]]), np.array([[3.0, 2.0]]))
    >>> gx.tolist()
    [[-4.0, 0.0]]
    """
    for i in range(grad_x.shape[0]):
        for j in range(grad_x.shape[1]):
            grad_x[i, j] = 2.0 * g[i, j] * (x[i, j] - y[i, j])


def bce_with_logits_forward_naive(out, x, y, pos_weight):
    """Stable binary cross-entropy of logits ``x`` against targets ``y`` in [0, 1].

    >>> import numpy as np
    >>> out = np.empty((1, 2))
    >>> bce_with_logits_forward_naive(out, np.array([[0.0, 1000.0]]), np.array([[1.0, 0.0]]),
    ...                               np.ones((1, 2)))
    >>> out.round(6).tolist()  # log 2; and 1000, finite, where exp(1000) would overflow
    [[0.693147, 1000.0]]
    """
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            v = x[i, j]
            t = y[i, j]
            lw = (pos_weight[i, j] - 1.0) * t + 1.0
            softplus_neg = np.log1p(np.exp(-abs(v))) + (-v if v < 0 else 0.0)  # log(1+e^-v)
            out[i, j] = (1.0 - t) * v + lw * softplus_neg


def bce_with_logits_backward_naive(grad_x, g, x, y, pos_weight):
    """``g * (lw * sigmoid(x) - pos_weight * y)`` with ``lw = (pos_weight - 1) y + 1``.

    >>> import numpy as np
    >>> gx = np.empty((1, 2))
    >>> bce_with_logits_backward_naive(gx, np.ones((1, 2)), np.zeros((1, 2)),
    ...                                np.array([[1.0, 0.0]]), np.ones((1, 2)))
    >>> gx.tolist()
    [[-0.5, 0.5]]
    """
    for i in range(grad_x.shape[0]):
        for j in range(grad_x.shape[1]):
            v = x[i, j]
            t = y[i, j]
            w = pos_weight[i, j]
            if v >= 0:  # two branches, so exp only sees arguments <= 0 (as sigmoid_forward)
                s = 1.0 / (1.0 + np.exp(-v))
            else:
                e = np.exp(v)
                s = e / (1.0 + e)
            grad_x[i, j] = g[i, j] * (((w - 1.0) * t + 1.0) * s - w * t)


# --- jit --------------------------------------------------------------------------------
# Each jit kernel in the table is its naive twin compiled (built below by kernel_table()).
#
# The optimised variant: one pass over each row instead of two ("online softmax",
# Milakov & Gimelshein 2018, the idea FlashAttention builds on). The naive kernel reads a
# row once for its max and once more for sum exp(x - max). Here a running max m and a
# running sum s = sum exp(x - m) are kept together: when a new element beats m, the sum so
# far is rescaled by exp(m_old - m_new) (<= 1, so still no overflow) before m moves. The
# row is read once, for about log(C) extra exponentials (the expected number of times the
# running max changes on random data). It pays off when a row no longer fits in L1 (large
# vocabularies); for 10 classes both are a few nanoseconds per row. The smoothing sum
# sum_c (lse - x_c) becomes C * lse - sum_c x_c, accumulated in the same pass.


@_jit
def cross_entropy_forward_jit_online(loss, lse, logits, target, *, ignore_index,
                                     label_smoothing):
    N, C = logits.shape
    for i in range(N):
        # Start from the first element rather than m = -inf: a leading -inf logit (a masked
        # class) would otherwise give exp(-inf - -inf) = NaN.
        m = logits[i, 0]
        s = np.float64(1.0)
        sx = np.float64(m)
        for c in range(1, C):
            v = logits[i, c]
            if v > m:
                s = s * np.exp(m - v) + 1.0  # rescale the old sum to the new max; e^0 = 1
                m = v
            else:
                s += np.exp(v - m)  # NaN lands here (it fails v > m) and poisons s: NaN out
            sx += v
        log_s = np.log(s)
        row_lse = m + log_s
        lse[i] = row_lse
        t = target[i]
        if t == ignore_index:
            loss[i] = 0.0
        elif label_smoothing > 0:
            nll = (m - logits[i, t]) + log_s
            loss[i] = (1.0 - label_smoothing) * nll + label_smoothing / C * (C * row_lse - sx)
        else:
            loss[i] = (m - logits[i, t]) + log_s


# --- numpy ------------------------------------------------------------------------------

def _rows_and_safe_target(target, ignore_index):
    """The ignored-row mask and a target with ignored entries replaced by 0 (a valid index,
    so fancy indexing works; those rows are overwritten afterwards)."""
    ignored = target == ignore_index
    return ignored, np.where(ignored, 0, target)


def cross_entropy_forward_numpy(loss, lse, logits, target, *, ignore_index, label_smoothing):
    N, C = logits.shape
    if N == 0:
        return
    m = logits.max(axis=1)
    z = logits - m[:, None]
    log_s = np.log(np.exp(z).sum(axis=1, dtype=np.float64))
    lse[...] = m + log_s
    ignored, safe = _rows_and_safe_target(target, ignore_index)
    per_row = log_s - z[np.arange(N), safe]
    if label_smoothing > 0:  # skipped at 0: 0 * inf is NaN when a logit is -inf
        smooth = C * log_s - z.sum(axis=1, dtype=np.float64)
        per_row = (1.0 - label_smoothing) * per_row + label_smoothing / C * smooth
    loss[...] = np.where(ignored, 0.0, per_row)


def cross_entropy_backward_numpy(grad_logits, g, logits, lse, target, *, ignore_index,
                                 label_smoothing):
    N, C = logits.shape
    if N == 0:
        return
    ignored, safe = _rows_and_safe_target(target, ignore_index)
    grad = np.exp(logits - lse[:, None]) - label_smoothing / C
    grad[np.arange(N), safe] -= 1.0 - label_smoothing
    grad *= g[:, None]
    grad[ignored] = 0.0
    grad_logits[...] = grad


def nll_forward_numpy(loss, logp, target, *, ignore_index):
    N = logp.shape[0]
    if N == 0:
        return
    ignored, safe = _rows_and_safe_target(target, ignore_index)
    loss[...] = np.where(ignored, 0.0, -logp[np.arange(N), safe])


def nll_backward_numpy(grad_logp, g, target, *, ignore_index):
    grad_logp[...] = 0.0
    keep = np.flatnonzero(target != ignore_index)
    grad_logp[keep, target[keep]] = -g[keep]


def mse_forward_numpy(out, x, y):
    d = x - y
    np.multiply(d, d, out=out, casting="unsafe")


def mse_backward_numpy(grad_x, g, x, y):
    grad_x[...] = 2.0 * g * (x - y)


def bce_with_logits_forward_numpy(out, x, y, pos_weight):
    lw = (pos_weight - 1.0) * y + 1.0
    out[...] = (1.0 - y) * x + lw * (np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0.0))


def bce_with_logits_backward_numpy(grad_x, g, x, y, pos_weight):
    e = np.exp(-np.abs(x))  # the two-branch sigmoid, vectorised
    s = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    grad_x[...] = g * (((pos_weight - 1.0) * y + 1.0) * s - pos_weight * y)


# --- table ------------------------------------------------------------------------------

OPS = ("cross_entropy", "nll", "mse", "bce_with_logits")

KERNELS = kernel_table(globals(), [f"{name}_{direction}" for name in OPS
                                    for direction in ("forward", "backward")])

# Every variant of the cross-entropy forward, slowest first; one signature for all.
VARIANTS = {
    "naive": cross_entropy_forward_naive,
    "jit": KERNELS["cross_entropy_forward"]["jit"],
    "jit_online": cross_entropy_forward_jit_online,
    "numpy": cross_entropy_forward_numpy,
}
