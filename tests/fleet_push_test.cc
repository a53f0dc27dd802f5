// The fleet's central schema and push (monitor/fleet) against a real PostgreSQL 15 cluster
// (tests/pg_cluster.h): what `fleet init` creates and refuses, that central rows equal local
// rows, that pushing again adds nothing, that a run is marked pushed only after the commit,
// what a monitor's role may do, identity from the server, and one-line errors without the
// password.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/hash.h"
#include "common/time.h"
#include "fleet/central_schema.h"
#include "fleet/pg.h"
#include "fleet/push.h"
#include "pg_cluster.h"
#include "scratch.h"
#include "store/store.h"

namespace fleet_push_test {

using dw::Time;
using dw::fleet::Pg;
using dw::test::contains;
using dw::test::PgCluster;
using namespace dw::store;

namespace {

Time at(const char* text) { return *dw::parse_time(text); }

std::unique_ptr<Pg> connect(const std::string& conninfo, const std::string& password = "") {
  auto pg = Pg::connect(conninfo, password);
  REQUIRE_MESSAGE(pg.ok(), (pg.ok() ? "" : pg.error().to_string()));
  return std::move(pg).value();
}

// Every row of query, its columns joined by '|' (NULL as "-").
std::vector<std::string> rows(Pg& pg, const std::string& query) {
  auto r = pg.exec(query);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().to_string()));
  std::vector<std::string> out;
  for (const auto& row : r->rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) line += (i ? "|" : "") + row[i].value_or("-");
    out.push_back(line);
  }
  return out;
}

std::string one(Pg& pg, const std::string& query) {
  auto all = rows(pg, query);
  REQUIRE(all.size() == 1);
  return all[0];
}

// A cluster with the database "fleet" at central schema version 2 and the monitor role
// pi_hk (password pw-hk) in driftwatch_monitor.
struct Central {
  PgCluster cluster;
  std::unique_ptr<Pg> admin;
  Central() {
    cluster.create_database("fleet");
    admin = connect(cluster.conninfo("fleet"));
    auto st = dw::fleet::init_central(*admin);
    REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().to_string()));
    cluster.create_login("pi_hk", "pw-hk", "driftwatch_monitor");
  }
  std::unique_ptr<Pg> monitor() { return connect(cluster.conninfo("fleet", "pi_hk"), "pw-hk"); }
  std::string count(const std::string& table) {
    return one(*admin, "SELECT count(*) FROM " + table);
  }
};

dw::probes::Probe probe(const std::string& id, bool control) {
  dw::probes::Probe p;
  p.id = id;
  p.set = "test-set";
  p.category = control ? "control" : "tiananmen";
  p.lang = control ? "en" : "zh-Hans";
  p.prompt = "prompt of " + id;
  p.control = control;
  p.version = "v-" + id;
  return p;
}

dw::providers::Sample answer(const std::string& text, int status = 200) {
  dw::providers::Sample s;
  s.text = text;
  s.http_status = status;
  s.finish_reason = "stop";
  s.model = "m-0613";
  s.attempts = 1;
  s.latency = std::chrono::milliseconds(120);
  return s;
}

// A monitor's SQLite store: runs 1 and 2 finished (samples with repeated, Chinese, NUL-holding
// and missing texts; an event opened in run 1, an endpoint-wide one opened in 1 and resolved
// in 2), run 3 still running.
struct Local {
  dw::test::Scratch scratch;
  std::unique_ptr<Store> store;
  int64_t run1 = 0, run2 = 0, run3 = 0;
  static inline const std::string kNulText = std::string("\xe4\xb8\xad\xe6\x96\x87\0x", 8);

