// fastcnn's own worker threads, shared by every parallel region.
//
// A region is split into a fixed number of slots (parallel_for's static
// ranges). The calling thread runs slot 0 and then claims any slot no
// worker has claimed yet, so a worker the OS has not scheduled (its core
// taken by NumPy's spinning BLAS threads or another process) delays nothing:
// the caller runs its slot instead, and the worker finds nothing left when
// it wakes. Results do not change, since a slot's range and index do not
// depend on which thread runs it.
//
// After a region, workers spin only briefly for the next one and then sleep
// on a futex, so they do not hold a core that NumPy's BLAS or another
// process needs between fastcnn calls; a caller waiting for a slot a worker
// is still running sleeps too, which frees its core for that worker.
#pragma once
#include <cstdint>
#include <string>

namespace fastcnn {

// Slots a region may have (the claim word holds 16-bit counts).
constexpr int kMaxSlots = 4096;

// One slot of a region: body(context, slot). Must not throw.
using SlotBody = void (*)(void* context, int slot);

// Runs body(context, s) for every s in [0, slots) and returns when all have
// finished. Runs every slot on the calling thread when slots <= 1, when
// called from inside a region (nested) or while another thread's region
// holds the pool.
void run_slots(int slots, SlotBody body, void* context);

// How long (microseconds) an idle worker, or a caller waiting for a worker's
// slot, spins before it sleeps. FASTCNN_SPIN_US sets it at start-up.
int pool_spin_us();
void set_pool_spin_us(int microseconds);

// Counters since start-up (or the last reset), for cpu_info() and
// bench/under_load.py.
struct PoolStats {
  int64_t regions = 0;              // regions handed to the pool (slots > 1)
  int64_t inline_regions = 0;       // run on the caller alone: nested or pool busy
  int64_t slots_run_by_caller = 0;  // slots beyond slot 0 the caller ran itself
  int64_t slots_run_by_workers = 0;
  int64_t caller_sleeps = 0;    // the caller slept waiting for a worker's slot
  int64_t worker_sleeps = 0;    // a worker stopped spinning and slept
  int64_t spins_cut_short = 0;  // spins ended early: more threads runnable than CPUs
  int workers = 0;              // worker threads started
};
PoolStats pool_stats();
void reset_pool_stats();

// Runs regions on an OpenMP team instead (one thread per slot, no
// stealing), for comparing the two in one process: bench/under_load.py
// --openmp. FASTCNN_THREADS=openmp sets it at start-up.
bool openmp_team();
void set_openmp_team(bool on);

// Whether the calling thread is inside a parallel region (a worker, or a
// caller running its slots).
bool in_parallel_region();

}  // namespace fastcnn
