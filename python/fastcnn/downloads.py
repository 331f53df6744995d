"""Dataset downloads: the official URLs and checksums, the cache folder, verified atomic fetches.

    path = fetch("mnist/t10k-images-idx3-ubyte.gz")  # data_home()/mnist/..., downloaded once

`fastcnn.data`'s loaders call `fetch` for files they cannot find; most code
never calls this module directly.

- **Cache**: `data_home()`, the environment variable FASTCNN_DATA, else
  `~/.fastcnn/datasets` (Keras keeps `~/.keras/datasets`), one sub-folder
  per dataset.
- **Sources**: `REMOTE_FILES`, one row per file: the dataset's official URL
  first, then mirrors, its size and its published checksum. FASTCNN_DATA_MIRROR
  replaces every URL by `<mirror>/<key>` (`key` as in the table, e.g.
  `mnist/train-images-idx3-ubyte.gz`): for a local mirror or a test server.
- **Integrity**: a file is written to a temporary name beside its place,
  checked (byte count, then checksum), and only then renamed into place
  (`os.replace`, atomic on one file system), so an interrupted or corrupt
  download never leaves a file under the real name; processes downloading
  the same file at once each write their own temporary file.
- **Failures**: `DownloadError` (an OSError) with a one-line message naming
  the URL, the reason and the path where the file can be put by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "RemoteFile",
    "REMOTE_FILES",
    "DownloadError",
    "data_home",
    "fetch",
    "file_checksum",
    "extract_tar_folder",
    "DATA_ENV",
    "MIRROR_ENV",
]

DATA_ENV = "FASTCNN_DATA"
MIRROR_ENV = "FASTCNN_DATA_MIRROR"
_CHUNK = 1 << 20
_HEADERS = {"User-Agent": "fastcnn (dataset download)"}


class DownloadError(OSError):
    """A file could not be downloaded, or what came back was not the file."""


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file.

    key: the file's path below the cache folder (`<dataset>/<name>`, or a
    bare name for archives unpacked into the cache folder itself); urls: the
    official URL first, then mirrors; size: bytes; checksum:
    `"sha256:<hex>"`, or `"md5:<hex>"` where only an MD5 is published.
    """

    key: str
    urls: tuple
    size: int
    checksum: str

    @property
    def name(self):
        return self.key.rsplit("/", 1)[-1]

    @property
    def folder(self):
        """The sub-folder of the cache that holds the file ('' for the cache itself)."""
        return self.key.rsplit("/", 1)[0] if "/" in self.key else ""


def _files(folder, bases, rows):
    return [
        RemoteFile(f"{folder}/{name}" if folder else name, tuple(b + name for b in bases), size, checksum)
        for name, size, checksum in rows
    ]


