#include "store/schema.h"

#include <array>
#include <string>

namespace dw::store {
namespace {

// Marks the file as driftwatch's ("DWAT"), so that pointing the config at another program's
// database is refused instead of adding tables to it.
constexpr int64_t kApplicationId = 0x44574154;

struct Migration {
  int version;
  const char* sql;
};

// The README's "The database" section documents every column; keep both in step.
constexpr const char* kInitialSchema = R"sql(
CREATE TABLE runs (
  id          INTEGER PRIMARY KEY,
  run_at      TEXT NOT NULL,
  started_at  TEXT NOT NULL,
  finished_at TEXT,
  status      TEXT NOT NULL DEFAULT 'running'
              CHECK (status IN ('running', 'complete', 'incomplete'))
);
CREATE INDEX runs_by_time ON runs (run_at);

CREATE TABLE probes (
  id       TEXT NOT NULL,
  version  TEXT NOT NULL,
  set_name TEXT NOT NULL,
  category TEXT NOT NULL,
  lang     TEXT NOT NULL,
  prompt   TEXT NOT NULL,
  control  INTEGER NOT NULL DEFAULT 0 CHECK (control IN (0, 1)),
  expect   TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(expect)),
  PRIMARY KEY (id, version)
);

CREATE TABLE endpoints (
  name     TEXT PRIMARY KEY,
  kind     TEXT NOT NULL,
  base_url TEXT NOT NULL,
  model    TEXT NOT NULL
);

CREATE TABLE responses (
  hash TEXT PRIMARY KEY,
  text TEXT NOT NULL
);

CREATE TABLE samples (
  id                 INTEGER PRIMARY KEY,
  run_id             INTEGER NOT NULL REFERENCES runs (id),
  probe_id           TEXT NOT NULL,
  probe_version      TEXT NOT NULL,
  endpoint           TEXT NOT NULL REFERENCES endpoints (name),
  seq                INTEGER NOT NULL,
  received_at        TEXT,
  requested_model    TEXT,
  model              TEXT,
  system_fingerprint TEXT,
  http_status        INTEGER,
  finish_reason      TEXT,
  block_reason       TEXT,
  latency_ms         INTEGER NOT NULL DEFAULT 0,
  prompt_tokens      INTEGER,
  completion_tokens  INTEGER,
  attempts           INTEGER NOT NULL DEFAULT 0,
  error              TEXT,
  response_hash      TEXT REFERENCES responses (hash),
  error_body_hash    TEXT REFERENCES responses (hash),
  verdict            TEXT CHECK (verdict IN ('answered', 'refused', 'deflected', 'filtered',
                                             'error')),
  signals            TEXT CHECK (signals IS NULL OR json_valid(signals)),
  narrative          INTEGER CHECK (narrative IN (0, 1)),
  expect_coverage    REAL CHECK (expect_coverage BETWEEN 0 AND 1),
  classifier_version TEXT,
  FOREIGN KEY (probe_id, probe_version) REFERENCES probes (id, version)
);
-- Serves per-run reads and, driven by runs_by_time, per endpoint x probe history in time
-- order without a sort; also stops a sample from being stored twice.
CREATE UNIQUE INDEX samples_by_run
  ON samples (run_id, endpoint, probe_id, probe_version, seq);

CREATE TABLE events (
  id              INTEGER PRIMARY KEY,
  type            TEXT NOT NULL,
  endpoint        TEXT REFERENCES endpoints (name),
  probe_id        TEXT,
  probe_version   TEXT,
  scope           TEXT,
  status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
  detected_at     TEXT NOT NULL,
  detected_run_id INTEGER REFERENCES runs (id),
  resolved_at     TEXT,
  resolved_run_id INTEGER REFERENCES runs (id),
  before          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(before)),
  after           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(after)),
  evidence        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(evidence)),
  FOREIGN KEY (probe_id, probe_version) REFERENCES probes (id, version)
);
CREATE INDEX events_by_time ON events (detected_at);
)sql";

