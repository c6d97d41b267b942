"""What ``tinytorch bench`` times: one ``BenchOp`` per kernel, for every op family.

A spec says how to build a kernel call at size ``n`` (its positional arrays and keyword
scalars, outputs first as every kernel takes them), what ``n`` means, the call's cost in
FLOPs and in *compulsory* bytes (each input read once, each output written once: the
traffic no kernel can avoid, which is what a roofline's x axis needs), the length of the
longest sum it contains (the oracle tolerance grows with it), and PyTorch's counterpart
where one exists. Sizes are chosen so that the ``quick`` size runs the naive loops in well
under a second.

>>> import numpy as np
>>> spec = BENCH_OPS["conv2d"]
>>> spec.family, spec.kernel, spec.quick
('conv', 'conv2d_forward', 8)
>>> case = spec.make(8, np.dtype("float32"), np.random.default_rng(0))
>>> [a.shape for a in case.args[:2]], case.n_out
([(4, 16, 8, 8), (4, 8, 8, 8)], 1)
>>> spec.flops(8) == 2 * 4 * 16 * 8 * 8 * 8 * 9
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tinytorch.bench_cases import (
    Case,
    _adam_in,
    _backward_rows,
    _linear_backward_in,
    _linear_in,
    _matmul_in,
    _max_in,
    _normalize_in,
    _reduce_in,
    _rows,
    _sgd_in,
    _torch_adam,
    _torch_aten,
    _torch_call,
    _torch_linear,
    _torch_linear_backward,
    _torch_matmul,
    _torch_max,
    _torch_normalize,
    _torch_out,
    _torch_reduce,
    _torch_sgd,
)
from tinytorch.bench_cases_nn import (
    BN,
    CLASSES,
    CONV,
    _avg_pool_in,
    _bn_backward_in,
    _bn_in,
    _bn_numel,
    _ce_backward_in,
    _ce_in,
    _conv_backward_in,
    _conv_bytes,
    _conv_in,
    _conv_macs,
    _max_pool_backward_in,
    _max_pool_in,
    _pool_numel,
    _softmax_backward_in,
    _softmax_in,
    _torch_avg_pool,
    _torch_bn,
    _torch_ce,
    _torch_conv,
    _torch_max_pool,
)

__all__ = ["BenchOp", "Case", "BENCH_OPS", "FAMILIES"]


@dataclass(frozen=True)
class BenchOp:
    """How to benchmark one kernel at size ``n``: inputs, cost, oracle tolerance, torch."""

    kernel: str  # the dispatcher's op name, e.g. "conv2d_forward"
    family: str  # the kernels/ family file
    size_meaning: str  # what n means, printed under the table
    make: Callable  # (n, dtype, rng) -> Case
    flops: Callable  # n -> floating point operations per call (exp, sqrt, compare: 1 each)
    bytes: Callable  # (n, itemsize) -> compulsory bytes moved per call
    sizes: tuple  # default sizes for `tinytorch bench OP`
    quick: int  # the one size of `tinytorch bench all`
    naive_max: int  # largest size at which naive is timed by default
    sum_len: Callable = lambda n: 1  # longest accumulation: scales the oracle tolerance
    # (torch, Case) -> callable; the callable returns the tensor to compare with the
    # kernel's first output, or None when there is nothing comparable (optimisers)
    torch: Callable | None = None


def _elementwise(name, arity, flops_per, torch=None):
    return BenchOp(f"{name}_forward", "elementwise", "elements (a (1, n) row)",
                   _rows(arity), lambda n: flops_per * n, lambda n, s: (arity + 1) * n * s,
                   (10_000, 1_000_000), 100_000, 100_000,
                   torch=torch or _torch_out(name, arity))


_IMG = CONV["N"] * CONV["C_out"]
_ROWS = (1_000, 100_000)
_VEC = (10_000, 1_000_000)

BENCH_OPS: dict[str, BenchOp] = {
    "matmul": BenchOp("matmul_forward", "matmul", "n (n x n @ n x n)", _matmul_in,
                      lambda n: 2 * n ** 3, lambda n, s: 3 * n * n * s,
                      (64, 128, 256, 512, 1024), 64, 128, lambda n: n, _torch_matmul),
    "linear": BenchOp("linear_forward", "linear", "n (x (n, n) @ w (n, n).T + b (n,))",
                      _linear_in, lambda n: 2 * n ** 3 + n * n,
                      lambda n, s: (3 * n * n + n) * s, (32, 128, 512), 32, 128,
                      lambda n: n, _torch_linear),
    "linear_backward": BenchOp("linear_backward", "linear", "n (g, x, w all (n, n))",
                               _linear_backward_in, lambda n: 4 * n ** 3 + n * n,
                               lambda n, s: (6 * n * n + n) * s, (32, 128, 512), 32, 64,
                               lambda n: n, _torch_linear_backward),
    "conv2d": BenchOp("conv2d_forward", "conv", "image side (4 x 8 x n x n, 16 filters 3x3, "
                      "pad 1)", _conv_in, lambda n: 2 * _conv_macs(n), _conv_bytes,
                      (8, 16, 32, 64), 8, 8, lambda n: CONV["C_in"] * 9, _torch_conv),
    "conv2d_backward": BenchOp("conv2d_backward", "conv", "image side (as conv2d; grad_x, "
                               "grad_w, grad_b)", _conv_backward_in,
                               lambda n: 4 * _conv_macs(n) + _IMG * n * n,
                               lambda n, s: 2 * _conv_bytes(n, s), (8, 16, 32), 8, 8,
                               lambda n: CONV["N"] * n * n, None),
    "max_pool2d": BenchOp("max_pool2d_forward", "pool", "image side (8 x 16 x n x n, 2x2 "
                          "stride 2)", _max_pool_in, lambda n: _pool_numel(n),
                          lambda n, s: _pool_numel(n) * s + _pool_numel(n) // 4 * (s + 8),
                          (16, 64, 256), 16, 16, torch=_torch_max_pool),
    "max_pool2d_backward": BenchOp("max_pool2d_backward", "pool", "image side (as "
                                   "max_pool2d)", _max_pool_backward_in,
                                   lambda n: _pool_numel(n) // 4,
                                   lambda n, s: _pool_numel(n) * s
                                   + _pool_numel(n) // 4 * (s + 8),
                                   (16, 64, 256), 16, 16),
    "avg_pool2d": BenchOp("avg_pool2d_forward", "pool", "image side (8 x 16 x n x n, 2x2 "
                          "stride 2)", _avg_pool_in, lambda n: _pool_numel(n) * 5 // 4,
                          lambda n, s: _pool_numel(n) * s * 5 // 4, (16, 64, 256), 16, 16,
                          lambda n: 4, _torch_avg_pool),
    "batch_norm": BenchOp("batch_norm_forward", "norm", "image side (16 x 16 x n x n, "
                          "training)", _bn_in, lambda n: 6 * _bn_numel(n),
                          lambda n, s: 2 * _bn_numel(n) * s, (8, 32, 128), 8, 8,
                          lambda n: BN["N"] * n * n, _torch_bn),
    "batch_norm_backward": BenchOp("batch_norm_backward", "norm", "image side (as "
                                   "batch_norm)", _bn_backward_in, lambda n: 9 * _bn_numel(n),
                                   lambda n, s: 3 * _bn_numel(n) * s, (8, 32, 128), 8, 8,
                                   lambda n: BN["N"] * n * n),
    # torch.relu has no out= form: it allocates, as a model's call does
    "relu": _elementwise("relu", 1, 1, _torch_call(lambda torch: torch.relu, 1)),
    "relu_backward": BenchOp("relu_backward", "elementwise", "elements (a (1, n) row)",
                             _backward_rows(), lambda n: n, lambda n, s: 3 * n * s, _VEC,
                             100_000, 100_000,
                             torch=_torch_aten("threshold_backward", 2, threshold=0.0)),
    "gelu": BenchOp("gelu_forward", "activation", "elements (a (1, n) row)",
                    _rows(1, approximate=0), lambda n: 20 * n, lambda n, s: 2 * n * s, _VEC,
                    100_000, 100_000,
                    torch=_torch_call(lambda torch: torch.nn.functional.gelu, 1)),
    "gelu_backward": BenchOp("gelu_backward", "activation", "elements (a (1, n) row)",
                             _backward_rows(approximate=0), lambda n: 30 * n,
                             lambda n, s: 3 * n * s, _VEC, 100_000, 100_000,
                             torch=_torch_aten("gelu_backward", 2)),
    "softmax": BenchOp("softmax_forward", "activation", f"rows (n x {CLASSES} classes)",
                       _softmax_in, lambda n: 5 * n * CLASSES,
                       lambda n, s: 2 * n * CLASSES * s, _ROWS, 1_000, 1_000,
                       lambda n: CLASSES,
                       _torch_call(lambda torch: lambda x: torch.softmax(x, 1), 1)),
    "softmax_backward": BenchOp("softmax_backward", "activation",
                                f"rows (n x {CLASSES} classes)", _softmax_backward_in,
                                lambda n: 4 * n * CLASSES, lambda n, s: 3 * n * CLASSES * s,
                                _ROWS, 1_000, 1_000, lambda n: CLASSES),
    "log_softmax": BenchOp("log_softmax_forward", "activation",
                           f"rows (n x {CLASSES} classes)", _softmax_in,
                           lambda n: 5 * n * CLASSES, lambda n, s: 2 * n * CLASSES * s,
                           _ROWS, 1_000, 1_000, lambda n: CLASSES,
                           _torch_call(lambda torch: lambda x: torch.log_softmax(x, 1), 1)),
    "cross_entropy": BenchOp("cross_entropy_forward", "loss", f"rows (n x {CLASSES} "
                             "classes, int64 targets)", _ce_in, lambda n: 4 * n * CLASSES,
                             lambda n, s: n * CLASSES * s + n * (8 + s + 8), _ROWS, 1_000,
                             1_000, lambda n: CLASSES, _torch_ce),
    "cross_entropy_backward": BenchOp("cross_entropy_backward", "loss", f"rows (n x "
                                      f"{CLASSES} classes)", _ce_backward_in,
                                      lambda n: 4 * n * CLASSES,
                                      lambda n, s: 2 * n * CLASSES * s + n * (s + 16),
                                      _ROWS, 1_000, 1_000),
    "sum": BenchOp("sum_forward", "reduce", "elements (a (1, n) row into float64)",
                   _reduce_in, lambda n: n, lambda n, s: n * s, _VEC, 100_000, 100_000,
                   lambda n: n, _torch_reduce("sum")),
    "mean": BenchOp("mean_forward", "reduce", "elements (a (1, n) row into float64)",
                    _reduce_in, lambda n: n + 1, lambda n, s: n * s, _VEC, 100_000, 100_000,
                    lambda n: n, _torch_reduce("mean")),
    "max": BenchOp("max_forward", "reduce", "elements (a (1, n) row: value and index)",
                   _max_in, lambda n: n, lambda n, s: n * s, _VEC, 100_000, 100_000,
                   torch=_torch_max),
    "add": _elementwise("add", 2, 1),
    "mul": _elementwise("mul", 2, 1),
    "exp": _elementwise("exp", 1, 1),
    "sgd_step": BenchOp("sgd_step", "optim", "parameters (momentum 0.9, weight decay)",
                        _sgd_in, lambda n: 7 * n, lambda n, s: 5 * n * s, _VEC, 100_000,
                        100_000, torch=_torch_sgd),
    "adam_step": BenchOp("adam_step", "optim", "parameters (Adam, step 10)", _adam_in,
                         lambda n: 15 * n, lambda n, s: 7 * n * s, _VEC, 100_000, 100_000,
                         torch=_torch_adam),
    "normalize": BenchOp("normalize_forward", "transforms", "images (n x 3 x 32 x 32)",
                         _normalize_in, lambda n: 2 * n * 3072, lambda n, s: 2 * n * 3072 * s,
                         (32, 512), 8, 8, torch=_torch_normalize),
}

FAMILIES: dict[str, list[str]] = {}
for _name, _spec in BENCH_OPS.items():
    FAMILIES.setdefault(_spec.family, []).append(_name)
del _name, _spec
