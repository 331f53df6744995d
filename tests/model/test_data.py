"""fastcnn.data: IDX reading, the MNIST / Fashion-MNIST / CIFAR-10 / digits loaders, helpers.

Fake files are written to tmp_path by small writers here (independent of the
reader). Tests on the real data in ../shared/data (or $FASTCNN_DATA) skip when
it is absent. Downloads are tested in test_downloads.py.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from fastcnn import data

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(arr, code=None):
    """The IDX encoding of arr, written by hand: 0, 0, type code, ndim, dims, big-endian data."""
    arr = np.asarray(arr)
    code = CODES[arr.dtype.type] if code is None else code
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write(path, payload, gz=False):
    path = Path(path)
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


# ----------------------------------------------------------------------------- load_idx


def sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        a = rng.standard_normal(shape).astype(dtype) * 1e3
        if a.size >= 3:
            a.flat[:3] = [np.inf, -np.inf, -0.0]
        return a
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    if a.size >= 2:
        a.flat[:2] = [info.min, info.max]
    return a


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("dtype", list(CODES), ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("shape", [(7,), (3, 5, 4), (2, 3, 4, 5), (0, 28, 28)])
def test_idx_round_trip(tmp_path, dtype, shape, gz):
    a = sample(dtype, shape)
    p = write(tmp_path / "x.idx", idx_bytes(a), gz=gz)
    b = data.load_idx(p)
    assert b.shape == a.shape
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.flags.writeable and b.flags.c_contiguous
    np.testing.assert_array_equal(b, a)


def test_idx_big_endian_layout(tmp_path):
    """Bytes written literally: an int16 0x0102 is 258, a float32 0x3F800000 is 1.0."""
    raw = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])
    np.testing.assert_array_equal(data.load_idx(write(tmp_path / "s", raw)), [258, -2])
    raw = bytes([0, 0, 0x0D, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0x3F, 0x80, 0, 0])
    np.testing.assert_array_equal(data.load_idx(write(tmp_path / "f", raw)), [[1.0]])


def test_gzip_detected_by_magic_not_extension(tmp_path):
    a = sample(np.uint8, (4, 6))
    gz_no_ext = write(tmp_path / "images-idx2-ubyte", idx_bytes(a), gz=True)
    raw_with_gz_ext = write(tmp_path / "images-idx2-ubyte.gz", idx_bytes(a), gz=False)
    np.testing.assert_array_equal(data.load_idx(gz_no_ext), a)
    np.testing.assert_array_equal(data.load_idx(raw_with_gz_ext), a)
    np.testing.assert_array_equal(data.load_idx(str(gz_no_ext)), a)  # str paths too


def test_idx_missing_file(tmp_path):
    p = tmp_path / "nope-idx1-ubyte.gz"
    with pytest.raises(FileNotFoundError) as e:
        data.load_idx(p)
    assert str(p) in str(e.value) and e.value.filename == str(p)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize(
    "payload, message",
    [
        (b"\x08\x03\x08\x01\x00\x00\x00\x01\x00", "magic"),  # non-zero first bytes
        (struct.pack(">I", 2051)[::-1] + b"\x00" * 8, "magic"),  # little-endian magic
        (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x00", "unknown IDX type code 0x0A"),
        (b"\x00\x00\xff\x01\x00\x00\x00\x01\x00", "unknown IDX type code 0xFF"),
        (b"\x00\x00", "shorter than the 4-byte magic"),
        (b"", "shorter than the 4-byte magic"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00", "truncated header"),
        (b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x03" + b"\x01" * 5, "truncated data"),
        (b"\x00\x00\x0c\x01\x00\x00\x00\x02" + b"\x00" * 7, "truncated data"),  # half an int32
        (b"\x00\x00\x08\x01\x00\x00\x00\x02" + b"\x01\x02\x03", "1 trailing bytes"),
        (b"\x00\x00\x0e\x01\x00\x00\x00\x00" + b"\x00" * 8, "8 trailing bytes"),
    ],
)
def test_idx_errors(tmp_path, payload, message, gz):
    p = write(tmp_path / "bad-file", payload, gz=gz)
    with pytest.raises(ValueError) as e:
        data.load_idx(p)
    assert str(p) in str(e.value)
    assert message in str(e.value)


def test_idx_truncated_and_trailing_from_real_encoding(tmp_path):
    good = idx_bytes(sample(np.float64, (3, 4)))
    with pytest.raises(ValueError, match="truncated data"):
        data.load_idx(write(tmp_path / "t", good[:-1], gz=True))
    with pytest.raises(ValueError, match="trailing"):
        data.load_idx(write(tmp_path / "g", good + b"\x00", gz=True))


def test_idx_corrupt_gzip(tmp_path):
    whole = gzip.compress(idx_bytes(sample(np.uint8, (50, 50))))
    for name, payload in [("cut", whole[: len(whole) // 2]), ("junk", b"\x1f\x8b" + b"junk" * 10)]:
        p = write(tmp_path / name, payload)
        with pytest.raises(ValueError, match="corrupt gzip") as e:
            data.load_idx(p)
        assert str(p) in str(e.value)


# ----------------------------------------------------------------------------- MNIST-style loaders


def write_idx_dataset(directory, prefix, images, labels, gz=True):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    write(directory / f"{prefix}-images-idx3-ubyte{ext}", idx_bytes(images), gz=gz)
    write(directory / f"{prefix}-labels-idx1-ubyte{ext}", idx_bytes(labels), gz=gz)


def fake_digits(n, seed=0, h=28, w=28):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    return images, rng.integers(0, 10, size=n).astype(np.uint8)


@pytest.mark.parametrize("loader", [data.load_mnist, data.load_fashion_mnist])
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_mnist_layout_from_fake_files(tmp_path, loader, gz):
    images, labels = fake_digits(12)
    write_idx_dataset(tmp_path, "train", images, labels, gz=gz)
    write_idx_dataset(tmp_path, "t10k", images[:5], labels[:5], gz=gz)
    x, y = loader(tmp_path, kind="train")
    assert x.shape == (12, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (12,) and y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(x[:, 0], images / np.float32(255), rtol=1e-7)
    assert x.min() == 0.0 and x.max() == 1.0
    x, y = loader(tmp_path, kind="test", flatten=True, dtype=np.float64)
    assert x.shape == (5, 784) and x.dtype == np.float64
    np.testing.assert_array_equal(x, images[:5].reshape(5, -1) / 255.0)
    x, _ = loader(tmp_path, kind="test", normalize=False, dtype=None)
    assert x.dtype == np.uint8 and x.shape == (5, 1, 28, 28)
    np.testing.assert_array_equal(x[:, 0], images[:5])
    x, _ = loader(tmp_path, kind="test", normalize=False)
    assert x.dtype == np.float32 and x.max() == 255.0


def test_mnist_prefix_subset_names(tmp_path):
    images, labels = fake_digits(10, seed=3)
    write_idx_dataset(tmp_path, "train-5k", images, labels)
    x, y = data.load_mnist(tmp_path, kind="train", prefix="train-5k")
    assert x.shape == (10, 1, 28, 28)
    np.testing.assert_array_equal(y, labels)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.load_mnist(tmp_path, kind="train")  # no official train files here


def test_mnist_prefers_gz_and_falls_back_to_raw(tmp_path):
    images, labels = fake_digits(4, seed=1)
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(images))  # raw only
    write(tmp_path / "t10k-labels-idx1-ubyte.gz", idx_bytes(labels), gz=True)  # gz only
    x, y = data.load_mnist(tmp_path, kind="test", normalize=False, dtype=None)
    np.testing.assert_array_equal(x[:, 0], images)
    np.testing.assert_array_equal(y, labels)


def test_mnist_count_mismatch(tmp_path):
    images, labels = fake_digits(6)
    write(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(images), gz=True)
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(labels[:5]), gz=True)
    with pytest.raises(ValueError, match="6 images .* but 5 labels"):
        data.load_mnist(tmp_path)


def test_mnist_bad_contents(tmp_path):
    images, labels = fake_digits(3)
    bad_labels = labels.copy()
    bad_labels[1] = 10
    write_idx_dataset(tmp_path / "a", "train", images, bad_labels)
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.9"):
        data.load_mnist(tmp_path / "a")
    write_idx_dataset(tmp_path / "b", "train", images.astype(np.int16), labels)
    with pytest.raises(ValueError, match="uint8 images"):
        data.load_mnist(tmp_path / "b")
    write_idx_dataset(tmp_path / "c", "train", images.reshape(3, -1), labels)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        data.load_mnist(tmp_path / "c")
    write_idx_dataset(tmp_path / "d", "train", images, labels.reshape(3, 1))
    with pytest.raises(ValueError, match="labels of shape"):
        data.load_mnist(tmp_path / "d")


def test_mnist_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        data.load_mnist(tmp_path, kind="validation")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz or t10k-images-idx3-ubyte") as e:
        data.load_mnist(tmp_path, kind="test")
    assert f"not found in {tmp_path}" in str(e.value) and "download=True" in str(e.value)
    with pytest.raises(FileNotFoundError, match="data directory"):
        data.load_mnist(tmp_path / "missing")
    images, labels = fake_digits(2)
    write_idx_dataset(tmp_path, "train", images, labels)
    with pytest.raises(ValueError, match="floating dtype"):
        data.load_mnist(tmp_path, dtype=np.uint8)


def test_loaders_use_default_data_dir(tmp_path, monkeypatch):
    images, labels = fake_digits(3)
    write_idx_dataset(tmp_path / "mnist", "t10k", images, labels)
    write_idx_dataset(tmp_path / "fashion-mnist", "t10k", images[:2], labels[:2])
    monkeypatch.setenv("FASTCNN_DATA", str(tmp_path))
    assert data.load_mnist(kind="test")[0].shape == (3, 1, 28, 28)
    assert data.load_fashion_mnist(kind="test")[0].shape == (2, 1, 28, 28)


def test_fashion_classes():
    assert len(data.FASHION_MNIST_CLASSES) == 10
    assert data.FASHION_MNIST_CLASSES[0] == "T-shirt/top"
    assert data.FASHION_MNIST_CLASSES[9] == "Ankle boot"


# ----------------------------------------------------------------------------- default_data_dir


def test_default_data_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTCNN_DATA", str(tmp_path))
    assert data.default_data_dir() == tmp_path.resolve()


def test_default_data_dir_of_an_installed_package(tmp_path, monkeypatch):
    """Installed (no source checkout around data.py): FASTCNN_DATA, else the download
    cache; never a shared/data folder beside the working directory."""
    monkeypatch.setenv("FASTCNN_DATA", str(tmp_path / "not-there"))
    monkeypatch.setattr(data, "__file__", str(tmp_path / "site" / "pkgs" / "fastcnn" / "data.py"))
    project = tmp_path / "work" / "project"
    (project / "shared" / "data").mkdir(parents=True)
    (tmp_path / "work" / "shared" / "data").mkdir(parents=True)
    monkeypatch.chdir(project)
    assert data.default_data_dir() is None
    monkeypatch.delenv("FASTCNN_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.default_data_dir() is None
    (tmp_path / "home" / ".fastcnn" / "datasets").mkdir(parents=True)
    assert data.default_data_dir() == (tmp_path / "home" / ".fastcnn" / "datasets").resolve()


def test_default_data_dir_of_a_source_checkout(tmp_path, monkeypatch):
    """A development install (python/fastcnn/data.py below pyproject.toml) also
    searches shared/data beside the checkout, after FASTCNN_DATA."""
    checkout = tmp_path / "src" / "fastcnn-repo"
    (checkout / "python" / "fastcnn").mkdir(parents=True)
    monkeypatch.setattr(data, "__file__", str(checkout / "python" / "fastcnn" / "data.py"))
    monkeypatch.delenv("FASTCNN_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "src" / "shared" / "data").mkdir(parents=True)
    assert data.default_data_dir() is None  # no pyproject.toml: not a checkout
    (checkout / "pyproject.toml").write_text("[project]\n")
    assert data.default_data_dir() == (tmp_path / "src" / "shared" / "data").resolve()
    monkeypatch.setenv("FASTCNN_DATA", str(tmp_path))
    assert data.default_data_dir() == tmp_path.resolve()


def test_default_data_dir_from_repository(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTCNN_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    expected = Path(data.__file__).resolve().parents[2].parent / "shared" / "data"
    if not expected.is_dir() or not (Path(data.__file__).resolve().parents[2] / "pyproject.toml").is_file():
        pytest.skip(f"not a source checkout with shared data beside it ({expected})")
    assert data.default_data_dir() == expected.resolve()


def test_no_data_found_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTCNN_DATA", str(tmp_path))
    monkeypatch.setattr(data, "_checkout_data_dir", lambda: None)
    with pytest.raises(FileNotFoundError, match="FASTCNN_DATA") as e:
        data.load_mnist(download=False)
    assert str(tmp_path) in str(e.value)
    with pytest.raises(FileNotFoundError, match="CIFAR-10 file test_batch not found"):
        data.load_cifar10(kind="test", download=False)
    with pytest.raises(FileNotFoundError, match="train-5k-images"):  # a subset nobody publishes
        data.load_mnist(prefix="train-5k")
    with pytest.raises(FileNotFoundError, match="data directory"):
        data.load_cifar10(tmp_path / "missing")


def test_loaders_search_order(tmp_path, monkeypatch):
    """FASTCNN_DATA first, then the checkout's shared data; the dataset's
    sub-folder when a root has one, else the root itself."""
    env, shared = tmp_path / "env", tmp_path / "shared"
    images, labels = fake_digits(3)
    write_idx_dataset(shared / "mnist", "t10k", images, labels)
    write_idx_dataset(env, "t10k", images[:2], labels[:2])  # no mnist/ sub-folder: the root
    monkeypatch.setattr(data, "_checkout_data_dir", lambda: shared)
    monkeypatch.setenv("FASTCNN_DATA", str(env))
    assert len(data.load_mnist(kind="test")[1]) == 2
    (env / "mnist").mkdir()  # a sub-folder without the files: the root is not looked at
    assert len(data.load_mnist(kind="test")[1]) == 3
    assert len(data.load_mnist(env, kind="test")[1]) == 2  # a given directory: its files first


# ----------------------------------------------------------------------------- CIFAR-10


def write_cifar_batch(path, n, seed, labels_as_list=True):
    rng = np.random.default_rng(seed)
    batch = {
        b"batch_label": b"fake batch",
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        b"labels": [int(v) for v in rng.integers(0, 10, size=n)]
        if labels_as_list
        else rng.integers(0, 10, size=n).astype(np.int64),
        b"filenames": [f"img{i}.png".encode() for i in range(n)],
    }
    Path(path).write_bytes(pickle.dumps(batch, protocol=2))
    return batch


def write_cifar_dir(directory, sizes=(3, 1, 4, 2, 5), test_size=6):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    train = [
        write_cifar_batch(directory / f"data_batch_{i + 1}", n, seed=i, labels_as_list=i % 2 == 0)
        for i, n in enumerate(sizes)
    ]
    test = write_cifar_batch(directory / "test_batch", test_size, seed=99)
    return train, test


def test_cifar10_round_trip(tmp_path):
    train, test = write_cifar_dir(tmp_path)
    x, y = data.load_cifar10(tmp_path, kind="train")
    assert x.shape == (15, 3, 32, 32) and x.dtype == np.float32
    assert y.shape == (15,) and y.dtype == np.int64
    raw = np.concatenate([b[b"data"] for b in train])
    np.testing.assert_array_equal(y, np.concatenate([np.asarray(b[b"labels"]) for b in train]))
    np.testing.assert_allclose(x.reshape(15, -1), raw / np.float32(255), rtol=1e-7)
    # the row layout: 1024 red, then 1024 green, then 1024 blue values, each 32x32 row-major
    r = raw[0, 32 * 5 + 7]
    g = raw[0, 1024 + 32 * 5 + 7]
    b = raw[0, 2048 + 32 * 5 + 7]
    xu, _ = data.load_cifar10(tmp_path, kind="train", normalize=False, dtype=None)
    assert xu.dtype == np.uint8
    assert (xu[0, 0, 5, 7], xu[0, 1, 5, 7], xu[0, 2, 5, 7]) == (r, g, b)
    xt, yt = data.load_cifar10(tmp_path, kind="test", dtype=np.float64)
    assert xt.shape == (6, 3, 32, 32) and xt.dtype == np.float64
    np.testing.assert_array_equal(yt, test[b"labels"])


def test_cifar10_sub_folder_and_default_dir(tmp_path, monkeypatch):
    write_cifar_dir(tmp_path / "cifar-10-batches-py")
    assert data.load_cifar10(tmp_path, kind="test")[0].shape == (6, 3, 32, 32)
    monkeypatch.setenv("FASTCNN_DATA", str(tmp_path))
    assert data.load_cifar10(kind="test")[0].shape == (6, 3, 32, 32)


def test_cifar10_missing_batch(tmp_path):
    write_cifar_dir(tmp_path)
    os.remove(tmp_path / "data_batch_4")
    with pytest.raises(FileNotFoundError) as e:
        data.load_cifar10(tmp_path, kind="train")
    assert "data_batch_4" in str(e.value)
    with pytest.raises(ValueError, match="kind"):
        data.load_cifar10(tmp_path, kind="valid")


class Py2Pickler(pickle._Pickler):
    """Writes a pickle as Python 2's cPickle wrote the real CIFAR-10 batches: str and
    bytes as Python 2 `str` (BINSTRING opcodes, read back as bytes with
    encoding='bytes'), NumPy's rebuilders under their old name numpy.core.multiarray."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        b = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(b) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(b)]) + b)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(b)) + b)
        self.memoize(obj)

    def save_global(self, obj, name=None):
        module = obj.__module__.replace("numpy._core", "numpy.core")
        name = name or obj.__qualname__
        self.write(pickle.GLOBAL + module.encode() + b"\n" + name.encode() + b"\n")
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str
    dispatch[type] = save_global


