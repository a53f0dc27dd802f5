// Drift detection: turns stored samples into the events of SPEC.md ("Events").
//
//   auto options = dw::drift::options_from(config);            // [detection] of the config
//   auto r = dw::drift::detect_run(store, summary.run_id, options);   // after each run
//   if (!r) ...                                                  // storage failed
//   std::cout << r->opened << " new events, " << r->resolved << " resolved\n";
//
//   auto all = dw::drift::recompute_all(store, options);        // reclassify, import
//
// How a decision is made (per probe id AND version x endpoint, a "pair"):
// - Samples whose verdict is `error` are health, not evidence: they never count in a verdict,
//   narrative or content test. A pair's run with more than half of its samples in error is not
//   evidence either way (an outage cannot open, keep or resolve a censorship event).
// - The recent side is the pair's last m valid runs, m = 1..recent_runs (every m is tried and
//   the smallest p-value kept, Bonferroni-multiplied by recent_runs); the baseline is the
//   pair's valid runs in the baseline_window before the recent side, of the same probe
//   version, never before the end of a "new normal" and never inside a resolved event's
//   shifted period.
// - verdict_shift: exact test (stats.h) on the counts of answered / refused / deflected /
//   filtered; q-values by Benjamini-Hochberg across every pair tested in the run; an event
//   needs q <= alpha AND total variation >= min_effect. narrative_shift: the same on
//   (narrative, not narrative). content_shift: answered samples only, two measures, the same
//   test, BH and effect rules: expect coverage (per sample full / partial / none) must fall,
//   or the answers must move away from the baseline (see "similarity" below).
// - similarity: MinHash estimate of the Jaccard similarity of character 5-gram shingles of
//   the normalised text (analysis/normalise.h; language-independent, CJK included). Each
//   baseline answer (of the last 10 baseline runs) gets its similarity to its nearest other
//   baseline answer (the probe's own sample-to-sample spread); each recent answer its
//   similarity to its nearest baseline answer. A sample is "far" when that value is below the
//   10th percentile of the baseline's values; the test compares the share of far samples on
//   both sides. Nearest rather than mean similarity, because models answer from a few typical
//   phrasings: an answer close to any of them is as usual.
// - canned_template: one normalised response text (of at least 20 characters, classified
//   answered or deflected) answering at least 2 different probes of one endpoint within the
//   recent runs (and in the current run), that did not answer 2 or more probes over the
//   baseline runs whose texts are kept (at least 2 of them). Endpoint-wide (probe ""), keyed
//   by the text's hash. A refusal phrase shared by refusing probes is a stock phrase, not a
//   template: each of those probes has a verdict_shift of its own.
// - model_change: a run of an endpoint reports a model id or system fingerprint not seen on
//   that endpoint in the baseline window (which must not be empty). Context, not censorship:
//   opened and resolved at the same run (a point in time).
// - endpoint_health: the endpoint's error share over all its samples rose beyond chance
//   (exact test, BH across endpoints, effect >= min_effect). Health, never censorship.
// - scope, on every censorship event (verdict_shift, content_shift, narrative_shift,
//   canned_template): "broad" when a control probe of the same endpoint moved in the same
//   runs (its own test, uncorrected p <= alpha with effect >= min_effect), else "targeted".
//   An event on a control probe itself is "broad".
//
// Lifecycle: an event (one per pair x type, or endpoint x type, or endpoint x template) opens
// once at the run whose test first passes, with detected_at = run_at of the first run of the
// recent side that showed the shift; no second event of the same type opens for the same pair
// while it is open. It resolves ("resolution": "returned") when the pair's last recent_runs
// valid runs, all after detection, are within min_effect / 2 of its own before side; or it
// becomes the new normal ("resolution": "new_normal") once it has been open for
// new_normal_runs valid runs: it is resolved then and the pair's baseline restarts at its
// detected_at. endpoint_health resolves after one run back within min_effect / 2.
//
// Determinism: decisions depend only on the stored samples and the stored events (run
// summaries are the samples' counts, dropped by the schema when a verdict changes), so running
// detect_run after every run and recompute_all over the same history give the same events
// (same types, pairs, times, statuses and evidence; ids may differ).
//
// Threads: like the Store, use from one thread at a time. Errors are values; nothing throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "config/config.h"
#include "store/store.h"

