"""Datasets as NumPy arrays: MNIST, Fashion-MNIST, CIFAR-10, the packaged 8x8 digits.

Images come back channels-first, (N, C, H, W), ready for `fastcnn.functional`
and the layers; labels come back as int64 class indices:

    (x, y), (x_test, y_test) = load_digits()             # shipped inside fastcnn
    (x, y) = load_mnist(kind="test")                     # x (10000, 1, 28, 28) float32 in [0, 1]
    (x, y) = load_mnist(kind="train", prefix="train-5k")  # a 5,000-image subset, when present
    for xb, yb in Dataset.from_arrays(x, y).shuffle(seed=0).batch(64):
        ...

Where the files are: with a `directory`, the loaders read the files there
(or in its `mnist/`, `fashion-mnist/`, `cifar-10-batches-py/` sub-folder).
Without one they look in $FASTCNN_DATA, the `shared/data` folder beside a
source checkout (development installs), then the download cache
`~/.fastcnn/datasets`; files found nowhere are downloaded into the cache
($FASTCNN_DATA when set) from the official URLs, checked against their
published checksums (`fastcnn.downloads`). A cached file that cannot be read
(cut short, corrupt) is downloaded again.

The IDX format (http://yann.lecun.com/exdb/mnist/): a big-endian header of two
zero bytes, one type-code byte, one byte for the number of dimensions, then one
uint32 per dimension, then the data, big-endian, row-major. Files may be gzipped;
that is detected from the gzip magic bytes, not the file name.
"""

from __future__ import annotations

import errno
import gzip
import os
import pickle
import warnings
import zlib
from pathlib import Path

import numpy as np

from . import downloads
from .downloads import DownloadError, data_home
from .pipeline import AUTOTUNE, Dataset

__all__ = [
    "Dataset",
    "AUTOTUNE",
    "DownloadError",
    "data_home",
    "load_idx",
    "load_mnist",
    "load_fashion_mnist",
    "load_cifar10",
    "load_digits",
    "batches",
    "one_hot",
    "train_test_split",
    "default_data_dir",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "CIFAR10_CLASSES",
    "IDX_TYPES",
]

MNIST_CLASSES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Bag",
    "Sneaker",
    "Ankle boot",
)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# IDX type code -> big-endian NumPy dtype of the stored data.
IDX_TYPES = {
    0x08: np.dtype(">u1"),  # unsigned byte
    0x09: np.dtype(">i1"),  # signed byte
    0x0B: np.dtype(">i2"),  # short
    0x0C: np.dtype(">i4"),  # int
    0x0D: np.dtype(">f4"),  # float
    0x0E: np.dtype(">f8"),  # double
}

_GZIP_MAGIC = b"\x1f\x8b"


# ----------------------------------------------------------------------------- files


def _missing(path, what="file"):
    path = os.fspath(path)
    return FileNotFoundError(errno.ENOENT, f"{what} not found", path)


