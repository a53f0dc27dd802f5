#include "common/memory.h"

#include <malloc.h>

namespace dw {

void keep_freed_memory() {
  // One arena: a thread's own would keep its free top (about its peak) out of reach of the one
  // malloc_trim() below.
  mallopt(M_ARENA_MAX, 1);
  // More than a burst of driftwatch frees at once. Setting it also fixes the threshold above
  // which a block gets a mapping of its own (128 KiB; glibc would raise it to the largest
  // block freed): such blocks are few, and given back when freed, so they do not add to the
  // peak; keeping them (a higher threshold) made a run's peak 1.7 MiB larger and saved nothing.
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

void release_freed_memory() { malloc_trim(0); }

}  // namespace dw
