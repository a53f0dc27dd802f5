#include "daemon/jobs.h"

#include <algorithm>
#include <map>
#include <memory>
#include <sstream>

#include "daemon/hooks.h"
#include "judge/judge.h"
#include "runner/runner.h"

namespace dw::daemon {
namespace {

// The metrics' view of one run's samples, read back from the store (so it counts what was
// stored, classifications included).
Result<std::vector<SampleFacts>> run_facts(store::Store& store, int64_t run_id) {
  std::vector<SampleFacts> facts;
  store::SampleFilter filter;
  filter.run_id = run_id;
  filter.with_text = false;
  Status s = store.for_each_sample(filter, [&](const store::SampleRow& row) {
    facts.push_back({row.key.endpoint, row.category,
                     row.classification ? row.classification->verdict : "unclassified",
                     std::chrono::duration<double>(row.sample.latency).count()});
    return true;
  });
  if (!s) return s.error();
  return facts;
}

std::string describe(const store::Event& e) {
  std::string line = "- " + e.type + " on " + (e.endpoint.empty() ? "every endpoint" : e.endpoint);
  if (!e.probe_id.empty()) line += ", probe " + e.probe_id;
  if (!e.scope.empty()) line += " (" + e.scope + ")";
  return line + ", since " + format_time(e.detected_at);
}

// Detection, then the events it opened at this run and the open counts for the metrics.
// recompute: the judge changed verdicts of earlier runs, so every event is recomputed.
void after_run(JobContext& ctx, const runner::Summary& run, bool recompute, JobOutcome& outcome) {
  if (!run.complete) {
    // A run cut short is not evidence either way; detection waits for a whole run.
    ctx.log.notice("run " + std::to_string(run.run_id) + " is incomplete: no drift detection");
  } else if (auto d = detect_after_run(ctx.store, run.run_id, ctx.setup.config, recompute); !d) {
    ctx.log.error("drift detection after run " + std::to_string(run.run_id) + ": " +
                  d.error().to_string());
  } else {
    ctx.log.info("drift detection after run " + std::to_string(run.run_id) + ": " +
                 std::to_string(d->opened) + " events opened, " + std::to_string(d->resolved) +
                 " resolved");
  }

  std::vector<store::Event> opened;
  std::map<std::pair<std::string, std::string>, long> open;
  store::EventFilter filter;
  filter.since = run.run_at;  // every event still open, and those resolved since
  Status s = ctx.store.for_each_event(filter, [&](const store::Event& e) {
    if (e.status == store::EventStatus::open) ++open[{e.endpoint, e.type}];
    if (e.detected_run_id == run.run_id) opened.push_back(e);
    return true;
  });
  if (!s) {
    ctx.log.error("reading events after run " + std::to_string(run.run_id) + ": " +
                  s.error().to_string());
    return;
  }
  long total = 0;
  for (const auto& [key, n] : open) total += n;
  outcome.open_events = total;
  ctx.metrics.set_open_events(open);
  if (auto incidents = open_incidents(ctx.store)) {
    ctx.metrics.set_open_incidents(*incidents);
  } else {
    ctx.log.error("metrics: incidents: " + incidents.error().to_string());
  }
  if (opened.empty()) return;

  Message m;
  m.topic = Topic::events;
  m.subject = "driftwatch: " + std::to_string(opened.size()) + " new drift event" +
              (opened.size() == 1 ? "" : "s") + " at run " + std::to_string(run.run_id);
  std::ostringstream text;
  text << "Run " << run.run_id << " at " << format_time(run.run_at) << " opened:\n";
  for (const auto& e : opened) text << describe(e) << "\n";
  text << total << " events are open now. See `driftwatch events --open`.";
  m.text = text.str();
  ctx.notifier.queue(m);
}

// Retention ([storage] keep): after a run, a few small batches of samples older than keep go
// (store.h: remove_samples_before), so catching up on a long history spreads over runs and no
// run waits long; an idle daemon writes nothing.
constexpr int kRetentionBatch = 500;  // samples per transaction
constexpr int kRetentionBatchesPerRun = 20;

void remove_old_samples(JobContext& ctx) {
  const auto& keep = ctx.setup.config.keep;
  if (!keep) return;
  const Time before = ctx.clock.now() - *keep;
  store::Removed total;
  for (int i = 0; i < kRetentionBatchesPerRun; ++i) {
    auto removed = ctx.store.remove_samples_before(before, kRetentionBatch);
    if (!removed) {
      ctx.log.error("retention: " + removed.error().to_string());
      break;
    }
    total.samples += removed->samples;
    total.texts += removed->texts;
    if (removed->samples < kRetentionBatch) break;
  }
  if (total.samples > 0) {
    ctx.log.info("retention: removed " + std::to_string(total.samples) + " samples from before " +
                 format_time(before) + " and " + std::to_string(total.texts) +
                 " texts no sample uses any more");
  }
}

JobOutcome probe_run(JobContext& ctx, const Job& job) {
  JobOutcome outcome;
  Time run_at = ctx.clock.now();
  ctx.log.notice(std::string(job.catch_up ? "catching up the missed run of " + format_time(job.slot)
                                          : "probe run for " + format_time(job.slot)) +
                 ": starting");
  auto rules = analysis::build_rules(ctx.setup.rule_packs);
  if (!rules) {  // not for packs that compiled when the config was loaded: a guard
    outcome.summary = "run at " + format_time(run_at) + " failed: the rule packs do not compile: " +
                      rules.error().front().to_string();
    ctx.log.error(outcome.summary);
    return outcome;
  }
  runner::Runner runner(ctx.setup.config, ctx.setup.sets, ctx.store, ctx.transport, ctx.clock,
                        &*rules);
  auto run = runner.run(run_at);
  const Time stored_at = ctx.clock.now();
  if (!run) {
    outcome.summary = "run at " + format_time(run_at) + " failed: " + run.error().to_string();
    ctx.log.error(outcome.summary);
    return outcome;
  }
  for (const auto& e : run->endpoints) {
    if (!e.skipped.empty()) ctx.log.warning("endpoint " + e.endpoint + " skipped: " + e.skipped);
    ctx.log.info("endpoint " + e.endpoint + ": " + std::to_string(e.samples) + " samples, " +
                 std::to_string(e.ok) + " answered, " + std::to_string(e.client) + " 4xx, " +
                 std::to_string(e.server) + " 5xx, " + std::to_string(e.no_response) +
                 " without response, " + std::to_string(e.filtered) + " filtered");
  }
  outcome.ok = true;
  outcome.run_at = run->run_at;
  std::string status = run->complete ? "complete" : "incomplete";
  outcome.summary = "run " + std::to_string(run->run_id) + " at " + format_time(run->run_at) +
                    " " + status + " (" + std::to_string(run->sent) + " of " +
                    std::to_string(run->total) + " answered over HTTP)";
  (run->complete ? ctx.log.notice(outcome.summary) : ctx.log.warning(outcome.summary));

  // The judge's second opinions before the metrics and detection read the final verdicts. A
  // judge that fails leaves the rules' verdicts standing; its samples wait for the next run.
  // A run cut short (a stop) is not waited on any longer than it must be.
  // It has what is left of the run's deadline, so that the cycle still ends before the next slot.
  const auto left = ctx.setup.config.run_deadline -
                    std::chrono::duration_cast<transport::Millis>(stored_at - run_at);
  auto judged = run->complete
                    ? judge::after_run(ctx.setup.config, ctx.store, ctx.transport, ctx.clock,
                                       run->run_id, run->run_at, left,
                                       [&](std::string_view outcome) {
                                         ctx.metrics.record_judge_request(outcome);
                                       })
                    : Result<std::optional<judge::Counts>>(std::optional<judge::Counts>());
  const bool recompute = judged && *judged && (**judged).changed_earlier > 0;
  if (!judged) {
    ctx.log.error("judge: " + judged.error().to_string());
  } else if (*judged) {
    (**judged).failed > 0 ? ctx.log.warning("judge: " + judge::describe(**judged))
                          : ctx.log.info("judge: " + judge::describe(**judged));
  }

  if (auto facts = run_facts(ctx.store, run->run_id)) {
    ctx.metrics.record_run(run->run_at, status, *facts, true);
    ctx.metrics.set_last_run_duration(std::chrono::duration<double>(stored_at - run_at).count());
  } else {
    ctx.log.error("metrics: " + facts.error().to_string());
  }
  after_run(ctx, *run, recompute, outcome);
  remove_old_samples(ctx);
  return outcome;
}

JobOutcome report(JobContext& ctx, const Job& job) {
  JobOutcome outcome;
  Time since = report_period_start(ctx.setup.config, job.slot);
  auto written = write_report(ctx.store, ctx.setup.config, since, job.slot);
  if (!written) {
    outcome.summary = "report for " + format_time(since) + " to " + format_time(job.slot) +
                      " failed: " + written.error().to_string();
    ctx.log.error(outcome.summary);
    return outcome;
  }
  outcome.ok = true;
  std::string list;
  for (const auto& f : written->paths) list += (list.empty() ? "" : ", ") + f.string();
  outcome.summary = "report for " + format_time(since) + " to " + format_time(job.slot) +
                    " written: " + list;
  ctx.log.notice(outcome.summary);
  ctx.notifier.queue(report_message(std::move(*written), since, job.slot));
  return outcome;
}

}  // namespace

Message report_message(WrittenReport report, Time since, Time until) {
  Message m;
  m.topic = Topic::reports;
  const size_t fresh = report.new_incidents.size();
  m.subject = "driftwatch report for " + format_date(until - std::chrono::seconds(1)) + ": " +
              (fresh == 0 ? "no" : std::to_string(fresh)) + " new incident" +
              (fresh == 1 ? "" : "s");
  std::string text = "The report for " + format_time(since) + " to " + format_time(until) +
                     " is written. What changed:\n\n";
  size_t listed = 0;  // new incidents the overview has a line for
  for (const auto& line : report.overview) {
    text += line + "\n";
    const auto& fresh_lines = report.new_incidents;
    if (std::find(fresh_lines.begin(), fresh_lines.end(), line) != fresh_lines.end()) ++listed;
  }
  if (listed < fresh) {
    text += "\nNew incidents (" + std::to_string(fresh) + "):\n";
    for (size_t i = 0; i < fresh && i < kMaxListedIncidents; ++i) {
      text += "- " + report.new_incidents[i] + "\n";
    }
    if (fresh > kMaxListedIncidents) {
      text += "- ... and " + std::to_string(fresh - kMaxListedIncidents) +
              " more in the report\n";
    }
  }
  m.text = std::move(text);
  m.html = std::make_shared<const std::string>(std::move(report.html));
  for (const auto& f : report.paths) {
    if (f.extension() == ".html") m.html_file = f;
  }
  return m;
}

Time report_period_start(const config::Config& config, Time slot) {
  if (auto previous = previous_slot(config.report_schedule, slot - std::chrono::seconds(1))) {
    return *previous;
  }
  return slot - std::chrono::days(1);
}

Result<std::map<std::pair<std::string, std::string>, long>> count_open_events(
    store::Store& store) {
  std::map<std::pair<std::string, std::string>, long> open;
  store::EventFilter filter;
  filter.only_open = true;
  Status s = store.for_each_event(filter, [&](const store::Event& e) {
    ++open[{e.endpoint, e.type}];
    return true;
  });
  if (!s) return s.error();
  return open;
}

Status seed_metrics(store::Store& store, Metrics& metrics) {
  auto last = store.last_run();
  if (!last) return last.error();
  if (*last) {
    auto facts = run_facts(store, (*last)->id);
    if (!facts) return facts.error();
    metrics.record_run((*last)->run_at, std::string(store::to_string((*last)->status)), *facts,
                       false);
    if ((*last)->finished_at) {
      metrics.set_last_run_duration(
          std::chrono::duration<double>(*(*last)->finished_at - (*last)->started_at).count());
    }
  }
  auto open = count_open_events(store);
  if (!open) return open.error();
  metrics.set_open_events(*open);
  auto incidents = open_incidents(store);
  if (!incidents) return incidents.error();
  metrics.set_open_incidents(*incidents);
  return Status::Ok();
}

JobOutcome run_job(JobContext& ctx, const Job& job) {
  JobOutcome outcome = job.kind == JobKind::probe_run ? probe_run(ctx, job) : report(ctx, job);
  // New messages go out now; those that failed earlier get another chance after every job.
  if (ctx.notifier.pending() > 0) ctx.notifier.deliver();
  return outcome;
}

}  // namespace dw::daemon
