// Internal to the store: the schema as a list of migrations, applied in order by
// PRAGMA user_version. Migration N brings a database from version N-1 to N; migration 1 is the
// initial schema. A shipped migration is never edited: a change is a new one at the end.
#pragma once

#include "common/error.h"
#include "store/statement.h"

namespace dw::store {

// The schema version this program writes and understands.
int latest_schema_version();

// Migration 6, the compact samples and compressed texts (schema_compact.cc).
extern const char kCompactSamples[];

// Fails, before anything is written, when the database has a newer schema version than this
// program knows or belongs to another program.
Status check_schema(Db& db);

// Brings the database to version `target` (tests make older files with it), each step in its
// own transaction. Checks check_schema() first; a database at or past target is left alone.
// Version 6 needs the functions of register_sql_functions (keys.h) on the connection.
Status migrate(Db& db, int target = latest_schema_version());

}  // namespace dw::store
