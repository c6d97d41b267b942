# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab09_compression.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: stores the running count at indptr[j] instead of indptr[j + 1], so indptr is
# shifted by one row: [nnz_0, nnz_0 + nnz_1, ..., nnz, 0] instead of [0, nnz_0, ..., nnz].


@profile
def to_csr(w) -> tuple:
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"to_csr: expected a 2-D array, got shape {w.shape}")
    indptr = np.zeros(w.shape[0] + 1, np.int64)
    indices, data = [], []
    for j in range(w.shape[0]):
        for k in range(w.shape[1]):
            if w[j, k] != 0:
                indices.append(k)
                data.append(w[j, k])
        indptr[j] = len(data)
    return indptr, np.array(indices, np.int32), np.array(data, w.dtype)
