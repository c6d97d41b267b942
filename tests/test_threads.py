"""tinytorch.threads (thread counts, limits, the backend policy, info) and the contention
reproduction in tinytorch.examples.threads. No timing assertions: timings are reported by
the example, never checked here."""

import warnings

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info

import tinytorch as tt
from tinytorch import threads
from tinytorch.examples import threads as example


def _blas_counts():
    """The BLAS thread counts as threadpoolctl sees them afresh (not through our cache)."""
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


@pytest.fixture(autouse=True)
def _restore_threads():
    """Every test leaves both pools, the policy and its bookkeeping as it found them."""
    numba_before = numba.get_num_threads()
    libs = threads._blas_libs()
    blas_before = [lib.get_num_threads() for lib in libs]
    saved = (threads._policy, list(threads._blas_original), threads._blas_applied)
    yield
    numba.set_num_threads(numba_before)
    for lib, n in zip(libs, blas_before, strict=True):
        lib.set_num_threads(n)
    threads._policy, threads._blas_original, threads._blas_applied = saved


@pytest.fixture
def two_threads():
    """Tests that lower a count from 2 need 2 to start with (numba and BLAS both)."""
    if numba.config.NUMBA_NUM_THREADS < 2 or not _blas_counts():
        pytest.fail("these tests need numba with 2+ threads and a BLAS (numpy's OpenBLAS)")
    threads.set_num_threads(2)


def _use(fn, n):
    """set_num_threads acts at once; limit_blas and limit_numba act when entered."""
    result = fn(n)
    if hasattr(result, "__enter__"):
        with result:
            pass


# --- counts and limits ----------------------------------------------------------------------

def test_get_num_threads_matches_the_pools():
    counts = threads.get_num_threads()
    assert counts["numba"] == numba.get_num_threads()
    assert counts["blas"] == max(_blas_counts())


def test_set_num_threads_sets_both_pools(two_threads):
    threads.set_num_threads(1)
    assert numba.get_num_threads() == 1
    assert _blas_counts() and set(_blas_counts()) == {1}
    threads.set_num_threads(2)
    assert threads.get_num_threads() == {"numba": 2, "blas": 2}


def test_set_num_threads_can_leave_one_pool_alone(two_threads):
    threads.set_num_threads(1, blas=False)
    assert threads.get_num_threads() == {"numba": 1, "blas": 2}
    threads.set_num_threads(2, blas=False)
    threads.set_num_threads(1, numba_pool=False)
    assert threads.get_num_threads() == {"numba": 2, "blas": 1}


def test_limit_blas_restores(two_threads):
    with threads.limit_blas(1) as n:
        assert n == 1
        assert set(_blas_counts()) == {1}
        assert numba.get_num_threads() == 2  # the other pool is untouched
    assert set(_blas_counts()) == {2}


def test_limit_blas_restores_on_exception(two_threads):
    with pytest.raises(RuntimeError, match="boom"), threads.limit_blas(1):
        raise RuntimeError("boom")
    assert set(_blas_counts()) == {2}


def test_limit_blas_nests(two_threads):
    with threads.limit_blas(1):
        with threads.limit_blas(2):
            assert set(_blas_counts()) == {2}
        assert set(_blas_counts()) == {1}
    assert set(_blas_counts()) == {2}


def test_limit_numba_restores_on_exception(two_threads):
    with pytest.raises(KeyError), threads.limit_numba(1):
        assert numba.get_num_threads() == 1
        assert set(_blas_counts()) == {2}
        raise KeyError("x")
    assert numba.get_num_threads() == 2


def test_limited_pools_still_compute_right(two_threads):
    from tinytorch.kernels import matmul as mm  # noqa: PLC0415

    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, 33, 17))
    b = rng.standard_normal((1, 17, 9))
    out = np.empty((1, 33, 9))
    with threads.limit_numba(1), threads.limit_blas(1):
        mm.matmul_forward_jit_parallel(out, a, b)
        expected = a @ b
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", [threads.set_num_threads, threads.limit_blas,
                                threads.limit_numba])
@pytest.mark.parametrize("bad", [2.0, "2", None, True])
def test_a_count_that_is_not_an_int_is_a_type_error(fn, bad, two_threads):
    with pytest.raises(TypeError, match=r"must be an int number of threads, got .*\nhint"):
        _use(fn, bad)
    assert threads.get_num_threads() == {"numba": 2, "blas": 2}


@pytest.mark.parametrize("fn", [threads.set_num_threads, threads.limit_blas,
                                threads.limit_numba])
