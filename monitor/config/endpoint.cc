#include "config/endpoint.h"

#include <array>
#include <cctype>

#include "common/strings.h"

namespace dw::config {
namespace {

constexpr std::array<std::pair<EndpointKind, std::string_view>, 4> kKinds{{
    {EndpointKind::openai, "openai"},
    {EndpointKind::anthropic, "anthropic"},
    {EndpointKind::ollama, "ollama"},
    {EndpointKind::gemini, "gemini"},
}};

// Headers that carry credentials: allowing them would put a key in the config file.
constexpr std::array<std::string_view, 6> kSecretHeaders{
    "authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie"};

constexpr std::string_view kKeySources =
    "api_key_env = \"VARIABLE\", api_key_file = \"PATH\" or api_key_credential = \"NAME\" "
    "(a systemd credential)";

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

bool is_header_token(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string_view kind_name(EndpointKind kind) {
  for (const auto& [k, name] : kKinds) {
    if (k == kind) return name;
  }
  return "unknown";
}

std::optional<EndpointKind> parse_kind(std::string_view name) {
  for (const auto& [k, n] : kKinds) {
    if (n == name) return k;
  }
  return std::nullopt;
}

std::string default_base_url(EndpointKind kind) {
  switch (kind) {
    case EndpointKind::openai: return "https://api.openai.com/v1";
    case EndpointKind::anthropic: return "https://api.anthropic.com";
    case EndpointKind::ollama: return "http://127.0.0.1:11434";
    case EndpointKind::gemini: return "https://generativelanguage.googleapis.com";
  }
  return {};
}

std::string Endpoint::request_url() const {
  switch (kind) {
    case EndpointKind::openai: return base_url + "/chat/completions";
    case EndpointKind::anthropic: return base_url + "/v1/messages";
    case EndpointKind::ollama: return base_url + "/api/chat";
    case EndpointKind::gemini: return base_url + "/v1beta/models/" + model + ":generateContent";
  }
  return base_url;
}

namespace detail {

std::string check_base_url(std::string_view url) {
  std::string_view rest;
  if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "https://") {
    rest = url.substr(8);
  } else {
    return "must start with http:// or https://";
  }
  for (char c : url) {
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c))) {
      return "must not contain spaces or control characters";
    }
  }
  if (url.find_first_of("?#") != std::string_view::npos) return "must not have a query or fragment";
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.find('@') != std::string_view::npos) {
    return "must not carry credentials (user:password@); use api_key_env or api_key_file";
  }
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return "has an unclosed '[' in its host";
    std::string_view after = host.substr(close + 1);
    if (!after.empty() && after.front() != ':') return "has junk after its IPv6 host";
    host = host.substr(0, close + 1);
    authority = after;
  } else {
    size_t colon = host.find(':');
    authority = colon == std::string_view::npos ? std::string_view() : host.substr(colon);
    host = host.substr(0, colon);
  }
  if (host.empty() || host == "[]") return "has no host";
  if (!authority.empty()) {
    std::string_view port = authority.substr(1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
      return "has an invalid port";
    }
  }
  return {};
}