def _read_bytes(path):
    """The file's bytes, gunzipped when it starts with the gzip magic."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise _missing(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt gzip data ({e})") from None
    return raw


def load_idx(path):
    """Reads one IDX file (gzipped or not) into an ndarray of its declared shape.

    The result has the file's element type in native byte order: uint8, int8,
    int16, int32, float32 or float64 for type codes 0x08, 0x09, 0x0B, 0x0C,
    0x0D, 0x0E. Raises FileNotFoundError for a missing file and ValueError
    (naming the file) for a bad magic number, an unknown type code, a header or
    data shorter than declared, or bytes after the declared data.
    """
    path = os.fspath(path)
    buf = _read_bytes(path)
    if len(buf) < 4:
        raise ValueError(f"{path}: not an IDX file: {len(buf)} bytes, shorter than the 4-byte magic")
    if buf[0] != 0 or buf[1] != 0:
        raise ValueError(f"{path}: not an IDX file: magic {buf[:4].hex()} does not start with two zero bytes")
    code, ndim = buf[2], buf[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X} (known: {known})")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise ValueError(
            f"{path}: truncated header: {ndim} dimensions need {header} bytes, file has {len(buf)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(buf, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = len(buf) - header
    if have < expected:
        raise ValueError(
            f"{path}: truncated data: shape {shape} of {dtype.name} needs "
            f"{expected} bytes after the header, file has {have}"
        )
    if have > expected:
        raise ValueError(
            f"{path}: {have - expected} trailing bytes after the data of shape {shape} ({expected} bytes)"
        )
    data = np.frombuffer(buf, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def _checkout_data_dir():
    """`shared/data` beside the source checkout this module runs from, or None.

    Only a development install qualifies (python/fastcnn/data.py below a
    folder holding pyproject.toml): an installed package never looks beside
    itself or in the working directory.
    """
    package = Path(__file__).resolve().parent
    checkout = package.parents[1]
    if package.parent.name != "python" or not (checkout / "pyproject.toml").is_file():
        return None
    shared = checkout.parent / "shared" / "data"
    return shared if shared.is_dir() else None


def _search_roots():
    """The folders searched for datasets when no directory is given, in order."""
    roots = []
    env = os.environ.get(downloads.DATA_ENV)
    if env:
        roots.append(Path(env).expanduser())
    checkout = _checkout_data_dir()
    if checkout is not None:
        roots.append(checkout)
    if not env:
        roots.append(downloads.data_home())
    return roots


def default_data_dir():
    """The first existing folder the loaders search without a directory, or None.

    In order: the environment variable FASTCNN_DATA; `../shared/data` beside
    the source checkout this module runs from (development installs only);
    the download cache `~/.fastcnn/datasets` (searched only when FASTCNN_DATA
    is unset, since FASTCNN_DATA then is the cache).
    """
    for root in _search_roots():
        if root.is_dir():
            return root.resolve()
    return None


def _located(directory, subdir, files):
    """({base name: path}, folders searched): the first folder holding every
    entry of `files` (base name -> the file names that may hold it), or None."""
    if directory is not None:
        folders = [Path(directory), Path(directory) / subdir]
    else:
        folders = [root / subdir if (root / subdir).is_dir() else root for root in _search_roots()]
    for folder in folders:
        found = {}
        for base, names in files.items():
            path = next((folder / n for n in names if (folder / n).is_file()), None)
            if path is None:
                break
            found[base] = path
        else:
            return found, folders
    return None, folders


def _download_folder(directory, subdir, download):
    """Where missing files are downloaded to (None when downloads are off):
    `directory` when given, else the cache's sub-folder for the dataset."""
    if download is None:
        download = directory is None
    if not download:
        return None
    return Path(directory) if directory is not None else data_home() / subdir


def _not_found(dataset, files, folders, downloadable, directory):
    """FileNotFoundError naming the files missing from the first folder searched and
    every folder searched, with what would help."""
    first = folders[0]
    missing = [
        " or ".join(names) for names in files.values() if not any((first / n).is_file() for n in names)
    ] or [" or ".join(names) for names in files.values()]
    message = f"{dataset} file{'s' if len(missing) > 1 else ''} {', '.join(missing)} not found in {first}"
    if len(folders) > 1:
        message += f" (also searched {', '.join(str(f) for f in folders[1:])})"
    if downloadable:
        message += "; pass download=True to download"
    if directory is None:
        message += f"; or set {downloads.DATA_ENV} or pass directory= to read the files from elsewhere"
    return FileNotFoundError(errno.ENOENT, message, str(first / next(iter(files.values()))[0]))


def _read_or_refetch(path, reader, key, target):
    """reader(path); a file that fails to read and sits where fastcnn downloads
    it (`target`, under its table name) is downloaded again once, then read."""
    try:
        return reader(path)
    except ValueError as e:
        remote = downloads.REMOTE_FILES.get(key)
        if target is None or remote is None or Path(path) != Path(target) / remote.name:
            raise
        warnings.warn(f"{e}; downloading {remote.name} again", RuntimeWarning, stacklevel=4)
        return reader(downloads.fetch(key, target, force=True))


# ----------------------------------------------------------------------------- IDX datasets


_DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


