# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab05_data.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: queue.Queue() without maxsize (and no check of depth): the thread runs as far
# ahead as the iterable goes, holding every batch it made in memory.


class PrefetchIterator:
    def __init__(self, iterable, depth: int = 2):
        self._iterator = iter(iterable)
        self._queue = queue.Queue()
        self._stop = threading.Event()
        self._finished = False
        # the caller's context variables (the tinytorch backend) hold in the thread too
        self._thread = threading.Thread(target=contextvars.copy_context().run,
                                        args=(self._work,), name="lab05-prefetch",
                                        daemon=True)
        self._thread.start()

    def _put(self, entry) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.05)  # wakes up to look at the event
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
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