def test_cifar10_python2_style_pickle(tmp_path):
    write_cifar_dir(tmp_path)
    rng = np.random.default_rng(5)
    batch = {
        "batch_label": "testing batch 1 of 1",
        "data": rng.integers(0, 256, size=(3, 3072), dtype=np.uint8),
        "labels": [9, 0, 4],
        "filenames": ["a.png", "b.png", "c.png"],
    }
    with open(tmp_path / "test_batch", "wb") as f:
        Py2Pickler(f, protocol=2).dump(batch)
    assert b"numpy.core.multiarray" in (tmp_path / "test_batch").read_bytes()
    x, y = data.load_cifar10(tmp_path, kind="test", normalize=False, dtype=None)
    np.testing.assert_array_equal(x.reshape(3, -1), batch["data"])
    np.testing.assert_array_equal(y, [9, 0, 4])


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_pickle_protocols(tmp_path, protocol):
    write_cifar_dir(tmp_path)
    batch = {b"data": np.full((2, 3072), 7, np.uint8), b"labels": np.array([1, 2])}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=protocol))
    x, y = data.load_cifar10(tmp_path, kind="test", normalize=False, dtype=None)
    assert x.shape == (2, 3, 32, 32) and (x == 7).all() and y.tolist() == [1, 2]


@pytest.mark.parametrize(
    "payload",
    [
        b"this is not a pickle",
        pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, protocol=2)[:40],
        b"",
    ],
    ids=["garbage", "truncated", "empty"],
)
def test_cifar10_corrupt_pickle(tmp_path, payload):
    write_cifar_dir(tmp_path)
    (tmp_path / "test_batch").write_bytes(payload)
    with pytest.raises(ValueError, match="not a readable CIFAR-10 batch") as e:
        data.load_cifar10(tmp_path, kind="test")
    assert str(tmp_path / "test_batch") in str(e.value)


