// Pooling over one channels-last (H, W, C) image, vectorised over channels:
// every window tap is a contiguous run of C values, so the loops over c are
// plain vector loads, compares and adds (no strided access at all).
//
// Same semantics as pool2d_impl.h (NaN is the maximum, first maximum wins,
// PyTorch's average divisors); indices are the flat H*W position of the
// maximum, per channel, as for NCHW.
//
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace, after
// pool2d_impl.h (clamp_index, replaces_max, avg_divisor).

template <typename T, bool kWithIndex>
void max_forward_nhwc_rows(const PoolWindow& p, int64_t channels, const T* __restrict in, T* __restrict out,
                           int64_t* __restrict indices, int64_t row_begin, int64_t row_end) {
  const int64_t C = channels;
  for (int64_t oh = row_begin; oh < row_end; ++oh) {
    const int64_t h0 = oh * p.stride_h - p.pad_top;
    const int64_t h_lo = clamp_index(h0, 0, p.in_h), h_hi = clamp_index(h0 + p.kernel_h, 0, p.in_h);
    for (int64_t ow = 0; ow < p.out_w; ++ow) {
      const int64_t w0 = ow * p.stride_w - p.pad_left;
      const int64_t w_lo = clamp_index(w0, 0, p.in_w), w_hi = clamp_index(w0 + p.kernel_w, 0, p.in_w);
      T* __restrict o = out + (oh * p.out_w + ow) * C;
      int64_t* __restrict id = kWithIndex ? indices + (oh * p.out_w + ow) * C : nullptr;
      const int64_t first = h_lo * p.in_w + w_lo;
      for (int64_t c = 0; c < C; ++c) {
        o[c] = in[first * C + c];
        if (kWithIndex) id[c] = first;
      }
      for (int64_t ih = h_lo; ih < h_hi; ++ih)
        for (int64_t iw = (ih == h_lo ? w_lo + 1 : w_lo); iw < w_hi; ++iw) {
          const int64_t at = ih * p.in_w + iw;
          const T* __restrict v = in + at * C;
          for (int64_t c = 0; c < C; ++c) {
            const bool take = replaces_max(v[c], o[c]);
            o[c] = take ? v[c] : o[c];
            if (kWithIndex) id[c] = take ? at : id[c];
          }
        }
    }
  }
}

template <typename T>
void max_forward_nhwc(const PoolWindow& p, int64_t channels, const T* in, T* out, int64_t* indices, int64_t row_begin,
                      int64_t row_end) {
  if (indices)
    max_forward_nhwc_rows<T, true>(p, channels, in, out, indices, row_begin, row_end);
  else
    max_forward_nhwc_rows<T, false>(p, channels, in, out, nullptr, row_begin, row_end);
}

template <typename T>
void avg_forward_nhwc(const PoolWindow& p, int64_t channels, const T* __restrict in, T* __restrict out,
                      int64_t row_begin, int64_t row_end) {
  const int64_t C = channels;
  for (int64_t oh = row_begin; oh < row_end; ++oh) {
    const int64_t h0 = oh * p.stride_h - p.pad_top;
    const int64_t h_lo = clamp_index(h0, 0, p.in_h), h_hi = clamp_index(h0 + p.kernel_h, 0, p.in_h);
    for (int64_t ow = 0; ow < p.out_w; ++ow) {
      const int64_t w0 = ow * p.stride_w - p.pad_left;
      const int64_t w_lo = clamp_index(w0, 0, p.in_w), w_hi = clamp_index(w0 + p.kernel_w, 0, p.in_w);
      T* __restrict o = out + (oh * p.out_w + ow) * C;
      for (int64_t c = 0; c < C; ++c) o[c] = 0;
      for (int64_t ih = h_lo; ih < h_hi; ++ih)
        for (int64_t iw = w_lo; iw < w_hi; ++iw) {
          const T* __restrict v = in + (ih * p.in_w + iw) * C;
          for (int64_t c = 0; c < C; ++c) o[c] += v[c];
        }
      const T divisor = static_cast<T>(avg_divisor(p, oh, ow));
      for (int64_t c = 0; c < C; ++c) o[c] /= divisor;
    }
  }
}

template <typename T>
void avg_backward_nhwc(const PoolWindow& p, int64_t channels, const T* __restrict dout, T* __restrict din) {
  const int64_t C = channels;
  for (int64_t i = 0; i < p.in_h * p.in_w * C; ++i) din[i] = 0;
  for (int64_t oh = 0; oh < p.out_h; ++oh) {
    const int64_t h0 = oh * p.stride_h - p.pad_top;
    const int64_t h_lo = clamp_index(h0, 0, p.in_h), h_hi = clamp_index(h0 + p.kernel_h, 0, p.in_h);
    for (int64_t ow = 0; ow < p.out_w; ++ow) {
      const int64_t w0 = ow * p.stride_w - p.pad_left;
      const int64_t w_lo = clamp_index(w0, 0, p.in_w), w_hi = clamp_index(w0 + p.kernel_w, 0, p.in_w);
      const T* __restrict g = dout + (oh * p.out_w + ow) * C;
      const T divisor = static_cast<T>(avg_divisor(p, oh, ow));
      for (int64_t ih = h_lo; ih < h_hi; ++ih)
        for (int64_t iw = w_lo; iw < w_hi; ++iw) {
          T* __restrict d = din + (ih * p.in_w + iw) * C;
          for (int64_t c = 0; c < C; ++c) d[c] += g[c] / divisor;
        }
    }
  }
}
