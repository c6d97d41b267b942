# The one buggy function of a wrong lab for the grader self-tests: the test appends it to
# the reference lab04_autograd.py, where it replaces the correct definition.
# Bug: each input's gradient uses the input itself instead of the OTHER input.
# See README.md beside this file.


@profile
def mul_backward(grad_a, grad_b, g, a, b):
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            grad_a[i, j] = g[i, j] * a[i, j]
            grad_b[i, j] = g[i, j] * b[i, j]
