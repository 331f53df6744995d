"""fastcnn.downloads and the loaders' downloads, against a local HTTP server.

The `dataset_server` fixture (tests/conftest.py) serves files from
127.0.0.1 as the mirror (FASTCNN_DATA_MIRROR) with an empty cache as
FASTCNN_DATA; the table's entries are replaced by small fake files with
their own sizes and checksums. Nothing here reaches the internet.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from fastcnn import data, downloads

# ----------------------------------------------------------------------------- fake files


def idx_gz(arr):
    """Gzipped IDX bytes, written by hand: 0, 0, 0x08 (uint8), ndim, big-endian dims, data."""
    arr = np.asarray(arr, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return gzip.compress(header + arr.tobytes())


def fake_idx_set(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n).astype(
        np.uint8
    )


def sha256(body):
    return hashlib.sha256(body).hexdigest()


def serve_idx_dataset(server, folder, prefix, n, seed):
    images, labels = fake_idx_set(n, seed)
    server.publish(f"{folder}/{prefix}-images-idx3-ubyte.gz", idx_gz(images))
    server.publish(f"{folder}/{prefix}-labels-idx1-ubyte.gz", idx_gz(labels))
    return images, labels


def cache():
    return Path(os.environ["FASTCNN_DATA"])


def leftovers(folder):
    """Temporary files of interrupted downloads or unpacking."""
    return [p for p in Path(folder).rglob("*") if p.name.endswith((".part", ".old"))]


# ----------------------------------------------------------------------------- fetch


def test_fetch_downloads_verifies_and_keeps(dataset_server, monkeypatch):
    body = b"0123456789" * 1000
    dataset_server.publish("mnist/t10k-labels-idx1-ubyte.gz", body)
    path = downloads.fetch("mnist/t10k-labels-idx1-ubyte.gz", progress=False)
    assert path == cache() / "mnist" / "t10k-labels-idx1-ubyte.gz"
    assert path.read_bytes() == body
    assert dataset_server.requests == ["/mnist/t10k-labels-idx1-ubyte.gz"]
    assert downloads.fetch("mnist/t10k-labels-idx1-ubyte.gz", progress=False) == path
    assert len(dataset_server.requests) == 1  # a file that checks out is not fetched again
    assert leftovers(cache()) == []


def test_fetch_md5_checksums(dataset_server, monkeypatch):
    body = b"cifar" * 100
    md5 = hashlib.md5(body).hexdigest()
    dataset_server.publish("cifar-10-python.tar.gz", body, checksum=f"md5:{md5}")
    assert downloads.fetch("cifar-10-python.tar.gz", progress=False).read_bytes() == body
    dataset_server.publish("cifar-10-python.tar.gz", body, checksum="md5:" + "0" * 32)
    with pytest.raises(downloads.DownloadError, match="md5 checksum mismatch"):
        downloads.fetch("cifar-10-python.tar.gz", force=True, progress=False)


def test_cut_short_download_leaves_nothing(dataset_server, monkeypatch):
    body = os.urandom(50_000)
    dataset_server.publish("mnist/t10k-images-idx3-ubyte.gz", body)
    dataset_server.cut_short.add("/mnist/t10k-images-idx3-ubyte.gz")
    with pytest.raises(downloads.DownloadError) as e:
        downloads.fetch("mnist/t10k-images-idx3-ubyte.gz", progress=False)
    assert "cut short: 25000 of 50000 bytes" in str(e.value)
    assert not (cache() / "mnist" / "t10k-images-idx3-ubyte.gz").exists()
    assert leftovers(cache()) == []


def test_short_file_served_whole(dataset_server, monkeypatch):
    """A mirror that serves a shorter file with an honest Content-Length."""
    body = os.urandom(1000)
    dataset_server.publish("mnist/t10k-images-idx3-ubyte.gz", body)
    dataset_server.files["/mnist/t10k-images-idx3-ubyte.gz"] = body[:600]
    with pytest.raises(downloads.DownloadError, match="600 bytes, expected 1000"):
        downloads.fetch("mnist/t10k-images-idx3-ubyte.gz", progress=False)
    assert not (cache() / "mnist").exists() or list((cache() / "mnist").iterdir()) == []


def test_wrong_checksum_is_refused(dataset_server, monkeypatch):
    body = os.urandom(4096)
    dataset_server.publish("fashion-mnist/t10k-labels-idx1-ubyte.gz", body)
    tampered = bytes([body[0] ^ 1]) + body[1:]
    dataset_server.files["/fashion-mnist/t10k-labels-idx1-ubyte.gz"] = tampered
    with pytest.raises(downloads.DownloadError) as e:
        downloads.fetch("fashion-mnist/t10k-labels-idx1-ubyte.gz", progress=False)
    message = str(e.value)
    assert f"sha256 checksum mismatch: expected {sha256(body)}, got {sha256(tampered)}" in message
    assert not (cache() / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").exists()
    assert leftovers(cache()) == []


def test_next_url_after_a_failure(dataset_server, monkeypatch):
    """The official URL first, then the mirrors (FASTCNN_DATA_MIRROR unset)."""
    monkeypatch.delenv("FASTCNN_DATA_MIRROR")
    body = os.urandom(3000)
    dataset_server.files["/second/x.gz"] = body
    urls = (dataset_server.url + "/first/x.gz", dataset_server.url + "/second/x.gz")
    entry = downloads.RemoteFile("mnist/x.gz", urls, len(body), "sha256:" + sha256(body))
    monkeypatch.setitem(downloads.REMOTE_FILES, "mnist/x.gz", entry)
    assert downloads.fetch("mnist/x.gz", progress=False).read_bytes() == body
    assert dataset_server.requests == ["/first/x.gz", "/second/x.gz"]
    dataset_server.files.clear()
    with pytest.raises(downloads.DownloadError) as e:
        downloads.fetch("mnist/x.gz", force=True, progress=False)
    assert str(e.value).count("HTTP 404") == 2 and urls[0] in str(e.value) and urls[1] in str(e.value)
    assert (cache() / "mnist" / "x.gz").read_bytes() == body  # the good copy survives a failed refresh


def test_offline_is_one_line_naming_the_url_and_the_place(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTCNN_DATA", str(tmp_path / "cache"))
    with pytest.raises(downloads.DownloadError) as e:
        downloads.fetch("mnist/t10k-images-idx3-ubyte.gz", progress=False)
    message = str(e.value)
    assert "\n" not in message
    assert "http://127.0.0.1:9/mnist/t10k-images-idx3-ubyte.gz" in message  # conftest's closed port
    assert f"put it at {tmp_path / 'cache' / 'mnist' / 't10k-images-idx3-ubyte.gz'}" in message
    assert not (tmp_path / "cache").exists()  # a failed connection creates nothing
    assert isinstance(e.value, OSError)


def test_unwritable_cache(dataset_server, monkeypatch, tmp_path):
    dataset_server.publish("mnist/t10k-labels-idx1-ubyte.gz", b"x" * 10)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(downloads.DownloadError, match="cannot write .*FASTCNN_DATA"):
        downloads.fetch("mnist/t10k-labels-idx1-ubyte.gz", folder=blocker / "sub", progress=False)


def test_mismatching_file_in_place_is_fetched_again(dataset_server, monkeypatch):
    body = os.urandom(2000)
    dataset_server.publish("mnist/train-labels-idx1-ubyte.gz", body)
    dest = cache() / "mnist" / "train-labels-idx1-ubyte.gz"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(body[:1500])  # a partial copy left by another tool
    with pytest.warns(RuntimeWarning, match="does not match its sha256 checksum"):
        downloads.fetch("mnist/train-labels-idx1-ubyte.gz", progress=False)
    assert dest.read_bytes() == body


def test_unknown_key_and_bad_checksum_spec(monkeypatch):
    with pytest.raises(ValueError, match="no download known for 'mnist/nope.gz'"):
        downloads.fetch("mnist/nope.gz")
    entry = downloads.RemoteFile("mnist/y.gz", ("http://127.0.0.1:9/y.gz",), 1, "crc32:abcd")
    monkeypatch.setitem(downloads.REMOTE_FILES, "mnist/y.gz", entry)
    with pytest.raises(ValueError, match="'sha256:<hex>' or 'md5:<hex>'"):
        downloads.fetch("mnist/y.gz", folder=Path("/nonexistent-fastcnn-test"), progress=False)


def test_progress_line_on_stderr(dataset_server, monkeypatch, capsys):
    dataset_server.publish("mnist/t10k-labels-idx1-ubyte.gz", b"y" * 2_000_000)
    downloads.fetch("mnist/t10k-labels-idx1-ubyte.gz")
    err = capsys.readouterr().err
    assert f"downloading {dataset_server.url}/mnist/t10k-labels-idx1-ubyte.gz (2.0 MB)" in err


def test_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTCNN_DATA", str(tmp_path))
    assert downloads.data_home() == tmp_path
    monkeypatch.delenv("FASTCNN_DATA")
    assert downloads.data_home() == Path.home() / ".fastcnn" / "datasets"


# ----------------------------------------------------------------------------- the loaders


def test_load_mnist_downloads_on_first_use(dataset_server, monkeypatch):
    images, labels = serve_idx_dataset(dataset_server, "mnist", "t10k", 7, seed=1)
    x, y = data.load_mnist(kind="test", normalize=False, dtype=None)
    np.testing.assert_array_equal(x[:, 0], images)
    np.testing.assert_array_equal(y, labels)
    assert sorted(p.name for p in (cache() / "mnist").iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    served = len(dataset_server.requests)
    data.load_mnist(kind="test")
    assert len(dataset_server.requests) == served  # read from the cache


def test_load_fashion_mnist_downloads_into_its_folder(dataset_server, monkeypatch):
    images, labels = serve_idx_dataset(dataset_server, "fashion-mnist", "train", 5, seed=2)
    x, y = data.load_fashion_mnist(kind="train")
    np.testing.assert_allclose(x[:, 0], images / np.float32(255), rtol=1e-7)
    np.testing.assert_array_equal(y, labels)
    assert (cache() / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file()


def test_corrupt_cached_file_is_downloaded_again(dataset_server, monkeypatch):
    images, labels = serve_idx_dataset(dataset_server, "mnist", "t10k", 6, seed=3)
    data.load_mnist(kind="test")
    cached = cache() / "mnist" / "t10k-images-idx3-ubyte.gz"
    good = cached.read_bytes()
    cached.write_bytes(good[: len(good) // 2])  # cut short after it was cached
    with pytest.warns(RuntimeWarning, match="downloading t10k-images-idx3-ubyte.gz again"):
        x, y = data.load_mnist(kind="test", normalize=False, dtype=None)
    np.testing.assert_array_equal(x[:, 0], images)
    assert cached.read_bytes() == good
    corrupt = bytearray(good)
    corrupt[len(corrupt) // 2] ^= 0xFF  # a flipped byte: gzip's CRC catches it
    cached.write_bytes(bytes(corrupt))
    with pytest.warns(RuntimeWarning, match="again"):
        x, _ = data.load_mnist(kind="test", normalize=False, dtype=None)
    np.testing.assert_array_equal(x[:, 0], images)


def test_corrupt_file_outside_the_cache_is_an_error(dataset_server, monkeypatch, tmp_path):
    """The user's own folder is never rewritten: a bad file there is reported."""
    serve_idx_dataset(dataset_server, "mnist", "t10k", 3, seed=4)
    mine = tmp_path / "mine"
    mine.mkdir()
    images, labels = fake_idx_set(3, seed=4)
    (mine / "t10k-images-idx3-ubyte.gz").write_bytes(idx_gz(images)[:40])
    (mine / "t10k-labels-idx1-ubyte.gz").write_bytes(idx_gz(labels))
    with pytest.raises(ValueError, match="corrupt gzip|truncated"):
        data.load_mnist(mine, kind="test")
    assert dataset_server.requests == []


