# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab01_tensor.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def add_loops(out, a, b):
    for i in range(out.shape[0]):
        for j in range(out.shape[1] - 1):
            out[i, j] = a[i, j] + b[i, j]