// Facts derived from a response text by a pure function (drift's answer signatures), kept so
// that detection reads them instead of recomputing them from every old text at every run. One
// row per text: a new `version` of the function replaces the row. WITHOUT ROWID: the hash is
// the only key, not worth a second index on an SD card.
constexpr const char* kResponseFeatures = R"sql(
CREATE TABLE response_features (
  hash    TEXT PRIMARY KEY REFERENCES responses (hash),
  version TEXT NOT NULL,
  data    BLOB NOT NULL
) WITHOUT ROWID;
)sql";

// Why each verdict was reached (the rules that fired, where, with their weights) and whether
// the rules were unsure: kept so that a report can say why without re-running the rules.
constexpr const char* kExplanations = R"sql(
ALTER TABLE samples ADD COLUMN uncertain INTEGER CHECK (uncertain IN (0, 1));
ALTER TABLE samples ADD COLUMN explanation TEXT
  CHECK (explanation IS NULL OR json_valid(explanation));
)sql";

// Schema 4. A judge's opinion of a response text (monitor/judge), one per (text, judge model, judge
// prompt version): the same text is never judged twice. verdict is NULL when the judge's reply
// was unusable (reason then says why). A sample points at the judgement that applies to it;
// its verdict column stays the rules' own, and readers take the judge's where it answered.
constexpr const char* kJudgements = R"sql(
CREATE TABLE judgements (
  id             INTEGER PRIMARY KEY,
  response_hash  TEXT NOT NULL REFERENCES responses (hash),
  model          TEXT NOT NULL,
  prompt_version TEXT NOT NULL,
  verdict        TEXT CHECK (verdict IN ('answered', 'refused', 'deflected')),
  reason         TEXT NOT NULL DEFAULT '',
  judged_at      TEXT NOT NULL,
  UNIQUE (response_hash, model, prompt_version)
);
ALTER TABLE samples ADD COLUMN judgement_id INTEGER REFERENCES judgements (id);
-- The final verdict of each sample for SQL users; sample_reads.cc decides it alike.
CREATE VIEW verdicts AS
SELECT s.id AS sample_id,
       CASE WHEN j.verdict IS NOT NULL AND s.verdict IN ('answered', 'refused', 'deflected')
            THEN j.verdict ELSE s.verdict END AS verdict,
       s.verdict AS rules_verdict,
       j.verdict AS judge_verdict
FROM samples s LEFT JOIN judgements j ON j.id = s.judgement_id;

-- Event ids are never reused (AUTOINCREMENT), also after detection recomputes every event:
-- a link to an old event (an old report, a feed entry) never lands on another one.
CREATE TABLE events_new (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  type            TEXT NOT NULL,
  endpoint        TEXT REFERENCES endpoints (name),
  probe_id        TEXT,
  probe_version   TEXT,
  scope           TEXT,
  status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
  detected_at     TEXT NOT NULL,
  detected_run_id INTEGER REFERENCES runs (id),
  resolved_at     TEXT,
  resolved_run_id INTEGER REFERENCES runs (id),
  before          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(before)),
  after           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(after)),
  evidence        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(evidence)),
  FOREIGN KEY (probe_id, probe_version) REFERENCES probes (id, version)
);
INSERT INTO events_new SELECT id, type, endpoint, probe_id, probe_version, scope, status,
  detected_at, detected_run_id, resolved_at, resolved_run_id, before, after, evidence
  FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_by_time ON events (detected_at);
)sql";

