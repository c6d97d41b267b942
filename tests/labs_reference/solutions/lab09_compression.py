# The solutions of labs/lab09_compression.py: its TODO functions, done. The grader self-tests
# build the reference lab by inserting these before the lab's experiments, so
# the reference cannot drift from the lab students get.


def choose_qparams(x_min: float, x_max: float, symmetric: bool) -> tuple:
    """``(scale, zero_point)``, a float and an int, for int8 codes covering
    ``[x_min, x_max]`` (extended to include 0).

    >>> choose_qparams(-1.0, 2.54, symmetric=True)
    (0.02, 0)
    >>> choose_qparams(-5.1, 20.4, symmetric=False)   # -5.1 / 0.1 = -51 -> -128 + 51
    (0.1, -77)
    """
    x_min, x_max = float(x_min), float(x_max)
    if not (np.isfinite(x_min) and np.isfinite(x_max)):
        raise ValueError(f"choose_qparams: the range must be finite, got [{x_min}, {x_max}]")
    if x_min > x_max:
        raise ValueError(f"choose_qparams: x_min {x_min} is larger than x_max {x_max}")
    # 0.0 must have an exact code (padding, ReLU's floor): the range always includes it.
    x_min, x_max = min(x_min, 0.0), max(x_max, 0.0)
    if symmetric:
        return max(max(-x_min, x_max) / 127, EPS), 0
    scale = max((x_max - x_min) / (QMAX - QMIN), EPS)
    zero_point = QMIN - round(x_min / scale)
    return scale, int(min(max(zero_point, QMIN), QMAX))


def quantize(x, scale: float, zero_point: int) -> np.ndarray:
    """The int8 codes of the float array ``x`` (same shape).

    >>> quantize(np.array([0.0, 0.25, 0.75, -1.0, 100.0]), 0.5, 1).tolist()
    [1, 1, 3, -1, 127]
    """
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"quantize: scale must be positive and finite, got {scale}")
    if not QMIN <= zero_point <= QMAX:
        raise ValueError(f"quantize: zero_point must be in [{QMIN}, {QMAX}], got {zero_point}")
    v = np.rint(np.asarray(x, np.float64) / scale) + zero_point  # half to even
    return np.clip(v, QMIN, QMAX).astype(np.int8)  # saturate before the cast: no wrap


def dequantize(q, scale: float, zero_point: int) -> np.ndarray:
    """The float32 values that the int8 codes ``q`` stand for (same shape).

    >>> dequantize(np.array([1, 3, 127], np.int8), 0.5, 1).tolist()
    [0.0, 1.0, 63.0]
    """
    q = np.asarray(q)
    if q.dtype != np.int8:
        raise TypeError(f"dequantize: q must be an int8 array, got {q.dtype}")
    # q - zero_point spans [-255, 255]: widen first, int8 would wrap
    return ((q.astype(np.int32) - zero_point) * scale).astype(np.float32)


@profile
def int8_matmul(a_q, b_q, a_zp: int, b_zp: int) -> np.ndarray:
    """``sum_k (a_q[i, k] - a_zp) * (b_q[k, j] - b_zp)`` for int8 ``a_q`` (M, K) and
    ``b_q`` (K, N), as an (M, N) int32 array.

    >>> a = np.array([[1, 2, 3]], np.int8); b = np.array([[1], [1], [1]], np.int8)
    >>> int8_matmul(a, b, 1, 0).tolist()
    [[3]]
    """
    M, K = a_q.shape
    if b_q.shape[0] != K:
        raise ValueError("int8_matmul: a_q is (M, K) and b_q must be (K, N)")
    N = b_q.shape[1]
    out = np.zeros((M, N), np.int32)
    for i in range(M):
        for j in range(N):
            acc = np.int32(0)
            for k in range(K):
                acc += (np.int32(a_q[i, k]) - a_zp) * (np.int32(b_q[k, j]) - b_zp)
            out[i, j] = acc
    return out


def requantize(acc, scale_a: float, scale_b: float, scale_out: float,
               zp_out: int) -> np.ndarray:
    """int8 codes (scale ``scale_out``, zero point ``zp_out``) of the int32 accumulators
    ``acc`` (scale ``scale_a * scale_b``), same shape.

    >>> requantize(np.array([10, 300, -7], np.int32), 0.5, 0.5, 1.0, 0).tolist()
    [2, 75, -2]
    """
    m = scale_a * scale_b / scale_out
    v = np.rint(np.asarray(acc, np.float64) * m) + zp_out
    return np.clip(v, QMIN, QMAX).astype(np.int8)


def magnitude_mask(w, amount: float) -> np.ndarray:
    """A bool array of ``w``'s shape: False at the ``round(amount * w.size)`` entries of
    smallest ``|w|`` (ties: lower index first), True elsewhere.

    >>> magnitude_mask(np.array([[0.5, -0.1], [2.0, 0.1]]), 0.5).tolist()
    [[True, False], [True, False]]
    """
    if not 0 <= amount < 1:
        raise ValueError(f"magnitude_mask: amount must be in [0, 1), got {amount}")
    w = np.asarray(w)
    n = round(amount * w.size)
    keep = np.ones(w.size, bool)
    keep[np.argsort(np.abs(w).reshape(-1), kind="stable")[:n]] = False
    return keep.reshape(w.shape)


@profile
def to_csr(w) -> tuple:
    """``(indptr, indices, data)`` of the 2-D array ``w``.

    >>> indptr, indices, data = to_csr(np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0],
    ...                                          [1.0, 0.0, 3.0]]))
    >>> indptr.tolist(), indices.tolist(), data.tolist()
    ([0, 1, 1, 3], [1, 0, 2], [2.0, 1.0, 3.0])
    """
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
        indptr[j + 1] = len(data)  # where row j + 1 starts
    return indptr, np.array(indices, np.int32), np.array(data, w.dtype)


@profile
def csr_matmul(x, indptr, indices, data, n_out: int) -> np.ndarray:
    """``x @ W.T`` for ``x`` (M, K) and ``W`` (n_out, K) given in CSR form.

    >>> indptr, indices = np.array([0, 1, 1, 3]), np.array([1, 0, 2], np.int32)
    >>> csr_matmul(np.array([[1.0, 1.0, 1.0]]), indptr, indices,
    ...            np.array([2.0, 1.0, 3.0]), 3).tolist()
    [[2.0, 0.0, 4.0]]
    """
    if indptr.shape[0] != n_out + 1:
        raise ValueError("csr_matmul: indptr must have n_out + 1 entries")
    M = x.shape[0]
    out = np.zeros((M, n_out), x.dtype)
    for i in range(M):
        for j in range(n_out):
            acc = out[i, j]
            for p in range(indptr[j], indptr[j + 1]):
                acc += data[p] * x[i, indices[p]]
            out[i, j] = acc
    return out


def channel_l1_norms(conv_weight) -> np.ndarray:
    """The L1 norm of each output channel (axis 0) of ``conv_weight``.

    >>> channel_l1_norms(np.array([[[[1.0, -2.0]]], [[[0.5, 0.0]]]])).tolist()
    [3.0, 0.5]
    """
    w = np.asarray(conv_weight)
    return np.abs(w).reshape(w.shape[0], -1).sum(axis=1)
