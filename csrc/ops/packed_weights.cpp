#include "packed_weights.h"

#include <new>

namespace fastcnn {

namespace {
thread_local WeightCache* current = nullptr;
}  // namespace

void* WeightCache::find_or_make(uint64_t signature, size_t bytes, bool* ready) {
  for (Entry& e : entries_)
    if (e.signature == signature && e.bytes == bytes) {
      *ready = e.ready;
      return e.data.get();
    }
  void* data = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
  if (!data) throw std::bad_alloc();
  Entry e{signature, bytes, false};
  e.data.reset(data);
  entries_.push_back(std::move(e));
  *ready = false;
  return data;
}

void WeightCache::mark_ready(uint64_t signature) {
  for (Entry& e : entries_)
    if (e.signature == signature) e.ready = true;
}

size_t WeightCache::bytes() const {
  size_t total = 0;
  for (const Entry& e : entries_) total += e.bytes;
  return total;
}

WeightCache* current_weight_cache() { return current; }

ScopedWeightCache::ScopedWeightCache(WeightCache* cache) : previous_(current) { current = cache; }
ScopedWeightCache::~ScopedWeightCache() { current = previous_; }

uint64_t pack_signature(std::initializer_list<int64_t> parts) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the parts' bytes
  for (int64_t v : parts)
    for (int i = 0; i < 8; ++i) {
      h ^= (static_cast<uint64_t>(v) >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  return h;
}

}  // namespace fastcnn
