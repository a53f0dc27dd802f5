// driftwatch export [--since TIME] [--until TIME] [--endpoint NAME] [--probe ID]: stored
// samples with their texts as JSON Lines, in the shape `import` reads, plus each sample's
// verdict. The way to read answers as plain text now that the database keeps them compressed,
// and to move history from one database to another (`import` of the output stores it again).
//
// One object a line, oldest run first (then endpoint, probe, sample): "id" (the sample's), "run"
// (its run's id: lines of one run stay one run on import), "at" (the run's time), "probe",
// "endpoint", "model" (as reported, else as requested), "system_fingerprint", "prompt" and "lang"
// (of the probe version asked), "response" (the text), "http_status", "finish_reason", "body"
// (a non-2xx response's body), "error", and "verdict" (the final one; null until classified).
// Keys without a value are left out. Reads through the store, one run's samples at a time:
// memory does not grow with the history.
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/strings.h"
#include "common/time.h"
#include "store/store.h"

namespace dw::cli {
namespace {

using nlohmann::ordered_json;

struct ExportArgs {
  std::string since, until, endpoint, probe;
};

ordered_json line_of(const store::SampleRow& row, const std::string* prompt) {
  const providers::Sample& s = row.sample;
  ordered_json j;
  j["id"] = row.id;
  j["run"] = row.run_id;
  j["at"] = format_time(row.run_at);
  j["probe"] = row.key.probe_id;
  j["endpoint"] = row.key.endpoint;
  const std::string& model = s.model.empty() ? row.key.requested_model : s.model;
  if (!model.empty()) j["model"] = model;
  if (!s.system_fingerprint.empty()) j["system_fingerprint"] = s.system_fingerprint;
  if (prompt) j["prompt"] = *prompt;
  if (!row.lang.empty()) j["lang"] = row.lang;
  if (!s.text.empty()) j["response"] = s.text;
  if (s.http_status != 0) j["http_status"] = s.http_status;
  if (!s.finish_reason.empty()) j["finish_reason"] = s.finish_reason;
  if (!s.error_body.empty()) j["body"] = s.error_body;
  // import needs an answer field: a sample without text or status failed before any response.
  if (!s.error.empty() || (s.text.empty() && s.http_status == 0)) j["error"] = s.error;
  j["verdict"] = row.classification ? ordered_json(row.classification->verdict) : ordered_json();
  return j;
}

int run_export(const Context& ctx, const ExportArgs& args) {
  store::SampleFilter filter;
  for (auto [flag, text, out] : {std::tuple{"--since", &args.since, &filter.since},
                                 {"--until", &args.until, &filter.until}}) {
    if (text->empty()) continue;
    auto t = parse_time(*text);
    if (!t) {
      std::cerr << "export: " << flag << ": " << t.error().message() << "\n";
      return kExitInvalid;
    }
    *out = *t;
  }
  if (!args.endpoint.empty()) filter.endpoint = args.endpoint;
  if (!args.probe.empty()) filter.probe_id = args.probe;
  auto config = load_config(ctx.config_path());
  if (!config) return config.error();
  auto store = open_store_readonly(*config);
  if (!store) return store.error();

  // Every probe version's prompt: a few hundred lines, however long the history.
  std::map<std::pair<std::string, std::string>, std::string> prompts;
  std::set<std::string> probe_ids;
  Status listed = (*store)->for_each_probe([&](const probes::Probe& p) {
    prompts[{p.id, p.version}] = p.prompt;
    probe_ids.insert(p.id);
    return true;
  });
  if (!listed) {
    std::cerr << listed.error().to_string() << "\n";
    return kExitRuntime;
  }
  if (!args.probe.empty() && !probe_ids.contains(args.probe)) {
    auto near = closest_match(args.probe, std::vector<std::string>(probe_ids.begin(),
                                                                    probe_ids.end()));
    std::cerr << "export: unknown probe '" << args.probe << "'"
              << (near ? " (did you mean '" + *near + "'?)" : "") << "\n";
    return kExitInvalid;
  }

  long lines = 0;
  Status s = (*store)->for_each_sample(filter, [&](const store::SampleRow& row) {
    auto prompt = prompts.find({row.key.probe_id, row.key.probe_version});
    std::cout << line_of(row, prompt == prompts.end() ? nullptr : &prompt->second)
                     .dump(-1, ' ', false, ordered_json::error_handler_t::replace)
              << '\n';
    ++lines;
    return static_cast<bool>(std::cout);  // a closed pipe or a full disk: stop reading
  });
  std::cout.flush();
  if (!s) {
    std::cerr << s.error().to_string() << "\n";
    return kExitRuntime;
  }
  if (!std::cout) {
    std::cerr << "export: cannot write to standard output\n";
    return kExitRuntime;
  }
  if (lines == 0 && !args.endpoint.empty()) {
    std::vector<std::string> names;
    for (const auto& e : config->endpoints) names.push_back(e.name);
    if (std::find(names.begin(), names.end(), args.endpoint) == names.end()) {
      auto near = closest_match(args.endpoint, names);
      std::cerr << "export: unknown endpoint '" << args.endpoint << "'"
                << (near ? " (did you mean '" + *near + "'?)" : "") << "\n";
      return kExitInvalid;
    }
  }
  return kExitOk;
}

}  // namespace

void register_export(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "export", "stored samples with their texts as JSON Lines (what `import` reads)");
  auto args = std::make_shared<ExportArgs>();
  cmd->add_option("--since", args->since, "only runs at or after TIME (ISO 8601)")
      ->type_name("TIME");
  cmd->add_option("--until", args->until, "only runs before TIME (ISO 8601)")->type_name("TIME");
  cmd->add_option("--endpoint", args->endpoint, "only samples of this endpoint")
      ->type_name("NAME");
  cmd->add_option("--probe", args->probe, "only samples of this probe (every version)")
      ->type_name("ID");
  cmd->callback([&ctx, args] { ctx.exit_code = run_export(ctx, *args); });
}

}  // namespace dw::cli
