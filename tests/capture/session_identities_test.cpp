// Tests for capture/session_identities: per-session identities of earlier revisions.
#include "capture/session_identities.h"

#include <gtest/gtest.h>

namespace mcptap::capture {
namespace {

ClientIdentity identity(std::string version, std::string name = "", std::string build = "") {
  ClientIdentity value;
  value.protocol_version = std::move(version);
  value.client_name = std::move(name);
  value.client_version = std::move(build);
  return value;
}

TEST(SessionIdentities, EqualIdentitiesAreSharedAndEmptyOnesAreNull) {
  SessionIdentities identities;
  auto a = identities.intern(identity("2026-07-28", "c", "1"));
  auto b = identities.intern(identity("2026-07-28", "c", "1"));
  EXPECT_EQ(a.get(), b.get());
  EXPECT_NE(a.get(), identities.intern(identity("2026-07-28", "c", "2")).get());
  EXPECT_EQ(identities.intern(ClientIdentity{}), nullptr);
}

TEST(SessionIdentities, AnswerUpdatesTheVersionAndKeepsTheClient) {
  SessionIdentities identities;
  identities.remember("s", identity("2025-06-18", "claude", "2.1"));
  identities.remember("s", identity("2025-03-26"));
  auto found = identities.find("s");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(*found, identity("2025-03-26", "claude", "2.1"));
  EXPECT_EQ(identities.find("other"), nullptr);
  identities.forget("s");
  EXPECT_EQ(identities.find("s"), nullptr);
}

TEST(SessionIdentities, LeastRecentlyUsedSessionGoesAtTheBound) {
  SessionIdentities identities(2);
  identities.remember("a", identity("1"));
  identities.remember("b", identity("2"));
  ASSERT_NE(identities.find("a"), nullptr);  // a is now the most recent
  identities.remember("c", identity("3"));
  EXPECT_EQ(identities.sessions(), 2u);
  EXPECT_NE(identities.find("a"), nullptr);
  EXPECT_EQ(identities.find("b"), nullptr);
  EXPECT_NE(identities.find("c"), nullptr);
}

TEST(SessionIdentities, MetaHasVersionAndClient) {
  nlohmann::json meta = nlohmann::json::object();
  write_identity_meta(identity("2026-07-28", "ops", "1.0"), meta);
  EXPECT_EQ(meta,
            nlohmann::json::parse(
                R"({"protocol_version":"2026-07-28","client":{"name":"ops","version":"1.0"}})"));
}

}  // namespace
}  // namespace mcptap::capture
