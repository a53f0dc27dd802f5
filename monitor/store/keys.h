// Internal to the store: the byte strings and integers that stand for repeated values in the
// schema (text hashes, the lookup key of `strings`), and the SQL functions that migrations use
// to compute them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "store/statement.h"

namespace dw::store {

// SHA-256 of text, as its 32 bytes (texts.hash).
std::string sha256_bytes(std::string_view text);

// Lower-case hex of bytes (what the API and the views show of texts.hash).
std::string to_hex(std::string_view bytes);

// The bytes that hex spells (either case); nullopt when it is not hex of even length.
std::optional<std::string> from_hex(std::string_view hex);

// strings.key of a value: the first 8 bytes of its SHA-256, big-endian, as a signed integer.
// Only a lookup aid: values are always compared whole.
int64_t string_key(std::string_view value);

// Adds to this connection, for migrations only (views, triggers and checks never use them, so
// that sqlite3 and other programs read every table and view): dw_key(TEXT) -> string_key,
// dw_unhex(TEXT) -> BLOB or NULL, and dw_pack(TEXT) -> the text compressed without a
// dictionary as a BLOB, or the TEXT itself when that is not smaller (texts.cc: text_data).
Status register_sql_functions(Db& db);

}  // namespace dw::store
