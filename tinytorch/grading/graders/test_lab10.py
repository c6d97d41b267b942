"""Grader of lab 10 (kernels): the matmul ladder (i-j-k, i-k-j, blocked, packed with a
register tile, parallel rows) and a fused linear + ReLU. Correctness on odd shapes (tails
that no tile divides, K = 0, views), that each rung compiles with ``numba.njit``, and, where
the rung is deterministic, that it adds the same products in the same order as i-j-k: its
float64 result is bit-identical to the grader's own compiled i-j-k. No timings are graded.

Outputs are handed over filled with NaN, the garbage ``np.empty`` may hold: an element the
student's kernel never writes shows up as ``nan``. Shapes are small: the interpreted loops
run first, then the compiled ones.
"""

import numba
import numpy as np
import pytest

from tinytorch.grading import call, expect_close, points

RTOL, ATOL = 1e-6, 1e-9  # float64 inputs: sums of a few dozen products


@numba.njit
def _ijk(out, a, b):
    """The grader's own i-j-k: the order every deterministic rung must reproduce."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            acc = 0.0
            for k in range(a.shape[1]):
                acc += a[i, k] * b[k, j]
            out[i, j] = acc


def _garbage(shape, dtype=np.float64) -> np.ndarray:
    return np.full(shape, np.nan, dtype=dtype)


def _operands(m, k, n, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)


def _close(got, expected, rtol=RTOL, atol=ATOL) -> bool:
    got, expected = np.asarray(got), np.asarray(expected)
    return got.shape == expected.shape and bool(
        np.allclose(got.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol))


_PROBE = (np.empty((1, 1)), np.ones((1, 1)), np.ones((1, 1)))
_EXTRA = {"matmul_blocked": (2,)}  # the tile
HINTS = {
    "matmul_ijk": "out[i, j] = sum of a[i, k] * b[k, j] over k = 0 .. K - 1 (K = a.shape[1]); "
                  "the sum starts at 0 for every output",
    "matmul_ikj": "zero out[i, :] first, then for every k add a[i, k] * b[k, j] into "
                  "out[i, j] for every j",
    "matmul_blocked": "zero all of out first; loop i0, k0, j0 over range(0, M, tile) (and K, N), "
                      "and inside a block run i over range(i0, min(i0 + tile, M)), the same "
                      "for k and j",
    "matmul_packed": "bt[j, k] = b[k, j]; out[i, j] is the dot product of a[i, :] and "
                     "bt[j, :]; in a 2 x 2 tile c01 belongs to out[i, j + 1] (row i, column "
                     "j + 1) and c10 to out[i + 1, j]",
    "matmul_parallel": "for i in numba.prange(M): zero row i, then for k, for j: "
                       "out[i, j] += a[i, k] * b[k, j]",
}


def _diagnose(name, got, a, b, tile=None) -> str:
    """Name the likely bug from what came back."""
    got = np.asarray(got, dtype=np.float64)
    bad = np.isnan(got)
    if bad.any():
        rows, cols = np.nonzero(bad.any(axis=1))[0], np.nonzero(bad.any(axis=0))[0]
        if tile is not None and bad.sum() < bad.size:
            return (f"out has nan (never written) in rows {rows.tolist()} / columns "
                    f"{cols.tolist()} with tile = {tile}: the last block in each dimension is "
                    "smaller than the tile; loop to min(i0 + tile, M), and start blocks at "
                    "range(0, M, tile), not range(0, M - M % tile, tile)")
        if name in ("matmul_ikj", "matmul_blocked", "matmul_parallel"):
            return ("out came back with nan: it arrives holding garbage (np.empty; here: nan) "
                    "and you add into it, so set out[i, j] = 0 for every element first")
        return ("some elements of out are nan: out arrives holding garbage, so every element "
                "must be assigned (out[i, j] = ...)")
    if tile is not None:
        m, k, n = a.shape[0], a.shape[1], b.shape[1]
        mt, kt, nt = m - m % tile, k - k % tile, n - n % tile
        whole_tiles_only = np.zeros(got.shape)
        whole_tiles_only[:mt, :nt] = a[:mt, :kt] @ b[:kt, :nt]
        if _close(got, whole_tiles_only):
            return (f"only whole {tile} x {tile} tiles were computed: with tile = {tile} the "
                    f"last {m % tile} rows, {k % tile} terms of each sum and {n % tile} "
                    "columns are lost. Start blocks at range(0, M, tile) and end each one at "
                    "min(i0 + tile, M) (the same for K and N)")
    if a.shape[1] >= 1 and _close(got, a[:, :-1] @ b[:-1, :]):
        return "your sums miss the last term: k must run over range(K), all K terms"
    m, n = got.shape
    if name == "matmul_packed" and m >= 2 and n >= 2:
        swapped = (a @ b).copy()
        for i in range(0, m - m % 2, 2):
            for j in range(0, n - n % 2, 2):
                swapped[i, j + 1], swapped[i + 1, j] = swapped[i + 1, j], swapped[i, j + 1]
        if _close(got, swapped):
            return ("inside each 2 x 2 tile the off-diagonal results are swapped (transposed): "
                    "c01 = sum a[i, k] * bt[j + 1, k] goes to out[i, j + 1], c10 = sum "
                    "a[i + 1, k] * bt[j, k] to out[i + 1, j]")
    return HINTS[name]


def _check(student, name, a, b, what, fn=None, extra=()):
    out = _garbage((a.shape[0], b.shape[1]), a.dtype)
    if fn is None:
        call(student, name, out, a, b, *extra)
    else:
        _run_compiled(fn, name, out, a, b, *extra)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    rtol, atol = (1e-4, 1e-4) if a.dtype == np.float32 else (RTOL, ATOL)
    if not _close(out, expected, rtol, atol):
        expect_close(out, expected, rtol=rtol, atol=atol, what=what,
                     hint=_diagnose(name, out, a, b, extra[0] if extra else None))
    return out


def _compile(student, name: str, **options):
    """numba.njit of the student's function, after one interpreted call (a TODO left undone
    fails there, with feedback)."""
    call(student, name, *_PROBE, *_EXTRA.get(name, ()))
    return numba.njit(**options)(getattr(student, name))


def _run_compiled(fn, name: str, *args):
    try:
        fn(*args)
    except numba.core.errors.NumbaError as err:
        first = str(err).strip().splitlines()[0]
        pytest.fail(f"numba could not compile {name}: {first}\nhint: use only loops, numbers, "
                    "min, range (numba.prange), indexing like a[i, k], and np.empty for a "
                    "packed copy", pytrace=False)


# (M, K, N): 1 x 1, odd sizes in every dimension, K = 1, N = 1, M = 1, K = 0
SHAPES = [(1, 1, 1), (3, 5, 7), (7, 4, 2), (5, 1, 9), (2, 6, 1), (1, 3, 4), (13, 11, 17),
          (2, 0, 3)]


def _views():
    rng = np.random.default_rng(1)
    return [("a transposed (column-major)", rng.standard_normal((5, 3)).T,
             rng.standard_normal((5, 4))),
            ("b a sliced view (stride 2)", rng.standard_normal((3, 4)),
             rng.standard_normal((4, 10))[:, ::2])]


def _matches_numpy(student, name, extra=()):
    for m, k, n in SHAPES:
        a, b = _operands(m, k, n, seed=m * 100 + k * 10 + n)
        _check(student, name, a, b, f"{name} on ({m}, {k}) @ ({k}, {n})", extra=extra)
    for label, a, b in _views():
        _check(student, name, a, b, f"{name} on {a.shape} @ {b.shape}, {label}", extra=extra)


def _bit_identical(student, name, fn, shape=(9, 13, 7), extra=()):
    a, b = _operands(*shape, seed=5)
    got = _check(student, name, a, b, f"numba.njit({name}) on {a.shape} @ {b.shape}", fn=fn,
                 extra=extra)
    reference = np.empty_like(got)
    _ijk(reference, a, b)
    if not np.array_equal(got, reference):
        index = tuple(int(i) for i in np.argwhere(got != reference)[0])
        raise AssertionError(
            f"numba.njit({name}) is close to i-j-k but not bit-identical in float64: at "
            f"{index} got {got[index]!r}, i-j-k gives {reference[index]!r}\nhint: start every "
            "sum at 0 and add the K products of out[i, j] in order k = 0, 1, ..., K - 1 (no "
            "partial sums, no other order)")


# --- i-j-k ---------------------------------------------------------------------------------

@points(2)
def test_matmul_ijk_matches_numpy(student):
    """Odd shapes, K = 0, a transposed and a sliced operand."""
    _matches_numpy(student, "matmul_ijk")


@points(1)
def test_matmul_ijk_compiles_with_numba(student):
    """numba.njit compiles the i-j-k loops, in float64 and float32."""
    fn = _compile(student, "matmul_ijk")
    for dtype in (np.float64, np.float32):
        a, b = _operands(6, 5, 7, seed=2, dtype=dtype)
        _check(student, "matmul_ijk", a, b,
               f"numba.njit(matmul_ijk) on (6, 5) @ (5, 7) {np.dtype(dtype).name}", fn=fn)


# --- i-k-j ---------------------------------------------------------------------------------

@points(2)
def test_matmul_ikj_matches_numpy(student):
    """Odd shapes, K = 0, views, into an out that arrives as garbage."""
    _matches_numpy(student, "matmul_ikj")


@points(1)
def test_matmul_ikj_is_bit_identical_to_ijk(student):
    """Compiled, float64: the same products added in the same order as i-j-k."""
    _bit_identical(student, "matmul_ikj", _compile(student, "matmul_ikj"))


# --- blocked -------------------------------------------------------------------------------

@points(3)
def test_matmul_blocked_handles_every_tile_and_tail(student):
    """Tiles of 1, 2, 3, 4, 8 and 32 on shapes that no tile divides (and one that 4 and 2
    divide), so the last block in each dimension is a partial one."""
    for m, k, n in [(7, 5, 9), (8, 8, 8), (1, 3, 2), (17, 13, 11)]:
        a, b = _operands(m, k, n, seed=m + k + n)
        for tile in (1, 2, 3, 4, 8, 32):
            _check(student, "matmul_blocked", a, b,
                   f"matmul_blocked on ({m}, {k}) @ ({k}, {n}) with tile = {tile}",
                   extra=(tile,))


@points(1)
def test_matmul_blocked_compiles_and_is_bit_identical_to_ijk(student):
    """Compiled, float64, tile 4 on (9, 13) @ (13, 7): tails in every dimension."""
    _bit_identical(student, "matmul_blocked", _compile(student, "matmul_blocked"),
                   extra=(4,))


# --- packed --------------------------------------------------------------------------------

@points(3)
def test_matmul_packed_matches_numpy(student):
    """Even and odd M and N (rows and columns outside the 2 x 2 tiles), K = 0 and 1,
    rectangular operands and views."""
    _matches_numpy(student, "matmul_packed")
    a, b = _operands(6, 3, 4, seed=3)  # whole tiles only
    _check(student, "matmul_packed", a, b, "matmul_packed on (6, 3) @ (3, 4)")


@points(1)
def test_matmul_packed_compiles_with_numba(student):
    """numba.njit compiles the packed kernel (np.empty for the packed copy is fine), in
    float64 and float32, odd and even sizes."""
    fn = _compile(student, "matmul_packed")
    for dtype in (np.float64, np.float32):
        for m, k, n in [(8, 6, 4), (9, 5, 7)]:
            a, b = _operands(m, k, n, seed=4, dtype=dtype)
            _check(student, "matmul_packed", a, b,
                   f"numba.njit(matmul_packed) on ({m}, {k}) @ ({k}, {n}) "
                   f"{np.dtype(dtype).name}", fn=fn)


# --- parallel ------------------------------------------------------------------------------

@points(2)
def test_matmul_parallel_matches_numpy(student):
    """Run as plain Python (numba.prange is range there): odd shapes, K = 0, views."""
    _matches_numpy(student, "matmul_parallel")


class _Reversed:
    """Stands in for the ``numba`` module (or a bare ``prange``) inside the student's
    function: ``prange`` runs its iterations last to first, everything else is numba's."""

    def __init__(self):
        self.lengths = []

    def prange(self, *args):
        r = range(*args)
        self.lengths.append(len(r))
        return reversed(r)

    def __getattr__(self, name):
        return getattr(numba, name)


