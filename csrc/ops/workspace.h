// 64-byte aligned scratch memory, owned by one operator call.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>

namespace fastcnn {

// Freed large blocks, kept for the next call instead of going back to
// glibc: a block past its mmap threshold, or at the top of the heap when it
// trims, was unmapped and the next call paid its page faults and the
// kernel's zeroing again (MNIST 32 -> 16 5x5 dx took 0.78 or 1.8 ms
// depending on the process's heap layout, with 6x the page faults).
// At most kSlots blocks and kMaxBytes in all; a block serves requests of at
// least half its size.
class BlockCache {
 public:
  static constexpr size_t kMinBytes = size_t{1} << 18;
  static constexpr size_t kMaxBytes = size_t{64} << 20;
  static constexpr int kSlots = 8;

  // A block of at least `bytes` (its capacity in *capacity), or null.
  void* take(size_t bytes, size_t* capacity) {
    if (bytes < kMinBytes) return nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    int best = -1;
    for (int i = 0; i < kSlots; ++i)
      if (slots_[i].data && slots_[i].bytes >= bytes && slots_[i].bytes / 2 <= bytes &&
          (best < 0 || slots_[i].bytes < slots_[best].bytes))
        best = i;
    if (best < 0) return nullptr;
    void* data = slots_[best].data;
    *capacity = slots_[best].bytes;
    cached_ -= slots_[best].bytes;
    slots_[best] = {};
    return data;
  }

  void give(void* data, size_t bytes) {
    if (bytes >= kMinBytes && bytes <= kMaxBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      // Room by evicting the largest blocks first.
      while (cached_ + bytes > kMaxBytes || free_slot() < 0) {
        int largest = 0;
        for (int i = 1; i < kSlots; ++i)
          if (slots_[i].bytes > slots_[largest].bytes) largest = i;
        std::free(slots_[largest].data);
        cached_ -= slots_[largest].bytes;
        slots_[largest] = {};
      }
      slots_[free_slot()] = {data, bytes};
      cached_ += bytes;
      return;
    }
    std::free(data);
  }

 private:
  int free_slot() const {
    for (int i = 0; i < kSlots; ++i)
      if (!slots_[i].data) return i;
    return -1;
  }
  struct Slot {
    void* data = nullptr;
    size_t bytes = 0;
  };
  std::mutex mutex_;
  Slot slots_[kSlots];
  size_t cached_ = 0;
};

// Never destroyed: workspaces may still be freed during interpreter exit.
inline BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache;
  return *cache;
}

template <typename T>
class Workspace {
 public:
  explicit Workspace(int64_t count) : count_(count) {
    if (count < 0 || static_cast<uint64_t>(count) > std::numeric_limits<size_t>::max() / sizeof(T) - 64)
      throw std::length_error("workspace of " + std::to_string(count) + " elements is too large");
    size_t bytes = (static_cast<size_t>(count) * sizeof(T) + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;
    capacity_ = bytes;
    data_ = static_cast<T*>(block_cache().take(bytes, &capacity_));
    if (!data_) {
      capacity_ = bytes;
      data_ = static_cast<T*>(std::aligned_alloc(64, bytes));
    }
    if (!data_) throw std::bad_alloc();
  }
  ~Workspace() { block_cache().give(data_, capacity_); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  T* data() { return data_; }
  T* slot(int index, int64_t per_slot) { return data_ + index * per_slot; }
  void zero() { std::memset(data_, 0, sizeof(T) * count_); }

 private:
  T* data_ = nullptr;
  int64_t count_;
  size_t capacity_ = 0;
};

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace fastcnn
