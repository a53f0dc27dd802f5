// driftwatch daemon [--log-level LEVEL] [--grace DURATION]: the scheduler loop for systemd.
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/duration.h"
#include "daemon/daemon.h"
#include "daemon/log.h"

namespace dw::cli {
namespace {

Result<std::unique_ptr<daemon::Setup>, Errors> load(const std::filesystem::path& file) {
  auto setup = load_setup(file);
  if (!setup) return setup.error();
  return std::make_unique<daemon::Setup>(daemon::Setup{
      std::move(setup->config), std::move(setup->sets), std::move(setup->rule_packs)});
}

struct DaemonArgs {
  std::string log_level = "info";
  std::string grace = "30s";
};

int run_daemon(const Context& ctx, const DaemonArgs& args) {
  auto level = daemon::parse_log_level(args.log_level);
  if (!level) {
    std::fprintf(stderr, "--log-level: unknown level '%s' (error, warning, notice, info, debug)\n",
                 args.log_level.c_str());
    return kExitInvalid;
  }
  auto grace = parse_duration(args.grace);
  if (!grace) {
    std::fprintf(stderr, "--grace: %s\n", grace.error().message().c_str());
    return kExitInvalid;
  }
  daemon::Logger log(*level);
  daemon::Options options{ctx.config_path(), load, *grace};
  return daemon::run(options, log);
}

}  // namespace

void register_daemon(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "daemon", "run on the config's schedules until stopped: the loop for systemd "
                "(SIGHUP reloads the config, SIGTERM stops cleanly)");
  auto args = std::make_shared<DaemonArgs>();
  cmd->add_option("--log-level", args->log_level,
                  "least severe messages logged: error, warning, notice, info (default) or debug")
      ->type_name("LEVEL");
  cmd->add_option("--grace", args->grace,
                  "after SIGTERM, how long a run in progress may go on before its requests are "
                  "cancelled (default 30s)")
      ->type_name("DURATION");
  cmd->callback([&ctx, args] { ctx.exit_code = run_daemon(ctx, *args); });
}

}  // namespace dw::cli