namespace {

// What differs between an [[endpoint]] and the [judge]'s endpoint.
struct TableRole {
  std::string context;       // "[[endpoint]] #2", "[judge]"
  bool probed = true;        // an [[endpoint]]: its name is required, its keys checked here
};

std::optional<Endpoint> read_table(Reader& reader, const toml::table& t, TableRole role) {
  size_t errors_before = reader.error_count();
  Endpoint e;
  e.where = reader.where(t);
  std::string context = role.context;
  auto missing = [&](std::string_view key) {
    reader.error(e.where, "missing required key '" + std::string(key) + "' in " + context);
  };
  if (!role.probed) e.name = "judge";

  if (auto name = reader.nonempty_string(t, "name")) {
    bool valid = name->size() <= 64;
    for (char c : *name) valid = valid && is_name_char(c);
    if (valid) {
      e.name = *name;
      if (role.probed) context = "[[endpoint]] '" + e.name + "'";
    } else {
      reader.error(*t.get("name"), "'name' must be 1-64 letters, digits, '-', '_' or '.', not '" +
                                       *name + "'");
    }
  } else if (!t.contains("name") && role.probed) {
    missing("name");
  }

  if (role.probed) reader.check_keys(t, kEndpointKeys, context, {"api_key"});

  if (auto literal = t.find("api_key"); literal != t.end()) {
    reader.error(reader.where(literal->first.source()),
                 "'api_key' in " + context + " would put the key itself in the config file; "
                 "say where it lives instead: " + std::string(kKeySources));
  }

  if (auto kind = reader.nonempty_string(t, "kind")) {
    if (auto k = parse_kind(*kind)) {
      e.kind = *k;
    } else {
      std::vector<std::string> names;
      for (const auto& entry : kKinds) names.emplace_back(entry.second);
      std::string message = "unknown endpoint kind '" + *kind + "'";
      if (auto close = closest_match(*kind, names)) message += "; did you mean '" + *close + "'?";
      reader.error(*t.get("kind"), message + " (kinds: " + join_words(names) + ")");
    }
  } else if (!t.contains("kind")) {
    missing("kind");
  }

  if (auto model = reader.nonempty_string(t, "model")) {
    // Gemini names the model in the request's path (request_url()): a space, '/', '?' or '#'
    // there would fail every request (or read a stream as the answer) instead of here.
    const bool in_path = e.kind == EndpointKind::gemini;
    if (in_path && model->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789-._") != std::string::npos) {
      reader.error(*t.get("model"), "'model' of a gemini endpoint is part of the request's URL: "
                                    "letters, digits, '-', '.' and '_' only, not '" + *model + "'");
    } else {
      e.model = *model;
    }
  } else if (!t.contains("model")) {
    missing("model");
  }

  e.base_url = default_base_url(e.kind);
  if (auto url = reader.nonempty_string(t, "base_url")) {
    if (std::string why = check_base_url(*url); !why.empty()) {
      reader.error(*t.get("base_url"), "'base_url' " + why + quoted_url(*url));
    } else {
      while (url->back() == '/') url->pop_back();
      e.base_url = *url;
    }
  }

  const std::pair<std::string_view, SecretRef::Source> sources[] = {
      {"api_key_env", SecretRef::Source::env},
      {"api_key_file", SecretRef::Source::file},
      {"api_key_credential", SecretRef::Source::credential},
  };
  std::string first_source;
  for (const auto& [key, source] : sources) {
    auto value = reader.nonempty_string(t, key);
    if (!value) continue;
    if (!first_source.empty()) {
      reader.error(reader.where(t.find(key)->first.source()),
                   "'" + std::string(key) + "' and '" + first_source + "' both given in " +
                       context + "; use only one of api_key_env, api_key_file and "
                       "api_key_credential");
      continue;
    }
    first_source = key;
    e.api_key.source = source;
    if (source == SecretRef::Source::file) {
      e.api_key.name = reader.resolve(*value).string();
    } else if (source == SecretRef::Source::credential &&
               value->find('/') != std::string::npos) {
      reader.error(*t.get(key), "'api_key_credential' is a credential name, not a path: '" +
                                    *value + "'");
    } else {
      e.api_key.name = *value;
    }
  }

  if (auto v = reader.number(t, "temperature", 0, 2)) e.temperature = *v;
  if (auto v = reader.integer(t, "max_tokens", 1, 1000000)) e.max_tokens = static_cast<int>(*v);
  if (auto v = reader.integer(t, "concurrency", 1, 64)) e.concurrency = static_cast<int>(*v);
  if (auto v = reader.number(t, "rate", 0, 100000)) e.rate = *v;
  if (auto v = reader.integer(t, "retries", 0, 10)) e.retries = static_cast<int>(*v);
  using std::chrono::seconds;
  if (auto v = reader.duration(t, "timeout", seconds(1), seconds(3600))) e.timeout = *v;
  if (auto v = reader.duration(t, "connect_timeout", seconds(1), seconds(600))) {
    e.connect_timeout = *v;
  }
  if (auto v = reader.nonempty_string(t, "system")) e.system = *v;

  if (const toml::table* headers = reader.table(t, "headers")) {
    for (const auto& [key, node] : *headers) {
      std::string name(key.str());
      Location at = reader.where(key.source());
      auto value = node.value_exact<std::string>();
      bool secret = false;
      for (std::string_view s : kSecretHeaders) secret = secret || lower(name) == s;
      if (!is_header_token(name)) {
        reader.error(at, "header name '" + name + "' is not a valid HTTP header name");
      } else if (secret) {
        reader.error(at, "header '" + name + "' would put a credential in the config file; "
                         "use " + std::string(kKeySources));
      } else if (!value) {
        reader.error(node, "header '" + name + "' must be a string, not " + type_phrase(node));
      } else if (value->find_first_of("\r\n") != std::string::npos) {
        reader.error(node, "header '" + name + "' must not contain a line break");
      } else {
        e.headers.emplace_back(name, *value);
      }
    }
  }

  if (reader.error_count() != errors_before) return std::nullopt;
  return e;
}

}  // namespace

std::optional<Endpoint> read_endpoint(Reader& reader, const toml::table& t, int index) {
  return read_table(reader, t, {"[[endpoint]] #" + std::to_string(index), true});
}

std::optional<Endpoint> read_judge_endpoint(Reader& reader, const toml::table& t) {
  return read_table(reader, t, {"[judge]", false});
}

}  // namespace detail
}  // namespace dw::config
