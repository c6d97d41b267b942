"""Grader of lab 05 (data): the batch indices of an epoch (against the ``DataLoader``'s own
order), collating samples into a batch, the per-channel normalisation kernel as loops
(compiled with numba, run by the dispatcher, training the digits MLP), and a prefetching
iterator: its order, its bound, its errors and its thread's shutdown.

Each test checks one function of the lab on its own. Shapes are tiny, since the student's
loops run interpreted. The ``PrefetchIterator`` tests never wait on the student's code
without a time limit: ``next()`` runs in a helper thread, so an iterator that blocks
forever fails one test, with feedback, instead of stalling the grader.
"""

import threading
import time
import warnings

import numba
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.data import DataLoader, TensorDataset
from tinytorch.data import transforms as T
from tinytorch.grading import call, expect_close, expect_equal, points

HELPER = "lab05-grader"  # the name of the grader's own helper threads


def _require(condition, message: str) -> None:
    """Fail with ``message`` alone (a bare assert would add pytest's internals)."""
    if not condition:
        raise AssertionError(message)


def _plain(fn):
    return getattr(fn, "__wrapped__", fn)  # kernprof's wrapper, if any, is not compilable




# --- batch_indices -----------------------------------------------------------------------

def _batches(student, n, batch_size, drop_last=False, rng=None) -> list:
    what = f"batch_indices({n}, {batch_size}, drop_last={drop_last}, rng=...)"
    got = call(student, "batch_indices", n, batch_size, drop_last, rng)
    _require(got is not None, f"{what} returned None\nhint: return the list of index arrays")
    batches = []
    for i, b in enumerate(list(got)):
        arr = np.asarray(b)
        _require(arr.ndim == 1 and (arr.size == 0 or arr.dtype.kind in "iu"),
                 f"{what}: batch {i} should be a 1-D array of ints, got {arr.dtype} of "
                 f"shape {arr.shape}")
        batches.append(arr.astype(np.int64))
    return batches


def _as_lists(batches) -> list:
    return [b.tolist() for b in batches]


def _expected(n, batch_size, drop_last, order) -> list:
    stop = n - n % batch_size if drop_last else n
    return [order[s:s + batch_size].tolist() for s in range(0, stop, batch_size)]


ORDER_HINT = ("slices order[0:B], order[B:2B], ... up to n; the last batch keeps the "
              "n % B samples left over unless drop_last")


@points(2)
def test_batch_indices_in_order_cover_every_sample(student):
    """Without rng: 0..n-1 in batches of batch_size, the last one shorter."""
    for n, bs in [(10, 3), (9, 3), (5, 1), (1, 4), (3, 8), (0, 2)]:
        got = _as_lists(_batches(student, n, bs))
        expect_equal(got, _expected(n, bs, False, np.arange(n)),
                     what=f"batch_indices({n}, {bs}) (in order)", hint=ORDER_HINT)


@points(1)
def test_batch_indices_drop_last(student):
    """drop_last=True drops the short last batch, and only that one."""
    for n, bs in [(10, 3), (9, 3), (2, 3), (7, 7)]:
        got = _as_lists(_batches(student, n, bs, True))
        expect_equal(got, _expected(n, bs, True, np.arange(n)),
                     what=f"batch_indices({n}, {bs}, drop_last=True)",
                     hint="keep only full batches: n // batch_size of them")
    sizes = [len(b) for b in _batches(student, 23, 5, True, np.random.default_rng(3))]
    expect_equal(sizes, [5, 5, 5, 5], what="the batch sizes of batch_indices(23, 5, "
                 "drop_last=True, rng=...)", hint="drop_last applies to the shuffled order too")


def _permutation_hint(flat: np.ndarray, n: int) -> str:
    counts = np.bincount(flat, minlength=n) if flat.size and flat.min() >= 0 else None
    if counts is not None and (counts > 1).any():
        twice = int(np.argmax(counts > 1))
        return (f"index {twice} comes {int(counts[twice])} times and "
                f"{int((counts == 0).sum())} indices never come: the indices were drawn "
                "with replacement (rng.choice(n, n) or rng.integers); one "
                "rng.permutation(n) per epoch visits every sample exactly once")
    return "one rng.permutation(n) per epoch visits every sample exactly once"


