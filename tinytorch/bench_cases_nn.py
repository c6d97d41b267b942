"""Inputs of ``tinytorch bench``'s layer ops (softmax family, losses, conv2d, pooling,
batch norm) and their PyTorch counterparts; see ``bench_cases`` for the conventions.

>>> case = _conv_in(4, np.dtype("float32"), np.random.default_rng(0))
>>> [a.shape for a in case.args[:4]], case.kwargs["pad_h"]
([(4, 16, 4, 4), (4, 8, 4, 4), (16, 8, 3, 3), (16,)], 1)
"""

from __future__ import annotations

import numpy as np

from tinytorch.bench_cases import Case, _randn, _t

# --- softmax family and losses: n rows of CLASSES ---------------------------------------

CLASSES = 100


def _softmax_in(n, dtype, rng):
    return Case((np.empty((n, CLASSES), dtype), _randn(rng, (n, CLASSES), dtype)))


def _softmax_backward_in(n, dtype, rng):
    x = _randn(rng, (n, CLASSES), dtype)
    y = np.exp(x - x.max(axis=1, keepdims=True))
    y /= y.sum(axis=1, keepdims=True)
    return Case((np.empty_like(x), _randn(rng, (n, CLASSES), dtype), y.astype(dtype)))


_CE = dict(ignore_index=-100, label_smoothing=0.0)


def _ce_in(n, dtype, rng):
    logits = _randn(rng, (n, CLASSES), dtype)
    target = rng.integers(0, CLASSES, n).astype(np.int64)
    return Case((np.empty(n, dtype), np.empty(n, np.float64), logits, target), dict(_CE), 2)


def _ce_backward_in(n, dtype, rng):
    logits = _randn(rng, (n, CLASSES), dtype)
    x = logits.astype(np.float64)
    m = x.max(axis=1)
    lse = m + np.log(np.exp(x - m[:, None]).sum(axis=1))
    target = rng.integers(0, CLASSES, n).astype(np.int64)
    g = np.full(n, 1.0 / n, dtype)
    return Case((np.empty_like(logits), g, logits, lse, target), dict(_CE))


def _torch_ce(torch, case):
    logits, target = _t(torch, case.args[2]), _t(torch, case.args[3])
    f = torch.nn.functional.cross_entropy
    return lambda: f(logits, target, reduction="none")


# --- conv2d: a batch of 4 images, 8 -> 16 channels, 3x3, padding 1 (n = image side) ------

CONV = dict(N=4, C_in=8, C_out=16, K=3)
_CONV_P = dict(stride_h=1, stride_w=1, pad_h=1, pad_w=1, dil_h=1, dil_w=1, groups=1)


def _conv_in(n, dtype, rng):
    N, ci, co, k = CONV["N"], CONV["C_in"], CONV["C_out"], CONV["K"]
    return Case((np.empty((N, co, n, n), dtype), _randn(rng, (N, ci, n, n), dtype),
                 _randn(rng, (co, ci, k, k), dtype), _randn(rng, (co,), dtype)), dict(_CONV_P))


def _conv_backward_in(n, dtype, rng):
    N, ci, co, k = CONV["N"], CONV["C_in"], CONV["C_out"], CONV["K"]
    args = (np.empty((N, ci, n, n), dtype), np.empty((co, ci, k, k), dtype),
            np.empty(co, dtype), _randn(rng, (N, co, n, n), dtype),
            _randn(rng, (N, ci, n, n), dtype), _randn(rng, (co, ci, k, k), dtype))
    return Case(args, dict(_CONV_P, need_x=True, need_w=True, need_b=True), 3)


def _conv_macs(n):
    return CONV["N"] * CONV["C_out"] * n * n * CONV["C_in"] * CONV["K"] ** 2


def _conv_bytes(n, s):
    N, ci, co, k = CONV["N"], CONV["C_in"], CONV["C_out"], CONV["K"]
    return (N * ci * n * n + co * ci * k * k + co + N * co * n * n) * s


def _torch_conv(torch, case):
    x, w, b = (_t(torch, a) for a in case.args[1:4])
    f = torch.nn.functional.conv2d
    return lambda: f(x, w, b, stride=1, padding=1)


# --- pooling: 8 images x 16 channels, n x n, 2x2 windows of stride 2 ---------------------

POOL = dict(N=8, C=16)


def _pool_shapes(n):
    return (POOL["N"], POOL["C"], n, n), (POOL["N"], POOL["C"], n // 2, n // 2)


def _max_pool_in(n, dtype, rng):
    xs, os_ = _pool_shapes(n)
    return Case((np.empty(os_, dtype), np.empty(os_, np.int64), _randn(rng, xs, dtype),
                 2, 2, 2, 2, 0, 0, 1, 1), n_out=2)


def _max_pool_backward_in(n, dtype, rng):
    xs, os_ = _pool_shapes(n)
    # the indices of a real forward pass: each window's winner, as a plane offset h*W + w
    oh, ow = np.meshgrid(np.arange(n // 2), np.arange(n // 2), indexing="ij")
    pick = rng.integers(0, 2, (2,) + os_)
    indices = ((2 * oh + pick[0]) * n + 2 * ow + pick[1]).astype(np.int64)
    return Case((np.empty(xs, dtype), _randn(rng, os_, dtype), indices))


def _avg_pool_in(n, dtype, rng):
    xs, os_ = _pool_shapes(n)
    return Case((np.empty(os_, dtype), _randn(rng, xs, dtype), 2, 2, 2, 2, 0, 0, True, 0))


def _pool_numel(n):
    return POOL["N"] * POOL["C"] * n * n


def _torch_max_pool(torch, case):
    x = _t(torch, case.args[2])
    f = torch.nn.functional.max_pool2d
    return lambda: f(x, 2, 2)


def _torch_avg_pool(torch, case):
    x = _t(torch, case.args[1])
    f = torch.nn.functional.avg_pool2d
    return lambda: f(x, 2, 2)


# --- batch norm: BatchNorm2d on 16 images x 16 channels x n x n --------------------------

BN = dict(N=16, C=16)


def _bn_in(n, dtype, rng):
    N, C = BN["N"], BN["C"]
    x = _randn(rng, (N, C, n * n), dtype)
    return Case((np.empty_like(x), np.empty(C, dtype), np.empty(C, dtype), x,
                 _randn(rng, (C,), dtype), _randn(rng, (C,), dtype), np.zeros(C, dtype),
                 np.ones(C, dtype)), dict(training=True, momentum=0.1, eps=1e-5), 3)


def _bn_backward_in(n, dtype, rng):
    N, C = BN["N"], BN["C"]
    x = _randn(rng, (N, C, n * n), dtype)
    mean = x.mean(axis=(0, 2), dtype=np.float64)
    invstd = 1 / np.sqrt(x.var(axis=(0, 2), dtype=np.float64) + 1e-5)
    return Case((np.empty_like(x), np.empty(C, dtype), np.empty(C, dtype),
                 _randn(rng, x.shape, dtype), x, _randn(rng, (C,), dtype),
                 mean.astype(dtype), invstd.astype(dtype)), dict(training=True), 3)


def _bn_numel(n):
    return BN["N"] * BN["C"] * n * n


def _torch_bn(torch, case):
    x, w, b = _t(torch, case.args[3]), _t(torch, case.args[4]), _t(torch, case.args[5])
    rm, rv = _t(torch, case.args[6].copy()), _t(torch, case.args[7].copy())
    f = torch.nn.functional.batch_norm
    return lambda: f(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5)