def _load_idx_pair(directory, subdir, kind, prefix, normalize, flatten, dtype, num_classes, download):
    if kind not in ("train", "test"):
        raise ValueError(f"kind must be 'train' or 'test', got {kind!r}")
    if prefix is None:
        prefix = "train" if kind == "train" else "t10k"
    if directory is not None and not Path(directory).is_dir() and not download:
        raise _missing(directory, "data directory")
    parts = {"images": f"{prefix}-images-idx3-ubyte", "labels": f"{prefix}-labels-idx1-ubyte"}
    files = {p: (n + ".gz", n) for p, n in parts.items()}
    keys = {p: f"{subdir}/{n}.gz" for p, n in parts.items()}
    downloadable = all(k in downloads.REMOTE_FILES for k in keys.values())
    target = _download_folder(directory, subdir, download)
    paths, folders = _located(directory, subdir, files)
    if paths is None:
        if target is None or not downloadable:
            raise _not_found(
                _DATASET_NAMES[subdir], files, folders, downloadable and target is None, directory
            )
        paths = {p: downloads.fetch(k, target) for p, k in keys.items()}
    images = _read_or_refetch(paths["images"], load_idx, keys["images"], target)
    labels = _read_or_refetch(paths["labels"], load_idx, keys["labels"], target)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{paths['images']}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"{paths['labels']}: expected integer labels of shape (N,), got {labels.dtype} {labels.shape}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{len(images)} images in {paths['images']} but {len(labels)} labels in {paths['labels']}"
        )
    y = labels.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{paths['labels']}: labels must be in 0..{num_classes - 1}, found {y.min()}..{y.max()}"
        )
    x = _scale(images[:, None, :, :], normalize, dtype, 255.0)
    if flatten:
        x = x.reshape(len(x), -1)
    return x, y


def _scale(x, normalize, dtype, max_value):
    if normalize:
        dtype = np.float32 if dtype is None else np.dtype(dtype)
        if dtype.kind != "f":
            raise ValueError(f"normalize=True needs a floating dtype, got {dtype}")
        out = x.astype(dtype)
        out /= dtype.type(max_value)
        return out
    return x if dtype is None else x.astype(dtype)


def load_mnist(
    directory=None, kind="train", normalize=True, flatten=False, dtype=np.float32, prefix=None, download=None
):
    """MNIST (LeCun, Cortes, Burges) from its IDX files: (x, y).

    x is (N, 1, 28, 28) (or (N, 784) with flatten=True), scaled to [0, 1]
    when normalize, in `dtype` (dtype=None with normalize=False keeps uint8
    0..255); y is int64 in 0..9. Files are `<prefix>-images-idx3-ubyte[.gz]`
    and `<prefix>-labels-idx1-ubyte[.gz]`, prefix 'train' (60,000 images) or
    't10k' (10,000) by kind, or given, e.g. prefix='train-5k' for a subset
    you keep. Without a directory the files are searched as the module says
    and, when missing, downloaded into `data_home()/mnist` (like Keras'
    `mnist.load_data()`). download: fetch missing files (default: only when
    no directory is given; with download=True into `directory`).
    """
    return _load_idx_pair(directory, "mnist", kind, prefix, normalize, flatten, dtype, 10, download)


def load_fashion_mnist(
    directory=None, kind="train", normalize=True, flatten=False, dtype=np.float32, prefix=None, download=None
):
    """Fashion-MNIST (Zalando Research, MIT licence): same files, arguments and
    result as `load_mnist`; class names in FASHION_MNIST_CLASSES. Downloads go
    to `data_home()/fashion-mnist`."""
    return _load_idx_pair(directory, "fashion-mnist", kind, prefix, normalize, flatten, dtype, 10, download)


# ----------------------------------------------------------------------------- CIFAR-10

# The globals a CIFAR-10 batch pickle may name: NumPy's array and dtype rebuilders
# (protocol 5 arrays use _frombuffer),
# and _codecs.encode (how Python 3 writes bytes at protocol <= 2). Anything else
# (os.system, ...) is refused, so a hostile file cannot run code.
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core on NumPy 2
            return super().find_class(module, name)