def test_download_false_and_explicit_directory(dataset_server, monkeypatch, tmp_path):
    images, labels = serve_idx_dataset(dataset_server, "mnist", "t10k", 4, seed=5)
    with pytest.raises(FileNotFoundError) as e:
        data.load_mnist(kind="test", download=False)
    assert "t10k-images-idx3-ubyte.gz" in str(e.value) and "download=True" in str(e.value)
    assert str(cache() / "mnist") in str(e.value) or str(cache()) in str(e.value)
    with pytest.raises(FileNotFoundError):
        data.load_mnist(tmp_path / "mine", kind="test")  # a given directory: no download by default
    assert dataset_server.requests == []
    x, y = data.load_mnist(tmp_path / "mine", kind="test", download=True)
    assert (tmp_path / "mine" / "t10k-labels-idx1-ubyte.gz").is_file()
    np.testing.assert_array_equal(y, labels)


def test_partial_pair_keeps_the_good_file(dataset_server, monkeypatch):
    """Only the missing file of a pair is downloaded; the one in place is checked."""
    images, labels = serve_idx_dataset(dataset_server, "mnist", "t10k", 4, seed=6)
    (cache() / "mnist").mkdir(parents=True)
    (cache() / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(idx_gz(labels))
    data.load_mnist(kind="test")
    assert dataset_server.requests == ["/mnist/t10k-images-idx3-ubyte.gz"]


def cifar_archive(seed=0, hostile=True):
    """A cifar-10-python.tar.gz with small batches, plus entries that must not be unpacked."""
    rng = np.random.default_rng(seed)
    batches = {}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:

        def add(name, payload):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))

        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            n = 3 if name != "test_batch" else 4
            batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(range(n))}
            batches[name] = batch
            add(f"cifar-10-batches-py/{name}", pickle.dumps(batch, protocol=2))
        add("cifar-10-batches-py/readme.html", b"<html></html>")
        if hostile:
            add("../escaped", b"outside")
            add("/tmp/absolute-fastcnn-test", b"outside")
            add("cifar-10-batches-py/nested/deeper", b"nested")
            link = tarfile.TarInfo("cifar-10-batches-py/link")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(link)
    return buffer.getvalue(), batches


