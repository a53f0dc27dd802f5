// driftwatch judge [--since TIME]: asks the configured judge about the stored samples waiting
// for it (a judge added later, or a budget that left some waiting), within its per-run budget,
// then recomputes the drift events from the final verdicts, like reclassify.
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/time.h"
#include "judge/judge.h"
#include "transport/transport.h"

namespace dw::cli {
namespace {

int run_judge(const Context& ctx, const std::string& since_text) {
  judge::Scope scope;
  if (!since_text.empty()) {
    auto since = parse_time(since_text);
    if (!since) {
      std::cerr << "--since: " << since.error().message() << "\n";
      return kExitInvalid;
    }
    scope.since = *since;
  }
  auto config = load_config(ctx.config_path());
  if (!config) return config.error();
  if (!config->judge) {
    std::cerr << config->file.string() << ": no [judge] table: there is no judge to ask\n";
    return kExitInvalid;
  }
  if (config->judge->when == config::Judge::When::never) {
    std::cout << "[judge] when = \"never\": nothing asked\n";
    return kExitOk;
  }
  scope.deadline = transport::Millis(config->run_deadline);
  auto store = open_existing_store(*config);
  if (!store) return store.error();
  auto transport = transport::Transport::create();
  if (!transport) {
    std::cerr << transport.error().to_string() << "\n";
    return kExitRuntime;
  }
  SystemClock clock;
  judge::Judge judge(*config->judge, **store, **transport, clock);
  auto counts = judge.run(scope);
  if (!counts) {
    std::cerr << "judge: " << counts.error().to_string() << "\n";
    return kExitRuntime;
  }
  std::cout << judge::describe(*counts) << "\n";
  if (counts->judged + counts->cached > 0) {
    if (int code = recompute_events(**store, *config); code != kExitOk) return code;
  }
  if (counts->failed > 0) {
    std::cerr << "the judge left " << counts->failed
              << (counts->failed == 1 ? " text" : " texts")
              << " unanswered; they wait for the next run or `driftwatch judge`\n";
    return kExitRuntime;
  }
  return kExitOk;
}

}  // namespace

void register_judge(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "judge",
      "ask the [judge] about stored samples waiting for it (the uncertain ones, or all with "
      "when = \"all\"), at most max_per_run texts, then recompute the drift events");
  auto since = std::make_shared<std::string>();
  cmd->add_option("--since", *since, "only samples of runs at or after TIME (ISO 8601)")
      ->type_name("TIME");
  cmd->callback([&ctx, since] { ctx.exit_code = run_judge(ctx, *since); });
}

}  // namespace dw::cli
