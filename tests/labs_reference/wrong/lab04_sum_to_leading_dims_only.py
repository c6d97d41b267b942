# The one buggy function of a wrong lab for the grader self-tests: the test appends it to
# the reference lab04_autograd.py, where it replaces the correct definition.
# Bug: sums the extra leading dimensions only, never the size-1 dimensions that were
# broadcast (a (3, 1) input gets a (3, 4) gradient).
# See README.md beside this file.


def sum_to(grad, shape):
    lead = grad.ndim - len(shape)
    return np.sum(grad, axis=tuple(range(lead)))
