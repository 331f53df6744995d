#include "optimizer_step.h"

#include <cmath>

#include "cpu.h"
#include "grain.h"
#include "parallel.h"

namespace fastcnn {
namespace {

// Values per piece: small parameters are one piece, large ones many.
constexpr int64_t kPiece = 16384;

struct Piece {
  int64_t param, begin, end;
};

}  // namespace

template <typename T>
void optimizer_step(const OptimizerRule& rule, double clipnorm, std::vector<ParameterSlice<T>>& params) {
  const auto& k = active_kernels().get<T>().elementwise;
  std::vector<Piece> pieces;
  int64_t total = 0;
  for (int64_t i = 0; i < int64_t(params.size()); ++i) {
    const int64_t n = params[size_t(i)].size;
    total += n;
    for (int64_t b = 0; b < n; b += kPiece) pieces.push_back({i, b, b + kPiece < n ? b + kPiece : n});
  }
  // Every value of p, g and the state is read and written: about 6 arrays.
  SerialBelowGrain serial(OpFamily::elementwise, 6 * total * int64_t{sizeof(T)});
  std::vector<T> scale(params.size(), T(1));
  if (clipnorm > 0) {
    std::vector<double> piece_sq(pieces.size(), 0.0);
    parallel_for(int64_t(pieces.size()), [&](int64_t begin, int64_t end, int) {
      for (int64_t q = begin; q < end; ++q) {
        const Piece& pc = pieces[size_t(q)];
        const T* g = params[size_t(pc.param)].g;
        double s = 0;
        for (int64_t i = pc.begin; i < pc.end; ++i) s += double(g[i]) * double(g[i]);
        piece_sq[size_t(q)] = s;
      }
    });
    std::vector<double> sq(params.size(), 0.0);
    for (size_t q = 0; q < pieces.size(); ++q) sq[size_t(pieces[q].param)] += piece_sq[q];
    for (size_t i = 0; i < params.size(); ++i) {
      const double norm = std::sqrt(sq[i]);
      if (norm > clipnorm) scale[i] = T(clipnorm / norm);
    }
  }
  parallel_for(int64_t(pieces.size()), [&](int64_t begin, int64_t end, int) {
    for (int64_t q = begin; q < end; ++q) {
      const Piece& pc = pieces[size_t(q)];
      ParameterSlice<T>& s = params[size_t(pc.param)];
      auto at = [&](T* a) { return a ? a + pc.begin : nullptr; };
      k.optimizer_update(rule, scale[size_t(pc.param)], s.p + pc.begin, s.g + pc.begin, at(s.state[0]), at(s.state[1]),
                         at(s.state[2]), pc.end - pc.begin);
    }
  });
}

template void optimizer_step<float>(const OptimizerRule&, double, std::vector<ParameterSlice<float>>&);
template void optimizer_step<double>(const OptimizerRule&, double, std::vector<ParameterSlice<double>>&);

}  // namespace fastcnn
