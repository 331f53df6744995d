// One optimizer update over n contiguous values of a parameter, its
// gradient and up to three state arrays (kernel_table.h, OptimizerRule):
// the rules of fastcnn/optimizers.py, written in the same order of
// operations, in the parameter's dtype.
//
// Included by kernels/table_<isa>.cpp inside that ISA's namespace, after
// kernel_table.h and <cmath>.

// The scalars c[] of each rule (fastcnn/optimizers.py computes them, each
// "1 - beta" in double as Python does):
//   sgd*:    c0 lr, c1 momentum
//   adagrad: c0 lr, c1 epsilon
//   rmsprop: c0 lr, c1 rho, c2 momentum, c3 epsilon, c4 1 - rho
//   adam:    c0 alpha, c1 1 - beta_1, c2 1 - beta_2, c3 epsilon
//   adamax:  c0 lr, c1 1 - beta_1, c2 beta_2, c3 epsilon, c4 1 - beta_1^t
//   nadam:   c0 lr, c1 1 - beta_1, c2 1 - beta_2, c3 epsilon, c4 mu_next,
//            c5 1 - u_product mu_next, c6 1 - mu_t, c7 1 - u_product, c8 1 - beta_2^t
template <typename T>
void optimizer_update(const OptimizerRule& rule, T grad_scale, T* p, const T* g_in, T* s0, T* s1, T* s2, int64_t n) {
  T c[10];
  for (int j = 0; j < 10; ++j) c[j] = T(rule.c[j]);
  const T decay = T(rule.decay);
  const bool scaled = grad_scale != T(1);
  auto grad = [&](int64_t i) { return scaled ? g_in[i] * grad_scale : g_in[i]; };
  if (decay != T(0))
    for (int64_t i = 0; i < n; ++i) p[i] -= p[i] * decay;
  switch (rule.kind) {
    case OptimizerKind::sgd:  // p -= lr g
      for (int64_t i = 0; i < n; ++i) p[i] -= c[0] * grad(i);
      return;
    case OptimizerKind::sgd_momentum:  // m = momentum m - lr g; p += m
      for (int64_t i = 0; i < n; ++i) {
        const T g = grad(i);
        s0[i] = s0[i] * c[1] - c[0] * g;
        p[i] += s0[i];
      }
      return;
    case OptimizerKind::sgd_nesterov:  // m = momentum m - lr g; p += momentum m - lr g
      for (int64_t i = 0; i < n; ++i) {
        const T g = grad(i);
        s0[i] = s0[i] * c[1] - c[0] * g;
        p[i] += c[1] * s0[i] - c[0] * g;
      }
      return;
    case OptimizerKind::adagrad:  // a += g^2; p -= lr g / sqrt(a + eps)
      for (int64_t i = 0; i < n; ++i) {
        const T g = grad(i);
        s0[i] += g * g;
        p[i] -= c[0] * g / std::sqrt(s0[i] + c[1]);
      }
      return;
    case OptimizerKind::rmsprop:
      // v = rho v + (1 - rho) g^2; centered (s2): mg = rho mg + (1 - rho) g,
      // d = v - mg^2 + eps, else d = v + eps; step = lr g / sqrt(d);
      // momentum (s1): b = momentum b + step, p -= b; else p -= step
      for (int64_t i = 0; i < n; ++i) {
        const T g = grad(i);
        s0[i] = s0[i] * c[1] + c[4] * (g * g);
        T d;
        if (s2) {
          s2[i] = s2[i] * c[1] + c[4] * g;
          d = s0[i] - s2[i] * s2[i] + c[3];
        } else {
          d = s0[i] + c[3];
        }
        const T step = c[0] * g / std::sqrt(d);
        if (s1) {
          s1[i] = s1[i] * c[2] + step;
          p[i] -= s1[i];
        } else {
          p[i] -= step;
        }
      }
      return;
    case OptimizerKind::adam:
      // m += (1 - b1)(g - m); v += (1 - b2)(g^2 - v); amsgrad (s2): vh = max(vh, v)
      // in place of v; p -= alpha m / (sqrt(v) + eps)
      for (int64_t i = 0; i < n; ++i) {
        const T g = grad(i);
        s0[i] += c[1] * (g - s0[i]);
        s1[i] += c[2] * (g * g - s1[i]);
        T v = s1[i];
        if (s2) v = s2[i] = s2[i] > v ? s2[i] : v;
        p[i] -= c[0] * s0[i] / (std::sqrt(v) + c[3]);
      }
      return;
    case OptimizerKind::adamax:
      // m += (1 - b1)(g - m); u = max(b2 u, |g|); p -= lr m / ((1 - b1^t)(u + eps))
      for (int64_t i = 0; i < n; ++i) {
        const T g = grad(i);
        s0[i] += c[1] * (g - s0[i]);
        const T u = c[2] * s1[i], a = std::fabs(g);
        s1[i] = u > a ? u : a;
        p[i] -= c[0] * s0[i] / (c[4] * (s1[i] + c[3]));
      }
      return;
    case OptimizerKind::nadam:
      // m, v as Adam; m_hat = mu_next m / (1 - u mu_next) + (1 - mu_t) g / (1 - u);
      // v_hat = v / (1 - b2^t); p -= lr m_hat / (sqrt(v_hat) + eps)
      for (int64_t i = 0; i < n; ++i) {
        const T g = grad(i);
        s0[i] += c[1] * (g - s0[i]);
        s1[i] += c[2] * (g * g - s1[i]);
        const T m_hat = c[4] * s0[i] / c[5] + c[6] * g / c[7];
        const T v_hat = s1[i] / c[8];
        p[i] -= c[0] * m_hat / (std::sqrt(v_hat) + c[3]);
      }
      return;
  }
}
