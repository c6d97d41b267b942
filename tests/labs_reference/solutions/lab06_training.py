# The solutions of labs/lab06_training.py: its TODO functions, done. The grader self-tests
# build the reference lab by inserting these before the lab's experiments, so
# the reference cannot drift from the lab students get.


@profile
def sgd_step(param, grad, momentum_buf, *, lr, momentum, dampening, nesterov,
             weight_decay, first):
    """One SGD step over flat arrays of ``N`` elements, in place; returns nothing.

    ``param`` (N,) is updated; ``grad`` (N,) is read; ``momentum_buf`` (N,) is written
    (and read, except on the first step) only when ``momentum != 0``.

    >>> p, g = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    >>> sgd_step(p, g, np.empty(0), lr=0.1, momentum=0.0, dampening=0.0, nesterov=False,
    ...          weight_decay=0.0, first=True)
    >>> p.tolist()
    [0.95, 2.1]
    """
    for i in range(param.shape[0]):
        d = grad[i]
        if weight_decay != 0:
            d = d + weight_decay * param[i]
        if momentum != 0:
            if first:  # the buffer is fresh memory: PyTorch starts it at d, undamped
                buf = d
            else:
                buf = momentum * momentum_buf[i] + (1 - dampening) * d
            momentum_buf[i] = buf
            if nesterov:
                d = d + momentum * buf
            else:
                d = buf
        param[i] = param[i] - lr * d


@profile
def adam_step(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay,
              step, decoupled):
    """One Adam (``decoupled=False``) or AdamW (``decoupled=True``) step over flat arrays of
    ``N`` elements, in place; returns nothing. ``param``, ``exp_avg`` and ``exp_avg_sq``
    (N,) are read and written, ``grad`` (N,) is read.

    >>> p, g = np.array([1.0, -1.0]), np.array([2.0, -2.0])
    >>> m, v = np.zeros(2), np.zeros(2)
    >>> adam_step(p, g, m, v, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
    ...           step=1, decoupled=False)
    >>> [round(x, 6) for x in p.tolist()], [round(x, 6) for x in m.tolist()]
    ([0.9, -0.9], [0.2, -0.2])
    """
    # Per step, not per element: hoisted out of the loop.
    step_size = lr / (1 - beta1 ** step)
    correction2_sqrt = math.sqrt(1 - beta2 ** step)
    shrink = 1 - lr * weight_decay
    for i in range(param.shape[0]):
        p = param[i]
        g = grad[i]
        if weight_decay != 0:
            if decoupled:
                p = p * shrink
            else:
                g = g + weight_decay * p
        m = beta1 * exp_avg[i] + (1 - beta1) * g
        v = beta2 * exp_avg_sq[i] + (1 - beta2) * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        param[i] = p - step_size * m / (math.sqrt(v) / correction2_sqrt + eps)


def optimizer_state_bytes(optimizer) -> int:
    """The bytes held by every tensor in ``optimizer.state`` (numbers count nothing).

    >>> w = tt.zeros(10, requires_grad=True); w.grad = tt.ones(10)
    >>> opt = tt.optim.Adam([w]); optimizer_state_bytes(opt)
    0
    >>> opt.step(); optimizer_state_bytes(opt)   # two float32 buffers of 10 elements
    80
    """
    total = 0
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, tt.Tensor):
                total += value.nbytes
    return total


def cosine_lr(step: int, base_lr: float, t_max: int, eta_min: float = 0.0) -> float:
    """The learning rate at epoch (or step) ``step`` of a cosine schedule.

    >>> cosine_lr(0, 0.1, 10), cosine_lr(10, 0.1, 10, 0.001)
    (0.1, 0.001)
    >>> round(cosine_lr(5, 0.1, 10), 6)
    0.05
    """
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * step / t_max)) / 2


def train_epoch(model, optimizer, images, labels, batch_size: int, rng) -> float:
    """Train ``model`` for one epoch over ``images`` (N, F) / ``labels`` (N,) in batches of
    ``batch_size``, in the order ``rng.permutation(N)``; returns the mean batch loss.

    >>> _ = tt.manual_seed(0); model = nn.Linear(4, 3)
    >>> opt = tt.optim.SGD(model.parameters(), lr=0.1)
    >>> x = np.ones((10, 4), np.float32); y = np.arange(10) % 3
    >>> loss = train_epoch(model, opt, x, y, 4, np.random.default_rng(0))
    >>> isinstance(loss, float) and loss > 0
    True
    """
    model.train()
    order = rng.permutation(len(labels))
    losses = []
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        optimizer.zero_grad()  # backward() adds into .grad: clear the last batch's
        loss = F.cross_entropy(model(tt.tensor(images[index])), tt.tensor(labels[index]))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def save_checkpoint(path, model, optimizer, epoch: int) -> None:
    """Write the model, the optimiser and ``epoch`` (the number of epochs done) to the
    ``.npz`` file ``path``, atomically.

    >>> folder = tempfile.mkdtemp(); path = os.path.join(folder, "ckpt.npz")
    >>> model = nn.Linear(2, 2); opt = tt.optim.Adam(model.parameters())
    >>> save_checkpoint(path, model, opt, 3); os.path.isfile(path)
    True
    """
    arrays = {f"model.{name}": t.numpy() for name, t in model.state_dict().items()}
    opt_state = optimizer.state_dict()
    numbers = {}  # per parameter: its counters (Adam's step); tensors go to the arrays
    for index, entry in opt_state["state"].items():
        numbers[str(index)] = {}
        for key, value in entry.items():
            if isinstance(value, tt.Tensor):
                arrays[f"optim.{index}.{key}"] = value.numpy()
            else:
                numbers[str(index)][key] = value
    meta = {"format": 1, "epoch": int(epoch), "param_groups": opt_state["param_groups"],
            "state": numbers}
    arrays["meta"] = np.array(json.dumps(meta))  # a unicode array: loads without pickle
    path = os.fspath(path)
    # The temporary file sits beside the target: os.replace is atomic within one file
    # system only.
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                               prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the rename can be
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path, model, optimizer) -> int:
    """Restore ``model`` and ``optimizer`` in place from ``path``; returns the epoch saved.
    Raises ``ValueError`` for a file that needs pickle (nothing is changed then).

    >>> folder = tempfile.mkdtemp(); path = os.path.join(folder, "ckpt.npz")
    >>> a = nn.Linear(2, 2); save_checkpoint(path, a, tt.optim.Adam(a.parameters()), 3)
    >>> b = nn.Linear(2, 2); load_checkpoint(path, b, tt.optim.Adam(b.parameters()))
    3
    >>> bool((a.weight == b.weight).numpy().all())
    True
    """
    # Everything is read (and an object array refused) before anything is changed.
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(archive["meta"].item())
        weights, state = {}, {}
        for key in archive.files:
            if key.startswith("model."):
                weights[key[len("model."):]] = tt.tensor(archive[key])
            elif key.startswith("optim."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = tt.tensor(archive[key])
    for index, counters in meta["state"].items():  # JSON keys are strings
        state.setdefault(int(index), {}).update(counters)
    model.load_state_dict(weights)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return int(meta["epoch"])
