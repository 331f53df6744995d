"""The augmentation ops (fastcnn.augment) against fastcnn.reference, and their geometry.

The native ops draw nothing: each image's parameters are arguments, so the
reference sees the same ones and the results must match (bit for bit for
flips, crops and warps, whose arithmetic is the same double-precision
formula; to rounding for contrast and brightness).
"""

import itertools

import numpy as np
import pytest

import fastcnn
import fastcnn.augment as A
import fastcnn.reference as R

from _helpers import using_threads

LAYOUTS = ("channels_first", "channels_last")
DTYPES = (np.float32, np.float64)


def images(rng, n, c, h, w, dtype, data_format):
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if data_format == "channels_last" else x


def to_first(a, data_format):
    return a.transpose(0, 3, 1, 2) if data_format == "channels_last" else a


@pytest.mark.parametrize("data_format", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (3, 3, 7, 9), (2, 5, 16, 3), (4, 2, 32, 32)])
def test_flip_matches_reference_and_numpy(shape, dtype, data_format):
    rng = np.random.default_rng(0)
    x = images(rng, *shape, dtype, data_format)
    flags = np.arange(shape[0], dtype=np.uint8) % 4
    out = A.flip_images(x, flags, data_format)
    np.testing.assert_array_equal(out, R.flip_images(x, flags, data_format))
    first, got = to_first(x, data_format), to_first(out, data_format)
    for n, f in enumerate(flags):
        want = first[n]
        want = want[:, :, ::-1] if f & 1 else want
        want = want[:, ::-1, :] if f & 2 else want
        np.testing.assert_array_equal(got[n], want)


@pytest.mark.parametrize("data_format", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [(1, 1), (5, 8), (12, 4), (9, 9)])
def test_crop_matches_reference_and_padded_slice(size, dtype, data_format):
    rng = np.random.default_rng(1)
    x = images(rng, 5, 3, 7, 9, dtype, data_format)
    corners = rng.integers(-6, 9, (5, 2))
    out = A.crop_images(x, corners, size, 0.5, data_format)
    np.testing.assert_array_equal(out, R.crop_images(x, corners, size, 0.5, data_format))
    padded = np.pad(to_first(x, data_format), ((0, 0), (0, 0), (20, 20), (20, 20)), constant_values=0.5)
    for n, (t, left) in enumerate(corners):
        want = padded[n, :, 20 + t : 20 + t + size[0], 20 + left : 20 + left + size[1]]
        np.testing.assert_array_equal(to_first(out, data_format)[n], want)


WARP_CASES = list(itertools.product(("bilinear", "nearest"), ("reflect", "wrap", "nearest", "constant")))


@pytest.mark.parametrize("data_format", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("interpolation", "fill_mode"), WARP_CASES)
def test_warp_matches_reference(interpolation, fill_mode, dtype, data_format):
    rng = np.random.default_rng(2)
    x = images(rng, 6, 3, 11, 8, dtype, data_format)
    maps = np.concatenate(
        [
            A.rotation_maps(rng.uniform(-3, 3, 2), 11, 8),
            A.translation_maps(rng.uniform(-20, 20, 2), rng.uniform(-20, 20, 2)),
            A.zoom_maps(rng.uniform(0.3, 3, 2), rng.uniform(0.3, 3, 2), 11, 8),
        ]
    )
    for size in (None, (5, 13)):
        out = A.warp_affine(x, maps, size, interpolation, fill_mode, 0.25, data_format)
        want = R.warp_affine(x, maps, size, interpolation, fill_mode, 0.25, data_format)
        np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "nearest", "constant"])
def test_fill_modes_follow_keras_patterns(fill_mode):
    """A row a b c d moved right by 2, then 6: what each mode puts in the gap."""
    x = np.arange(1.0, 5.0).reshape(1, 1, 1, 4)  # a b c d = 1 2 3 4
    shifted = [
        A.warp_affine(x, A.translation_maps([0.0], [dx]), None, "nearest", fill_mode, -1.0)[0, 0, 0]
        for dx in (2.0, 6.0)
    ]
    want = {
        "reflect": ([2, 1, 1, 2], [3, 4, 4, 3]),  # (d c b a | a b c d | d c b a)
        "wrap": ([3, 4, 1, 2], [3, 4, 1, 2]),  # (a b c d | a b c d)
        "nearest": ([1, 1, 1, 2], [1, 1, 1, 1]),  # (a a a a | a b c d)
        "constant": ([-1, -1, 1, 2], [-1, -1, -1, -1]),
    }[fill_mode]
    np.testing.assert_array_equal(shifted[0], want[0])
    np.testing.assert_array_equal(shifted[1], want[1])


def test_quarter_turn_is_rot90_and_integer_shift_is_a_slice():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 6))
    turned = A.warp_affine(x, A.rotation_maps([np.pi / 2, -np.pi / 2], 6, 6), interpolation="bilinear")
    np.testing.assert_allclose(turned[0], np.rot90(x[0], 1, axes=(1, 2)), atol=1e-12)  # counter-clockwise
    np.testing.assert_allclose(turned[1], np.rot90(x[1], -1, axes=(1, 2)), atol=1e-12)
    moved = A.warp_affine(x, A.translation_maps([1.0, -2.0], [2.0, 0.0]), fill_mode="constant")
    np.testing.assert_array_equal(moved[0, :, 1:, 2:], x[0, :, :-1, :-2])
    np.testing.assert_array_equal(moved[0, :, :1], 0)
    np.testing.assert_array_equal(moved[1, :, :-2], x[1, :, 2:])


