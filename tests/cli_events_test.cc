// Runs the built driftwatch binary: `events` over a database holding known events, as text and
// as JSON Lines, filtered by --open and --since, or grouped with --incidents; bad arguments are
// exit 1.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "child.h"
#include "scratch.h"
#include "store/store.h"

namespace cli_events_test {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using dw::test::Outcome;

// stdout as JSON Lines.
std::vector<json> json_lines(const Outcome& o) {
  std::vector<json> v;
  std::istringstream in(o.out);
  for (std::string l; std::getline(in, l);) v.push_back(json::parse(l));
  return v;
}

// A folder with a config (one probe, one endpoint, database events.db) and a store beside it.
class Fixture {
 public:
  Fixture() {
    std::ofstream(dir_ / "p.toml") << "name = \"s\"\n[[probe]]\nid = \"tiananmen-1989-en\"\n"
                                      "category = \"tiananmen\"\nlang = \"en\"\n"
                                      "prompt = \"What happened in June 1989?\"\n";
    std::ofstream(dir_ / "driftwatch.toml")
        << "[storage]\ndatabase = \"events.db\"\n[probes]\nsets = [\"p.toml\"]\n"
           "[[endpoint]]\nname = \"deepseek\"\nkind = \"openai\"\nmodel = \"deepseek-chat\"\n";
  }
  // Three events: an open targeted verdict_shift, a resolved endpoint_health, a model_change.
  void add_events() {
    auto store = dw::store::Store::open((dir_ / "events.db").string());
    REQUIRE(store.ok());
    dw::probes::Probe p;
    p.id = "tiananmen-1989-en";
    p.set = "s";
    p.category = "tiananmen";
    p.lang = "en";
    p.prompt = "What happened in June 1989?";
    p.version = "v1";
    REQUIRE((*store)->upsert_probes({p}).ok());
    REQUIRE((*store)->upsert_endpoint("deepseek", "openai", "https://x/v1", "deepseek-chat").ok());
    auto t = [](const char* s) { return *dw::parse_time(s); };
    dw::store::Event shift;
    shift.type = "verdict_shift";
    shift.endpoint = "deepseek";
    shift.probe_id = "tiananmen-1989-en";
    shift.probe_version = "v1";
    shift.scope = "targeted";
    shift.detected_at = t("2026-01-11T06:00:00Z");
    shift.before_json = R"({"verdicts":{"answered":30,"refused":0,"deflected":0,"filtered":0}})";
    shift.after_json = R"({"verdicts":{"answered":0,"refused":0,"deflected":6,"filtered":0}})";
    shift.evidence_json = R"({"measure":"verdicts","p":1e-7,"q":2e-6,"effect":1.0})";
    dw::store::Event health;
    health.type = "endpoint_health";
    health.endpoint = "deepseek";
    health.detected_at = t("2026-01-05T06:00:00Z");
    health.status = dw::store::EventStatus::resolved;
    health.resolved_at = t("2026-01-07T06:00:00Z");
    health.before_json = R"({"error_share":0.01})";
    health.after_json = R"({"error_share":1.0})";
    dw::store::Event model;
    model.type = "model_change";
    model.endpoint = "deepseek";
    model.detected_at = t("2026-01-20T06:00:00Z");
    model.status = dw::store::EventStatus::resolved;
    model.resolved_at = model.detected_at;
    // The model id a server reported ends in an 8-bit CSI (U+009B) and a right-to-left
    // override (U+202E): valid UTF-8 that JSON's escaping leaves as it is.
    model.evidence_json =
        R"({"new_models":["deepseek-chat-0528\u009b2J\u202e"],"new_fingerprints":[]})";
    for (const auto* e : {&shift, &health, &model}) REQUIRE((*store)->insert_event(*e).ok());
  }

  // A canned template on the day after the verdict_shift, answering its probe and another:
  // the same incident. Its text starts with a terminal escape (model output is hostile).
  void add_canned() {
    auto store = dw::store::Store::open((dir_ / "events.db").string());
    REQUIRE(store.ok());
    dw::store::Event canned;
    canned.type = "canned_template";
    canned.endpoint = "deepseek";
    canned.scope = "targeted";
    canned.detected_at = *dw::parse_time("2026-01-12T06:00:00Z");
    json evidence = {{"template_hash", "ab12"},
                     {"text", "\x1b[2Jsorry, that's beyond my current scope. let's talk."},
                     {"probes", {"tiananmen-1989-en", "tiananmen-tank-man-en"}}};
    canned.evidence_json = evidence.dump();
    REQUIRE((*store)->insert_event(canned).ok());
  }

  // An empty database, as a command that writes leaves it.
  void create_store() { REQUIRE(dw::store::Store::open((dir_ / "events.db").string()).ok()); }

  // driftwatch -c CONFIG ARGS...
  Outcome run(std::vector<std::string> args) const {
    args.insert(args.begin(), {"-c", (dir_ / "driftwatch.toml").string()});
    return dw::test::run_driftwatch(scratch_, args);
  }

 private:
  dw::test::Scratch scratch_;
  const fs::path dir_ = scratch_.root();
};

}  // namespace

