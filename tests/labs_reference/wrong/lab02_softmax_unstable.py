# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab02_mlp.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def softmax_rows(out, x):
    R, C = x.shape
    for i in range(R):
        s = 0.0
        for j in range(C):
            e = np.exp(x[i, j])
            out[i, j] = e
            s += e
        for j in range(C):
            out[i, j] = out[i, j] / s
