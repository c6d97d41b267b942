def roof_fraction(flops: float, nbytes: float, seconds: float, *, peak_gflops: float,
                  peak_gbs: float) -> tuple:
    # bug: the fraction of the compute peak, whatever the intensity
    gflops = flops / seconds / 1e9
    slope = flops / nbytes * peak_gbs
    return gflops, gflops / peak_gflops, "memory" if slope < peak_gflops else "compute"
