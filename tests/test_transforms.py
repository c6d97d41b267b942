"""Image transforms (module 05): the kernels of kernels/transforms.py against a numpy oracle on
every CPU backend, the Transform classes (shapes, dtypes, values, randomness that is
reproducible, per image, independent of the global seed, and the same batched or one image at
a time), PyTorch cross-checks, and bad input refused before any kernel runs."""

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.data import transforms as T
from tinytorch.kernels import transforms as K
from tinytorch.testing import assert_close, assert_raises, tolerances

# --- the kernels, against the numpy oracle, on every backend ----------------------------


def _kernel(op):
    return tt.dispatch.kernel_for(op)[1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 0), (0, 5)])
def test_to_dtype_kernel_matches_numpy(backend, rng, dtype, shape):
    x = rng.integers(0, 256, shape).astype(np.uint8)
    for divisor in (255.0, 1.0):
        out, expected = np.empty(shape, dtype), np.empty(shape, dtype)
        _kernel("to_dtype_forward")(out, x, divisor)
        K.to_dtype_forward_numpy(expected, x, divisor)
        assert_close(out, expected)
    if x.size:  # 0..255 / 255 lands on [0, 1], both ends exactly
        out = np.empty((1, 2), dtype)
        _kernel("to_dtype_forward")(out, np.array([[0, 255]], np.uint8), 255.0)
        assert out.tolist() == [[0.0, 1.0]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 5), (3, 1, 4), (0, 2, 3)])
def test_normalize_kernel_matches_numpy(backend, rng, dtype, shape):
    x = rng.normal(size=shape).astype(dtype)
    mean = rng.normal(size=shape[1]).astype(dtype)
    std = rng.uniform(0.5, 2.0, shape[1]).astype(dtype)
    out = np.empty(shape, dtype)
    _kernel("normalize_forward")(out, x, mean, std)
    expected = (x - mean[None, :, None]) / std[None, :, None]
    assert_close(out, expected.astype(dtype))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_crop_kernel_matches_numpy_inside_across_and_outside_the_edges(backend, rng, dtype):
    x = rng.integers(0, 200, (6, 2, 5, 4)).astype(dtype)
    # inside, reaching past each edge, a corner, and a window that misses the image
    offsets = np.array([[0, 0], [-2, 1], [3, -1], [1, 2], [-1, -1], [9, 9]], np.int64)
    out, expected = np.empty((6, 2, 4, 3), dtype), np.empty((6, 2, 4, 3), dtype)
    _kernel("crop_forward")(out, x, offsets, fill=dtype(7))
    K.crop_forward_numpy(expected, x, offsets, fill=dtype(7))
    assert_close(out, expected)
    # the oracle itself, spelled out by padding for real (np.pad) and slicing
    padded = np.pad(x, ((0, 0), (0, 0), (3, 10), (3, 10)), constant_values=7)
    for n, (oy, ox) in enumerate(offsets):
        assert np.array_equal(expected[n], padded[n, :, oy + 3:oy + 7, ox + 3:ox + 6])


