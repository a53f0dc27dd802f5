// Prometheus' own checker on a metrics exposition: what the daemon's /metrics must pass.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "child.h"
#include "scratch.h"

namespace dw::test {

// Runs `promtool check metrics` on text; returns its exit code (127 when promtool is not
// installed) and fills output with what it said.
inline int promtool_check(const std::string& text, std::string& output) {
  Scratch scratch;
  fs::path file = scratch.write("metrics.txt", text);
  Outcome o = run_tool(scratch, {"promtool", "check", "metrics"}, file);
  output += o.out + o.err;
  return o.code;
}

}  // namespace dw::test
