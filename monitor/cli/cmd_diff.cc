// driftwatch diff PROBE [--endpoint NAME] [--from TIME] [--to TIME]: the typical answer then
// and now, as a word diff, with the verdict distribution of each side.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <set>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/strings.h"
#include "common/time.h"
#include "config/config.h"
#include "report/diff.h"
#include "report/format.h"
#include "report/typical.h"
#include "store/store.h"

namespace dw::cli {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

struct DiffArgs {
  std::string probe, endpoint, from, to;
};

// Colour only for a person at a terminal who has not asked for none (https://no-color.org).
bool use_colour() {
  const char* no_colour = std::getenv("NO_COLOR");
  return isatty(STDOUT_FILENO) == 1 && !(no_colour && *no_colour);
}

std::string shares(const report::VerdictCounts& c) {
  std::string out;
  for (size_t i = 0; i < report::kVerdicts.size(); ++i) {
    if (c.n[i] == 0) continue;
    out += (out.empty() ? "" : ", ") + std::string(report::kVerdicts[i]) + " " +
           std::to_string(c.n[i]) + " (" +
           report::percent(static_cast<double>(c.n[i]) / static_cast<double>(c.total())) + ")";
  }
  if (c.unclassified) out += (out.empty() ? "" : ", ") + std::to_string(c.unclassified) + " unclassified";
  return out.empty() ? "no samples" : out;
}

void print_side(const char* name, const report::TypicalSide& s) {
  std::cout << "  " << name << "  " << format_time(s.from) << " – " << format_time(s.until)
            << ": " << s.verdicts.total() << " samples: " << shares(s.verdicts) << "\n";
}

void print_diff(const std::vector<report::DiffPiece>& pieces, bool colour) {
  for (const auto& p : pieces) {
    switch (p.op) {
      case report::DiffOp::same: std::cout << p.text; break;
      case report::DiffOp::removed:
        std::cout << (colour ? "\x1b[31;9m" + p.text + "\x1b[0m" : "[-" + p.text + "-]");
        break;
      case report::DiffOp::added:
        std::cout << (colour ? "\x1b[32;4m" + p.text + "\x1b[0m" : "{+" + p.text + "+}");
        break;
    }
  }
  std::cout << "\n";
}

// The first and last run_at in the database; nullopt when there are no runs.
Result<std::optional<std::pair<Time, Time>>> run_span(store::Store& store) {
  std::optional<Time> first;
  auto s = store.for_each_run(std::nullopt, std::nullopt, [&](const store::RunInfo& r) {
    first = r.run_at;
    return false;
  });
  if (!s) return s.error();
  auto last = store.last_run();
  if (!last) return last.error();
  if (!first || !*last) return std::optional<std::pair<Time, Time>>();
  return std::optional<std::pair<Time, Time>>(std::make_pair(*first, (*last)->run_at));
}

// Whether the database has ever stored the probe; when not, suggestion holds
// " (did you mean 'ID'?)" for a near id, else "".
struct Known {
  bool known = false;
  std::string suggestion;
  explicit operator bool() const { return known; }
};

Result<Known> probe_known(store::Store& store, const std::string& id) {
  Known k;
  std::vector<std::string> ids;
  auto s = store.for_each_probe([&](const probes::Probe& p) {
    if (p.id == id) k.known = true;
    ids.push_back(p.id);
    return !k.known;
  });
  if (!s) return s.error();
  if (!k.known) {
    if (auto near = closest_match(id, ids)) k.suggestion = " (did you mean '" + *near + "'?)";
  }
  return k;
}

int run_diff(const Context& ctx, const DiffArgs& args) {
  std::optional<Time> from, to;
  for (auto [flag, text, out] : {std::tuple{"--from", &args.from, &from}, {"--to", &args.to, &to}}) {
    if (text->empty()) continue;
    auto t = parse_time(*text);
    if (!t) {
      std::cerr << "diff: " << flag << ": " << t.error().message() << "\n";
      return kExitInvalid;
    }
    *out = *t;
  }
  auto config = load_config(ctx.config_path());
  if (!config) return config.error();
  auto store = open_store_readonly(*config);
  if (!store) return store.error();
  auto span = run_span(**store);
  if (!span) {
    std::cerr << span.error().to_string() << "\n";
    return kExitRuntime;
  }
  if (!*span && (!from || !to)) {
    std::cerr << "diff: the database has no runs yet\n";
    return kExitInvalid;
  }
  // "Then" is the day from FROM on (default: the first run); "now" the day up to TO
  // (default: just after the last run).
  // Not value_or: its argument would read *span, which is empty when both are given.
  Time then_from = from ? *from : (*span)->first;
  Time now_until = to ? *to : (*span)->second + seconds(1);

  // The endpoints with samples of the probe in the span; --endpoint must be one of them.
  std::set<std::string> endpoints;
  store::SampleFilter filter{.probe_id = args.probe, .since = then_from, .until = now_until,
                             .with_text = false};
  auto s = (*store)->for_each_sample(filter, [&](const store::SampleRow& row) {
    endpoints.insert(row.key.endpoint);
    return true;
  });
  if (!s) {
    std::cerr << s.error().to_string() << "\n";
    return kExitRuntime;
  }
  auto known = probe_known(**store, args.probe);
  if (!known) {
    std::cerr << known.error().to_string() << "\n";
    return kExitRuntime;
  }
  if (!*known) {
    std::cerr << "diff: unknown probe '" << args.probe << "'" << known->suggestion << "\n";
    return kExitInvalid;
  }
  if (!args.endpoint.empty()) {
    std::vector<std::string> names;
    for (const auto& e : config->endpoints) names.push_back(e.name);
    bool configured = std::find(names.begin(), names.end(), args.endpoint) != names.end();
    if (!configured && !endpoints.contains(args.endpoint)) {
      auto near = closest_match(args.endpoint, names);
      std::cerr << "diff: unknown endpoint '" << args.endpoint << "'"
                << (near ? " (did you mean '" + *near + "'?)" : std::string()) << "\n";
      return kExitInvalid;
    }
    bool has_samples = endpoints.contains(args.endpoint);
    endpoints.clear();
    if (has_samples) endpoints.insert(args.endpoint);
  }
  if (endpoints.empty()) {
    std::cerr << "diff: no samples of probe '" << args.probe << "'"
              << (args.endpoint.empty() ? "" : " on endpoint '" + args.endpoint + "'")
              << " between " << format_time(then_from) << " and " << format_time(now_until)
              << "\n";
    return kExitInvalid;
  }
  bool colour = use_colour();
  for (const auto& endpoint : endpoints) {
    report::TypicalQuery q{.probe_id = args.probe, .endpoint = endpoint,
                           .from = then_from, .until = then_from + hours(24)};
    auto then = report::typical_side(**store, q);
    q.from = now_until - hours(24);
    q.until = now_until;
    auto now = then ? report::typical_side(**store, q) : then;
    if (!then || !now) {
      std::cerr << (then ? now : then).error().to_string() << "\n";
      return kExitRuntime;
    }
    std::cout << args.probe << " on " << endpoint << "\n";
    print_side("then", *then);
    print_side("now ", *now);
    if (!then->sample_id || !now->sample_id) {
      std::cout << "  (no answer text on " << (then->sample_id ? "the now" : "the then")
                << " side to compare)\n\n";
      continue;
    }
    std::cout << "  typical then: sample " << *then->sample_id << " (" << then->verdict
              << "); typical now: sample " << *now->sample_id << " (" << now->verdict << ")\n\n";
    print_diff(report::word_diff(then->text, now->text), colour);
    std::cout << "\n";
  }
  return kExitOk;
}

}  // namespace

void register_diff(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "diff", "word diff of a probe's typical answer then and now, with verdict distributions");
  auto args = std::make_shared<DiffArgs>();
  cmd->add_option("PROBE", args->probe, "probe id")->required();
  cmd->add_option("--endpoint", args->endpoint, "only this endpoint (default: every one)")
      ->type_name("NAME");
  cmd->add_option("--from", args->from, "\"then\" is the day from TIME on (default: the first run)")
      ->type_name("TIME");
  cmd->add_option("--to", args->to, "\"now\" is the day up to TIME (default: the last run)")
      ->type_name("TIME");
  cmd->callback([&ctx, args] { ctx.exit_code = run_diff(ctx, *args); });
}

}  // namespace dw::cli