def test_crop_kernel_reads_non_contiguous_input(backend, rng):
    x = rng.normal(size=(2, 3, 8, 8)).astype(np.float32)[:, ::2, ::2, 1:]  # (2, 2, 4, 3)
    offsets = np.array([[0, 1], [-1, 0]], np.int64)
    out, expected = np.empty((2, 2, 3, 3), np.float32), np.empty((2, 2, 3, 3), np.float32)
    _kernel("crop_forward")(out, x, offsets, fill=np.float32(0))
    K.crop_forward_numpy(expected, x, offsets, fill=np.float32(0))
    assert_close(out, expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_hflip_kernel_matches_numpy(backend, rng, dtype):
    x = rng.integers(0, 200, (5, 2, 3, 4)).astype(dtype)
    flip = np.array([True, False, True, True, False])
    out, expected = np.empty_like(x), np.empty_like(x)
    _kernel("hflip_forward")(out, x, flip)
    K.hflip_forward_numpy(expected, x, flip)
    assert np.array_equal(out, expected)
    assert np.array_equal(out[0], x[0, :, :, ::-1]) and np.array_equal(out[1], x[1])


def test_jit_transform_kernels_are_the_naive_source_compiled_without_the_gil():
    for op in ("to_dtype", "normalize", "crop", "hflip"):
        jit = K.KERNELS[f"{op}_forward"]["jit"]
        assert jit.py_func is K.KERNELS[f"{op}_forward"]["naive"]
        assert jit.targetoptions["nogil"] is True, op  # the prefetch thread needs it


# --- the transforms ---------------------------------------------------------------------


def test_to_dtype_scales_uint8_and_casts_floats(backend, rng):
    images = rng.integers(0, 256, (3, 2, 4, 5)).astype(np.uint8)
    out = T.ToDtype(tt.float32, scale=True)(images)
    assert out.dtype == np.float32 and out.shape == images.shape
    assert_close(out, (images / 255.0).astype(np.float32))
    cast = T.ToDtype(tt.float64)(images)
    assert cast.dtype == np.float64 and np.array_equal(cast, images)
    assert T.ToDtype(tt.float64)(out).dtype == np.float64  # float to float: a plain cast


def test_normalize_per_channel_and_scalar(backend, rng):
    x = rng.uniform(0, 1, (4, 3, 2, 2)).astype(np.float32)
    mean, std = [0.1, 0.2, 0.3], [0.5, 1.0, 2.0]
    expected = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[
        :, None, None]
    assert_close(T.Normalize(mean, std)(x), expected)
    assert_close(T.Normalize(0.5, 0.25)(x), (x - np.float32(0.5)) / np.float32(0.25))
    one = T.Normalize(mean, std)(x[0])  # one CHW image
    assert one.shape == (3, 2, 2)
    assert_close(one, expected[0])


def test_a_tensor_in_gives_a_tensor_out_and_the_input_is_untouched(backend, rng):
    x = tt.tensor(rng.uniform(0, 1, (2, 1, 4, 4)), dtype=tt.float32)
    before = x.numpy().copy()
    for t in (T.Normalize(0.5, 0.5), T.RandomCrop(3, padding=1, generator=0),
              T.RandomHorizontalFlip(1.0, generator=0), T.ToDtype(tt.float64)):
        out = t(x)
        assert isinstance(out, tt.Tensor) and out.ndim == 4
        assert np.array_equal(x.numpy(), before)
    single = T.RandomHorizontalFlip(1.0)(x[0])
    assert isinstance(single, tt.Tensor) and single.shape == (1, 4, 4)
    assert_close(single, x.numpy()[0, :, :, ::-1])


def test_random_crop_reaches_every_position_including_the_padding(backend):
    """size 2 from a 3x3 image padded by 1 (5x5): the window's corner takes all 4x4 places
    in padded coordinates, i.e. offsets -1..2 in the image's, each one about equally often."""
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3) + 1  # no pixel is 0 (the fill)
    batch = np.repeat(x, 800 if backend != "naive" else 160, axis=0)
    crop = T.RandomCrop(2, padding=1, generator=0)
    out = crop(batch)
    padded = np.pad(x[0, 0], 1)
    seen = {}
    for img in out[:, 0]:
        places = [(i, j) for i in range(4) for j in range(4)
                  if np.array_equal(padded[i:i + 2, j:j + 2], img)]
        assert len(places) == 1, img  # each crop is exactly one window of the padded image
        seen[places[0]] = seen.get(places[0], 0) + 1
    assert len(seen) == 16
    assert min(seen.values()) > len(batch) / 16 / 3


def test_random_crop_rectangular_size_and_fill(backend, rng):
    x = rng.integers(1, 255, (3, 2, 4, 6)).astype(np.uint8)
    out = T.RandomCrop((2, 5), padding=3, fill=255, generator=1)(x)
    assert out.shape == (3, 2, 2, 5) and out.dtype == np.uint8
    no_pad = T.RandomCrop((4, 6), generator=1)(x)  # the whole image: the only window
    assert np.array_equal(no_pad, x)


def test_random_horizontal_flip_probability(backend):
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 1, 4)
    batch = np.repeat(x, 400, axis=0)
    assert np.array_equal(T.RandomHorizontalFlip(0.0)(batch), batch)
    assert np.array_equal(T.RandomHorizontalFlip(1.0)(batch), batch[..., ::-1])
    flipped = (T.RandomHorizontalFlip(0.5, generator=3)(batch)[:, 0, 0, 0] == 3).mean()
    assert 0.4 < flipped < 0.6