@pytest.mark.parametrize("bad", [0, -1])
def test_a_count_below_one_is_a_value_error(fn, bad, two_threads):
    with pytest.raises(ValueError, match=rf"at least 1 thread, got {bad}\nhint"):
        _use(fn, bad)
    assert threads.get_num_threads() == {"numba": 2, "blas": 2}


def test_more_numba_threads_than_the_process_has_is_a_value_error(two_threads):
    top = numba.config.NUMBA_NUM_THREADS
    with pytest.raises(ValueError, match=rf"at most {top} threads.*got {top + 1}\n"
                                         rf"hint: .*NUMBA_NUM_THREADS={top + 1}"):
        threads.set_num_threads(top + 1)
    # nothing half-done: BLAS was not changed either
    assert threads.get_num_threads() == {"numba": 2, "blas": 2}


# --- policy ---------------------------------------------------------------------------------

def test_auto_policy_gives_blas_one_thread_under_jit_and_restores(two_threads):
    threads.set_policy("auto")
    threads.apply_backend_policy("jit")
    assert set(_blas_counts()) == {1}
    assert numba.get_num_threads() == 2  # numba's pool is the jit backend's: untouched
    threads.apply_backend_policy("jit")  # again: nothing changes
    assert set(_blas_counts()) == {1}
    threads.apply_backend_policy("numpy")
    assert set(_blas_counts()) == {2}
    threads.apply_backend_policy("naive")
    assert set(_blas_counts()) == {2}


def test_auto_policy_restores_the_users_count(two_threads):
    threads.set_policy("auto")
    threads.set_num_threads(1, numba_pool=False)  # the user's choice for BLAS
    threads.apply_backend_policy("jit")
    threads.apply_backend_policy("numpy")
    assert set(_blas_counts()) == {1}


def test_off_policy_restores_and_then_leaves_blas_alone(two_threads):
    threads.set_policy("auto", backend="jit")
    assert set(_blas_counts()) == {1}
    threads.set_policy("off")
    assert set(_blas_counts()) == {2}
    threads.apply_backend_policy("jit")
    assert set(_blas_counts()) == {2}


def test_policy_from_the_environment(monkeypatch):
    threads._policy = None
    monkeypatch.setenv(threads.POLICY_ENV_VAR, "off")
    assert threads.get_policy() == "off"
    monkeypatch.delenv(threads.POLICY_ENV_VAR)
    assert threads.get_policy() == "auto"
    monkeypatch.setenv(threads.POLICY_ENV_VAR, "fast")
    with pytest.raises(ValueError, match=r"TINYTORCH_THREADS='fast' is not a thread policy; "
                                         r"policies: auto, off"):
        threads.get_policy()


def test_bad_policy():
    with pytest.raises(ValueError, match=r"unknown thread policy 'on'; policies: auto, off"):
        threads.set_policy("on")
    with pytest.raises(TypeError, match="policy must be a string"):
        threads.set_policy(1)


# --- info -----------------------------------------------------------------------------------

def test_info_structure():
    report = threads.info()
    assert set(report) == {"numba", "blas", "openmp", "policy", "env"}
    assert report["numba"]["threads"] == numba.get_num_threads()
    assert report["numba"]["max_threads"] == numba.config.NUMBA_NUM_THREADS
    assert report["numba"]["layer"] in (None, "omp", "tbb", "workqueue")
    assert report["blas"], "numpy's BLAS should be found"
    for lib in report["blas"] + report["openmp"]:
        assert set(lib) == {"library", "version", "threads", "filepath"}
        assert isinstance(lib["threads"], int) and lib["threads"] >= 1
    assert report["policy"] in threads.POLICIES
    assert all(isinstance(v, str) for v in report["env"].values())


def test_info_names_the_layer_after_a_parallel_kernel():
    from tinytorch.kernels import matmul as mm  # noqa: PLC0415

    a = np.ones((1, 8, 8), np.float32)
    mm.matmul_forward_jit_parallel(np.empty_like(a), a, a)
    assert threads.info()["numba"]["layer"] == numba.threading_layer()


def test_info_follows_limits(two_threads):
    with threads.limit_blas(1):
        assert {lib["threads"] for lib in threads.info()["blas"]} == {1}


# --- the reproduction -----------------------------------------------------------------------

ROW_FIELDS = {"policy", "where", "n", "jit_alone_us", "blas_alone_us", "pair_us",
              "jit_in_pair_us", "blas_in_pair_us", "slowdown", "vs_default_alone"}


