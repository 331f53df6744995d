#include "activation.h"

#include <cmath>
#include <limits>
#include <vector>

#include "cpu.h"
#include "grain.h"
#include "parallel.h"

namespace fastcnn {
namespace {

// Values per piece of an elementwise pass: a few pages, so a piece's
// function call and a thread's share are both large against their costs.
constexpr int64_t kPiece = 16384;

// Calls pass(begin, end) over pieces of [0, n) on the pool's threads.
template <typename Pass>
void for_each_piece(int64_t n, int64_t bytes, Pass&& pass) {
  SerialBelowGrain serial(OpFamily::elementwise, bytes);
  const int64_t pieces = (n + kPiece - 1) / kPiece;
  parallel_for(pieces,
               [&](int64_t begin, int64_t end, int) { pass(begin * kPiece, end * kPiece < n ? end * kPiece : n); });
}

// Rows of a row-wise pass per task: enough values that a task is not tiny.
int64_t rows_per_task(int64_t columns) {
  const int64_t r = kPiece / (columns > 0 ? columns : 1);
  return r > 0 ? r : 1;
}

template <typename Pass>
void for_each_row_block(int64_t rows, int64_t columns, int64_t bytes, Pass&& pass) {
  SerialBelowGrain serial(OpFamily::elementwise, bytes);
  const int64_t per = rows_per_task(columns), tasks = (rows + per - 1) / per;
  parallel_for(tasks, [&](int64_t begin, int64_t end, int) { pass(begin * per, end * per < rows ? end * per : rows); });
}

}  // namespace

template <typename T>
void activation_forward(Activation act, double slope, int64_t n, const T* x, T* y) {
  const auto& k = active_kernels().get<T>().elementwise;
  for_each_piece(n, 2 * n * int64_t{sizeof(T)},
                 [&](int64_t b, int64_t e) { k.activation_forward(act, T(slope), x + b, e - b, y + b); });
}

template <typename T>
void activation_backward(Activation act, double slope, int64_t n, const T* dy, const T* y, T* dx) {
  const auto& k = active_kernels().get<T>().elementwise;
  for_each_piece(n, 3 * n * int64_t{sizeof(T)},
                 [&](int64_t b, int64_t e) { k.activation_backward(act, T(slope), dy + b, y + b, e - b, dx + b); });
}

template <typename T>
void add_forward(Activation act, double slope, int64_t n, const T* a, const T* b, T* y) {
  const auto& k = active_kernels().get<T>().elementwise;
  for_each_piece(n, 3 * n * int64_t{sizeof(T)}, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] = a[i] + b[i];
    // while the piece is in L1
    if (act != Activation::identity) k.activation_forward(act, T(slope), y + begin, end - begin, y + begin);
  });
}

template <typename T>
void softmax_forward(int64_t rows, int64_t columns, const T* x, T* y) {
  const auto& k = active_kernels().get<T>().elementwise;
  for_each_row_block(rows, columns, 2 * rows * columns * int64_t{sizeof(T)},
                     [&](int64_t b, int64_t e) { k.softmax_rows(x + b * columns, e - b, columns, y + b * columns); });
}

template <typename T>
void softmax_backward(int64_t rows, int64_t columns, const T* dy, const T* y, T* dx) {
  const auto& k = active_kernels().get<T>().elementwise;
  for_each_row_block(rows, columns, 3 * rows * columns * int64_t{sizeof(T)}, [&](int64_t b, int64_t e) {
    k.softmax_backward_rows(dy + b * columns, y + b * columns, e - b, columns, dx + b * columns);
  });
}

template <typename T>
void dropout(int64_t n, const T* x, uint64_t seed, double rate, T* y) {
  const auto& k = active_kernels().get<T>().elementwise;
  // keep when the high 32 bits >= rate * 2^32 (rate < 1, so the threshold fits)
  const uint32_t threshold = static_cast<uint32_t>(std::ldexp(rate, 32));
  const T scale = T(1 / (1 - rate));
  for_each_piece(n, 2 * n * int64_t{sizeof(T)}, [&](int64_t b, int64_t e) {
    k.dropout_apply(x + b, e - b, seed, uint64_t(b), threshold, scale, y + b);
  });
}

