# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab05_data.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: x - m / s without parentheses: the division binds first, so every pixel gets
# x - mean / std instead of (x - mean) / std.


@profile
def normalize_forward(out, x, mean, std):
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            m = mean[c]
            s = std[c]
            for k in range(x.shape[2]):
                out[n, c, k] = x[n, c, k] - m / s