@points(2)
def test_batch_indices_shuffled_is_a_permutation(student):
    """With rng: every index exactly once, not in order, and a new order each epoch."""
    n, bs = 50, 8
    rng = np.random.default_rng(0)
    first = _batches(student, n, bs, False, rng)
    flat = np.concatenate(first) if first else np.zeros(0, np.int64)
    what = f"the indices of batch_indices({n}, {bs}, rng=default_rng(0)), sorted"
    if sorted(flat.tolist()) != list(range(n)):
        raise AssertionError(f"{what}: expected 0..{n - 1} once each, got "
                             f"{sorted(flat.tolist())}\nhint: {_permutation_hint(flat, n)}")
    expect_equal([len(b) for b in first], [8] * 6 + [2], what="the batch sizes",
                 hint=ORDER_HINT)
    _require(flat.tolist() != list(range(n)), f"{what}: with rng given, the order should be "
             "shuffled, but it is 0, 1, 2, ...\nhint: order = rng.permutation(n)")
    second = np.concatenate(_batches(student, n, bs, False, rng))
    _require(second.tolist() != flat.tolist(), "two calls with the same rng (two epochs) gave "
             "the same order\nhint: draw from the rng you are given, do not seed a new one")


@points(2)
def test_batch_indices_match_the_dataloader(student):
    """For the same generator, the batches of two epochs are the DataLoader's."""
    for n, bs, drop_last in [(23, 4, False), (23, 4, True), (16, 16, False)]:
        loader = DataLoader(TensorDataset(tt.arange(n)), batch_size=bs, shuffle=True,
                            drop_last=drop_last, generator=np.random.default_rng(7))
        rng = np.random.default_rng(7)
        for epoch in range(2):
            expected = [x.tolist() for (x,) in loader]
            got = _batches(student, n, bs, drop_last, rng)
            flat = np.concatenate(got) if got else np.zeros(0, np.int64)
            hint = ("draw the epoch's order with ONE rng.permutation(n) call, then slice it: "
                    "that is what the DataLoader's RandomSampler does")
            if sorted(flat.tolist()) != sorted(np.concatenate(expected).tolist()):
                hint = _permutation_hint(flat, n)
            expect_equal(_as_lists(got), expected, hint=hint,
                         what=f"epoch {epoch} of batch_indices({n}, {bs}, drop_last="
                              f"{drop_last}, rng=default_rng(7))")
    loader = DataLoader(TensorDataset(tt.arange(11)), batch_size=3)
    expect_equal(_as_lists(_batches(student, 11, 3)), [x.tolist() for (x,) in loader],
                 what="batch_indices(11, 3) against DataLoader(..., shuffle=False)")


# --- collate -----------------------------------------------------------------------------

def _collate(student, samples, what):
    got = call(student, "collate", samples)
    _require(isinstance(got, (tuple, list)) and len(got) == 2,
             f"{what}: expected a pair (images, labels), got {type(got).__name__}")
    return tuple(np.asarray(getattr(g, "_data", g)) for g in got)


STACK_HINT = ("allocate np.empty((N, *image.shape), image.dtype) and copy image i into row "
              "i (np.stack adds a new first axis; np.concatenate joins along the existing "
              "one and loses it)")


def _check_batch(got, images, labels, what):
    x, y = got
    expected = np.stack(images)
    expect_equal(x.shape, expected.shape, what=f"{what}: the shape of the images",
                 hint=STACK_HINT)
    expect_equal(str(x.dtype), str(expected.dtype), what=f"{what}: the dtype of the images",
                 hint="keep the images' dtype: allocate with the first image's dtype")
    expect_close(x, expected, what=f"{what}: the images", hint=STACK_HINT)
    expect_equal(str(y.dtype), "int64", what=f"{what}: the dtype of the labels",
                 hint="class indices are int64 (np.empty(N, np.int64))")
    expect_equal(y.tolist(), [int(v) for v in labels], what=f"{what}: the labels")


