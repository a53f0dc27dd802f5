// A row of runs as the store's queries select it (internal to the store): id, run_at,
// started_at, finished_at, status, then, when `counted`, the number of its samples.
#pragma once

#include "store/statement.h"
#include "store/store.h"

namespace dw::store {

// RunInfo::samples is 0 unless counted. Fails on a time that does not parse.
Result<RunInfo> read_run(const Statement& st, bool counted);

}  // namespace dw::store
