# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab08_profiling.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: a multiply-add counted as one FLOP (the factor 2 forgotten).


def op_flops(op: str, shapes) -> int:
    if op == "matmul_forward":
        (batch, m, n), k = shapes[0], shapes[1][2]
        return batch * m * n * k
    if op == "linear_forward":
        (m, n), k = shapes[0], shapes[1][1]
        return m * n * k + m * n
    if op == "conv2d_forward":
        n_img, c_out, oh, ow = shapes[0]
        _, c_g, kh, kw = shapes[2]
        return n_img * c_out * oh * ow * (c_g * kh * kw + 1)
    raise ValueError(f"op_flops: no formula for {op!r}")
