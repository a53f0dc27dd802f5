// driftwatch report [--at TIME] [--since TIME] [--out DIR] [--format md,html,json]
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/time.h"
#include "config/config.h"
#include "report/report.h"
#include "store/store.h"

namespace dw::cli {
namespace {

struct ReportArgs {
  std::string at, since, out, formats;
};

std::vector<std::string> split_formats(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string f = text.substr(start, comma - start);
    if (!f.empty()) out.push_back(f);
    start = comma + 1;
  }
  return out;
}

std::optional<Time> parse_flag(const std::string& flag, const std::string& text) {
  auto t = parse_time(text);
  if (!t) {
    std::cerr << "report: " << flag << ": " << t.error().message() << "\n";
    return std::nullopt;
  }
  return *t;
}

int run_report(const Context& ctx, const ReportArgs& args) {
  report::ReportOptions options;
  options.until = SystemClock().now();
  if (!args.at.empty()) {
    auto t = parse_flag("--at", args.at);
    if (!t) return kExitInvalid;
    options.until = *t;
  }
  options.since = options.until - std::chrono::hours(24);
  if (!args.since.empty()) {
    auto t = parse_flag("--since", args.since);
    if (!t) return kExitInvalid;
    options.since = *t;
  }
  auto config = load_config(ctx.config_path());
  if (!config) return config.error();
  options.dir = args.out.empty() ? config->report_dir : std::filesystem::path(args.out);
  options.formats = args.formats.empty() ? config->report_formats : split_formats(args.formats);
  if (auto s = report::check_options(options); !s) {
    std::cerr << "report: " << s.error().to_string() << "\n";
    return kExitInvalid;
  }
  auto store = open_store_readonly(*config);
  if (!store) return store.error();
  auto files = report::write_reports(**store, options);
  if (!files) {
    std::cerr << "report: " << files.error().to_string() << "\n";
    return kExitRuntime;
  }
  for (const auto& f : files->paths) std::cout << f.string() << "\n";
  return kExitOk;
}

}  // namespace

void register_report(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "report", "write the report of a period (default: the day up to now) as Markdown, HTML "
                "and JSON, named by date");
  auto args = std::make_shared<ReportArgs>();
  cmd->add_option("--at", args->at, "the report's \"now\", the end of the period (ISO 8601)")
      ->type_name("TIME");
  cmd->add_option("--since", args->since, "start of the period (default: 24 hours before --at)")
      ->type_name("TIME");
  cmd->add_option("--out", args->out, "folder to write into (default: [report] dir)")
      ->type_name("DIR");
  cmd->add_option("--format", args->formats,
                  "comma-separated formats: md, html, json (default: [report] formats)")
      ->type_name("LIST");
  cmd->callback([&ctx, args] { ctx.exit_code = run_report(ctx, *args); });
}

}  // namespace dw::cli