def test_load_cifar10_downloads_and_unpacks(dataset_server, monkeypatch):
    archive, batches = cifar_archive()
    dataset_server.publish("cifar-10-python.tar.gz", archive)
    x, y = data.load_cifar10(kind="test", normalize=False, dtype=None)
    np.testing.assert_array_equal(x.reshape(4, -1), batches["test_batch"][b"data"])
    np.testing.assert_array_equal(y, [0, 1, 2, 3])
    folder = cache() / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*batches, "readme.html"])
    assert not (cache() / "cifar-10-python.tar.gz").exists()  # unpacked, then removed
    assert not (cache().parent / "escaped").exists() and not Path("/tmp/absolute-fastcnn-test").exists()
    assert leftovers(cache()) == []
    x, y = data.load_cifar10(kind="train")
    assert x.shape == (15, 3, 32, 32) and len(dataset_server.requests) == 1


def test_corrupt_cifar_batch_is_downloaded_again(dataset_server, monkeypatch):
    archive, batches = cifar_archive(seed=1, hostile=False)
    dataset_server.publish("cifar-10-python.tar.gz", archive)
    data.load_cifar10(kind="test")
    (cache() / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x02}q")  # a cut-off pickle
    with pytest.warns(RuntimeWarning, match="downloading CIFAR-10 again"):
        x, _ = data.load_cifar10(kind="train", normalize=False, dtype=None)
    np.testing.assert_array_equal(x[6:9].reshape(3, -1), batches["data_batch_3"][b"data"])
    assert len(dataset_server.requests) == 2


