# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab09_compression.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: a threshold instead of a count: keeps |w| > the n-th smallest magnitude. Every tie at
# the threshold goes too (more than n pruned), and n = 0 reads sorted[-1], the largest, so
# amount 0 prunes everything.


def magnitude_mask(w, amount: float) -> np.ndarray:
    if not 0 <= amount < 1:
        raise ValueError(f"magnitude_mask: amount must be in [0, 1), got {amount}")
    w = np.asarray(w)
    n = round(amount * w.size)
    threshold = np.sort(np.abs(w).reshape(-1))[n - 1]
    return np.abs(w) > threshold
