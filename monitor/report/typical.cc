#include "report/typical.h"

#include <map>
#include <vector>

#include "report/text.h"

namespace dw::report {
namespace {

struct Candidate {
  int64_t sample_id = 0;
  Time run_at;
  std::string verdict;
  std::string text;
  long count = 0;
};

}  // namespace

Result<TypicalSide> typical_side(store::Store& store, const TypicalQuery& query) {
  TypicalSide side;
  side.from = query.from;
  side.until = query.until;
  std::vector<Candidate> candidates;
  std::map<std::string, size_t> by_hash;

  store::SampleFilter filter{.endpoint = query.endpoint,
                             .probe_id = query.probe_id,
                             .probe_version = query.probe_version,
                             .since = query.from,
                             .until = query.until};
  auto status = store.for_each_sample(filter, [&](const store::SampleRow& row) {
    std::string verdict = row.classification ? row.classification->verdict : "";
    side.verdicts.add(verdict_index(verdict));
    if (row.response_hash.empty()) return true;
    ++side.texts;
    auto found = by_hash.find(row.response_hash);
    if (found != by_hash.end()) {
      ++candidates[found->second].count;
    } else if (candidates.size() < query.max_texts) {
      by_hash.emplace(row.response_hash, candidates.size());
      candidates.push_back(
          {row.id, row.run_at, verdict, sanitise_untrusted(row.sample.text), 1});
    }
    return true;
  });
  if (!status) return status.error();
  if (candidates.empty()) return side;

  std::vector<std::string> texts;
  std::vector<long> counts;
  for (const auto& c : candidates) {
    texts.push_back(c.text);
    counts.push_back(c.count);
  }
  Candidate& typical = candidates[medoid(texts, counts)];
  side.sample_id = typical.sample_id;
  side.run_at = typical.run_at;
  side.verdict = typical.verdict;
  side.text = std::move(typical.text);
  return side;
}

}  // namespace dw::report
