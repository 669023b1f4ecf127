// The spool's on-disk frame: a checksummed header (magic, format, length, CRC32C, UUID)
// followed by a versioned binary encoding of every capture::Record field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "capture/record.h"

namespace mcptap::sink {

// Header layout, little-endian:
//   0 magic "MTSP"  4 format  5..7 zero  8 body length  12 body CRC32C  16 record UUID
//   32 CRC32C of bytes 0..31
// The header has its own checksum so that recovery can resync on the next frame after
// garbage: a magic match alone is not trusted.
inline constexpr size_t kFrameHeaderBytes = 36;
inline constexpr uint32_t kFrameMagic = 0x5053544D;  // "MTSP" as bytes on disk
// The format written. Format 2 added the operation id; the decoder still reads format 1
// (written by earlier releases: a spool left behind by one is delivered after an upgrade).
// A release that only knows format 1 cannot read format 2: drain the spool before a downgrade.
inline constexpr uint8_t kFrameFormat = 2;
inline constexpr uint8_t kOldestFrameFormat = 1;
// No captured record comes near this (capture caps payloads far lower); a larger length
// can only be damage.
inline constexpr uint32_t kFrameMaxBodyBytes = 1u << 30;

struct FrameHeader {
  uint8_t format = kFrameFormat;
  uint32_t body_bytes = 0;
  uint32_t body_crc = 0;
  base::Uuid id;
};

// Encodes the record's body into *body (replacing its contents) and the matching header
// into header[]. Returns false when the record cannot be framed (larger than the limit).
bool encode_frame(const capture::Record& record, std::string* body,
                  uint8_t (&header)[kFrameHeaderBytes]);

// Parses a header: nullopt unless the magic, the header checksum, the format (one of
// kOldestFrameFormat..kFrameFormat) and the length are all valid.
std::optional<FrameHeader> decode_frame_header(const uint8_t* bytes);

// Decodes a body whose checksum was verified. nullopt when it is malformed (an unknown
// enum value, a length running past the end), which only damage can cause.
std::optional<capture::Record> decode_frame_body(const FrameHeader& header, std::string_view body);

}  // namespace mcptap::sink
