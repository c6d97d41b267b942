# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab03_cnn.py, where it replaces the correct definition.
# See README.md beside this file.


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    return (size + 2 * padding - kernel) // stride + 1