def _run_prange_reversed(fn, *args) -> list:
    """Call ``fn`` as plain Python with every prange loop run in reverse order; returns the
    lengths of the prange loops it ran."""
    fake = _Reversed()
    names = {"numba": fake, "prange": fake.prange}
    saved = {k: fn.__globals__[k] for k in names if k in fn.__globals__}
    try:
        for k in saved:
            fn.__globals__[k] = names[k]
        fn(*args)
    finally:
        fn.__globals__.update(saved)
    return fake.lengths


@points(2)
def test_matmul_parallel_uses_prange_without_a_race(student):
    """Threads run the iterations of a prange loop in any order and at the same time, so
    they must be independent. Checked twice: as plain Python with the prange iterations run
    last to first (deterministic: the result must not change, bit for bit), then compiled
    with parallel=True, several runs, each equal to i-j-k's float64 result."""
    call(student, "matmul_parallel", *_PROBE)  # a TODO left undone says so first
    fn = student.matmul_parallel
    a, b = _operands(9, 13, 7, seed=5)  # M, K and N all differ: the loop lengths tell
    out = _garbage((9, 7))
    lengths = _run_prange_reversed(fn, out, a, b)
    if not lengths:
        raise AssertionError("matmul_parallel does not use numba.prange: nothing runs in "
                             "parallel\nhint: for i in numba.prange(M): ... (rows of out)")
    reference = np.empty((9, 7))
    _ijk(reference, a, b)
    if not np.array_equal(out, reference):
        split = {9: "rows (M)", 13: "k (K, the summed dimension)", 7: "columns (N)"}
        what = ", ".join(split.get(n, f"a loop of {n}") for n in lengths)
        expect_close(out, reference, rtol=0, atol=0,
                     what=f"matmul_parallel with its prange iterations run in reverse order "
                          f"(your prange loops over {what}), (9, 13) @ (13, 7)",
                     hint="the iterations of a prange loop must be independent: threads run "
                          "them in any order and at once. Split the rows: for i in "
                          "numba.prange(M); never the k loop, whose iterations all add into "
                          "the same out[i, j] (a data race)")
    compiled = _compile(student, "matmul_parallel", parallel=True)
    a, b = _operands(48, 512, 48, seed=6)
    reference = np.empty((48, 48))
    _ijk(reference, a, b)
    for run in range(3):
        out = _garbage((48, 48))
        _run_compiled(compiled, "matmul_parallel", out, a, b)
        expect_close(out, reference, rtol=0, atol=0,
                     hint="each run must give i-j-k's bits: results that change from run to "
                          "run are a data race (two threads writing one out[i, j])",
                     what=f"numba.njit(parallel=True)(matmul_parallel) on "
                          f"{numba.get_num_threads()} threads, run {run + 1} of 3, "
                          "(48, 512) @ (512, 48)")