class _Hostile:
    def __reduce__(self):
        return (os.getcwd, ())  # harmless, but any callable but NumPy's is refused


@pytest.mark.parametrize(
    "batch, message",
    [
        ([1, 2, 3], "pickled dict"),
        ({b"data": np.zeros((2, 3072), np.uint8)}, "lacks"),
        ({b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 1]}, r"\(N, 3072\)"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "uint8"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "2 integers"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"0\.\.9"),
        ({b"data": _Hostile(), b"labels": [0]}, "refusing to load global"),
    ],
)
def test_cifar10_bad_batches(tmp_path, batch, message):
    write_cifar_dir(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(ValueError, match=message):
        data.load_cifar10(tmp_path, kind="test")


# ----------------------------------------------------------------------------- helpers


def test_batches_cover_in_order():
    x, y = np.arange(10 * 2).reshape(10, 2), np.arange(10)
    got = list(data.batches(x, y, 4))
    assert [len(b[1]) for b in got] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), x)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), y)
    assert [len(b[1]) for b in data.batches(x, y, 4, drop_last=True)] == [4, 4]
    assert [len(b[1]) for b in data.batches(x, y, 20)] == [10]
    assert list(data.batches(x[:0], y[:0], 3)) == []


def test_batches_shuffle_deterministic():
    x, y = np.arange(50) * 10, np.arange(50)
    a = [yb for _, yb in data.batches(x, y, 8, shuffle=True, seed=1)]
    b = [yb for _, yb in data.batches(x, y, 8, shuffle=True, seed=1)]
    c = [yb for _, yb in data.batches(x, y, 8, shuffle=True, seed=2)]
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(np.concatenate(a), np.concatenate(c))
    order = np.concatenate(a)
    assert not np.array_equal(order, y) and sorted(order) == list(y)  # a permutation
    for xb, yb in data.batches(x, y, 8, shuffle=True, seed=1):
        np.testing.assert_array_equal(xb, yb * 10)  # pairs stay together