@points(2)
def test_collate_stacks_images_and_labels(student):
    """float32 arrays (1, 8, 8) and int labels -> (N, 1, 8, 8) float32 and (N,) int64."""
    rng = np.random.default_rng(0)
    for n, shape in [(4, (1, 8, 8)), (1, (3, 2, 2)), (5, (6,))]:
        images = [rng.random(shape, dtype=np.float32) for _ in range(n)]
        labels = [int(v) for v in rng.integers(0, 10, n)]
        what = f"collate of {n} samples of shape {shape}"
        _check_batch(_collate(student, list(zip(images, labels, strict=True)), what),
                     images, labels, what)


@points(1)
def test_collate_accepts_tensors_and_keeps_dtype(student):
    """Tensor images (a data set's ds[i]) and uint8 arrays with numpy int labels."""
    rng = np.random.default_rng(1)
    images = [tt.tensor(rng.random((1, 4, 4), dtype=np.float32)) for _ in range(3)]
    what = "collate of 3 (Tensor (1, 4, 4), int) samples"
    got = _collate(student, [(img, i) for i, img in enumerate(images)], what)
    _check_batch(got, [img.numpy() for img in images], [0, 1, 2], what)
    pixels = [rng.integers(0, 256, (1, 3, 3)).astype(np.uint8) for _ in range(3)]
    labels = [np.int64(4), np.int64(0), np.int64(9)]
    what = "collate of 3 (uint8 array (1, 3, 3), np.int64) samples"
    _check_batch(_collate(student, list(zip(pixels, labels, strict=True)), what), pixels,
                 labels, what)


@points(1)
def test_collate_rejects_an_empty_list_and_mixed_shapes(student):
    """ValueError for [] and for images of different shapes, naming both shapes."""
    try:
        got = call(student, "collate", [])
    except ValueError:
        pass
    else:
        raise AssertionError(f"collate([]) should raise ValueError, got {got!r}\nhint: a "
                             "batch of nothing has no shape to allocate")
    samples = [(np.zeros((1, 8, 8), np.float32), 0), (np.zeros((1, 8, 8), np.float32), 1),
               (np.zeros((1, 9, 9), np.float32), 2)]
    try:
        got = call(student, "collate", samples)
    except ValueError as err:
        message = str(err)
    else:
        raise AssertionError("collate of images (1, 8, 8), (1, 8, 8), (1, 9, 9) should raise "
                             "ValueError, but it returned\nhint: compare each image's shape "
                             "with the first one's")
    _require("(1, 9, 9)" in message and "(1, 8, 8)" in message,
             f"the ValueError should name both shapes, (1, 9, 9) and (1, 8, 8); it was: "
             f"{message!r}")


@points(2)
def test_collate_as_the_loaders_collate_fn(student):
    """DataLoader(Digits, collate_fn=your collate) gives the fast path's batches."""
    from tinytorch.data.datasets import Digits  # noqa: PLC0415 (loads the digits)

    call(student, "collate", [(np.zeros(1), 0)])
    ds = Digits("train")
    kw = {"batch_size": 16, "shuffle": True}
    mine = iter(DataLoader(ds, collate_fn=student.collate, generator=0, **kw))
    fast = iter(DataLoader(ds, generator=0, **kw))
    for step in range(3):
        got = next(mine)
        x, y = next(fast)
        _require(isinstance(got, (tuple, list)) and len(got) == 2,
                 f"batch {step}: expected a pair (images, labels), got {type(got).__name__}")
        gx, gy = (np.asarray(getattr(g, "_data", g)) for g in got)
        what = f"batch {step} of DataLoader(Digits('train'), batch_size=16, collate_fn=collate)"
        expect_equal(gx.shape, x.shape, what=f"{what}: the shape of the images",
                     hint=STACK_HINT)
        expect_close(gx, x.numpy(), what=f"{what}: the images", hint=STACK_HINT)
        expect_equal(gy.tolist(), y.tolist(), what=f"{what}: the labels")