// Schema 5. What drift detection counted per run and endpoint (drift/run_cells.h encodes
// `data`), written when a run is decided, so that later runs read these few bytes per probe
// instead of the run's samples. Derived data: rows of another `version` are rebuilt from the
// samples, and a change to a sample's verdict, narrative flag, coverage or judgement drops its
// run's rows (the trigger) so that the next detection rebuilds them. Retention keeps them.
// Endpoint '' with empty data: the run counted nothing. probe_keys names probe versions by a
// small integer inside `data`.
constexpr const char* kRunCells = R"sql(
CREATE TABLE probe_keys (
  id            INTEGER PRIMARY KEY,
  probe_id      TEXT NOT NULL,
  probe_version TEXT NOT NULL,
  UNIQUE (probe_id, probe_version)
);
CREATE TABLE run_cells (
  run_id   INTEGER NOT NULL REFERENCES runs (id),
  endpoint TEXT NOT NULL,
  version  INTEGER NOT NULL,
  data     BLOB NOT NULL,
  PRIMARY KEY (run_id, endpoint)
) WITHOUT ROWID;
CREATE TRIGGER run_cells_stale
AFTER UPDATE OF verdict, narrative, expect_coverage, judgement_id ON samples
WHEN OLD.verdict IS NOT NEW.verdict OR OLD.narrative IS NOT NEW.narrative
  OR OLD.expect_coverage IS NOT NEW.expect_coverage OR OLD.judgement_id IS NOT NEW.judgement_id
BEGIN
  DELETE FROM run_cells WHERE run_id = NEW.run_id;
END;
)sql";

// Schema 7. The texts' part of a run's summary (drift/run_cells.h: the answers' signatures and
// shared texts per endpoint), kept only for the runs detection reads texts of (its last 40):
// a run's rows are deleted as it leaves that window, and like run_cells they are derived data,
// dropped by the trigger when one of the run's verdicts changes.
constexpr const char* kRunTexts = R"sql(
CREATE TABLE run_texts (
  run_id   INTEGER NOT NULL REFERENCES runs (id),
  endpoint TEXT NOT NULL,
  version  INTEGER NOT NULL,
  data     BLOB NOT NULL,
  PRIMARY KEY (run_id, endpoint)
);
DROP TRIGGER run_cells_stale;
CREATE TRIGGER run_cells_stale
AFTER UPDATE OF verdict, narrative, expect_coverage, judgement_id ON sample_rows
WHEN OLD.verdict IS NOT NEW.verdict OR OLD.narrative IS NOT NEW.narrative
  OR OLD.expect_coverage IS NOT NEW.expect_coverage OR OLD.judgement_id IS NOT NEW.judgement_id
BEGIN
  DELETE FROM run_cells WHERE run_id = NEW.run_id;
  DELETE FROM run_texts WHERE run_id = NEW.run_id;
END;
)sql";

// Schema 8. Fleet bookkeeping (monitor/fleet): each run's globally unique id, made with the run
// (runs from before get theirs on first ask), and when the run reached the central PostgreSQL
// (Unix seconds; NULL until then). A table of its own rather than columns of runs, so that runs
// stays as SQL users know it.
constexpr const char* kRunPushes = R"sql(
CREATE TABLE run_pushes (
  run_id    INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  uuid      TEXT NOT NULL UNIQUE,
  pushed_at INTEGER
);
-- Every new run gets its UUID with its row: a copy of the database (a backup restored) pushes
-- the same runs under the same ids. A random version 4 UUID from SQLite's generator.
CREATE TRIGGER runs_uuid AFTER INSERT ON runs
BEGIN
  INSERT INTO run_pushes (run_id, uuid) VALUES (NEW.id,
    lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' ||
    substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) ||
    substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))));
END;
)sql";

// Schema 9. Drift's summaries of whole UTC days of old runs (drift/day_blocks.h): the pairs'
// counts of a day's runs folded into spans, read by a detection in place of the runs' own
// summaries. Derived from run_cells: a day's block goes when a run_cells row of one of its
// runs changes, or when a run is added to the day (the detection also checks its runs).
constexpr const char* kDayBlocks = R"sql(
CREATE TABLE day_blocks (
  day     TEXT PRIMARY KEY,  -- 'YYYY-MM-DD' of its runs' run_at (UTC)
  version INTEGER NOT NULL,
  data    BLOB NOT NULL
);
CREATE TRIGGER day_blocks_cells_added AFTER INSERT ON run_cells
BEGIN
  DELETE FROM day_blocks WHERE day = (SELECT substr(run_at, 1, 10) FROM runs WHERE id = NEW.run_id);
