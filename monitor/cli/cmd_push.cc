// driftwatch push: sends the runs this monitor has not yet pushed to the fleet's central
// PostgreSQL ([fleet] server), oldest first, one transaction a run (fleet/push.h), the backlog
// the daemon would push after its next run. Prints a line per run pushed, then "pushed N runs
// (M samples); K left".
//
// Exit 1 without [fleet] or with a config that does not check; 2 when the database or the
// password cannot be read, the server cannot be reached or refuses the login, its schema is
// not the one this driftwatch knows, or a push fails: one line on stderr that says which.
// Nothing is lost: runs pushed before a failure stay marked, the failed run and those after
// it stay unpushed for the next try, and pushing a run twice adds nothing centrally.
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/setup.h"
#include "config/config.h"
#include "fleet/central_schema.h"
#include "fleet/pg.h"
#include "fleet/push.h"

namespace dw::cli {
namespace {

std::string push_line(const fleet::PushResult& r) {
  std::string line = "run " + std::to_string(r.run_id) + " (" + r.uuid + ")";
  if (r.already_there) return line + " was already there: marked pushed";
  return line + " pushed: " + std::to_string(r.samples) + " samples, " +
         std::to_string(r.texts) + " texts, " + std::to_string(r.events) + " events";
}

int run_push(const Context& ctx) {
  auto config = load_config(ctx.config_path());
  if (!config) return config.error();
  if (!config->fleet) {
    std::cerr << config->file.string()
              << ": no [fleet] table: there is no central database to push to\n";
    return kExitInvalid;
  }
  const config::Fleet& f = *config->fleet;
  auto password = config::read_secret(f.password);
  if (!password) {
    std::cerr << "push: " << password.error().message() << "\n";
    return kExitRuntime;
  }
  auto store = open_existing_store(*config);
  if (!store) return store.error();
  auto pg = fleet::Pg::connect(f.server, *password);
  if (!pg) {
    std::cerr << "push: " << pg.error().to_string() << "\n";
    return kExitRuntime;
  }
  if (Status s = fleet::check_central(**pg); !s) {
    std::cerr << "push: " << s.error().to_string() << "\n";
    return kExitRuntime;
  }

  const fleet::Vantage vantage{f.vantage, f.country, f.asn};
  long samples = 0;
  fleet::BacklogResult result =
      fleet::push_backlog(**store, **pg, vantage, [&](const fleet::PushResult& r) {
        samples += r.samples;
        std::cout << push_line(r) << std::endl;  // flushed: a long backlog shows its progress
      });
  std::cout << "pushed " << result.pushed.size() << (result.pushed.size() == 1 ? " run" : " runs")
            << " (" << samples << " samples); " << result.left << " left\n";
  if (result.failure) {
    std::cerr << "push: " << result.failure->to_string() << "\n";
    return kExitRuntime;
  }
  return kExitOk;
}

}  // namespace

void register_push(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "push", "push the runs not yet in the fleet's central database ([fleet] server), oldest "
              "first; prints each run pushed and how many are left");
  cmd->callback([&ctx] { ctx.exit_code = run_push(ctx); });
}

}  // namespace dw::cli