def _load_cifar_batch(path):
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise _missing(path) from None
    except Exception as e:  # UnpicklingError, EOFError, ValueError, ... from a bad file
        raise ValueError(f"{path}: not a readable CIFAR-10 batch pickle ({type(e).__name__}: {e})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"{path}: batch dict lacks b'data' or b'labels' (keys: {sorted(map(repr, batch))})")
    data = np.asarray(data)
    labels = np.asarray(labels)
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise ValueError(f"{path}: b'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}")
    if labels.ndim != 1 or len(labels) != len(data) or (labels.size and labels.dtype.kind not in "iu"):
        raise ValueError(f"{path}: b'labels' must be {len(data)} integers, got {labels.dtype} {labels.shape}")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: labels must be in 0..9, found {labels.min()}..{labels.max()}")
    return data, labels


_CIFAR10_FOLDER = "cifar-10-batches-py"
_CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"


def _fetch_cifar10(target, force=False):
    """Downloads the CIFAR-10 archive into `target`, unpacks its batches folder
    there and removes the archive; the folder's path."""
    archive = downloads.fetch(_CIFAR10_ARCHIVE, target, force=force)
    folder = downloads.extract_tar_folder(archive, _CIFAR10_FOLDER, target)
    archive.unlink()
    return folder


def load_cifar10(directory=None, kind="train", normalize=True, dtype=np.float32, download=None):
    """CIFAR-10 (Krizhevsky 2009) from the python-version batches: (x, y).

    Reads data_batch_1..5 (kind='train', 50,000 images) or test_batch
    (kind='test', 10,000) from `directory` or its `cifar-10-batches-py/`
    sub-folder. Without a directory the batches are searched as the module
    says and, when missing, the official archive (163 MiB) is downloaded into
    `data_home()` and unpacked to `data_home()/cifar-10-batches-py` (like
    Keras' `cifar10.load_data()`). download: as in `load_mnist`. x is (N, 3,
    32, 32), scaled to [0, 1] when normalize (dtype=None with normalize=False
    keeps uint8); y is int64 in 0..9 (names in CIFAR10_CLASSES). The pickles
    are read with encoding='bytes' by an unpickler that only rebuilds NumPy
    arrays.
    """
    if kind not in ("train", "test"):
        raise ValueError(f"kind must be 'train' or 'test', got {kind!r}")
    if directory is not None and not Path(directory).is_dir() and not download:
        raise _missing(directory, "data directory")
    names = [f"data_batch_{i}" for i in range(1, 6)] if kind == "train" else ["test_batch"]
    files = {n: (n,) for n in names}
    target = _download_folder(directory, "", download)
    paths, folders = _located(directory, _CIFAR10_FOLDER, files)
    if paths is None:
        if target is None:
            raise _not_found("CIFAR-10", files, folders, True, directory)
        folder = _fetch_cifar10(target)
        paths = {n: folder / n for n in names}
    try:
        parts = [_load_cifar_batch(paths[n]) for n in names]
    except ValueError as e:
        if target is None or paths[names[0]].parent != target / _CIFAR10_FOLDER:
            raise
        warnings.warn(f"{e}; downloading CIFAR-10 again", RuntimeWarning, stacklevel=2)
        folder = _fetch_cifar10(target, force=True)
        parts = [_load_cifar_batch(folder / n) for n in names]
    data = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    x = _scale(data.reshape(len(data), 3, 32, 32), normalize, dtype, 255.0)
    return x, y


# ----------------------------------------------------------------------------- packaged digits

_DIGITS_FILE = Path(__file__).with_name("_datasets") / "digits.npz"


def load_digits(normalize=True, dtype=np.float32, test_size=0.2, seed=0):
    """The 8x8 handwritten digits shipped inside fastcnn: ((x_train, y_train), (x_test, y_test)).

    1,797 images, the test set of the UCI "Optical Recognition of Handwritten
    Digits" (E. Alpaydin, C. Kaynak, 1998, https://doi.org/10.24432/C50P49;
    licence CC BY 4.0), the same arrays as scikit-learn's `load_digits()`:
    no download, no scikit-learn. x is (N, 1, 8, 8) scaled to [0, 1] (pixels
    are 0..16) when normalize (dtype=None with normalize=False keeps uint8),
    y int64 in 0..9; the split is `train_test_split(x, y, test_size, seed)`.
    """
    with np.load(_DIGITS_FILE, allow_pickle=False) as stored:
        images, labels = stored["images"], stored["labels"]
    x = _scale(images[:, None, :, :], normalize, dtype, 16.0)
    y = labels.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size, seed)
    return (x_train, y_train), (x_test, y_test)


