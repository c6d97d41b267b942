# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab02_mlp.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def mlp_forward(x, w1, b1, w2, b2):
    n = x.shape[0]
    hidden = np.empty((n, w1.shape[0]), dtype=x.dtype)
    linear_forward(hidden, x, w1, b1)
    logits = np.empty((n, w2.shape[0]), dtype=x.dtype)
    linear_forward(logits, hidden, w2, b2)
    probs = np.empty_like(logits)
    softmax_rows(probs, logits)
    return probs
