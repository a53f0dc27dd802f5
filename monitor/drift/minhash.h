// Answer similarity for content_shift: MinHash signatures of character 5-gram shingles, one
// permutation hashing (each shingle hashed once, into one of 64 slots; empty slots of short
// texts densified).
//
// Character shingles over the normalised text (analysis/normalise.h) work the same for English
// and Chinese (no word segmentation needed) and ignore case, width and spacing differences.
// A 64-slot signature estimates the Jaccard similarity of two shingle sets with a standard
// error of about 0.06, which is finer than the sample-to-sample spread it is compared with.
// Each slot keeps the low 16 bits of its minimum (b-bit minwise hashing): two different minima
// agree by chance once in 65,536, a bias below 0.0001, and a signature is 128 bytes, what
// detection holds for 40 runs of answers and keeps in their summaries.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace dw::drift {

using Signature = std::array<uint16_t, 64>;

// The signature of an already normalised text. A text shorter than one shingle is one
// shingle; the empty text has a signature of its own. Deterministic across runs and builds.
Signature signature(std::string_view normalised);

// The slots in which the two signatures agree, 0 to 64.
int equal_slots(const Signature& a, const Signature& b);

// Estimated Jaccard similarity of the two texts' shingle sets, in [0, 1]; 1 for equal texts:
// equal_slots(a, b) / 64, exactly.
double similarity(const Signature& a, const Signature& b);

}  // namespace dw::drift
