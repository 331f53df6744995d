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
void bn_moments_rows(const T* x, int64_t rows, int64_t channels, const T* shift, double* sum, double* sum_sq) {
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
  if (kAct == Activation::relu) return z < T(0) ? T(0) : z;  // NaN stays NaN
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
    case Activation::leaky_relu: return bn_apply_run_as<T, Activation::leaky_relu>(x, n, scale, shift, slope, y);
    default: return bn_apply_run_as<T, Activation::identity>(x, n, scale, shift, slope, y);
  }
}

template <typename T, Activation kAct>
void bn_apply_rows_as(const T* x, int64_t rows, int64_t channels, const T* scale, const T* shift, T slope, T* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* in = x + r * channels;
    T* out = y + r * channels;
    for (int64_t k = 0; k < channels; ++k) out[k] = activate<T, kAct>(in[k] * scale[k] + shift[k], slope);
  }
}

// y = act(x * scale[k] + shift[k]) over rows of channels.
template <typename T>
void bn_apply_rows(const T* x, int64_t rows, int64_t channels, const T* scale, const T* shift, Activation act, T slope,
                   T* y) {
  switch (act) {
    case Activation::relu: return bn_apply_rows_as<T, Activation::relu>(x, rows, channels, scale, shift, slope, y);
    case Activation::leaky_relu:
      return bn_apply_rows_as<T, Activation::leaky_relu>(x, rows, channels, scale, shift, slope, y);
    default: return bn_apply_rows_as<T, Activation::identity>(x, rows, channels, scale, shift, slope, y);
  }
}

// The derivative of the fused activation at pre-activation z, times dy, as
// a select the compiler can vectorise (the activation is a template
// argument: a switch inside the loops kept them scalar).
//
// relu's 0 arrives as `zero`, a value the compiler cannot see: with a
// literal 0 it turns the sums below into conditional adds, which it then
// leaves scalar and branchy.
template <typename T, Activation kAct>
inline T gradient_through(T z, T dy, T slope, T zero = T(0)) {
  if (kAct == Activation::relu) return z > T(0) ? dy : zero;
  if (kAct == Activation::leaky_relu) return z > T(0) ? dy : dy * slope;
  return dy;
}

// Calls fn with std::integral_constant<Activation, act> (C++17's way to pass
// a run-time choice as a template argument into a generic lambda).
template <typename Fn>
inline void with_activation(Activation act, Fn&& fn) {
  switch (act) {
    case Activation::relu: return fn(std::integral_constant<Activation, Activation::relu>());
    case Activation::leaky_relu: return fn(std::integral_constant<Activation, Activation::leaky_relu>());
    default: return fn(std::integral_constant<Activation, Activation::identity>());
  }
}
template <typename T, Activation kAct>
void bn_gradient_moments_run_as(const T* dy, const T* x, int64_t n, T scale, T shift, T mean, T slope, double* sum_dz,
                                double* sum_dz_xc) {
  double s = 0, q = 0;
  const double m = mean;
  volatile T opaque_zero = T(0);
  const T zero = opaque_zero;
#pragma omp simd reduction(+ : s, q)
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    const double dz = gradient_through<T, kAct>(v * scale + shift, dy[i], slope, zero);
    s += dz;
    q += dz * (double(v) - m);
  }
  *sum_dz += s;
  *sum_dz_xc += q;
}

// With dz = dy * act'(x * scale + shift): *sum_dz += sum(dz),
// *sum_dz_xc += sum(dz * (x - mean)) over n values.
template <typename T>
void bn_gradient_moments_run(const T* dy, const T* x, int64_t n, T scale, T shift, T mean, Activation act, T slope,
                             double* sum_dz, double* sum_dz_xc) {
  with_activation(act, [&](auto kind) {
    constexpr Activation kAct = decltype(kind)::value;
    bn_gradient_moments_run_as<T, kAct>(dy, x, n, scale, shift, mean, slope, sum_dz, sum_dz_xc);
  });
}

template <typename T>
void bn_gradient_moments_rows(const T* dy, const T* x, int64_t rows, int64_t channels, const T* scale, const T* shift,
                              const T* mean, Activation act, T slope, double* sum_dz, double* sum_dz_xc) {
  volatile T opaque_zero = T(0);  // see gradient_through
  const T zero = opaque_zero;
  with_activation(act, [&](auto kind) {
    constexpr Activation kAct = decltype(kind)::value;
    for (int64_t r = 0; r < rows; ++r) {
      const T* g = dy + r * channels;
      const T* in = x + r * channels;
      for (int64_t k = 0; k < channels; ++k) {
        const double dz = gradient_through<T, kAct>(in[k] * scale[k] + shift[k], g[k], slope, zero);
        sum_dz[k] += dz;
        sum_dz_xc[k] += dz * (double(in[k]) - double(mean[k]));
      }
    }
  });
}

// dx = a * dz + b * x + d, dz = dy * act'(x * scale + shift), over n values.
// With b = d = 0 (inference) x only decides the activation's derivative, so
// an infinite x does not turn dx into 0 * inf.
template <typename T>
void bn_gradient_apply_run(const T* dy, const T* x, int64_t n, T a, T b, T d, T scale, T shift, Activation act, T slope,
                           T* dx) {
  with_activation(act, [&](auto kind) {
    constexpr Activation kAct = decltype(kind)::value;
    if (b == T(0) && d == T(0)) {
      for (int64_t i = 0; i < n; ++i) dx[i] = a * gradient_through<T, kAct>(x[i] * scale + shift, dy[i], slope);
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      const T v = x[i];
      dx[i] = a * gradient_through<T, kAct>(v * scale + shift, dy[i], slope) + b * v + d;
    }
  });
}

template <typename T>
void bn_gradient_apply_rows(const T* dy, const T* x, int64_t rows, int64_t channels, const T* a, const T* b, const T* d,
                            const T* scale, const T* shift, Activation act, T slope, T* dx) {
  bool inference = true;
  for (int64_t k = 0; k < channels; ++k) inference = inference && b[k] == T(0) && d[k] == T(0);
  with_activation(act, [&](auto kind) {
    constexpr Activation kAct = decltype(kind)::value;
    for (int64_t r = 0; r < rows; ++r) {
      const T* g = dy + r * channels;
      const T* in = x + r * channels;
      T* out = dx + r * channels;
      if (inference) {
        for (int64_t k = 0; k < channels; ++k)
          out[k] = a[k] * gradient_through<T, kAct>(in[k] * scale[k] + shift[k], g[k], slope);
      } else {
        for (int64_t k = 0; k < channels; ++k)
          out[k] = a[k] * gradient_through<T, kAct>(in[k] * scale[k] + shift[k], g[k], slope) + b[k] * in[k] + d[k];
      }
    }
  });
}
