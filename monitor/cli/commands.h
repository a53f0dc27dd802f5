// The driftwatch command line: each command lives in its own file (cmd_NAME.cc) and adds
// itself to the root CLI11 app through one register function listed here.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>

namespace dw::cli {

// Exit codes (SPEC.md): 0 success, 1 invalid input, 2 runtime failure.
inline constexpr int kExitOk = 0;
inline constexpr int kExitInvalid = 1;
inline constexpr int kExitRuntime = 2;

struct Context {
  std::string config_option;  // -c CONFIG as given, empty when not given
  int exit_code = kExitOk;    // set by the command that ran

  // -c CONFIG, else $DRIFTWATCH_CONFIG, else /etc/driftwatch/driftwatch.toml.
  std::filesystem::path config_path() const;
};

void register_check(CLI::App& app, Context& ctx);
void register_classify(CLI::App& app, Context& ctx);
void register_daemon(CLI::App& app, Context& ctx);
void register_demo(CLI::App& app, Context& ctx);
void register_diff(CLI::App& app, Context& ctx);
void register_events(CLI::App& app, Context& ctx);
void register_export(CLI::App& app, Context& ctx);
void register_fleet(CLI::App& app, Context& ctx);
void register_import(CLI::App& app, Context& ctx);
void register_judge(CLI::App& app, Context& ctx);
void register_push(CLI::App& app, Context& ctx);
void register_reclassify(CLI::App& app, Context& ctx);
void register_report(CLI::App& app, Context& ctx);
void register_run(CLI::App& app, Context& ctx);

}  // namespace dw::cli
