// driftwatch reclassify [--all]: re-runs the classifier over the stored history after the rule
// packs (or the classifier) changed, then rebuilds the drift events from the new verdicts.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "analysis/classifier.h"
#include "cli/commands.h"
#include "cli/setup.h"
#include "probes/expect.h"
#include "runner/runner.h"
#include "store/store.h"

namespace dw::cli {
namespace {

// What classifying a sample of one probe version needs, compiled once.
struct ProbeVersion {
  std::string prompt;
  analysis::PromptFeatures features;            // of prompt, computed once for all its samples
  std::optional<probes::ExpectMatcher> expect;  // absent when the probe expects nothing
};

using ProbeKey = std::pair<std::string, std::string>;  // id, version

// Stored rows give every version's prompt; the loaded sets override the current versions'
// expect patterns, which may have been edited since the last run stored them.
Result<std::map<ProbeKey, ProbeVersion>> probe_versions(store::Store& store,
                                                         const std::vector<probes::ProbeSet>& sets,
                                                         const analysis::RuleSet& rules) {
  std::map<ProbeKey, probes::Probe> rows;
  Status read = store.for_each_probe([&](const probes::Probe& p) {
    rows[{p.id, p.version}] = p;
    return true;
  });
  if (!read) return read.error();
  for (const auto& set : sets) {
    for (const auto& p : set.probes) rows[{p.id, p.version}] = p;
  }
  std::map<ProbeKey, ProbeVersion> out;
  for (auto& [key, probe] : rows) {
    analysis::PromptFeatures features(rules, probe.prompt);
    ProbeVersion version{std::move(probe.prompt), std::move(features), std::nullopt};
    if (!probe.expect.empty()) {
      auto matcher = probes::ExpectMatcher::create(probe);
      if (!matcher) {
        return Error("stored probe '" + key.first + "' version " + key.second + ": " +
                     matcher.error().message());
      }
      version.expect = std::move(matcher).value();
    }
    out.emplace(key, std::move(version));
  }
  return out;
}

// Whether the rules' classification of row is still `b` (a judge's verdict is not the rules').
bool same(const store::SampleRow& row, const store::Classification& b) {
  if (!row.classification) return false;
  const store::Classification& a = *row.classification;
  return row.rules_verdict == b.verdict && a.signals_json == b.signals_json &&
         a.narrative == b.narrative && a.expect_coverage == b.expect_coverage;
}

// "reclassified 120/4000" on stderr, redrawn at most ten times a second.
class Progress {
 public:
  Progress(bool enabled, long total) : enabled_(enabled && total > 0), total_(total) {}
  void update(long done) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (done != total_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    std::fprintf(stderr, "\rreclassified %ld/%ld ", done, total_);
    drawn_ = true;
  }
  void finish() {
    if (drawn_) std::fputc('\n', stderr);
  }

 private:
  bool enabled_;
  long total_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

int run_reclassify(const Context& ctx, bool all) {
  auto setup = load_setup(ctx.config_path());
  if (!setup) {
    print_errors(setup.error());
    return kExitInvalid;
  }
  auto opened = open_existing_store(setup->config);
  if (!opened) return opened.error();
  store::Store& store = **opened;
  const analysis::RuleSet& rules = setup->rules;
  auto probes = probe_versions(store, setup->sets, setup->rules);
  if (!probes) {
    std::cerr << probes.error().to_string() << "\n";
    return kExitRuntime;
  }
  auto due = [&](const store::SampleRow& row) {
    return all || !row.classification || row.classification->classifier_version != rules.version();
  };

  // A first pass without texts counts the work, for the progress line.
  long total = 0, seen = 0;
  Status counted = store.for_each_sample({.with_text = false}, [&](const store::SampleRow& row) {
    ++seen;
    total += due(row) ? 1 : 0;
    return true;
  });
  if (!counted) {
    std::cerr << counted.error().to_string() << "\n";
    return kExitRuntime;
  }

  Progress progress(isatty(STDERR_FILENO) == 1, total);
  analysis::ClassifyScratch scratch;
  long done = 0, changed = 0;
  std::optional<Error> failure;
  Status walked = store.for_each_sample({}, [&](const store::SampleRow& row) {
    if (!due(row)) return true;
    auto probe = probes->find({row.key.probe_id, row.key.probe_version});
    if (probe == probes->end()) {
      failure = Error("sample " + std::to_string(row.id) + ": unknown probe version '" +
                      row.key.probe_id + "' " + row.key.probe_version);
      return false;
    }
    const ProbeVersion& version = probe->second;
    analysis::Classification c = analysis::classify(
        rules, analysis::from_sample(row.sample, version.prompt), version.features,
        version.expect ? &*version.expect : nullptr, &scratch);
    store::Classification stored = runner::to_stored(c, rules);
    if (!same(row, stored)) ++changed;
    store::Explanation why = runner::explanation_of(c);
    if (Status s = store.set_classification(row.id, stored, &why); !s) {
      failure = s.error();
      return false;
    }
    progress.update(++done);
    return true;
  });
  if (walked && !failure) walked = store.flush();
  progress.finish();
  if (!walked || failure) {
    std::cerr << (failure ? *failure : walked.error()).to_string() << "\n";
    return kExitRuntime;
  }
  std::cout << "reclassified " << done << " of " << seen << " samples with classifier "
            << rules.version() << ": " << changed << " changed, " << seen - done
            << " already current\n";
  if (done == 0) return kExitOk;  // nothing changed: the events stand

  return recompute_events(store, setup->config);
}

}  // namespace

void register_reclassify(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "reclassify",
      "re-run the classifier over stored samples classified by another classifier version "
      "(after the rule packs changed), then recompute the drift events");
  auto all = std::make_shared<bool>(false);
  cmd->add_flag("--all", *all, "reclassify every sample, whatever version classified it");
  cmd->callback([&ctx, all] { ctx.exit_code = run_reclassify(ctx, *all); });
}

}  // namespace dw::cli
