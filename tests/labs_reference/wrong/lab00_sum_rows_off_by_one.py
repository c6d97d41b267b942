# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab00_setup.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def sum_rows(out, x):
    for i in range(x.shape[0]):
        acc = 0.0
        for j in range(x.shape[1] - 1):
            acc += x[i, j]
        out[i] = acc
