// Schema 6 (schema.h: kCompactSamples), in a file of its own: the SQL is long, and the list of
// migrations in schema.cc stays short.
#include "store/schema.h"

namespace dw::store {

// Schema 6. Samples fit an SD card for years: a sample row holds integers only (ids of its
// endpoint, probe version, texts and repeated strings), each distinct text is stored once as a
// zstd frame when that is smaller (with its endpoint's dictionary once there is one), and the
// views `samples`, `verdicts` and `responses` keep the public SQL shape. Runs through
// Store::open only: dw_key, dw_unhex and dw_pack are its functions (keys.h).
extern const char kCompactSamples[] = R"sql(
-- Every repeated value (models, finish reasons, errors, signals, explanations, feature
-- versions) once; key is the first 8 bytes of its SHA-256 (keys.cc), for lookups only.
CREATE TABLE strings (
  id    INTEGER PRIMARY KEY,
  key   INTEGER NOT NULL,
  value TEXT NOT NULL
);
CREATE INDEX strings_by_key ON strings (key);

-- Endpoints by small integer (probe versions have probe_keys, schema 5).
CREATE TABLE endpoint_keys (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE REFERENCES endpoints (name)
);

-- zstd dictionaries trained on one endpoint's answers (texts.cc): texts, how many it learnt
-- from; last_text, the newest text id then. Kept for as long as a text may name one.
CREATE TABLE dictionaries (
  id         INTEGER PRIMARY KEY,
  endpoint   INTEGER NOT NULL REFERENCES endpoint_keys (id),
  created_at TEXT NOT NULL,
  texts      INTEGER NOT NULL,
  last_text  INTEGER NOT NULL,
  data       BLOB NOT NULL
);
CREATE INDEX dictionaries_by_endpoint ON dictionaries (endpoint, id);

-- Each distinct answer or error body once: its SHA-256 (32 bytes), the endpoint that first
-- sent it (NULL for texts from before schema 6), and the dictionary of its frame. The bytes
-- are in text_data, so that reading hashes does not read texts.
CREATE TABLE texts (
  id       INTEGER PRIMARY KEY,
  hash     BLOB NOT NULL,
  endpoint INTEGER REFERENCES endpoint_keys (id),
  dict     INTEGER REFERENCES dictionaries (id)
);
CREATE INDEX texts_by_hash ON texts (substr(hash, 1, 8));

-- data is TEXT (the text as received) or BLOB (a zstd frame: use `driftwatch export`).
CREATE TABLE text_data (
  id   INTEGER PRIMARY KEY REFERENCES texts (id),
  data NOT NULL
);

-- Drift's derived data per text (schema 2's response_features); version -> strings.id.
CREATE TABLE text_features (
  text    INTEGER PRIMARY KEY REFERENCES texts (id),
  version INTEGER NOT NULL,
  data    BLOB NOT NULL
);

-- Schema 4's judgements, naming their text by id.
CREATE TABLE judgements_new (
  id             INTEGER PRIMARY KEY,
  text           INTEGER NOT NULL REFERENCES texts (id),
  model          TEXT NOT NULL,
  prompt_version TEXT NOT NULL,
  verdict        TEXT CHECK (verdict IN ('answered', 'refused', 'deflected')),
  reason         TEXT NOT NULL DEFAULT '',
  judged_at      TEXT NOT NULL,
  UNIQUE (text, model, prompt_version)
);

-- Samples as integers: every TEXT column of schema 1-4 is an id (strings, texts, keys),
-- received_at is Unix seconds, verdict 0-4 is answered, refused, deflected, filtered, error.
-- The `samples` view shows them as before. Ids to strings and texts are kept by the store,
-- not by foreign keys: removing old texts would otherwise search every sample.
CREATE TABLE sample_rows (
  id                 INTEGER PRIMARY KEY,
  run_id             INTEGER NOT NULL REFERENCES runs (id),
  endpoint           INTEGER NOT NULL REFERENCES endpoint_keys (id),
  probe              INTEGER NOT NULL REFERENCES probe_keys (id),
  seq                INTEGER NOT NULL,
  received_at        INTEGER,
  requested_model    INTEGER,
  model              INTEGER,
  system_fingerprint INTEGER,
  http_status        INTEGER,
  finish_reason      INTEGER,
  block_reason       INTEGER,
  latency_ms         INTEGER NOT NULL DEFAULT 0,
  prompt_tokens      INTEGER,
  completion_tokens  INTEGER,
  attempts           INTEGER NOT NULL DEFAULT 0,
  error              INTEGER,
  response           INTEGER,
  error_body         INTEGER,
  verdict            INTEGER CHECK (verdict BETWEEN 0 AND 4),
  signals            INTEGER,
  narrative          INTEGER CHECK (narrative IN (0, 1)),
  expect_coverage    REAL CHECK (expect_coverage BETWEEN 0 AND 1),
  classifier_version INTEGER,
  uncertain          INTEGER CHECK (uncertain IN (0, 1)),
  explanation        INTEGER,
  judgement_id       INTEGER
);

