// Splitting work over OpenMP threads.
//
// Work is a count of independent tasks; each thread gets one contiguous
// range, so which thread does what depends only on the task and thread
// counts (reductions over per-thread buffers are then deterministic).
#pragma once
#include <omp.h>

#include <cstdint>
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "cpu.h"

namespace fastcnn {

// Flush denormals to zero while a kernel runs (tiny gradients would
// otherwise slow FMAs a hundredfold), restoring the caller's mode after.
class DenormalsAreZero {
 public:
#if defined(__SSE__) || defined(__x86_64__)
  DenormalsAreZero() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }  // FTZ | DAZ
  ~DenormalsAreZero() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#endif
};

// Threads that parallel_for would use for `tasks` tasks.
inline int threads_for(int64_t tasks) {
  const int64_t n = num_threads();
  return static_cast<int>(tasks < n ? (tasks < 1 ? 1 : tasks) : n);
}

// Arithmetic kernels (GEMM) flush denormals; selections and copies (max
// pooling must return its input's exact values) keep them.
enum class Denormals { keep, flush };

// Calls fn(begin, end, thread) over [0, tasks) on at most `threads` threads,
// thread < threads. Ops that size per-thread scratch first pass the count
// they sized it for, so a concurrent set_num_threads cannot outgrow it.
// fn must not throw.
template <class Fn>
void parallel_for(int64_t tasks, int threads, Denormals denormals, Fn&& fn) {
  const int nt = static_cast<int>(tasks < threads ? (tasks < 1 ? 1 : tasks) : threads);
  if (nt <= 1) {
    if (denormals == Denormals::flush) {
      DenormalsAreZero guard;
      fn(int64_t{0}, tasks, 0);
    } else {
      fn(int64_t{0}, tasks, 0);
    }
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
    const int64_t begin = tasks * t / n, end = tasks * (t + 1) / n;
    if (begin < end) {
      if (denormals == Denormals::flush) {
        DenormalsAreZero guard;
        fn(begin, end, static_cast<int>(t));
      } else {
        fn(begin, end, static_cast<int>(t));
      }
    }
  }
}

template <class Fn>
void parallel_for(int64_t tasks, Fn&& fn) {
  parallel_for(tasks, threads_for(tasks), Denormals::keep, fn);
}

}  // namespace fastcnn