END;
CREATE TRIGGER day_blocks_cells_changed AFTER UPDATE ON run_cells
BEGIN
  DELETE FROM day_blocks WHERE day = (SELECT substr(run_at, 1, 10) FROM runs WHERE id = OLD.run_id);
  DELETE FROM day_blocks WHERE day = (SELECT substr(run_at, 1, 10) FROM runs WHERE id = NEW.run_id);
END;
CREATE TRIGGER day_blocks_cells_gone AFTER DELETE ON run_cells
BEGIN
  DELETE FROM day_blocks WHERE day = (SELECT substr(run_at, 1, 10) FROM runs WHERE id = OLD.run_id);
END;
CREATE TRIGGER day_blocks_run_added AFTER INSERT ON runs
BEGIN
  DELETE FROM day_blocks WHERE day = substr(NEW.run_at, 1, 10);
END;
)sql";

// Schema 10. A run summary's signatures in a column of their own, after data: a detection reads
// the shared texts (data) of its last 40 runs but the signatures of a dozen, and a row's
// columns are stored in order, so reading data never reads the signatures' pages. The rows
// are derived data of an older encoding (run_texts_version): dropped, and rebuilt by the
// next detection from the samples.
constexpr const char* kRunTextSignatures = R"sql(
DELETE FROM run_texts;
ALTER TABLE run_texts ADD COLUMN signatures BLOB NOT NULL DEFAULT x'';
)sql";

// Schema 11. Events by the time they were resolved: a detection reads the events open at some
// point of its window (open, or resolved since its start), and without this index that read
// walked every event ever stored, a third of a detection's page reads after a thousand runs.
constexpr const char* kEventsByResolution = R"sql(
CREATE INDEX events_by_resolution ON events (resolved_at);
)sql";

// Schema 12. run_cells as a table with rowids: in a WITHOUT ROWID table a row of more than
// about 1,000 bytes spills into an overflow page of its own, and a run's summary of an
// endpoint is about 1,100 bytes (300 probes): every row took two pages, the second 85% empty
// (14 MB of pages for 3 MB of summaries after a thousand runs), and each read and each write
// of one paid for both. The rows are copied as they are (they are not derived data once
// retention has removed their samples), through a temporary table rather than a rename, which
// would fail on a view or trigger of the user's naming run_cells (the README invites SQL
// users); the table's own triggers are made again, run_cells_stale (on sample_rows) stays.
constexpr const char* kRunCellsRowid = R"sql(
CREATE TEMP TABLE run_cells_copy AS SELECT run_id, endpoint, version, data FROM run_cells;
DROP TABLE run_cells;
CREATE TABLE run_cells (
  run_id   INTEGER NOT NULL REFERENCES runs (id),
  endpoint TEXT NOT NULL,
  version  INTEGER NOT NULL,
  data     BLOB NOT NULL,
  PRIMARY KEY (run_id, endpoint)
);
INSERT INTO run_cells (run_id, endpoint, version, data)
  SELECT run_id, endpoint, version, data FROM temp.run_cells_copy
  WHERE run_id IN (SELECT id FROM runs) ORDER BY run_id, endpoint;
DROP TABLE temp.run_cells_copy;
CREATE TRIGGER day_blocks_cells_added AFTER INSERT ON run_cells
BEGIN
  DELETE FROM day_blocks WHERE day = (SELECT substr(run_at, 1, 10) FROM runs WHERE id = NEW.run_id);
END;
CREATE TRIGGER day_blocks_cells_changed AFTER UPDATE ON run_cells
BEGIN
  DELETE FROM day_blocks WHERE day = (SELECT substr(run_at, 1, 10) FROM runs WHERE id = OLD.run_id);
  DELETE FROM day_blocks WHERE day = (SELECT substr(run_at, 1, 10) FROM runs WHERE id = NEW.run_id);
END;
CREATE TRIGGER day_blocks_cells_gone AFTER DELETE ON run_cells
BEGIN
  DELETE FROM day_blocks WHERE day = (SELECT substr(run_at, 1, 10) FROM runs WHERE id = OLD.run_id);
