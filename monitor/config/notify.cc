#include "config/notify.h"

#include <cctype>
#include <map>

namespace dw::config::detail {
namespace {

constexpr std::string_view kUrlSources =
    "url_env = \"VARIABLE\", url_file = \"PATH\" or url_credential = \"NAME\" (a systemd "
    "credential)";
constexpr std::string_view kPasswordSources =
    "password_env = \"VARIABLE\", password_file = \"PATH\" or password_credential = \"NAME\"";

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

// A mail address as it goes into an SMTP envelope and a header: no spaces, brackets or line
// breaks (which would let a config value write headers of its own), one '@' with text on both
// sides.
bool valid_address(std::string_view a) {
  size_t at = a.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) return false;
  if (a.find('@', at + 1) != std::string_view::npos) return false;
  for (char c : a) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '<' || c == '>' || c == ',' || c == '"') return false;
  }
  return true;
}

// Empty when url is smtp:// or smtps:// with a host and no credentials; otherwise why not.
std::string check_smtp_url(std::string_view url) {
  std::string_view rest;
  if (url.substr(0, 7) == "smtp://") {
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "smtps://") {
    rest = url.substr(8);
  } else {
    return "must start with smtp:// or smtps://";
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return "must not contain spaces or control characters";
    }
  }
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) {
    return "must not carry credentials (user:password@); use username and password_env, "
           "password_file or password_credential";
  }
  if (authority.empty() || authority.front() == ':') return "has no host";
  return {};
}

void read_events_on(Reader& r, const toml::table& t, Notify& n) {
  auto on = r.strings(t, "on");
  if (!on) return;
  if (on->empty()) {
    r.error(*t.get("on"), "'on' must list at least one of \"events\" and \"reports\"");
    return;
  }
  n.on_events = n.on_reports = false;
  for (const auto& item : *on) {
    if (item.value == "events") {
      n.on_events = true;
    } else if (item.value == "reports") {
      n.on_reports = true;
    } else {
      r.error(*item.node, "unknown value '" + item.value + "' in 'on' (known: events, reports)");
    }
  }
}

std::optional<bool> boolean(Reader& r, const toml::table& t, std::string_view key) {
  const toml::node* node = t.get(key);
  if (node == nullptr) return std::nullopt;
  if (auto v = node->value_exact<bool>()) return v;
  r.error(*node, "'" + std::string(key) + "' must be true or false, not " + type_phrase(*node));
  return std::nullopt;
}

void read_email(Reader& r, const toml::table& t, const std::string& context, Notify& n) {
  auto missing = [&](std::string_view key) {
    r.error(n.where, "missing required key '" + std::string(key) + "' in " + context);
  };
  if (auto url = r.nonempty_string(t, "smtp_url")) {
    if (std::string why = check_smtp_url(*url); !why.empty()) {
      r.error(*t.get("smtp_url"), "'smtp_url' " + why + quoted_url(*url));
    } else {
      n.smtp_url = *url;
    }
  } else if (!t.contains("smtp_url")) {
    missing("smtp_url");
  }
  if (auto v = boolean(r, t, "starttls")) n.starttls = *v;
  if (auto from = r.nonempty_string(t, "from")) {
    if (valid_address(*from)) {
      n.from = *from;
    } else {
      r.error(*t.get("from"), "'from' must be a plain mail address such as "
                              "\"driftwatch@example.org\", not '" + *from + "'");
    }
  } else if (!t.contains("from")) {
    missing("from");
  }
  if (auto to = r.strings(t, "to")) {
    if (to->empty()) r.error(*t.get("to"), "'to' must list at least one address");
    for (const auto& item : *to) {
      if (valid_address(item.value)) {
        n.to.push_back(item.value);
      } else {
        r.error(*item.node, "'to' must hold plain mail addresses such as \"ops@example.org\", "
                            "not '" + item.value + "'");
      }
    }
  } else if (!t.contains("to")) {
    missing("to");
  }
  if (auto user = r.nonempty_string(t, "username")) n.username = *user;
  n.password.what = "SMTP password";
  read_secret_ref(r, t, "password", context, n.password);
  if (n.password.source != SecretRef::Source::none && n.username.empty() &&
      !t.contains("username")) {
    r.error(n.where, "a password is given in " + context + " but no 'username' to log in with");
  }
}

void read_webhook(Reader& r, const toml::table& t, const std::string& context, Notify& n) {
  n.url.what = "webhook URL";
  read_secret_ref(r, t, "url", context, n.url);
  if (n.url.source == SecretRef::Source::none && !t.contains("url_env") &&
      !t.contains("url_file") && !t.contains("url_credential")) {
    r.error(n.where, "missing webhook URL in " + context + "; say where it lives: " +
                         std::string(kUrlSources));
  }
}

