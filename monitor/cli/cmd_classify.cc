// driftwatch classify [--rules DIR] [--explain]: JSON Lines in on stdin, JSON Lines out.
#include <cstdlib>
#include <iostream>
#include <string>

#include "analysis/classify_io.h"
#include "analysis/rules.h"
#include "cli/commands.h"
#include "cli/setup.h"
#include "common/install_paths.h"
#include "input/lines.h"

namespace dw::cli {
namespace {

struct ClassifyOptions {
  std::string rules_dir;
  bool explain = false;
};

// --rules, else $DRIFTWATCH_RULES, else "rules" beside the -c config, else the shipped packs
// (installed, else the source tree's, so a build tree works without installing).
std::filesystem::path rules_dir(const ClassifyOptions& options, const Context& ctx) {
  if (!options.rules_dir.empty()) return options.rules_dir;
  if (const char* env = std::getenv("DRIFTWATCH_RULES"); env && *env) return env;
  return default_rules_dir(ctx.config_option).dir;
}

int run_classify(const ClassifyOptions& options, const Context& ctx) {
  auto rules = analysis::load_rules(rules_dir(options, ctx));
  if (!rules) {
    for (const auto& e : rules.error()) std::cerr << e.to_string() << '\n';
    return kExitInvalid;
  }
  bool malformed = false;
  std::string line;
  bool too_long = false;
  for (long number = 1; input::read_line(std::cin, line, too_long); ++number) {
    if (!too_long && line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto result = too_long ? Result<nlohmann::ordered_json>(Error(
                                 "line longer than " +
                                 std::to_string(input::kMaxLineBytes >> 20) + " MiB"))
                           : analysis::classify_record(*rules, line, options.explain);
    nlohmann::ordered_json out;
    if (result) {
      out = std::move(result).value();
    } else {
      malformed = true;
      std::cerr << Error(result.error().message(), Location{"stdin", static_cast<int>(number)})
                       .to_string()
                << '\n';
      out["line"] = number;
      out["error"] = "line " + std::to_string(number) + ": " + result.error().message();
    }
    // Model output is untrusted: never let a stray byte abort the stream.
    std::cout << out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
  }
  std::cout.flush();
  return malformed ? kExitInvalid : kExitOk;
}

}  // namespace

void register_classify(CLI::App& app, Context& ctx) {
  auto options = std::make_shared<ClassifyOptions>();
  CLI::App* cmd = app.add_subcommand(
      "classify",
      "Classify answers: JSON Lines on stdin (prompt, response, and optionally id, lang, "
      "http_status, body, finish_reason, error, block_reason, expect), each echoed on stdout "
      "with verdict, signals and narrative added (and expect_coverage when it has expect). "
      "A malformed line gets {\"line\": N, \"error\": ...} and the rest go on; exit 1 if any "
      "line was malformed or the rules do not load.");
  cmd->add_option("--rules", options->rules_dir,
                  "rule pack folder (default: $DRIFTWATCH_RULES, then 'rules' beside the -c "
                  "config, then " + (installed_share_dir() / "rules").string() +
                      ", then /usr/share/driftwatch/rules, then the source tree's "
                      "config/rules)");
  cmd->add_flag("--explain", options->explain, "add a 'why' field saying how each verdict "
                                               "was reached");
  cmd->callback([options, &ctx] { ctx.exit_code = run_classify(*options, ctx); });
}

}  // namespace dw::cli
