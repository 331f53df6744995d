#include "thread_pool.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <sched.h>
#include <fcntl.h>
#include <unistd.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace fastcnn {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Sleeps while word == expected (returns at once if it differs, and may
// return spuriously); wake() rouses up to `count` such sleepers.
void park(std::atomic<uint32_t>& word, uint32_t expected) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
#else
  if (word.load() == expected) std::this_thread::sleep_for(std::chrono::microseconds(50));
#endif
}

void wake(std::atomic<uint32_t>& word, int count) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
#else
  (void)word;
  (void)count;
#endif
}

using Clock = std::chrono::steady_clock;

// Threads runnable on this machine now, from /proc/loadavg's fourth field
// (one pread of a kept descriptor); -1 where it cannot be read.
int read_runnable_threads() {
#if defined(__linux__)
  static const int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char text[128];
  const ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
  if (n <= 0) return -1;
  text[n] = 0;
  // "0.00 0.01 0.05 3/345 6789": runnable/total threads.
  const char* p = text;
  for (int field = 0; field < 3 && p; ++field) {
    p = std::strchr(p, ' ');
    if (p) ++p;
  }
  const int runnable = p ? static_cast<int>(std::strtol(p, nullptr, 10)) : -1;
  return runnable;
#else
  return -1;
#endif
}

int online_cpus() {
#if defined(__linux__)
  static const int cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  return cpus;
#else
  return 0;
#endif
}

// Whether more threads are runnable than the machine has CPUs, so that a
// thread spinning here keeps another from running: BLAS workers spinning
// between NumPy calls, another process. False where it cannot be read.
bool cpus_oversubscribed() {
  const int runnable = read_runnable_threads();
  return runnable > 0 && online_cpus() > 0 && runnable > online_cpus();
}

std::atomic<int64_t> g_spins_cut_short{0};

// How long the machine must stay oversubscribed before a spin ends early.
// Short-lived threads (a kernel worker, a process reading /proc) make single
// readings of runnable threads exceed the CPUs on a quiet machine; ending
// the spin on them would put our workers to sleep between back-to-back
// calls and cost a wake-up each. A spinning BLAS pool or another busy
// process stays runnable far longer than this.
constexpr auto kOversubscribedFor = std::chrono::microseconds(50);

