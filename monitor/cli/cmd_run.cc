// driftwatch run --once [--at TIME]: one run of every probe x endpoint, stored and classified.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/time.h"
#include "runner/runner.h"
#include "store/store.h"
#include "transport/transport.h"

namespace dw::cli {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted.store(true); }

// A one-line progress bar on stderr, redrawn at most ten times a second.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled), start_(Clock::now()) {}

  void update(const runner::Progress& p) {
    if (!enabled_) return;
    auto now = Clock::now();
    if (p.done != p.total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    double seconds = std::chrono::duration<double>(now - start_).count();
    double rate = seconds > 0 ? p.done / seconds : 0;
    long eta = rate > 0 ? static_cast<long>((p.total - p.done) / rate) : 0;
    constexpr int kWidth = 30;
    int filled = p.total > 0 ? static_cast<int>(kWidth * p.done / p.total) : kWidth;
    std::fprintf(stderr, "\r[%s%s] %ld/%ld  errors %ld  %.1f/s  ETA %ldm%02lds ",
                 std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
                 p.done, p.total, p.errors, rate, eta / 60, eta % 60);
    drawn_ = true;
  }
  void finish() {
    if (drawn_) std::fputc('\n', stderr);
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  bool drawn_ = false;
  Clock::time_point start_;
  Clock::time_point last_{};
};

void print_summary(const runner::Summary& s, std::ostream& out) {
  out << "run " << s.run_id << " at " << format_time(s.run_at) << ": "
      << (s.complete ? "complete" : "incomplete") << ", " << s.sent << " of " << s.total
      << " samples answered over HTTP\n";
  out << std::left << std::setw(16) << "endpoint" << std::right << std::setw(8) << "samples"
      << std::setw(6) << "2xx" << std::setw(6) << "4xx" << std::setw(6) << "5xx"
      << std::setw(9) << "no-resp" << std::setw(10) << "malformed" << std::setw(10) << "filtered"
      << "\n";
  for (const auto& e : s.endpoints) {
    out << std::left << std::setw(16) << e.endpoint << std::right << std::setw(8) << e.samples
        << std::setw(6) << e.ok << std::setw(6) << e.client << std::setw(6) << e.server
        << std::setw(9) << e.no_response << std::setw(10) << e.malformed << std::setw(10)
        << e.filtered << "\n";
    if (!e.skipped.empty()) out << "  skipped: " << e.skipped << "\n";
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
  auto store = store::Store::open(setup->config.database.string());
  if (!store) {
    std::cerr << store.error().to_string() << "\n";
    return kExitRuntime;
  }
  transport::Options options;
  options.cancel = &g_interrupted;
  auto transport = transport::Transport::create(options);
  if (!transport) {
    std::cerr << transport.error().to_string() << "\n";
    return kExitRuntime;
  }
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);

  runner::Runner runner(setup->config, setup->sets, **store, **transport, clock, &setup->rules);
  ProgressBar bar(isatty(STDERR_FILENO) == 1);
  auto summary = runner.run(run_at, [&](const runner::Progress& p) { bar.update(p); });
  bar.finish();
  if (!summary) {
    std::cerr << "run failed: " << summary.error().to_string() << "\n";
    return kExitRuntime;
  }
  print_summary(*summary, std::cout);
  if (g_interrupted.load()) {
    std::cerr << "interrupted: run " << summary->run_id << " is marked incomplete\n";
    return kExitRuntime;
  }
  if (summary->sent == 0) {
    std::cerr << "no request of run " << summary->run_id << " got an HTTP response\n";
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
