// Splitting work over the pool's threads (thread_pool.h).
//
// Work is a count of independent tasks; each thread gets one contiguous
// range, so which thread does what depends only on the task and thread
// counts (reductions over per-thread buffers are then deterministic).
#pragma once
#include <cstdint>
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "cpu.h"
#include "stealing_ranges.h"
#include "thread_pool.h"

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

// Calls fn() with denormals flushed when asked.
template <class Fn>
void with_denormals(Denormals denormals, Fn&& fn) {
  if (denormals == Denormals::flush) {
    DenormalsAreZero guard;
    fn();
  } else {
    fn();
  }
}

// Ranges a region over `tasks` tasks on at most `threads` threads has.
inline int slots_for(int64_t tasks, int threads) {
  const int64_t n = tasks < threads ? (tasks < 1 ? 1 : tasks) : threads;
  return static_cast<int>(n < kMaxSlots ? n : kMaxSlots);
}

// run_slots with a lambda run_slot(slot).
template <class RunSlot>
void run_slots_of(int slots, RunSlot& run_slot) {
  run_slots(slots, [](void* context, int t) { (*static_cast<RunSlot*>(context))(t); }, &run_slot);
}

// Calls fn(begin, end, thread) over [0, tasks) in at most `threads` static
// ranges, thread < threads: range t is [tasks*t/n, tasks*(t+1)/n). Ops that
// size per-thread scratch first pass the count they sized it for, so a
// concurrent set_num_threads cannot outgrow it. `thread` names the range and
// its scratch, not an OS thread: whichever thread of the pool is free first
// runs a range (thread_pool.h), and never two ranges at once. fn must not
// throw.
template <class Fn>
void parallel_for(int64_t tasks, int threads, Denormals denormals, Fn&& fn) {
  const int nt = slots_for(tasks, threads);
  auto run_range = [&](int t) {
    const int64_t begin = tasks * t / nt, end = tasks * (t + 1) / nt;
    if (begin < end) with_denormals(denormals, [&] { fn(begin, end, t); });
  };
  if (nt <= 1)
    run_range(0);
  else
    run_slots_of(nt, run_range);
}

// Like parallel_for, but a thread that finishes its range takes tasks from
// the back of another's (stealing_ranges.h), so a thread that starts late
// or shares its core with another process's threads gets less work instead
// of holding everyone up. fn(begin, end, thread) is called several times
// per thread, with pieces of ranges in any order; `thread` (< threads)
// indexes scratch that no other call uses at the same time. For ops whose
// tasks each write their own outputs, so results do not depend on which
// thread ran which task, and whose fn sets up its scratch per call.
template <class Fn>
void parallel_for_stealing(int64_t tasks, int threads, Denormals denormals, Fn&& fn) {
  const int nt = slots_for(tasks, threads);
  if (nt <= 1 || tasks >= (int64_t{1} << 31)) return parallel_for(tasks, nt, denormals, fn);
  StealingRanges ranges(tasks, nt);
  auto work = [&](int t) {
    int64_t begin, end;
    while (ranges.take_own(t, &begin, &end)) fn(begin, end, t);
    while (ranges.steal(t, &begin, &end)) fn(begin, end, t);
  };
  auto run_slot = [&](int t) { with_denormals(denormals, [&] { work(t); }); };
  run_slots_of(nt, run_slot);
}

template <class Fn>
void parallel_for(int64_t tasks, Fn&& fn) {
  parallel_for(tasks, threads_for(tasks), Denormals::keep, fn);
}

}  // namespace fastcnn
