#include "drift/answer_features.h"

#include <algorithm>

#include "analysis/normalise.h"
#include "common/hash.h"

namespace dw::drift {
namespace {

constexpr size_t kSignatureBytes = sizeof(Signature);
constexpr size_t kHashChars = 64;
constexpr size_t kEncodedSize = kSignatureBytes + sizeof(uint32_t) + kHashChars;

// Touches every rule of normalise() (SPEC: full width, ligature, case, zero-width, curly and
// CJK quotes and punctuation, dashes, whitespace runs, invalid UTF-8) and is long enough for
// many shingles, so a change to either function changes the fingerprint.
constexpr std::string_view kFingerprintText =
    "  I\xe2\x80\x99m SORRY\xef\xbc\x8c\xe6\x88\x91\xe6\x97\xa0\xe6\xb3\x95\xe5\x9b\x9e"
    "\xe7\xad\x94\xe3\x80\x82 \xef\xbc\xa6\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x8c \xef\xac"
    "\x81le zero\xe2\x80\x8bwidth soft\xc2\xadhyphen \xe2\x80\x9cquoted\xe2\x80\x9d \xe3"
    "\x80\x8c" "cjk\xe3\x80\x8d \xe3\x80\x90" "bracket\xe3\x80\x91 \xe3\x80\x8atitle\xe3"
    "\x80\x8b a\xe2\x80\x94" "b\xe2\x80\x93" "c \x09\x0a\x0d tabs \xc3\x89t\xc3\xa9 bad"
    "\xff\xfe byte\x01 end ";

void put_u16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>(v >> 8));
}

uint16_t get_u16(std::string_view in, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(in[at]) |
                               static_cast<unsigned char>(in[at + 1]) << 8);
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t get_u32(std::string_view in, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
  return v;
}

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

AnswerFeatures answer_features(std::string_view text) {
  std::string normalised = analysis::normalise(text);
  AnswerFeatures f;
  f.signature = signature(normalised);
  f.normalised_hash = sha256_hex(normalised);
  f.normalised_size = normalised.size();
  return f;
}

const std::string& answer_features_version() {
  // Computed once, then constant: a pure function of this build's code.
  static const std::string version = [] {
    AnswerFeatures probe = answer_features(kFingerprintText);
    std::string fingerprint = sha256_hex(encode(probe)).substr(0, 16);
    return "answer-features/1 one-permutation-minhash/" +
           std::to_string(std::tuple_size_v<Signature>) + " shingle/5 normalise+signature/" +
           fingerprint;
  }();
  return version;
}

std::string encode(const AnswerFeatures& f) {
  std::string out;
  out.reserve(kEncodedSize);
  for (uint16_t v : f.signature) put_u16(out, v);
  put_u32(out, static_cast<uint32_t>(f.normalised_size));
  out += f.normalised_hash;
  return out;
}

std::optional<AnswerFeatures> decode(std::string_view bytes) {
  if (bytes.size() != kEncodedSize) return std::nullopt;
  std::string_view hash = bytes.substr(kSignatureBytes + sizeof(uint32_t));
  if (!is_hex(hash)) return std::nullopt;
  AnswerFeatures f;
  for (size_t i = 0; i < f.signature.size(); ++i) f.signature[i] = get_u16(bytes, 2 * i);
  f.normalised_size = get_u32(bytes, kSignatureBytes);
  f.normalised_hash.assign(hash.data(), hash.size());
  return f;
}

store::SampleFilter FeatureCache::filter(store::SampleFilter f) const {
  f.features_version = answer_features_version();
  f.wants_text = [this](const store::SampleRow& row) {
    return !row.response_hash.empty() && row.features.empty() &&
           !held_.contains(row.response_hash);
  };
  return f;
}

Result<const AnswerFeatures*> FeatureCache::of(const store::SampleRow& row) {
  if (row.response_hash.empty()) {
    if (!empty_) empty_ = answer_features("");
    return &*empty_;
  }
  if (!row.features.empty()) {
    if (auto f = decode(row.features)) {
      scratch_ = std::move(*f);
      return &scratch_;
    }
  }
  if (auto it = held_.find(row.response_hash); it != held_.end()) return &it->second;
  std::string_view text = row.sample.text;
  std::optional<std::string> reread;
  // The row came without its text: features were stored (but are unreadable), or filter()
  // said they were held when the row was read and they have been discarded since. (A row
  // with a hash never has an empty text: the store keeps no hash for "".)
  if (!row.features.empty() || text.empty()) {
    auto got = store_.response_text(row.response_hash);
    if (!got) return got.error();
    reread = std::move(*got);
    text = reread ? std::string_view(*reread) : std::string_view();
  }
  ++computed_;
  scratch_ = answer_features(text);
  if (held_.size() >= kMaxPending) return &scratch_;
  return &held_.emplace(row.response_hash, scratch_).first->second;
}

}  // namespace dw::drift
