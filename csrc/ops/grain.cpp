#include "grain.h"

#include "cpu.h"

#include <atomic>
#include <cstdlib>

namespace fastcnn {
namespace {

double grain_scale_from_environment() {
  const char* s = std::getenv("FASTCNN_GRAIN_SCALE");
  if (!s || !*s) return 1.0;
  const double v = std::strtod(s, nullptr);
  return v >= 0 ? v : 1.0;
}

std::atomic<double> g_grain_scale{grain_scale_from_environment()};

}  // namespace

int64_t serial_grain(OpFamily family) {
  // See grain.h for where these come from.
  int64_t base = 0;
  switch (family) {
    case OpFamily::conv: base = int64_t{1} << 19; break;         // multiply-adds
    case OpFamily::matmul: base = int64_t{1} << 20; break;       // multiply-adds
    case OpFamily::pool: base = int64_t{1} << 16; break;         // bytes
    case OpFamily::elementwise: base = int64_t{1} << 17; break;  // bytes
  }
  return static_cast<int64_t>(static_cast<double>(base) * g_grain_scale.load(std::memory_order_relaxed));
}

double grain_scale() { return g_grain_scale.load(); }

void set_grain_scale(double scale) { g_grain_scale.store(scale >= 0 ? scale : 0.0); }

SerialBelowGrain::SerialBelowGrain(OpFamily family, int64_t work)
    : limited_(work < serial_grain(family) && !thread_limited_to_one()) {
  if (limited_) set_thread_limited_to_one(true);
}

SerialBelowGrain::~SerialBelowGrain() {
  if (limited_) set_thread_limited_to_one(false);
}

}  // namespace fastcnn
