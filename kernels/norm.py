"""Batch normalisation kernels: statistics, normalisation and running averages in one
forward kernel, the three gradients in one backward kernel.

Shapes: ``x``, ``out``, ``g`` and ``grad_x`` are 3-D ``(N, C, L)``: batch, channels, and
every other dimension flattened (``L = H*W`` for ``BatchNorm2d``; the function layer views
``(N, C, H, W)`` that way for free). Per-channel vectors ``weight``, ``bias``,
``running_mean``, ``running_var``, ``save_mean``, ``save_invstd``, ``grad_weight`` and
``grad_bias`` are ``(C,)``. ``M = N*L`` values per channel.

Forward, ``training=True`` (batch statistics, two passes for a stable variance)::

    mean[c]   = sum(x[:, c, :]) / M
    var[c]    = sum((x[:, c, :] - mean[c])**2) / M        (biased: it normalises)
    invstd[c] = 1 / sqrt(var[c] + eps)
    out       = (x - mean) * invstd * weight + bias        (as x * alpha + beta per channel)
    running_mean = (1 - momentum) * running_mean + momentum * mean
    running_var  = (1 - momentum) * running_var + momentum * var * M / (M - 1)   (unbiased)

The running statistics are updated in place, only when ``running_mean`` has ``C`` entries
(the function layer passes empty arrays when there are none to track). With
``training=False`` the kernel normalises with ``mean = running_mean`` and ``invstd = 1 /
sqrt(running_var + eps)`` and updates nothing. Either way it writes the ``mean`` and
``invstd`` it used into ``save_mean`` and ``save_invstd``, which is what backward reads.

Backward (``xhat = (x - mean) * invstd``, sums over ``n`` and ``l``), the standard
three-term formula, fused::

    grad_bias[c]   = sum(g)
    grad_weight[c] = sum(g * xhat)
    grad_x = weight * invstd * (g - grad_bias/M - xhat * grad_weight/M)    training
    grad_x = weight * invstd * g                                            eval

In training the mean and variance depend on every ``x``, hence the two extra terms; in eval
they are constants.

Cost per element: forward about 6 FLOPs (1 add for the mean, 3 for the squared deviation,
2 for ``x * alpha + beta``), reading ``x`` three times and writing ``out`` once; backward
about 9 FLOPs, reading ``g`` and ``x`` twice each and writing ``grad_x`` once. Both are
memory-bound. Sums accumulate in float64 on every backend (PyTorch's CPU kernel does too).

Variants: ``naive`` loops, one channel at a time; ``jit`` the same source compiled with one
more compiler permission (see ``# --- jit ---``): reassociation, which lets LLVM split each
sum into SIMD lanes (about 6x forward, 2x backward on float32; results differ from the
naive order in the last bits); ``numpy`` the vectorised reference.

>>> import numpy as np
>>> x = np.array([[[1.0, 3.0]], [[5.0, 7.0]]])  # N=2, C=1, L=2: mean 4, var 5
>>> out, mean, invstd = np.empty_like(x), np.empty(1), np.empty(1)
>>> rm, rv = np.zeros(1), np.ones(1)
>>> batch_norm_forward_naive(out, mean, invstd, x, np.ones(1), np.zeros(1), rm, rv,
...                          training=True, momentum=0.5, eps=0.0)
>>> np.round(out[:, 0, :] * np.sqrt(5), 6).tolist(), mean.tolist()
([[-3.0, -1.0], [1.0, 3.0]], [4.0])
>>> rm.tolist(), np.round(rv, 6).tolist()  # 0.5*0 + 0.5*4, 0.5*1 + 0.5*(20/3)
([2.0], [3.833333])
"""

import numpy as np
from numba import njit

# --- naive ------------------------------------------------------------------------------


def batch_norm_forward_naive(out, save_mean, save_invstd, x, weight, bias, running_mean,
                             running_var, training, momentum, eps):
    N, C, L = x.shape
    M = N * L
    for c in range(C):
        if training:
            # float64 sums on every backend (numpy 2 would keep 0.0 + float32 in float32)
            acc = np.float64(0.0)
            for n in range(N):
                for i in range(L):
                    acc += x[n, c, i]
            mean = acc / M
            acc = np.float64(0.0)
            for n in range(N):
                for i in range(L):
                    d = x[n, c, i] - mean
                    acc += d * d
            var = acc / M
            if running_mean.shape[0] > 0:
                running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean
                running_var[c] = (1 - momentum) * running_var[c] + momentum * acc / (M - 1)
        else:
            mean = np.float64(running_mean[c])
            var = np.float64(running_var[c])
        invstd = 1.0 / np.sqrt(var + eps)
        save_mean[c] = mean
        save_invstd[c] = invstd
        alpha = invstd * weight[c]  # out = x * alpha + beta: two FLOPs per element
        beta = bias[c] - mean * alpha
        for n in range(N):
            for i in range(L):
                out[n, c, i] = x[n, c, i] * alpha + beta


