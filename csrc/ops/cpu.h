// What CPU we run on, which kernel table is active, and how many threads to use.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../kernels/kernel_table.h"

namespace fastcnn {

struct CacheSizes {
  int64_t l1d, l2, l3;  // bytes, per core for L1/L2
};

const CacheSizes& cache_sizes();

// ISAs this CPU can run, widest first (always ends with "generic").
std::vector<std::string> supported_isas();

// The active table: FASTCNN_ISA if set (and supported), else the widest.
const KernelTable& active_kernels();

// Whether the active table is the AVX-512 one (for rules that hold only for its tiles).
bool avx512_active();

// Forces a path; throws std::invalid_argument for an unknown or unsupported one.
void set_isa(const std::string& name);

// Results larger than this are written with non-temporal stores, being too
// big to still be cached when they are next read: a quarter of the reported
// L3 (on a VM, other guests share the L3 it reports), at least 32 MiB.
int64_t streaming_store_bytes();
inline bool writes_bypass_cache(int64_t bytes) { return bytes > streaming_store_bytes(); }

// Threads an op uses: set_num_threads, else OMP_NUM_THREADS, else all
// cores; 1 on a thread whose current op is below its grain (grain.h).
int num_threads();
void set_num_threads(int n);
bool thread_limited_to_one();
void set_thread_limited_to_one(bool limited);

std::string cpu_model_name();

// Measured float32 FMA throughput of the active ISA on `threads` threads (0: all).
double fma_peak_gflops(int threads);

// Measured memcpy bandwidth over 128 MiB on `threads` threads (0: all), in
// GB/s of bytes read plus bytes written (as the pooling rates count them).
double copy_bandwidth_gbs(int threads);

// AVX-512 FMA throughput over AVX2's on one core, measured once per process:
// ~2 where 512-bit FMAs run on two full-width ports, ~1 where they are split
// into 256-bit halves or issue on one port;
// 1 without AVX-512. Algorithm choices that trade FMAs against memory
// passes (Winograd vs direct) depend on it.
double avx512_fma_speedup();

// True when the active table is AVX-512 and avx512_fma_speedup() > 1.5.
bool wide_fma_active();

}  // namespace fastcnn
