// What detection needs of an answer's text: its MinHash signature and the hash of its
// normalised form, computed once per text a detection reads (earlier builds kept them beside
// the text, store::Store::put_features; those are still read). Internal to the drift module.
//
//   FeatureCache cache(store);
//   store.for_each_sample(cache.filter({...}), [&](row) {
//     auto f = cache.of(row);        // stored, held, or computed from row.sample.text
//     ...
//   });
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/error.h"
#include "drift/minhash.h"
#include "store/store.h"

namespace dw::drift {

struct AnswerFeatures {
  Signature signature;          // MinHash of the normalised text (minhash.h)
  std::string normalised_hash;  // sha256 hex of the normalised text: canned templates' key
  size_t normalised_size = 0;   // bytes of the normalised text
};

// The features of a raw response text (normalised here). Pure: same text, same features.
AnswerFeatures answer_features(std::string_view text);

// Names everything the features depend on: the format, the shingle and hash parameters and a
// fingerprint of normalise() and signature() over a fixed text that exercises every rule of
// normalisation. Features stored under another version are recomputed, never mixed.
const std::string& answer_features_version();

// The stored form (fixed size, byte order fixed) and back; nullopt for bytes that are not
// features of this format.
std::string encode(const AnswerFeatures& f);
std::optional<AnswerFeatures> decode(std::string_view bytes);

// The features of the rows a detection reads: decoded from the store when kept there (earlier
// builds stored them), else computed and held for the detection, each text once. Never
// written: the signatures later detections read are in the run summaries (run_texts), and
// storing every answer's features cost more writes and time than computing them again. Holds
// at most kMaxPending computed features (about 6 MiB); texts beyond that are computed every
// time.
class FeatureCache {
 public:
  static constexpr size_t kMaxPending = 16384;

  explicit FeatureCache(store::Store& store) : store_(store) {}

  // The features of row's response text ("" when it has none). The row must come from
  // for_each_sample with filter() (or with_text and features_version =
  // answer_features_version()); a text the row came without is read again. The pointer is
  // valid until the next call. Fails only when the store does.
  Result<const AnswerFeatures*> of(const store::SampleRow& row);

  // f, reading what of() needs: rows carry their stored features, and their texts only when
  // of() would read them (not when the features of the text are held already).
  store::SampleFilter filter(store::SampleFilter f) const;

  // Forgets the features computed so far: those of runs already in history.
  void discard() { held_.clear(); }

  long computed() const { return computed_; }  // texts normalised and hashed

 private:
  store::Store& store_;
  std::unordered_map<std::string, AnswerFeatures> held_;  // by response hash
  std::optional<AnswerFeatures> empty_;                   // of samples without text
  AnswerFeatures scratch_;
  long computed_ = 0;
};

}  // namespace dw::drift