  Local() {
    auto s = Store::open(scratch.path("monitor.db").string());
    REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().to_string()));
    store = std::move(s).value();
    REQUIRE(store->upsert_probes({probe("a", false), probe("b", true)}));
    REQUIRE(store->upsert_endpoint("e1", "openai", "http://127.0.0.1:1/v1", "m1"));
    REQUIRE(store->upsert_endpoint("e2", "ollama", "http://127.0.0.1:2", "m2"));
    run1 = add_run(at("2026-01-15T06:00:00Z"));
    add(run1, "a", "e1", 1, answer("Troops and tanks cleared the square."), "answered", 1.0);
    add(run1, "a", "e1", 2, answer("Troops and tanks cleared the square."), "answered", 0.5);
    add(run1, "b", "e1", 1, answer("四"), "answered", std::nullopt);
    dw::providers::Sample failed;
    failed.error = "timeout after 60 s";
    failed.attempts = 3;
    add(run1, "a", "e2", 1, failed, "error", std::nullopt);
    add(run1, "b", "e2", 1, answer(kNulText), "", std::nullopt);  // not classified
    REQUIRE(store->finish_run(run1, at("2026-01-15T06:01:00Z"), RunStatus::complete));
    run2 = add_run(at("2026-01-15T12:00:00Z"));
    add(run2, "a", "e1", 1, answer("I cannot discuss that."), "refused", 0.0);
    REQUIRE(store->finish_run(run2, at("2026-01-15T12:01:00Z"), RunStatus::incomplete));
    Event shift;
    shift.type = "verdict_shift";
    shift.endpoint = "e1";
    shift.probe_id = "a";
    shift.probe_version = "v-a";
    shift.scope = "targeted";
    shift.detected_at = at("2026-01-15T06:01:00Z");
    shift.detected_run_id = run1;
    shift.before_json = R"({"answered":30})";
    shift.after_json = R"({"refused":6})";
    shift.evidence_json = R"({"q":0.0003,"note":"\u0000 in JSON"})";
    REQUIRE(store->insert_event(shift));
    Event down;  // endpoint-wide: no probe
    down.type = "endpoint_health";
    down.endpoint = "e2";
    down.status = EventStatus::resolved;
    down.detected_at = at("2026-01-15T06:01:00Z");
    down.detected_run_id = run1;
    down.resolved_at = at("2026-01-15T12:01:00Z");
    down.resolved_run_id = run2;
    down.evidence_json = R"({"resolution":"returned"})";
    REQUIRE(store->insert_event(down));
    // A complete run waits for its detection, which stores the run's summary with its events.
    REQUIRE(store->flush());
    CHECK(backlog() == 1);  // the incomplete run 2 only
    REQUIRE(store->put_run_cells(run1, {{run1, {}, "", 1, "", {}}}));
    run3 = *store->begin_run(at("2026-01-15T18:00:00Z"), at("2026-01-15T18:00:00Z"));
    REQUIRE(store->flush());
  }

  int64_t add_run(Time run_at) {
    auto id = store->begin_run(run_at, run_at);
    REQUIRE(id);
    return *id;
  }

  void add(int64_t run, const std::string& p, const std::string& e, int seq,
           const dw::providers::Sample& s, const std::string& verdict,
           std::optional<double> coverage) {
    SampleKey k{run, p, "v-" + p, e, seq, "requested-" + e, at("2026-01-15T06:00:30Z")};
    auto id = store->add_sample(k, s);
    REQUIRE_MESSAGE(id.ok(), (id.ok() ? "" : id.error().to_string()));
    if (!verdict.empty()) {
      REQUIRE(store->set_classification(*id, {verdict, "[]", p == "b", coverage, "rules-7"}));
    }
  }

  int64_t backlog() {
    auto st = store->push_state();
    REQUIRE(st);
    return st->backlog;
  }

  // The local samples as the central query below spells them.
  // The central hash of a text: its own, but the repaired text's for the one with a NUL.
  static std::string central_hash(const std::string& local) {
    return local == dw::sha256_hex(kNulText) ? dw::sha256_hex(kRepairedText) : local;
  }
  static inline const std::string kRepairedText = "\xe4\xb8\xad\xe6\x96\x87\xef\xbf\xbdx";

  std::vector<std::string> samples() {
    std::vector<std::string> out;
    auto st = store->for_each_sample({}, [&](const SampleRow& r) {
      const auto& c = r.classification;
      auto text = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
      out.push_back(std::to_string(r.run_id) + "|" + r.key.endpoint + "|" + r.key.probe_id +
                    "|" + r.key.probe_version + "|" + std::to_string(r.key.seq) + "|" +
                    text(c ? c->verdict : "") + "|" + text(r.rules_verdict) + "|" +
                    text(central_hash(r.response_hash)) + "|" +
                    (r.sample.http_status ? std::to_string(r.sample.http_status) : "-") + "|" +
                    text(r.sample.model) + "|" + text(r.sample.error) + "|" +
                    std::to_string(r.sample.latency.count()) + "|" +
                    (c && c->expect_coverage ? std::to_string(*c->expect_coverage) : "-"));
      return true;
    });
    REQUIRE(st);
    std::sort(out.begin(), out.end());
    return out;
  }
};