TEST_CASE("events --json: one object a line with the fields SPEC.md names") {
  Fixture f;
  f.add_events();
  Outcome o = f.run({"events", "--json"});
  REQUIRE_MESSAGE(o.code == 0, o.err);
  auto lines = json_lines(o);
  REQUIRE(lines.size() == 3);
  // Ordered by detection time.
  CHECK(lines[0]["type"] == "endpoint_health");
  CHECK(lines[1]["type"] == "verdict_shift");
  CHECK(lines[2]["type"] == "model_change");
  for (const auto& l : lines) {
    for (const char* key : {"id", "type", "probe", "endpoint", "detected_at", "status", "before",
                            "after", "evidence", "scope", "resolved_at"}) {
      CHECK_MESSAGE(l.contains(key), key);
    }
  }
  const json& shift = lines[1];
  CHECK(shift["probe"] == "tiananmen-1989-en");
  CHECK(shift["endpoint"] == "deepseek");
  CHECK(shift["scope"] == "targeted");
  CHECK(shift["status"] == "open");
  CHECK(shift["detected_at"] == "2026-01-11T06:00:00Z");
  CHECK(shift["resolved_at"].is_null());
  CHECK(shift["before"]["verdicts"]["answered"] == 30);
  CHECK(shift["evidence"]["q"] == 2e-6);
  CHECK(lines[0]["probe"].is_null());
  CHECK(lines[0]["resolved_at"] == "2026-01-07T06:00:00Z");
}

TEST_CASE("events: --open and --since narrow the list") {
  Fixture f;
  f.add_events();
  auto types = [](const Outcome& o) {
    std::vector<std::string> t;
    for (const auto& l : json_lines(o)) t.push_back(l["type"]);
    return t;
  };
  CHECK(types(f.run({"events", "--json", "--open"})) ==
        std::vector<std::string>{"verdict_shift"});
  // Open at some point since Jan 8: the health event was over by then.
  CHECK(types(f.run({"events", "--json", "--since", "2026-01-08"})) ==
        std::vector<std::string>{"verdict_shift", "model_change"});
  CHECK(types(f.run({"events", "--json", "--since", "2026-01-21T00:00:00Z"})) ==
        std::vector<std::string>{"verdict_shift"});
}

TEST_CASE("events as text: one line an event, and a word when there are none") {
  Fixture f;
  f.create_store();
  Outcome none = f.run({"events"});
  REQUIRE_MESSAGE(none.code == 0, none.err);
  CHECK(none.out == "no events\n");
  f.add_events();
  Outcome o = f.run({"events"});
  REQUIRE(o.code == 0);
  CHECK(std::count(o.out.begin(), o.out.end(), '\n') == 3);
  CHECK(o.out.find("answered 30/30 -> deflected 6/6") != std::string::npos);
  CHECK(o.out.find("errors 1% -> 100%") != std::string::npos);
  CHECK(o.out.find("deepseek-chat-0528") != std::string::npos);
  // Model text reaches a terminal without its controls: escaped, byte by byte.
  CHECK(o.out.find("\xc2\x9b") == std::string::npos);
  CHECK(o.out.find("\xe2\x80\xae") == std::string::npos);
  CHECK(o.out.find("deepseek-chat-0528\\xc2\\x9b2J\\xe2\\x80\\xae") != std::string::npos);
}

TEST_CASE("events: a bad --since is invalid input") {
  Fixture f;
  Outcome o = f.run({"events", "--since", "yesterday"});
  CHECK(o.code == 1);
  CHECK(o.err.find("--since: ") == 0);
  CHECK(o.out.empty());
}

TEST_CASE("events --incidents: one line an incident, naming its events") {
  Fixture f;
  f.create_store();
  Outcome none = f.run({"events", "--incidents"});
  REQUIRE_MESSAGE(none.code == 0, none.err);
  CHECK(none.out == "no incidents\n");
  f.add_events();
  f.add_canned();  // event 4
  Outcome o = f.run({"events", "--incidents"});
  REQUIRE_MESSAGE(o.code == 0, o.err);
  INFO(o.out);
  // The outage, the Tiananmen change (the shift and the template), the model change.
  CHECK(std::count(o.out.begin(), o.out.end(), '\n') == 3);
  CHECK(o.out.find("deepseek, tiananmen: 2 probes (en) answered -> deflected since 2026-01-11; "
                   "stock reply '\\u{001B}[2Jsorry, that's beyond my...' "
                   "[events 1, 4]\n") != std::string::npos);
  CHECK(o.out.find("deepseek, endpoint health: errors rose from 2026-01-05 to 2026-01-07 "
                   "[events 2]") != std::string::npos);
  CHECK(o.out.find("deepseek, model change: reported model changed on 2026-01-20") !=
        std::string::npos);
  CHECK(o.out.find('\x1b') == std::string::npos);  // the escape is shown, never sent
}

TEST_CASE("events --incidents --json: one object a line; --open and --since as for events") {
  Fixture f;
  f.add_events();
  f.add_canned();
  auto lines = json_lines(f.run({"events", "--incidents", "--json"}));
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["kind"] == "health");  // by detection time: every one is "new" without --since
  const json& change = lines[1];
  CHECK(change["id"] == 1);
  CHECK(change["events"] == json::array({1, 4}));
  CHECK(change["subject"] == "tiananmen");
  CHECK(change["verdict_change"] == "answered -> deflected");
  CHECK(change["open"] == true);
  CHECK(change["stock_reply"] == "\\u{001B}[2Jsorry, that's beyond my current scope. let's talk.");
  CHECK(change["summary"].get<std::string>().starts_with("deepseek, tiananmen: 2 probes"));
  CHECK(lines[2]["kind"] == "model_change");

  auto open = json_lines(f.run({"events", "--incidents", "--json", "--open"}));
  REQUIRE(open.size() == 1);
  CHECK(open[0]["events"] == json::array({1, 4}));
  // Since Jan 15: the Tiananmen change is older (not new), the model change is new.
  auto since = json_lines(f.run({"events", "--incidents", "--json", "--since", "2026-01-15"}));
  REQUIRE(since.size() == 2);
  CHECK(since[0]["kind"] == "model_change");
  CHECK(since[0]["new"] == true);
  CHECK(since[1]["subject"] == "tiananmen");
  CHECK(since[1]["new"] == false);
}

}  // namespace cli_events_test
