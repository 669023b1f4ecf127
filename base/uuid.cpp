// UUIDv7 generation and formatting.
#include "base/uuid.h"

#include <pthread.h>

#include <chrono>
#include <cstring>
#include <mutex>

#include "base/random.h"
#include "base/text.h"

namespace mcptap::base {
namespace {

// One clock-and-counter state for the process: ids stay unique and ordered across threads.
struct V7State {
  V7State() {
    // A forked child must not hand out the parent's unused random bytes a second time.
    pthread_atfork(nullptr, nullptr, [] { state().pool_used = kPoolBytes; });
  }
  static constexpr size_t kPoolBytes = 4096;
  static V7State& state();

  // The random bits come from libcrypto. One call costs about as much as 4 KiB of output
  // (its fixed cost is a few microseconds), so the bytes are drawn in 4 KiB blocks: one
  // block serves 409 ids.
  const uint8_t* take_random(size_t count) {
    if (kPoolBytes - pool_used < count) {
      random_bytes(pool.data(), pool.size());
      pool_used = 0;
    }
    const uint8_t* taken = pool.data() + pool_used;
    pool_used += count;
    return taken;
  }

  std::mutex mutex;
  int64_t last_ms = 0;
  uint16_t counter = 0;  // 12-bit rand_a, reseeded each millisecond, incremented within it
  std::array<uint8_t, kPoolBytes> pool{};
  size_t pool_used = kPoolBytes;  // empty until the first id
};

V7State& V7State::state() {
  static V7State instance;
  return instance;
}

}  // namespace

Uuid Uuid::v7() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return v7_at(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
}

Uuid Uuid::v7_at(int64_t unix_ms) {
  V7State& s = V7State::state();
  Uuid id;
  uint16_t rand_a;
  {
    std::lock_guard lock(s.mutex);
    // 62 random bits make the id unguessable; 11 more seed the counter of a new millisecond.
    const uint8_t* random = s.take_random(10);
    std::memcpy(id.bytes.data() + 8, random, 8);
    const uint16_t counter_seed = static_cast<uint16_t>((random[8] << 8 | random[9]) & 0x07FF);
    // Monotonic method 1 of RFC 9562: a counter in rand_a keeps ids made within one
    // millisecond in order; when it overflows we borrow the next millisecond.
    if (unix_ms <= s.last_ms) {
      unix_ms = s.last_ms;
      if (++s.counter > 0x0FFF) {
        unix_ms = ++s.last_ms;
        s.counter = counter_seed;
      }
    } else {
      s.last_ms = unix_ms;
      s.counter = counter_seed;  // 11 bits: headroom for increments
    }
    rand_a = s.counter;
  }
  for (int i = 0; i < 6; ++i) id.bytes[i] = static_cast<uint8_t>(unix_ms >> (40 - 8 * i));
  id.bytes[6] = static_cast<uint8_t>(0x70 | ((rand_a >> 8) & 0x0F));
  id.bytes[7] = static_cast<uint8_t>(rand_a & 0xFF);
  id.bytes[8] = static_cast<uint8_t>(0x80 | (id.bytes[8] & 0x3F));  // RFC 4122 variant
  return id;
}

std::optional<Uuid> Uuid::parse(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  Uuid id;
  size_t out = 0;
  for (size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    int high = hex_value(text[i]);
    int low = hex_value(text[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    id.bytes[out++] = static_cast<uint8_t>(high << 4 | low);
    i += 2;
  }
  return id;
}

std::string Uuid::to_string() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  text.reserve(36);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text.push_back('-');
    text.push_back(kHex[bytes[i] >> 4]);
    text.push_back(kHex[bytes[i] & 0x0F]);
  }
  return text;
}

int64_t Uuid::unix_ms() const {
  int64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = ms << 8 | bytes[i];
  return ms;
}

}  // namespace mcptap::base