# --- normalize_forward -------------------------------------------------------------------

NORMALIZE_HINT = "out[n, c, k] = (x[n, c, k] - mean[c]) / std[c] for every n, c, k of out"


def _garbage(shape, dtype=np.float64) -> np.ndarray:
    """An output buffer as a kernel receives it: allocated, never written (here: NaN)."""
    return np.full(shape, np.nan, dtype=dtype)


def _normalize_case(rng, shape, dtype=np.float64):
    n, c, length = shape
    x = (rng.standard_normal((n, c, length)) * 3 + 1).astype(dtype)
    mean = rng.standard_normal(c).astype(dtype)
    std = rng.uniform(0.5, 2.0, c).astype(dtype)
    expected = np.empty(shape, dtype)
    tt.dispatch.kernel_for("normalize_forward", "numpy")[1](expected, x, mean, std)
    return x, mean, std, expected


def _normalize_hint(out, x, mean, std) -> str:
    out = np.asarray(out, np.float64)
    if np.isnan(out).any():
        return ("some elements of out are nan: out arrives holding garbage (np.empty), so "
                "assign every element; `out = ...` only rebinds your local name")
    m, s = mean[None, :, None], std[None, :, None]
    if out.size and np.allclose(out, x - m / s, rtol=1e-4, atol=1e-5):
        return ("you computed x - mean / std: division binds tighter than subtraction\n"
                "hint: (x[n, c, k] - mean[c]) / std[c], with the parentheses")
    if out.size and np.allclose(out, (x - m) * s, rtol=1e-4, atol=1e-5):
        return "you multiplied by std: normalising divides by it"
    return NORMALIZE_HINT


def _check_normalize(out, x, mean, std, expected, what, rtol=1e-5, atol=1e-6):
    close = out.shape == expected.shape and np.allclose(out, expected, rtol=rtol, atol=atol)
    if not close:
        expect_close(out, expected, what=what, rtol=rtol, atol=atol,
                     hint=_normalize_hint(out, x, mean, std))


@points(3)
def test_normalize_forward_matches_numpy(student):
    """Batches of one or more images with one or more channels, float64."""
    rng = np.random.default_rng(0)
    for shape in [(2, 3, 5), (1, 1, 1), (4, 2, 7), (3, 3, 16)]:
        x, mean, std, expected = _normalize_case(rng, shape)
        out = _garbage(shape)
        result = call(student, "normalize_forward", out, x, mean, std)
        expect_equal(result, None, what="the return value of normalize_forward",
                     hint="write into `out` and return nothing: the caller owns `out`")
        _check_normalize(out, x, mean, std, expected, f"normalize_forward on {shape}")


@points(1)
def test_normalize_forward_on_float32_views_and_empty(student):
    """float32 arrays, a strided view as x, and a batch of no images."""
    rng = np.random.default_rng(1)
    x, mean, std, expected = _normalize_case(rng, (2, 3, 6), np.float32)
    out = _garbage(x.shape, np.float32)
    call(student, "normalize_forward", out, x, mean, std)
    _check_normalize(out, x, mean, std, expected, "normalize_forward on float32 (2, 3, 6)")
    wide = rng.standard_normal((2, 3, 12)).astype(np.float32)
    view = wide[:, :, ::2]  # every other pixel: strides that are not contiguous
    expected = (view - mean[None, :, None]) / std[None, :, None]
    out = _garbage(view.shape, np.float32)
    call(student, "normalize_forward", out, view, mean, std)
    _check_normalize(out, view, mean, std, expected, "normalize_forward on a strided view "
                     "x[:, :, ::2] of shape (2, 3, 6)")
    empty = np.zeros((0, 3, 4), np.float32)
    call(student, "normalize_forward", np.empty_like(empty), empty, mean, std)


_COMPILED = {}


