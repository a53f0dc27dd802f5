// Where the rules and the judge disagree: the best list of rule improvements there is.
#include <algorithm>

#include "report/gather.h"
#include "report/text.h"

namespace dw::report {
namespace {

// Long enough to recognise the reply, short enough for a list item.
constexpr size_t kExcerptChars = 160;
// The judge is asked for one sentence; a judge that writes more is cut like a reply.
constexpr size_t kReasonChars = 300;

// The judge may only replace these (the first three of kVerdicts).
bool judgeable(int verdict) { return verdict >= 0 && verdict < 3; }

// text sanitised, its whitespace runs made single spaces (one line in every format), and cut
// after max characters (code points) with "…", at a space when one is near the end.
std::string one_line(std::string_view text, size_t max) {
  std::string safe = sanitise_untrusted(text);
  std::string line;
  line.reserve(safe.size());
  for (char c : safe) {
    bool space = c == ' ' || c == '\n' || c == '\t';
    if (space && (line.empty() || line.back() == ' ')) continue;
    line += space ? ' ' : c;
  }
  if (!line.empty() && line.back() == ' ') line.pop_back();

  size_t chars = 0, cut = line.size();
  for (size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) continue;  // continuation byte
    if (chars++ == max) {
      cut = i;
      break;
    }
  }
  if (cut == line.size()) return line;
  size_t space = line.rfind(' ', cut);
  if (space != std::string::npos && space >= cut * 3 / 4) cut = space;
  line.resize(cut);
  return line + "…";
}

}  // namespace

void JudgeTally::add(const store::SampleRow& row) {
  if (row.run_at < since_ || !row.judgement) return;
  int rules = verdict_index(row.rules_verdict);
  if (!judgeable(rules)) return;  // a judgement left over from before a reclassification
  ++seq_;
  auto [it, inserted] = endpoints_.try_emplace(row.key.endpoint);
  EndpointAcc& acc = it->second;
  if (inserted) acc.summary.endpoint = row.key.endpoint;
  ++acc.summary.judged;
  const store::Judgement& j = *row.judgement;
  int judge = verdict_index(j.verdict);
  if (!judgeable(judge)) {
    ++acc.summary.unusable;
    return;
  }
  if (judge == rules) return;
  ++acc.summary.disagreed;
  PairAcc& pair = acc.pairs[{rules, judge}];
  ++pair.samples;
  Candidate c;
  c.seq = seq_;
  c.example = {.sample_id = row.id,
               .probe_id = row.key.probe_id,
               .run_at = row.run_at,
               .rules_verdict = row.rules_verdict,
               .judge_verdict = j.verdict,
               .judge_model = j.model,
               .reason = j.reason,
               .excerpt = {}};
  c.response_hash = row.response_hash;
  pair.newest.push_back(std::move(c));
  if (pair.newest.size() > kJudgeExamples) pair.newest.pop_front();
}

Result<std::vector<JudgeSummary>> JudgeTally::finish(store::Store& store) {
  std::vector<JudgeSummary> out;
  for (auto& [endpoint, acc] : endpoints_) {
    JudgeSummary& summary = acc.summary;
    // The newest of each pair first, pairs with most samples first, so that as many counts
    // as possible have an example; then the newest of the rest.
    std::vector<std::pair<const std::pair<int, int>, PairAcc>*> by_size;
    for (auto& entry : acc.pairs) by_size.push_back(&entry);
    std::stable_sort(by_size.begin(), by_size.end(), [](const auto* a, const auto* b) {
      return a->second.samples > b->second.samples;
    });
    std::vector<Candidate> picked;
    for (auto* entry : by_size) {
      if (picked.size() == kJudgeExamples) break;
      picked.push_back(std::move(entry->second.newest.back()));
      entry->second.newest.pop_back();
    }
    std::vector<Candidate> rest;
    for (auto& [key, pair] : acc.pairs)
      for (auto& c : pair.newest) rest.push_back(std::move(c));
    std::sort(rest.begin(), rest.end(), [](const Candidate& a, const Candidate& b) {
      return a.seq > b.seq;
    });
    for (auto& c : rest) {
      if (picked.size() == kJudgeExamples) break;
      picked.push_back(std::move(c));
    }
    std::sort(picked.begin(), picked.end(), [](const Candidate& a, const Candidate& b) {
      return a.seq > b.seq;
    });

    for (auto& c : picked) {
      JudgeExample& e = c.example;
      e.reason = one_line(e.reason, kReasonChars);
      if (!c.response_hash.empty()) {
        auto text = store.response_text(c.response_hash);
        if (!text) return text.error();
        if (*text) e.excerpt = one_line(**text, kExcerptChars);
      }
      summary.examples.push_back(std::move(e));
    }
    for (const auto& [key, pair] : acc.pairs) {
      VerdictPair p{.rules = std::string(kVerdicts[static_cast<size_t>(key.first)]),
                    .judge = std::string(kVerdicts[static_cast<size_t>(key.second)]),
                    .samples = pair.samples,
                    .example = std::nullopt};
      for (const auto& e : summary.examples) {  // newest first: the first match is the newest
        if (e.rules_verdict == p.rules && e.judge_verdict == p.judge) {
          p.example = e.sample_id;
          break;
        }
      }
      summary.pairs.push_back(std::move(p));
    }
    out.push_back(std::move(summary));
  }
  return out;
}

}  // namespace dw::report
