# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab01_tensor.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def add_loops(out, a, b):
    """``out[i, j] = a[i, j] + b[i, j]`` for every ``i < R``, ``j < C``.

    >>> out = np.empty((1, 2))
    >>> add_loops(out, np.array([[1.0, 2.0]]), np.array([[10.0, 20.0]]))
    >>> out.tolist()
    [[11.0, 22.0]]
    """
    for i in range(out.shape[0]):
        for j in range(out.shape[1] - 1):
            out[i, j] = a[i, j] + b[i, j]