const char* kCentralSamples =
    "SELECT r.local_id, s.endpoint, s.probe_id, s.probe_version, s.seq, s.verdict, "
    "s.rules_verdict, s.response_hash, s.http_status, s.model, s.error, s.latency_ms, "
    "to_char(s.expect_coverage, 'FM0.000000') FROM samples s JOIN runs r ON r.uuid = s.run_uuid";

dw::fleet::Vantage kHongKong{"hk-pi", "HK", "AS4760"};

}  // namespace

TEST_CASE("fleet init creates version 2 on an empty database; again it changes nothing") {
  PgCluster cluster;
  cluster.create_database("fleet");
  auto pg = connect(cluster.conninfo("fleet"));
  auto before = dw::fleet::central_version(*pg);
  REQUIRE(before);
  CHECK(*before == 0);
  CHECK_FALSE(dw::fleet::check_central(*pg));
  REQUIRE(dw::fleet::init_central(*pg));
  CHECK(*dw::fleet::central_version(*pg) == 2);
  CHECK(dw::fleet::check_central(*pg));
  const char* tables =
      "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
      "WHERE schemaname = 'public'";
  CHECK(one(*pg, tables) ==
        "driftwatch_fleet,event_resolutions,events,probes,runs,samples,texts");
  CHECK(one(*pg, "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE "
                 "rolname LIKE 'driftwatch_%' AND NOT rolcanlogin") ==
        "driftwatch_monitor,driftwatch_reader");
  REQUIRE(dw::fleet::init_central(*pg));
  CHECK(one(*pg, "SELECT count(*), min(version) FROM driftwatch_fleet") == "1|2");
  CHECK(one(*pg, tables) ==
        "driftwatch_fleet,event_resolutions,events,probes,runs,samples,texts");
}

TEST_CASE("a newer central schema and another program's tables are refused with one line") {
  Central c;
  Local local;
  c.cluster.sql("fleet", "UPDATE driftwatch_fleet SET version = 3");
  const std::string says = "central schema is version 3; this driftwatch knows 2: upgrade "
                           "driftwatch";
  for (auto st : {dw::fleet::init_central(*c.admin), dw::fleet::check_central(*c.admin)}) {
    REQUIRE_FALSE(st);
    CHECK(contains(st.error().to_string(), says));
    CHECK(st.error().to_string().starts_with("fleet: "));
    CHECK(st.error().to_string().find('\n') == std::string::npos);
  }
  auto pushed = dw::fleet::push_backlog(*local.store, *c.monitor(), kHongKong);
  REQUIRE(pushed.failure);
  CHECK(contains(pushed.failure->to_string(), says));
  CHECK(pushed.pushed.empty());
  CHECK(local.backlog() == 2);
  CHECK(c.count("runs") == "0");

  c.cluster.create_database("other");
  c.cluster.sql("other", "CREATE TABLE runs (id integer); CREATE TABLE samples (x text)");
  auto other = connect(c.cluster.conninfo("other"));
  auto init = dw::fleet::init_central(*other);
  REQUIRE_FALSE(init);
  INFO(init.error().to_string());
  CHECK(contains(init.error().to_string(), "tables named runs, samples that are not "
                                           "driftwatch's"));
  CHECK(one(*other, "SELECT to_regclass('driftwatch_fleet') IS NULL") == "t");
}

// Two stock replies found on e1 in run 1 (canned_template events, told apart by their
// template's hash), the first resolved as the new normal in run 2.
void add_stock_replies(Local& local) {
  for (const char* hash : {"t1", "t2"}) {
    Event e;
    e.type = "canned_template";
    e.endpoint = "e1";
    e.scope = "targeted";
    e.detected_at = at("2026-01-15T06:01:00Z");
    e.detected_run_id = local.run1;
    nlohmann::json evidence = {{"template_hash", hash}, {"text", std::string("reply ") + hash}};
    if (std::string(hash) == "t1") {
      e.status = EventStatus::resolved;
      e.resolved_at = at("2026-01-15T12:01:00Z");
      e.resolved_run_id = local.run2;
      evidence["resolution"] = "new_normal";
    }
    e.evidence_json = evidence.dump();
    REQUIRE(local.store->insert_event(e));
  }
}

