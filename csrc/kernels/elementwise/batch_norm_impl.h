// Batch-normalisation passes, on a channel's contiguous run of a
// channels-first tensor ("run": n values of one channel) or on rows of
// `channels` values of a channels-last one ("rows"), with the activation
// that may follow fused into the store (kernel_table.h, Activation).
//
// Plain loops: each ISA's table compiles them with its own flags and the
// compiler vectorises them. Sums are kept in 16 double lanes, so a float32
// channel of millions of values loses nothing to the order of the adds, and
// a lane's adds are independent of the others (no reassociation needed).
//
// Included by kernels/table_<isa>.cpp inside that ISA's namespace, after
// kernel_table.h.

constexpr int kSumLanes = 16;

// The derivative of the fused activation at pre-activation z, times dy.
template <typename T>
inline T activation_gradient_at(Activation act, T slope, T z, T dy) {
  switch (act) {
    case Activation::relu: return z > T(0) ? dy : T(0);
    case Activation::leaky_relu: return z > T(0) ? dy : dy * slope;
    default: return dy;
  }
}

// *sum += sum(x - shift), *sum_sq += sum((x - shift)^2) over n values.
template <typename T>
void bn_moments_run(const T* x, int64_t n, T shift, double* sum, double* sum_sq) {
  double s[kSumLanes] = {}, q[kSumLanes] = {};
  const double c = shift;
  int64_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes)
    for (int j = 0; j < kSumLanes; ++j) {
      const double d = double(x[i + j]) - c;
      s[j] += d;
      q[j] += d * d;
    }
  for (int j = 0; i < n; ++i, ++j) {
    const double d = double(x[i]) - c;
    s[j] += d;
    q[j] += d * d;
  }
  double ts = 0, tq = 0;
  for (int j = 0; j < kSumLanes; ++j) ts += s[j], tq += q[j];
  *sum += ts;
  *sum_sq += tq;
}

// Per channel k: sum[k] += sum over rows of (x - shift[k]), sum_sq[k] the squares.
template <typename T>
void bn_moments_rows(const T* x, int64_t rows, int64_t channels, const T* shift, double* sum,
                     double* sum_sq) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * channels;
    for (int64_t k = 0; k < channels; ++k) {
      const double d = double(row[k]) - double(shift[k]);
      sum[k] += d;
      sum_sq[k] += d * d;
    }
  }
}

template <typename T, Activation kAct>
inline T activate(T z, T slope) {
  if (kAct == Activation::relu) return z < T(0) ? T(0) : z;   // NaN stays NaN
  if (kAct == Activation::leaky_relu) return z < T(0) ? z * slope : z;
  return z;
}

template <typename T, Activation kAct>
void bn_apply_run_as(const T* x, int64_t n, T scale, T shift, T slope, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = activate<T, kAct>(x[i] * scale + shift, slope);
}

// y = act(x * scale + shift) over n values.
template <typename T>
void bn_apply_run(const T* x, int64_t n, T scale, T shift, Activation act, T slope, T* y) {
  switch (act) {
    case Activation::relu: return bn_apply_run_as<T, Activation::relu>(x, n, scale, shift, slope, y);
    case Activation::leaky_relu:
      return bn_apply_run_as<T, Activation::leaky_relu>(x, n, scale, shift, slope, y);
    default: return bn_apply_run_as<T, Activation::identity>(x, n, scale, shift, slope, y);
  }
}

template <typename T, Activation kAct>
void bn_apply_rows_as(const T* x, int64_t rows, int64_t channels, const T* scale, const T* shift,
                      T slope, T* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* in = x + r * channels;
    T* out = y + r * channels;
    for (int64_t k = 0; k < channels; ++k) out[k] = activate<T, kAct>(in[k] * scale[k] + shift[k], slope);
  }
}

