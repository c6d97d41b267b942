# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab00_setup.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def sum_rows(out, x):
    """Write the sum of each row of the 2-D array ``x`` into the 1-D array ``out``.

    >>> out = np.empty(2)
    >>> sum_rows(out, np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> out.tolist()
    [3.0, 7.0]
    """
    for i in range(x.shape[0]):
        acc = 0.0
        for j in range(x.shape[1] - 1):
            acc += x[i, j]
        out[i] = acc