TEST_CASE("every stock reply a run finds on an endpoint reaches the central database") {
  Central c;
  Local local;
  add_stock_replies(local);
  auto pushed = dw::fleet::push_backlog(*local.store, *c.monitor(), kHongKong);
  REQUIRE_MESSAGE(!pushed.failure, (pushed.failure ? pushed.failure->to_string() : ""));
  // Version 1's key (run, type, endpoint, probe) kept the first and dropped the other.
  CHECK(rows(*c.admin, "SELECT subject, evidence->>'text' FROM events "
                       "WHERE type = 'canned_template' ORDER BY subject") ==
        std::vector<std::string>{"t1|reply t1", "t2|reply t2"});
  CHECK(rows(*c.admin, "SELECT subject, resolution FROM event_resolutions "
                       "WHERE type = 'canned_template'") ==
        std::vector<std::string>{"t1|new_normal"});
  CHECK(one(*c.admin, "SELECT count(*) FROM events WHERE subject = ''") == "2");
}

TEST_CASE("fleet init brings a version 1 schema up to date, with the subjects of its events") {
  Central c;
  Local local;
  add_stock_replies(local);
  // Version 1, as an older driftwatch made it and pushed into it: no subject in the keys.
  auto pushed = dw::fleet::push_backlog(*local.store, *c.monitor(), kHongKong);
  REQUIRE_FALSE(pushed.failure);
  c.cluster.sql("fleet",
                "DELETE FROM events WHERE subject = 't2'; "
                "ALTER TABLE events DROP COLUMN subject; "
                "ALTER TABLE events ADD PRIMARY KEY (run_uuid, type, endpoint, probe_id, "
                "probe_version); "
                "ALTER TABLE event_resolutions DROP COLUMN subject; "
                "ALTER TABLE event_resolutions ADD PRIMARY KEY (opened_run_uuid, type, endpoint, "
                "probe_id, probe_version); "
                "UPDATE driftwatch_fleet SET version = 1");
  auto refused = dw::fleet::check_central(*c.admin);
  REQUIRE_FALSE(refused);
  CHECK(contains(refused.error().to_string(),
                 "central schema is version 1; this driftwatch writes version 2: run driftwatch "
                 "fleet init to upgrade it"));
  REQUIRE(dw::fleet::init_central(*c.admin));
  CHECK(*dw::fleet::central_version(*c.admin) == 2);
  CHECK(rows(*c.admin, "SELECT type, subject FROM events ORDER BY type") ==
        std::vector<std::string>{"canned_template|t1", "endpoint_health|",
                                 "verdict_shift|"});
  CHECK(rows(*c.admin, "SELECT type, subject FROM event_resolutions ORDER BY type") ==
        std::vector<std::string>{"canned_template|t1", "endpoint_health|"});
  // What version 1 dropped arrives with the next push of its run.
  c.cluster.sql("fleet", "DELETE FROM samples; DELETE FROM event_resolutions; "
                         "DELETE FROM events; DELETE FROM runs");
  REQUIRE(local.store);
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(local.scratch.path("monitor.db").c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "UPDATE run_pushes SET pushed_at = NULL", nullptr, nullptr,
                         nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto again = dw::fleet::push_backlog(*local.store, *c.monitor(), kHongKong);
  REQUIRE_FALSE(again.failure);
  CHECK(one(*c.admin, "SELECT count(*) FROM events WHERE type = 'canned_template'") == "2");
}

TEST_CASE("pushed runs equal the local ones, and pushing again adds nothing") {
  Central c;
  Local local;
  CHECK(local.backlog() == 2);  // run 3 is still running
  auto monitor = c.monitor();
  std::vector<int64_t> seen;
  auto first = dw::fleet::push_backlog(*local.store, *monitor, kHongKong,
                                       [&](const auto& r) { seen.push_back(r.run_id); });
  REQUIRE_MESSAGE(!first.failure, (first.failure ? first.failure->to_string() : ""));
  CHECK(seen == std::vector<int64_t>{local.run1, local.run2});
  REQUIRE(first.pushed.size() == 2);
  CHECK(first.left == 0);
  CHECK(first.pushed[0].samples == 5);
  CHECK(first.pushed[0].texts == 3);  // the repeated answer once
  CHECK(first.pushed[0].events == 2);
  CHECK(first.pushed[1].samples == 1);
  CHECK(first.pushed[1].events == 1);  // the resolution
  CHECK_FALSE(first.pushed[0].already_there);
  CHECK(local.backlog() == 0);

  // Runs: the local ids and times, the declared vantage, the server's identity.
  const std::string uuid1 = *local.store->run_uuid(local.run1);
  const std::string uuid2 = *local.store->run_uuid(local.run2);
  CHECK(first.pushed[0].uuid == uuid1);
  CHECK(rows(*c.admin,
             "SELECT uuid, local_id, to_char(run_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
             "to_char(finished_at, 'HH24:MI'), status, samples, backlog, vantage, country, asn, "
             "monitor, clock_ahead FROM runs ORDER BY local_id") ==
        std::vector<std::string>{
            uuid1 + "|" + std::to_string(local.run1) +
                "|2026-01-15T06:00:00Z|06:01|complete|5|1|hk-pi|HK|AS4760|pi_hk|f",
            uuid2 + "|" + std::to_string(local.run2) +
                "|2026-01-15T12:00:00Z|12:01|incomplete|1|0|hk-pi|HK|AS4760|pi_hk|f"});
  // Samples: field for field, verdicts, hashes and counts.
  auto central = rows(*c.admin, kCentralSamples);
  std::sort(central.begin(), central.end());
  CHECK(central == local.samples());
  CHECK(rows(*c.admin, "SELECT verdict, count(*) FROM samples GROUP BY 1 ORDER BY 1") ==
        std::vector<std::string>{"answered|3", "error|1", "refused|1", "-|1"});
  // Texts once each, by their hash; the NUL becomes U+FFFD, under the repaired text's hash (the
  // only text whose central hash is not the local one).
  CHECK(c.count("texts") == "4");
  auto text = local.store->response_text(dw::sha256_hex("四"));
  CHECK(one(*c.admin, "SELECT body FROM texts WHERE hash = '" + dw::sha256_hex("四") + "'") ==
        **text);
  CHECK(one(*c.admin, "SELECT body FROM texts WHERE hash = '" +
                          dw::sha256_hex(Local::kRepairedText) + "'") == Local::kRepairedText);
  CHECK(one(*c.admin, "SELECT count(*) FROM texts WHERE hash = '" +
                          dw::sha256_hex(Local::kNulText) + "'") == "0");
  CHECK(c.count("probes") == "2");
  CHECK(one(*c.admin, "SELECT lang, control FROM probes WHERE probe_id = 'a'") == "zh-Hans|f");
  // Events as opened, endpoint-wide keys as "", and the resolution as a row of its own.
  CHECK(rows(*c.admin, "SELECT run_uuid, type, endpoint, probe_id, scope, after->>'refused' "
                       "FROM events ORDER BY type") ==
        std::vector<std::string>{uuid1 + "|endpoint_health|e2|||-",
                                 uuid1 + "|verdict_shift|e1|a|targeted|6"});
  CHECK(one(*c.admin, "SELECT run_uuid, opened_run_uuid, type, endpoint, probe_id, "
                      "to_char(resolved_at, 'HH24:MI'), resolution FROM event_resolutions") ==
        uuid2 + "|" + uuid1 + "|endpoint_health|e2||12:01|returned");

  // Again: nothing to push, and nothing added.
  const std::string totals = "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM "
                             "samples), (SELECT count(*) FROM texts), (SELECT count(*) FROM "
                             "events), (SELECT count(*) FROM event_resolutions)";
  const std::string before = one(*c.admin, totals);
  CHECK(before == "2|6|4|2|1");
  auto second = dw::fleet::push_backlog(*local.store, *monitor, kHongKong);
  CHECK_FALSE(second.failure);
  CHECK(second.pushed.empty());
  CHECK(second.left == 0);
  // A restarted monitor that lost its marks (it died between COMMIT and marking) pushes the
  // same runs again: they are found central, marked, and nothing is added.
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(local.scratch.path("monitor.db").c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "UPDATE run_pushes SET pushed_at = NULL", nullptr, nullptr,
                         nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  CHECK(local.backlog() == 2);
  auto again = dw::fleet::push_backlog(*local.store, *monitor, kHongKong);
  CHECK_FALSE(again.failure);
  REQUIRE(again.pushed.size() == 2);
  CHECK(again.pushed[0].already_there);
  CHECK(again.pushed[0].samples == 0);
  CHECK(again.pushed[0].uuid == uuid1);
  CHECK(local.backlog() == 0);
  auto one_more = dw::fleet::push_run(*local.store, *monitor, kHongKong, local.run2);
  REQUIRE(one_more);
  CHECK(one_more->already_there);
  CHECK(one(*c.admin, totals) == before);
  // The running run is refused.
  auto running = dw::fleet::push_run(*local.store, *monitor, kHongKong, local.run3);
  REQUIRE_FALSE(running);
  CHECK(contains(running.error().to_string(), "still running"));
}

TEST_CASE("a run is marked pushed only after the commit: a failed push leaves nothing") {
  Central c;
  Local local;
  auto monitor = c.monitor();
  auto check_nothing = [&](const dw::fleet::BacklogResult& r, const std::string& says) {
    REQUIRE(r.failure);
    INFO(r.failure->to_string());
    CHECK(contains(r.failure->to_string(), says));
    CHECK(r.failure->to_string().find('\n') == std::string::npos);
    CHECK(r.pushed.empty());
    CHECK(r.left == 2);
    CHECK(local.backlog() == 2);
    CHECK_FALSE(local.store->push_state()->last_pushed);
    for (const char* table : {"runs", "samples", "texts", "probes", "events"}) {
      CAPTURE(table);
      CHECK(c.count(table) == "0");
    }
  };
  // Mid-way: the run, its probes, texts and samples are in; its events are refused.
  c.cluster.sql("fleet", "REVOKE INSERT ON events FROM driftwatch_monitor");
  check_nothing(dw::fleet::push_backlog(*local.store, *monitor, kHongKong),
                "permission denied for table events");
  // A role that is not a monitor.
  c.cluster.create_login("stranger", "pw-stranger");
  auto stranger = connect(c.cluster.conninfo("fleet", "stranger"), "pw-stranger");
  check_nothing(dw::fleet::push_backlog(*local.store, *stranger, kHongKong),
                "permission denied");
  // The server goes away between two pushes.
  c.cluster.sql("fleet", "GRANT INSERT ON events TO driftwatch_monitor");
  c.cluster.stop();
  auto lost = dw::fleet::push_backlog(*local.store, *monitor, kHongKong);
  REQUIRE(lost.failure);
  CHECK(lost.failure->to_string().find('\n') == std::string::npos);
  CHECK(local.backlog() == 2);
  c.cluster.start();
  auto back = dw::fleet::push_backlog(*local.store, *c.monitor(), kHongKong);
  CHECK_MESSAGE(!back.failure, (back.failure ? back.failure->to_string() : ""));
  CHECK(back.pushed.size() == 2);
  CHECK(local.backlog() == 0);
  CHECK(local.store->push_state()->last_pushed);
}

TEST_CASE("a monitor may insert only, and the server, not the payload, says who it is") {
  Central c;
  Local local;
  auto monitor = c.monitor();
  REQUIRE_FALSE(dw::fleet::push_backlog(*local.store, *monitor, kHongKong).failure);
  for (const char* sql : {"UPDATE runs SET vantage = 'elsewhere'", "DELETE FROM samples",
                          "DELETE FROM event_resolutions", "UPDATE texts SET body = 'x'",
                          "SELECT count(*) FROM runs", "TRUNCATE events",
                          "UPDATE driftwatch_fleet SET version = 9"}) {
    CAPTURE(sql);
    auto r = monitor->exec(sql);
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().to_string(), "permission denied"));
  }
  CHECK(one(*monitor, "SELECT version FROM driftwatch_fleet") == "2");
  // A text is filed under its own hash only: no other body under a hash others will send, not
  // even one that looks repaired.
  for (const std::string body : {"forged", "forged \xef\xbf\xbd"}) {
    auto forged = monitor->run("INSERT INTO texts (hash, body) VALUES ($1, $2)",
                               {dw::sha256_hex("an answer someone else will get"), body});
    REQUIRE_FALSE(forged);
    CHECK(contains(forged.error().to_string(), "violates check constraint"));
  }
  REQUIRE(monitor->run("INSERT INTO texts (hash, body) VALUES ($1, $2)",
                       {dw::sha256_hex("own"), "own"}));
  // A payload that lies about who sent it, from where and when.
  REQUIRE(monitor->run(
      "INSERT INTO runs (uuid, vantage, monitor, client_addr, received_at, clock_ahead, "
      "local_id, run_at, started_at, status, samples) VALUES ($1::uuid, 'liar', 'pi_other', "
      "'10.0.0.1', '2000-01-01T00:00:00Z', false, 1, now() + interval '3 hours', now(), "
      "'complete', 0)",
      {"00000000-0000-4000-8000-000000000001"}));
  CHECK(one(*c.admin, "SELECT monitor, client_addr, received_at > now() - interval '1 hour', "
                      "clock_ahead FROM runs WHERE vantage = 'liar'") == "pi_hk|-|t|t");
  CHECK(one(*c.admin, "SELECT string_agg(DISTINCT monitor, ',') FROM runs") == "pi_hk");
}