def batch_norm_backward_naive(grad_x, grad_weight, grad_bias, g, x, weight, save_mean,
                              save_invstd, training):
    N, C, L = x.shape
    M = N * L
    for c in range(C):
        mean = save_mean[c]
        invstd = save_invstd[c]
        sum_g = np.float64(0.0)
        sum_gd = np.float64(0.0)  # sum(g * (x - mean)) = sum(g * xhat) / invstd
        for n in range(N):
            for i in range(L):
                sum_g += g[n, c, i]
                sum_gd += g[n, c, i] * (x[n, c, i] - mean)
        grad_bias[c] = sum_g
        grad_weight[c] = sum_gd * invstd
        scale = weight[c] * invstd
        if training:
            mean_g = sum_g / M
            k = sum_gd * invstd * invstd / M  # xhat * sum(g*xhat)/M = (x - mean) * k
            for n in range(N):
                for i in range(L):
                    grad_x[n, c, i] = (g[n, c, i] - mean_g - (x[n, c, i] - mean) * k) * scale
        else:
            for n in range(N):
                for i in range(L):
                    grad_x[n, c, i] = g[n, c, i] * scale


# --- jit --------------------------------------------------------------------------------
# The naive source, literally, compiled with fastmath={"reassoc", "contract"}. IEEE addition
# is not associative, so without permission LLVM must add the elements of a sum one after
# the other, each add waiting on the last. "reassoc" lets it keep several partial sums in
# SIMD lanes and add them up at the end (about 6x forward, 2x backward on float32);
# "contract" fuses multiply-adds. Not the full fastmath: "nnan"/"ninf" would let LLVM
# assume there is no NaN or inf, and a NaN input must still give NaN, as PyTorch's does.

_FAST = {"reassoc", "contract"}
batch_norm_forward_jit = njit(cache=True, error_model="numpy", fastmath=_FAST)(
    batch_norm_forward_naive)
batch_norm_backward_jit = njit(cache=True, error_model="numpy", fastmath=_FAST)(
    batch_norm_backward_naive)


# --- numpy ------------------------------------------------------------------------------

def batch_norm_forward_numpy(out, save_mean, save_invstd, x, weight, bias, running_mean,
                             running_var, training, momentum, eps):
    M = x.shape[0] * x.shape[2]
    if training:
        mean = x.mean(axis=(0, 2), dtype=np.float64)
        sq = ((x - mean[None, :, None]) ** 2).sum(axis=(0, 2), dtype=np.float64)
        var = sq / M
        if running_mean.shape[0] > 0:
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
            running_var[...] = (1 - momentum) * running_var + momentum * sq / (M - 1)
    else:
        mean = running_mean.astype(np.float64)
        var = running_var.astype(np.float64)
    invstd = 1.0 / np.sqrt(var + eps)
    save_mean[...] = mean
    save_invstd[...] = invstd
    alpha = invstd * weight
    beta = bias - mean * alpha
    out[...] = x * alpha[None, :, None] + beta[None, :, None]


def batch_norm_backward_numpy(grad_x, grad_weight, grad_bias, g, x, weight, save_mean,
                              save_invstd, training):
    M = x.shape[0] * x.shape[2]
    mean, invstd = save_mean[None, :, None], save_invstd[None, :, None]
    xhat = (x - mean) * invstd
    sum_g = g.sum(axis=(0, 2), dtype=np.float64)
    sum_gx = (g * xhat).sum(axis=(0, 2), dtype=np.float64)
    grad_bias[...] = sum_g
    grad_weight[...] = sum_gx
    scale = weight[None, :, None] * invstd
    if training:
        grad_x[...] = (g - sum_g[None, :, None] / M - xhat * sum_gx[None, :, None] / M) * scale
    else:
        grad_x[...] = g * scale


KERNELS = {
    "batch_norm_forward": {"naive": batch_norm_forward_naive, "jit": batch_norm_forward_jit,
                           "numpy": batch_norm_forward_numpy},
    "batch_norm_backward": {"naive": batch_norm_backward_naive, "jit": batch_norm_backward_jit,
                            "numpy": batch_norm_backward_numpy},
}
