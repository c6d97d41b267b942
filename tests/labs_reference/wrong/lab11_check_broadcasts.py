def check_then_time(fn, args, expected, *, timer, rtol: float = 1e-5, atol: float = 1e-8):
    # bug: no shape check; np.allclose broadcasts a (1,) result against any expected array
    got = fn(*args)
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        raise ValueError("wrong result, not timed")
    return timer(lambda: fn(*args))
