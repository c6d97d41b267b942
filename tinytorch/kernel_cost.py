"""How much work a kernel call does: FLOPs and bytes from its operands' shapes, one formula
per kernel family. The op profiler (``tt.profile``) divides them by the measured time to get
GFLOP/s and GB/s, the two axes of module 11's roofline.

>>> import numpy as np
>>> kernel_cost("add_forward", [(4,), (4,), (4,)], [np.dtype("float32")] * 3)
(4, 48)
"""

from __future__ import annotations

import math

__all__ = ["FLOPS_PER_ELEMENT", "SHAPE_FORMULAS", "kernel_cost"]

# FLOPs per element for the kernels that walk their operands once (elementwise, reduce,
# activation, loss, optim, pool, norm, transforms): a small constant per op, times the
# element count of the largest array argument. That is the output for elementwise ops, but
# the *input* for a reduction (``sum`` of ``(R, C)`` adds R*C numbers into R outputs) and
# the input plane for pooling (a window slides over every input once when stride = kernel):
# the count of elements the kernel actually works through. Transcendentals (exp, log, erf,
# tanh) count as one FLOP, as most profilers count them; copies count zero.
FLOPS_PER_ELEMENT: dict[str, int] = {
    # elementwise forward
    "add_forward": 1, "sub_forward": 1, "mul_forward": 1, "div_forward": 1, "neg_forward": 1,
    "abs_forward": 1, "pow_forward": 1, "exp_forward": 1, "log_forward": 1, "sqrt_forward": 1,
    "relu_forward": 1, "sigmoid_forward": 3, "tanh_forward": 1, "clamp_forward": 2,
    "where_forward": 1, "copy_forward": 0, "eq_forward": 1, "ne_forward": 1, "lt_forward": 1,
    "le_forward": 1, "gt_forward": 1, "ge_forward": 1,
    # elementwise backward (both gradients of a binary op)
    "mul_backward": 2, "div_backward": 4, "pow_backward": 6, "exp_backward": 1,
    "log_backward": 1, "sqrt_backward": 2, "relu_backward": 1, "abs_backward": 1,
    "sigmoid_backward": 3, "tanh_backward": 3, "clamp_backward": 2,
    # reductions (comparisons count as FLOPs)
    "sum_forward": 1, "mean_forward": 1, "max_forward": 1, "min_forward": 1,
    "max_backward": 1, "min_backward": 1, "amax_backward": 2, "amin_backward": 2,
    # activations (kernels/activation.py: GELU 20-30 FLOPs with its erf or tanh)
    "gelu_forward": 20, "gelu_backward": 30, "leaky_relu_forward": 1,
    "leaky_relu_backward": 2, "softmax_forward": 5, "softmax_backward": 4,
    "log_softmax_forward": 5, "log_softmax_backward": 3,
    # losses (kernels/loss.py: cross-entropy about 3 NC plus NC exponentials)
    "cross_entropy_forward": 4, "cross_entropy_backward": 4, "nll_forward": 1,
    "nll_backward": 1, "mse_forward": 2, "mse_backward": 3, "bce_with_logits_forward": 8,
    "bce_with_logits_backward": 6,
    # optimisers, per parameter element (kernels/optim.py: SGD at most 7, Adam about 15)
    "sgd_step": 7, "adam_step": 15,
    # pooling and normalisation (kernels/pool.py, kernels/norm.py)
    "max_pool2d_forward": 1, "max_pool2d_backward": 1, "avg_pool2d_forward": 1,
    "avg_pool2d_backward": 1, "adaptive_avg_pool2d_forward": 1,
    "adaptive_avg_pool2d_backward": 1, "batch_norm_forward": 6, "batch_norm_backward": 9,
    # data transforms (kernels/transforms.py)
    "to_dtype_forward": 1, "normalize_forward": 2, "crop_forward": 0, "hflip_forward": 0,
    # int8 quantisation, per element (kernels/quant.py): scale, round, shift, clamp
    "quantize_forward": 4, "dequantize_forward": 2, "requantize_forward": 4,
    "requantize_fixed_forward": 4, "qim2row_forward": 0,
}


