"""Image augmentation over a batch: flips, crops, affine warps, contrast and brightness.

Two levels:

* the ops, each image with its own parameters, native and threaded (C++,
  the same result on any thread count):
  `flip_images(x, flags)`, `crop_images(x, corners, size)`,
  `warp_affine(x, maps, ...)`, `adjust_images(x, contrast, brightness)`;
* the random draws of Keras' preprocessing layers, which make those
  parameters from a NumPy Generator and apply them:
  `random_flip`, `random_crop`, `random_translation`, `random_rotation`,
  `random_zoom`, `random_contrast`, `random_brightness`. Each takes `rng`
  (a `np.random.Generator`, or a seed), so it serves as a Dataset map:

      rng = np.random.default_rng(0)
      ds = ds.map(lambda x, y: (random_flip(x, "horizontal", rng), y))

Geometry follows Keras (TensorFlow's projective transforms): an affine map
takes an output pixel (x across, y down, in pixel indices) to the source
point it reads, (a0 x + a1 y + a2, b0 x + b1 y + b2). Outside the image the
fill mode decides: 'reflect' (d c b a | a b c d | d c b a, about the edge of
the outermost pixel), 'wrap' (a b c d | a b c d), 'nearest' (the edge pixel
repeats) or 'constant' (`fill_value`; bilinear blends it in at the border).
Images are (N, C, H, W), or (N, H, W, C) with data_format='channels_last'.
"""

from __future__ import annotations

import math

import numpy as np

from . import _C
from ._shapes import _as_int, as_float_array

__all__ = ["flip_images", "crop_images", "warp_affine", "adjust_images"]

DATA_FORMATS = ("channels_first", "channels_last")
FILL_MODES = ("reflect", "wrap", "nearest", "constant")
INTERPOLATIONS = ("bilinear", "nearest")
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def _images(x, data_format, name="x"):
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")
    # C-contiguous and aligned: NumPy views may start at any byte offset
    x = np.require(as_float_array(x, name), requirements=["C", "A"])
    last = data_format == "channels_last"
    if x.ndim != 4:
        raise ValueError(
            f"{name} must be 4-D {'(N, H, W, C)' if last else '(N, C, H, W)'}, got shape {x.shape}"
        )
    return x, last


def image_size(x, data_format="channels_first"):
    """(height, width) of a batch of images."""
    shape = np.shape(x)
    return tuple(shape[1:3]) if data_format == "channels_last" else tuple(shape[2:4])


def _per_image(values, name, n, dtype, width=None):
    """values as a C-contiguous (n,) or (n, width) array: one entry or row per image of x."""
    kind = np.asarray(values).dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{name} must be an array of numbers, got dtype {np.asarray(values).dtype}")
    try:
        a = np.require(np.asarray(values, dtype=dtype), requirements=["C", "A"])
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"{name} must be an array of numbers, got {type(values).__name__}") from None
    want = (n,) if width is None else (n, width)
    if a.shape != want:
        raise ValueError(
            f"{name} must have shape {want}, one {'row' if width else 'value'} per image of x "
            f"({n} images), got {a.shape}"
        )
    return a


def _flip_flags(flags, n):
    """flags as uint8, one per image of x, each 0-3."""
    flags = _per_image(flags, "flags", n, np.int64)
    if np.any((flags < 0) | (flags > 3)):
        raise ValueError("flags must be 0-3 (bit 0: left-right, bit 1: upside down)")
    return flags.astype(np.uint8)


def _per_image_or_scalar(values, name, n, default):
    """A number for every image, or one value per image of x."""
    if values is None:
        values = default
    if np.ndim(values) == 0:
        values = np.full(n, values, dtype=np.asarray(values).dtype)
    return _per_image(values, name, n, np.float64)


# ------------------------------------------------------------------ the ops


def flip_images(x, flags, data_format="channels_first"):
    """Flip image n left-right where bit 0 of flags[n] is set, upside down where bit 1 is."""
    x, last = _images(x, data_format)
    return _C.flip_images(x, _flip_flags(flags, x.shape[0]), channels_last=last)


def crop_images(x, corners, size, fill_value=0.0, data_format="channels_first"):
    """Image n's window of `size` (height, width) whose top-left corner is
    corners[n] = (top, left); the window may reach outside the image, where
    it reads `fill_value` (negative corners pad, as a random crop with padding)."""
    x, last = _images(x, data_format)
    height, width = (_as_int(s, "size") for s in _pair(size, "size"))
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    corners = _per_image(corners, "corners", x.shape[0], np.int64, 2)
    return _C.crop_images(x, corners, height, width, float(fill_value), channels_last=last)


