// The texts' part of run summaries as bytes (the encoding run_cells.h describes).
#include <algorithm>
#include <bit>
#include <cstring>
#include <string_view>
#include <vector>

#include "drift/answer_features.h"
#include "drift/run_cells.h"
#include "drift/varint.h"

namespace dw::drift {
namespace {

using namespace varint;

constexpr const char* kTextsFormat = "run-texts/3";  // of the bytes below
constexpr size_t kHexHash = 64;  // a sha256 in hex

void put_signature(std::string& out, const Signature& s) {
  for (uint16_t v : s) {
    out += static_cast<char>(v & 0xff);
    out += static_cast<char>(v >> 8);
  }
}

bool read_signature(Reader& in, Signature& s) {
  std::string_view bytes;
  if (!in.raw(sizeof(Signature), bytes)) return false;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(s.data(), bytes.data(), sizeof(Signature));  // the stored order already
    return true;
  }
  for (size_t k = 0; k < s.size(); ++k) {
    s[k] = static_cast<uint16_t>(static_cast<uint8_t>(bytes[2 * k]) |
                                 static_cast<uint8_t>(bytes[2 * k + 1]) << 8);
  }
  return true;
}

// What History::add keeps of texts, over fixed rows that exercise each of its rules (which
// verdicts' texts are shared, the shortest shared text, the first raw text of a normalised one,
// the cap on kept ids): a change to those rules changes the version, as run_cells_version()
// does for the counts.
std::string texts_fingerprint() {
  struct Row {
    const char* probe;
    const char* verdict;
    size_t size;      // of the normalised text
    char normalised;  // its hash: 64 times this hex digit
    char raw;
  };
  std::vector<Row> rows = {{"a", "answered", 19, '1', 'a'}, {"a", "answered", 20, '2', 'b'},
                           {"b", "deflected", 25, '2', 'c'}, {"b", "refused", 30, '3', 'd'},
                           {"c", "filtered", 30, '3', 'e'},  {"c", "error", 30, '4', 'f'}};
  for (int i = 0; i < 10; ++i) rows.push_back({"d", "answered", 40, '5', static_cast<char>('0' + i)});
  History history;
  store::SampleRow row;
  row.run_id = 7;
  row.key.endpoint = "e";
  row.key.probe_version = "v";
  AnswerFeatures f;
  for (const Row& r : rows) {
    ++row.id;
    row.key.probe_id = r.probe;
    row.classification = store::Classification{r.verdict, "[]", false, std::nullopt, "x"};
    row.response_hash = std::string(kHexHash, r.raw);
    f.signature = signature(std::string(r.size, r.normalised));
    f.normalised_hash = std::string(kHexHash, r.normalised);
    f.normalised_size = r.size;
    history.add(row, &f);
  }
  std::string out;
  const std::vector<EndpointRun> counts = history.cells_of({row.run_id, row.run_at});
  const std::vector<EndpointTexts> texts = history.texts_of({row.run_id, row.run_at});
  for (size_t i = 0; i < counts.size() && i < texts.size(); ++i) {
    out += encode_run_texts(counts[i], texts[i]).value_or("?");
  }
  return out;
}

// The probes whose texts a run's uses may name: those of the pairs that answered or deflected,
// one key per probe id, in probe id order (the uses name them by index). nullopt when the
// pairs are not in key order, as History gives them.
std::optional<std::vector<SharedPairKey>> shared_probes(const EndpointRun& counts) {
  std::vector<SharedPairKey> out;
  for (const PairRun& p : counts.pairs) {
    if (p.cell.verdicts[0] + p.cell.verdicts[2] == 0) continue;
    if (!out.empty() && out.back()->probe_id == p.key->probe_id) continue;
    if (!out.empty() && !(out.back()->probe_id < p.key->probe_id)) return std::nullopt;
    out.push_back(p.key);
  }
  return out;
}

}  // namespace

int64_t run_texts_version() {
  static const int64_t version = [] {
    std::string name = std::string(kTextsFormat) + " " + answer_features_version() + " " +
                       std::to_string(run_cells_version()) + " " + texts_fingerprint();
    uint32_t h = 2166136261u;  // FNV-1a
    for (unsigned char c : name) h = (h ^ c) * 16777619u;
    return static_cast<int64_t>(h & 0x7fffffff) | 1;
  }();
  return version;
}

std::optional<std::string> encode_run_texts(const EndpointRun& counts, const EndpointTexts& texts) {
  std::string out;
  // Signatures of the pairs that answered, in the counts' pair order: their number is the
  // answered count, so neither keys nor counts are written.
  auto answered = texts.answered.begin();
  for (const PairRun& p : counts.pairs) {
    const long n = p.cell.verdicts[0];
    if (n == 0) continue;
    while (answered != texts.answered.end() && *answered->first < *p.key) ++answered;
    if (answered == texts.answered.end() || *answered->first != *p.key ||
        answered->second.size() != static_cast<size_t>(n)) {
      return std::nullopt;  // not what add(row, features) keeps: never stored
    }
    for (const Signature& s : answered->second) put_signature(out, s);
  }
  auto probes = shared_probes(counts);
  if (!probes) return std::nullopt;
  auto uses = texts.uses.encode(*probes);
  if (!uses) return std::nullopt;
  return out + *uses;
}

std::optional<EndpointTexts> decode_run_texts(std::string_view bytes, const EndpointRun& counts) {
  Reader in(bytes);
  EndpointTexts t;
  t.endpoint = counts.endpoint;
  for (const PairRun& p : counts.pairs) {
    const long n = p.cell.verdicts[0];
    if (n == 0) continue;
    // Counts come from another row: never allocate more than the bytes can hold.
    if (in.remaining() / sizeof(Signature) < static_cast<size_t>(n)) return std::nullopt;
    auto& [key, signatures] = t.answered.emplace_back(p.key, std::vector<Signature>(static_cast<size_t>(n)));
    for (Signature& s : signatures) {
      if (!read_signature(in, s)) return std::nullopt;
    }
  }
  auto probes = shared_probes(counts);
  if (!probes) return std::nullopt;  // not History's
  std::string_view rest;
  if (!in.raw(in.remaining(), rest)) return std::nullopt;
  auto uses = TextUses::decode(rest, std::move(*probes));
  if (!uses) return std::nullopt;
  t.uses = std::move(*uses);
  return t;
}

}  // namespace dw::drift