# kernels whose cost comes from their shapes (the branches of kernel_cost below)
SHAPE_FORMULAS = frozenset({
    "matmul_forward", "linear_forward", "linear_backward", "linear_act_forward",
    "linear_act_backward", "qgemm_forward", "csr_matmul_forward", "csr_linear_forward",
    "conv2d_forward", "conv2d_backward", "max_pool2d_backward"})


def _numel(shape) -> int:
    return math.prod(shape) if shape is not None else 0


def kernel_cost(op: str, shapes, dtypes) -> tuple[int, int]:
    """``(flops, bytes)`` of one call of kernel ``op`` on arrays of ``shapes`` and
    ``dtypes`` (in argument order, outputs first; ``None`` for an argument that is not an
    array). Bytes: the sum of the arrays' ``nbytes``, each read or written once (a lower
    bound; a broadcast operand counts at its broadcast size). FLOPs: a multiply-add counts
    two; matmul, linear (and the fused linear + activation), conv2d, the int8 GEMM (integer
    operations, counted the same way) and the CSR products (two per stored weight and row)
    from their shapes, the rest ``FLOPS_PER_ELEMENT[op]`` (1 for an op it lacks) times the
    largest array's element count.

    >>> import numpy as np
    >>> f32 = np.dtype("float32")
    >>> kernel_cost("matmul_forward", [(1, 32, 10), (1, 32, 128), (1, 128, 10)], [f32] * 3)
    (81920, 22784)
    >>> kernel_cost("linear_forward", [(32, 128), (32, 64), (128, 64), (128,)], [f32] * 4)[0]
    528384
    """
    nbytes = sum(_numel(s) * d.itemsize for s, d in zip(shapes, dtypes, strict=True)
                 if s is not None and d is not None)
    if op == "matmul_forward":  # out (B, M, N), a (B, M, K)
        (batch, m, n), k = shapes[0], shapes[1][2]
        return 2 * batch * m * n * k, nbytes
    if op == "linear_forward":  # out (M, N), x (M, K): products plus the bias add
        (m, n), k = shapes[0], shapes[1][1]
        return 2 * m * n * k + m * n, nbytes
    if op == "linear_backward":  # grad_x (M, K) or (0, 0), grad_w (N, K), grad_b, g (M, N)
        (m, n), k = shapes[3], shapes[1][1]
        products = 2 * m * n * k * (2 if _numel(shapes[0]) else 1)  # grad_w, then grad_x
        return products + m * n, nbytes
    if op == "linear_act_forward":  # out (M, N), pre, x (M, K): + bias + the activation
        (m, n), k = shapes[0], shapes[2][1]
        return 2 * m * n * k + 2 * m * n, nbytes
    if op == "linear_act_backward":  # grad_x (M, K) or (0, 0), grad_w, grad_b, g (M, N)
        (m, n), k = shapes[3], shapes[1][1]
        products = 2 * m * n * k * (2 if _numel(shapes[0]) else 1)
        return products + 2 * m * n, nbytes  # + the activation's derivative, grad_b
    if op == "qgemm_forward":  # out (M, N) int32, a (M, K) int8: integer multiply-adds
        (m, n), k = shapes[0], shapes[1][1]
        return 2 * m * n * k, nbytes
    if op in ("csr_matmul_forward", "csr_linear_forward"):  # out (M, N), x, indptr, indices
        (m, n), nnz = shapes[0], _numel(shapes[4])  # data (nnz,): one multiply-add each
        return 2 * m * nnz + (m * n if op == "csr_linear_forward" else 0), nbytes
    if op == "max_pool2d_backward":  # grad_x, g, indices: one add per gradient element (the
        return _numel(shapes[1]), nbytes  # zeroing of grad_x is a store, not arithmetic)
    if op == "conv2d_forward":  # out (N, C_out, OH, OW), w (C_out, C_g, KH, KW)
        per_output = 2 * _numel(shapes[2][1:])
        return _numel(shapes[0]) * (per_output + 1), nbytes  # + 1: the bias
    if op == "conv2d_backward":  # unneeded gradients arrive as empty placeholders
        outputs, per_output = _numel(shapes[3]), 2 * _numel(shapes[5][1:])
        flops = sum(outputs * per_output for s in shapes[:2] if _numel(s))
        return flops + (outputs if _numel(shapes[2]) else 0), nbytes
    elements = max((_numel(s) for s in shapes if s is not None), default=0)
    return FLOPS_PER_ELEMENT.get(op, 1) * elements, nbytes