-- The history as it was, ids and all. Texts keep responses' rowids as ids, in the order they
-- came, compressed without a dictionary (dw_pack; the endpoints train theirs from new texts).
INSERT INTO endpoint_keys (name) SELECT name FROM endpoints ORDER BY rowid;
INSERT OR IGNORE INTO probe_keys (probe_id, probe_version)
  SELECT id, version FROM probes ORDER BY rowid;

CREATE INDEX strings_by_value ON strings (value);
INSERT INTO strings (key, value)
  SELECT dw_key(v), v FROM (
    SELECT requested_model AS v FROM samples UNION SELECT model FROM samples
    UNION SELECT system_fingerprint FROM samples UNION SELECT finish_reason FROM samples
    UNION SELECT block_reason FROM samples UNION SELECT error FROM samples
    UNION SELECT signals FROM samples UNION SELECT classifier_version FROM samples
    UNION SELECT explanation FROM samples UNION SELECT version FROM response_features)
  WHERE v IS NOT NULL;

INSERT INTO texts (id, hash) SELECT rowid, dw_unhex(hash) FROM responses ORDER BY rowid;
INSERT INTO text_data (id, data) SELECT rowid, dw_pack(text) FROM responses ORDER BY rowid;
INSERT INTO text_features (text, version, data)
  SELECT r.rowid, v.id, f.data FROM response_features f
  JOIN responses r ON r.hash = f.hash JOIN strings v ON v.value = f.version;
INSERT INTO judgements_new (id, text, model, prompt_version, verdict, reason, judged_at)
  SELECT j.id, r.rowid, j.model, j.prompt_version, j.verdict, j.reason, j.judged_at
  FROM judgements j JOIN responses r ON r.hash = j.response_hash;

INSERT INTO sample_rows (id, run_id, endpoint, probe, seq, received_at, requested_model, model,
  system_fingerprint, http_status, finish_reason, block_reason, latency_ms, prompt_tokens,
  completion_tokens, attempts, error, response, error_body, verdict, signals, narrative,
  expect_coverage, classifier_version, uncertain, explanation, judgement_id)
SELECT s.id, s.run_id, e.id, k.id, s.seq, unixepoch(s.received_at), rm.id, m.id, fp.id,
  s.http_status, fr.id, br.id, s.latency_ms, s.prompt_tokens, s.completion_tokens, s.attempts,
  er.id, t.rowid, b.rowid,
  CASE s.verdict WHEN 'answered' THEN 0 WHEN 'refused' THEN 1 WHEN 'deflected' THEN 2
    WHEN 'filtered' THEN 3 WHEN 'error' THEN 4 END,
  sg.id, s.narrative, s.expect_coverage, cv.id, s.uncertain, ex.id, s.judgement_id
FROM samples s
JOIN endpoint_keys e ON e.name = s.endpoint
JOIN probe_keys k ON k.probe_id = s.probe_id AND k.probe_version = s.probe_version
LEFT JOIN strings rm ON rm.value = s.requested_model
LEFT JOIN strings m ON m.value = s.model
LEFT JOIN strings fp ON fp.value = s.system_fingerprint
LEFT JOIN strings fr ON fr.value = s.finish_reason
LEFT JOIN strings br ON br.value = s.block_reason
LEFT JOIN strings er ON er.value = s.error
LEFT JOIN strings sg ON sg.value = s.signals
LEFT JOIN strings cv ON cv.value = s.classifier_version
LEFT JOIN strings ex ON ex.value = s.explanation
LEFT JOIN responses t ON t.hash = s.response_hash
LEFT JOIN responses b ON b.hash = s.error_body_hash
ORDER BY s.id;

