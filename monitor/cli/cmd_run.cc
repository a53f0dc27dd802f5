// driftwatch run --once [--at TIME]: one run of every probe x endpoint, stored and classified.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/time.h"
#include "drift/detector.h"
#include "judge/judge.h"
#include "runner/runner.h"
#include "store/store.h"
#include "transport/transport.h"

namespace dw::cli {
namespace {

// Set by SIGINT/SIGTERM: a signal handler may only set a flag; the transport polls it.
std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted.store(true); }

// The first SIGINT or SIGTERM asks for a clean stop; the handler then resets itself, so a
// second one kills at once (the run is then recovered as incomplete on the next open).
void catch_interrupts() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// A one-line progress bar on stderr, redrawn at most ten times a second. Rate and ETA are
// measured on the steady clock: they describe this process, not the recorded run.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled), start_(Steady::now()) {}

  void update(const runner::Progress& p) {
    if (!enabled_) return;
    auto now = Steady::now();
    if (p.done != p.total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    double seconds = std::chrono::duration<double>(now - start_).count();
    double rate = seconds > 0 ? p.done / seconds : 0;
    long eta = rate > 0 ? static_cast<long>((p.total - p.done) / rate) : 0;
    constexpr long kWidth = 30;
    long filled = p.total > 0 ? std::clamp(kWidth * p.done / p.total, 0L, kWidth) : kWidth;
    std::fprintf(stderr, "\r[%s%s] %ld/%ld  errors %ld  %.1f/s  ETA %ldm%02lds \x1b[K",
                 std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
                 p.done, p.total, p.errors, rate, eta / 60, eta % 60);
    drawn_ = true;
  }
  void finish() {
    if (drawn_) std::fputc('\n', stderr);
  }

 private:
  using Steady = std::chrono::steady_clock;
  bool enabled_;
  bool drawn_ = false;
  Steady::time_point start_;
  Steady::time_point last_{};
};

void print_summary(const runner::Summary& s, std::ostream& out) {
  out << "run " << s.run_id << " at " << format_time(s.run_at) << ": "
      << (s.complete ? "complete" : "incomplete") << ", " << s.stored << " of " << s.total
      << " samples stored, " << s.sent << " with an HTTP response";
  if (s.cancelled > 0) out << ", " << s.cancelled << " requests cancelled";
  out << "\n";
  size_t name_width = 8;
  for (const auto& e : s.endpoints) name_width = std::max(name_width, e.endpoint.size());
  out << std::left << std::setw(static_cast<int>(name_width + 2)) << "endpoint" << std::right
      << std::setw(8) << "samples" << std::setw(6) << "ok" << std::setw(6) << "4xx"
      << std::setw(6) << "5xx" << std::setw(13) << "no-response" << std::setw(11) << "malformed"
      << std::setw(10) << "filtered" << "\n";
  for (const auto& e : s.endpoints) {
    out << std::left << std::setw(static_cast<int>(name_width + 2)) << e.endpoint << std::right
        << std::setw(8) << e.samples << std::setw(6) << e.ok << std::setw(6) << e.client
        << std::setw(6) << e.server << std::setw(13) << e.no_response << std::setw(11)
        << e.malformed << std::setw(10) << e.filtered << "\n";
    if (!e.skipped.empty()) out << "  skipped: " << e.skipped << "\n";
  }
}

// Store::open has just marked runs left 'running' by a process that died as incomplete; say so
// when the latest run is one of them, so an interrupted run is not mistaken for data.
void note_interrupted_run(store::Store& store) {
  auto last = store.last_run();
  if (last && *last && (*last)->status == store::RunStatus::incomplete) {
    std::cerr << "note: the last run, " << (*last)->id << " at " << format_time((*last)->run_at)
              << ", did not complete and is marked incomplete (" << (*last)->samples
              << " samples stored)\n";
  }
}

int run_once(const Context& ctx, const std::string& at) {
  SystemClock clock;
  Time run_at = clock.now();
  if (!at.empty()) {
    auto t = parse_time(at);
    if (!t) {
      std::cerr << "--at: " << t.error().message() << "\n";
      return kExitInvalid;
    }
    run_at = *t;
  }
  auto setup = load_setup(ctx.config_path());
  if (!setup) {
    print_errors(setup.error());
    return kExitInvalid;
  }
  auto store = open_store(setup->config);
  if (!store) return store.error();
  note_interrupted_run(**store);
  transport::Options options;
  options.cancel = &g_interrupted;
  auto transport = transport::Transport::create(options);
  if (!transport) {
    std::cerr << transport.error().to_string() << "\n";
    return kExitRuntime;
  }
  catch_interrupts();

  runner::Runner runner(setup->config, setup->sets, **store, **transport, clock, &setup->rules);
  const auto started = std::chrono::steady_clock::now();
  ProgressBar bar(isatty(STDERR_FILENO) == 1);
  auto summary = runner.run(run_at, [&](const runner::Progress& p) { bar.update(p); });
  bar.finish();
  if (!summary) {
    std::cerr << "run failed: " << summary.error().to_string() << "\n";
    return kExitRuntime;
  }
  print_summary(*summary, std::cout);
  if (!summary->complete) {
    std::cerr << "interrupted: run " << summary->run_id << " is marked incomplete ("
              << summary->stored << " of " << summary->total << " samples stored)\n";
    return kExitRuntime;
  }
  // The judge's second opinions first: detection counts final verdicts. A judge that fails is
  // reported and the rules' verdicts stand; the run itself is done.
  // It has what is left of the run's deadline.
  const auto left = setup->config.run_deadline - std::chrono::duration_cast<transport::Millis>(
                                                     std::chrono::steady_clock::now() - started);
  auto judged = judge::after_run(setup->config, **store, **transport, clock, summary->run_id,
                                 summary->run_at, left);
  if (!judged) {
    std::cerr << "judge: " << judged.error().to_string() << "\n";
  } else if (*judged) {
    std::cout << judge::describe(**judged) << "\n";
  }
  // After every complete run, errors included: an outage is an endpoint_health event. When the
  // judge changed verdicts of earlier runs, every event is recomputed from the final verdicts.
  const auto detection = drift::options_from(setup->config);
  auto detected = judged && *judged && (**judged).changed_earlier > 0
                      ? drift::recompute_all(**store, detection)
                      : drift::detect_run(**store, summary->run_id, detection);
  if (!detected) {
    std::cerr << "drift detection failed: " << detected.error().to_string() << "\n";
    return kExitRuntime;
  }
  std::cout << detected->opened << " new events, " << detected->resolved << " resolved\n";
  if (summary->sent == 0) {
    std::cerr << "no request of run " << summary->run_id
              << (summary->total == 0 ? " could be sent: every endpoint was skipped\n"
                                      : " got an HTTP response: no endpoint answered\n");
    return kExitRuntime;
  }
  return kExitOk;
}

}  // namespace

void register_run(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "run", "one run of every probe x endpoint now: store the samples, classify them");
  auto once = std::make_shared<bool>(false);
  auto at = std::make_shared<std::string>();
  cmd->add_flag("--once", *once, "run once and exit (the schedule loop is `driftwatch daemon`)")
      ->required();
  cmd->add_option("--at", *at,
                  "record the run as happening at TIME (ISO 8601), for backfills and tests")
      ->type_name("TIME");
  cmd->callback([&ctx, once, at] { ctx.exit_code = run_once(ctx, *at); });
}

}  // namespace dw::cli
