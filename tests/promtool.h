// Prometheus' own checker on a metrics exposition: what the daemon's /metrics must pass.
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "scratch.h"

namespace dw::test {

// Runs `promtool check metrics` on text; returns its exit code and fills output.
inline int promtool_check(const std::string& text, std::string& output) {
  Scratch scratch;
  fs::path file = scratch.write("metrics.txt", text);
  std::string command = "promtool check metrics < " + file.string() + " 2>&1";
  FILE* p = popen(command.c_str(), "r");
  REQUIRE_MESSAGE(p != nullptr, "cannot run promtool");
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, p)) output += buffer;
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace dw::test
