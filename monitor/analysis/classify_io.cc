#include "analysis/classify_io.h"

#include "input/json.h"

namespace dw::analysis {
namespace {

// Reads an optional string field; a JSON object or array in `body` is taken as its text.
Status read_string(const nlohmann::ordered_json& record, const char* key, std::string& out,
                   bool allow_structured = false) {
  auto it = record.find(key);
  if (it == record.end() || it->is_null()) return Status::Ok();
  if (it->is_string()) {
    out = it->get<std::string>();
    return Status::Ok();
  }
  if (allow_structured && (it->is_object() || it->is_array())) {
    out = it->dump();
    return Status::Ok();
  }
  return Error(std::string("'") + key + "' must be a string");
}

}  // namespace

Result<nlohmann::ordered_json> classify_record(const RuleSet& rules, std::string_view line,
                                       bool explain) {
  auto parsed = input::parse_ordered_json(line);
  if (!parsed) {
    return Error("not valid JSON at column " + std::to_string(parsed.error().column) + ": " +
                 parsed.error().message);
  }
  nlohmann::ordered_json record = std::move(parsed).value();
  return classify_object(rules, std::move(record), explain);
}

Result<nlohmann::ordered_json> classify_object(const RuleSet& rules, nlohmann::ordered_json record,
                                       bool explain) {
  if (!record.is_object()) return Error("not a JSON object");
  std::string prompt, response, lang, body, finish_reason, error, block_reason;
  for (auto [key, out, structured] :
       {std::tuple{"prompt", &prompt, false}, std::tuple{"lang", &lang, false},
        std::tuple{"body", &body, true}, std::tuple{"finish_reason", &finish_reason, false},
        std::tuple{"error", &error, false}, std::tuple{"block_reason", &block_reason, false}}) {
    if (Status s = read_string(record, key, *out, structured); !s.ok()) return s.error();
  }
  ClassifyInput in;
  auto r = record.find("response");
  if (r != record.end() && !r->is_null()) {
    if (!r->is_string()) return Error("'response' must be a string");
    response = r->get<std::string>();
    in.response = response;
  }
  if (auto s = record.find("http_status"); s != record.end() && !s->is_null()) {
    if (!s->is_number_integer() || s->get<int64_t>() < 0 || s->get<int64_t>() > 999)
      return Error("'http_status' must be an integer from 0 to 999");
    in.http_status = s->get<int>();
  }
  std::optional<probes::ExpectMatcher> expect;
  if (auto e = record.find("expect"); e != record.end() && !e->is_null()) {
    std::vector<std::string> patterns;
    if (!e->is_array()) return Error("'expect' must be an array of strings");
    for (const auto& p : *e) {
      if (!p.is_string()) return Error("'expect' must be an array of strings");
      patterns.push_back(p.get<std::string>());
    }
    auto compiled = probes::ExpectMatcher::create(patterns);
    if (!compiled) return compiled.error();
    expect = std::move(compiled).value();
  }
  in.prompt = prompt;
  in.lang = lang;
  in.body = body;
  in.finish_reason = finish_reason;
  in.error = error;
  in.block_reason = block_reason;

  Classification c = classify(rules, in, expect ? &*expect : nullptr);
  record["verdict"] = verdict_name(c.verdict);
  record["signals"] = c.signals;
  record["narrative"] = c.narrative;
  record["uncertain"] = c.uncertain;
  if (c.expect_coverage) record["expect_coverage"] = *c.expect_coverage;
  if (explain) {
    nlohmann::ordered_json why = explanation(c);
    record["why"] = c.why;
    record["margin"] = why["margin"];
    record["fired"] = std::move(why["fired"]);
  }
  return record;
}

}  // namespace dw::analysis