def test_extract_rejects_a_broken_archive(tmp_path):
    (tmp_path / "bad.tar.gz").write_bytes(b"\x1f\x8bnot really")
    with pytest.raises(downloads.DownloadError, match="not a readable tar archive"):
        downloads.extract_tar_folder(tmp_path / "bad.tar.gz", "cifar-10-batches-py", tmp_path)
    assert not (tmp_path / "cifar-10-batches-py").exists() and leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- the table


def test_table_is_complete_and_well_formed():
    expected = {
        f"{folder}/{prefix}-{part}.gz"
        for folder in ("mnist", "fashion-mnist")
        for prefix in ("train", "t10k")
        for part in ("images-idx3-ubyte", "labels-idx1-ubyte")
    } | {"cifar-10-python.tar.gz"}
    assert set(downloads.REMOTE_FILES) == expected
    for key, entry in downloads.REMOTE_FILES.items():
        algorithm, _, digest = entry.checksum.partition(":")
        assert (algorithm, len(digest)) in (("sha256", 64), ("md5", 32)), key
        assert int(digest, 16) >= 0 and entry.size > 0 and entry.key == key
        assert all(url.endswith("/" + entry.name) for url in entry.urls), key


SHARED_SHA256 = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.parametrize(
    "key",
    [
        "mnist/t10k-images-idx3-ubyte.gz",
        "mnist/t10k-labels-idx1-ubyte.gz",
        "mnist/train-labels-idx1-ubyte.gz",
    ],
)
def test_table_matches_the_official_files_we_have(key):
    """The repository's shared data holds some official MNIST files: their
    size and checksum are the table's."""
    path = SHARED_SHA256 / key
    if not path.is_file():
        pytest.skip(f"{path} not present")
    entry = downloads.REMOTE_FILES[key]
    assert path.stat().st_size == entry.size
    assert "sha256:" + downloads.file_checksum(path) == entry.checksum
