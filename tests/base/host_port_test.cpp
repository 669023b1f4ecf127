// HostPort: formatting with IPv6 brackets, equality, and parsing with errors that name the
// likely mistake.
#include "base/host_port.h"

#include <gtest/gtest.h>

namespace mcptap::base {
namespace {

std::string error_of(std::string_view text, std::string_view key = "listen") {
  Result<HostPort> parsed = parse_host_port(text, key);
  return parsed ? "(parsed " + parsed->to_string() + ")" : parsed.error().message;
}

TEST(HostPortTest, ToStringBracketsIpv6Literals) {
  EXPECT_EQ((HostPort{"0.0.0.0", 9001}.to_string()), "0.0.0.0:9001");
  EXPECT_EQ((HostPort{"::1", 80}.to_string()), "[::1]:80");
  EXPECT_EQ((HostPort{"mcp.internal", 8080}.to_string()), "mcp.internal:8080");
}

TEST(HostPortTest, EqualityComparesHostAndPort) {
  EXPECT_EQ((HostPort{"127.0.0.1", 9001}), (HostPort{"127.0.0.1", 9001}));
  EXPECT_NE((HostPort{"127.0.0.1", 9001}), (HostPort{"127.0.0.1", 9002}));
  EXPECT_NE((HostPort{"127.0.0.1", 9001}), (HostPort{"localhost", 9001}));
}

TEST(HostPortTest, ParsesHostPortBracketsAndAllInterfaces) {
  Result<HostPort> named = parse_host_port("mcp.internal:8080");
  ASSERT_TRUE(named) << named.error().message;
  EXPECT_EQ(*named, (HostPort{"mcp.internal", 8080}));
  Result<HostPort> v6 = parse_host_port("[::1]:9001");
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_EQ(*v6, (HostPort{"::1", 9001}));
  Result<HostPort> any = parse_host_port(":9902");
  ASSERT_TRUE(any) << any.error().message;
  EXPECT_EQ(*any, (HostPort{"0.0.0.0", 9902}));
  Result<HostPort> limits = parse_host_port("h:65535");
  ASSERT_TRUE(limits);
  EXPECT_EQ(limits->port, 65535);
  // What it formats parses back to the same endpoint.
  for (HostPort endpoint : {HostPort{"::", 1}, HostPort{"10.0.0.1", 0}, HostPort{"a.b", 80}}) {
    Result<HostPort> again = parse_host_port(endpoint.to_string());
    ASSERT_TRUE(again) << endpoint.to_string();
    EXPECT_EQ(*again, endpoint);
  }
}

TEST(HostPortTest, ErrorsNameTheMistake) {
  EXPECT_EQ(error_of("9001"), "expected \"host:port\", got \"9001\"");
  EXPECT_EQ(error_of("::1:9001"),
            "an IPv6 address needs brackets: \"[::1]:9001\", got \"::1:9001\"");
  EXPECT_EQ(error_of("h:"), "expected a port number 0-65535, got \"h:\"");
  EXPECT_EQ(error_of("h:123456"), "expected a port number 0-65535, got \"h:123456\"");
  EXPECT_EQ(error_of("h:80a"), "expected a port number, got \"h:80a\"");
  EXPECT_EQ(error_of("h:-1"), "expected a port number, got \"h:-1\"");
  EXPECT_EQ(error_of("h:70000"), "port out of range in \"h:70000\"");
  EXPECT_EQ(error_of("127.0.0.1:9001/mcp"),
            "\"127.0.0.1:9001/mcp\" has a path; listen is host:port - did you mean "
            "\"127.0.0.1:9001\"?");
}

TEST(HostPortTest, UrlErrorsNameTheHostPortMeant) {
  EXPECT_EQ(error_of("http://127.0.0.1:3101/mcp", "upstream"),
            "\"http://127.0.0.1:3101/mcp\" is a URL; upstream is host:port - did you mean "
            "\"127.0.0.1:3101\"?");
  EXPECT_EQ(error_of("wss://mcp.example.com/v1", "upstream"),
            "\"wss://mcp.example.com/v1\" is a URL; upstream is host:port - did you mean "
            "\"mcp.example.com:443\"?");
  // Credentials in the URL are not repeated.
  EXPECT_EQ(error_of("http://user:secret@[::1]:8080/x", "--admin"),
            "\"http://[::1]:8080/...\" is a URL; --admin is host:port - did you mean "
            "\"[::1]:8080\"?");
  EXPECT_EQ(error_of("ftp://files"), "\"ftp://files\" is a URL; listen is host:port");
}

}  // namespace
}  // namespace mcptap::base
