// The bytes of one cell and of one endpoint's cell, as run summaries (run_cells.h) and day
// blocks (day_blocks.h) hold them. Internal to the drift module.
#pragma once

#include <cstdint>
#include <string>

#include "drift/history.h"
#include "drift/varint.h"

namespace dw::drift {

// An endpoint's cell of one run: samples, errors, models, fingerprints, ids, error ids. Ids are
// zigzag deltas from *prev_id, which is moved on (the pairs' cells after it continue from it).
void put_endpoint_cell(std::string& out, int64_t& prev_id, const EndpointCell& ec);
// A pair's cell (or span): the flags byte, the counts it flags, its ids and error ids. Not its
// run, key or span.
void put_cell(std::string& out, int64_t& prev_id, const Cell& c);

// Back; false when the bytes are not what History could have counted. Only the fields above
// are set.
bool read_endpoint_cell(varint::Reader& in, int64_t& prev_id, EndpointCell& ec);
bool read_cell(varint::Reader& in, int64_t& prev_id, Cell& c);

}  // namespace dw::drift
