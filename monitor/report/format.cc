#include "report/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dw::report {
namespace {

using nlohmann::json;

std::string join(const std::vector<std::string>& parts, const char* sep = ", ") {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

std::string scalar_text(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer() || j.is_number_unsigned()) return j.dump();
  if (j.is_number()) return number_text(j.get<double>());
  if (j.is_boolean()) return j.get<bool>() ? "yes" : "no";
  if (j.is_null()) return "none";
  if (j.is_array()) {
    std::vector<std::string> parts;
    for (const auto& x : j) parts.push_back(scalar_text(x));
    return join(parts);
  }
  if (j.is_object()) {  // {"name": count}
    std::vector<std::string> parts;
    for (const auto& [k, v] : j.items()) parts.push_back(k + " " + scalar_text(v));
    return join(parts);
  }
  return j.dump();
}

// {"answered": 27, "refused": 0, ...} in the report's verdict order, zeros left out.
std::string verdicts_text(const json& verdicts) {
  if (!verdicts.is_object()) return scalar_text(verdicts);
  std::vector<std::string> parts;
  for (auto name : kVerdicts) {
    auto it = verdicts.find(std::string(name));
    if (it != verdicts.end() && !(it->is_number() && it->get<double>() == 0))
      parts.push_back(std::string(name) + " " + scalar_text(*it));
  }
  return parts.empty() ? "none" : join(parts);
}

std::string count_of(const json& n, const char* noun) {
  return scalar_text(n) + " " + noun + (n.is_number() && n.get<double>() == 1 ? "" : "s");
}

// One side of an event (detector.h "Event JSON") in a sentence, from whatever keys it has.
std::string side_text(const json& side) {
  if (!side.is_object() || side.empty()) return "";
  std::vector<std::string> parts;
  auto has = [&](const char* k) { return side.contains(k) && !side[k].is_null(); };
  if (has("from") && has("to"))
    parts.push_back(scalar_text(side["from"]) + " to " + scalar_text(side["to"]));
  if (has("runs")) parts.push_back(count_of(side["runs"], "run"));
  if (has("samples")) parts.push_back(count_of(side["samples"], "sample"));
  if (has("verdicts")) parts.push_back(verdicts_text(side["verdicts"]));
  if (has("errors")) parts.push_back(count_of(side["errors"], "error"));
  if (has("error_share"))
    parts.push_back("error share " + percent(side["error_share"].get<double>()));
  if (has("narrative")) parts.push_back(scalar_text(side["narrative"]) + " narrative");
  if (has("expect_coverage"))
    parts.push_back("expect coverage " + percent(side["expect_coverage"].get<double>()));
  if (has("similarity")) parts.push_back("similarity " + scalar_text(side["similarity"]));
  if (has("template_samples"))
    parts.push_back(scalar_text(side["template_samples"]) + " template samples");
  if (has("probes")) parts.push_back("probes " + scalar_text(side["probes"]));
  if (has("models")) parts.push_back("models " + scalar_text(side["models"]));
  if (has("fingerprints")) parts.push_back("fingerprints " + scalar_text(side["fingerprints"]));
  return join(parts, "; ");
}

}  // namespace

std::string number_text(double x) {
  if (!std::isfinite(x)) return "none";
  char buf[32];
  if (x != 0 && std::fabs(x) < 0.001) {
    std::snprintf(buf, sizeof buf, "%.2g", x);
  } else {
    std::snprintf(buf, sizeof buf, "%.3g", x);
  }
  return buf;
}

std::string percent(std::optional<double> share) {
  if (!share) return "–";
  return std::to_string(static_cast<long>(std::lround(*share * 100))) + "%";
}

std::string change_points(std::optional<double> before, std::optional<double> now) {
  if (!before || !now) return "";
  long d = std::lround(*now * 100) - std::lround(*before * 100);
  if (d > 0) return "+" + std::to_string(d);
  return std::to_string(d);
}

std::string counts_text(const VerdictCounts& counts) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < kVerdicts.size(); ++i)
    if (counts.n[i] > 0) parts.push_back(std::string(kVerdicts[i]) + " " + std::to_string(counts.n[i]));
  if (counts.unclassified > 0) parts.push_back("unclassified " + std::to_string(counts.unclassified));
  return parts.empty() ? "none" : join(parts);
}

std::string sparkline(const std::vector<DayCounts>& days) {
  static const char* const kBars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  std::string out;
  for (const auto& d : days) {
    auto share = d.counts.censored_share();
    if (!share) {
      out += "·";
      continue;
    }
    auto level = static_cast<long>(std::lround(*share * 7));
    out += kBars[std::clamp<long>(level, 0, 7)];
  }
  return out;
}

std::string period_text(Time since, Time until) {
  return format_time(since) + " – " + format_time(until);
}

std::string event_subject(const EventEntry& e) {
  std::string s = e.endpoint.empty() ? "all endpoints" : e.endpoint;
  if (!e.probe_id.empty()) s += " / " + e.probe_id;
  return s;
}

std::vector<std::pair<std::string, std::string>> evidence_facts(const EventEntry& e) {
  std::vector<std::pair<std::string, std::string>> facts;
  const json& ev = e.evidence;
  auto add = [&](std::string label, std::string value) {
    if (!value.empty()) facts.emplace_back(std::move(label), std::move(value));
  };
  auto field = [&](const char* key) -> std::string {
    auto it = ev.find(key);
    return it == ev.end() || it->is_null() ? "" : scalar_text(*it);
  };
  add("before", side_text(e.before));
  add("after", side_text(e.after));
  std::string test = field("test");
  if (!test.empty() && ev.contains("measure")) test += " test on " + field("measure");
  add("test", test);
  add("p-value", field("p"));
  add("q-value (Benjamini-Hochberg)", field("q"));
  add("effect (total variation)", field("effect"));
  std::vector<std::string> thresholds;
  if (ev.contains("alpha")) thresholds.push_back("alpha " + field("alpha"));
  if (ev.contains("min_effect")) thresholds.push_back("min effect " + field("min_effect"));
  if (ev.contains("pairs_tested")) thresholds.push_back(field("pairs_tested") + " pairs tested");
  if (ev.contains("window_runs")) thresholds.push_back(field("window_runs") + " recent runs");
  add("thresholds", join(thresholds));
  add("scope", e.scope);
  if (auto c = ev.find("controls"); c != ev.end() && c->is_object()) {
    std::string text = c->contains("tested") ? scalar_text((*c)["tested"]) + " tested" : "";
    if (c->contains("moved") && !(*c)["moved"].empty())
      text += (text.empty() ? "" : "; ") + std::string("moved: ") + scalar_text((*c)["moved"]);
    else if (!text.empty())
      text += "; none moved";
    add("control probes", text);
  }
  add("template", field("text"));
  add("template probes", field("probes"));
  add("new models", field("new_models"));
  add("new fingerprints", field("new_fingerprints"));
  add("resolution", field("resolution"));
  if (auto r = ev.find("resolved_after"); r != ev.end()) add("resolved by", side_text(*r));
  add("example samples", field("sample_ids"));
  return facts;
}

}  // namespace dw::report