def _pipeline(seed):
    return T.Compose([T.RandomCrop(4, padding=2, generator=seed),
                      T.RandomHorizontalFlip(generator=seed + 1),
                      T.Normalize([0.5, 0.4], [0.2, 0.3])])


def test_random_transforms_are_reproducible_and_batched_equals_one_at_a_time(backend, rng):
    """One draw per image in image order: a batch of N gets the numbers of N single calls,
    which is why the loader's batched fast path equals the per-item path."""
    x = rng.uniform(0, 1, (6, 2, 5, 5)).astype(np.float32)
    batched = _pipeline(10)(x)
    assert np.array_equal(batched, _pipeline(10)(x))
    one_by_one = _pipeline(10)
    singles = np.stack([one_by_one(x[i]) for i in range(len(x))])
    assert np.array_equal(batched, singles)
    assert not np.array_equal(batched, _pipeline(20)(x))
    # a second batch continues the stream: different draws
    again = _pipeline(10)
    first, second = again(x), again(x)
    assert np.array_equal(first, batched) and not np.array_equal(second, first)


def test_default_generator_follows_manual_seed_and_leaves_the_model_stream_alone(backend):
    x = np.ones((50, 1, 4, 4), np.float32)
    tt.manual_seed(7)
    a = T.RandomCrop(3, padding=1)(x)
    model_numbers = tt.rand(5).tolist()
    tt.manual_seed(7)
    b = T.RandomCrop(3, padding=1)(x)
    assert np.array_equal(a, b)
    tt.manual_seed(7)
    assert tt.rand(5).tolist() == model_numbers  # augmentation drew nothing from it
    # a generator given explicitly ignores the global seed
    tt.manual_seed(1)
    c = T.RandomCrop(3, padding=1, generator=5)(x)
    tt.manual_seed(2)
    assert np.array_equal(c, T.RandomCrop(3, padding=1, generator=5)(x))
    gen = np.random.default_rng(5)
    assert np.array_equal(c, T.RandomCrop(3, padding=1, generator=gen)(x))


def test_compose_runs_in_order_with_plain_callables(backend):
    x = np.full((2, 1, 2, 2), 255, np.uint8)
    out = T.Compose([T.ToDtype(tt.float32, scale=True), lambda b: b * 3,
                     T.Normalize(1.0, 2.0)])(x)
    assert out.dtype == np.float32 and np.all(out == 1.0)
    assert "Normalize" in repr(T.Compose([T.Normalize(0, 1)]))


def test_uint8_crop_and_flip_then_convert_equals_convert_then_crop_and_flip(backend, rng):
    """Crop and flip move pixels and never compute: running them on 1-byte pixels before
    the float conversion (4x less memory traffic) gives the same images."""
    x = rng.integers(0, 256, (4, 3, 6, 6)).astype(np.uint8)
    early = T.Compose([T.RandomCrop(4, padding=1, generator=2), T.RandomHorizontalFlip(
        generator=3), T.ToDtype(tt.float32, scale=True)])(x)
    late = T.Compose([T.ToDtype(tt.float32, scale=True), T.RandomCrop(4, padding=1,
                                                                       generator=2),
                      T.RandomHorizontalFlip(generator=3)])(x)
    assert np.array_equal(early, late)


# --- PyTorch cross-checks ---------------------------------------------------------------