template <class Done>
bool spin_until(Done&& done, std::chrono::microseconds spin) {
  if (done()) return true;
  if (spin.count() <= 0) return false;
  const auto deadline = Clock::now() + spin;
  bool oversubscribed = false;
  Clock::time_point oversubscribed_since{};
  for (;;) {
    for (int i = 0; i < 256; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    const auto now = Clock::now();
    if (now >= deadline) return done();
    if (!cpus_oversubscribed()) {
      oversubscribed = false;
    } else if (!oversubscribed) {
      oversubscribed = true;
      oversubscribed_since = now;
    } else if (now - oversubscribed_since >= kOversubscribedFor) {
      g_spins_cut_short.fetch_add(1, std::memory_order_relaxed);
      return done();
    }
  }
}

int spin_us_from_environment() {
  const char* s = std::getenv("FASTCNN_SPIN_US");
  if (!s || !*s) return 300;
  const long v = std::strtol(s, nullptr, 10);
  return v < 0 ? 0 : (v > 100000 ? 100000 : static_cast<int>(v));
}

thread_local bool t_in_region = false;

// Every slot on the calling thread, in order, marked as inside a region so
// that a parallel_for within a slot runs here too.
void run_every_slot_here(int slots, SlotBody body, void* context) {
  const bool outer = t_in_region;
  t_in_region = true;
  for (int s = 0; s < slots; ++s) body(context, s);
  t_in_region = outer;
}

class ThreadPool {
 public:
  ThreadPool() : spin_us_(spin_us_from_environment()) {}

  void run(int slots, SlotBody body, void* context) {
    std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
    if (!lock.owns_lock()) {
      note_inline_region();
      run_every_slot_here(slots, body, context);
      return;
    }
    start_workers(slots - 1);
    keep_workers_off(current_cpu());
    regions_.fetch_add(1, std::memory_order_relaxed);

    body_ = body;
    context_ = context;
    done_.store(0, std::memory_order_relaxed);
    const uint64_t epoch = ++epoch_;
    // The caller owns slot 0; workers claim from 1. Publishing the claim
    // word (release) makes body_/context_ visible to whoever claims.
    claim_.store((epoch << 32) | (static_cast<uint64_t>(slots) << 16) | 1, std::memory_order_release);
    wake_.store(static_cast<uint32_t>(epoch), std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) wake(wake_, slots - 1);

    t_in_region = true;
    body(context, 0);
    finish_slot();
    const int64_t stolen = run_claimable_slots();
    slots_by_caller_.fetch_add(stolen, std::memory_order_relaxed);
    wait_for_all(static_cast<uint32_t>(slots));
    t_in_region = false;
  }

  PoolStats stats() const {
    PoolStats s;
    s.regions = regions_.load();
    s.inline_regions = inline_regions_.load();
    s.slots_run_by_caller = slots_by_caller_.load();
    s.slots_run_by_workers = slots_by_workers_.load();
    s.caller_sleeps = caller_sleeps_.load();
    s.worker_sleeps = worker_sleeps_.load();
    s.spins_cut_short = g_spins_cut_short.load();
    s.workers = started_.load();
    return s;
  }

  void reset_stats() {
    regions_ = 0;
    inline_regions_ = 0;
    slots_by_caller_ = 0;
    slots_by_workers_ = 0;
    caller_sleeps_ = 0;
    worker_sleeps_ = 0;
    g_spins_cut_short = 0;
  }

  int spin_us() const { return spin_us_.load(std::memory_order_relaxed); }
  void set_spin_us(int us) { spin_us_.store(us, std::memory_order_relaxed); }

  int sleeping_workers() const { return sleepers_.load(std::memory_order_relaxed); }

  void note_inline_region() { inline_regions_.fetch_add(1, std::memory_order_relaxed); }

 private:
  // Workers are started on first need and live for the process (they are
  // never joined: a detached thread asleep on a futex ends with the process).
  void start_workers(int wanted) {
    while (started_.load(std::memory_order_relaxed) < wanted) {
      std::thread worker(&ThreadPool::worker_loop, this);
      handles_.push_back(worker.native_handle());
      worker.detach();
      started_.fetch_add(1, std::memory_order_relaxed);
      off_cpu_ = -2;  // the new worker gets the mask at the next check
    }
  }

  static int current_cpu() {
#if defined(__linux__)
    return sched_getcpu();
#else
    return -1;
#endif
  }

  // Workers may run on any CPU the caller may, except the one the caller is
  // on. A woken thread is placed on its waker's CPU when every CPU is busy,
  // which would queue the worker behind the caller (that then runs every
  // slot itself) while another CPU only spins: a BLAS worker between calls.
  // The mask changes only when the caller has moved.
  void keep_workers_off(int cpu) {
#if defined(__linux__)
    if (cpu == off_cpu_ || cpu < 0) return;
    off_cpu_ = cpu;
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
    if (CPU_COUNT(&allowed) > 1 && cpu < CPU_SETSIZE) CPU_CLR(cpu, &allowed);
    for (pthread_t h : handles_) pthread_setaffinity_np(h, sizeof(allowed), &allowed);
#else
    (void)cpu;
#endif
  }

  // Claims and runs slots of the current region until none is left; returns
  // how many it ran. A claim names its region's epoch, so a thread still
  // holding an old claim word cannot take a slot of a newer region.
  int64_t run_claimable_slots() {
    int64_t ran = 0;
    for (;;) {
      uint64_t w = claim_.load(std::memory_order_acquire);
      const uint32_t next = w & 0xffff, slots = (w >> 16) & 0xffff;
      if (next >= slots) return ran;
      if (!claim_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel)) continue;
      // The region cannot end while this slot is unfinished, so body_ and
      // context_ stay those of the region claimed.
      body_(context_, static_cast<int>(next));
      ++ran;
      finish_slot();
    }
  }

  void finish_slot() {
    const uint32_t slots = (claim_.load(std::memory_order_relaxed) >> 16) & 0xffff;
    if (done_.fetch_add(1, std::memory_order_seq_cst) + 1 == slots && caller_waiting_.load(std::memory_order_seq_cst))
      wake(done_, 1);
  }

  void wait_for_all(uint32_t slots) {
    auto all_done = [&] { return done_.load(std::memory_order_acquire) == slots; };
    if (spin_until(all_done, std::chrono::microseconds(spin_us()))) return;
    caller_sleeps_.fetch_add(1, std::memory_order_relaxed);
    caller_waiting_.store(1, std::memory_order_seq_cst);
    for (;;) {
      const uint32_t d = done_.load(std::memory_order_seq_cst);
      if (d == slots) break;
      park(done_, d);
    }
    caller_waiting_.store(0, std::memory_order_relaxed);
  }

  void worker_loop() {
    t_in_region = true;  // a nested parallel_for inside a slot runs inline
    uint32_t seen = wake_.load(std::memory_order_acquire);
    for (;;) {
      auto changed = [&] { return wake_.load(std::memory_order_acquire) != seen; };
      if (!spin_until(changed, std::chrono::microseconds(spin_us()))) {
        worker_sleeps_.fetch_add(1, std::memory_order_relaxed);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        while (wake_.load(std::memory_order_seq_cst) == seen) park(wake_, seen);
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      }
      seen = wake_.load(std::memory_order_acquire);
      slots_by_workers_.fetch_add(run_claimable_slots(), std::memory_order_relaxed);
    }
  }

  std::mutex busy_;  // one region at a time; a second caller runs inline
  std::vector<pthread_t> handles_;
  int off_cpu_ = -2;  // the CPU workers are kept off (-2: none yet)
  SlotBody body_ = nullptr;
  void* context_ = nullptr;
  uint64_t epoch_ = 0;
  std::atomic<int> spin_us_;
  std::atomic<int> started_{0};
  alignas(64) std::atomic<uint64_t> claim_{0};  // epoch:32 | slots:16 | next:16
  alignas(64) std::atomic<uint32_t> wake_{0};   // futex word: the epoch's low bits
  std::atomic<int> sleepers_{0};
  alignas(64) std::atomic<uint32_t> done_{0};  // futex word: slots finished
  std::atomic<uint32_t> caller_waiting_{0};
  alignas(64) std::atomic<int64_t> regions_{0}, inline_regions_{0}, slots_by_caller_{0}, slots_by_workers_{0},
      caller_sleeps_{0}, worker_sleeps_{0};
};

