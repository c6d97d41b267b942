# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab09_compression.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: sorts by -|w| (or takes the end of the ascending order): prunes the *largest*
# weights, the ones that matter most.


def magnitude_mask(w, amount: float) -> np.ndarray:
    if not 0 <= amount < 1:
        raise ValueError(f"magnitude_mask: amount must be in [0, 1), got {amount}")
    w = np.asarray(w)
    n = round(amount * w.size)
    keep = np.ones(w.size, bool)
    keep[np.argsort(-np.abs(w).reshape(-1), kind="stable")[:n]] = False
    return keep.reshape(w.shape)
