// TextUses (history.h): the shared texts of a run, built from rows or looked up in place in
// their encoding (run_cells.h, the texts' part).
#include <algorithm>
#include <array>
#include <cstring>

#include "drift/history.h"
#include "drift/varint.h"

namespace dw::drift {
namespace {

using namespace varint;

constexpr size_t kHashBytes = 32;  // a sha256, stored as bytes, read back as hex

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

using HashBytes = std::array<char, kHashBytes>;

// A lowercase hex sha256 as its 32 bytes; false for anything else. Into an array: a decision
// looks a few thousand texts up in the runs of its window.
bool to_bytes(const std::string& hex, HashBytes& out) {
  if (hex.size() != 2 * kHashBytes) return false;
  for (size_t i = 0; i < kHashBytes; ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return true;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : bytes) {
    hex += kDigits[b >> 4];
    hex += kDigits[b & 15];
  }
  return hex;
}

// One entry after its hash: its probes (indices into probes, ascending) and ids. false
// for bytes that are not one; use, when given, gets what they say.
bool read_rest(Reader& in, int64_t& prev_id, const std::vector<SharedPairKey>& probes,
               TextUse* use) {
  long n = 0, ids = 0;
  if (!in.count(n) || n == 0) return false;
  long last = -1;
  for (long k = 0; k < n; ++k) {
    long index = 0;
    // In set order, each once: what encode() writes.
    if (!in.count(index) || index <= last || static_cast<size_t>(index) >= probes.size()) {
      return false;
    }
    last = index;
    if (use) use->probes.emplace(probes[static_cast<size_t>(index)]->probe_id);
  }
  if (!in.count(ids) || ids == 0 || static_cast<size_t>(ids) > kMaxCellIds) return false;
  return use ? in.ids(prev_id, static_cast<size_t>(ids), use->ids)
             : in.skip_ids(prev_id, static_cast<size_t>(ids));
}

}  // namespace

TextUse& TextUses::add(const std::string& hash) { return built_[hash]; }

std::optional<TextUse> TextUses::entry(const Entry& e) const {
  Reader in(std::string_view(*packed_).substr(e.offset));
  std::string_view hash;
  TextUse use;  // no response_hash: not stored (history.h)
  int64_t prev_id = e.prev_id;
  if (!in.raw(kHashBytes, hash) || !read_rest(in, prev_id, *probes_, &use)) {
    return std::nullopt;  // checked by decode(): not reached
  }
  return use;
}

const TextUses::Entry* TextUses::locate(const std::string& hash) const {
  HashBytes key;
  if (!to_bytes(hash, key)) return nullptr;
  // Entries are in hash order, and hex keeps the order of the bytes.
  size_t lo = 0, hi = offsets_.size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = std::memcmp(packed_->data() + offsets_[mid].offset, key.data(), kHashBytes);
    if (c == 0) return &offsets_[mid];
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return nullptr;
}

std::optional<TextUse> TextUses::find(const std::string& hash) const {
  if (!packed_) {
    auto it = built_.find(hash);
    if (it == built_.end()) return std::nullopt;
    return it->second;
  }
  const Entry* e = locate(hash);
  return e ? entry(*e) : std::nullopt;
}

void TextUses::add_probes(const std::string& hash, std::set<std::string>& into) const {
  if (!packed_) {
    if (auto it = built_.find(hash); it != built_.end()) {
      into.insert(it->second.probes.begin(), it->second.probes.end());
    }
    return;
  }
  const Entry* e = locate(hash);
  if (e == nullptr) return;
  Reader in(std::string_view(*packed_).substr(e->offset + kHashBytes));
  long n = 0, index = 0;
  if (!in.count(n)) return;  // checked by decode(): every entry reads
  for (long k = 0; k < n && in.count(index); ++k) {
    into.insert((*probes_)[static_cast<size_t>(index)]->probe_id);
  }
}

bool TextUses::contains(const std::string& hash) const {
  if (!packed_) return built_.count(hash) > 0;
  return locate(hash) != nullptr;  // decode() checked every entry
}

std::map<std::string, TextUse> TextUses::all() const {
  if (!packed_) return built_;
  std::map<std::string, TextUse> out;
  for (const Entry& e : offsets_) {
    if (auto use = entry(e)) {
      out.emplace(to_hex(std::string_view(*packed_).substr(e.offset, kHashBytes)), std::move(*use));
    }
  }
  return out;
}

std::optional<std::string> TextUses::encode(std::span<const SharedPairKey> probes) const {
  std::string out;
  std::map<std::string, TextUse> unpacked;  // a decoded form's uses (the built form is read as is)
  if (packed_) unpacked = all();
  const std::map<std::string, TextUse>& uses = packed_ ? unpacked : built_;
  put(out, uses.size());
  int64_t prev_id = 0;
  auto by_id = [](const SharedPairKey& k, const std::string& id) { return k->probe_id < id; };
  for (const auto& [hash, use] : uses) {
    HashBytes bytes;
    if (!to_bytes(hash, bytes)) return std::nullopt;
    out.append(bytes.data(), bytes.size());
    put(out, use.probes.size());
    for (const std::string& probe : use.probes) {  // in name order, as probes are
      auto at = std::lower_bound(probes.begin(), probes.end(), probe, by_id);
      if (at == probes.end() || (*at)->probe_id != probe) return std::nullopt;
      put(out, static_cast<uint64_t>(at - probes.begin()));
    }
    put(out, use.ids.size());
    put_ids(out, prev_id, use.ids);
  }
  return out;
}

std::optional<TextUses> TextUses::decode(std::string_view bytes,
                                         std::vector<SharedPairKey> probes) {
  TextUses t;
  t.probes_ = std::make_shared<const std::vector<SharedPairKey>>(std::move(probes));
  auto packed = std::make_shared<std::string>(bytes);
  Reader in(*packed);
  long n = 0;
  if (!in.count(n)) return std::nullopt;
  int64_t prev_id = 0;
  std::string_view last;
  for (long i = 0; i < n; ++i) {
    const size_t offset = packed->size() - in.remaining();
    std::string_view key;
    if (offset > UINT32_MAX || !in.raw(kHashBytes, key)) return std::nullopt;
    if (i > 0 && !(last < key)) return std::nullopt;  // in hash order, each once
    last = key;
    t.offsets_.push_back({static_cast<uint32_t>(offset), prev_id});
    if (!read_rest(in, prev_id, *t.probes_, nullptr)) return std::nullopt;
  }
  if (!in.done()) return std::nullopt;
  t.packed_ = std::move(packed);
  return t;
}

}  // namespace dw::drift
