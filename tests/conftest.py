"""Fixtures of the native-op tests: every SIMD path the CPU supports, both dtypes.

`isa` runs a test once per entry of fastcnn.cpu_info()['supported_isas'],
with that path forced by fastcnn.set_isa and the original restored after.
Dataset downloads never leave the machine: `dataset_server` serves files
from 127.0.0.1, and without it downloads go to a closed local port.
"""

import hashlib
import http.server
import os
import sys
import threading

import numpy as np
import pytest

import fastcnn

sys.path.insert(0, os.path.dirname(__file__))  # tests/_helpers.py under any import mode

SUPPORTED_ISAS = tuple(fastcnn.cpu_info()["supported_isas"])


@pytest.fixture(params=SUPPORTED_ISAS)
def isa(request):
    """Forces one supported SIMD path for the test, then restores the original."""
    original = fastcnn.cpu_info()["isa"]
    fastcnn.set_isa(request.param)
    assert fastcnn.cpu_info()["isa"] == request.param
    try:
        yield request.param
    finally:
        fastcnn.set_isa(original)


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture(autouse=True)
def _restore_runtime():
    """No test leaks a forced ISA or thread count into the next."""
    isa_before, threads_before = fastcnn.cpu_info()["isa"], fastcnn.get_num_threads()
    yield
    fastcnn.set_isa(isa_before)
    fastcnn.set_num_threads(threads_before)


# ----------------------------------------------------------------------------- datasets


@pytest.fixture(autouse=True)
def _downloads_stay_local(monkeypatch):
    """Dataset downloads go to a closed local port unless a test points
    FASTCNN_DATA_MIRROR at its own server: the suite never reaches the internet."""
    monkeypatch.setenv("FASTCNN_DATA_MIRROR", "http://127.0.0.1:9")


class DatasetServer:
    """An HTTP server on 127.0.0.1 (ephemeral port, own thread) serving bytes by path.

    `files[path] = bytes` serves a file; `publish(key, body)` serves it as the
    download table's `key` and makes the table expect exactly those bytes;
    `cut_short.add(path)` sends its full Content-Length but only half the
    bytes, then closes; `requests` lists the paths asked for, in order.
    """

    def __init__(self, monkeypatch):
        self.files, self.cut_short, self.requests = {}, set(), []
        self._monkeypatch = monkeypatch
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in server.cut_short else body)

            def log_message(self, *args):
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    def publish(self, key, body, checksum=None):
        from fastcnn import downloads

        self.files[f"/{key}"] = body
        checksum = checksum or "sha256:" + hashlib.sha256(body).hexdigest()
        entry = downloads.RemoteFile(key, (f"https://example.invalid/{key}",), len(body), checksum)
        self._monkeypatch.setitem(downloads.REMOTE_FILES, key, entry)
        return entry

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


@pytest.fixture
def dataset_server(monkeypatch, tmp_path):
    """A local DatasetServer as the download mirror, an empty cache in
    tmp_path/cache as FASTCNN_DATA, and no shared data from a source checkout."""
    from fastcnn import data

    server = DatasetServer(monkeypatch)
    monkeypatch.setenv("FASTCNN_DATA_MIRROR", server.url)
    monkeypatch.setenv("FASTCNN_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_checkout_data_dir", lambda: None)
    try:
        yield server
    finally:
        server.close()
