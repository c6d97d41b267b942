# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab05_data.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: the shuffled order is drawn with rng.choice(n, n), whose default is
# replace=True: some samples come twice in an epoch and about a third never come.


def batch_indices(n: int, batch_size: int, drop_last: bool = False, rng=None) -> list:
    order = np.arange(n) if rng is None else rng.choice(n, n)
    stop = n - n % batch_size if drop_last else n
    return [order[start:start + batch_size] for start in range(0, stop, batch_size)]
