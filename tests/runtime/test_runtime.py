"""The runtime controls: SIMD path (set_isa, FASTCNN_ISA), thread count, cpu_info."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastcnn
import fastcnn.functional as F

from _helpers import assert_close, rand, using_threads

ALL_ISAS = ("avx512", "avx2", "generic")


def test_cpu_info_keys_and_values():
    info = fastcnn.cpu_info()
    expected = {
        "isa",
        "supported_isas",
        "num_threads",
        "cpu",
        "l1d_bytes",
        "l2_bytes",
        "l3_bytes",
        "gemm_tile_f32",
        "gemm_tile_f64",
        "avx512_fma_speedup",
        "streaming_store_bytes",
    }
    assert expected <= set(info), expected - set(info)
    assert isinstance(info, dict)
    supported = info["supported_isas"]
    assert isinstance(supported, list) and supported and supported[-1] == "generic"
    assert set(supported) <= set(ALL_ISAS) and len(set(supported)) == len(supported)
    assert [i for i in ALL_ISAS if i in supported] == supported  # widest first
    assert info["isa"] in supported
    assert info["num_threads"] == fastcnn.get_num_threads() >= 1
    assert isinstance(info["cpu"], str) and info["cpu"]
    for key in ("l1d_bytes", "l2_bytes", "l3_bytes"):
        assert isinstance(info[key], int) and info[key] > 0
    for key in ("gemm_tile_f32", "gemm_tile_f64"):
        mr, nr = info[key]
        assert mr > 0 and nr > 0
    # Measured, so only bounds: exactly 1 without AVX-512, else about 1 or 2.
    speedup = info["avx512_fma_speedup"]
    if "avx512" in supported:
        assert 0.5 < speedup < 3.0
    else:
        assert speedup == 1.0


def test_streaming_size_and_copy_probe():
    info = fastcnn.cpu_info()
    # a quarter of the L3, at least 32 MiB
    assert info["streaming_store_bytes"] == max(32 << 20, info["l3_bytes"] // 4)
    # the benchmark's memcpy probe: a positive, finite rate
    assert 0.1 < fastcnn._C.copy_bandwidth_gbs(1) < 10000


def test_cpu_info_is_a_fresh_dict():
    info = fastcnn.cpu_info()
    info["isa"] = "tampered"
    assert fastcnn.cpu_info()["isa"] != "tampered"


def test_isa_fixture_switches_the_path(isa):
    assert fastcnn.cpu_info()["isa"] == isa


@pytest.mark.parametrize("name", fastcnn.cpu_info()["supported_isas"])
def test_set_isa_roundtrip(name):
    before = fastcnn.cpu_info()["isa"]
    fastcnn.set_isa(name)
    assert fastcnn.cpu_info()["isa"] == name
    fastcnn.set_isa(before)
    assert fastcnn.cpu_info()["isa"] == before


@pytest.mark.parametrize("name", ["sse9", "", "AVX2 ", "avx-512", "neon", "auto"])
def test_set_isa_unknown_name_raises(name):
    before = fastcnn.cpu_info()["isa"]
    with pytest.raises(ValueError, match="ISA"):
        fastcnn.set_isa(name)
    assert fastcnn.cpu_info()["isa"] == before


@pytest.mark.parametrize(
    "name",
    [i for i in ALL_ISAS if i not in fastcnn.cpu_info()["supported_isas"]]
    or [pytest.param("avx512", marks=pytest.mark.skip("this CPU supports every ISA"))],
)
def test_set_isa_unsupported_raises(name):
    before = fastcnn.cpu_info()["isa"]
    with pytest.raises(ValueError, match=name):
        fastcnn.set_isa(name)
    assert fastcnn.cpu_info()["isa"] == before


def test_isas_agree(dtype):
    # every path computes the same numbers (within fp tolerance) as the first
    rng = np.random.default_rng(1)
    x, w, b = rand(rng, (2, 6, 13, 17), dtype), rand(rng, (8, 3, 3, 3), dtype), rand(rng, (8,), dtype)
    kw = dict(stride=2, padding=1, groups=2)
    results = {}
    for name in fastcnn.cpu_info()["supported_isas"]:
        fastcnn.set_isa(name)
        y = F.conv2d(x, w, b, **kw)
        results[name] = [
            y,
            *F.conv2d_backward(np.ones_like(y), x, w, **kw),
            F.avg_pool2d(x, 3, 2, 1),
            F.global_avg_pool2d(x),
        ]
    first = next(iter(results.values()))
    for name, got in results.items():
        for g, e in zip(got, first):
            assert_close(g, e, name)


# --------------------------------------------------------------- threads


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64])
def test_set_num_threads_roundtrip(n):
    fastcnn.set_num_threads(n)
    assert fastcnn.get_num_threads() == n
    assert fastcnn.cpu_info()["num_threads"] == n


@pytest.mark.parametrize("n", [0, -1, -100])
def test_set_num_threads_rejects_non_positive(n):
    before = fastcnn.get_num_threads()
    with pytest.raises(ValueError, match="num_threads"):
        fastcnn.set_num_threads(n)
    assert fastcnn.get_num_threads() == before


@pytest.mark.parametrize("n", [1.5, "2", None, True])
def test_set_num_threads_rejects_non_int(n):
    with pytest.raises(ValueError, match="num_threads"):
        fastcnn.set_num_threads(n)


def _all_ops(dtype, rng):
    x, w, b = rand(rng, (3, 8, 21, 19), dtype), rand(rng, (12, 4, 3, 3), dtype), rand(rng, (12,), dtype)
    kw = dict(stride=(1, 2), padding="same", dilation=(2, 1), groups=2)

    def run():
        y = F.conv2d(x, w, b, **kw)
        dout = np.cos(np.arange(y.size)).reshape(y.shape).astype(dtype)
        pooled, idx = F.max_pool2d(x, 3, 2, 1, True, True)
        return [
            y,
            *F.conv2d_backward(dout, x, w, **kw),
            pooled,
            idx,
            F.max_pool2d_backward(np.ones_like(pooled), x, 3, 2, 1, True),
            F.avg_pool2d(x, 3, 2, 1, True, False),
            F.avg_pool2d_backward(np.ones_like(pooled), x, 3, 2, 1, True),
            F.global_avg_pool2d(x),
            *F.global_max_pool2d(x, return_indices=True),
            F.conv1d(x[:, :, 0], w[:, :, 0], b, stride=2, groups=2),
        ]

    return run


def test_one_and_two_threads_agree(dtype, isa):
    run = _all_ops(dtype, np.random.default_rng(4))
    with using_threads(1):
        one = run()
    with using_threads(2):
        two = run()
    with using_threads(5):
        five = run()
    for i, (a, b, c) in enumerate(zip(one, two, five)):
        if a.dtype.kind == "i":
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)
        else:
            assert_close(b, a, f"result {i} with 2 threads")
            assert_close(c, a, f"result {i} with 5 threads")


def test_batch_one_work_splitting_matches_reference(dtype):
    # batch 1 with few planes: work is split over output channels / rows, not images
    import fastcnn.reference as R

    rng = np.random.default_rng(6)
    x, w = rand(rng, (1, 5, 40, 37), dtype), rand(rng, (50, 5, 3, 3), dtype)
    for n in (1, 2, 4):
        with using_threads(n):
            assert_close(F.conv2d(x, w, padding=1), R.conv2d(x, w, padding=1), f"{n} threads")
            assert_close(F.max_pool2d(x, 2), R.max_pool2d(x, 2), f"{n} threads pool")


# ---------------------------------------------------------- environment


def _python(code, **env):
    full = dict(os.environ)
    full.pop("FASTCNN_ISA", None)
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=120)


def test_fastcnn_isa_env_var_generic():
    proc = _python("import fastcnn; print(fastcnn.cpu_info()['isa'])", FASTCNN_ISA="generic")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "generic"


@pytest.mark.parametrize("name", fastcnn.cpu_info()["supported_isas"])
def test_fastcnn_isa_env_var_each_supported(name):
    code = (
        "import numpy as np, fastcnn, fastcnn.functional as F\n"
        "y = F.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)))\n"
        "assert (y == 4).all()\n"
        "print(fastcnn.cpu_info()['isa'])"
    )
    proc = _python(code, FASTCNN_ISA=name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == name


def test_default_isa_is_the_widest_supported():
    proc = _python("import fastcnn; i = fastcnn.cpu_info(); print(i['isa'], i['supported_isas'][0])")
    assert proc.returncode == 0, proc.stderr
    isa, widest = proc.stdout.split()
    assert isa == widest


def test_fastcnn_isa_env_var_unknown_raises_not_crashes():
    code = (
        "import numpy as np, fastcnn.functional as F\nF.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)))"
    )
    proc = _python(code, FASTCNN_ISA="bogus")
    assert proc.returncode == 1, (proc.returncode, proc.stderr)  # a Python exception, not a signal
    assert "ValueError" in proc.stderr and "bogus" in proc.stderr


def test_omp_num_threads_sets_the_default():
    proc = _python("import fastcnn; print(fastcnn.get_num_threads())", OMP_NUM_THREADS="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"
    proc = _python("import fastcnn; print(fastcnn.get_num_threads())", OMP_NUM_THREADS="3")
    assert proc.stdout.strip() == "3"


def test_native_calls_leave_subnormals_working_in_python(dtype, isa):
    # the kernels flush subnormals to zero while they run, and must restore the
    # caller's floating-point mode afterwards
    tiny = np.finfo(dtype).smallest_subnormal
    x = rand(np.random.default_rng(0), (1, 2, 8, 8), dtype)
    F.conv2d(x, x[:1, :, :3, :3])
    F.max_pool2d(x, 2)
    F.global_avg_pool2d(x)
    with using_threads(1):
        F.conv2d_backward(np.ones((1, 1, 6, 6), dtype), x, x[:1, :, :3, :3])
    assert np.array([tiny], dtype)[0] * dtype(1) == tiny
    assert (np.array([tiny, tiny], dtype) + np.zeros(2, dtype) > 0).all()