DROP INDEX strings_by_value;
DROP VIEW verdicts;
DROP TABLE samples;
DROP TABLE response_features;
DROP TABLE judgements;
DROP TABLE responses;
ALTER TABLE judgements_new RENAME TO judgements;

-- Per-run reads and uniqueness; which samples use a text (retention).
CREATE UNIQUE INDEX samples_by_run ON sample_rows (run_id, endpoint, probe, seq);
CREATE INDEX samples_by_text ON sample_rows (response) WHERE response IS NOT NULL;
CREATE INDEX samples_by_body ON sample_rows (error_body) WHERE error_body IS NOT NULL;

-- Schema 5's trigger, on the table that holds samples now.
CREATE TRIGGER run_cells_stale
AFTER UPDATE OF verdict, narrative, expect_coverage, judgement_id ON sample_rows
WHEN OLD.verdict IS NOT NEW.verdict OR OLD.narrative IS NOT NEW.narrative
  OR OLD.expect_coverage IS NOT NEW.expect_coverage OR OLD.judgement_id IS NOT NEW.judgement_id
BEGIN
  DELETE FROM run_cells WHERE run_id = NEW.run_id;
END;

-- The public shape of schema 1-4 (README, "The database"), plus response_id and
-- error_body_id (texts.id, for joins with `responses`). Subqueries, so a query pays only for
-- the columns it reads.
CREATE VIEW samples AS
SELECT s.id, s.run_id, k.probe_id, k.probe_version, e.name AS endpoint, s.seq,
  strftime('%Y-%m-%dT%H:%M:%SZ', s.received_at, 'unixepoch') AS received_at,
  (SELECT value FROM strings WHERE id = s.requested_model) AS requested_model,
  (SELECT value FROM strings WHERE id = s.model) AS model,
  (SELECT value FROM strings WHERE id = s.system_fingerprint) AS system_fingerprint,
  s.http_status,
  (SELECT value FROM strings WHERE id = s.finish_reason) AS finish_reason,
  (SELECT value FROM strings WHERE id = s.block_reason) AS block_reason,
  s.latency_ms, s.prompt_tokens, s.completion_tokens, s.attempts,
  (SELECT value FROM strings WHERE id = s.error) AS error,
  (SELECT lower(hex(hash)) FROM texts WHERE id = s.response) AS response_hash,
  (SELECT lower(hex(hash)) FROM texts WHERE id = s.error_body) AS error_body_hash,
  CASE s.verdict WHEN 0 THEN 'answered' WHEN 1 THEN 'refused' WHEN 2 THEN 'deflected'
    WHEN 3 THEN 'filtered' WHEN 4 THEN 'error' END AS verdict,
  (SELECT value FROM strings WHERE id = s.signals) AS signals,
  s.narrative, s.expect_coverage,
  (SELECT value FROM strings WHERE id = s.classifier_version) AS classifier_version,
  s.uncertain,
  (SELECT value FROM strings WHERE id = s.explanation) AS explanation,
  s.judgement_id, s.response AS response_id, s.error_body AS error_body_id
FROM sample_rows s
JOIN endpoint_keys e ON e.id = s.endpoint
JOIN probe_keys k ON k.id = s.probe;

CREATE VIEW verdicts AS
SELECT s.id AS sample_id,
  CASE WHEN j.verdict IS NOT NULL AND s.verdict IN (0, 1, 2) THEN j.verdict
    ELSE CASE s.verdict WHEN 0 THEN 'answered' WHEN 1 THEN 'refused' WHEN 2 THEN 'deflected'
      WHEN 3 THEN 'filtered' WHEN 4 THEN 'error' END END AS verdict,
  CASE s.verdict WHEN 0 THEN 'answered' WHEN 1 THEN 'refused' WHEN 2 THEN 'deflected'
    WHEN 3 THEN 'filtered' WHEN 4 THEN 'error' END AS rules_verdict,
  j.verdict AS judge_verdict
FROM sample_rows s LEFT JOIN judgements j ON j.id = s.judgement_id;

-- Texts by hash; text is NULL for a compressed one (`driftwatch export` reads those).
CREATE VIEW responses AS
SELECT t.id, lower(hex(t.hash)) AS hash,
  CASE WHEN typeof(d.data) = 'text' THEN d.data END AS text,
  typeof(d.data) = 'blob' AS compressed, t.dict
FROM texts t JOIN text_data d ON d.id = t.id;
)sql";

}  // namespace dw::store
