// Winograd (Toom-Cook) matrices from interpolation points.
//
// For F(m, r) with alpha = m + r - 1 and points p_0..p_{alpha-2} plus
// infinity, let E_k be the alpha x k matrix evaluating a polynomial of
// degree < k at the points (row i: 1, p_i, p_i^2, ...; the last row picks
// the leading coefficient). Linear convolution of lengths r and m is
// E_alpha^{-1} (E_r g ⊙ E_m h); correlation, its transpose, is
//   y = E_m^T [ (E_r g) ⊙ (E_alpha^{-T} d) ]
// so A^T = E_m^T, G = E_r and B^T = E_alpha^{-T}. Points 0, ±1, ±2, ±1/2
// keep the float32 error near 1e-5 relative for F(4x4, 5x5) (Lavin & Gray
// 2016).
#include "winograd_schemes.h"

#include <cmath>

namespace fastcnn {
namespace {

void evaluation(const double* points, int alpha, int k, double out[8][8]) {
  for (int i = 0; i < alpha; ++i)
    for (int j = 0; j < k; ++j) out[i][j] = i < alpha - 1 ? std::pow(points[i], j) : (j == k - 1 ? 1.0 : 0.0);
}

// Inverse of an n x n matrix (n <= 8) by Gauss-Jordan with partial pivoting.
void invert(double a[8][8], int n, double inv[8][8]) {
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) inv[i][j] = i == j;
  for (int c = 0; c < n; ++c) {
    int pivot = c;
    for (int r = c + 1; r < n; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[pivot][c])) pivot = r;
    for (int j = 0; j < n; ++j) {
      std::swap(a[c][j], a[pivot][j]);
      std::swap(inv[c][j], inv[pivot][j]);
    }
    const double d = a[c][c];
    for (int j = 0; j < n; ++j) {
      a[c][j] /= d;
      inv[c][j] /= d;
    }
    for (int r = 0; r < n; ++r)
      if (r != c && a[r][c] != 0) {
        const double f = a[r][c];
        for (int j = 0; j < n; ++j) {
          a[r][j] -= f * a[c][j];
          inv[r][j] -= f * inv[c][j];
        }
      }
  }
}

WinogradMatrices make_scheme(int m, int r, const double* points) {
  WinogradMatrices s{};
  s.m = m;
  s.r = r;
  s.alpha = m + r - 1;
  double em[8][8], er[8][8], ea[8][8], ea_inv[8][8];
  evaluation(points, s.alpha, m, em);
  evaluation(points, s.alpha, r, er);
  evaluation(points, s.alpha, s.alpha, ea);
  invert(ea, s.alpha, ea_inv);
  for (int i = 0; i < s.alpha; ++i) {
    for (int j = 0; j < m; ++j) s.at[j][i] = em[i][j];
    for (int j = 0; j < r; ++j) s.g[i][j] = er[i][j];
    for (int j = 0; j < s.alpha; ++j) s.bt[i][j] = ea_inv[j][i];
    // exact zeros stay zeros (the transforms skip them)
    for (int j = 0; j < s.alpha; ++j)
      if (std::fabs(s.bt[i][j]) < 1e-12) s.bt[i][j] = 0;
  }
  return s;
}

// F(4x4, 3x3) with Lavin's scaling; only G is read (its transforms are
// hand-written in kernels/winograd/winograd_f4x3_impl.h), the rest documents.
WinogradMatrices f4x3() {
  WinogradMatrices s{};
  s.m = 4;
  s.r = 3;
  s.alpha = 6;
  const double bt[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                           {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  const double at[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
  const double g[6][3] = {{1.0 / 4, 0, 0},
                          {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                          {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                          {1.0 / 24, 1.0 / 12, 1.0 / 6},
                          {1.0 / 24, -1.0 / 12, 1.0 / 6},
                          {0, 0, 1}};
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 6; ++j) s.bt[i][j] = bt[i][j];
    for (int j = 0; j < 3; ++j) s.g[i][j] = g[i][j];
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j) s.at[i][j] = at[i][j];
  return s;
}

// F(4x4, 2x2) with points 0, 1, -1, 2, ∞ (make_scheme(4, 2, ...)), B^T's
// rows scaled by 2, 2, 6, 6, 1 to small integers and G's by the inverses
// (each point's product U V is unchanged). Measured float32 error on
// 256-channel sums: 4e-6 relative (points 0, ±1, -2 or ±1/2: 6e-6).
WinogradMatrices f4x2() {
  WinogradMatrices s{};
  s.m = 4;
  s.r = 2;
  s.alpha = 5;
  const double bt[5][5] = {{2, -1, -2, 1, 0}, {0, 2, 1, -1, 0}, {0, -2, 3, -1, 0}, {0, -1, 0, 1, 0}, {0, 2, -1, -2, 1}};
  const double at[4][5] = {{1, 1, 1, 1, 0}, {0, 1, -1, 2, 0}, {0, 1, 1, 4, 0}, {0, 1, -1, 8, 1}};
  const double g[5][2] = {{0.5, 0}, {0.5, 0.5}, {1.0 / 6, -1.0 / 6}, {1.0 / 6, 1.0 / 3}, {0, 1}};
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 5; ++j) s.bt[i][j] = bt[i][j];
    for (int j = 0; j < 2; ++j) s.g[i][j] = g[i][j];
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 5; ++j) s.at[i][j] = at[i][j];
  return s;
}

}  // namespace

const WinogradMatrices* winograd_phase_scheme() {
  static const WinogradMatrices f42 = f4x2();
  return &f42;
}

const WinogradMatrices* winograd_scheme(int64_t r) {
  static const WinogradMatrices f43 = f4x3();
  static const double points_f45[7] = {0, 1, -1, 2, -2, 0.5, -0.5};
  static const WinogradMatrices f45 = make_scheme(4, 5, points_f45);
  if (r == 3) return &f43;
  if (r == 5) return &f45;
  return nullptr;
}

}  // namespace fastcnn
