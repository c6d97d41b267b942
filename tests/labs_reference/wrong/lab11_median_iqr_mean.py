def median_iqr(times) -> tuple:
    # bug: the mean, which one interrupted round drags along
    times = list(times)
    if len(times) == 1:
        return times[0], 0.0
    q1, _, q3 = statistics.quantiles(times, n=4)
    return statistics.mean(times), q3 - q1