namespace {

// -log softmax(x)[target] pieces of one row: the row's max and log-sum-exp.
template <typename T>
double log_sum_exp(const T* x, int64_t columns, double* top_out) {
  double top = x[0];
  for (int64_t c = 1; c < columns; ++c) top = double(x[c]) > top ? double(x[c]) : top;
  double total = 0;
  for (int64_t c = 0; c < columns; ++c) total += std::exp(double(x[c]) - top);
  *top_out = top;
  return top + std::log(total);
}

// Per-row losses summed in row order (so the total does not depend on
// threads): row_loss(r, dx_row) returns row r's loss and writes its gradient.
template <typename T, typename RowLoss>
double sum_row_losses(int64_t rows, int64_t columns, RowLoss&& row_loss) {
  std::vector<double> losses(static_cast<size_t>(rows));
  for_each_row_block(rows, columns, 2 * rows * columns * int64_t{sizeof(T)}, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) losses[size_t(r)] = row_loss(r);
  });
  double total = 0;
  for (double l : losses) total += l;
  return total;
}

}  // namespace

template <typename T>
double softmax_cross_entropy_labels(int64_t rows, int64_t columns, const T* x, const int64_t* labels, double grad_scale,
                                    T* dx) {
  return sum_row_losses<T>(rows, columns, [&](int64_t r) {
    const T* row = x + r * columns;
    double top;
    const double lse = log_sum_exp(row, columns, &top);
    const int64_t label = labels[r];
    const bool valid = label >= 0 && label < columns;
    if (dx) {
      // A label outside the classes has no loss to differentiate: its row's
      // gradient is NaN like its loss, never a plausible number.
      T* g = dx + r * columns;
      for (int64_t c = 0; c < columns; ++c)
        g[c] = valid ? T((std::exp(double(row[c]) - lse) - (c == label ? 1.0 : 0.0)) * grad_scale)
                     : std::numeric_limits<T>::quiet_NaN();
    }
    return valid ? lse - double(row[label]) : std::numeric_limits<double>::quiet_NaN();
  });
}

template <typename T>
double softmax_cross_entropy_targets(int64_t rows, int64_t columns, const T* x, const T* targets, double grad_scale,
                                     T* dx) {
  return sum_row_losses<T>(rows, columns, [&](int64_t r) {
    const T* row = x + r * columns;
    const T* t = targets + r * columns;
    double top;
    const double lse = log_sum_exp(row, columns, &top);
    double loss = 0, mass = 0;
    for (int64_t c = 0; c < columns; ++c) {
      loss -= double(t[c]) * (double(row[c]) - lse);
      mass += double(t[c]);
    }
    if (dx) {
      T* g = dx + r * columns;
      // d/dx of -sum t log softmax(x) = softmax(x) * sum(t) - t
      for (int64_t c = 0; c < columns; ++c)
        g[c] = T((std::exp(double(row[c]) - lse) * mass - double(t[c])) * grad_scale);
    }
    return loss;
  });
}

#define FASTCNN_ACTIVATION(T)                                                                              \
  template void activation_forward<T>(Activation, double, int64_t, const T*, T*);                          \
  template void activation_backward<T>(Activation, double, int64_t, const T*, const T*, T*);               \
  template void add_forward<T>(Activation, double, int64_t, const T*, const T*, T*);                       \
  template void softmax_forward<T>(int64_t, int64_t, const T*, T*);                                        \
  template void softmax_backward<T>(int64_t, int64_t, const T*, const T*, T*);                             \
  template void dropout<T>(int64_t, const T*, uint64_t, double, T*);                                       \
  template double softmax_cross_entropy_labels<T>(int64_t, int64_t, const T*, const int64_t*, double, T*); \
  template double softmax_cross_entropy_targets<T>(int64_t, int64_t, const T*, const T*, double, T*);
FASTCNN_ACTIVATION(float)
FASTCNN_ACTIVATION(double)
#undef FASTCNN_ACTIVATION

}  // namespace fastcnn
