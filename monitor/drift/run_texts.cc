// The texts' part of run summaries as bytes (the encoding run_cells.h describes).
#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include "drift/answer_features.h"
#include "drift/run_cells.h"

namespace dw::drift {
namespace {

constexpr const char* kTextsFormat = "run-texts/5";  // of the bytes below
constexpr size_t kHexHash = 64;  // a sha256 in hex

static_assert(sizeof(Signature) == 2 * std::tuple_size_v<Signature>);  // 16-bit words, no gaps

void put_signature(std::string& out, const Signature& s) {
  char bytes[sizeof(Signature)];  // little-endian whatever the host's order
  for (size_t i = 0; i < s.size(); ++i) {
    bytes[2 * i] = static_cast<char>(s[i] & 0xff);
    bytes[2 * i + 1] = static_cast<char>(s[i] >> 8);
  }
  out.append(bytes, sizeof bytes);
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
    auto bytes = encode_run_texts(counts[i], texts[i]);
    out += bytes ? bytes->data + bytes->signatures : "?";
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

std::optional<RunTextsBytes> encode_run_texts(const EndpointRun& counts,
                                              const EndpointTexts& texts) {
  RunTextsBytes out;
  if (const size_t size = run_signatures_size(counts); size != SIZE_MAX) {
    out.signatures.reserve(size);
  }
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
    const auto signatures = answered->second.get();
    if (signatures.size() != static_cast<size_t>(n)) return std::nullopt;  // unreadable
    for (const Signature& s : signatures) put_signature(out.signatures, s);
  }
  auto probes = shared_probes(counts);
  if (!probes) return std::nullopt;
  auto uses = texts.uses.encode(*probes);
  if (!uses) return std::nullopt;
  out.data = std::move(*uses);
  return out;
}

size_t run_signatures_size(const EndpointRun& counts) {
  // Counts may come from a damaged row: a sum that would not fit is no size any row has.
  constexpr size_t kMost = SIZE_MAX / sizeof(Signature) / 2;
  size_t n = 0;
  for (const PairRun& p : counts.pairs) {
    n += std::min(static_cast<size_t>(std::max(0L, p.cell.verdicts[0])), kMost);
    if (n > kMost) return SIZE_MAX;
  }
  return n * sizeof(Signature);
}

std::optional<EndpointTexts> decode_run_texts(std::string_view data, const EndpointRun& counts,
                                              std::shared_ptr<const RunSignatures> signatures) {
  if (!signatures || signatures->count() * sizeof(Signature) != run_signatures_size(counts)) {
    return std::nullopt;
  }
  EndpointTexts t;
  t.endpoint = counts.endpoint;
  size_t first = 0;  // the pair's first signature among the run's
  for (const PairRun& p : counts.pairs) {
    if (p.cell.verdicts[0] <= 0) continue;  // as run_signatures_size() counts
    const auto n = static_cast<size_t>(p.cell.verdicts[0]);
    t.answered.emplace_back(p.key, Signatures(signatures, first, n));
    first += n;
  }
  auto probes = shared_probes(counts);
  if (!probes) return std::nullopt;  // not History's
  auto uses = TextUses::decode(data, std::move(*probes));
  if (!uses) return std::nullopt;
  t.uses = std::move(*uses);
  return t;
}

}  // namespace dw::drift