# --- fusion --------------------------------------------------------------------------------

def _relu_linear(x, w, b):
    z = x.astype(np.float64) @ w.T.astype(np.float64) + b
    return np.where(z < 0, 0.0, z)


def _check_linear_relu(student, x, w, b, what, fn=None):
    out = _garbage((x.shape[0], w.shape[0]), x.dtype)
    if fn is None:
        call(student, "linear_relu", out, x, w, b)
    else:
        _run_compiled(fn, "linear_relu", out, x, w, b)
    expected = _relu_linear(x, w, b)
    rtol, atol = (1e-4, 1e-4) if x.dtype == np.float32 else (RTOL, ATOL)
    if _close(out, expected, rtol, atol):
        return
    got = np.asarray(out, np.float64)
    z = x.astype(np.float64) @ w.T.astype(np.float64)
    if np.isnan(got).any():
        hint = "some elements of out are nan: write every out[i, j]"
    elif _close(got, np.maximum(z, 0) + b):
        hint = ("the ReLU was applied before the bias: add b[j] to the sum first, then take "
                "relu of the result")
    elif _close(got, z + b):
        hint = "no ReLU: out[i, j] = 0 where the biased sum is negative"
    elif _close(got, np.maximum(z, 0)):
        hint = "the bias is missing: add b[j] to every sum before the ReLU"
    else:
        hint = "out[i, j] = relu(b[j] + sum over k of x[i, k] * w[j, k]) (w is (N, K))"
    expect_close(out, expected, rtol=rtol, atol=atol, what=what, hint=hint)


