# The one buggy function of a wrong lab for the grader self-tests: the test appends it to
# the reference lab04_autograd.py, where it replaces the correct definition.
# Bug: treats the saved OUTPUT y as the input x and applies tanh to it again.
# See README.md beside this file.


@profile
def tanh_backward(grad_x, g, y):
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            t = np.tanh(y[i, j])
            grad_x[i, j] = g[i, j] * (1 - t * t)
