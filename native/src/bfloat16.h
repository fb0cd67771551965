// bfloat16 as the addon's loops read and write it: the top 16 bits of a float32, stored as uint16_t, rounded to
// nearest even as oneDNN's reorders round (so a value converted here or there is the same), NaN kept a NaN.
#pragma once

#include <cstdint>
#include <cstring>

namespace nin {

inline float bf16_to_float(uint16_t v) {
  const uint32_t bits = uint32_t{v} << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Written without branches (a select), so that loops over it vectorize.
inline uint16_t float_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (bits >> 16) | 0x40u;
  return static_cast<uint16_t>((bits & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

// One element of a buffer that holds float32 (bf16 false) or bfloat16 values.
inline float load(const void* data, bool bf16, int64_t i) {
  return bf16 ? bf16_to_float(static_cast<const uint16_t*>(data)[i]) : static_cast<const float*>(data)[i];
}

inline void store(void* data, bool bf16, int64_t i, float v) {
  if (bf16) {
    static_cast<uint16_t*>(data)[i] = float_to_bf16(v);
  } else {
    static_cast<float*>(data)[i] = v;
  }
}

}  // namespace nin
