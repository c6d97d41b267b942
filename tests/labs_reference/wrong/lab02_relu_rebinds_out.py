# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab02_mlp.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def relu_forward(out, x):
    out = np.maximum(x, 0.0)
    return out
