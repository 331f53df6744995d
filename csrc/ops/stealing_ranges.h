// Task ranges that threads take from their own front and steal from each
// other's back (parallel_for_stealing in parallel.h).
//
// Range t starts as parallel_for's static range t. Each thread takes its own
// range from the front in halves (half of what is left each time), and a
// thread that finishes first takes half of what is left of the fullest
// other range, from its back: a thread that started late, or runs at half
// speed on a core it shares with another process, ends up with less work
// instead of holding the region. Taking one's own range in halves keeps at
// most half of it out of reach of a thief at any time, which balances the
// threads better than whole ranges even on a quiet machine
// (bench/pool_vs_openmp.py times it; docs/threads.md).
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>

namespace fastcnn {

class StealingRanges {
 public:
  // Ranges over [0, tasks) for `parts` threads; tasks < 2^31.
  StealingRanges(int64_t tasks, int parts) : ranges_(parts) {
    for (int t = 0; t < parts; ++t)
      ranges_[t].bounds.store(pack(tasks * t / parts, tasks * (t + 1) / parts), std::memory_order_relaxed);
  }

  // The next piece of range `own` from its front, half of what is left, so
  // that at most half of a range is ever out of reach of a thief (a thread
  // running at half speed on a shared core finishes its piece while the
  // others share the rest). False when the range is empty.
  bool take_own(int own, int64_t* begin, int64_t* end) {
    std::atomic<uint64_t>& bounds = ranges_[own].bounds;
    uint64_t b = bounds.load(std::memory_order_acquire);
    for (;;) {
      const int64_t front = front_of(b), back = back_of(b);
      if (front >= back) return false;
      const int64_t left = back - front;
      const int64_t piece = (left + 1) / 2;
      if (bounds.compare_exchange_weak(b, pack(front + piece, back), std::memory_order_acq_rel)) {
        *begin = front;
        *end = front + piece;
        return true;
      }
    }
  }

  // Half of what is left of the fullest other range, from its back. False
  // when every range is empty.
  bool steal(int thief, int64_t* begin, int64_t* end) {
    for (;;) {
      int victim = -1;
      int64_t most = 0;
      for (int t = 0; t < static_cast<int>(ranges_.size()); ++t) {
        if (t == thief) continue;
        const uint64_t b = ranges_[t].bounds.load(std::memory_order_acquire);
        if (back_of(b) - front_of(b) > most) {
          most = back_of(b) - front_of(b);
          victim = t;
        }
      }
      if (victim < 0) return false;
      std::atomic<uint64_t>& bounds = ranges_[victim].bounds;
      uint64_t b = bounds.load(std::memory_order_acquire);
      const int64_t front = front_of(b), back = back_of(b);
      if (front >= back) continue;
      const int64_t piece = (back - front + 1) / 2;
      if (bounds.compare_exchange_strong(b, pack(front, back - piece), std::memory_order_acq_rel)) {
        *begin = back - piece;
        *end = back;
        return true;
      }
    }
  }

 private:
  static uint64_t pack(int64_t front, int64_t back) {
    return (static_cast<uint64_t>(front) << 32) | static_cast<uint64_t>(back);
  }
  static int64_t front_of(uint64_t b) { return static_cast<int64_t>(b >> 32); }
  static int64_t back_of(uint64_t b) { return static_cast<int64_t>(b & 0xffffffffu); }

  struct alignas(64) Range {
    std::atomic<uint64_t> bounds{0};  // front:32 | back:32
  };
  std::vector<Range> ranges_;
};

}  // namespace fastcnn