def warp_affine(
    x,
    maps,
    size=None,
    interpolation="bilinear",
    fill_mode="reflect",
    fill_value=0.0,
    data_format="channels_first",
):
    """Image n warped by maps[n] = (a0, a1, a2, b0, b1, b2): output pixel (x, y)
    reads source point (a0 x + a1 y + a2, b0 x + b1 y + b2); `size` (default:
    the input's) is the output's (height, width)."""
    x, last = _images(x, data_format)
    _check_samplable(x, data_format)
    _check_choice(interpolation, INTERPOLATIONS, "interpolation")
    _check_choice(fill_mode, FILL_MODES, "fill_mode")
    maps = _per_image(maps, "maps", x.shape[0], np.float64, 6)
    if not np.all(np.isfinite(maps)):
        raise ValueError("maps must be finite")
    height, width = image_size(x, data_format) if size is None else _pair(size, "size")
    return _C.warp_affine(x, maps, int(height), int(width), interpolation, fill_mode, float(fill_value), last)


def adjust_images(x, contrast=None, brightness=None, value_range=None, data_format="channels_first"):
    """(x - m) * contrast[n] + m + brightness[n] per image n, where m is the
    image's per-channel mean; clipped to value_range (low, high) when given."""
    x, last = _images(x, data_format)
    n = x.shape[0]
    contrast = _per_image_or_scalar(contrast, "contrast", n, 1.0)
    brightness = _per_image_or_scalar(brightness, "brightness", n, 0.0)
    if value_range is None:
        return _C.adjust_images(x, contrast, brightness, channels_last=last)
    low, high = _value_range(value_range)
    return _C.adjust_images(x, contrast, brightness, True, low, high, channels_last=last)


# ------------------------------------------------------------------ affine maps


def translation_maps(dy, dx):
    """Maps that move image n down by dy[n] and right by dx[n] pixels."""
    dy, dx = np.asarray(dy, np.float64), np.asarray(dx, np.float64)
    one, zero = np.ones_like(dx), np.zeros_like(dx)
    return np.stack([one, zero, -dx, zero, one, -dy], axis=1)


def rotation_maps(angles, height, width):
    """Maps that rotate image n by angles[n] radians about its centre
    (counter-clockwise for positive angles, as Keras' RandomRotation)."""
    a = np.asarray(angles, np.float64)
    cos, sin = np.cos(a), np.sin(a)
    x_offset = ((width - 1) - (cos * (width - 1) - sin * (height - 1))) / 2
    y_offset = ((height - 1) - (sin * (width - 1) + cos * (height - 1))) / 2
    return np.stack([cos, -sin, x_offset, sin, cos, y_offset], axis=1)


def zoom_maps(zoom_y, zoom_x, height, width):
    """Maps that zoom image n about its centre: a factor above 1 reads a wider
    area (the image looks smaller: zoomed out), below 1 a narrower one."""
    zy, zx = np.asarray(zoom_y, np.float64), np.asarray(zoom_x, np.float64)
    zero = np.zeros_like(zx)
    return np.stack([zx, zero, (width - 1) / 2 * (1 - zx), zero, zy, (height - 1) / 2 * (1 - zy)], axis=1)


# ------------------------------------------------------------------ random draws


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def factor_range(factor, name, symmetric=True):
    """Keras' factor arguments: a number f means (-f, f) (or, symmetric=False,
    (0, f)), a pair (lower, upper) is taken as is."""
    if np.ndim(factor) == 0:
        f = float(factor)
        if not math.isfinite(f) or f < 0:
            raise ValueError(f"{name} must be a non-negative number or a (lower, upper) pair, got {factor!r}")
        return (-f, f) if symmetric else (0.0, f)
    lower, upper = (float(v) for v in _pair(factor, name))
    if not (math.isfinite(lower) and math.isfinite(upper)) or lower > upper:
        raise ValueError(f"{name} must be (lower, upper) with lower <= upper, got {factor!r}")
    return lower, upper


def draw_flip_flags(n, mode, rng):
    """Per-image flip_images flags: each flip of `mode` with probability 1/2."""
    _check_choice(mode, FLIP_MODES, "mode")
    flags = np.zeros(n, np.uint8)
    if mode != "vertical":
        flags |= (rng.random(n) < 0.5).astype(np.uint8)
    if mode != "horizontal":
        flags |= (rng.random(n) < 0.5).astype(np.uint8) << 1
    return flags


def draw_crop_corners(n, image, size, padding, rng):
    """Per-image (top, left) corners of a `size` window inside an `image`
    (height, width) padded by `padding` on every side, uniformly drawn."""
    (h, w), (height, width) = image, size
    if height > h + 2 * padding or width > w + 2 * padding:
        raise ValueError(
            f"crop size ({height}, {width}) is larger than the padded image "
            f"({h + 2 * padding}, {w + 2 * padding})"
        )
    tops = rng.integers(-padding, h + padding - height + 1, size=n)
    lefts = rng.integers(-padding, w + padding - width + 1, size=n)
    return np.stack([tops, lefts], axis=1)


def draw_translation_maps(n, image, dy_range, dx_range, rng):
    """Maps moving each image by a fraction of its (height, width) drawn from the ranges."""
    h, w = image
    return translation_maps(rng.uniform(*dy_range, size=n) * h, rng.uniform(*dx_range, size=n) * w)


def draw_rotation_maps(n, image, turn_range, rng):
    """Maps rotating each image by a fraction of a full turn drawn from turn_range."""
    return rotation_maps(rng.uniform(*turn_range, size=n) * 2 * np.pi, *image)