TEST_CASE("a run whose clock is two hours ahead of the server's is kept, and flagged") {
  Central c;
  Local local;
  auto monitor = c.monitor();
  REQUIRE_FALSE(dw::fleet::push_backlog(*local.store, *monitor, kHongKong).failure);
  Time ahead = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) +
               std::chrono::hours(2);
  auto run = local.store->begin_run(ahead, ahead);
  REQUIRE(run);
  REQUIRE(local.store->finish_run(*run, ahead + std::chrono::minutes(1), RunStatus::complete));
  auto pushed = dw::fleet::push_run(*local.store, *monitor, kHongKong, *run);
  REQUIRE_MESSAGE(pushed.ok(), (pushed.ok() ? "" : pushed.error().to_string()));
  CHECK(rows(*c.admin, "SELECT local_id, clock_ahead FROM runs ORDER BY local_id") ==
        std::vector<std::string>{std::to_string(local.run1) + "|f",
                                 std::to_string(local.run2) + "|f",
                                 std::to_string(*run) + "|t"});
}

TEST_CASE("a refused login or a bad connection string is one line without the password") {
  Central c;
  const std::string base = c.cluster.conninfo("fleet", "pi_hk");
  struct Case {
    const char* name;
    std::string conninfo, password, secret, says;
  };
  for (const Case& k : {
           Case{"wrong password", base, "wrong-secret-123", "wrong-secret-123",
                "password authentication failed for user \"pi_hk\""},
           Case{"in the string", base + " password=wrong-secret-456", "", "wrong-secret-456",
                "password authentication failed"},
           Case{"in a URI", "postgresql://pi_hk:wrong-secret-789@/fleet?host=" +
                                c.cluster.dir().string(),
                "", "wrong-secret-789", "password authentication failed"},
           Case{"malformed", base + " password=oops s3cr3t-tail", "", "s3cr3t-tail",
                "malformed connection string"},
           Case{"no such option", base + " passwort=s3cr3t-typo", "", "s3cr3t-typo",
                "invalid connection option"},
       }) {
    CAPTURE(k.name);
    auto pg = Pg::connect(k.conninfo, k.password);
    REQUIRE_FALSE(pg);
    const std::string line = pg.error().to_string();
    INFO(line);
    CHECK(line.starts_with("fleet: "));
    CHECK(contains(line, k.says));
    CHECK_FALSE(contains(line, k.secret));
    CHECK(line.find('\n') == std::string::npos);
  }
  // The right password, and what describe() says.
  auto pg = connect(base, "pw-hk");
  CHECK(pg->describe() == c.cluster.dir().string() + ":5432/fleet as pi_hk");
  auto bad = pg->exec("SELECT * FROM no_such_table");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().to_string() == "fleet: " + pg->describe() +
                                       ": relation \"no_such_table\" does not exist");
}

