// driftwatch fleet init|report|status: the commands of the fleet's central PostgreSQL, for
// whoever runs it (no probes, no local database):
//
//   fleet init   [--server CONNINFO] [--password-file FILE]   creates or migrates the schema
//   fleet report [--server ...] [--at TIME] [--since TIME] [--out DIR]
//   fleet status [--server ...]                                one line per monitor
//
// --server is a libpq connection string or URI; without it, the config's [fleet] server (and
// its password) is used. A password never goes on the command line, where `ps` shows it: a
// --server holding one is refused; it comes from --password-file, else from the config's
// [fleet] password (when the server came from there), else libpq's own ways ($PGPASSWORD,
// ~/.pgpass, a client certificate). Exit 1 for bad arguments or config, 2 when the server
// cannot be reached, refuses, or a statement or a file fails: one line on stderr.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/time.h"
#include "config/config.h"
#include "fleet/central_schema.h"
#include "fleet/fleet_report.h"
#include "fleet/fleet_status.h"
#include "fleet/pg.h"

namespace dw::cli {
namespace {

constexpr auto kDefaultPeriod = std::chrono::days(7);

struct FleetArgs {
  std::string server, password_file;
  std::string at, since, out;  // report
};

// Connects as the arguments say; prints why not and returns the exit code otherwise.
Result<std::unique_ptr<fleet::Pg>, int> connect_central(const Context& ctx,
                                                        const std::string& command,
                                                        const FleetArgs& args) {
  std::string server = args.server;
  config::SecretRef password;
  if (!server.empty()) {
    if (Status s = config::check_server(server); !s) {
      std::cerr << command << ": --server " << s.error().message()
                << (s.error().message().starts_with("holds a password")
                        ? "; give it with --password-file FILE or $PGPASSWORD instead"
                        : "")
                << "\n";
      return kExitInvalid;
    }
    if (Status s = fleet::check_conninfo(server); !s) {
      std::cerr << command << ": --server: " << s.error().message() << "\n";
      return kExitInvalid;
    }
  } else {
    auto config = load_config(ctx.config_path());
    if (!config) return config.error();
    if (!config->fleet) {
      std::cerr << command << ": no --server given, and " << config->file.string()
                << " has no [fleet] server\n";
      return kExitInvalid;
    }
    server = config->fleet->server;
    password = config->fleet->password;
  }
  int read_failure = kExitRuntime;  // the config's source: the environment of this run
  if (!args.password_file.empty()) {
    password = {config::SecretRef::Source::file, args.password_file, "PostgreSQL password"};
    read_failure = kExitInvalid;  // a file named on the command line
  }
  auto secret = config::read_secret(password);
  if (!secret) {
    std::cerr << command << ": " << secret.error().message() << "\n";
    return read_failure;
  }
  auto pg = fleet::Pg::connect(server, *secret);
  if (!pg) {
    std::cerr << command << ": " << pg.error().to_string() << "\n";
    return kExitRuntime;
  }
  return std::move(*pg);
}

int run_fleet_init(const Context& ctx, const FleetArgs& args) {
  auto pg = connect_central(ctx, "fleet init", args);
  if (!pg) return pg.error();
  auto before = fleet::central_version(**pg);
  if (!before) {
    std::cerr << "fleet init: " << before.error().to_string() << "\n";
    return kExitRuntime;
  }
  if (Status s = fleet::init_central(**pg); !s) {
    std::cerr << "fleet init: " << s.error().to_string() << "\n";
    return kExitRuntime;
  }
  auto after = fleet::central_version(**pg);
  if (!after) {
    std::cerr << "fleet init: " << after.error().to_string() << "\n";
    return kExitRuntime;
  }
  const std::string where = (*pg)->describe();
  if (*before == *after) {
    std::cout << "the central schema on " << where << " is version " << *after
              << " already: nothing to do\n";
  } else if (*before == 0) {
    std::cout << "created the central schema version " << *after << " on " << where
              << " (roles driftwatch_monitor and driftwatch_reader)\n";
  } else {
    std::cout << "migrated the central schema on " << where << " from version " << *before
              << " to " << *after << "\n";
  }
  return kExitOk;
}

std::optional<Time> time_flag(const std::string& flag, const std::string& text) {
  auto t = parse_time(text);
  if (!t) {
    std::cerr << "fleet report: " << flag << ": " << t.error().message() << "\n";
    return std::nullopt;
  }
  return *t;
}

int run_fleet_report(const Context& ctx, const FleetArgs& args) {
  fleet::FleetReportOptions options;
  options.at = SystemClock().now();
  if (!args.at.empty()) {
    auto t = time_flag("--at", args.at);
    if (!t) return kExitInvalid;
    options.at = *t;
  }
  options.since = options.at - kDefaultPeriod;
  if (!args.since.empty()) {
    auto t = time_flag("--since", args.since);
    if (!t) return kExitInvalid;
    options.since = *t;
  }
  if (options.since >= options.at) {
    std::cerr << "fleet report: the period is empty: --since " << format_time(options.since)
              << " is not before --at " << format_time(options.at) << "\n";
    return kExitInvalid;
  }
  // Divergences are tested as the monitors' detection tests drift: with the config's
  // [detection] alpha and min_effect when there is a config (named, or at the default path),
  // else with their defaults.
  if (args.server.empty() || !ctx.config_option.empty() || std::getenv("DRIFTWATCH_CONFIG") ||
      std::filesystem::exists(ctx.config_path())) {
    auto config = load_config(ctx.config_path());
    if (!config) return config.error();
    options.alpha = config->detection.alpha;
    options.min_effect = config->detection.min_effect;
  }
  auto pg = connect_central(ctx, "fleet report", args);
  if (!pg) return pg.error();
  auto report = fleet::gather_fleet(**pg, options);
  if (!report) {
    std::cerr << "fleet report: " << report.error().to_string() << "\n";
    return kExitRuntime;
  }
  const std::filesystem::path dir = args.out.empty() ? "." : args.out;
  if (Status s = fleet::write_fleet_report(*report, dir); !s) {
    std::cerr << "fleet report: " << s.error().to_string() << "\n";
    return kExitRuntime;
  }
  std::cout << fleet::fleet_summary(*report) << "\n";
  for (const char* ext : {"md", "html", "json"}) {
    std::cout << (dir / (std::string("fleet-report.") + ext)).string() << "\n";
  }
  return kExitOk;
}

int run_fleet_status(const Context& ctx, const FleetArgs& args) {
  auto pg = connect_central(ctx, "fleet status", args);
  if (!pg) return pg.error();
  auto monitors = fleet::fleet_status(**pg);
  if (!monitors) {
    std::cerr << "fleet status: " << monitors.error().to_string() << "\n";
    return kExitRuntime;
  }
  std::cout << fleet::render_status(*monitors, SystemClock().now());
  return kExitOk;
}

// --server and --password-file, on each subcommand.
void add_connection(CLI::App* cmd, FleetArgs& args) {
  cmd->add_option("--server", args.server,
                  "the central PostgreSQL: a libpq connection string or URI, without a "
                  "password (default: [fleet] server of the config)")
      ->type_name("CONNINFO");
  cmd->add_option("--password-file", args.password_file,
                  "file holding only the password (default: [fleet] password_* with the "
                  "config's server, else $PGPASSWORD, ~/.pgpass or a client certificate)")
      ->type_name("FILE");
}

}  // namespace

void register_fleet(CLI::App& app, Context& ctx) {
  CLI::App* fleet = app.add_subcommand(
      "fleet", "the fleet's central PostgreSQL, where monitors push their runs: init, report, "
               "status");
  fleet->require_subcommand(1);
  auto args = std::make_shared<FleetArgs>();

  CLI::App* init = fleet->add_subcommand(
      "init", "create the central schema (version 2) and the roles driftwatch_monitor and "
              "driftwatch_reader, or migrate an older schema; nothing to do when current");
  add_connection(init, *args);
  init->callback([&ctx, args] { ctx.exit_code = run_fleet_init(ctx, *args); });

  CLI::App* report = fleet->add_subcommand(
      "report", "write the fleet report of a period (default: the 7 days up to now): each "
                "vantage's verdicts side by side, completeness, events, vantage divergences");
  add_connection(report, *args);
  report->add_option("--at", args->at, "the end of the period (ISO 8601; default: now)")
      ->type_name("TIME");
  report->add_option("--since", args->since, "start of the period (default: 7 days before --at)")
      ->type_name("TIME");
  report->add_option("--out", args->out,
                     "folder to write fleet-report.md, .html and .json into (default: .)")
      ->type_name("DIR");
  report->callback([&ctx, args] { ctx.exit_code = run_fleet_report(ctx, *args); });

  CLI::App* status = fleet->add_subcommand(
      "status", "one line per monitor: its vantage, last run, runs, last push, backlog as it "
                "last reported, runs with a clock ahead of the server's");
  add_connection(status, *args);
  status->callback([&ctx, args] { ctx.exit_code = run_fleet_status(ctx, *args); });
}

}  // namespace dw::cli
