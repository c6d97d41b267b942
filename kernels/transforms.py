"""Image transform kernels (module 05): dtype conversion, per-channel normalisation, padded
crop and horizontal flip, on whole batches of images.

Shape letters: ``N`` images, ``C`` channels, ``H`` x ``W`` pixels in, ``h`` x ``w`` out,
``L = H * W``. A single ``(C, H, W)`` image is a batch of one: the function layer
(``tinytorch.data.transforms``) views it as ``(1, C, H, W)``, so every kernel loops over a
batch and one call serves a whole batch.

Math, per element:

- ``to_dtype``: ``out[r, k] = x[r, k] / divisor`` on 2-D ``(N, C*H*W)`` views (uint8 pixels
  to floats in ``[0, 1]`` with ``divisor=255.0``; the quotient is computed in float64 and
  rounded once to the output dtype, on every backend).
- ``normalize``: ``out[n, c, l] = (x[n, c, l] - mean[c]) / std[c]`` on ``(N, C, L)``; ``mean``
  and ``std`` are ``(C,)`` in the dtype of ``x``.
- ``crop``: ``out[n, c, i, j] = x[n, c, oy + i, ox + j]`` where that pixel exists, else
  ``fill``; ``(oy, ox) = offsets[n]`` is the crop window's corner in ``x``'s coordinates and
  may be negative or reach past the edge: that is zero padding, read without ever building
  the padded image. ``RandomCrop(padding=p)`` draws ``oy`` in ``[-p, H + p - h]``.
- ``hflip``: ``out[n, c, i, j] = x[n, c, i, W - 1 - j]`` where ``flip[n]``, else ``x[n, c, i, j]``.

Cost: every kernel is pure data movement, memory-bound. With ``s`` bytes per input element
and ``t`` per output element: ``to_dtype`` does 1 FLOP and moves ``s + t`` bytes per element
(1 + 4 for uint8 to float32); ``normalize`` 2 FLOPs and ``2 t`` bytes; ``crop`` and ``hflip``
no FLOPs and at most ``s + t`` bytes per output element (padding is written, never read).
A batch of 32 CIFAR images (3x32x32) is 98,304 elements: about 0.5 MB through ``to_dtype``.

Which variant teaches what:

- **naive**: one pixel at a time, the specification.
- **jit**: the same source compiled, with ``nogil=True``: the loops touch no Python object,
  so they can run without the interpreter lock, and a ``DataLoader(prefetch=N)`` thread
  transforms the next batch *while* the main thread trains on this one (the whole point of
  prefetching; with the lock held, the two threads would just take turns).
- **numpy**: whole-array operations: the oracle.

Outputs first, as everywhere: ``crop_forward(out, x, offsets, fill=0)``.

>>> import numpy as np
>>> x = np.arange(6, dtype=np.uint8).reshape(1, 1, 2, 3)
>>> out = np.empty((1, 1, 2, 3), np.uint8)
>>> hflip_forward_naive(out, x, np.array([True]))
>>> out[0, 0].tolist()
[[2, 1, 0], [5, 4, 3]]
>>> crop_forward_naive(out[:, :, :1, :2], x, np.array([[-1, 1]]), fill=9)
>>> out[0, 0, :1, :2].tolist()
[[9, 9]]
"""

import numpy as np
from numba import njit

# --- naive ------------------------------------------------------------------------------


def to_dtype_forward_naive(out, x, divisor):
    for r in range(x.shape[0]):
        for k in range(x.shape[1]):
            out[r, k] = x[r, k] / divisor


def normalize_forward_naive(out, x, mean, std):
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            m = mean[c]
            s = std[c]
            for k in range(x.shape[2]):
                out[n, c, k] = (x[n, c, k] - m) / s


def crop_forward_naive(out, x, offsets, fill):
    height, width = x.shape[2], x.shape[3]
    for n in range(out.shape[0]):
        oy = offsets[n, 0]
        ox = offsets[n, 1]
        for c in range(out.shape[1]):
            for i in range(out.shape[2]):
                row = oy + i
                for j in range(out.shape[3]):
                    col = ox + j
                    if 0 <= row < height and 0 <= col < width:
                        out[n, c, i, j] = x[n, c, row, col]
                    else:
                        out[n, c, i, j] = fill


def hflip_forward_naive(out, x, flip):
    last = x.shape[3] - 1
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(x.shape[2]):
                for j in range(x.shape[3]):
                    if flip[n]:
                        out[n, c, i, j] = x[n, c, i, last - j]
                    else:
                        out[n, c, i, j] = x[n, c, i, j]


# --- jit --------------------------------------------------------------------------------


def _jit_nogil(fn):
    """The jit twin of a naive kernel (literally the same source), compiled without the GIL
    so that a prefetch thread overlaps it with the main thread's training step."""
    return njit(cache=True, error_model="numpy", nogil=True)(fn)


to_dtype_forward_jit = _jit_nogil(to_dtype_forward_naive)
normalize_forward_jit = _jit_nogil(normalize_forward_naive)
crop_forward_jit = _jit_nogil(crop_forward_naive)
hflip_forward_jit = _jit_nogil(hflip_forward_naive)


# --- numpy ------------------------------------------------------------------------------


def to_dtype_forward_numpy(out, x, divisor):
    # in float64, as the loops compute it, then one rounding to out's dtype
    np.divide(x, np.float64(divisor), out=out, casting="unsafe")


def normalize_forward_numpy(out, x, mean, std):
    np.subtract(x, mean[None, :, None], out=out)
    np.divide(out, std[None, :, None], out=out)


def crop_forward_numpy(out, x, offsets, fill):
    height, width = x.shape[2], x.shape[3]
    h, w = out.shape[2], out.shape[3]
    out[...] = fill
    for n in range(out.shape[0]):
        oy, ox = int(offsets[n, 0]), int(offsets[n, 1])
        # the window's overlap with the image, in the image's and in the output's coordinates
        top, bottom = max(oy, 0), min(oy + h, height)
        left, right = max(ox, 0), min(ox + w, width)
        if top < bottom and left < right:
            out[n, :, top - oy:bottom - oy, left - ox:right - ox] = x[n, :, top:bottom,
                                                                      left:right]


def hflip_forward_numpy(out, x, flip):
    out[...] = x
    out[flip] = x[flip][..., ::-1]


# --- table ------------------------------------------------------------------------------

KERNELS = {
    f"{op}_forward": {"naive": globals()[f"{op}_forward_naive"],
                      "jit": globals()[f"{op}_forward_jit"],
                      "numpy": globals()[f"{op}_forward_numpy"]}
    for op in ("to_dtype", "normalize", "crop", "hflip")
}