// y = act(x * scale[k] + shift[k]) over rows of channels.
template <typename T>
void bn_apply_rows(const T* x, int64_t rows, int64_t channels, const T* scale, const T* shift,
                   Activation act, T slope, T* y) {
  switch (act) {
    case Activation::relu:
      return bn_apply_rows_as<T, Activation::relu>(x, rows, channels, scale, shift, slope, y);
    case Activation::leaky_relu:
      return bn_apply_rows_as<T, Activation::leaky_relu>(x, rows, channels, scale, shift, slope, y);
    default: return bn_apply_rows_as<T, Activation::identity>(x, rows, channels, scale, shift, slope, y);
  }
}

// With dz = dy * act'(x * scale + shift): *sum_dz += sum(dz),
// *sum_dz_xc += sum(dz * (x - mean)) over n values.
template <typename T>
void bn_gradient_moments_run(const T* dy, const T* x, int64_t n, T scale, T shift, T mean,
                             Activation act, T slope, double* sum_dz, double* sum_dz_xc) {
  double s[kSumLanes] = {}, q[kSumLanes] = {};
  int64_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes)
    for (int j = 0; j < kSumLanes; ++j) {
      const T v = x[i + j];
      const double dz = activation_gradient_at(act, slope, v * scale + shift, dy[i + j]);
      s[j] += dz;
      q[j] += dz * (double(v) - double(mean));
    }
  for (int j = 0; i < n; ++i, ++j) {
    const T v = x[i];
    const double dz = activation_gradient_at(act, slope, v * scale + shift, dy[i]);
    s[j] += dz;
    q[j] += dz * (double(v) - double(mean));
  }
  double ts = 0, tq = 0;
  for (int j = 0; j < kSumLanes; ++j) ts += s[j], tq += q[j];
  *sum_dz += ts;
  *sum_dz_xc += tq;
}

template <typename T>
void bn_gradient_moments_rows(const T* dy, const T* x, int64_t rows, int64_t channels,
                              const T* scale, const T* shift, const T* mean, Activation act,
                              T slope, double* sum_dz, double* sum_dz_xc) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* g = dy + r * channels;
    const T* in = x + r * channels;
    for (int64_t k = 0; k < channels; ++k) {
      const double dz = activation_gradient_at(act, slope, in[k] * scale[k] + shift[k], g[k]);
      sum_dz[k] += dz;
      sum_dz_xc[k] += dz * (double(in[k]) - double(mean[k]));
    }
  }
}

// dx = a * dz + b * x + d, dz = dy * act'(x * scale + shift), over n values.
// With b = d = 0 (inference) x only decides the activation's derivative, so
// an infinite x does not turn dx into 0 * inf.
template <typename T>
void bn_gradient_apply_run(const T* dy, const T* x, int64_t n, T a, T b, T d, T scale, T shift,
                           Activation act, T slope, T* dx) {
  if (b == T(0) && d == T(0)) {
    for (int64_t i = 0; i < n; ++i) dx[i] = a * activation_gradient_at(act, slope, x[i] * scale + shift, dy[i]);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    dx[i] = a * activation_gradient_at(act, slope, v * scale + shift, dy[i]) + b * v + d;
  }
}

template <typename T>
void bn_gradient_apply_rows(const T* dy, const T* x, int64_t rows, int64_t channels, const T* a,
                            const T* b, const T* d, const T* scale, const T* shift, Activation act,
                            T slope, T* dx) {
  bool inference = true;
  for (int64_t k = 0; k < channels; ++k) inference = inference && b[k] == T(0) && d[k] == T(0);
  for (int64_t r = 0; r < rows && inference; ++r) {
    const T* g = dy + r * channels;
    const T* in = x + r * channels;
    T* out = dx + r * channels;
    for (int64_t k = 0; k < channels; ++k)
      out[k] = a[k] * activation_gradient_at(act, slope, in[k] * scale[k] + shift[k], g[k]);
  }
  for (int64_t r = 0; r < rows && !inference; ++r) {
    const T* g = dy + r * channels;
    const T* in = x + r * channels;
    T* out = dx + r * channels;
    for (int64_t k = 0; k < channels; ++k)
      out[k] = a[k] * activation_gradient_at(act, slope, in[k] * scale[k] + shift[k], g[k]) +
               b[k] * in[k] + d[k];
  }
}
