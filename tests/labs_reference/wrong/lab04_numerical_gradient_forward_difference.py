# The one buggy function of a wrong lab for the grader self-tests: the test appends it to
# the reference lab04_autograd.py, where it replaces the correct definition.
# Bug: a one-sided (forward) difference, (f(x + eps) - f(x)) / eps: error of order eps.
# See README.md beside this file.


def numerical_gradient(f, x, eps=1e-6):
    point = np.array(x, dtype=np.float64)
    grad = np.zeros(point.shape)
    base = float(f(point))
    for index in np.ndindex(*point.shape):
        original = point[index]
        point[index] = original + eps
        grad[index] = (float(f(point)) - base) / eps
        point[index] = original
    return grad
