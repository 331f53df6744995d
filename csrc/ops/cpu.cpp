#include "cpu.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <unistd.h>

namespace fastcnn {
namespace {

bool cpu_has(const char* isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (std::string(isa) == "avx512")
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (std::string(isa) == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return std::string(isa) == "generic";
}

const KernelTable& table_for(const std::string& name) {
  // Only ever called for a supported ISA: building a wider table on a
  // narrower CPU could already execute instructions it lacks.
  if (name == "avx512") return kernel_table_avx512();
  if (name == "avx2") return kernel_table_avx2();
  return kernel_table_generic();
}

// Reads /sys/devices/system/cpu/cpu0/cache/indexN/{level,type,size}.
int64_t sysfs_cache_size(int level, bool data) {
  for (int i = 0; i < 8; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream lf(dir + "level"), tf(dir + "type"), sf(dir + "size");
    int lv = 0;
    std::string type, size;
    if (!(lf >> lv) || !(tf >> type) || !(sf >> size)) continue;
    if (lv != level || (data && type == "Instruction")) continue;
    int64_t value = std::atoll(size.c_str());
    if (!size.empty() && (size.back() == 'K' || size.back() == 'k')) value *= 1024;
    if (!size.empty() && (size.back() == 'M' || size.back() == 'm')) value *= 1024 * 1024;
    if (value > 0) return value;
  }
  return 0;
}

int64_t detect_cache(int level, int sysconf_name, int64_t fallback) {
  int64_t v = sysfs_cache_size(level, true);
  if (v <= 0) v = static_cast<int64_t>(sysconf(sysconf_name));
  return v > 0 ? v : fallback;
}

std::atomic<const KernelTable*> g_active{nullptr};
std::atomic<int> g_threads{0};
std::mutex g_init_mutex;

}  // namespace

const CacheSizes& cache_sizes() {
  static const CacheSizes sizes{detect_cache(1, _SC_LEVEL1_DCACHE_SIZE, 32 * 1024),
                                detect_cache(2, _SC_LEVEL2_CACHE_SIZE, 512 * 1024),
                                detect_cache(3, _SC_LEVEL3_CACHE_SIZE, 8 * 1024 * 1024)};
  return sizes;
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> out;
  for (const char* isa : {"avx512", "avx2", "generic"})
    if (cpu_has(isa)) out.push_back(isa);
  return out;
}

void set_isa(const std::string& name) {
  if (name != "avx512" && name != "avx2" && name != "generic")
    throw std::invalid_argument("unknown ISA '" + name + "': expected avx512, avx2 or generic");
  if (!cpu_has(name.c_str())) throw std::invalid_argument("this CPU does not support the ISA '" + name + "'");
  g_active.store(&table_for(name));
}

const KernelTable& active_kernels() {
  const KernelTable* t = g_active.load();
  if (t) return *t;
  std::lock_guard<std::mutex> lock(g_init_mutex);
  if (!g_active.load()) {
    const char* forced = std::getenv("FASTCNN_ISA");
    if (forced && *forced) {
      set_isa(forced);  // throws: an explicit request we cannot honour is an error
    } else {
      g_active.store(&table_for(supported_isas().front()));
    }
  }
  return *g_active.load();
}

bool avx512_active() { return std::string(active_kernels().isa) == "avx512"; }

int64_t streaming_store_bytes() { return std::max<int64_t>(int64_t{32} << 20, cache_sizes().l3 / 4); }

namespace {
thread_local bool t_limited_to_one = false;
}  // namespace

bool thread_limited_to_one() { return t_limited_to_one; }
void set_thread_limited_to_one(bool limited) { t_limited_to_one = limited; }

int num_threads() {
  if (t_limited_to_one) return 1;
  int n = g_threads.load();
  if (n > 0) return n;
  n = omp_get_max_threads();  // honours OMP_NUM_THREADS
  return n > 0 ? n : 1;
}

void set_num_threads(int n) {
  if (n <= 0) throw std::invalid_argument("num_threads must be positive, got " + std::to_string(n));
  g_threads.store(n);
}

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto pos = line.find(':');
      if (pos != std::string::npos) return line.substr(pos + 2);
    }
  }
  return "unknown";
}

}  // namespace fastcnn
