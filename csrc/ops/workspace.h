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
// trims, would be unmapped and the next call would pay its page faults and
// the kernel's zeroing again, by an amount that depends on the heap's layout.
// At most kSlots blocks (enough for every result of a training step of a
// deep model) and max_bytes in all; a block serves requests of at least half
// its size. Blocks come from std::aligned_alloc and go back with
// std::free.
class BlockCache {
 public:
  static constexpr int kSlots = 64;

  BlockCache(size_t min_bytes, size_t max_bytes) : min_bytes_(min_bytes), max_bytes_(max_bytes) {}

  // A block of at least `bytes` (its capacity in *capacity), or null.
  void* take(size_t bytes, size_t* capacity) {
    if (bytes < min_bytes_) return nullptr;
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
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes >= min_bytes_ && bytes <= max_bytes_) {
      evict_until(max_bytes_ - bytes, kSlots - 1);
      slots_[free_slot()] = {data, bytes};
      cached_ += bytes;
      return;
    }
    std::free(data);
  }

  // A new limit; blocks beyond it are freed now (0 turns the cache off).
  void set_max_bytes(size_t max_bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    max_bytes_ = max_bytes;
    evict_until(max_bytes, kSlots);
  }
  size_t max_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return max_bytes_;
  }
  size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

 private:
  // Frees the largest blocks until at most `bytes` and `slots` blocks remain.
  void evict_until(size_t bytes, int slots) {
    while (cached_ > bytes || used_slots() > slots) {
      int largest = 0;
      for (int i = 1; i < kSlots; ++i)
        if (slots_[i].bytes > slots_[largest].bytes) largest = i;
      std::free(slots_[largest].data);
      cached_ -= slots_[largest].bytes;
      slots_[largest] = {};
    }
  }
  int used_slots() const {
    int n = 0;
    for (int i = 0; i < kSlots; ++i) n += slots_[i].data != nullptr;
    return n;
  }
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
  const size_t min_bytes_;
  size_t max_bytes_;
};

// Never destroyed: workspaces may still be freed during interpreter exit.
inline BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache(size_t{1} << 18, size_t{64} << 20);
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