std::optional<Notify> read_one(Reader& r, const toml::table& t, int index) {
  size_t errors_before = r.error_count();
  Notify n;
  n.where = r.where(t);
  std::string context = "[[notify]] #" + std::to_string(index);
  if (auto name = r.nonempty_string(t, "name")) {
    if (valid_name(*name)) {
      n.name = *name;
      context = "[[notify]] '" + n.name + "'";
    } else {
      r.error(*t.get("name"), "'name' must be 1-64 letters, digits, '-', '_' or '.', not '" +
                                  *name + "'");
    }
  } else if (!t.contains("name")) {
    r.error(n.where, "missing required key 'name' in " + context);
  }

  std::optional<std::string> kind = r.nonempty_string(t, "kind");
  if (!kind && !t.contains("kind")) {
    r.error(n.where, "missing required key 'kind' in " + context + " (\"webhook\" or \"email\")");
  }
  const bool email = kind && *kind == "email";
  if (kind && *kind != "email" && *kind != "webhook") {
    r.error(*t.get("kind"), "unknown notify kind '" + *kind + "' (kinds: webhook, email)");
    kind.reset();
  }
  n.kind = email ? Notify::Kind::email : Notify::Kind::webhook;

  // The literal forms would put the secret itself in the file.
  for (std::string_view literal : {"url", "password"}) {
    if (auto it = t.find(literal); it != t.end()) {
      r.error(r.where(it->first.source()),
              "'" + std::string(literal) + "' in " + context +
                  " would put a secret in the config file; say where it lives instead: " +
                  std::string(literal == "url" ? kUrlSources : kPasswordSources));
    }
  }
  if (!kind) {
    // Without a known kind the other keys cannot be judged; report only the kind.
  } else if (email) {
    r.check_keys(t, {"name", "kind", "on", "timeout", "smtp_url", "starttls", "from", "to",
                     "username", "password_env", "password_file", "password_credential"},
                 context, {"url", "password"});
    read_email(r, t, context, n);
  } else {
    r.check_keys(t, {"name", "kind", "on", "timeout", "url_env", "url_file", "url_credential"},
                 context, {"url", "password"});
    read_webhook(r, t, context, n);
  }
  read_events_on(r, t, n);
  using std::chrono::seconds;
  if (auto v = r.duration(t, "timeout", seconds(1), seconds(600))) n.timeout = *v;
  if (r.error_count() != errors_before) return std::nullopt;
  return n;
}

}  // namespace

void read_secret_ref(Reader& r, const toml::table& t, const std::string& prefix,
                     const std::string& context, SecretRef& ref) {
  const std::pair<std::string, SecretRef::Source> sources[] = {
      {prefix + "_env", SecretRef::Source::env},
      {prefix + "_file", SecretRef::Source::file},
      {prefix + "_credential", SecretRef::Source::credential},
  };
  std::string first;
  for (const auto& [key, source] : sources) {
    auto value = r.nonempty_string(t, key);
    if (!value) continue;
    if (!first.empty()) {
      r.error(r.where(t.find(key)->first.source()),
              "'" + key + "' and '" + first + "' both given in " + context + "; use only one of " +
                  prefix + "_env, " + prefix + "_file and " + prefix + "_credential");
      continue;
    }
    first = key;
    ref.source = source;
    if (source == SecretRef::Source::file) {
      ref.name = r.resolve(*value).string();
    } else if (source == SecretRef::Source::credential && value->find('/') != std::string::npos) {
      r.error(*t.get(key), "'" + key + "' is a credential name, not a path: '" + *value + "'");
    } else {
      ref.name = *value;
    }
  }
}

void read_notify(Reader& r, const toml::table& root, Config& c) {
  const toml::node* node = root.get("notify");
  if (node == nullptr) return;
  const toml::array* array = node->as_array();
  if (array == nullptr || !array->is_array_of_tables()) {
    r.error(*node, "'notify' must be an array of tables: write each one as [[notify]]");
    return;
  }
  std::map<std::string, int> seen;  // name -> line of its first definition
  int index = 0;
  for (const toml::node& element : *array) {
    const toml::table& t = *element.as_table();
    ++index;
    if (const toml::node* name = t.get("name"); name != nullptr && name->is_string()) {
      std::string text = *name->value_exact<std::string>();
      auto [it, inserted] = seen.emplace(text, r.where(*name).line);
      if (!inserted) {
        r.error(*name, "duplicate notify name '" + text + "' (first defined at line " +
                           std::to_string(it->second) + ")");
      }
    }
    if (auto n = read_one(r, t, index)) c.notify.push_back(std::move(*n));
  }
}

}  // namespace dw::config::detail