def test_batches_errors_when_called():
    with pytest.raises(ValueError, match="samples"):
        data.batches(np.zeros(3), np.zeros(4), 2)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="batch_size"):
            data.batches(np.zeros(3), np.zeros(3), bad)


def test_one_hot():
    out = data.one_hot(np.array([2, 0, 1]), 4)
    np.testing.assert_array_equal(out, [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    assert out.dtype == np.float32
    assert data.one_hot([[1], [0]], 2, dtype=np.float64).shape == (2, 1, 2)
    assert data.one_hot([0, 3]).shape == (2, 4)
    assert data.one_hot(np.array([1.0, 0.0]), 2).tolist() == [[0, 1], [1, 0]]
    assert data.one_hot(np.array([], np.int64), 3).shape == (0, 3)
    for bad in ([0, 3], [-1, 0]):
        with pytest.raises(ValueError, match="labels must be in"):
            data.one_hot(bad, 3)
    with pytest.raises(ValueError, match="integer labels"):
        data.one_hot([0.5], 2)


def test_train_test_split():
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    x_tr, x_te, y_tr, y_te = data.train_test_split(x, y, 0.3, seed=0)
    assert (len(x_tr), len(x_te), len(y_tr), len(y_te)) == (7, 3, 7, 3)
    assert sorted(np.concatenate([y_tr, y_te])) == list(range(10))
    np.testing.assert_array_equal(x_tr[:, 0] // 2, y_tr)
    again = data.train_test_split(x, y, 0.3, seed=0)
    for p, q in zip((x_tr, x_te, y_tr, y_te), again):
        np.testing.assert_array_equal(p, q)
    assert len(data.train_test_split(x, y, 4, seed=1)[1]) == 4  # a count
    for bad in (0.0, 1.0, 0, 10, 0.01, "0.2"):
        with pytest.raises(ValueError, match="test_size"):
            data.train_test_split(x, y, bad)
    with pytest.raises(ValueError, match="samples"):
        data.train_test_split(x, y[:9], 0.2)


# ----------------------------------------------------------------------------- load_digits


def test_load_digits_is_packaged_and_needs_no_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # importing it would fail
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    (x_tr, y_tr), (x_te, y_te) = data.load_digits()
    assert len(x_tr) + len(x_te) == 1797 and len(x_te) == round(1797 * 0.2)
    assert x_tr.shape[1:] == (1, 8, 8) and x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    y = np.concatenate([y_tr, y_te])
    # images per class of the UCI optdigits test set (its documentation)
    np.testing.assert_array_equal(np.bincount(y), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    x = np.concatenate([x_tr, x_te])
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x * 16, np.round(x * 16))  # sixteenths: block counts 0..16


def test_load_digits_arguments():
    (x_tr, y_tr), (x_te, y_te) = data.load_digits(test_size=0.25, seed=3)
    (x2, y2), _ = data.load_digits(test_size=0.25, seed=3)
    np.testing.assert_array_equal(x2, x_tr)
    np.testing.assert_array_equal(y2, y_tr)
    assert len(x_te) == round(1797 * 0.25)
    assert not np.array_equal(data.load_digits(seed=4)[0][1], data.load_digits(seed=3)[0][1])
    (xr, _), _ = data.load_digits(normalize=False, dtype=None)
    assert xr.dtype == np.uint8 and xr.max() == 16
    (xd, _), _ = data.load_digits(dtype=np.float64, seed=0)
    (xf, _), _ = data.load_digits(seed=0)
    assert xd.dtype == np.float64
    np.testing.assert_allclose(xd, xf, rtol=1e-7)
    with pytest.raises(ValueError, match="test_size"):
        data.load_digits(test_size=0.0)


def test_load_digits_equals_scikit_learn():
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
    sk = datasets.load_digits()
    with np.load(Path(data.__file__).with_name("_datasets") / "digits.npz", allow_pickle=False) as stored:
        np.testing.assert_array_equal(stored["images"], sk.images)  # same order, same values
        np.testing.assert_array_equal(stored["labels"], sk.target)
    (xr, yr), (xt, yt) = data.load_digits(normalize=False, dtype=None)
    ours = np.concatenate(
        [np.concatenate([xr, xt]).reshape(-1, 64), np.concatenate([yr, yt])[:, None]], axis=1
    )
    theirs = np.concatenate([sk.data, sk.target[:, None]], axis=1)
    np.testing.assert_array_equal(np.unique(ours, axis=0), np.unique(theirs, axis=0))
    assert len(ours) == len(theirs)


def test_packaged_digits_file():
    """Stored compactly, without pickles, with its licence beside it."""
    folder = Path(data.__file__).with_name("_datasets")
    npz = folder / "digits.npz"
    assert npz.stat().st_size < 100_000
    with np.load(npz, allow_pickle=False) as stored:
        assert stored["images"].dtype == np.uint8 and stored["images"].shape == (1797, 8, 8)
        assert stored["labels"].dtype == np.uint8 and stored["labels"].shape == (1797,)
    readme = (folder / "README.md").read_text()
    assert "CC BY 4.0" in readme and "10.24432/C50P49" in readme


# ----------------------------------------------------------------------------- real data

CHECKSUMS = {  # md5 from ../shared/data/README.md
    "mnist/t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "mnist/t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    "mnist/train-5k-images-idx3-ubyte.gz": "81edc6ee08338daf429913bd1a71a8ff",
    "mnist/train-5k-labels-idx1-ubyte.gz": "12a57e01969d72ff608d06fba11a36a0",
    "mnist/train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "fashion-mnist/t10k-images-idx3-ubyte.gz": "f78720b4224f21cce2f2ccf2d7a94c9a",
    "fashion-mnist/t10k-labels-idx1-ubyte.gz": "0d30e22e447f3c33dab9ed536400ac01",
    "fashion-mnist/train-images-idx3-ubyte.gz": "cf8536b0aa1a6ac5fa3f23001093305c",
    "fashion-mnist/train-labels-idx1-ubyte.gz": "10bea18fdb374794d4bb42e356e600c9",
}


def _real_dir():
    env = os.environ.get("FASTCNN_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def real_file(rel):
    p = _real_dir() / rel
    if not p.is_file():
        pytest.skip(f"real data not present: {p}")
    return p


@pytest.mark.parametrize("rel", sorted(CHECKSUMS))
def test_real_checksums(rel):
    p = real_file(rel)
    assert hashlib.md5(p.read_bytes()).hexdigest() == CHECKSUMS[rel]


def test_real_mnist_test_set():
    real_file("mnist/t10k-images-idx3-ubyte.gz")
    real_file("mnist/t10k-labels-idx1-ubyte.gz")
    x, y = data.load_mnist(_real_dir() / "mnist", kind="test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.int64
    assert y[0] == 7 and set(np.unique(y)) == set(range(10))
    assert x.min() == 0.0 and x.max() == 1.0
    raw = data.load_idx(_real_dir() / "mnist" / "t10k-images-idx3-ubyte.gz")
    assert raw.shape == (10000, 28, 28) and raw.dtype == np.uint8


def test_real_mnist_train_5k():
    real_file("mnist/train-5k-images-idx3-ubyte.gz")
    real_file("mnist/train-5k-labels-idx1-ubyte.gz")
    x, y = data.load_mnist(_real_dir() / "mnist", kind="train", prefix="train-5k")
    assert x.shape == (5000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(y, minlength=10), [500] * 10)


def test_real_mnist_train_labels():
    labels = data.load_idx(real_file("mnist/train-labels-idx1-ubyte.gz"))
    assert labels.shape == (60000,) and labels.dtype == np.uint8 and labels.max() == 9


@pytest.mark.parametrize("kind, n", [("train", 60000), ("test", 10000)])
def test_real_fashion_mnist(kind, n):
    prefix = "train" if kind == "train" else "t10k"
    real_file(f"fashion-mnist/{prefix}-images-idx3-ubyte.gz")
    real_file(f"fashion-mnist/{prefix}-labels-idx1-ubyte.gz")
    x, y = data.load_fashion_mnist(_real_dir() / "fashion-mnist", kind=kind)
    assert x.shape == (n, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(y, minlength=10), [n // 10] * 10)
    assert 0.0 <= x.min() and x.max() <= 1.0