END;
)sql";

// Schema 13: a dictionary per probe and endpoint besides the endpoint's own (texts.cc): a model
// words its answers to one question alike, more than its answers to all of them.
constexpr const char* kPairDictionaries = R"sql(
ALTER TABLE dictionaries ADD COLUMN probe INTEGER REFERENCES probe_keys (id);
DROP INDEX IF EXISTS dictionaries_by_endpoint;
CREATE INDEX dictionaries_by_pair ON dictionaries (endpoint, probe, id);
)sql";

// Schema 14. Drift's summaries of whole weeks (Monday to Sunday, UTC) of old runs, made of the
// days' blocks: a detection whose window holds twenty old days reads two weeks and six days.
// A week's block goes when any of its days' blocks is deleted, written (INSERT OR REPLACE
// deletes no row as far as triggers go) or changed, and when a run is added to one of its
// days (which may have had no block). The blocks of days follow run_cells and runs.
constexpr const char* kWeekBlocks = R"sql(
CREATE TABLE week_blocks (
  week    TEXT PRIMARY KEY,  -- 'YYYY-MM-DD' of its Monday (UTC)
  version INTEGER NOT NULL,
  data    BLOB NOT NULL
);
CREATE TRIGGER week_blocks_day_gone AFTER DELETE ON day_blocks
BEGIN
  DELETE FROM week_blocks WHERE week > date(OLD.day, '-7 days') AND week <= OLD.day;
END;
CREATE TRIGGER week_blocks_day_written AFTER INSERT ON day_blocks
BEGIN
  DELETE FROM week_blocks WHERE week > date(NEW.day, '-7 days') AND week <= NEW.day;
END;
CREATE TRIGGER week_blocks_day_changed AFTER UPDATE ON day_blocks
BEGIN
  DELETE FROM week_blocks WHERE week > date(OLD.day, '-7 days') AND week <= OLD.day;
  DELETE FROM week_blocks WHERE week > date(NEW.day, '-7 days') AND week <= NEW.day;
END;
CREATE TRIGGER week_blocks_run_added AFTER INSERT ON runs
BEGIN
  DELETE FROM week_blocks
  WHERE week > date(substr(NEW.run_at, 1, 10), '-7 days') AND week <= substr(NEW.run_at, 1, 10);
END;
)sql";

// Schema 15. Texts by hash in parts. One index of every text's hash took a run's new texts at
// random places: after 120 days of the store bench, a run's 900 new texts put about 780 of its
// 1,988 leaf pages into the WAL (a commit every 64 samples), and the checkpoint wrote them
// again: three quarters of the 8.1 MiB a run wrote. New texts' keys go to text_keys_new, a
// run's worth; a run's end moves them to text_keys_recent in one sorted pass, and those are
// merged into text_keys, of all the others, once they are many enough (text_keys.cc). A text
// deleted (retention) leaves its key in text_keys until the next merge, which deletes those
// listed in text_keys_gone: deleting them at once took old texts' keys at random places too.
// Triggers keep the tables, whoever writes texts; lookups check texts.hash, so a key left
// behind finds nothing.
constexpr const char* kTextKeys = R"sql(
CREATE TABLE text_keys (
  key BLOB NOT NULL,     -- the first 8 bytes of texts.hash
  id  INTEGER NOT NULL,  -- texts.id
  PRIMARY KEY (key, id)
) WITHOUT ROWID;
CREATE TABLE text_keys_recent (
  key BLOB NOT NULL,
  id  INTEGER NOT NULL,
  PRIMARY KEY (key, id)
) WITHOUT ROWID;
CREATE TABLE text_keys_new (
  key BLOB NOT NULL,
  id  INTEGER NOT NULL,
  PRIMARY KEY (key, id)
) WITHOUT ROWID;
CREATE TABLE text_keys_gone (
  key BLOB NOT NULL,
  id  INTEGER NOT NULL,
  PRIMARY KEY (key, id)
) WITHOUT ROWID;
INSERT INTO text_keys (key, id) SELECT substr(hash, 1, 8), id FROM texts ORDER BY 1, 2;
DROP INDEX IF EXISTS texts_by_hash;
CREATE TRIGGER text_keys_added AFTER INSERT ON texts
BEGIN
  INSERT OR IGNORE INTO text_keys_new (key, id) VALUES (substr(NEW.hash, 1, 8), NEW.id);
