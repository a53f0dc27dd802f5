#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "common/memory.h"
#include "common/version.h"

namespace dw::cli {

std::filesystem::path Context::config_path() const {
  if (!config_option.empty()) return config_option;
  if (const char* env = std::getenv("DRIFTWATCH_CONFIG"); env && *env) return env;
  return "/etc/driftwatch/driftwatch.toml";
}

}  // namespace dw::cli

int main(int argc, char** argv) {
  using namespace dw::cli;
  // API keys are read into memory: no core dump may carry them, and no other process of the
  // same user may read this one's memory (ptrace, /proc/PID/mem). Best effort: neither call
  // can fail in a way worth stopping for.
  (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  rlimit no_core{0, 0};
  (void)setrlimit(RLIMIT_CORE, &no_core);
  dw::keep_freed_memory();  // every command works in bursts; the daemon releases between them
  CLI::App app{"driftwatch: records how language models answer sensitive questions over time "
               "and reports when that changes.",
               "driftwatch"};
  app.set_version_flag("--version", std::string("driftwatch ") + dw::kVersion);
  app.require_subcommand(1);
  Context ctx;
  app.add_option("-c,--config", ctx.config_option,
                 "config file (default: $DRIFTWATCH_CONFIG, then "
                 "/etc/driftwatch/driftwatch.toml)");

  register_check(app, ctx);
  register_classify(app, ctx);
  register_daemon(app, ctx);
  register_demo(app, ctx);
  register_diff(app, ctx);
  register_events(app, ctx);
  register_export(app, ctx);
  register_fleet(app, ctx);
  register_import(app, ctx);
  register_judge(app, ctx);
  register_push(app, ctx);
  register_reclassify(app, ctx);
  register_report(app, ctx);
  register_run(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitInvalid;
  }
  return ctx.exit_code;
}
