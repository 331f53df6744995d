// Hammers csrc/ops/thread_pool with parallel_for and parallel_for_stealing
// from several threads at once (busy pool: callers run inline), nested
// regions and spin changes; every task must run exactly once and each
// range's scratch slot must be used by one thread at a time. Built and run
// under ThreadSanitizer by tests/runtime/test_thread_pool_native.py.
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "ops/parallel.h"

namespace fastcnn {
int num_threads() { return 3; }  // stands in for cpu.cpp, which needs the kernel tables
}  // namespace fastcnn

using namespace fastcnn;

int main() {
  std::atomic<long> errors{0};
  auto job = [&](int id) {
    for (int it = 0; it < 2000; ++it) {
      const int64_t tasks = 1 + (it * 7 + id) % 97;
      std::vector<int> hits(tasks, 0);
      std::vector<int> in_use(8, 0);
      auto body = [&](int64_t begin, int64_t end, int slot) {
        if (in_use[slot]++ != 0) errors++;  // a race here is also a TSan report
        for (int64_t i = begin; i < end; ++i) hits[i] += 1;
        if (it % 10 == 0) parallel_for(4, 2, Denormals::keep, [&](int64_t, int64_t, int) {});  // nested: inline
        in_use[slot]--;
      };
      if (it % 2)
        parallel_for(tasks, 2 + it % 3, Denormals::keep, body);
      else
        parallel_for_stealing(tasks, 2 + it % 3, Denormals::flush, body);
      for (int64_t i = 0; i < tasks; ++i)
        if (hits[i] != 1) errors++;
      if (it % 500 == 0) set_pool_spin_us(it % 1000 ? 0 : 300);
    }
  };
  std::vector<std::thread> callers;
  for (int i = 0; i < 3; ++i) callers.emplace_back(job, i);
  for (auto& t : callers) t.join();
  job(3);  // alone: every region through the pool
  const PoolStats s = pool_stats();
  std::printf("errors %ld regions %ld inline %ld\n", errors.load(), static_cast<long>(s.regions),
              static_cast<long>(s.inline_regions));
  return errors.load() == 0 ? 0 : 1;
}
