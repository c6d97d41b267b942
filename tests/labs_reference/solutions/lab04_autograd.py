# The solutions of labs/lab04_autograd.py: its TODO functions, done. The grader self-tests
# build the reference lab by inserting these before the lab's experiments, so
# the reference cannot drift from the lab students get.


@profile
def relu_backward(grad_x, g, x):
    """``grad_x[i, j] = g[i, j]`` where ``x[i, j] > 0``, else ``0``; all arrays ``(R, C)``.

    >>> gx = np.empty((1, 3))
    >>> relu_backward(gx, np.array([[5.0, 6.0, 7.0]]), np.array([[-1.0, 0.0, 2.0]]))
    >>> gx.tolist()
    [[0.0, 0.0, 7.0]]
    """
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            grad_x[i, j] = g[i, j] if x[i, j] > 0 else 0.0


@profile
def mul_backward(grad_a, grad_b, g, a, b):
    """``grad_a = g * b`` and ``grad_b = g * a``, elementwise; all arrays ``(R, C)``.

    >>> ga, gb = np.empty((1, 2)), np.empty((1, 2))
    >>> mul_backward(ga, gb, np.ones((1, 2)), np.array([[2.0, 3.0]]), np.array([[5.0, 7.0]]))
    >>> ga.tolist(), gb.tolist()
    ([[5.0, 7.0]], [[2.0, 3.0]])
    """
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            grad_a[i, j] = g[i, j] * b[i, j]
            grad_b[i, j] = g[i, j] * a[i, j]


@profile
def tanh_backward(grad_x, g, y):
    """``grad_x = g * (1 - y**2)`` where ``y = tanh(x)`` is the saved forward output; all
    arrays ``(R, C)``.

    >>> gx = np.empty((1, 2))
    >>> tanh_backward(gx, np.array([[2.0, 2.0]]), np.array([[0.0, 0.5]]))
    >>> gx.tolist()
    [[2.0, 1.5]]
    """
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            t = y[i, j]
            grad_x[i, j] = g[i, j] * (1 - t * t)


def sum_to(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Reduce ``grad`` (of a shape that ``shape`` broadcasts to) back to ``shape``.

    >>> sum_to(np.ones((2, 3, 4)), (3, 1)).tolist()
    [[8.0], [8.0], [8.0]]
    >>> sum_to(np.ones((2, 3)), ()).item()
    6.0
    """
    shape = tuple(shape)
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + d for d, size in enumerate(shape)
                                      if size == 1 and grad.shape[lead + d] != 1)
    if axes:
        grad = np.sum(grad, axis=axes, keepdims=True)
    return np.reshape(grad, shape)


def topological_order(root) -> list:
    """Every node reachable from ``root`` through ``next_functions``, each once, ``root``
    first, each node before the nodes it passes gradient to.

    >>> x = tt.tensor([1.0, 2.0], requires_grad=True)
    >>> [describe(n) for n in topological_order((x.exp() * 2).sum().grad_fn)]
    ['SumBackward', 'BinaryBackward(mul)', 'UnaryBackward(exp)', 'AccumulateGrad']
    """
    # One walk counts the edges into each node; then Kahn's algorithm emits a node once
    # every node that feeds it has been emitted. A list as the stack: no recursion.
    incoming = {root: 0}
    stack = [root]
    while stack:
        node = stack.pop()
        for nxt in node.next_functions:
            if nxt is None:
                continue
            if nxt not in incoming:
                incoming[nxt] = 0
                stack.append(nxt)
            incoming[nxt] += 1
    order, ready = [], [root]
    while ready:
        node = ready.pop()
        order.append(node)
        for nxt in node.next_functions:
            if nxt is None:
                continue
            incoming[nxt] -= 1
            if incoming[nxt] == 0:
                ready.append(nxt)
    return order


def numerical_gradient(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """The gradient of the scalar function ``f`` at ``x`` by central differences.

    ``f`` takes a float64 array of ``x``'s shape and returns a number. The result is a
    float64 array of ``x``'s shape; ``x`` itself is left unchanged.

    >>> numerical_gradient(lambda a: float(np.sum(a ** 2)), np.array([1.0, -2.0])).round(6)
    array([ 2., -4.])
    """
    point = np.array(x, dtype=np.float64)  # a copy: the caller's x is never touched
    grad = np.zeros(point.shape)
    for index in np.ndindex(*point.shape):
        original = point[index]
        point[index] = original + eps
        plus = float(f(point))
        point[index] = original - eps
        minus = float(f(point))
        point[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def saved_bytes(nodes) -> int:
    """Bytes saved for backward by ``nodes``, each storage counted once.

    >>> x = tt.ones(3, dtype=tt.float64, requires_grad=True)
    >>> saved_bytes(topological_order((x * x).sum().grad_fn))  # x, saved twice: 3 * 8 B
    24
    """
    counted = []
    for node in nodes:
        for t in saved_tensors_of(node):
            if not any(t.shares_storage(c) for c in counted):
                counted.append(t)
    return sum(t.nbytes for t in counted)
