def check_then_time(fn, args, expected, *, timer, rtol: float = 1e-5, atol: float = 1e-8):
    # bug: times first, checks after: a wrong kernel has already been timed (and reported)
    timing = timer(lambda: fn(*args))
    got, want = np.asarray(fn(*args)), np.asarray(expected)
    if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
        raise ValueError("wrong result, not timed")
    return timing