@points(2)
def test_linear_relu_matches_numpy(student):
    """Positive and negative outputs, biases that flip the sign, K = 1, views."""
    rng = np.random.default_rng(7)
    for m, k, n in [(1, 1, 1), (4, 3, 5), (5, 6, 2), (3, 1, 4)]:
        x, w = rng.standard_normal((m, k)), rng.standard_normal((n, k))
        b = 2 * rng.standard_normal(n)  # large biases: some sums change sign
        _check_linear_relu(student, x, w, b,
                           f"linear_relu on x {x.shape}, w {w.shape}, b {b.shape}")
    x = rng.standard_normal((4, 3)).T  # (3, 4), column-major
    w = rng.standard_normal((2, 8))[:, ::2]  # (2, 4), stride 2 along k
    _check_linear_relu(student, x, w, np.array([0.5, -0.5]),
                       "linear_relu on a transposed x and a sliced w")


@points(1)
def test_linear_relu_compiles_with_numba(student):
    """numba.njit compiles the fused loops; float64 and float32 agree with numpy."""
    call(student, "linear_relu", np.empty((1, 1)), np.ones((1, 1)), np.ones((1, 1)),
         np.ones(1))
    fn = numba.njit(student.linear_relu)
    rng = np.random.default_rng(8)
    for dtype in (np.float64, np.float32):
        x = rng.standard_normal((6, 5)).astype(dtype)
        w = rng.standard_normal((4, 5)).astype(dtype)
        b = rng.standard_normal(4).astype(dtype)
        _check_linear_relu(student, x, w, b,
                           f"numba.njit(linear_relu) on x (6, 5) {np.dtype(dtype).name}",
                           fn=fn)
