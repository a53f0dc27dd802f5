#include "fleet/central_schema.h"

#include <array>
#include <charconv>
#include <string>

namespace dw::fleet {
namespace {

// Our tables; any of them without driftwatch_fleet means the database is not (wholly) ours.
constexpr const char* kTables =
    "{driftwatch_fleet,runs,probes,texts,samples,events,event_resolutions}";

// Serialises concurrent `fleet init`s ("DWAT", as the local file's application id).
constexpr const char* kInitLock = "SELECT pg_advisory_xact_lock(1146569044)";

// Version 1, one statement each (PQexecParams takes one at a time). The README's "Fleet"
// documents every table; keep both in step. A shipped version is never edited: a change is a
// new version with its migration.
constexpr std::array kVersion1 = {
    "CREATE TABLE driftwatch_fleet (version integer NOT NULL)",
    "INSERT INTO driftwatch_fleet (version) VALUES (1)",
    // monitor, client_addr, received_at and clock_ahead are the server's word (the trigger
    // below), never the payload's. backlog: the runs the monitor still had to push behind this
    // one (fleet status shows its newest).
    R"sql(CREATE TABLE runs (
  uuid        uuid PRIMARY KEY,
  vantage     text NOT NULL,
  country     text,
  asn         text,
  monitor     text NOT NULL,
  client_addr inet,
  received_at timestamptz NOT NULL,
  clock_ahead boolean NOT NULL,
  local_id    bigint NOT NULL,
  run_at      timestamptz NOT NULL CHECK (isfinite(run_at)),
  started_at  timestamptz NOT NULL CHECK (isfinite(started_at)),
  finished_at timestamptz CHECK (isfinite(finished_at)),
  status      text NOT NULL CHECK (status IN ('complete', 'incomplete')),
  samples     integer NOT NULL,
  backlog     integer NOT NULL DEFAULT 0
))sql",
    R"sql(CREATE FUNCTION runs_identity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.monitor := session_user;
  NEW.client_addr := inet_client_addr();
  NEW.received_at := now();
  NEW.clock_ahead := greatest(NEW.run_at, NEW.started_at, NEW.finished_at)
                     > now() + interval '1 hour';
  RETURN NEW;
END
$$)sql",
    "CREATE TRIGGER runs_identity BEFORE INSERT ON runs "
    "FOR EACH ROW EXECUTE FUNCTION runs_identity()",
    R"sql(CREATE TABLE probes (
  probe_id      text,
  probe_version text,
  category      text NOT NULL,
  lang          text NOT NULL,
  control       boolean NOT NULL,
  prompt        text NOT NULL,
  PRIMARY KEY (probe_id, probe_version)
))sql",
    // Shared by every monitor and never replaced (ON CONFLICT DO NOTHING): a monitor must not
    // be able to file another body under a hash others will send, so the body must hash to
    // its key, always (a text repaired for PostgreSQL goes under the hash of its repair).
    R"sql(CREATE TABLE texts (
  hash text PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),
  body text NOT NULL,
  CHECK (hash = encode(sha256(convert_to(body, 'UTF8')), 'hex'))
))sql",
    R"sql(CREATE TABLE samples (
  run_uuid           uuid NOT NULL REFERENCES runs,
  endpoint           text NOT NULL,
  probe_id           text NOT NULL,
  probe_version      text NOT NULL,
  seq                integer NOT NULL,
  requested_model    text,
  model              text,
  http_status        integer,
  finish_reason      text,
  block_reason       text,
  latency_ms         integer,
  error              text,
  response_hash      text REFERENCES texts,
  verdict            text,
  rules_verdict      text,
  narrative          boolean,
  expect_coverage    double precision,
  classifier_version text,
  received_at        timestamptz CHECK (isfinite(received_at)),
  PRIMARY KEY (run_uuid, endpoint, probe_id, probe_version, seq),
  FOREIGN KEY (probe_id, probe_version) REFERENCES probes
))sql",
    R"sql(CREATE TABLE events (
  run_uuid      uuid NOT NULL REFERENCES runs,
  type          text NOT NULL,
  endpoint      text NOT NULL,
  probe_id      text NOT NULL,
  probe_version text NOT NULL,
  scope         text NOT NULL,
  detected_at   timestamptz NOT NULL CHECK (isfinite(detected_at)),
  before        jsonb NOT NULL,
  after         jsonb NOT NULL,
  evidence      jsonb NOT NULL,
  PRIMARY KEY (run_uuid, type, endpoint, probe_id, probe_version)
))sql",
    // Monitors may only insert: a resolution is a row of its own, not an update of the event.
    R"sql(CREATE TABLE event_resolutions (
  run_uuid        uuid NOT NULL REFERENCES runs,
  opened_run_uuid uuid NOT NULL,
  type            text NOT NULL,
  endpoint        text NOT NULL,
  probe_id        text NOT NULL,
  probe_version   text NOT NULL,
  resolved_at     timestamptz NOT NULL CHECK (isfinite(resolved_at)),
  resolution      text NOT NULL,
  PRIMARY KEY (opened_run_uuid, type, endpoint, probe_id, probe_version)
))sql",
    "CREATE INDEX samples_by_pair ON samples (endpoint, probe_id)",
    "CREATE INDEX runs_by_time ON runs (run_at)",
    // Roles are the cluster's, not the database's: another database may have made them.
    R"sql(DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'driftwatch_monitor') THEN
    CREATE ROLE driftwatch_monitor NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'driftwatch_reader') THEN
    CREATE ROLE driftwatch_reader NOLOGIN;
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO driftwatch_monitor, driftwatch_reader',
                 current_schema());