def draw_zoom_maps(n, image, zy_range, zx_range, rng):
    """Maps zooming each image by 1 + a factor drawn from zy_range (and zx_range;
    None keeps the aspect ratio)."""
    zy = 1 + rng.uniform(*zy_range, size=n)
    zx = zy if zx_range is None else 1 + rng.uniform(*zx_range, size=n)
    if np.any(zy <= 0) or np.any(zx <= 0):
        raise ValueError(f"zoom factors must stay above -1, got ranges {zy_range} and {zx_range}")
    return zoom_maps(zy, zx, *image)


def random_flip(x, mode="horizontal_and_vertical", rng=None, data_format="channels_first"):
    """Flip each image left-right and/or upside down, each with probability 1/2."""
    return flip_images(x, draw_flip_flags(np.shape(x)[0], mode, _rng(rng)), data_format)


def random_crop(x, height, width, padding=0, fill_value=0.0, rng=None, data_format="channels_first"):
    """A random (height, width) window of each image, after padding it by
    `padding` pixels of fill_value on every side (torchvision's
    RandomCrop(32, padding=4) on CIFAR: height = width = 32, padding = 4)."""
    pad = _as_int(padding, "padding")
    if pad < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    corners = draw_crop_corners(np.shape(x)[0], image_size(x, data_format), (height, width), pad, _rng(rng))
    return crop_images(x, corners, (height, width), fill_value, data_format)


def random_translation(
    x,
    height_factor,
    width_factor,
    fill_mode="reflect",
    interpolation="bilinear",
    fill_value=0.0,
    rng=None,
    data_format="channels_first",
):
    """Move each image by a random fraction of its height and width (Keras' RandomTranslation)."""
    dy, dx = factor_range(height_factor, "height_factor"), factor_range(width_factor, "width_factor")
    maps = draw_translation_maps(np.shape(x)[0], image_size(x, data_format), dy, dx, _rng(rng))
    return warp_affine(x, maps, None, interpolation, fill_mode, fill_value, data_format)


def random_rotation(
    x,
    factor,
    fill_mode="reflect",
    interpolation="bilinear",
    fill_value=0.0,
    rng=None,
    data_format="channels_first",
):
    """Rotate each image by a random fraction of a full turn (Keras' RandomRotation:
    factor 0.1 means up to 36 degrees either way)."""
    maps = draw_rotation_maps(
        np.shape(x)[0], image_size(x, data_format), factor_range(factor, "factor"), _rng(rng)
    )
    return warp_affine(x, maps, None, interpolation, fill_mode, fill_value, data_format)


def random_zoom(
    x,
    height_factor,
    width_factor=None,
    fill_mode="reflect",
    interpolation="bilinear",
    fill_value=0.0,
    rng=None,
    data_format="channels_first",
):
    """Zoom each image by 1 + a random factor (positive: out, negative: in; Keras'
    RandomZoom); width_factor None keeps the aspect ratio."""
    zy = factor_range(height_factor, "height_factor")
    zx = None if width_factor is None else factor_range(width_factor, "width_factor")
    maps = draw_zoom_maps(np.shape(x)[0], image_size(x, data_format), zy, zx, _rng(rng))
    return warp_affine(x, maps, None, interpolation, fill_mode, fill_value, data_format)


def random_contrast(x, factor, value_range=(0, 255), rng=None, data_format="channels_first"):
    """Scale each image's deviation from its channel means by a random factor in
    [1 - f, 1 + f] (Keras 3's RandomContrast), clipped to value_range."""
    lower, upper = factor_range(factor, "factor")
    rng, n = _rng(rng), np.shape(x)[0]
    contrast = rng.uniform(1 + lower, 1 + upper, size=n)
    return adjust_images(x, contrast=contrast, value_range=value_range, data_format=data_format)


def random_brightness(x, factor, value_range=(0, 255), rng=None, data_format="channels_first"):
    """Add a random fraction of the value range to each image (Keras'
    RandomBrightness: factor 0.2 adds up to 20% of high - low either way), clipped."""
    low, high = _value_range(value_range)
    rng, n = _rng(rng), np.shape(x)[0]
    delta = rng.uniform(*factor_range(factor, "factor"), size=n) * (high - low)
    return adjust_images(x, brightness=delta, value_range=(low, high), data_format=data_format)


# ------------------------------------------------------------------ helpers


def _pair(value, name):
    if np.ndim(value) == 0:
        return value, value
    value = tuple(value)
    if len(value) != 2:
        raise ValueError(f"{name} must be a number or a pair, got {value!r}")
    return value


def _value_range(value_range):
    low, high = (float(v) for v in _pair(value_range, "value_range"))
    if not low <= high:
        raise ValueError(f"value_range must be (low, high) with low <= high, got {value_range!r}")
    return low, high


def _check_samplable(x, data_format):
    """A warp reads points of the images: they must have pixels."""
    if 0 in image_size(x, data_format):
        raise ValueError(f"x must have a positive height and width to be warped, got shape {x.shape}")


def _check_choice(value, choices, name):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