// The pool of this process. A forked child has none of its parent's
// threads, so it starts a pool of its own (the parent's object, whose lock
// may have been copied held, is left alone and never freed).
std::atomic<ThreadPool*> g_pool{nullptr};
std::mutex g_pool_mutex;

void forget_pool_in_child() { g_pool.store(nullptr, std::memory_order_relaxed); }

ThreadPool& pool() {
  ThreadPool* p = g_pool.load(std::memory_order_acquire);
  if (p) return *p;
  static const bool registered = [] {
#if defined(__linux__)
    pthread_atfork(nullptr, nullptr, forget_pool_in_child);
#endif
    return true;
  }();
  (void)registered;
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  p = g_pool.load(std::memory_order_acquire);
  if (!p) {
    p = new ThreadPool();  // never deleted: see start_workers
    g_pool.store(p, std::memory_order_release);
  }
  return *p;
}

// The comparison run_slots (FASTCNN_THREADS=openmp): a plain OpenMP team
// with one thread per slot (a smaller team, under OMP_THREAD_LIMIT, runs the
// slots in turn).
void run_on_openmp_team(int slots, SlotBody body, void* context) {
#pragma omp parallel num_threads(slots)
  {
    const bool outer = t_in_region;
    t_in_region = true;
    for (int s = omp_get_thread_num(); s < slots; s += omp_get_num_threads()) body(context, s);
    t_in_region = outer;
  }
}

bool openmp_team_from_environment() {
  const char* s = std::getenv("FASTCNN_THREADS");
  return s && std::strcmp(s, "openmp") == 0;
}

std::atomic<bool> g_openmp_team{openmp_team_from_environment()};

}  // namespace

void run_slots(int slots, SlotBody body, void* context) {
  if (slots <= 1) {
    if (slots == 1) body(context, 0);
    return;
  }
  if (t_in_region) {
    pool().note_inline_region();
    run_every_slot_here(slots, body, context);
    return;
  }
  if (g_openmp_team.load(std::memory_order_relaxed)) {
    run_on_openmp_team(slots, body, context);
    return;
  }
  pool().run(slots, body, context);
}

bool openmp_team() { return g_openmp_team.load(); }

void set_openmp_team(bool on) { g_openmp_team.store(on); }

int pool_spin_us() { return pool().spin_us(); }

void set_pool_spin_us(int microseconds) { pool().set_spin_us(microseconds < 0 ? 0 : microseconds); }

PoolStats pool_stats() { return pool().stats(); }

void reset_pool_stats() { pool().reset_stats(); }

bool in_parallel_region() { return t_in_region; }

}  // namespace fastcnn
