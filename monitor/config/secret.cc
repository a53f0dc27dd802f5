// API keys are read at the moment of use and never kept in the config: every message here names
// where a key was looked for, and none ever contains what was found.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "config/config.h"

namespace dw::config {
namespace {

constexpr size_t kMaxKeyFile = size_t{64} << 10;

// The whole file, or the reason it could not be read.
Result<std::string> read_file(const std::filesystem::path& path, const std::string& what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return Error("cannot read " + what + " '" + path.string() + "': " + std::strerror(errno));
  }
  std::string data;
  char buffer[4096];
  size_t n;
  bool too_large = false;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) {
    data.append(buffer, n);
    if (data.size() > kMaxKeyFile) {  // no API key is this long: a wrong file, never a prefix
      too_large = true;
      break;
    }
  }
  bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return Error("cannot read " + what + " '" + path.string() + "'");
  if (too_large) {
    return Error(what + " '" + path.string() + "' is larger than 64 KiB: not an API key");
  }
  return data;
}

// Drops one trailing line break; a key with any other control character or line break is
// rejected, as it would corrupt the request headers it goes into.
Result<std::string> clean(std::string key, const std::string& what) {
  if (!key.empty() && key.back() == '\n') key.pop_back();
  if (!key.empty() && key.back() == '\r') key.pop_back();
  if (key.empty()) return Error(what + " is empty");
  for (char c : key) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Error(what + " holds more than one line or a control character");
    }
  }
  return key;
}

}  // namespace

Result<std::string> read_secret(const SecretRef& ref) {
  switch (ref.source) {
    case SecretRef::Source::none:
      return std::string();
    case SecretRef::Source::env: {
      std::string what = ref.what + " variable $" + ref.name;
      const char* value = std::getenv(ref.name.c_str());
      if (value == nullptr) return Error(what + " is not set");
      return clean(value, what);
    }
    case SecretRef::Source::file: {
      std::string what = ref.what + " file";
      auto data = read_file(ref.name, what);
      if (!data) return data.error();
      return clean(std::move(*data), what + " '" + ref.name + "'");
    }
    case SecretRef::Source::credential: {
      const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
      if (dir == nullptr || *dir == '\0') {
        return Error(ref.what + " credential '" + ref.name +
                     "' needs $CREDENTIALS_DIRECTORY, which systemd sets for a unit with "
                     "LoadCredential=" + ref.name + ":PATH");
      }
      std::string what = ref.what + " credential";
      auto data = read_file(std::filesystem::path(dir) / ref.name, what);
      if (!data) return data.error();
      return clean(std::move(*data), what + " '" + ref.name + "'");
    }
  }
  return Error("unknown " + ref.what + " source");
}

}  // namespace dw::config
