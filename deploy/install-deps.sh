#!/usr/bin/env bash
# Installs every Debian package mcptap's build, tests and demo need (with --checks, also
# clang for the fuzzers). Idempotent: packages already present are left alone, and nothing
# is fetched when all of them are there. OpenSSL 3 comes as libssl-dev (TLS on routes,
# libcrypto's SHA-256 and random source), the openssl CLI (the tests make their
# certificates with it) and ca-certificates (the system store that upstream TLS verifies
# against by default).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libuv1-dev node-llhttp nlohmann-json3-dev libpq-dev libcli11-dev libgtest-dev zlib1g-dev
  libssl-dev openssl ca-certificates
  postgresql postgresql-client
  python3 python3-websockets python3-prometheus-client python3-yaml iptables iproute2
  nodejs npm
)

# `--checks`: also what CI's extra checks need (the libFuzzer harnesses and their runtime,
# clang-format for the formatting check).
if [ "${1:-}" = "--checks" ]; then
  packages+=(clang-14 libclang-rt-14-dev clang-format-14)
fi

# The interop tests need node and npm; a machine that already has them (from another
# source than Debian) keeps its own.
if command -v node >/dev/null && command -v npm >/dev/null; then
  packages=("${packages[@]/nodejs}")
  packages=("${packages[@]/npm}")
fi

missing=()
for package in "${packages[@]}"; do
  [ -n "$package" ] || continue
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
echo "install-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
