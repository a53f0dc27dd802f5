// driftwatch demo [--out DIR]: a simulated month against the bundled simulator, detected and
// reported; prints a summary and the newest HTML report.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>

#include "cli/commands.h"
#include "demo/demo.h"

namespace dw::cli {
namespace {

std::filesystem::path self_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::current_path() : exe.parent_path();
}

int run_demo(const std::string& out) {
  demo::Options options = demo::default_options(self_dir());
  if (!out.empty()) options.out = out;
  auto started = std::chrono::steady_clock::now();
  bool terminal = isatty(STDERR_FILENO) == 1;
  auto result = demo::run(options, [terminal](std::string_view line) {
    // One line a day: redrawn in place on a terminal, kept as a log otherwise.
    if (terminal)
      std::cerr << "\r\x1b[K" << line << std::flush;
    else
      std::cerr << line << "\n";
  });
  if (terminal) std::cerr << "\n";
  if (!result) {
    std::cerr << "demo: " << result.error().to_string() << "\n";
    return kExitRuntime;
  }
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::steady_clock::now() - started).count();
  std::cout << "driftwatch demo: " << result->runs << " simulated days, " << result->samples
            << " samples, in " << seconds << "s\n";
  std::map<std::string, int> by_type;
  for (const auto& e : result->open_events) ++by_type[e.type];
  std::cout << result->events << " events detected, " << result->open_events.size()
            << " still open at the end";
  const char* sep = ": ";
  for (const auto& [type, n] : by_type) {
    std::cout << sep << n << " " << type;
    sep = ", ";
  }
  std::cout << "\n";
  constexpr size_t kShown = 12;
  for (size_t i = 0; i < result->open_events.size() && i < kShown; ++i) {
    const auto& e = result->open_events[i];
    std::cout << "  " << format_date(e.detected_at) << "  " << e.type << "  " << e.endpoint
              << (e.probe.empty() ? "" : " / " + e.probe)
              << (e.scope.empty() ? "" : "  (" + e.scope + ")") << "\n";
  }
  if (result->open_events.size() > kShown)
    std::cout << "  ... and " << result->open_events.size() - kShown << " more\n";
  std::cout << "config:   " << result->config.string() << "\n"
            << "          (try: driftwatch -c " << result->config.string()
            << " diff tiananmen-1989-en --endpoint deepseek-sim)\n"
            << "reports:  " << result->reports.size() << " files in "
            << (result->reports.empty() ? std::string("-")
                                        : result->reports.front().parent_path().string())
            << "\n";
  std::cout << "newest HTML report: "
            << std::filesystem::absolute(result->newest_html).string() << "\n";
  return kExitOk;
}

}  // namespace

void register_demo(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "demo", "the whole job offline: a simulated month with scripted drift, detected and "
              "reported (no network, no keys)");
  auto out = std::make_shared<std::string>();
  cmd->add_option("--out", *out, "folder for the config, database and reports "
                                 "(default: ./driftwatch-demo)")
      ->type_name("DIR");
  cmd->callback([&ctx, out] { ctx.exit_code = run_demo(*out); });
}

}  // namespace dw::cli