TEST_CASE("the local bookkeeping: stable random UUIDs, unpushed runs oldest first") {
  Local local;
  Store& s = *local.store;
  auto uuid = s.run_uuid(local.run2);
  REQUIRE(uuid);
  const std::string& u = *uuid;
  REQUIRE(u.size() == 36);
  for (size_t i = 0; i < u.size(); ++i) {
    CAPTURE(i);
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      CHECK(u[i] == '-');
    } else {
      CHECK(std::string_view("0123456789abcdef").find(u[i]) != std::string_view::npos);
    }
  }
  CHECK(u[14] == '4');                                          // version 4: random
  CHECK(std::string_view("89ab").find(u[19]) != std::string_view::npos);  // RFC 4122 variant
  CHECK(*s.run_uuid(local.run2) == u);
  CHECK(*s.run_uuid(local.run1) != u);
  auto none = s.run_uuid(999);
  REQUIRE_FALSE(none);
  CHECK(contains(none.error().to_string(), "no run 999"));

  // A backfilled run (earlier run_at, later id) comes first; the running run never.
  auto backfill = s.begin_run(at("2026-01-01T00:00:00Z"), at("2026-01-20T00:00:00Z"));
  REQUIRE(backfill);
  REQUIRE(s.finish_run(*backfill, at("2026-01-20T00:01:00Z"), RunStatus::complete));
  auto unpushed = [&] {
    std::vector<int64_t> ids;
    REQUIRE(s.for_each_unpushed([&](const RunInfo& r) {
      ids.push_back(r.id);
      return true;
    }));
    return ids;
  };
  // Older than a run detection decided (run 1), it counts as decided itself.
  CHECK(unpushed() == std::vector<int64_t>{*backfill, local.run1, local.run2});
  CHECK(local.backlog() == 3);
  // The newest complete run waits until detection has decided it (stored its summary).
  auto newest = s.begin_run(at("2026-01-16T00:00:00Z"), at("2026-01-16T00:00:00Z"));
  REQUIRE(newest);
  REQUIRE(s.finish_run(*newest, at("2026-01-16T00:01:00Z"), RunStatus::complete));
  CHECK(unpushed() == std::vector<int64_t>{*backfill, local.run1, local.run2});
  REQUIRE(s.put_run_cells(*newest, {{*newest, {}, "", 1, "", {}}}));
  REQUIRE(s.flush());
  CHECK(unpushed() == std::vector<int64_t>{*backfill, local.run1, local.run2, *newest});
  CHECK_FALSE(s.push_state()->last_pushed);
  REQUIRE(s.mark_pushed(*newest, at("2026-01-20T00:00:00Z")));
  REQUIRE(s.mark_pushed(local.run1, at("2026-01-21T00:00:00Z")));
  REQUIRE(s.mark_pushed(*backfill, at("2026-01-21T00:05:00Z")));
  CHECK(unpushed() == std::vector<int64_t>{local.run2});
  CHECK(s.push_state()->backlog == 1);
  CHECK(s.push_state()->last_pushed == at("2026-01-21T00:05:00Z"));
  CHECK(!s.mark_pushed(999, at("2026-01-21T00:00:00Z")));

  auto running = s.find_run(local.run3);
  REQUIRE(running);
  REQUIRE(running->has_value());
  CHECK((*running)->status == RunStatus::running);
  CHECK((*running)->run_at == at("2026-01-15T18:00:00Z"));
  CHECK_FALSE(s.find_run(999)->has_value());

  // Every run got its UUID when it began, the running one too.
  auto early = s.run_uuid(local.run3);
  REQUIRE(early);
  CHECK(early->size() == 36);
  // Read-only: a UUID already made reads; making one (for a run from before schema 8, which
  // has none) is refused.
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(local.scratch.path("monitor.db").c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, ("DELETE FROM run_pushes WHERE run_id = " +
                              std::to_string(local.run3)).c_str(),
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto reader = Store::open_readonly(local.scratch.path("monitor.db").string());
  REQUIRE(reader);
  CHECK(*(*reader)->run_uuid(local.run2) == u);
  auto refused = (*reader)->run_uuid(local.run3);
  REQUIRE_FALSE(refused);
  CHECK(contains(refused.error().to_string(), "read-only"));
}

TEST_CASE("array_literal quotes every item") {
  using dw::fleet::array_literal;
  CHECK(array_literal({}) == "{}");
  CHECK(array_literal({"a", std::nullopt, "", "NULL", "b\"c\\d", "{x,y}"}) ==
        R"({"a",NULL,"","NULL","b\"c\\d","{x,y}"})");
}

}  // namespace fleet_push_test
