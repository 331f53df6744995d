// 64-byte aligned scratch memory, owned by one operator call.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>

namespace fastcnn {

template <typename T>
class Workspace {
 public:
  explicit Workspace(int64_t count) : count_(count) {
    if (count < 0 || static_cast<uint64_t>(count) > std::numeric_limits<size_t>::max() / sizeof(T) - 64)
      throw std::length_error("workspace of " + std::to_string(count) + " elements is too large");
    size_t bytes = (static_cast<size_t>(count) * sizeof(T) + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;
    data_ = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (!data_) throw std::bad_alloc();
  }
  ~Workspace() { std::free(data_); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  T* data() { return data_; }
  T* slot(int index, int64_t per_slot) { return data_ + index * per_slot; }
  void zero() { std::memset(data_, 0, sizeof(T) * count_); }

 private:
  T* data_ = nullptr;
  int64_t count_;
};

// Rounds up to a multiple of `m` (keeps per-thread slots 64-byte aligned).
inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace fastcnn
