// Internal to the store: the byte strings and integers that stand for repeated values in the
// schema (text hashes, the lookup key of `strings`, verdict numbers), and the SQL functions
// that migrations use to compute them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/error.h"
#include "store/statement.h"

namespace dw::store {

// SHA-256 of text, as its 32 bytes (texts.hash).
std::string sha256_bytes(std::string_view text);

// Lower-case hex of bytes (what the API and the views show of texts.hash).
std::string to_hex(std::string_view bytes);

// The bytes that hex spells (either case); nullopt when it is not hex of even length.
std::optional<std::string> from_hex(std::string_view hex);

// sample_rows.verdict: a verdict's index in answered, refused, deflected, filtered, error (the
// views spell it out in the same order); nullopt for another word, "" for another number.
std::optional<int64_t> verdict_number(std::string_view verdict);
std::string_view verdict_name(int64_t number);
// The first verdict the judge never overrides: filtered (and error).
inline constexpr int64_t kFirstNonJudgeable = 3;

// strings.key of a value: the first 8 bytes of its SHA-256, big-endian, as a signed integer.
// Only a lookup aid: values are always compared whole.
int64_t string_key(std::string_view value);

// Adds to this connection, for migrations only (views, triggers and checks never use them, so
// that sqlite3 and other programs read every table and view): dw_key(TEXT) -> string_key,
// dw_unhex(TEXT) -> BLOB or NULL, and dw_pack(TEXT) -> the text compressed without a
// dictionary as a BLOB, or the TEXT itself when that is not smaller (texts.cc: text_data).
Status register_sql_functions(Db& db);

// What the keys of sample rows stand for, each looked up once by a reader: a run's hundreds of
// rows name a few endpoints, probes and models, and joining them in SQL was a b-tree search per
// row and column. One reader's (for_each_sample's, for one call): the values of ids never
// change (a key found missing stays missing for the call), and the connection's cached
// statements it uses are stepped and reset within a call.
class KeyNames {
 public:
  struct Probe {
    std::string id, version, category, lang;
    bool control = false;
  };

  // all_probes: the first probe() reads every probe key (a reader of whole runs names most of
  // them); else each is looked up when first named (a reader of one probe's samples).
  KeyNames(Db& db, bool all_probes) : db_(db), all_probes_(all_probes) {}

  // The name of endpoint key `id`; nullptr when there is no such key (the rows that name it
  // are left out, as by an inner join).
  Result<const std::string*> endpoint(int64_t id);
  // Probe key `id`'s probe version; nullptr when `probes` does not hold that version (a run
  // summary's key), as an inner join of probes would leave its rows out.
  Result<const Probe*> probe(int64_t id);
  // The value of strings row `id` into `to` ("" without an id).
  Status string(std::optional<int64_t> id, std::string& to);

 private:
  // Errors and signals can be many distinct values: past this many, the strings start over.
  static constexpr size_t kMostStrings = 4096;

  Db& db_;
  std::unordered_map<int64_t, std::optional<std::string>> endpoints_;
  std::unordered_map<int64_t, std::string> strings_;
  const bool all_probes_;
  bool probes_loaded_ = false;
  std::unordered_map<int64_t, std::optional<Probe>> probes_;  // nullopt: not in `probes`
};

}  // namespace dw::store
