# The solutions of labs/lab02_mlp.py: its TODO functions, done. The grader self-tests
# build the reference lab by inserting these before the lab's experiments, so
# the reference cannot drift from the lab students get.


@profile
def matmul_ijk(out, a, b):
    """``out[bi] = a[bi] @ b[bi]`` for each batch ``bi``; loops bi, i, j, then k innermost.

    >>> out = np.empty((1, 1, 1))
    >>> matmul_ijk(out, np.ones((1, 1, 2)), np.full((1, 2, 1), 3.0))
    >>> out.tolist()
    [[[6.0]]]
    """
    B, M, N = out.shape
    K = a.shape[2]
    for bi in range(B):
        for i in range(M):
            for j in range(N):
                acc = 0.0  # a fresh sum for every output: K = 0 leaves it at 0
                for k in range(K):
                    acc += a[bi, i, k] * b[bi, k, j]  # b walks down a column: stride N
                out[bi, i, j] = acc


@profile
def matmul_ikj(out, a, b):
    """``out[bi] = a[bi] @ b[bi]``, loops bi, i, k, then j innermost (same result as ijk).

    >>> out = np.empty((1, 1, 2))
    >>> matmul_ikj(out, np.ones((1, 1, 2)), np.arange(4.0).reshape(1, 2, 2))
    >>> out.tolist()
    [[[2.0, 4.0]]]
    """
    B, M, N = out.shape
    K = a.shape[2]
    for bi in range(B):
        for i in range(M):
            for j in range(N):  # out is the accumulator now, and it arrives as garbage
                out[bi, i, j] = 0.0
            for k in range(K):
                aik = a[bi, i, k]  # loaded once, used N times
                for j in range(N):  # unit stride along rows of b and out
                    out[bi, i, j] += aik * b[bi, k, j]


@profile
def linear_forward(out, x, w, b):
    """``out[i, j] = b[j] + sum_k x[i, k] * w[j, k]``; ``x`` (M, K), ``w`` (N, K), ``b`` (N,),
    ``out`` (M, N).

    >>> out = np.empty((1, 2))
    >>> linear_forward(out, np.array([[1.0, 2.0]]), np.array([[1.0, 0.0], [1.0, 1.0]]),
    ...                np.array([0.5, -1.0]))
    >>> out.tolist()
    [[1.5, 2.0]]
    """
    M, K = x.shape
    N = w.shape[0]
    for i in range(M):
        for j in range(N):
            acc = 0.0
            for k in range(K):  # a dot product of two contiguous rows: x[i, :] and w[j, :]
                acc += x[i, k] * w[j, k]
            out[i, j] = acc + b[j]  # the bias: one add per output, no second pass


@profile
def relu_forward(out, x):
    """``out[i, j] = max(x[i, j], 0)`` for every element of the 2-D arrays.

    >>> out = np.empty((1, 3))
    >>> relu_forward(out, np.array([[-1.0, 0.0, 2.0]]))
    >>> out.tolist()
    [[0.0, 0.0, 2.0]]
    """
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            v = x[i, j]  # read before the write, so out may be x itself (in place)
            out[i, j] = v if v > 0 else 0.0


@profile
def softmax_rows(out, x):
    """The softmax of each row of ``x`` (R, C) into ``out`` (R, C); each out row sums to 1.

    >>> out = np.empty((2, 2))
    >>> softmax_rows(out, np.array([[0.0, 0.0], [1000.0, 1000.0]]))
    >>> out.tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """
    R, C = x.shape
    for i in range(R):
        m = x[i, 0]
        for j in range(1, C):
            if x[i, j] > m:
                m = x[i, j]
        s = 0.0  # a fresh sum for every row
        for j in range(C):
            e = np.exp(x[i, j] - m)  # in (0, 1]: the max was subtracted
            out[i, j] = e
            s += e
        for j in range(C):
            out[i, j] = out[i, j] / s


@profile
def mlp_forward(x, w1, b1, w2, b2):
    """Class probabilities ``(N, C)`` of the MLP ``Linear -> ReLU -> Linear -> softmax``.

    >>> x = np.array([[1.0, -1.0]])
    >>> w1, b1 = np.eye(2), np.zeros(2)
    >>> w2, b2 = np.array([[1.0, 1.0], [0.0, 0.0]]), np.zeros(2)
    >>> mlp_forward(x, w1, b1, w2, b2).round(4).tolist()  # hidden [1, 0], logits [1, 0]
    [[0.7311, 0.2689]]
    """
    n = x.shape[0]
    hidden = np.empty((n, w1.shape[0]), dtype=x.dtype)
    linear_forward(hidden, x, w1, b1)
    relu_forward(hidden, hidden)  # in place: no second hidden-sized buffer
    logits = np.empty((n, w2.shape[0]), dtype=x.dtype)
    linear_forward(logits, hidden, w2, b2)
    probs = np.empty_like(logits)
    softmax_rows(probs, logits)
    return probs
