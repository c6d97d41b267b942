# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab01_tensor.py, where it replaces the correct definition.
# See README.md beside this file.


def contiguous_strides(shape: tuple) -> tuple:
    strides, step = [], 1
    for size in shape:
        strides.append(step)
        step *= max(size, 1)
    return tuple(strides)
