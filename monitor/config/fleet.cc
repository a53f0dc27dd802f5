// Reading the [fleet] table, and checking a connection string for a password.
#include "config/fleet.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "config/notify.h"

namespace dw::config {
namespace {

// A name as [[endpoint]] and [[notify]] names are written: it goes into the central
// database and reports, and people type it.
bool valid_vantage(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
  });
}

bool valid_country(std::string_view c) {
  auto capital = [](char ch) { return ch >= 'A' && ch <= 'Z'; };
  return c.size() == 2 && capital(c[0]) && capital(c[1]);
}

bool valid_asn(std::string_view a) {
  if (a.size() < 3 || a.size() > 12 || a.substr(0, 2) != "AS") return false;
  std::string_view digits = a.substr(2);
  if (digits.find_first_not_of("0123456789") != std::string_view::npos) return false;
  return std::stoull(std::string(digits)) <= 4294967295ULL;  // 32-bit AS numbers
}

constexpr std::string_view kFleetPasswordSources =
    "password_env = \"VARIABLE\", password_file = \"PATH\" or password_credential = \"NAME\"";


// How libpq reads a URI's query keys: percent-decoded ("pass%77ord" is password).
std::string percent_decoded(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

Status check_server_uri(std::string_view uri) {
  std::string_view rest = uri.substr(uri.find("://") + 3);
  // As libpq looks for credentials: up to the first '@' or '/'.
  size_t stop = rest.find_first_of("@/");
  if (stop != std::string_view::npos && rest[stop] == '@') {
    std::string_view user = rest.substr(0, stop);
    if (size_t colon = user.find(':'); colon != std::string_view::npos && colon + 1 < user.size()) {
      return Error("holds a password (user:password@)");
    }
  }
  size_t query = rest.find('?');
  if (query == std::string_view::npos) return Status::Ok();
  std::string_view params = rest.substr(query + 1);
  while (!params.empty()) {
    size_t amp = params.find('&');
    std::string_view param = params.substr(0, amp);
    if (percent_decoded(param.substr(0, param.find('='))) == "password") {
      return Error("holds a password (?password=...)");
    }
    if (amp == std::string_view::npos) break;
    params.remove_prefix(amp + 1);
  }
  return Status::Ok();
}

}  // namespace

Status check_server(std::string_view conninfo) {
  if (conninfo.starts_with("postgresql://") || conninfo.starts_with("postgres://")) {
    return check_server_uri(conninfo);
  }
  // keyword = value pairs, read as libpq's conninfo_parse reads them: a value is 'quoted'
  // (backslash escapes) or runs to the next space (backslash escapes too).
  auto space = [](char ch) { return std::isspace(static_cast<unsigned char>(ch)) != 0; };
  size_t i = 0;
  const size_t n = conninfo.size();
  while (i < n) {
    while (i < n && space(conninfo[i])) ++i;
    if (i == n) break;
    size_t start = i;
    while (i < n && conninfo[i] != '=' && !space(conninfo[i])) ++i;
    std::string_view keyword = conninfo.substr(start, i - start);
    while (i < n && space(conninfo[i])) ++i;
    if (i == n || conninfo[i] != '=') {
      // Not quoted back: a stray word may be a password typed without its keyword.
      return Error("is not a libpq connection string: the word at character " +
                   std::to_string(start + 1) + " has no '=' after it");
    }
    ++i;
    while (i < n && space(conninfo[i])) ++i;
    if (keyword == "password") return Error("holds a password (password=...)");
    if (i < n && conninfo[i] == '\'') {
      for (++i; i < n && conninfo[i] != '\''; ++i) {
        if (conninfo[i] == '\\') ++i;
      }
      if (i >= n) return Error("is not a libpq connection string: a quoted value is not closed");
      ++i;
    } else {
      for (; i < n && !space(conninfo[i]); ++i) {
        if (conninfo[i] == '\\') ++i;
      }
    }
  }
  return Status::Ok();
}

namespace detail {

void read_fleet(Reader& r, const toml::table& root, Config& c) {
  const toml::table* t = r.table(root, "fleet");
  if (t == nullptr) return;
  size_t errors_before = r.error_count();
  Fleet f;
  f.where = r.where(*t);
  r.check_keys(*t, {"server", "vantage", "country", "asn", "retry", "password_env",
                    "password_file", "password_credential"},
               "[fleet]", {"password"});
  if (auto it = t->find("password"); it != t->end()) {
    r.error(r.where(it->first.source()),
            "'password' in [fleet] would put a secret in the config file; say where it lives "
            "instead: " + std::string(kFleetPasswordSources));
  }
  if (auto server = r.nonempty_string(*t, "server")) {
    // The value is never quoted back: it may hold the very password refused here.
    if (Status ok = check_server(*server); !ok) {
      std::string advice = ok.error().message().starts_with("holds a password")
                               ? "; say where it lives instead: " +
                                     std::string(kFleetPasswordSources)
                               : "";
      r.error(*t->get("server"), "'server' in [fleet] " + ok.error().message() + advice);
    } else {
      f.server = *server;
    }
  } else if (!t->contains("server")) {
    r.error(f.where, "missing required key 'server' in [fleet]: the central PostgreSQL's "
                     "connection string, e.g. \"host=db.example.org dbname=driftwatch "
                     "user=monitor_hk\"");
  }
  if (auto vantage = r.nonempty_string(*t, "vantage")) {
    if (valid_vantage(*vantage)) {
      f.vantage = *vantage;
    } else {
      r.error(*t->get("vantage"), "'vantage' must be 1-64 letters, digits, '-', '_' or '.', "
                                  "not '" + *vantage + "'");
    }
  } else if (!t->contains("vantage")) {
    r.error(f.where, "missing required key 'vantage' in [fleet]: this monitor's name among "
                     "the vantage points, e.g. \"hk-1\"");
  }
  if (auto country = r.string(*t, "country")) {
    if (valid_country(*country)) {
      f.country = *country;
    } else {
      r.error(*t->get("country"), "'country' must be two capital letters (ISO 3166-1), such "
                                  "as \"HK\", not '" + *country + "'");
    }
  }
  if (auto asn = r.string(*t, "asn")) {
    if (valid_asn(*asn)) {
      f.asn = *asn;
    } else {
      r.error(*t->get("asn"), "'asn' must be \"AS\" and the number, such as \"AS4134\", not '" +
                                  *asn + "'");
    }
  }
  using std::chrono::seconds;
  if (auto v = r.duration(*t, "retry", seconds(1), std::chrono::hours(1))) f.retry = *v;
  f.password.what = "fleet database password";
  detail::read_secret_ref(r, *t, "password", "[fleet]", f.password);
  if (r.error_count() != errors_before) return;
  c.fleet = std::move(f);
}

}  // namespace detail
}  // namespace dw::config
