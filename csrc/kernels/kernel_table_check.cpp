// check_kernel_table (kernel_table.h): a table with a forgotten field fails
// loudly on first use instead of crashing in whichever op calls it. Compiled
// with the baseline flags (CMakeLists.txt lists it by name): it runs before
// anything knows which ISA the CPU has.
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernel_table.h"

namespace fastcnn {
namespace {

bool optional_field(const std::string& name) {
  for (const char* o : kOptionalKernelFields)
    if (name == o) return true;
  return false;
}

template <typename T>
void check_kernels(const Kernels<T>& k, const std::string& where, std::string& problems) {
  for_each_kernel_field(k, [&](const std::string& name, const auto& field) {
    using F = std::decay_t<decltype(field)>;
    if constexpr (std::is_same_v<F, int>) {
      if (field <= 0) problems += "\n  " + where + "." + name + " = " + std::to_string(field) + " (must be > 0)";
    } else {
      static_assert(std::is_pointer_v<F>, "for_each_kernel_field visits ints and function pointers");
      if (field == nullptr && !optional_field(name)) problems += "\n  " + where + "." + name + " is null";
    }
  });
  // Fields for_each_kernel_field does not visit: mark every visited field's
  // bytes in a zeroed Kernels<T>; a pointer-aligned word left all zero is
  // (part of) a field it missed (padding never spans a whole word here).
  Kernels<T> probe;
  std::memset(static_cast<void*>(&probe), 0, sizeof probe);
  for_each_kernel_field(
      probe, [](const std::string&, auto& field) { std::memset(static_cast<void*>(&field), 0xA5, sizeof field); });
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(&probe);
  for (size_t at = 0; at + sizeof(void*) <= sizeof probe; at += sizeof(void*)) {
    bool zero = true;
    for (size_t i = 0; i < sizeof(void*); ++i) zero = zero && bytes[at + i] == 0;
    if (zero)
      problems += "\n  " + where + ": bytes " + std::to_string(at) + ".." + std::to_string(at + sizeof(void*)) +
                  " of Kernels<T> belong to no field for_each_kernel_field visits";
  }
}

}  // namespace

KernelTable check_kernel_table(const KernelTable& table) {
  std::string problems;
  const std::string isa = table.isa ? table.isa : "(unnamed)";
  if (!table.isa) problems += "\n  the table has no isa name";
  if (!table.fma_peak) problems += "\n  " + isa + ".fma_peak is null";
  check_kernels(table.f32, isa + ".f32", problems);
  check_kernels(table.f64, isa + ".f64", problems);
  if (!problems.empty()) throw std::logic_error("incomplete kernel table:" + problems);
  return table;
}

}  // namespace fastcnn