END;
CREATE TRIGGER text_keys_removed AFTER DELETE ON texts
BEGIN
  DELETE FROM text_keys_new WHERE key = substr(OLD.hash, 1, 8) AND id = OLD.id;
  DELETE FROM text_keys_recent WHERE key = substr(OLD.hash, 1, 8) AND id = OLD.id;
  INSERT OR IGNORE INTO text_keys_gone (key, id) VALUES (substr(OLD.hash, 1, 8), OLD.id);
END;
)sql";

constexpr std::array kMigrations = {
    Migration{1, kInitialSchema},
    Migration{2, kResponseFeatures},
    Migration{3, kExplanations},
    Migration{4, kJudgements},
    Migration{5, kRunCells},
    Migration{6, kCompactSamples},  // schema_compact.cc
    Migration{7, kRunTexts},
    Migration{8, kRunPushes},
    Migration{9, kDayBlocks},
    Migration{10, kRunTextSignatures},
    Migration{11, kEventsByResolution},
    Migration{12, kRunCellsRowid},
    Migration{13, kPairDictionaries},
    Migration{14, kWeekBlocks},
    Migration{15, kTextKeys},  // text_keys.cc
};

Result<int64_t> pragma_int(Db& db, const char* sql) {
  auto st = db.prepare(sql);
  if (!st) return st.error();
  auto row = (*st)->step();
  if (!row) return row.error();
  return *row ? (*st)->int64(0) : 0;
}

// A database we have never touched must be empty; one that we have must carry our mark.
Status check_owner(Db& db, int64_t version) {
  auto app = pragma_int(db, "PRAGMA application_id");
  if (!app) return app.error();
  if (*app == kApplicationId) return Status::Ok();
  if (*app != 0) return db.fail("not a driftwatch database (it belongs to another program)");
  auto tables = pragma_int(db, "SELECT count(*) FROM sqlite_schema");
  if (!tables) return tables.error();
  if (version != 0 || *tables != 0) {
    return db.fail("not a driftwatch database (it already holds tables of another program)");
  }
  return Status::Ok();
}

}  // namespace

int latest_schema_version() { return kMigrations.back().version; }

Status check_schema(Db& db) {
  auto version = pragma_int(db, "PRAGMA user_version");
  if (!version) return version.error();
  if (*version > latest_schema_version()) {
    return db.fail("database schema version " + std::to_string(*version) +
                   " is newer than this driftwatch understands (" +
                   std::to_string(latest_schema_version()) + "); upgrade driftwatch");
  }
  return check_owner(db, *version);
}

Status migrate(Db& db, int target) {
  if (auto st = check_schema(db); !st) return st;
  auto version = pragma_int(db, "PRAGMA user_version");
  if (!version) return version.error();
  if (*version >= target) return Status::Ok();

  for (const Migration& m : kMigrations) {
    if (m.version > target) break;
    auto tx = Tx::begin(db);
    if (!tx) return tx.error();
    // Another process may have migrated while we waited for the write lock.
    auto now = pragma_int(db, "PRAGMA user_version");
    if (!now) return now.error();
    if (*now >= m.version) continue;
    if (auto st = db.exec(m.sql, "migrating the schema to version " + std::to_string(m.version));
        !st) {
      return st;
    }
    // Pragmas take no bound parameters; these are our own constants, not values from outside.
    std::string mark = "PRAGMA user_version = " + std::to_string(m.version) +
                       "; PRAGMA application_id = " + std::to_string(kApplicationId);
    if (auto st = db.exec(mark.c_str(), "recording the schema version"); !st) return st;
    if (auto st = (*tx)->commit(); !st) return st;
  }
  return Status::Ok();
}

}  // namespace dw::store