def _compiled(student):
    """numba.njit of the student's kernel, compiled once per grading process; a failure to
    compile is feedback."""
    call(student, "normalize_forward", np.empty((1, 1, 1)), np.ones((1, 1, 1)), np.zeros(1),
         np.ones(1))  # a TODO left undone fails here, with feedback
    fn = _plain(student.normalize_forward)
    if fn not in _COMPILED:
        compiled = numba.njit(fn)
        try:
            compiled(np.empty((1, 1, 1)), np.ones((1, 1, 1)), np.zeros(1), np.ones(1))
            compiled(np.empty((1, 1, 1), np.float32), np.ones((1, 1, 1), np.float32),
                     np.zeros(1, np.float32), np.ones(1, np.float32))
        except numba.core.errors.NumbaError as err:
            first = str(err).strip().splitlines()[0]
            pytest.fail(f"numba could not compile normalize_forward: {first}\nhint: use only "
                        "loops, numbers and indexing like x[n, c, k] (no lists, no array "
                        "expressions, no new arrays)", pytrace=False)
        _COMPILED[fn] = compiled
    return _COMPILED[fn]


@points(1)
def test_normalize_forward_compiles_with_numba(student):
    """numba.njit compiles your loops, and the compiled version still agrees."""
    fn = _compiled(student)
    rng = np.random.default_rng(2)
    for dtype in (np.float64, np.float32):
        x, mean, std, expected = _normalize_case(rng, (3, 2, 9), dtype)
        out = _garbage(x.shape, dtype)
        fn(out, x, mean, std)
        _check_normalize(out, x, mean, std, expected,
                         f"numba.njit(normalize_forward) on {np.dtype(dtype).name} (3, 2, 9)")