def test_against_pytorch(backend, rng):
    torch = pytest.importorskip("torch")
    x = rng.uniform(0, 1, (3, 3, 5, 6)).astype(np.float32)
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    theirs = (torch.from_numpy(x) - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(
        std).view(1, 3, 1, 1)
    assert_close(T.Normalize(mean, std)(x), theirs.numpy())
    assert_close(T.RandomHorizontalFlip(1.0)(x), torch.flip(torch.from_numpy(x), [3]).numpy())
    # RandomCrop: pad with torch, cut where our generator put each window
    crop = T.RandomCrop((4, 4), padding=2, generator=11)
    ours = crop(x)
    u = np.random.default_rng(11).random((3, 2))
    padded = torch.nn.functional.pad(torch.from_numpy(x), (2, 2, 2, 2))
    for n in range(3):
        top, left = int(u[n, 0] * (5 + 4 - 4 + 1)), int(u[n, 1] * (6 + 4 - 4 + 1))
        assert_close(ours[n], padded[n, :, top:top + 4, left:left + 4].numpy())
    pixels = rng.integers(0, 256, (2, 3, 4, 4)).astype(np.uint8)
    rtol, atol = tolerances(tt.float32)
    np.testing.assert_allclose(T.ToDtype(tt.float32, scale=True)(pixels),
                               torch.from_numpy(pixels).float().div(255).numpy(), rtol, atol)


# --- bad input, refused before any kernel runs -------------------------------------------


def test_bad_images_are_refused_before_any_kernel(spy):
    x = np.zeros((2, 3, 4, 4), np.float32)
    assert_raises(ValueError, lambda: T.Normalize(0, 1)(np.zeros((4, 4))), "(C, H, W)",
                  "(4, 4)")
    assert_raises(ValueError, lambda: T.Normalize(0, 1)(np.zeros((1, 1, 1, 1, 1))),
                  "(N, C, H, W)")
    assert_raises(TypeError, lambda: T.Normalize(0, 1)([[[0.0]]]), "list")
    assert_raises(ValueError, lambda: T.Normalize([0, 0], [1, 1])(x), "2 values",
                  "3 channels")
    assert_raises(TypeError, lambda: T.Normalize(0, 1)(x.astype(np.uint8)), "float images",
                  "ToDtype")
    assert_raises(TypeError, lambda: T.ToDtype(tt.float32, scale=True)(x), "uint8", "float32")
    assert_raises(ValueError, lambda: T.RandomCrop(9, padding=2)(x), "larger", "(4+4)x(4+4)")
    assert_raises(ValueError, lambda: T.RandomCrop(2, fill=300)(x.astype(np.uint8)), "300")
    assert_raises(ValueError, lambda: T.RandomCrop(2, fill=0.5)(x.astype(np.uint8)), "0.5")
    grad = tt.zeros(1, 2, 2, requires_grad=True)
    assert_raises(ValueError, lambda: T.RandomHorizontalFlip()(grad), "requires grad", "detach")
    assert spy == []


def test_bad_arguments_are_refused_at_construction():
    assert_raises(ValueError, lambda: T.Normalize(0, [1, 0]), "nonzero", "[1.0, 0.0]")
    assert_raises(ValueError, lambda: T.Normalize([[0.1]], 1), "flat")
    assert_raises(ValueError, lambda: T.Normalize(float("nan"), 1), "finite")
    assert_raises(TypeError, lambda: T.Normalize("a", 1), "number")
    assert_raises(ValueError, lambda: T.Normalize([], 1), "flat")
    assert_raises(TypeError, lambda: T.RandomCrop(2.5), "int", "2.5")
    assert_raises(ValueError, lambda: T.RandomCrop(0), ">= 1")
    assert_raises(ValueError, lambda: T.RandomCrop((1, 2, 3)), "(height, width)")
    assert_raises(ValueError, lambda: T.RandomCrop(2, padding=-1), "padding", ">= 0")
    assert_raises(TypeError, lambda: T.RandomCrop(2, fill="0"), "fill")
    assert_raises(TypeError, lambda: T.RandomCrop(2, generator="seed"), "generator")
    assert_raises(ValueError, lambda: T.RandomCrop(2, generator=-1), ">= 0")
    assert_raises(ValueError, lambda: T.RandomHorizontalFlip(1.5), "[0, 1]", "1.5")
    assert_raises(TypeError, lambda: T.RandomHorizontalFlip(True), "number")
    assert_raises(ValueError, lambda: T.ToDtype(tt.int64), "float32 or float64")
    assert_raises(TypeError, lambda: T.ToDtype(tt.float32, scale=1), "True or False")
    assert_raises(TypeError, lambda: T.Compose(T.Normalize(0, 1)), "list")
    assert_raises(TypeError, lambda: T.Compose([T.Normalize]), "item 0", "class Normalize",
                  "Normalize(...)")
    assert_raises(TypeError, lambda: T.Compose([3]), "item 0", "int")
