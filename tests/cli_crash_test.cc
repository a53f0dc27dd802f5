// Crash consistency of `driftwatch run --once`: the real binary, against driftwatch-sim,
// SIGKILLed at moments drawn over the whole life of a run (starting, storing, committing,
// finishing), each kill followed by a run that must recover. What the store promises
// (store.h, runner.h): a crash loses at most the uncommitted batch, never a committed sample
// and never half of one, and the next writing command marks the dead run incomplete.
//
// The kill moments come from a fixed seed, printed, so that a failure reproduces;
// DW_TEST_CRASH_SEED=N runs another sequence.
#include <cstdlib>
#include <random>

#include "cli_run_harness.h"

namespace cli_crash_test {

using namespace dw::test;

namespace {

const std::string kWithKey = "DW_TEST_SIM_KEY=sk-cli-crash-test-3e9d07b1c6";
constexpr unsigned kSeed = 1402;
constexpr int kKills = 12;
// On a slow or busy machine a round of kills may miss a moment it must reach (mid-run, after a
// commit): another round then goes over the same span, up to this many kills in all.
constexpr int kMaxKills = 36;

// A config in the scratch folder: one set, `samples` of each probe, one endpoint per kind
// (concurrency 8), the database `database` beside it.
fs::path write_config(const Scratch& scratch, const std::string& name, const Sim& sim,
                      const std::string& database, const fs::path& set, int samples,
                      const std::vector<std::string>& kinds) {
  std::ostringstream t;
  t << "[storage]\ndatabase = \"" << database << "\"\n\n[probes]\nsets = [" << set
    << "]\nsamples = " << samples << "\n\n[classifier]\nrules = "
    << fs::path(DW_SOURCE_DIR) / "config/rules" << "\n";
  for (const auto& kind : kinds) {
    t << "\n[[endpoint]]\nname = \"" << kind << "\"\nkind = \"" << kind << "\"\nbase_url = \""
      << sim.url() << (kind == "openai" ? "/v1" : "") << "\"\nmodel = \"" << kind
      << "-test\"\napi_key_env = \"DW_TEST_SIM_KEY\"\nconcurrency = 8\n";
  }
  return scratch.write(name, t.str());
}

// The rows of one statement, read through a read-only connection. A read-write one, as
// query() opens, would checkpoint the dead process's WAL into the database when it closes:
// the recovery under test would then be the test's, not driftwatch's.
std::vector<Row> inspect(const fs::path& db, const std::string& sql) {
  return query(db, sql, SQLITE_OPEN_READONLY);
}

std::string inspect_scalar(const fs::path& db, const std::string& sql) {
  auto rows = inspect(db, sql);
  REQUIRE(rows.size() == 1);
  REQUIRE(rows[0].size() == 1);
  return rows[0].begin()->second.value_or("NULL");
}

long count_of(const std::map<long, long>& samples, long run) {
  auto it = samples.find(run);
  return it == samples.end() ? 0 : it->second;
}

// What the database holds when no process has it open.
struct State {
  std::map<long, std::string> status;  // run id -> status
  std::map<long, long> samples;        // run id -> samples stored
  long total = 0;
};

// Checks what must hold after any crash and reads the runs. Returns nullopt when there is no
// database, or no schema, yet (a kill while the first run was creating them).
std::optional<State> check_consistent(const fs::path& db) {
  if (!fs::exists(db)) return std::nullopt;
  CHECK(inspect_scalar(db, "PRAGMA integrity_check") == "ok");
  if (inspect_scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'samples'") == "0")
    return std::nullopt;
  // Every reference holds (sample -> run, probe version, endpoint, texts; event -> run)...
  CHECK(inspect(db, "PRAGMA foreign_key_check").empty());
  // ...spelled out for the two a lost or half-written commit would break first.
  CHECK(inspect_scalar(db, "SELECT count(*) FROM samples s LEFT JOIN runs r ON r.id = s.run_id "
                           "LEFT JOIN probes p ON p.id = s.probe_id AND p.version = "
                           "s.probe_version WHERE r.id IS NULL OR p.id IS NULL") == "0");
  // Never half a sample: each stored one is classified, and each paced one is whole.
  CHECK(inspect_scalar(db, "SELECT count(*) FROM samples WHERE verdict IS NULL OR "
                           "classifier_version IS NULL") == "0");
  CHECK(inspect_scalar(db, "SELECT count(*) FROM samples s LEFT JOIN responses t ON t.hash = "
                           "s.response_hash WHERE s.probe_id LIKE 'pace-%' AND NOT ("
                           "t.hash IS NOT NULL AND s.http_status = 200 AND s.error IS NULL AND "
                           "s.verdict = 'answered' AND s.attempts = 1)") == "0");
  State state;
  for (auto& row : inspect(db, "SELECT id, status FROM runs ORDER BY id"))
    state.status[std::stol(*row["id"])] = *row["status"];
  for (auto& row : inspect(db, "SELECT run_id, count(*) AS n FROM samples GROUP BY run_id")) {
    long n = std::stol(*row["n"]);
    state.samples[std::stol(*row["run_id"])] = n;
    state.total += n;
  }
  return state;
}

}  // namespace

TEST_CASE("run --once SIGKILLed at random moments: no committed sample lost, the next run "
          "recovers") {
  unsigned seed = kSeed;
  if (const char* s = std::getenv("DW_TEST_CRASH_SEED"))
    seed = static_cast<unsigned>(std::stoul(s));
  MESSAGE("kill moments from seed " << seed << " (DW_TEST_CRASH_SEED=" << seed
                                    << " repeats them)");
  std::mt19937 rng(seed);

  Scratch scratch;
  Sim sim(scratch);
  // 12 probes answered after 150 ms, 5 samples each, two endpoints with 8 in flight: 120
  // samples in about a second, a batch of 64 committed when full (store.h: batch_size) and
  // the rest at the end.
  const std::vector<std::string> kinds{"openai", "anthropic"};
  const long planned = 12 * 5 * 2;
  auto killed = write_config(scratch, "killed.toml", sim, "dw.db", kData / "run-pace.toml", 5,
                             kinds);
  // The run after each kill: three quick samples.
  auto next = write_config(scratch, "next.toml", sim, "dw.db", kData / "run-answers.toml", 1,
                           {"openai"});

  // How long a whole run takes here (on a database of its own, so that the first kill may
  // land while dw.db is being created): kill moments are spread over that.
  auto calibrate = write_config(scratch, "calibrate.toml", sim, "calibrate.db",
                                kData / "run-pace.toml", 5, kinds);
  auto started = std::chrono::steady_clock::now();
  auto whole = driftwatch(scratch, calibrate, {"run", "--once"}, {kWithKey});
  auto span = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  {
    INFO(whole.out << whole.err);
    REQUIRE(whole.code == 0);
    REQUIRE(contains(whole.out, ": complete, " + std::to_string(planned) + " of " +
                                    std::to_string(planned) + " samples stored"));
  }
  MESSAGE("a whole run takes " << span.count() << " ms");

  const fs::path db = scratch.path("dw.db");
  State before;  // as the last check saw it; every run in it had ended
  int no_run = 0, mid_run = 0, past_commit = 0, finished = 0, exited = 0;
  int kills = 0;
  auto covered = [&] { return past_commit > 0 && mid_run > past_commit; };
  for (int kill_no = 0; kill_no < kMaxKills && (kill_no < kKills || !covered()); ++kill_no) {
    ++kills;
    // Stratified: kill k lands in the k-th twelfth of a whole run, so the kills cover starting
    // up, storing, the commits and the finish (the last one may come after the exit).
    std::uniform_real_distribution<double> within(0, 1);
    auto at = std::chrono::milliseconds(
        static_cast<long>((kill_no % kKills + within(rng)) / kKills * span.count()));
    CAPTURE(kill_no);
    CAPTURE(at.count());
    auto o = driftwatch(scratch, killed, {"run", "--once"}, {kWithKey}, [&](pid_t pid) {
      std::this_thread::sleep_for(at);
      kill(pid, SIGKILL);  // harmless on a process that has ended: it is not reaped yet
    });
    INFO(o.out << o.err);
    REQUIRE((o.code == 128 + SIGKILL || o.code == 0));
    if (o.code == 0) ++exited;

    // The killed process's run, if it got as far as writing one.
    long dead_run = 0;
    auto after = check_consistent(db);
    if (!after) {
      CHECK(before.status.empty());  // only the first process can die before the schema
      ++no_run;
    } else {
      // Nothing committed is lost: every run that had ended keeps its status and samples.
      CHECK(after->total >= before.total);
      for (const auto& [run, n] : before.samples) CHECK(count_of(after->samples, run) == n);
      for (const auto& [run, status] : before.status) CHECK(after->status.at(run) == status);
      CHECK(after->status.size() <= before.status.size() + 1);
      if (after->status.size() == before.status.size()) {
        ++no_run;
      } else {
        dead_run = after->status.rbegin()->first;
        // At most the killed process's own run is left 'running'.
        for (const auto& [run, status] : after->status) {
          CAPTURE(run);
          if (run != dead_run) CHECK(status != "running");
        }
      }
    }
    const bool left_running = dead_run != 0 && after->status[dead_run] == "running";
    const long dead_samples = dead_run != 0 ? count_of(after->samples, dead_run) : 0;
    if (left_running) {
      CHECK(o.code == 128 + SIGKILL);
      ++mid_run;
      if (dead_samples > 0) ++past_commit;
    } else if (dead_run != 0) {
      CHECK(after->status[dead_run] == "complete");  // killed while finishing, or not at all
      CHECK(dead_samples == planned);
      ++finished;
    }

    // The next writing command marks the dead run incomplete, keeps its samples and runs.
    auto n = driftwatch(scratch, next, {"run", "--once"}, {kWithKey});
    INFO(n.out << n.err);
    CHECK(n.code == 0);
    CHECK(contains(n.out, ": complete, 3 of 3 samples stored"));
    if (left_running) {
      CHECK(contains(n.err, "note: the last run, " + std::to_string(dead_run) + " at "));
      CHECK(contains(n.err, ", did not complete and is marked incomplete (" +
                                std::to_string(dead_samples) + " samples stored)"));
    } else {
      CHECK_FALSE(contains(n.err, "note: the last run"));
    }
    auto recovered = check_consistent(db);
    REQUIRE(recovered);
    CHECK(recovered->total == (after ? after->total : 0) + 3);
    if (after)
      for (const auto& [run, count] : after->samples)
        CHECK(count_of(recovered->samples, run) == count);
    if (left_running) {
      CHECK(recovered->status[dead_run] == "incomplete");
      CHECK(inspect_scalar(db, "SELECT finished_at FROM runs WHERE id = " +
                                   std::to_string(dead_run)) == "NULL");
    }
    CHECK(recovered->status.rbegin()->second == "complete");  // the run just made
    for (const auto& [run, status] : recovered->status) {
      CAPTURE(run);
      CHECK(status != "running");
    }
    before = std::move(*recovered);
  }
  MESSAGE(kills << " kills: " << no_run << " before a run row was written, " << mid_run
                 << " mid-run (" << past_commit << " of them after a commit of samples), "
                 << finished << " once the run was complete (" << exited
                 << " after the process had exited)");
  // The kills reached both sides of the first commit of samples.
  CHECK(past_commit > 0);
  CHECK(mid_run > past_commit);
}

}  // namespace cli_crash_test