@points(2)
def test_normalize_forward_runs_as_a_tinytorch_backend(student):
    """Registered as backend "student", your kernel runs T.Normalize on a batch of images
    and on one image."""
    call(student, "normalize_forward", np.empty((1, 1, 1)), np.ones((1, 1, 1)), np.zeros(1),
         np.ones(1))
    tt.register_kernel("normalize_forward", "student", student.normalize_forward)
    mean, std = [0.5, 0.2, -0.1], [0.25, 0.5, 2.0]
    normalize = T.Normalize(mean, std)
    rng = np.random.default_rng(3)
    batch = rng.random((2, 3, 4, 4), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # ops borrowed from jit warn once
        with tt.backend("student", fallback="jit"):
            got, one = normalize(batch), normalize(tt.tensor(batch[1]))
    m = np.array(mean, np.float32)[:, None, None]
    s = np.array(std, np.float32)[:, None, None]
    for out, x, what in [(got, batch, "T.Normalize on a batch (2, 3, 4, 4)"),
                         (one.numpy(), batch[1:], "T.Normalize on one image (3, 4, 4)")]:
        out = np.asarray(out).reshape(x.shape)
        expected = (x - m) / s
        if not np.allclose(out, expected, rtol=1e-5, atol=1e-6):
            flat = (len(x), 3, 16)
            expect_close(out, expected, what=f"{what} on the student backend",
                         hint=_normalize_hint(out.reshape(flat), x.reshape(flat),
                                              np.array(mean), np.array(std)))


def _digits_losses(backend: str, steps: int) -> list:
    """The losses of the first ``steps`` Adam steps of the digits MLP on normalised images,
    the Normalize transform running on ``backend`` (the rest on jit)."""
    from tinytorch.data.datasets import Digits  # noqa: PLC0415 (loads the digits)
    from tinytorch.examples.mlp_digits import build_mlp  # noqa: PLC0415

    images, labels = (t.numpy() for t in Digits("train").tensors())
    normalize = T.Normalize(float(images.mean()), float(images.std()))
    tt.manual_seed(0)
    model = build_mlp()
    opt = tt.optim.Adam(model.parameters(), lr=2e-3)
    order = np.random.default_rng(0).permutation(len(labels))
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with tt.backend(backend, fallback="jit"):
            for step in range(steps):
                index = order[step * 32:(step + 1) * 32]
                x = normalize(images[index]).reshape(len(index), 64)
                loss = tt.nn.functional.cross_entropy(model(tt.tensor(x)),
                                                      tt.tensor(labels[index]))
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
    return losses


@points(2)
def test_normalize_forward_trains_the_digits_mlp(student):
    """Compiled and registered, your kernel normalises the digits while the MLP trains:
    the losses of the first steps match those with tinytorch's jit kernel."""
    tt.register_kernel("normalize_forward", "student", _compiled(student))
    steps = 10
    mine, reference = _digits_losses("student", steps), _digits_losses("jit", steps)
    if np.allclose(mine, reference, rtol=1e-4, atol=1e-5):
        return
    rng = np.random.default_rng(4)
    x, mean, std, expected = _normalize_case(rng, (2, 1, 64), np.float32)
    out = _garbage(x.shape, np.float32)
    _compiled(student)(out, x, mean, std)
    hint = (_normalize_hint(out, x, mean, std) if not np.allclose(out, expected, 1e-5, 1e-6)
            else "your compiled kernel agrees on small float32 arrays: look for what differs "
                 "in training (32 images of 1 x 64 pixels, one channel)")
    expect_close(np.array(mine), np.array(reference), rtol=1e-4, atol=1e-5, hint=hint,
                 what=f"the loss of each of {steps} training steps with your normalize_forward")


# --- PrefetchIterator --------------------------------------------------------------------

def _threads_now() -> set:
    return set(threading.enumerate())


def _left_running(before: set, timeout: float = 3.0) -> list:
    """The threads started since ``before`` (the grader's helpers aside) that are still
    alive after up to ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        alive = [t for t in threading.enumerate()
                 if t not in before and t.is_alive() and not t.name.startswith(HELPER)]
        if not alive or time.monotonic() > end:
            return alive
        time.sleep(0.01)


WAITS_FOREVER = ("next() waits for an entry that never comes\nhint: the thread must put an "
                 "entry for every outcome: each item, the end (\"done\") and an exception "
                 "(\"error\")")


def _in_helper(fn, what: str, timeout: float = 5.0, why: str = WAITS_FOREVER):
    """``fn()`` run in a helper thread: its result, or the exception it raised, raised here;
    a failure with feedback (``why``) if it has not returned after ``timeout`` seconds."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 (handed to the test's thread)
            box["error"] = err

    helper = threading.Thread(target=run, name=HELPER, daemon=True)
    helper.start()
    helper.join(timeout)
    if helper.is_alive():
        pytest.fail(f"{what} did not return within {timeout:g} s: {why}", pytrace=False)
    if "error" in box:
        if isinstance(box["error"], NotImplementedError):
            pytest.fail("`PrefetchIterator` is not implemented yet: replace its `raise "
                        "NotImplementedError` lines with your code", pytrace=False)
        raise box["error"]
    return box["value"]


def _make(student, iterable, depth):
    return call(student, "PrefetchIterator", iterable, depth)


def _drain(it, what: str, timeout: float = 5.0) -> list:
    return _in_helper(lambda: list(it), what, timeout)


def _close(it, what: str) -> None:
    _in_helper(it.close, f"{what}.close()",
               why="it waits (join) for a thread that itself waits forever, in queue.put() "
                   "on a full queue\nhint: put with a timeout, in a loop that checks a "
                   "threading.Event that close() sets before it joins")


@points(2)
def test_prefetch_yields_every_item_in_order(student):
    """Ranges, a generator, an empty iterable and depth 1: every item, in order, once."""
    cases = [(range(20), 2, list(range(20))), (range(7), 1, list(range(7))),
             ((i * i for i in range(12)), 3, [i * i for i in range(12)]), ([], 2, []),
             (["a", None, 3.5], 8, ["a", None, 3.5])]
    for iterable, depth, expected in cases:
        what = f"list(PrefetchIterator({type(iterable).__name__} of {len(expected)}, {depth}))"
        got = _drain(_make(student, iterable, depth), what)
        expect_equal(got, expected, what=what,
                     hint="a queue hands items over first in, first out; put each item "
                          "once, and a \"done\" entry after the last")


@points(1)
def test_prefetch_runs_ahead_in_a_background_thread(student):
    """The items are produced in another thread, starting before the first next()."""
    made = []

    def source():
        for i in range(3):
            made.append(threading.get_ident())
            yield i

    it = _make(student, source(), 2)
    try:
        end = time.monotonic() + 3.0
        while not made and time.monotonic() < end:
            time.sleep(0.01)
        _require(made, "3 s after PrefetchIterator(...) was made, the thread had not asked "
                 "the iterable for its first item\nhint: start the thread in __init__, so "
                 "the first batch is ready by the first next()")
        _require(threading.get_ident() not in made, "the items were produced in the thread "
                 "that made the iterator, not in a background thread\nhint: "
                 "threading.Thread(target=..., daemon=True).start() in __init__")
        _drain(it, "list(PrefetchIterator(...))")
    finally:
        _close(it, "PrefetchIterator(...)")


@points(2)
def test_prefetch_stays_at_most_depth_items_ahead(student):
    """With nobody reading, the thread stops after depth items (plus one in hand); depth
    below 1 is refused."""
    made = []

    def source():
        for i in range(100):
            made.append(i)
            yield i

    def settle(count):
        """Wait until ``count`` items are made (a busy machine may be slow to run the
        thread), then a little longer: a producer that ignored the bound would go on."""
        end = time.monotonic() + 5
        while len(made) < count and time.monotonic() < end:
            time.sleep(0.01)
        time.sleep(0.2)

    depth = 3
    it = _make(student, source(), depth)
    try:
        settle(depth)
        _require(len(made) <= depth + 1,
                 f"with depth={depth} and nobody calling next(), the thread made {len(made)} "
                 f"items: at most {depth} may wait in the queue (plus one in the thread's "
                 "hand)\nhint: queue.Queue(maxsize=depth): a put() on a full queue waits; a "
                 "Queue() without maxsize grows without limit, and so does the memory")
        _require(len(made) >= depth, f"with depth={depth}, the thread made only {len(made)} "
                 "items ahead while nobody read\nhint: let it fill the queue")
        first = _in_helper(lambda: next(it), "next(PrefetchIterator(...))")
        expect_equal(first, 0, what="the first item")
        settle(depth + 1)
        _require(len(made) <= depth + 2, f"after one next(), the thread had made {len(made)} "
                 f"items with depth={depth}: it should make one more, then wait")
    finally:
        _close(it, "PrefetchIterator(...)")
    try:
        zero = call(student, "PrefetchIterator", iter(range(3)), 0)
    except ValueError:
        return
    _close(zero, "PrefetchIterator(range(3), 0)")
    raise AssertionError("PrefetchIterator(..., depth=0) should raise ValueError: "
                         "queue.Queue(maxsize=0) is an unbounded queue")


class _Unreadable(KeyError):
    """The error the grader's iterable raises at its fourth item."""


@points(2)
def test_prefetch_reraises_errors_in_the_consumer(student):
    """An exception in the iterable comes out of next(), after the items before it, with
    its type; the thread then ends."""
    def source():
        yield from range(3)
        raise _Unreadable("sample 3 is unreadable")

    before = _threads_now()
    it = _make(student, source(), 2)
    got = []

    def consume():
        for item in it:
            got.append(item)

    try:
        _in_helper(consume, "iterating over PrefetchIterator(...) whose iterable fails")
    except _Unreadable as err:
        _require("sample 3 is unreadable" in str(err), f"the error came through with another "
                 f"message: {err!r}")
    else:
        raise AssertionError(f"the iterable raised KeyError('sample 3 is unreadable') after "
                             f"3 items, but the loop over PrefetchIterator ended quietly after "
                             f"{got}: the error was lost, and a training run would go on "
                             "with part of its data\nhint: in the thread, catch the exception "
                             "and put (\"error\", exc) into the queue; `raise` it in "
                             "__next__")
    expect_equal(got, [0, 1, 2], what="the items before the error",
                 hint="every item the iterable gave before failing comes out first")
    left = _left_running(before)
    _require(not left, "after the error, the prefetch thread is still alive 3 s later"
             "\nhint: the thread returns after putting the error")


@points(2)
def test_prefetch_close_stops_the_thread(student):
    """close() (and leaving a `with` block) stops the thread even when the queue is full
    and the iterable has items left; next() then raises StopIteration."""
    made = []

    def source():
        for i in range(10_000):
            made.append(i)
            yield i

    hint = ("a thread blocked in queue.put() on a full queue never sees the end: put with "
            "a timeout in a loop that checks a threading.Event, set the event in close(), "
            "then join() the thread")
    before = _threads_now()
    it = _make(student, source(), 2)
    _in_helper(lambda: next(it), "next(PrefetchIterator(...))")
    time.sleep(0.1)  # the queue fills up and the thread waits for room
    _close(it, "PrefetchIterator(...)")
    left = _left_running(before)
    _require(not left, f"after close(), the prefetch thread is still alive 3 s later, with "
             f"{len(made)} of 10000 items made\nhint: {hint}")
    count = len(made)
    time.sleep(0.1)
    _require(len(made) == count, "after close(), the thread still takes items from the "
             f"iterable ({count} then {len(made)})\nhint: {hint}")
    try:
        after = _in_helper(lambda: next(it), "next() after close()")
    except StopIteration:
        pass
    else:
        raise AssertionError(f"next() after close() returned {after!r}; it should raise "
                             "StopIteration (the iteration is over)")

    before = _threads_now()

    def with_block():
        with _make(student, iter(range(10_000)), 2) as ahead:
            return next(ahead)

    expect_equal(_in_helper(with_block, "a `with PrefetchIterator(...)` block"), 0,
                 what="the first item inside `with`")
    left = _left_running(before)
    _require(not left, f"after leaving the `with` block, the prefetch thread is still alive "
             f"3 s later\nhint: {hint}")


@points(1)
def test_prefetch_thread_ends_with_the_epoch(student):
    """After the last item, the thread is gone: one epoch leaves no thread behind."""
    for depth in (1, 4):
        before = _threads_now()
        it = _make(student, iter(range(10)), depth)
        got = _drain(it, f"list(PrefetchIterator(range(10), {depth}))")
        expect_equal(got, list(range(10)), what=f"list(PrefetchIterator(range(10), {depth}))")
        left = _left_running(before)
        _require(not left, "after the last item, the prefetch thread is still alive 3 s "
                 "later: every epoch would leave one more thread behind\nhint: after the "
                 "\"done\" entry the thread returns; __next__ closes (joins) it")


@points(1)
def test_prefetch_overlaps_a_slow_producer_with_the_consumer(student):
    """A producer that waits 20 ms per item (a file read) and a consumer that works 20 ms
    per item finish together in about half the serial time."""
    items, wait = 8, 0.02

    def source():
        for i in range(items):
            time.sleep(wait)  # releases the interpreter lock, as a read does
            yield i

    def consume():
        start = time.perf_counter()
        with _make(student, source(), 2) as it:
            for _ in it:
                time.sleep(wait)  # the training step
        return time.perf_counter() - start

    serial = 2 * items * wait
    best = min(_in_helper(consume, "a loop over PrefetchIterator(...)") for _ in range(3))
    _require(best < 0.75 * serial, f"{items} items that take {wait * 1e3:.0f} ms to make and "
             f"{wait * 1e3:.0f} ms to use took {best * 1e3:.0f} ms through PrefetchIterator; "
             f"in turn they take {serial * 1e3:.0f} ms, overlapped about "
             f"{(items + 1) * wait * 1e3:.0f} ms\nhint: the thread must make the next item "
             "while the loop uses this one (start it in __init__, let the queue hold depth "
             "items)")
