// A second process that runs a test's own code (a writer that stops mid-batch, as if killed):
// the test program started again as PROGRAM --dw-child=NAME ARGS... through posix_spawn
// (child.h), so that the child is a process of its own, as a killed writer would have been,
// and starts through the emulator in a cross build.
//
//   int writer(const std::vector<std::string>& args) { ...; _exit(0); }
//   const dw::test::ChildMain kWriter("writer", writer);
//   pid_t pid = dw::test::start_child("writer", {db.string()});
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "child.h"

namespace dw::test {

using ChildFunction = int (*)(const std::vector<std::string>& args);

inline std::map<std::string, ChildFunction>& child_functions() {
  static std::map<std::string, ChildFunction> functions;
  return functions;
}

// Registers a child's code under a name, at static initialisation. Every test file is in one
// program (tests/CMakeLists.txt): a name registered twice stops it before any test runs.
struct ChildMain {
  ChildMain(const char* name, ChildFunction f) {
    if (!child_functions().emplace(name, f).second) {
      std::fprintf(stderr, "child function %s registered twice\n", name);
      std::abort();
    }
  }
};

// This test program again, running the child registered as name; its streams go to /dev/null.
inline pid_t start_child(const std::string& name, const std::vector<std::string>& args) {
  std::vector<std::string> argv{fs::read_symlink("/proc/self/exe").string(), "--dw-child=" + name};
  argv.insert(argv.end(), args.begin(), args.end());
  return spawn(argv, {}, {}, {});
}

}  // namespace dw::test
