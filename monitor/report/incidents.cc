#include "report/incidents.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <tuple>

#include "drift/detector.h"
#include "report/model.h"

namespace dw::report {
namespace {

using nlohmann::json;

// An event with what grouping needs of it.
struct Item {
  const EventEntry* e = nullptr;
  long ordinal = 0;
  IncidentKind kind = IncidentKind::other;
  std::string key;  // the subject key; events group only under the same endpoint and key
  std::vector<std::string> template_probes;  // canned_template: evidence "probes"
};

// An incident being built: its items and the key it was grouped under.
struct Group {
  std::vector<const Item*> items;
  IncidentKind kind = IncidentKind::other;
  std::string key;
  std::string endpoint;
  long min_ordinal = 0;
  long max_ordinal = 0;
  std::set<std::string> probes;
  std::string referenced_reply;  // a stock reply of a template incident it shares probes with

  bool chains(long ordinal) const {
    return ordinal >= min_ordinal - 1 && ordinal <= max_ordinal + 1;
  }
  void add(const Item& item) {
    if (items.empty()) min_ordinal = max_ordinal = item.ordinal;
    min_ordinal = std::min(min_ordinal, item.ordinal);
    max_ordinal = std::max(max_ordinal, item.ordinal);
    items.push_back(&item);
    if (!item.e->probe_id.empty()) probes.insert(item.e->probe_id);
    probes.insert(item.template_probes.begin(), item.template_probes.end());
  }
};

// The censorship types about one probe's answers (drift::is_censorship lives in dw_drift, which
// reports do not link; canned_template is handled on its own).
bool about_a_probe(std::string_view type) {
  return type == drift::kVerdictShift || type == drift::kContentShift ||
         type == drift::kNarrativeShift;
}

long ordinal_of(Time t, std::span<const Time> run_times) {
  if (run_times.empty()) {
    return static_cast<long>(std::chrono::floor<std::chrono::days>(t.time_since_epoch()).count());
  }
  auto it = std::upper_bound(run_times.begin(), run_times.end(), t);
  return it == run_times.begin() ? 0 : static_cast<long>(it - run_times.begin()) - 1;
}

std::string string_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> string_list(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

Item make_item(const EventEntry& e, std::span<const Time> run_times) {
  Item item;
  item.e = &e;
  item.ordinal = ordinal_of(e.detected_at, run_times);
  if (e.type == drift::kCannedTemplate) {
    item.kind = IncidentKind::template_reply;
    std::string hash = string_field(e.evidence, "template_hash");
    item.key = "template:" + (hash.empty() ? string_field(e.evidence, "text") : hash);
    item.template_probes = string_list(e.evidence, "probes");
  } else if (e.type == drift::kEndpointHealth) {
    item.kind = IncidentKind::health;
    item.key = "health";
  } else if (e.type == drift::kModelChange) {
    item.kind = IncidentKind::model_change;
    item.key = "model";
  } else if (about_a_probe(e.type) && !e.category.empty()) {
    item.kind = IncidentKind::category;
    item.key = "category:" + e.category;
  } else if (about_a_probe(e.type) && !e.probe_id.empty()) {
    item.kind = IncidentKind::probe;
    item.key = "probe:" + e.probe_id;
  } else {
    item.kind = IncidentKind::other;
    item.key = "type:" + e.type;
  }
  return item;
}

// Items (sorted by endpoint, key, ordinal) into groups of chaining ordinals.
void chain(const std::vector<const Item*>& sorted, std::vector<Group>& groups) {
  for (const Item* item : sorted) {
    Group* last = groups.empty() ? nullptr : &groups.back();
    if (last == nullptr || last->endpoint != item->e->endpoint || last->key != item->key ||
        !last->chains(item->ordinal)) {
      Group& g = groups.emplace_back();
      g.kind = item->kind;
      g.key = item->key;
      g.endpoint = item->e->endpoint;
    }
    groups.back().add(*item);
  }
}

bool shares_probe(const Group& g, const Item& t) {
  return std::any_of(t.template_probes.begin(), t.template_probes.end(),
                     [&](const std::string& p) { return g.probes.count(p) > 0; });
}

bool about_probes(IncidentKind k) {
  return k == IncidentKind::category || k == IncidentKind::probe;
}

// The most frequent verdict of a detector side ("verdicts" object), first in kVerdicts order
// on ties; "" when the side has none.
std::string dominant(const json& side) {
  auto it = side.find("verdicts");
  if (it == side.end() || !it->is_object()) return "";
  std::string best;
  double most = 0;
  for (std::string_view v : kVerdicts) {
    auto c = it->find(std::string(v));
    if (c == it->end() || !c->is_number()) continue;
    double n = c->get<double>();
    if (n > most) best = std::string(v), most = n;
  }
  return best;
}

std::string verdict_change(const std::vector<const Item*>& items) {
  std::vector<std::pair<std::string, int>> pairs;  // in order of first use
  for (const Item* item : items) {
    if (item->e->type != drift::kVerdictShift) continue;
    std::string a = dominant(item->e->before), b = dominant(item->e->after);
    if (a.empty() || b.empty() || a == b) continue;
    std::string pair = a + " -> " + b;
    auto it =
        std::find_if(pairs.begin(), pairs.end(), [&](const auto& p) { return p.first == pair; });
    if (it == pairs.end()) {
      pairs.emplace_back(pair, 1);
    } else {
      ++it->second;
    }
  }
  // max_element keeps the first of equals: the pair of the earliest event wins ties.
  auto best = std::max_element(pairs.begin(), pairs.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  return best == pairs.end() ? "" : best->first;
}

// The first kSubjectChars characters of text, cut at the last space when there is one past
// half of it, without trailing punctuation, "..." added when cut; on one line.
std::string reply_start(std::string_view text) {
  std::string line(text);
  auto breaks_line = [](char c) { return c == '\n' || c == '\t' || c == '\r'; };
  std::replace_if(line.begin(), line.end(), breaks_line, ' ');
  size_t chars = 0, cut = line.size();
  for (size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) continue;  // continuation byte
    if (chars == kSubjectChars) {
      cut = i;
      break;
    }
    ++chars;
  }
  if (cut == line.size()) return line;
  size_t space = line.rfind(' ', cut);
  if (space != std::string::npos && space > cut / 2) cut = space;
  constexpr std::string_view kTrailing = ".,;:!? ";
  while (cut > 0 && kTrailing.find(line[cut - 1]) != std::string_view::npos) --cut;
  return line.substr(0, cut) + "...";
}

// probe_langs: every probe's language tag known (events' own first).
Incident build(const Group& g, const std::map<std::string, std::string>& probe_langs) {
  std::vector<const Item*> items = g.items;
  std::sort(items.begin(), items.end(), [](const Item* a, const Item* b) {
    return std::tie(a->e->detected_at, a->e->id) < std::tie(b->e->detected_at, b->e->id);
  });
  Incident inc;
  inc.id = items.front()->e->id;
  inc.endpoint = g.endpoint;
  inc.kind = g.kind;
  inc.detected_at = items.front()->e->detected_at;
  inc.probes.assign(g.probes.begin(), g.probes.end());
  std::set<std::string> langs;
  bool all_resolved = true;
  size_t template_probes = 0;
  for (const Item* item : items) {
    const EventEntry& e = *item->e;
    inc.event_ids.push_back(e.id);
    if (std::find(inc.types.begin(), inc.types.end(), e.type) == inc.types.end())
      inc.types.push_back(e.type);
    if (e.scope == "broad" || (e.scope == "targeted" && inc.scope.empty())) inc.scope = e.scope;
    inc.is_new |= e.lifecycle == Lifecycle::new_event;
    if (e.resolved && e.resolved_at) {
      inc.resolved_at = std::max(inc.resolved_at.value_or(*e.resolved_at), *e.resolved_at);
    } else {
      all_resolved = false;
    }
    // The stock reply of the template with the most probes (the first of equals).
    if (e.type == drift::kCannedTemplate &&
        (inc.stock_reply.empty() || item->template_probes.size() > template_probes)) {
      std::string text = string_field(e.evidence, "text");
      if (!text.empty()) inc.stock_reply = text, template_probes = item->template_probes.size();
    }
  }
  for (const auto& p : inc.probes) {
    if (auto it = probe_langs.find(p); it != probe_langs.end() && !it->second.empty())
      langs.insert(it->second);
  }
  inc.langs.assign(langs.begin(), langs.end());
  inc.open = !all_resolved;
  if (inc.open) inc.resolved_at.reset();
  if (inc.stock_reply.empty()) inc.stock_reply = g.referenced_reply;
  inc.verdict_change = verdict_change(items);

  const EventEntry& first = *items.front()->e;
  switch (g.kind) {
    case IncidentKind::category: inc.subject = first.category; break;
    case IncidentKind::probe: inc.subject = first.probe_id; break;
    case IncidentKind::template_reply: inc.subject = reply_start(inc.stock_reply); break;
    case IncidentKind::health: inc.subject = "endpoint health"; break;
    case IncidentKind::model_change: inc.subject = "model change"; break;
    case IncidentKind::other: inc.subject = first.type; break;
  }
  return inc;
}

std::string join_and(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

std::string type_words(std::string_view type) {
  if (type == drift::kVerdictShift) return "verdicts changed";
  if (type == drift::kContentShift) return "answers changed";
  if (type == drift::kNarrativeShift) return "narrative changed";
  if (type == drift::kCannedTemplate) return "one stock reply for several probes";
  if (type == drift::kEndpointHealth) return "errors rose";
  if (type == drift::kModelChange) return "reported model changed";
  return std::string(type);
}

}  // namespace

std::string_view to_string(IncidentKind k) {
  switch (k) {
    case IncidentKind::category: return "category";
    case IncidentKind::probe: return "probe";
    case IncidentKind::template_reply: return "template";
    case IncidentKind::health: return "health";
    case IncidentKind::model_change: return "model_change";
    case IncidentKind::other: return "other";
  }
  return "other";
}

std::vector<Incident> group_incidents(const std::vector<EventEntry>& events,
                                      std::span<const Time> run_times,
                                      const std::map<std::string, std::string>& probe_langs) {
  std::vector<Item> items;
  items.reserve(events.size());
  for (const auto& e : events) items.push_back(make_item(e, run_times));
  std::vector<const Item*> sorted;
  for (const auto& item : items) sorted.push_back(&item);
  std::sort(sorted.begin(), sorted.end(), [](const Item* a, const Item* b) {
    return std::tie(a->e->endpoint, a->key, a->ordinal, a->e->detected_at, a->e->id) <
           std::tie(b->e->endpoint, b->key, b->ordinal, b->e->detected_at, b->e->id);
  });

  // Everything but templates first: templates then join the probe incidents they explain.
  std::vector<const Item*> plain, templates;
  for (const Item* item : sorted)
    (item->kind == IncidentKind::template_reply ? templates : plain).push_back(item);
  std::vector<Group> groups;
  chain(plain, groups);
  std::vector<const Item*> alone;
  for (const Item* t : templates) {
    std::vector<Group*> matches;
    for (auto& g : groups) {
      if (about_probes(g.kind) && g.endpoint == t->e->endpoint && g.chains(t->ordinal) &&
          shares_probe(g, *t))
        matches.push_back(&g);
    }
    if (matches.size() == 1) {
      matches.front()->add(*t);
      continue;
    }
    alone.push_back(t);
    std::string text = string_field(t->e->evidence, "text");
    for (Group* g : matches) {
      if (g->referenced_reply.empty()) g->referenced_reply = text;
    }
  }
  chain(alone, groups);

  // Languages of the probes templates name: from any event about the probe, else the caller's.
  std::map<std::string, std::string> langs = probe_langs;
  for (const auto& e : events)
    if (!e.probe_id.empty() && !e.lang.empty()) langs[e.probe_id] = e.lang;

  std::vector<Incident> out;
  std::map<std::tuple<std::string, std::string>, std::set<std::string>> seen;  // key, day
  for (const auto& g : groups) {
    out.push_back(build(g, langs));
    seen[{g.key, format_date(out.back().detected_at)}].insert(g.endpoint);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    Incident& inc = out[i];
    for (const auto& name : seen[{groups[i].key, format_date(inc.detected_at)}]) {
      if (name != inc.endpoint) inc.also_seen_on.push_back(name);
    }
    inc.shared_change = inc.kind == IncidentKind::category && !inc.also_seen_on.empty();
  }
  std::stable_sort(out.begin(), out.end(), [](const Incident& a, const Incident& b) {
    return std::make_tuple(!a.is_new, a.detected_at, a.id) <
           std::make_tuple(!b.is_new, b.detected_at, b.id);
  });
  return out;
}

json incident_json(const Incident& inc) {
  auto text_or_null = [](const std::string& s) { return s.empty() ? json() : json(s); };
  return {{"id", inc.id},
          {"endpoint", text_or_null(inc.endpoint)},
          {"kind", std::string(to_string(inc.kind))},
          {"subject", inc.subject},
          {"events", inc.event_ids},
          {"types", inc.types},
          {"probes", inc.probes},
          {"langs", inc.langs},
          {"verdict_change", text_or_null(inc.verdict_change)},
          {"scope", text_or_null(inc.scope)},
          {"detected_at", format_time(inc.detected_at)},
          {"resolved_at", inc.resolved_at ? json(format_time(*inc.resolved_at)) : json()},
          {"open", inc.open},
          {"new", inc.is_new},
          {"stock_reply", text_or_null(inc.stock_reply)},
          {"also_seen_on", inc.also_seen_on},
          {"shared_change", inc.shared_change},
          {"summary", describe(inc)}};
}

std::string describe(const Incident& inc) {
  std::string line = inc.endpoint.empty() ? "all endpoints" : inc.endpoint;
  std::string probes;
  if (!inc.probes.empty()) {
    probes = std::to_string(inc.probes.size()) + (inc.probes.size() == 1 ? " probe" : " probes");
    if (!inc.langs.empty()) {
      std::string langs;
      for (const auto& l : inc.langs) langs += (langs.empty() ? "" : ", ") + l;
      probes += " (" + langs + ")";
    }
  }
  std::vector<std::string> changes;
  if (inc.kind == IncidentKind::template_reply) {
    line += ", stock reply '" + inc.subject + "'";
    if (!probes.empty()) line += " to " + probes;
  } else {
    line += ", " + inc.subject + ":";
    if (!probes.empty()) line += " " + probes;
    if (!inc.verdict_change.empty()) changes.push_back(inc.verdict_change);
    for (const auto& type : inc.types) {
      if (type == drift::kVerdictShift && !inc.verdict_change.empty()) continue;
      // A joined template is told by the "stock reply" part.
      if (type == drift::kCannedTemplate && !inc.stock_reply.empty()) continue;
      changes.push_back(type_words(type));
    }
  }
  if (!changes.empty()) line += " " + join_and(changes);
  std::string since = format_date(inc.detected_at);
  if (inc.kind == IncidentKind::model_change) {
    line += " on " + since;
  } else if (!inc.open && inc.resolved_at) {
    line += " from " + since + " to " + format_date(*inc.resolved_at);
  } else {
    line += " since " + since;
  }
  if (inc.scope == "broad") line += ", broad (control probes moved too)";
  if (!inc.stock_reply.empty() && inc.kind != IncidentKind::template_reply)
    line += "; stock reply '" + reply_start(inc.stock_reply) + "'";
  if (!inc.also_seen_on.empty()) {
    line += "; also seen on " + join_and(inc.also_seen_on) + " the same day";
    if (inc.shared_change) line += " (shared upstream change or filter)";
  }
  return line;
}

}  // namespace dw::report
