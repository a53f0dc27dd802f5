// driftwatch demo [--out DIR]: a simulated month against the bundled simulator, detected and
// reported; prints a summary and the newest HTML report.
#include <unistd.h>

#include <chrono>
#include <iostream>
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
  long open_incidents = 0;
  for (const auto& i : result->incidents) open_incidents += i.open ? 1 : 0;
  std::cout << result->events << " events detected (" << result->open_events.size()
            << " still open), " << result->incidents.size()
            << (result->incidents.size() == 1 ? " incident" : " incidents") << " ("
            << open_incidents << " still open at the end)" << (result->incidents.empty() ? "" : ":")
            << "\n";
  constexpr size_t kShown = 12;
  for (size_t i = 0; i < result->incidents.size() && i < kShown; ++i)
    std::cout << "  " << result->incidents[i].line << "\n";
  if (result->incidents.size() > kShown)
    std::cout << "  ... and " << result->incidents.size() - kShown
              << " more (driftwatch -c " << result->config.string() << " events --incidents)\n";
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
