// Where an operator puts its packed (or transformed) weights.
//
// A convolution repacks its weights on every call: into register-tile
// panels, transposed tap rows or Winograd's transformed filters. For a
// training step that is a small share of the work, but inference of one
// image through deep layers spends a large part of each call there. An
// inference plan step (inference_plan.cpp) owns a WeightCache and makes it
// current on its thread while its convolution runs; the operator then packs
// into the cache once and reuses the packing on later runs. Without a
// current cache (every other caller) the packing goes to a per-call
// workspace.
//
// A packing is identified by a signature: the site that makes it and every
// size it depends on, so a different algorithm choice (another thread
// count, another ISA) finds no stale entry. The weights themselves are the
// plan's to keep constant: a plan is rebuilt when they may change.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <vector>

#include "workspace.h"

namespace fastcnn {

class WeightCache {
 public:
  // A 64-byte aligned buffer of `bytes` for the packing `signature`, and in
  // *ready whether an earlier call already filled it.
  void* find_or_make(uint64_t signature, size_t bytes, bool* ready);
  // Marks the packing filled (after the caller wrote it).
  void mark_ready(uint64_t signature);
  size_t bytes() const;

 private:
  struct Entry {
    uint64_t signature;
    size_t bytes;
    bool ready;
    std::unique_ptr<void, decltype(&std::free)> data{nullptr, &std::free};
  };
  std::vector<Entry> entries_;
};

// The calling thread's current cache (null outside an inference plan step).
WeightCache* current_weight_cache();

// Makes `cache` current on this thread while it lives.
class ScopedWeightCache {
 public:
  explicit ScopedWeightCache(WeightCache* cache);
  ~ScopedWeightCache();
  ScopedWeightCache(const ScopedWeightCache&) = delete;
  ScopedWeightCache& operator=(const ScopedWeightCache&) = delete;

 private:
  WeightCache* previous_;
};

// A packing's signature: the site's tag and the sizes it depends on.
uint64_t pack_signature(std::initializer_list<int64_t> parts);

// Tags of the sites that pack forward weights.
enum class PackSite : int64_t {
  implicit_gemm = 1,
  direct_tiles,
  direct_tiles_nhwc,
  direct_columns,
  pointwise,
  image_lanes,
  winograd,
  winograd_phases
};

// `elements` packed weights: in the current cache (ready() once an earlier
// call packed them) or in a workspace of this call.
template <typename T>
class PackedWeights {
 public:
  PackedWeights(PackSite site, std::initializer_list<int64_t> sizes, int64_t elements)
      : cache_(current_weight_cache()), own_(cache_ ? 0 : elements) {
    if (cache_) {
      std::vector<int64_t> parts{static_cast<int64_t>(site), elements, static_cast<int64_t>(sizeof(T))};
      parts.insert(parts.end(), sizes.begin(), sizes.end());
      signature_ = 0;
      for (int64_t v : parts) signature_ = pack_signature({static_cast<int64_t>(signature_), v});
      data_ = static_cast<T*>(cache_->find_or_make(signature_, static_cast<size_t>(elements) * sizeof(T), &ready_));
    } else {
      data_ = own_.data();
    }
  }
  T* data() { return data_; }
  // Whether the weights are already packed here (skip packing).
  bool ready() const { return ready_; }
  // Call after packing into data().
  void packed() {
    if (cache_) cache_->mark_ready(signature_);
  }

 private:
  WeightCache* cache_;
  Workspace<T> own_;
  T* data_ = nullptr;
  uint64_t signature_ = 0;
  bool ready_ = false;
};

}  // namespace fastcnn
