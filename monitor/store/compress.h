// Internal to the store: stored texts as zstd frames, with or without a dictionary trained on
// one endpoint's answers (texts.cc decides which and when).
//
//   Codec codec;
//   auto frame = codec.compress(text, dict.get());    // nullopt: store the text plain
//   auto back = codec.decompress(*frame, dict.get());  // the text, or why not
//
// Frames carry their content size and a checksum but no dictionary id: the row that holds a
// frame names its dictionary. Decompression never produces more than kMaxTextBytes and fails,
// never crashes, on bytes that are not such a frame (a damaged file, a hand-edited row).
//
// Memory: a Dictionary of 32 KiB holds its bytes, zstd's tables for decompression (60 KB) once
// it has decompressed a text and for compression (0.45 MB) once it has compressed one; a Codec
// about 0.2 MB. Threads: one thread at a time per object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;
struct ZSTD_CDict_s;
struct ZSTD_DDict_s;

namespace dw::store {

// The largest text compress() takes and decompress() returns; longer texts are stored plain.
inline constexpr size_t kMaxTextBytes = size_t{64} << 20;

// zstd's levels for stored texts: where the space saved stops paying for the time. With a
// dictionary loaded into each frame (Dictionary::kLoadedPerFrame: a probe's, 8 KiB, or an
// endpoint's trained on few answers) the store bench's answers (1.3 KB) take 316 bytes in
// English and 274 in Chinese at level 3 (26 us); 286 and 265 at 7 (43 us); 285 and 262 at 9
// (130 us); 273 and 239 at 19 (400 us). On real prose (git's release notes) 3, 7 and 19 store
// 520, 496 and 464 bytes. Over 60 simulated days with every text at level 7 the store took
// 498 bytes a sample all in against 523, at 9.0k samples/s against 9.8k; level 9 saved 2 bytes
// more at 3.6k/s. Where 7 buys little, 3: without a dictionary (674 bytes against 665, 16 us
// against 26) and with a prepared one, an endpoint's of 32 KiB (420 against 412, 7 us against
// 72, and twice the tables: 0.44 MB against 0.83).
inline constexpr int kCompressionLevel = 3;
inline constexpr int kLoadedDictionaryLevel = 7;  // with a dictionary loaded into the frame

// A trained dictionary, prepared for decompression and for compression on first use: a run
// writes a few texts with each probe's dictionary and reads none, and preparing a probe's for
// decompression took longer than storing its texts.
class Dictionary {
 public:
  // Fails when data is not a zstd dictionary (ZDICT's output: magic number and entropy tables).
  static Result<std::unique_ptr<Dictionary>> load(int64_t id, std::string data);

  // Whether zstd can prepare it for decompression (trying costs what preparing it does, and
  // keeps nothing): for one just trained, before it is stored. One stored that zstd cannot
  // prepare fails the reads of its texts.
  bool usable() const;
  ~Dictionary();
  Dictionary(const Dictionary&) = delete;
  Dictionary& operator=(const Dictionary&) = delete;

  int64_t id() const { return id_; }

  // Dictionaries up to this size are loaded into the frame's context for each frame (about 10
  // us for 8 KiB) instead of prepared once: a probe's own dictionary serves a few texts a run,
  // and a prepared one would hold 0.15 MB for the run; an endpoint's (32 KiB) serves hundreds.
  static constexpr size_t kLoadedPerFrame = size_t{16} << 10;

 private:
  friend class Codec;
  Dictionary(int64_t id, std::string data) : id_(id), data_(std::move(data)) {}
  ZSTD_CDict_s* compressor();    // nullptr when zstd cannot prepare it
  ZSTD_DDict_s* decompressor();  // likewise

  int64_t id_;
  std::string data_;
  ZSTD_DDict_s* ddict_ = nullptr;
  ZSTD_CDict_s* cdict_ = nullptr;
};

class Codec {
 public:
  Codec();
  ~Codec();
  Codec(const Codec&) = delete;
  Codec& operator=(const Codec&) = delete;

  // The frame of text, compressed with dict when given (nullptr: none). nullopt when the frame
  // would not be smaller than the text, when text is longer than kMaxTextBytes, or when zstd
  // fails: the caller then stores the text as it is.
  std::optional<std::string> compress(std::string_view text, Dictionary* dict);

  // The text of a frame that compress() made with the same dictionary (nullptr: none). Fails,
  // with a message naming what is wrong, on anything else: not a zstd frame, a frame that does
  // not declare its size or declares more than kMaxTextBytes, damaged content (checksum), a
  // frame followed by other bytes.
  Result<std::string> decompress(std::string_view frame, Dictionary* dict);

 private:
  ZSTD_CCtx_s* cctx_;
  ZSTD_DCtx_s* dctx_;
};

// A dictionary of at most `capacity` bytes trained on samples (whole texts); nullopt when zstd
// cannot make one from them (too few, too short or too alike). Memory: the samples once more,
// plus a few MB of zstd's work tables while it trains.
std::optional<std::string> train_dictionary(const std::vector<std::string>& samples,
                                            size_t capacity);

// train_dictionary() for a few hundred KB of samples: zstd's fastCover without its search of
// parameters and with a small table. About a millisecond for a hundred answers where
// train_dictionary takes 20 ms and 6 MB whatever the input, for dictionaries nearly as good
// (on a probe's answers at level 3, 319 bytes a 1.3 KB answer against 313; made of the newest
// answers as they are, 333). With a libzstd other than the one built against, train_dictionary().
std::optional<std::string> train_small_dictionary(const std::vector<std::string>& samples,
                                                  size_t capacity);

}  // namespace dw::store
