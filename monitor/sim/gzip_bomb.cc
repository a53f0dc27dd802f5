// Deflating 200 MiB takes a second of CPU; deflating one MiB and repeating its blocks takes a
// few milliseconds and gives the same stream a real compressor would.
#include "sim/gzip_bomb.h"

#include <zlib.h>

#include <new>

namespace dw::sim {
namespace {

constexpr std::size_t kChunk = std::size_t{1} << 20;
static_assert(kGzipBombInflated % kChunk == 0);
static_assert(kGzipBombInflated <= 0xffffffffu, "ISIZE is the size modulo 2^32");

// Raw deflate blocks for chunk, none of them final, ending in a full flush: they end on a byte
// boundary and refer to nothing before their start, so copies of them may follow one another.
std::string deflate_blocks(const std::string& chunk) {
  z_stream z{};
  // With these constant arguments it fails only when memory runs out, as an allocation would.
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::bad_alloc();
  std::string out;
  char buffer[1 << 14];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(chunk.data()));
  z.avail_in = static_cast<uInt>(chunk.size());
  do {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    deflate(&z, Z_FULL_FLUSH);
    out.append(buffer, sizeof buffer - z.avail_out);
  } while (z.avail_out == 0);
  deflateEnd(&z);
  return out;
}

void append_le32(std::string& out, uLong value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::string build() {
  const std::string chunk(kChunk, ' ');
  const std::string blocks = deflate_blocks(chunk);
  const uLong chunk_crc =
      crc32(0, reinterpret_cast<const Bytef*>(chunk.data()), static_cast<uInt>(chunk.size()));
  // Magic, deflate, no flags, no modification time, no extra flags, Unix.
  std::string out{'\x1f', '\x8b', '\x08', '\0', '\0', '\0', '\0', '\0', '\0', '\x03'};
  uLong crc = crc32(0, nullptr, 0);
  for (std::size_t i = 0; i < kGzipBombInflated / kChunk; ++i) {
    out += blocks;
    crc = crc32_combine(crc, chunk_crc, static_cast<z_off_t>(kChunk));
  }
  out.append("\x03\x00", 2);  // the final block: empty, fixed Huffman codes
  append_le32(out, crc);
  append_le32(out, static_cast<uLong>(kGzipBombInflated));
  return out;
}

}  // namespace

const std::string& gzip_bomb() {
  static const std::string bomb = build();
  return bomb;
}

}  // namespace dw::sim