# MNIST (LeCun, Cortes, Burges): the S3 mirror torchvision downloads from, then
# Google's CVDF mirror; yann.lecun.com itself now refuses unauthenticated downloads.
_MNIST = _files(
    "mnist",
    ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    [
        (
            "train-images-idx3-ubyte.gz",
            9912422,
            "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        (
            "train-labels-idx1-ubyte.gz",
            28881,
            "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            1648877,
            "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            4542,
            "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    ],
)

# Fashion-MNIST (Zalando Research, MIT): the dataset's own S3 site (HTTP only,
# the checksum is what vouches for the bytes), then its GitHub repository.
_FASHION_MNIST = _files(
    "fashion-mnist",
    (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
    [
        (
            "train-images-idx3-ubyte.gz",
            26421880,
            "sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        ),
        (
            "train-labels-idx1-ubyte.gz",
            29515,
            "sha256:a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            4422102,
            "sha256:346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            5148,
            "sha256:67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    ],
)

# CIFAR-10 (Krizhevsky 2009), the python version: one archive whose
# cifar-10-batches-py/ folder is unpacked into the cache folder.
_CIFAR10 = _files(
    "",
    ("https://www.cs.toronto.edu/~kriz/",),
    [
        (
            "cifar-10-python.tar.gz",
            170498071,
            "sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        )
    ],
)

REMOTE_FILES = {f.key: f for f in _MNIST + _FASHION_MNIST + _CIFAR10}


def data_home():
    """The download cache: $FASTCNN_DATA, else ~/.fastcnn/datasets (it may not exist yet)."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path.home() / ".fastcnn" / "datasets"


def remote_file(key):
    """REMOTE_FILES[key], or a ValueError naming the known keys."""
    try:
        return REMOTE_FILES[key]
    except KeyError:
        known = ", ".join(sorted(REMOTE_FILES))
        raise ValueError(f"no download known for {key!r} (known: {known})") from None


def file_checksum(path, algorithm="sha256"):
    """The hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _split_checksum(checksum):
    algorithm, _, expected = checksum.partition(":")
    if algorithm not in ("sha256", "md5") or not expected:
        raise ValueError(f"checksum must be 'sha256:<hex>' or 'md5:<hex>', got {checksum!r}")
    return algorithm, expected.lower()


def _has_checksum(path, remote):
    algorithm, expected = _split_checksum(remote.checksum)
    return os.path.getsize(path) == remote.size and file_checksum(path, algorithm) == expected


def _urls(remote):
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        return (f"{mirror.rstrip('/')}/{remote.key}",)
    return remote.urls


class _Progress:
    """A tqdm bar when tqdm is installed, else one line when the download starts
    and a percentage rewritten in place on a terminal."""

    def __init__(self, enabled, url, dest, total):
        self.enabled, self.total, self.done, self.bar, self.shown = enabled, total, 0, None, -1
        if not enabled:
            return
        print(f"downloading {url} ({total / 1e6:.1f} MB) to {dest}", file=sys.stderr, flush=True)
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, leave=False)

    def update(self, n):
        if not self.enabled:
            return
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif sys.stderr.isatty() and self.total:
            percent = min(100, 100 * self.done // self.total)
            if percent != self.shown:
                self.shown = percent
                print(f"\r  {percent:3d}%", end="", file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.shown >= 0:
            print(file=sys.stderr, flush=True)


class _Refused(Exception):
    """What one URL gave was not the file (network error, short, wrong checksum)."""


def _network_failure(e):
    if isinstance(e, urllib.error.HTTPError):
        return _Refused(f"HTTP {e.code} {e.reason}")
    if isinstance(e, urllib.error.URLError):
        return _Refused(str(e.reason))
    return _Refused(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)


class _Output:
    """The temporary file beside `dest` that a download goes to. It is created
    when the first URL answers, so a failed connection leaves nothing behind,
    and named so that no other process picks the same one; os.open applies the
    process umask, as a plain open would (mkstemp would make it 0600)."""

    def __init__(self, dest):
        self.dest, self.file, self.path = dest, None, None

    def restart(self):
        if self.file is None:
            self.dest.parent.mkdir(parents=True, exist_ok=True)
            self.path = self.dest.with_name(f".{self.dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
            self.file = open(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb")
        self.file.seek(0)
        self.file.truncate()

    def commit(self):
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.path, self.dest)

    def discard(self):
        if self.file is not None:
            self.file.close()
            if self.path.exists():
                self.path.unlink()


def _download_to(url, output, remote, timeout, progress):
    """Streams `url` into `output`, checking the byte count and checksum; raises
    _Refused for anything the server or the network did wrong."""
    algorithm, expected = _split_checksum(remote.checksum)
    digest = hashlib.new(algorithm)
    received = 0
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=_HEADERS), timeout=timeout)
    except (OSError, ValueError, http.client.HTTPException) as e:  # URLError is an OSError
        raise _network_failure(e) from None
    with response:
        length = response.headers.get("Content-Length")
        declared = int(length) if length and length.isdigit() else None
        output.restart()  # an OSError from here on is local (cannot write) and propagates
        bar = _Progress(progress, url, output.dest, declared or remote.size)
        try:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as e:
                    raise _network_failure(e) from None
                if not chunk:
                    break
                output.file.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        finally:
            bar.close()
    if declared is not None and received != declared:
        raise _Refused(f"cut short: {received} of {declared} bytes")
    if received != remote.size:
        raise _Refused(f"{received} bytes, expected {remote.size}")
    actual = digest.hexdigest()
    if actual != expected:
        raise _Refused(f"{algorithm} checksum mismatch: expected {expected}, got {actual}")


def fetch(key, folder=None, force=False, timeout=60.0, progress=True):
    """The path of REMOTE_FILES[key] in `folder`, downloading it when it is missing.

    folder: default `data_home()/<dataset>`. A file already there is kept
    when its size and checksum match the table, else downloaded again;
    force: download even when it matches. The old copy is replaced only once
    the new one checks out. Each URL is tried in turn; what comes back must
    have the table's size and checksum. progress: a line on stderr (and a
    tqdm bar when tqdm is installed). Raises DownloadError with one line
    naming the URLs, the reasons, and where to put the file by hand.
    """
    remote = remote_file(key)
    folder = data_home() / remote.folder if folder is None else Path(folder)
    dest = folder / remote.name
    if dest.is_file() and not force:
        if _has_checksum(dest, remote):
            return dest
        algorithm = remote.checksum.partition(":")[0]
        message = f"{dest} does not match its {algorithm} checksum; downloading it again"
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    output = _Output(dest)
    failures = []
    try:
        for url in _urls(remote):
            try:
                _download_to(url, output, remote, timeout, progress)
            except _Refused as e:
                failures.append(f"{url}: {e}")
                continue
            output.commit()
            return dest
    except OSError as e:
        reason = e.strerror or str(e)
        raise DownloadError(f"cannot write {dest} ({reason}); set {DATA_ENV} to a writable folder") from None
    finally:
        output.discard()
    raise DownloadError(
        f"cannot download {remote.key}: {'; '.join(failures)}; download it by hand and put it at {dest}"
    )


def extract_tar_folder(archive, top, folder):
    """Unpacks the regular files of `archive` under `top/` into `folder/top/`, atomically.

    Only plain files directly in `top/` are written (no links, devices or
    nested paths, so a hostile archive cannot write elsewhere); they go to a
    temporary folder that replaces `folder/top` when complete. Returns the path.
    """
    archive, folder = Path(archive), Path(folder)
    target = folder / top
    staging = folder / f".{top}.{os.getpid()}.{secrets.token_hex(4)}.part"
    staging.mkdir(parents=True)
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                for member in tar:
                    parent, _, name = member.name.rpartition("/")
                    if parent != top or not member.isfile() or name in ("", ".", ".."):
                        continue
                    with tar.extractfile(member) as src, open(staging / name, "wb") as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
        except (tarfile.TarError, EOFError) as e:
            raise DownloadError(f"{archive}: not a readable tar archive ({e})") from None
        if not any(staging.iterdir()):
            raise DownloadError(f"{archive}: no files under {top}/")
        if target.exists():
            old = folder / f".{top}.{os.getpid()}.{secrets.token_hex(4)}.old"
            os.replace(target, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
