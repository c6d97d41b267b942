# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab01_tensor.py, where it replaces the correct definition.
# See README.md beside this file.


def transpose_view(shape: tuple, strides: tuple, d0: int, d1: int) -> tuple:
    n = len(shape)
    d0, d1 = d0 % n, d1 % n
    new_shape, new_strides = list(shape), list(strides)
    new_shape[d0], new_shape[d1] = shape[d1], shape[d0]
    return tuple(new_shape), tuple(new_strides)
