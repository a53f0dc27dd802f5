#include "store/compress.h"

// The fastCover trainer with its parameters is in zdict.h's "static linking only" part:
// libzstd exports it; its parameters are those of the version built against (checked).
#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
#include <zstd.h>

namespace dw::store {

Result<std::unique_ptr<Dictionary>> Dictionary::load(int64_t id, std::string data) {
  // Anything without the dictionary magic would be taken as raw content: every frame made with
  // the real dictionary would then decode to garbage or fail. Refuse it up front.
  if (ZSTD_getDictID_fromDict(data.data(), data.size()) == 0) {
    return Error("dictionary " + std::to_string(id) + " is not a zstd dictionary");
  }
  return std::unique_ptr<Dictionary>(new Dictionary(id, std::move(data)));
}

Dictionary::~Dictionary() {
  ZSTD_freeCDict(cdict_);
  ZSTD_freeDDict(ddict_);
}

ZSTD_CDict* Dictionary::compressor() {
  if (cdict_ == nullptr) cdict_ = ZSTD_createCDict(data_.data(), data_.size(), kCompressionLevel);
  return cdict_;
}

bool Dictionary::usable() const {
  ZSTD_DDict* d = ZSTD_createDDict(data_.data(), data_.size());
  ZSTD_freeDDict(d);
  return d != nullptr;
}

ZSTD_DDict* Dictionary::decompressor() {
  if (ddict_ == nullptr) ddict_ = ZSTD_createDDict(data_.data(), data_.size());
  return ddict_;
}

Codec::Codec() : cctx_(ZSTD_createCCtx()), dctx_(ZSTD_createDCtx()) {}

Codec::~Codec() {
  ZSTD_freeCCtx(cctx_);
  ZSTD_freeDCtx(dctx_);
}

std::optional<std::string> Codec::compress(std::string_view text, Dictionary* dict) {
  if (cctx_ == nullptr || text.empty() || text.size() > kMaxTextBytes) return std::nullopt;
  // Parameters and any dictionary of the previous frame go; these are set anew for each.
  ZSTD_CCtx_reset(cctx_, ZSTD_reset_session_and_parameters);
  const bool loaded = dict != nullptr && dict->data_.size() <= Dictionary::kLoadedPerFrame;
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel,
                         loaded ? kLoadedDictionaryLevel : kCompressionLevel);
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_contentSizeFlag, 1);  // decompress() sizes its output
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1);     // damage is an error, not garbage
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_dictIDFlag, 0);       // the row names the dictionary
  if (loaded) {
    if (ZSTD_isError(ZSTD_CCtx_loadDictionary(cctx_, dict->data_.data(), dict->data_.size()))) {
      return std::nullopt;
    }
  } else if (dict != nullptr) {
    ZSTD_CDict* prepared = dict->compressor();
    if (prepared == nullptr || ZSTD_isError(ZSTD_CCtx_refCDict(cctx_, prepared))) {
      return std::nullopt;
    }
  }
  std::string frame(ZSTD_compressBound(text.size()), '\0');
  size_t n = ZSTD_compress2(cctx_, frame.data(), frame.size(), text.data(), text.size());
  if (ZSTD_isError(n) || n >= text.size()) return std::nullopt;
  frame.resize(n);
  return frame;
}

Result<std::string> Codec::decompress(std::string_view frame, Dictionary* dict) {
  if (dctx_ == nullptr) return Error("zstd: out of memory");
  ZSTD_DDict* prepared = dict != nullptr ? dict->decompressor() : nullptr;
  if (dict != nullptr && prepared == nullptr) {
    return Error("dictionary " + std::to_string(dict->id()) + ": zstd cannot load it");
  }
  unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) return Error("not a zstd frame");
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) return Error("a zstd frame that does not declare its size");
  if (size > kMaxTextBytes) {
    return Error("a zstd frame that declares " + std::to_string(size) + " bytes, more than the " +
                 std::to_string(kMaxTextBytes >> 20) + " MiB a stored text may have");
  }
  // The declared size bounds the output: a frame that holds more fails with "destination
  // buffer is too small" instead of growing anything.
  std::string text(static_cast<size_t>(size), '\0');
  size_t n = dict != nullptr ? ZSTD_decompress_usingDDict(dctx_, text.data(), text.size(),
                                                          frame.data(), frame.size(), prepared)
                             : ZSTD_decompressDCtx(dctx_, text.data(), text.size(), frame.data(),
                                                   frame.size());
  if (ZSTD_isError(n)) return Error(std::string("zstd: ") + ZSTD_getErrorName(n));
  if (n != text.size()) {
    return Error("a zstd frame that holds " + std::to_string(n) + " bytes but declares " +
                 std::to_string(text.size()));
  }
  return text;
}

namespace {

// ZDICT's input: the samples one after another, and their sizes.
struct Joined {
  std::string bytes;
  std::vector<size_t> sizes;
};

Joined join(const std::vector<std::string>& samples) {
  Joined j;
  j.sizes.reserve(samples.size());
  for (const std::string& s : samples) {
    j.bytes += s;
    j.sizes.push_back(s.size());
  }
  return j;
}

std::optional<std::string> trimmed(std::string dict, size_t n) {
  if (ZDICT_isError(n)) return std::nullopt;
  dict.resize(n);
  return dict;
}

}  // namespace

std::optional<std::string> train_dictionary(const std::vector<std::string>& samples,
                                            size_t capacity) {
  const Joined in = join(samples);
  std::string dict(capacity, '\0');
  size_t n = ZDICT_trainFromBuffer(dict.data(), dict.size(), in.bytes.data(), in.sizes.data(),
                                   static_cast<unsigned>(in.sizes.size()));
  return trimmed(std::move(dict), n);
}

std::optional<std::string> train_small_dictionary(const std::vector<std::string>& samples,
                                                  size_t capacity) {
  // The parameters' layout is that of the headers built with: only with that libzstd.
  if (ZSTD_versionNumber() != ZSTD_VERSION_NUMBER) return train_dictionary(samples, capacity);
  const Joined in = join(samples);
  // Segments of k = 200 bytes scored by d = 8-byte substrings, as ZDICT_trainFromBuffer's
  // search starts; its frequency table has 2^f entries of 6 bytes: 2^20 there, 2^14 suits a
  // few hundred KB. No search over k (steps 0): all samples train, none are held out.
  ZDICT_fastCover_params_t params{};
  params.k = 200;
  params.d = 8;
  params.f = 14;
  params.accel = 1;
  params.zParams.compressionLevel = kLoadedDictionaryLevel;  // its frames' level
  std::string dict(capacity, '\0');
  size_t n = ZDICT_trainFromBuffer_fastCover(dict.data(), dict.size(), in.bytes.data(),
                                             in.sizes.data(),
                                             static_cast<unsigned>(in.sizes.size()), params);
  return trimmed(std::move(dict), n);
}

}  // namespace dw::store
