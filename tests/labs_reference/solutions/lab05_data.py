# The solutions of labs/lab05_data.py: its TODO functions, done. The grader self-tests
# build the reference lab by inserting these before the lab's experiments, so
# the reference cannot drift from the lab students get.


def batch_indices(n: int, batch_size: int, drop_last: bool = False, rng=None) -> list:
    """The index arrays of one epoch over ``n`` samples: a list of 1-D int64 arrays of
    ``batch_size`` indices (the last one shorter unless ``drop_last``); in order when
    ``rng`` is None, else in the order ``rng.permutation(n)`` (a numpy ``Generator``).

    >>> [b.tolist() for b in batch_indices(5, 2)]
    [[0, 1], [2, 3], [4]]
    >>> [b.tolist() for b in batch_indices(5, 2, drop_last=True)]
    [[0, 1], [2, 3]]
    >>> sorted(np.concatenate(batch_indices(5, 2, rng=np.random.default_rng(0))).tolist())
    [0, 1, 2, 3, 4]
    """
    # One permutation per epoch, drawn up front: every sample exactly once, and the same
    # draw as the DataLoader's RandomSampler for the same generator state.
    order = np.arange(n, dtype=np.int64) if rng is None else rng.permutation(n)
    stop = n - n % batch_size if drop_last else n
    return [order[start:start + batch_size].astype(np.int64, copy=False)
            for start in range(0, stop, batch_size)]


@profile
def collate(samples: list) -> tuple:
    """``(images, labels)``: the images of ``samples`` (a list of ``(image, label)`` pairs,
    each image an array or a Tensor of one shape ``S``) stacked into an array ``(N, *S)`` of
    their dtype, and the labels as an int64 array ``(N,)``.

    >>> x, y = collate([(np.zeros((1, 2, 2), np.float32), 3), (np.ones((1, 2, 2), np.float32), 7)])
    >>> x.shape, x.dtype, y.tolist(), y.dtype
    ((2, 1, 2, 2), dtype('float32'), [3, 7], dtype('int64'))
    """
    if not samples:
        raise ValueError("collate(): needs at least one sample, got an empty list")
    first = samples[0][0]
    first = first.numpy() if isinstance(first, tt.Tensor) else np.asarray(first)
    # one allocation for the whole batch, then one copy per sample (as np.stack)
    images = np.empty((len(samples), *first.shape), first.dtype)
    labels = np.empty(len(samples), np.int64)
    for i, (image, label) in enumerate(samples):
        image = image.numpy() if isinstance(image, tt.Tensor) else np.asarray(image)
        if image.shape != first.shape:
            raise ValueError(f"collate(): sample {i} has shape {image.shape}, sample 0 has "
                             f"{first.shape}; a batch needs one shape")
        images[i] = image
        labels[i] = label
    return images, labels


@profile
def normalize_forward(out, x, mean, std):
    """``out[n, c, k] = (x[n, c, k] - mean[c]) / std[c]`` for ``out`` and ``x`` of shape
    ``(N, C, L)``, ``mean`` and ``std`` of shape ``(C,)``.

    >>> out = np.empty((1, 2, 2))
    >>> normalize_forward(out, np.ones((1, 2, 2)), np.array([0.5, 0.0]), np.array([0.5, 2.0]))
    >>> out.tolist()
    [[[1.0, 1.0], [0.5, 0.5]]]
    """
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            m = mean[c]  # read once per channel, not once per pixel
            s = std[c]
            for k in range(x.shape[2]):
                out[n, c, k] = (x[n, c, k] - m) / s


class PrefetchIterator:
    """Iterate over ``iterable`` while a daemon thread produces up to ``depth`` items ahead
    into a bounded queue. Items come out in order; an exception of the iterable is raised
    by ``next()`` after the items before it; ``close()`` (or leaving ``with``) stops and
    joins the thread, and so does reaching the end.

    >>> with PrefetchIterator(iter(range(5)), depth=2) as it:
    ...     list(it)
    [0, 1, 2, 3, 4]
    """

    def __init__(self, iterable, depth: int = 2):
        if depth < 1:
            raise ValueError(f"PrefetchIterator(): depth must be >= 1, got {depth} (a "
                             "queue.Queue of maxsize 0 is unbounded)")
        self._iterator = iter(iterable)
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        # the caller's context variables (the tinytorch backend) hold in the thread too
        self._thread = threading.Thread(target=contextvars.copy_context().run,
                                        args=(self._work,), name="lab05-prefetch",
                                        daemon=True)
        self._thread.start()

    def _put(self, entry) -> bool:
        """Put ``entry`` once there is room; False when a stop was asked for first."""
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.05)  # wakes up to look at the event
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        """The thread's body: put every item of the iterable into the queue, then a "done"
        entry, or an "error" entry with the exception raised; give up once a stop is
        asked for (never block forever on a full queue)."""
        try:
            for item in self._iterator:
                if not self._put(("item", item)):
                    return
        except BaseException as error:  # noqa: BLE001 (raised again in the consumer)
            self._put(("error", error))
            return
        finally:
            close = getattr(self._iterator, "close", None)
            if close is not None:  # a generator left half way runs its finally blocks now
                close()
        self._put(("done", None))

    def __iter__(self):
        return self

    def __next__(self):
        """The next item, in order; raises the thread's exception again; StopIteration at
        the end and after ``close()``."""
        if self._finished:
            raise StopIteration
        tag, value = self._queue.get()
        if tag == "item":
            return value
        self.close()
        if tag == "error":
            raise value
        raise StopIteration

    def close(self) -> None:
        """Ask the thread to stop and wait for it (join); calling it again does nothing."""
        self._finished = True
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        # drop what is still queued: those batches would otherwise stay in memory
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
