// Activations and their gradients over n contiguous values, softmax over
// rows, and dropout's counter-based mask. Plain loops, vectorised by the
// including ISA's flags where the math allows (the exp-based ones call the
// C library per value).
//
// Included by kernels/table_<isa>.cpp inside that ISA's namespace, after
// kernel_table.h, <cmath> and <cstring>.

// exp(x) for x <= 0 in float32, branch-free so loops over it vectorise:
// Cephes' expf (x = n ln2 + r, |r| <= ln2 / 2, a degree-5 polynomial for
// e^r, 2^n built in the exponent bits), about 1 ulp. Below -87 the result
// is 0 (the true value is a denormal or 0). NaN stays NaN.
inline float exp_nonpositive(float x) {
  const float clamped = x < -87.0f ? -87.0f : (x == x ? x : 0.0f);
  const float n = std::floor(clamped * 1.44269504088896341f + 0.5f);
  float r = clamped - n * 0.693359375f;
  r -= n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x < -87.0f ? 0.0f : (x == x ? p * scale : x);
}

inline double exp_nonpositive(double x) { return std::exp(x); }

// 1 / (1 + exp(-z)) without overflow: exp only of a non-positive value.
template <typename T>
inline T sigmoid_of(T z) {
  const T e = exp_nonpositive(z < T(0) ? z : -z);  // exp(-|z|)
  const T inv = T(1) / (T(1) + e);
  return z >= T(0) ? inv : e * inv;
}

// tanh(z): an odd polynomial for |z| < 0.625 (Cephes' tanhf), else
// sign(z) (1 - e) / (1 + e) with e = exp(-2|z|). float32; double calls libm.
inline float tanh_of(float z) {
  const float a = z < 0.0f ? -z : z;
  const float e = exp_nonpositive(-2.0f * a);
  const float big = (1.0f - e) / (1.0f + e);
  const float q = z * z;
  const float small =
      ((((-5.70498872745e-3f * q + 2.06390887954e-2f) * q - 5.37397155531e-2f) * q + 1.33314422036e-1f) * q -
       3.33332819422e-1f) *
          q * z +
      z;
  const float r = a < 0.625f ? small : (z < 0.0f ? -big : big);
  return z == z ? r : z;
}

inline double tanh_of(double z) { return std::tanh(z); }

// y = act(x).
template <typename T>
void activation_forward(Activation act, T slope, const T* x, int64_t n, T* y) {
  switch (act) {
    case Activation::relu:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];  // NaN stays NaN
      return;
    case Activation::leaky_relu:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] < T(0) ? x[i] * slope : x[i];
      return;
    case Activation::sigmoid:
      for (int64_t i = 0; i < n; ++i) y[i] = sigmoid_of(x[i]);
      return;
    case Activation::tanh:
      for (int64_t i = 0; i < n; ++i) y[i] = tanh_of(x[i]);
      return;
    default:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i];
  }
}

// dx = dy * act'(x), from the output y = act(x) (all these activations' derivatives
// are functions of y: relu's and leaky_relu's sign of y is x's for slope >= 0).
template <typename T>
void activation_backward(Activation act, T slope, const T* dy, const T* y, int64_t n, T* dx) {
  switch (act) {
    case Activation::relu:
      for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
      return;
    case Activation::leaky_relu:
      for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > T(0) ? dy[i] : dy[i] * slope;
      return;
    case Activation::sigmoid:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
      return;
    case Activation::tanh:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
      return;
    default:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i];
  }
}

// Softmax of each row of `columns` values: exp(x - max) / sum. Separate
// loops (max, exp, sum, scale) so each one vectorises.
template <typename T>
void softmax_rows(const T* x, int64_t rows, int64_t columns, T* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* in = x + r * columns;
    T* out = y + r * columns;
    T top = in[0];
#pragma omp simd reduction(max : top)
    for (int64_t k = 1; k < columns; ++k) top = in[k] > top ? in[k] : top;
    for (int64_t k = 0; k < columns; ++k) out[k] = exp_nonpositive(in[k] - top);
    double total = 0;
#pragma omp simd reduction(+ : total)
    for (int64_t k = 0; k < columns; ++k) total += out[k];
    const T inv = T(1 / total);
    for (int64_t k = 0; k < columns; ++k) out[k] *= inv;
  }
}

// dx = y * (dy - sum(dy * y)) per row.
template <typename T>
void softmax_backward_rows(const T* dy, const T* y, int64_t rows, int64_t columns, T* dx) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* g = dy + r * columns;
    const T* out = y + r * columns;
    double dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t k = 0; k < columns; ++k) dot += double(g[k]) * double(out[k]);
    const T d = T(dot);
    T* o = dx + r * columns;
    for (int64_t k = 0; k < columns; ++k) o[k] = out[k] * (g[k] - d);
  }
}

// Value i of dropout's stream `seed`: splitmix64's i-th output, so a mask
// depends on the seed and the element's index only (not on threads or on
// how the tensor is split).
inline uint64_t dropout_bits(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// y[i] = x[i] * (scale if element first + i is kept, else 0): kept when its
// stream value's high 32 bits are >= threshold. A multiply, not a select,
// so a NaN stays NaN as in x * mask.
template <typename T>
void dropout_apply(const T* x, int64_t n, uint64_t seed, uint64_t first, uint32_t threshold, T scale, T* y) {
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = uint32_t(dropout_bits(seed, first + uint64_t(i)) >> 32) >= threshold;
    y[i] = x[i] * (keep ? scale : T(0));
  }
}
