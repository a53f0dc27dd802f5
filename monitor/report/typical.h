// The typical answer of a probe x endpoint over a window: not a random sample but the medoid
// of the window's texts (text.h), with the verdict distribution of the whole window. Reports
// show it before and after each event; `driftwatch diff` shows it then and now.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "common/error.h"
#include "common/time.h"
#include "report/model.h"
#include "store/store.h"

namespace dw::report {

struct TypicalQuery {
  std::string probe_id;
  std::string endpoint;
  std::optional<std::string> probe_version{};  // unset: every version of the probe
  Time from{};   // from <= run_at < until
  Time until{};
  // Distinct texts considered for the medoid, the first ones met in time order; later new
  // texts still count in the verdicts. Bounds the quadratic medoid search.
  size_t max_texts = 200;
};

// Streams the window's samples (one SQL-filtered pass) and returns its TypicalSide: every
// sample counted by verdict, and the medoid among the texts (identical texts are one
// candidate weighted by how often they were seen; the sample shown is the first with that
// text). A window without texts has no sample_id and an empty text. Fails only when the store
// does.
Result<TypicalSide> typical_side(store::Store& store, const TypicalQuery& query);

}  // namespace dw::report