def test_contention_table_on_tiny_sizes(two_threads):
    rows = example.contention_table(sizes=(8, 12), rounds=2, reps=2, settle=0.0, children=())
    assert {(r["policy"], r["n"]) for r in rows} == {
        (p, n) for p in example.POLICIES for n in (8, 12)}
    for r in rows:
        assert set(r) == ROW_FIELDS
        assert r["where"] == "process"
        for field in ROW_FIELDS - {"policy", "where", "n"}:
            assert r[field] > 0 and np.isfinite(r[field])
    # the table left the pools as the policy wants them for the backend in use (under jit
    # and "auto": BLAS on one thread), not at whatever width its last row used
    auto_jit = threads.get_policy() == "auto" and tt.get_backend() == "jit"
    assert threads.get_num_threads() == {"numba": 2, "blas": 1 if auto_jit else 2}


def test_contention_table_runs_a_child_process():
    rows = example.contention_table(sizes=(8,), rounds=1, reps=1, settle=0.0,
                                    policies=["default"], children=["workqueue"])
    child = [r for r in rows if r["where"] == "child"]
    assert [r["policy"] for r in child] == ["workqueue"]
    assert set(child[0]) == ROW_FIELDS


def test_contention_table_switches_the_policy_off_and_back(two_threads):
    threads.set_policy("auto", backend="jit")
    seen = []
    real = example._measure

    def spy(n, policy, reps, settle):
        seen.append((threads.get_policy(), tuple(_blas_counts())))
        return real(n, policy, reps, settle)

    example._measure = spy
    try:
        example.contention_table(sizes=(8,), rounds=1, reps=1, settle=0.0,
                                 policies=["default"], children=())
    finally:
        example._measure = real
    assert seen == [("off", (2,))]  # the default policy ran on both pools at full width
    assert threads.get_policy() == "auto"


@pytest.mark.parametrize("kwargs, message", [
    ({"sizes": ()}, "sizes must be positive"),
    ({"sizes": (0,)}, "sizes must be positive"),
    ({"rounds": 0}, "rounds and reps must be at least 1"),
    ({"policies": ["fastest"]}, r"unknown policies \['fastest'\]"),
    ({"children": ["nope"]}, r"unknown policies \['nope'\]; in-process: default"),
])
def test_contention_table_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        example.contention_table(**{"children": (), **kwargs})


def test_command_prints_the_table(capsys, tmp_path):
    path = tmp_path / "rows.json"
    assert example.main(["--sizes", "8", "--rounds", "1", "--reps", "1", "--settle", "0",
                         "--no-children", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| policy | where | n |" in out
    assert "| blas_1 | process | 8 |" in out
    assert "numba" in out and "BLAS" in out
    import json  # noqa: PLC0415

    saved = json.loads(path.read_text())
    assert {r["policy"] for r in saved["rows"]} == set(example.POLICIES)
    assert set(saved) == {"others_load", "info", "rows"}


def test_info_reports_a_bad_policy_variable_instead_of_failing(monkeypatch):
    threads._policy = None
    monkeypatch.setenv(threads.POLICY_ENV_VAR, "fast")
    report = threads.info()
    assert report["policy"].startswith("invalid (TINYTORCH_THREADS='fast' is not")
    assert report["env"][threads.POLICY_ENV_VAR] == "fast"


def test_a_bad_policy_setting_warns_once_and_never_breaks_a_backend_switch(monkeypatch):
    from tinytorch import dispatch

    monkeypatch.setenv("TINYTORCH_THREADS", "bogus")
    monkeypatch.setattr(dispatch, "_thread_policy_warned", [])
    before = tt.get_backend()
    with pytest.warns(RuntimeWarning, match="TINYTORCH_THREADS='bogus' is not a thread policy"):
        with tt.backend("numpy"):
            assert tt.get_backend() == "numpy"
    assert tt.get_backend() == before  # the block ended cleanly
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once only
        with tt.backend("numpy"):
            pass


def test_an_explicit_blas_limit_wins_over_the_backend_policy(two_threads):
    threads.set_policy("auto", backend="jit")
    try:
        with threads.limit_blas(2):
            with tt.backend("numpy"):
                pass
            with tt.backend("jit"):
                assert threads.get_num_threads()["blas"] == 2
            assert threads.get_num_threads()["blas"] == 2
    finally:
        threads.set_policy("auto", backend=tt.get_backend())
