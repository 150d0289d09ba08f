// What the files of lib/distributed share of MPI (defined in mpi.cpp): the error check, the
// watchdog's numbering of collectives and its timed wait, a gather of one value per rank, and the
// hash of a result structure.
// Only lib/distributed includes <mpi.h>; this header is not installed.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "zephyr/array.h"

namespace zephyr::distributed::detail {

/// Throws, naming `call` and this rank, unless `code` is MPI_SUCCESS.
void check(int code, const char* call);
/// The number of the collective this rank enters now, announced to the other ranks so that a
/// timed-out wait can name those that never arrived. Call it before starting each collective.
uint64_t arrive();
/// Polls `request` (collective `call`, numbered `n` by arrive) to completion, or throws at
/// collective_timeout(), naming the ranks that have not reached it.
void wait(MPI_Request& request, const char* call, uint64_t n);
/// `h` (FNV-1a) with one leaf's path, dtype and shape folded in: the structure that every rank
/// must agree on before buffers are summed.
uint64_t hash_leaf(uint64_t h, std::string_view path, const Array& leaf);
/// Every rank's `local`, in rank order (a collective).
std::vector<uint64_t> gather(uint64_t local);
/// The ranks whose value differs from rank 0's.
std::vector<int> ranks_differing_from_0(const std::vector<uint64_t>& values);

}  // namespace zephyr::distributed::detail