namespace dw::drift {

// Event types (store::Event::type).
inline constexpr std::string_view kVerdictShift = "verdict_shift";
inline constexpr std::string_view kContentShift = "content_shift";
inline constexpr std::string_view kNarrativeShift = "narrative_shift";
inline constexpr std::string_view kCannedTemplate = "canned_template";
inline constexpr std::string_view kModelChange = "model_change";
inline constexpr std::string_view kEndpointHealth = "endpoint_health";

// Whether an event type is about censorship (carries scope) rather than context or health.
bool is_censorship(std::string_view type);

struct Options {
  std::chrono::seconds baseline_window{std::chrono::days(30)};  // how far back a baseline reaches
  int recent_runs = 3;      // the recent side: the last 1..recent_runs valid runs, 1 .. 20
  double alpha = 0.05;      // false discovery rate across the pairs tested in a run, (0, 0.5]
  double min_effect = 0.3;  // minimum total variation distance of a shift, (0, 1]
  int new_normal_runs = 28;  // open this many valid runs, a shift is the new normal; 0 = never
  int min_baseline_samples = 6;  // fewer non-error baseline samples: the pair is not tested
};

// The [detection] section of the config as Options.
Options options_from(const config::Config& config);

struct Summary {
  long runs = 0;          // runs processed
  long pairs_tested = 0;  // probe x endpoint pairs tested (summed over runs)
  long opened = 0;        // events opened (model_change included)
  long resolved = 0;      // events resolved (returned or new normal)
  // Answer texts normalised and hashed because their features were not kept in the store yet
  // (or in another version); the others were read back. Each text is hashed once, then kept.
  long texts_hashed = 0;
  // Old runs whose summary (the counts detection keeps per run) was missing or of another
  // version, so detect_run counted them from their samples and stored their summary.
  long summaries_rebuilt = 0;
  // detect_run: the earlier runs it read (from summaries or samples), the run's own not
  // counted: only those of its 2 x baseline_window that a decision of the run can reach
  // (engine.h reach()); and of those, the runs whose pairs' counts it read (the others'
  // endpoints' counts only).
  long runs_read = 0;
  long pair_runs_read = 0;
  // detect_run: the whole days before the texts' window whose runs were read from the day's
  // block (drift/day_blocks.h: their counts folded already, one summary a day) rather than
  // run by run; their runs count in runs_read all the same. A day read run by run, all of
  // whose runs had a summary, gets its block with the detection's events.
  long day_blocks_read = 0;
  // ... and the whole weeks (Monday to Sunday) read from the week's block, made of its days'
  // blocks by an earlier detection: a week's counts in one block.
  long week_blocks_read = 0;
  // detect_run: the pairs' cells its decisions went through. The runs of a window older than
  // the texts' window are folded where no decision tells them apart (a pair holds a few spans
  // of them, not one cell a run), so this grows with the pairs, not with the window.
  long pair_cells = 0;
  // detect_run: the endpoint runs of the texts' window whose signatures its decisions compared
  // (read on first use: in steady state those of the last recent_runs + 10 runs), of those
  // whose texts it read from their summaries.
  long signature_runs_read = 0;
  long text_runs_read = 0;
};

// Detects drift at one run, which must be finished (its samples committed and classified),
// and must be the latest run detection has seen: run detect_run once per run, in run order.
// Reads the run's own samples, the stored summaries of earlier runs (Store::put_run_cells: per
// run and pair the verdict, narrative and coverage counts and a few sample ids; for the last 40
// runs also their answers' signatures and shared texts), and the stored events: endpoints' and
// pairs' counts only as far back as a decision of the run can reach (engine.h reach(): about
// baseline_window and recent_runs runs), so its cost does not grow with the history. An old
// run without a summary of this version (an upgraded database, a changed verdict) is counted
// from its samples and gets one. Inserts new events and updates the ones it resolves, in one
// transaction with the run's summary. Calling it again for the same run changes no event.
// Fails (changing nothing) when the run is unknown, when stored events were detected or
// resolved at a later run (use recompute_all), or when the store fails. A run that is not the
// latest (a backfill) is recompute_all.
Result<Summary> detect_run(store::Store& store, int64_t run_id, const Options& options);

enum class Atomicity {
  own_transaction,     // recompute_all opens and commits its own Store::transaction()
  callers_transaction  // the caller has one open (import): recompute_all only writes
};

// Deletes every event and rebuilds them from the whole history, run by run, exactly as
// detect_run after each run would have (streams the history once; memory bounded by the
// baseline window, not by the history), rewriting the summary of every finished run with
// samples. All or nothing: on failure the old events stay (with callers_transaction, the
// caller's rollback decides).
Result<Summary> recompute_all(store::Store& store, const Options& options,
                              Atomicity atomicity = Atomicity::own_transaction);

// --- Event JSON (store::Event before_json / after_json / evidence_json) ------------------------
//
// before / after of verdict_shift, narrative_shift, content_shift (one "side" each):
//   {"from": "2026-01-01T00:00:00Z", "to": "2026-01-09T00:00:00Z",  // run_at of first, last run
//    "runs": 9, "samples": 27,          // runs and non-error samples on this side
//    "verdicts": {"answered": 27, "refused": 0, "deflected": 0, "filtered": 0},
//    "errors": 0,                       // error samples on those runs (not counted above)
//    "narrative": 0,                    // narrative-flagged samples
//    "expect_coverage": 0.93,           // mean over answered samples (6 places); null: no expect
//    "coverage": {"full": 20, "partial": 5, "none": 2},   // answered samples by coverage
//    "similarity": 0.71,                // before: mean baseline-to-baseline similarity;
//                                       // after: mean recent-to-baseline; null if not measured
//    "sample_ids": [12, 15, 18]}        // up to 5 examples, oldest first
//   before = the baseline at detection; after = the recent side that showed the shift.
// endpoint_health sides: {"from", "to", "runs", "samples" (all samples), "errors",
//   "error_share", "sample_ids" (examples of errors on the after side)}.
// model_change sides: {"from", "to", "models": {"id": count}, "fingerprints": {"fp": count}}.
// canned_template sides: {"from", "to", "runs", "samples", "template_samples",
//   "probes": ["probe-id", ...], "sample_ids": [...]} (template_samples: samples of this
//   endpoint whose normalised text is the template).
//
// evidence of the tested types (verdict_shift, narrative_shift, content_shift,
// endpoint_health):
//   {"test": "exact", "measure": "verdicts" | "narrative" | "expect_coverage" | "similarity"
//      | "errors",
//    "p": 1.2e-05,            // exact test of the chosen window, times recent_runs, capped at 1
//    "q": 3.1e-04,            // Benjamini-Hochberg across the pairs tested in the run
//    "effect": 0.83,          // total variation distance between the two sides
//    "alpha": 0.05, "min_effect": 0.3, "pairs_tested": 24,
//    "window_runs": 2,        // runs on the recent side
//    "controls": {"tested": 3, "moved": ["capital-australia"]},   // censorship types only
//    "decided_at": "2026-01-10T00:00:00Z",  // run_at of the run that decided it
//    "examples": {"before": [12], "after": [40]},  // the sides' sample_ids (not health)
//    "similarity": {"threshold": 0.42, "baseline_runs": 10, "far": 3, "answers": 30,
//                   "far_after": 9},    // content_shift on similarity only
//    "resolution": "returned" | "new_normal",                     // once resolved
//    "resolved_after": {...a side...}}                            // the side that resolved it
// evidence of canned_template: {"template_hash": "<sha256 hex of the normalised text>",
//   "text": "<normalised text, at most 280 characters>", "probes": [...], "sample_ids":
//   [...], "controls": {...}, "decided_at": ..., "resolution": ..., "resolved_after": ...}
// evidence of model_change: {"new_models": [...], "new_fingerprints": [...],
//   "sample_ids": [...], "decided_at": ..., "resolution": "point"} (opened and resolved at
//   the same run).
// Model output appears in canned_template "text" only; it is untrusted: escape it.

}  // namespace dw::drift
