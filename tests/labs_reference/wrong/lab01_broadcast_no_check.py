# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab01_tensor.py, where it replaces the correct definition.
# See README.md beside this file.


def broadcast_shape(a_shape: tuple, b_shape: tuple) -> tuple:
    n = max(len(a_shape), len(b_shape))
    a = (1,) * (n - len(a_shape)) + tuple(a_shape)
    b = (1,) * (n - len(b_shape)) + tuple(b_shape)
    result = []
    for x, y in zip(a, b, strict=True):
        result.append(max(x, y))
    return tuple(result)