END
$$)sql",
    "GRANT SELECT ON driftwatch_fleet TO driftwatch_monitor",
    "GRANT INSERT ON runs, probes, texts, samples, events, event_resolutions "
    "TO driftwatch_monitor",
    "GRANT SELECT ON driftwatch_fleet, runs, probes, texts, samples, events, event_resolutions "
    "TO driftwatch_reader",
};

// Version 2: events and their resolutions are told apart by a subject too, the template hash
// of a canned_template ('' for every other type): a run may find several stock replies on one
// endpoint, and version 1's key (run, type, endpoint, probe) kept the first and dropped the
// others (ON CONFLICT DO NOTHING). The events of version 1 get theirs from their evidence, and
// their resolutions from their events (one each, under version 1's key).
constexpr std::array kVersion2 = {
    "ALTER TABLE events ADD COLUMN subject text NOT NULL DEFAULT ''",
    "UPDATE events SET subject = coalesce(evidence->>'template_hash', '') "
    "WHERE type = 'canned_template'",
    "ALTER TABLE events DROP CONSTRAINT events_pkey",
    "ALTER TABLE events ADD PRIMARY KEY "
    "(run_uuid, type, endpoint, probe_id, probe_version, subject)",
    "ALTER TABLE event_resolutions ADD COLUMN subject text NOT NULL DEFAULT ''",
    R"sql(UPDATE event_resolutions x SET subject = e.subject FROM events e
WHERE e.run_uuid = x.opened_run_uuid AND e.type = x.type AND e.endpoint = x.endpoint
  AND e.probe_id = x.probe_id AND e.probe_version = x.probe_version
  AND x.type = 'canned_template')sql",
    "ALTER TABLE event_resolutions DROP CONSTRAINT event_resolutions_pkey",
    "ALTER TABLE event_resolutions ADD PRIMARY KEY "
    "(opened_run_uuid, type, endpoint, probe_id, probe_version, subject)",
    "UPDATE driftwatch_fleet SET version = 2",
};

std::string newer_than_us(int version) {
  return "central schema is version " + std::to_string(version) + "; this driftwatch knows " +
         std::to_string(kCentralVersion) + ": upgrade driftwatch";
}

}  // namespace

Result<int> central_version(Pg& pg) {
  // pg_class is readable by every role; current_schema() is where CREATE TABLE would go.
  auto found = pg.exec(
      "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = current_schema() AND c.relname = ANY ($1::text[]) ORDER BY 1",
      {kTables});
  if (!found) return found.error();
  if (found->rows.empty()) return 0;
  bool ours = false;
  std::string names;
  for (const auto& row : found->rows) {
    if (*row[0] == "driftwatch_fleet") ours = true;
    names += (names.empty() ? "" : ", ") + *row[0];
  }
  if (!ours) {
    return pg.fail("the database already holds tables named " + names +
                   " that are not driftwatch's (no driftwatch_fleet): use an empty database "
                   "or another schema");
  }
  auto version = pg.exec("SELECT version FROM driftwatch_fleet");
  if (!version) return version.error();
  if (version->rows.size() != 1 || !version->rows[0][0]) {
    return pg.fail("driftwatch_fleet should hold one version and holds " +
                   std::to_string(version->rows.size()) + " rows: the central schema is damaged");
  }
  const std::string& text = *version->rows[0][0];
  int v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

Status check_central(Pg& pg) {
  auto version = central_version(pg);
  if (!version) return version.error();
  if (*version == kCentralVersion) return Status::Ok();
  if (*version == 0) {
    return pg.fail("no driftwatch central schema here (driftwatch fleet init creates it)");
  }
  if (*version > kCentralVersion) return pg.fail(newer_than_us(*version));
  if (*version == 1) {
    return pg.fail("central schema is version 1; this driftwatch writes version " +
                   std::to_string(kCentralVersion) + ": run driftwatch fleet init to upgrade it");
  }
  return pg.fail("central schema version " + std::to_string(*version) +
                 " is not one this driftwatch knows");
}

Status init_central(Pg& pg) {
  // Model output in every script; a LATIN1 database would refuse most of it at push time.
  auto encoding = pg.exec("SELECT current_setting('server_encoding')");
  if (!encoding) return encoding.error();
  const std::string enc = encoding->rows.empty() ? "" : encoding->rows[0][0].value_or("");
  if (enc != "UTF8") {
    return pg.fail("the database's encoding is " + enc +
                   "; the fleet's needs UTF8 (CREATE DATABASE ... ENCODING 'UTF8' "
                   "TEMPLATE template0)");
  }
  auto tx = pg.begin();
  if (!tx) return tx.error();
  if (auto st = pg.run(kInitLock); !st) return st;
  auto version = central_version(pg);
  if (!version) return version.error();
  if (*version == kCentralVersion) return Status::Ok();  // the Tx rolls back: nothing to do
  if (*version > kCentralVersion) return pg.fail(newer_than_us(*version));
  if (*version != 0 && *version != 1) {
    return pg.fail("central schema version " + std::to_string(*version) +
                   " is not one this driftwatch knows");
  }
  // An empty database goes through every version, as an old one is brought up to date.
  if (*version == 0) {
    for (const char* sql : kVersion1) {
      if (auto st = pg.run(sql); !st) return st;
    }
  }
  for (const char* sql : kVersion2) {
    if (auto st = pg.run(sql); !st) return st;
  }
  return (*tx)->commit();
}

}  // namespace dw::fleet