# ----------------------------------------------------------------------------- helpers


def _check_pair(x, y):
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError("x and y must have a leading sample axis")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
    return x, y


def train_test_split(x, y, test_size=0.2, seed=0):
    """Shuffled split, scikit-learn's name and order: x_train, x_test, y_train, y_test.

    test_size is a fraction in (0, 1) (rounded to a count) or a number of
    samples; both parts must be non-empty. The same seed gives the same split
    (seed=None: a fresh random one).
    """
    x, y = _check_pair(x, y)
    n = len(x)
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.integer, np.floating)):
        raise ValueError(f"test_size must be a fraction or a count, got {test_size!r}")
    if isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"test_size as a fraction must be in (0, 1), got {test_size}")
        n_test = int(round(n * test_size))
    else:
        n_test = int(test_size)
    if not 0 < n_test < n:
        raise ValueError(
            f"test_size={test_size!r} leaves {n_test} test and {n - n_test} "
            f"training samples of {n}; both must be at least 1"
        )
    perm = np.random.default_rng(seed).permutation(n)
    test, train = perm[:n_test], perm[n_test:]
    return x[train], x[test], y[train], y[test]


def batches(x, y, batch_size, shuffle=False, seed=None, drop_last=False):
    """Yields (x_batch, y_batch) pairs of `batch_size` samples (the last may be smaller
    unless drop_last). shuffle=True permutes the samples once per call, the same way
    for the same seed. Arguments are checked when called, not at the first batch."""
    x, y = _check_pair(x, y)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    n = len(x)
    order = np.random.default_rng(seed).permutation(n) if shuffle else None
    stop = n - n % batch_size if drop_last else n

    def gen():
        for start in range(0, stop, batch_size):
            if order is None:
                sl = slice(start, min(start + batch_size, n))
                yield x[sl], y[sl]
            else:
                idx = order[start : start + batch_size]
                yield x[idx], y[idx]

    return gen()


def one_hot(y, num_classes=None, dtype=np.float32):
    """Integer labels of any shape -> one-hot of shape y.shape + (num_classes,).

    num_classes=None uses max(y) + 1. Labels outside 0..num_classes-1 are an error.
    """
    y = np.asarray(y)
    if y.size and y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"one_hot needs integer labels, got {y.dtype}")
    y = y.astype(np.int64)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 0:
        raise ValueError(f"num_classes must be a non-negative int, got {num_classes!r}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must be in 0..{num_classes - 1}, found {y.min()}..{y.max()}")
    out = np.zeros(y.shape + (int(num_classes),), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


def load_mnist1d(seed=None, dtype=np.float32):
    """MNIST-1D (Greydanus 2020), generated offline by the `mnist1d` package.

    Uses `mnist1d.data.make_dataset(get_dataset_args())`, the standard
    4,000 / 1,000 split of 40-sample signals, never its download path.
    Returns ((x_train, y_train), (x_test, y_test)) with x as (N, 1, 40).
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:
        raise ImportError("MNIST-1D needs the mnist1d package: pip install mnist1d") from e
    args = get_dataset_args()
    if seed is not None:
        args.seed = seed
    d = make_dataset(args)
    x, x_test = (np.asarray(d[k], dtype=dtype)[:, None, :] for k in ("x", "x_test"))
    y, y_test = (np.asarray(d[k], dtype=np.int64) for k in ("y", "y_test"))
    return (x, y), (x_test, y_test)
