// The tests' main: doctest's, unless started as a child process of a test (child_main.h).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "child_main.h"

int main(int argc, char** argv) {
#ifdef DW_TEST_EMULATOR
  // Tests that start the simulator in process (demo::SimProcess) start it through the emulator.
  setenv("DRIFTWATCH_SIM_EMULATOR", DW_TEST_EMULATOR, 1);
#endif
  constexpr std::string_view kChild = "--dw-child=";
  if (argc >= 2 && std::string_view(argv[1]).starts_with(kChild)) {
    auto& functions = dw::test::child_functions();
    auto f = functions.find(std::string(std::string_view(argv[1]).substr(kChild.size())));
    if (f == functions.end()) {
      std::fprintf(stderr, "no child function %s\n", argv[1]);
      return 126;
    }
    return f->second(std::vector<std::string>(argv + 2, argv + argc));
  }
  return doctest::Context(argc, argv).run();
}
