"""fastcnn: fast CPU convolution and pooling for NumPy, with a small model API.

The heavy work runs in the native module `fastcnn._C` (C++, SIMD, a thread pool of its own);
`fastcnn.functional` takes and returns NumPy arrays; `fastcnn.reference`
holds the pure-NumPy implementations every native op is tested against.
"""

from __future__ import annotations

from . import _C, callbacks, functional, layers, losses, metrics, optimizers, schedules
from ._paths import reference_path
from .explain import explain, set_verbose
from .functional import conv_output_size
from .graph import Input, Model
from .interop import from_keras_weights, from_torch_state_dict
from .model import History, Sequential, load_model

__version__ = "0.1.0"


def set_num_threads(n):
    """Number of threads the native kernels use (default: OMP_NUM_THREADS, else all cores)."""
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"num_threads must be a positive int, got {n!r}")
    _C.set_num_threads(n)


def get_num_threads():
    """Number of threads the native kernels use."""
    return _C.get_num_threads()


def set_output_cache_limit(max_bytes):
    """How much memory of freed results (arrays of 1 MiB and more that fastcnn
    returned) is kept for reuse by later calls; 0 turns the cache off and
    frees what it holds. Default 256 MiB.

    Fresh large arrays cost a page fault per page and the kernel's zeroing
    before an op writes them; a training loop returns the same shapes every
    step, so recycling them saves that (a quarter of a large pool backward).
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise ValueError(f"max_bytes must be a non-negative int, got {max_bytes!r}")
    _C.set_output_cache_limit(max_bytes)


def output_cache_info():
    """The output cache: `limit_bytes`, `cached_bytes` (freed results held now),
    `min_array_bytes` (smaller results use NumPy's allocator), and
    `fresh_blocks` / `fresh_bytes`: results since start-up that needed new
    memory because no cached block fitted (a steady training loop adds none)."""
    return dict(_C.output_cache_info())


def set_isa(name):
    """Force the SIMD path: 'avx512', 'avx2' or 'generic' (must be supported by this CPU).

    The environment variable FASTCNN_ISA does the same at import time.
    """
    _C.set_isa(str(name))


def cpu_info():
    """The SIMD path in use, the paths this CPU supports, threads and cache sizes.

    `streaming_store_bytes`: pooling gradients larger than this are written
    with non-temporal stores (too big to be cached when next read).

    `avx512_fma_speedup` is AVX-512's measured FMA rate over AVX2's on one
    core (about 2 where 512-bit FMAs issue on two full-width ports, about 1
    where they are split in halves; 1 without AVX-512): the auto algorithm
    choice for weight gradients depends on it.

    The thread pool (docs/threads.md): `pool_spin_us` (how long idle workers
    spin before sleeping; FASTCNN_SPIN_US), `serial_grain` (below these
    amounts of work per op family a call runs on the calling thread;
    FASTCNN_GRAIN_SCALE scales them) and `pool`, counters since start-up:
    regions run, ranges the caller ran because no worker had claimed them
    yet, sleeps, and `spins_cut_short`, the times a spinning thread stopped
    because more threads were runnable than the machine has CPUs."""
    return dict(_C.cpu_info())


__all__ = [
    "functional",
    "conv_output_size",
    "layers",
    "losses",
    "optimizers",
    "callbacks",
    "schedules",
    "metrics",
    "Sequential",
    "Model",
    "Input",
    "History",
    "load_model",
    "from_torch_state_dict",
    "from_keras_weights",
    "reference_path",
    "explain",
    "set_verbose",
    "set_num_threads",
    "get_num_threads",
    "set_output_cache_limit",
    "output_cache_info",
    "set_isa",
    "cpu_info",
    "__version__",
]
