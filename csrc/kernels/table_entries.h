// Table entries that bundle several fields of one instantiation, so each
// table sets them in one line with the sizes derived from the template
// arguments (never typed twice).
//
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace, after
// gemm/gemm_strided_b_impl.h and direct/direct_tile_impl.h.

// gemm_strided_b / gemm_strided_b_narrow: an MR x (NV vectors) tile.
template <class S, int MR, int NV>
GemmStridedBKernels<typename S::T> gemm_strided_b_entry() {
  GemmStridedBKernels<typename S::T> e{};
  e.mr = MR;
  e.nr = NV * S::width;
  e.tile = &gemm_strided_b<S, MR, NV>;
  return e;
}

// direct_tile / direct_tile_narrow / direct_tile_wide: up to MaxRows rows of
// NV vectors.
template <class S, int NV, int MaxRows>
DirectTileKernels<typename S::T> direct_tile_entry() {
  DirectTileKernels<typename S::T> e{};
  e.lanes = NV * S::width;
  e.max_rows = MaxRows;
  e.tile = &direct_tile_rows<S, NV, MaxRows>;
  e.tile_from = &direct_tile_rows_from<S, NV, MaxRows, true>;
  e.store_transposed = &direct_tile_store_transposed<S>;
  e.gather_lanes = &direct_tile_gather_lanes<S>;
  return e;
}

// direct: co_block output channels x width columns per register block.
template <typename T, int CoBlock, int Width>
DirectKernels<T> direct_entry() {
  DirectKernels<T> e{};
  e.co_block = CoBlock;
  e.width = Width;
  e.rows = &direct_conv_rows<T, CoBlock, Width>;
  return e;
}
