// Tests for UUIDv7 generation, parsing and formatting (capture/uuid.cpp).
#include "base/uuid.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace mcptap::capture {
namespace {

int64_t now_ms() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
}

TEST(Uuid, VersionAndVariantBits) {
  for (int i = 0; i < 1'000; ++i) {
    base::Uuid id = base::Uuid::v7();
    EXPECT_EQ(id.bytes[6] >> 4, 0x7) << id.to_string();
    EXPECT_EQ(id.bytes[8] >> 6, 0b10) << id.to_string();
    std::string text = id.to_string();
    EXPECT_EQ(text[14], '7') << text;
    EXPECT_NE(std::string("89ab").find(text[19]), std::string::npos) << text;
  }
}

TEST(Uuid, TenThousandIdsStrictlyIncreasingAndUnique) {
  std::vector<base::Uuid> ids;
  ids.reserve(10'000);
  for (int i = 0; i < 10'000; ++i) ids.push_back(base::Uuid::v7());
  std::set<std::string> texts;
  for (size_t i = 0; i < ids.size(); ++i) {
    texts.insert(ids[i].to_string());
    if (i > 0) {
      ASSERT_LT(ids[i - 1], ids[i]) << i;
      // Ordering must also hold as text, since PostgreSQL compares uuids bytewise too.
      ASSERT_LT(ids[i - 1].to_string(), ids[i].to_string()) << i;
    }
  }
  EXPECT_EQ(texts.size(), ids.size());
}

TEST(Uuid, UniqueAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5'000;
  std::vector<std::vector<base::Uuid>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t] {
      for (int i = 0; i < kPerThread; ++i) made[t].push_back(base::Uuid::v7());
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<base::Uuid> all;
  for (const auto& ids : made) {
    for (size_t i = 1; i < ids.size(); ++i) EXPECT_LT(ids[i - 1], ids[i]);
    all.insert(ids.begin(), ids.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(Uuid, TimestampIsTheCurrentTime) {
  int64_t before = now_ms();
  base::Uuid id = base::Uuid::v7();
  int64_t after = now_ms();
  // An earlier test may have borrowed a few milliseconds from the counter, never many.
  EXPECT_GE(id.unix_ms(), before);
  EXPECT_LE(id.unix_ms(), after + 50);
}

TEST(Uuid, UnixMsRoundTripThroughV7At) {
  // Slightly ahead of the clock, so the generator's monotonic state cannot clamp it.
  int64_t ms = now_ms() + 20;
  base::Uuid id = base::Uuid::v7_at(ms);
  EXPECT_EQ(id.unix_ms(), ms);
  EXPECT_EQ(id.bytes[6] >> 4, 0x7);
  EXPECT_EQ(base::Uuid::parse(id.to_string())->unix_ms(), ms);
}

TEST(Uuid, ClockSteppingBackKeepsOrder) {
  base::Uuid later = base::Uuid::v7_at(now_ms() + 30);
  base::Uuid earlier = base::Uuid::v7_at(now_ms() - 60'000);
  EXPECT_LT(later, earlier);
}

TEST(Uuid, RfcExampleParsesAndReadsItsTimestamp) {
  // RFC 9562 appendix A.6: UUIDv7 for 2022-02-22 19:22:22 UTC.
  auto id = base::Uuid::parse("017F22E2-79B0-7CC3-98C4-DC0C0C07398F");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->unix_ms(), 1'645'557'742'000);
  EXPECT_EQ(id->bytes[0], 0x01);
  EXPECT_EQ(id->bytes[15], 0x8F);
  EXPECT_EQ(id->to_string(), "017f22e2-79b0-7cc3-98c4-dc0c0c07398f");
}

TEST(Uuid, ToStringParseRoundTrip) {
  for (int i = 0; i < 100; ++i) {
    base::Uuid id = base::Uuid::v7();
    std::string text = id.to_string();
    ASSERT_EQ(text.size(), 36u);
    EXPECT_EQ(text[8], '-');
    EXPECT_EQ(text[13], '-');
    EXPECT_EQ(text[18], '-');
    EXPECT_EQ(text[23], '-');
    auto parsed = base::Uuid::parse(text);
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(*parsed, id);
  }
  base::Uuid zero;
  EXPECT_EQ(zero.to_string(), "00000000-0000-0000-0000-000000000000");
  EXPECT_EQ(base::Uuid::parse(zero.to_string()), zero);
}

TEST(Uuid, ParseRejectsBadInput) {
  for (const char* text : {
           "",
           "017f22e2-79b0-7cc3-98c4-dc0c0c07398",      // one digit short
           "017f22e2-79b0-7cc3-98c4-dc0c0c07398f0",    // one digit long
           "017f22e279b07cc398c4dc0c0c07398f",         // no dashes
           "017f22e2-79b0-7cc3-98c4_dc0c0c07398f",     // wrong separator
           "017f22e2-79b0-7cc3-98c4-dc0c0c07398g",     // not hex
           "017f22e2-79b0-7cc3-98c4-dc0c0c0 398f",     // space
           "017f22e2-79b07-cc3-98c4-dc0c0c07398f",     // dash misplaced
           "{017f22e2-79b0-7cc3-98c4-dc0c0c0739}",     // braces
           "017f22e2-79b0-7cc3-98c4-dc0c0c07398\xff",  // high byte
       }) {
    EXPECT_FALSE(base::Uuid::parse(text)) << text;
  }
}

// A forked child and its parent draw different random bits: the child does not reuse what
// the parent had drawn but not yet used.
TEST(Uuid, ForkedChildAndParentMakeDifferentIds) {
  (void)base::Uuid::v7();  // the parent has random bytes in hand before the fork
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    base::Uuid id = base::Uuid::v7_at(1'000);
    ssize_t written = ::write(pipe_fds[1], id.bytes.data(), id.bytes.size());
    ::_exit(written == static_cast<ssize_t>(id.bytes.size()) ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  base::Uuid in_parent = base::Uuid::v7_at(1'000);
  base::Uuid in_child;
  ASSERT_EQ(::read(pipe_fds[0], in_child.bytes.data(), in_child.bytes.size()),
            static_cast<ssize_t>(in_child.bytes.size()));
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // The 62 random bits after the variant differ (equal with odds of 2^-62).
  EXPECT_NE(std::vector<uint8_t>(in_parent.bytes.begin() + 8, in_parent.bytes.end()),
            std::vector<uint8_t>(in_child.bytes.begin() + 8, in_child.bytes.end()))
      << in_parent.to_string() << " " << in_child.to_string();
}

}  // namespace
}  // namespace mcptap::capture