def test_bilinear_interpolates_between_pixels():
    x = np.array([[[[0.0, 10.0, 20.0]]]])
    half = A.warp_affine(x, A.translation_maps([0.0], [0.5]), fill_mode="nearest")
    np.testing.assert_allclose(half[0, 0, 0], [0.0, 5.0, 15.0])


@pytest.mark.parametrize("data_format", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_adjust_matches_reference_and_formula(dtype, data_format):
    rng = np.random.default_rng(4)
    x = images(rng, 5, 3, 6, 7, dtype, data_format)
    contrast, brightness = rng.uniform(0, 2, 5), rng.normal(size=5)
    contrast[0] = 1.0
    tol = 1e-6 if dtype == np.float32 else 1e-13
    for value_range in (None, (-1.0, 1.5)):
        out = A.adjust_images(x, contrast, brightness, value_range, data_format)
        assert out.dtype == dtype
        np.testing.assert_allclose(
            out, R.adjust_images(x, contrast, brightness, value_range, data_format), atol=tol
        )
    first = to_first(x, data_format).astype(np.float64)
    mean = first.mean(axis=(2, 3), keepdims=True)
    want = (first - mean) * contrast[:, None, None, None] + mean + brightness[:, None, None, None]
    np.testing.assert_allclose(
        to_first(A.adjust_images(x, contrast, brightness, None, data_format), data_format),
        want,
        atol=10 * tol,
    )


def test_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(5)
    x = images(rng, 64, 3, 32, 32, np.float32, "channels_first")
    maps = A.rotation_maps(rng.uniform(-1, 1, 64), 32, 32)
    calls = [
        lambda: A.flip_images(x, np.arange(64) % 4),
        lambda: A.crop_images(x, rng_corners, (32, 32)),
        lambda: A.warp_affine(x, maps),
        lambda: A.adjust_images(x, np.linspace(0.5, 1.5, 64), np.linspace(-1, 1, 64), (0, 1)),
    ]
    rng_corners = rng.integers(-4, 5, (64, 2))
    fastcnn._C.set_grain_scale(0.0)  # every call may use every thread
    try:
        for call in calls:
            with using_threads(1):
                one = call()
            with using_threads(2):
                two = call()
            np.testing.assert_array_equal(one, two)
    finally:
        fastcnn._C.set_grain_scale(1.0)


def test_non_contiguous_and_integer_input():
    rng = np.random.default_rng(6)
    base = rng.standard_normal((4, 3, 10, 12))
    view = base[::2, :, 1:9, ::2]  # strided view
    flags = np.array([1, 2], np.uint8)
    np.testing.assert_array_equal(
        A.flip_images(view, flags), R.flip_images(np.ascontiguousarray(view), flags)
    )
    bytes_ = rng.integers(0, 256, (2, 1, 4, 4)).astype(np.uint8)
    out = A.flip_images(bytes_, [1, 0])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0, 0], bytes_[0, 0, :, ::-1])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x: A.flip_images(x, [0, 1]), r"flags must have shape \(3,\)"),
        (lambda x: A.flip_images(x, [0, 1, 7]), "flags must be 0-3"),
        (lambda x: A.flip_images(x[0], [0]), "x must be 4-D"),
        (lambda x: A.crop_images(x, [[0, 0]] * 3, (0, 2)), "size must be positive"),
        (lambda x: A.crop_images(x, [0, 0, 0], (2, 2)), r"corners must have shape \(3, 2\)"),
        (lambda x: A.warp_affine(x, np.zeros((3, 5))), r"maps must have shape \(3, 6\)"),
        (lambda x: A.warp_affine(x, np.full((3, 6), np.nan)), "maps must be finite"),
        (lambda x: A.warp_affine(x, np.zeros((3, 6)), fill_mode="mirror"), "fill_mode must be one of"),
        (lambda x: A.warp_affine(x, np.zeros((3, 6)), interpolation="cubic"), "interpolation must be"),
        (lambda x: A.adjust_images(x, [1.0, 2.0]), r"contrast must have shape \(3,\)"),
        (lambda x: A.adjust_images(x, 1.0, 0.0, (2, 1)), "value_range must be"),
        (lambda x: A.flip_images(x, [0, 0, 0], data_format="NHWC"), "data_format must be one of"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    x = np.zeros((3, 2, 4, 5), np.float32)
    with pytest.raises(ValueError, match=match):
        call(x)


def test_random_draws_are_seeded_and_keras_shaped():
    rng = np.random.default_rng(7)
    x = images(rng, 16, 3, 12, 10, np.float32, "channels_first")
    for fn, kw in [
        (A.random_flip, {"mode": "horizontal"}),
        (A.random_crop, {"height": 8, "width": 8, "padding": 2}),
        (A.random_translation, {"height_factor": 0.2, "width_factor": 0.1}),
        (A.random_rotation, {"factor": 0.1}),
        (A.random_zoom, {"height_factor": (-0.2, 0.3)}),
        (A.random_contrast, {"factor": 0.3, "value_range": (-3, 3)}),
        (A.random_brightness, {"factor": 0.2, "value_range": (-3, 3)}),
    ]:
        a, b = fn(x, rng=123, **kw), fn(x, rng=123, **kw)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, fn(x, rng=124, **kw))
    flipped = A.random_flip(x, "horizontal", rng=0)
    for n in range(16):  # each image left alone or mirrored left-right, never upside down
        assert np.array_equal(flipped[n], x[n]) or np.array_equal(flipped[n], x[n, :, :, ::-1])
    with pytest.raises(ValueError, match="mode must be one of"):
        A.random_flip(x, "diagonal")
    with pytest.raises(ValueError, match="larger than the padded image"):
        A.random_crop(x, 20, 8)
    with pytest.raises(ValueError, match="factor must be"):
        A.random_rotation(x, -0.1)
