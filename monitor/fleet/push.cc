#include "fleet/push.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <utility>

#include "common/hash.h"
#include "common/strings.h"
#include "common/time.h"
#include "fleet/central_schema.h"

namespace dw::fleet {
namespace {

using Value = std::optional<std::string>;
using Column = std::vector<Value>;

// Text as PostgreSQL can hold it: no NUL, UTF-8 only (push.h).
std::string pg_text(std::string_view s) {
  std::string out(s);
  repair_utf8(out);
  return out;
}

Value or_null(std::string_view s) { return s.empty() ? Value() : Value(pg_text(s)); }

// JSON as jsonb takes it: jsonb refuses the \u0000 escape and lone surrogates.
std::string jsonb_text(std::string_view json) {
  std::string out = pg_text(json);
  repair_json_surrogates(out);
  for (size_t i = 0; i + 1 < out.size(); ++i) {
    if (out[i] != '\\') continue;
    if (out.compare(i + 1, 5, "u0000") == 0) out.replace(i + 1, 5, "ufffd");
    ++i;  // the escaped character is never the start of another escape
  }
  return out;
}

std::string number(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ec == std::errc() ? end : buf);
}

Value flag(bool b) { return Value(b ? "t" : "f"); }

// How a resolved event ended: its evidence's (or after's) "resolution", else "returned".
std::string resolution_of(const store::Event& e) {
  for (const std::string* json : {&e.evidence_json, &e.after_json}) {
    auto j = nlohmann::json::parse(*json, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("resolution") && j["resolution"].is_string()) {
      return j["resolution"].get<std::string>();
    }
  }
  return "returned";
}

// What tells an endpoint's events of one type in one run apart (central schema version 2): a
// canned template's hash, "" for every other type (one a run at most).
std::string subject_of(const store::Event& e) {
  if (e.type != "canned_template") return "";
  auto j = nlohmann::json::parse(e.evidence_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("template_hash") && j["template_hash"].is_string()) {
    return j["template_hash"].get<std::string>();
  }
  return "";
}

// The rows of one table, a column each, as the arrays of one INSERT ... SELECT unnest(...).
struct Table {
  std::vector<Column> columns;
  explicit Table(size_t n) : columns(n) {}
  void add(std::vector<Value> row) {
    for (size_t i = 0; i < columns.size(); ++i) columns[i].push_back(std::move(row[i]));
  }
  size_t rows() const { return columns.empty() ? 0 : columns[0].size(); }
};

// Everything one push sends, read from the local store before the central transaction opens.
struct Payload {
  store::RunInfo run;
  std::string uuid;
  int64_t samples = 0, backlog = 0;
  Table probes{6}, texts{2}, sample_rows{18}, events{10}, resolutions{8};
};

Result<store::RunInfo> find_run(store::Store& local, int64_t run_id) {
  auto found = local.find_run(run_id);
  if (!found) return found.error();
  if (!*found) return Error("fleet: no run " + std::to_string(run_id) + " in the local store");
  if ((*found)->status == store::RunStatus::running) {
    return Error("fleet: run " + std::to_string(run_id) + " is still running");
  }
  return **found;
}

Status read_samples(store::Store& local, Payload& p) {
  std::set<std::pair<std::string, std::string>> asked;
  std::map<std::string, std::string> hashes;  // local hash -> central hash
  auto st = local.for_each_sample({.run_id = p.run.id}, [&](const store::SampleRow& r) {
    const auto& s = r.sample;
    const auto& c = r.classification;
    asked.emplace(r.key.probe_id, r.key.probe_version);
    std::string hash = r.response_hash;
    if (!hash.empty()) {
      auto [it, added] = hashes.emplace(hash, hash);
      if (added) {
        // A text PostgreSQL cannot hold as it is goes under the hash of its repair: the
        // central database checks that every body hashes to its key.
        std::string body = pg_text(s.text);
        if (body != s.text) it->second = sha256_hex(body);
        p.texts.add({it->second, std::move(body)});
      }
      hash = it->second;
    }
    p.sample_rows.add({
        pg_text(r.key.endpoint), pg_text(r.key.probe_id), pg_text(r.key.probe_version),
        std::to_string(r.key.seq), or_null(r.key.requested_model), or_null(s.model),
        s.http_status ? Value(std::to_string(s.http_status)) : Value(),
        or_null(s.finish_reason), or_null(s.block_reason), std::to_string(s.latency.count()),
        or_null(s.error), or_null(hash), c ? or_null(c->verdict) : Value(),
        or_null(r.rules_verdict), c ? flag(c->narrative) : Value(),
        c && c->expect_coverage ? Value(number(*c->expect_coverage)) : Value(),
        c ? or_null(c->classifier_version) : Value(),
        r.key.received_at ? Value(format_time(*r.key.received_at)) : Value(),
    });
    ++p.samples;
    return true;
  });
  if (!st) return st;
  return local.for_each_probe([&](const probes::Probe& q) {
    if (asked.count({q.id, q.version})) {
      p.probes.add({pg_text(q.id), pg_text(q.version), pg_text(q.category), pg_text(q.lang),
                    flag(q.control), pg_text(q.prompt)});
    }
    return true;
  });
}

Status read_events(store::Store& local, Payload& p) {
  std::vector<store::Event> resolved;
  auto st = local.for_each_event({}, [&](const store::Event& e) {
    if (e.detected_run_id == p.run.id) {
      p.events.add({pg_text(e.type), pg_text(e.endpoint), pg_text(e.probe_id),
                    pg_text(e.probe_version), pg_text(subject_of(e)), pg_text(e.scope),
                    format_time(e.detected_at), jsonb_text(e.before_json),
                    jsonb_text(e.after_json), jsonb_text(e.evidence_json)});
    }
    if (e.resolved_run_id == p.run.id && e.detected_run_id) resolved.push_back(e);
    return true;
  });
  if (!st) return st;
  // After the iteration: run_uuid may write.
  for (const store::Event& e : resolved) {
    auto opened = local.run_uuid(*e.detected_run_id);
    if (!opened) return opened.error();
    Time at = e.resolved_at.value_or(p.run.finished_at.value_or(p.run.run_at));
    p.resolutions.add({*opened, pg_text(e.type), pg_text(e.endpoint), pg_text(e.probe_id),
                       pg_text(e.probe_version), pg_text(subject_of(e)), format_time(at),
                       pg_text(resolution_of(e))});
  }
  return Status::Ok();
}

Result<Payload> read_local(store::Store& local, const store::RunInfo& run) {
  Payload p;
  p.run = run;
  auto uuid = local.run_uuid(run.id);
  if (!uuid) return uuid.error();
  p.uuid = *uuid;
  auto state = local.push_state();
  if (!state) return state.error();
  // The runs waiting behind this one (a monitor that has caught up reports 0); this one is
  // among the unpushed unless a mark outlived its central row (a central database reset).
  p.backlog = std::max<int64_t>(0, state->backlog - 1);
  if (auto st = read_samples(local, p); !st) return st.error();
  if (auto st = read_events(local, p); !st) return st.error();
  return p;
}

// Runs `insert ... SELECT ...` with ON CONFLICT DO NOTHING; returns the rows it added.
// RETURNING a constant needs no SELECT right, which monitors do not have.
Result<long> insert(Pg& pg, const std::string& sql, const std::vector<Value>& params) {
  auto rows = pg.exec("WITH added AS (" + sql + " ON CONFLICT DO NOTHING RETURNING 1) "
                      "SELECT count(*) FROM added", params);
  if (!rows) return rows.error();
  long n = 0;
  if (!rows->rows.empty() && rows->rows[0][0]) {
    const std::string& text = *rows->rows[0][0];
    std::from_chars(text.data(), text.data() + text.size(), n);
  }
  return n;
}

// The table's arrays as parameters after `first`.
std::vector<Value> arrays(const Table& t, std::vector<Value> first = {}) {
  for (const Column& c : t.columns) first.emplace_back(array_literal(c));
  return first;
}

// Sends p in one transaction; the counts of what it added, or already_there.
Result<PushResult> send(Pg& pg, const Vantage& v, const Payload& p) {
  PushResult out{p.run.id, p.uuid, 0, 0, 0, false};
  auto tx = pg.begin();
  if (!tx) return tx.error();
  if (auto st = check_central(pg); !st) return st.error();
  auto run = insert(
      pg,
      "INSERT INTO runs (uuid, vantage, country, asn, local_id, run_at, started_at, "
      "finished_at, status, samples, backlog) VALUES ($1::uuid, $2, $3, $4, $5::bigint, "
      "$6::timestamptz, $7::timestamptz, $8::timestamptz, $9, $10::integer, $11::integer)",
      {p.uuid, pg_text(v.name), or_null(v.country), or_null(v.asn), std::to_string(p.run.id),
       format_time(p.run.run_at), format_time(p.run.started_at),
       p.run.finished_at ? Value(format_time(*p.run.finished_at)) : Value(),
       std::string(store::to_string(p.run.status)), std::to_string(p.samples),
       std::to_string(p.backlog)});
  if (!run) return run.error();
  if (*run == 0) {
    out.already_there = true;  // all of it came with the run row, in its transaction
    return out;                // the Tx rolls back: nothing was changed
  }
  // Parents before children: the foreign keys check within the statement.
  if (p.probes.rows()) {
    auto n = insert(pg,
                    "INSERT INTO probes (probe_id, probe_version, category, lang, control, "
                    "prompt) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
                    "$4::text[], $5::boolean[], $6::text[])",
                    arrays(p.probes));
    if (!n) return n.error();
  }
  if (p.texts.rows()) {
    auto n = insert(pg, "INSERT INTO texts (hash, body) SELECT * FROM unnest($1::text[], "
                        "$2::text[])", arrays(p.texts));
    if (!n) return n.error();
    out.texts = *n;
  }
  if (p.sample_rows.rows()) {
    auto n = insert(pg,
                    "INSERT INTO samples (run_uuid, endpoint, probe_id, probe_version, seq, "
                    "requested_model, model, http_status, finish_reason, block_reason, "
                    "latency_ms, error, response_hash, verdict, rules_verdict, narrative, "
                    "expect_coverage, classifier_version, received_at) SELECT $1::uuid, * FROM "
                    "unnest($2::text[], $3::text[], $4::text[], $5::integer[], $6::text[], "
                    "$7::text[], $8::integer[], $9::text[], $10::text[], $11::integer[], "
                    "$12::text[], $13::text[], $14::text[], $15::text[], $16::boolean[], "
                    "$17::float8[], $18::text[], $19::timestamptz[])",
                    arrays(p.sample_rows, {p.uuid}));
    if (!n) return n.error();
    out.samples = *n;
  }
  if (p.events.rows()) {
    auto n = insert(pg,
                    "INSERT INTO events (run_uuid, type, endpoint, probe_id, probe_version, "
                    "subject, scope, detected_at, before, after, evidence) SELECT $1::uuid, * "
                    "FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
                    "$7::text[], $8::timestamptz[], $9::jsonb[], $10::jsonb[], $11::jsonb[])",
                    arrays(p.events, {p.uuid}));
    if (!n) return n.error();
    out.events += *n;
  }
  if (p.resolutions.rows()) {
    auto n = insert(pg,
                    "INSERT INTO event_resolutions (run_uuid, opened_run_uuid, type, endpoint, "
                    "probe_id, probe_version, subject, resolved_at, resolution) SELECT "
                    "$1::uuid, * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], "
                    "$6::text[], $7::text[], $8::timestamptz[], $9::text[])",
                    arrays(p.resolutions, {p.uuid}));
    if (!n) return n.error();
    out.events += *n;
  }
  if (auto st = (*tx)->commit(); !st) return st.error();
  return out;
}

Result<PushResult> push(store::Store& local, Pg& central, const Vantage& v,
                        const store::RunInfo& run) {
  auto payload = read_local(local, run);
  if (!payload) return payload.error();
  auto sent = send(central, v, *payload);
  if (!sent) return sent.error();
  // Only now: a run marked pushed is never sent again.
  if (auto st = local.mark_pushed(run.id, SystemClock().now()); !st) {
    return Error("fleet: run " + std::to_string(run.id) +
                 " reached the central database but could not be marked pushed: " +
                 st.error().to_string());
  }
  return sent;
}

}  // namespace

Result<PushResult> push_run(store::Store& local, Pg& central, const Vantage& v, int64_t run_id) {
  auto run = find_run(local, run_id);
  if (!run) return run.error();
  return push(local, central, v, *run);
}

BacklogResult push_backlog(store::Store& local, Pg& central, const Vantage& v,
                           const std::function<void(const PushResult&)>& progress) {
  BacklogResult out;
  // Collected first: pushing writes to the store (UUIDs, marks).
  std::vector<store::RunInfo> runs;
  auto st = local.for_each_unpushed([&](const store::RunInfo& r) {
    runs.push_back(r);
    return true;
  });
  if (!st) out.failure = st.error();
  for (const store::RunInfo& run : runs) {
    if (out.failure) break;
    auto pushed = push(local, central, v, run);
    if (!pushed) {
      out.failure = pushed.error();
      break;
    }
    out.pushed.push_back(*pushed);
    if (progress) progress(*pushed);
  }
  auto state = local.push_state();
  if (state) {
    out.left = static_cast<long>(state->backlog);
  } else {
    out.left = static_cast<long>(runs.size() - out.pushed.size());
    if (!out.failure) out.failure = state.error();
  }
  return out;
}

}  // namespace dw::fleet
