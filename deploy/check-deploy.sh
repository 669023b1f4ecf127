#!/usr/bin/env bash
# Checks deploy/ without a container engine: lints the Dockerfile (hadolint when it can be
# installed), checks its required instructions statically, runs its build stage's steps
# natively (configure, build, `cmake --install`) and checks that the runtime stage's
# packages provide every library the binary links, runs the image's health check against
# a live mcptap, starts mcptap on every shipped configuration, and validates the compose
# and Kubernetes YAML and the systemd unit. Exit 0 when everything passed.
#   deploy/check-deploy.sh [--keep] [--build-dir DIR]
# Run from anywhere; needs the Debian build packages (deploy/install-deps.sh).
#   --keep           keep the scratch directory (build log, installed tree) and say where
#   --build-dir DIR  (or MCPTAP_CHECK_DEPLOY_BUILD_DIR=DIR) replay the build stage in DIR
#                    (its src/ and build/), kept between runs: the stage's steps all run as
#                    written, but only what changed since the last run is compiled again.
#                    A DIR that is a CMake build tree itself (build/, say) gets a
#                    check-deploy/ subdirectory. Without it: scratch, a full build.
# The full build is most of the time (6-7 min on 2 busy cores; the other checks run beside
# it); with --build-dir and nothing changed a run takes about half a minute.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dockerfile="$repo/deploy/Dockerfile"
keep=""
build_dir="${MCPTAP_CHECK_DEPLOY_BUILD_DIR:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=yes ;;
    --build-dir) [ $# -ge 2 ] || { echo "check-deploy: --build-dir needs a directory" >&2; exit 2; }
                 build_dir="$2"; shift ;;
    --build-dir=*) build_dir="${1#--build-dir=}" ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-deploy: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
# The distribution's interpreter: python3-yaml is installed for it, whatever is first on PATH.
python=/usr/bin/python3
[ -x "$python" ] || python="$(command -v python3)"
work="$(mktemp -d /tmp/mcptap-check-deploy.XXXXXX)"
failures=0
mcptap_pid=""
build_pid=""
cleanup() {
  if [ -n "$mcptap_pid" ] && kill -0 "$mcptap_pid" 2>/dev/null; then kill "$mcptap_pid"; fi
  # The build runs in a session of its own: its compilers stop with it.
  if [ -n "$build_pid" ] && kill -0 "$build_pid" 2>/dev/null; then
    kill -- "-$build_pid" 2>/dev/null || kill "$build_pid" 2>/dev/null || true
  fi
  if [ -z "$keep" ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT

pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
step() { echo; echo "== $* [${SECONDS}s]"; }

step "hadolint"
if ! command -v hadolint >/dev/null && apt-cache show hadolint >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hadolint >/dev/null || true
fi
if command -v hadolint >/dev/null; then
  if hadolint "$dockerfile"; then pass "hadolint"; else fail "hadolint"; fi
else
  echo "skip hadolint: not packaged for this distribution; the static checks below stand in"
fi

step "Dockerfile: instructions"
# Instructions as (keyword, arguments, stage), continuation lines joined.
"$python" - "$dockerfile" "$repo" "$work/stages.json" <<'PY' || failures=$((failures + 1))
import json, os, re, sys
path, repo, out = sys.argv[1:4]
lines, current = [], ""
for raw in open(path):
    line = raw.rstrip("\n")
    if not current and (not line.strip() or line.lstrip().startswith("#")):
        continue
    if line.endswith("\\"):
        current += line[:-1] + " "
        continue
    current += line
    lines.append(current.strip())
    current = ""
stages, problems = [], []
args = {}
for line in lines:
    keyword, _, rest = line.partition(" ")
    keyword = keyword.upper()
    if keyword == "ARG" and not stages:
        name, _, value = rest.partition("=")
        args[name.strip()] = value.strip()
        continue
    if keyword == "FROM":
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), rest.split()[0])
        name = rest.split()[2] if len(rest.split()) > 2 else None
        stages.append({"image": image, "name": name, "instructions": []})
        continue
    if not stages:
        problems.append(f"{keyword} before FROM")
        continue
    stages[-1]["instructions"].append([keyword, rest])
def ok(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        problems.append(what)
ok(len(stages) >= 2, "multi-stage build (%d stages)" % len(stages))
ok(all("bookworm" in s["image"] for s in stages), "every stage on Debian bookworm: " + ", ".join(s["image"] for s in stages))
ok(all(":latest" not in s["image"] for s in stages), "no :latest base image")
runtime = stages[-1]
kinds = [k for k, _ in runtime["instructions"]]
users = [r for k, r in runtime["instructions"] if k == "USER"]
ok(bool(users) and users[-1].split(":")[0] not in ("0", "root"), "runtime runs as a non-root USER: %s" % (users[-1] if users else None))
ok("slim" in runtime["image"], "runtime image is slim: " + runtime["image"])
health = [r for k, r in runtime["instructions"] if k == "HEALTHCHECK"]
ok(bool(health) and "healthcheck" in health[0], "HEALTHCHECK present")
entry = open(os.path.join(repo, "deploy/docker-entrypoint")).read()
ok("/healthz" in entry, "the health check asks /healthz")
ok("exec /usr/local/bin/mcptap run" in entry, "the entry point execs mcptap (PID 1 receives SIGTERM)")
ok(("STOPSIGNAL", "SIGTERM") in [tuple(i) for i in runtime["instructions"]], "STOPSIGNAL SIGTERM")
ok("ENTRYPOINT" in kinds and "CMD" in kinds, "ENTRYPOINT and CMD")
text = open(path).read()
ok("MCPTAP_PG_URL" in text and "MCPTAP_ADMIN_TOKEN" in text and "MCPTAP_CONFIG" in text, "env overrides documented and set")
ok(not any(k == "ADD" for s in stages for k, _ in s["instructions"]), "COPY rather than ADD")
for stage in stages:
    for keyword, rest in stage["instructions"]:
        if keyword == "COPY" and "--from=" not in rest:
            for source in rest.split()[:-1]:
                ok(os.path.exists(os.path.join(repo, source)), f"COPY source exists: {source}")
        if keyword == "RUN" and "apt-get install" in rest:
            ok("--no-install-recommends" in rest and "rm -rf /var/lib/apt/lists" in rest,
               "apt-get install without recommends, lists removed")
json.dump(stages, open(out, "w"))
sys.exit(1 if problems else 0)
PY

step "Dockerfile: the build stage's steps, natively"
build_packages="$("$python" -c '
import json, re, sys
stages = json.load(open(sys.argv[1]))
for keyword, rest in stages[0]["instructions"]:
    if keyword == "RUN" and "apt-get install" in rest:
        words = rest.split("apt-get install", 1)[1].split("&&")[0].split()
        print(" ".join(w for w in words if not w.startswith("-")))
' "$work/stages.json")"
runtime_packages="$("$python" -c '
import json, sys
stages = json.load(open(sys.argv[1]))
for keyword, rest in stages[-1]["instructions"]:
    if keyword == "RUN" and "apt-get install" in rest:
        words = rest.split("apt-get install", 1)[1].split("&&")[0].split()
        print(" ".join(w for w in words if not w.startswith("-")))
' "$work/stages.json")"
missing=""
for package in $build_packages; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing="$missing $package"
done
if [ -z "$missing" ]; then pass "build packages installed: $build_packages"; else fail "build packages missing:$missing (deploy/install-deps.sh)"; fi
# One apt-cache call for all of them (each call loads the package cache).
read -r -d "" -a runtime_list <<< "$runtime_packages" || true  # every line of them
available="$(apt-cache show "${runtime_list[@]}" 2>/dev/null | sed -n 's/^Package: //p' | sort -u || true)"
for package in $runtime_packages; do
  if echo "$available" | grep -qx "$package"; then pass "runtime package exists: $package"; else fail "no such package: $package"; fi
done
# The stage's COPY lines into /src, then its RUN lines with /build and /out moved: /src
# and /build into the scratch directory, or into --build-dir (sources copied with their
# times, so the build tree there recompiles only what changed), /out always into scratch.
stage="$work"
if [ -n "$build_dir" ]; then
  mkdir -p "$build_dir"
  stage="$(cd "$build_dir" && pwd)"
  if [ -f "$stage/CMakeCache.txt" ]; then stage="$stage/check-deploy"; mkdir -p "$stage"; fi
  # Without the warnings of its objects (never recorded, or a run cut short) a build tree
  # is built afresh, so that every warning is reported.
  if [ -d "$stage/build" ] && [ ! -f "$stage/warnings.json" ]; then rm -rf "$stage/build"; fi
  if [ -d "$stage/build" ]; then echo "reusing the build tree in $stage/build"; fi
fi
mv "$stage/warnings.json" "$work/warnings-before.json" 2>/dev/null || true
rm -rf "$stage/src"
mkdir -p "$stage/src"
"$python" -c '
import json, sys
stages = json.load(open(sys.argv[1]))
for keyword, rest in stages[0]["instructions"]:
    if keyword == "COPY":
        print(rest)
' "$work/stages.json" | while read -r -a words; do
  target="${words[-1]}"
  for source in "${words[@]:0:${#words[@]}-1}"; do
    if [ "$target" = "./" ]; then cp -a "$repo/$source" "$stage/src/"; else mkdir -p "$stage/src/$target" && cp -a "$repo/$source/." "$stage/src/$target"; fi
  done
done
"$python" -c '
import json, sys
stages = json.load(open(sys.argv[1]))
for keyword, rest in stages[0]["instructions"]:
    if keyword == "RUN" and "apt-get" not in rest:
        print(rest)
' "$work/stages.json" | sed -e "s#/build#$stage/build#g" -e "s#DESTDIR=/out#DESTDIR=$work/out#g" -e "s#/out/#$work/out/#g" \
  > "$work/build-steps.sh"
# The build runs while the checks that do not need its binary go on.
# shellcheck disable=SC2016  # $1 and $2 are the inner shell's
setsid -w bash -c 'cd "$1" && exec bash -o pipefail -e "$2"' build "$stage/src" "$work/build-steps.sh" \
  > "$work/build.log" 2>&1 &
build_pid=$!
echo "building in the background (log: $work/build.log)"
# Every package the runtime stage's install brings in, for the library check below.
provided="$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "${runtime_list[@]}" 2>/dev/null | grep -v '^ ' | sort -u || true)"

step "YAML: compose and Kubernetes"
if ! "$python" -c 'import yaml' 2>/dev/null && [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-yaml >/dev/null || true
fi
"$python" - "$repo" <<'PY' || failures=$((failures + 1))
import os, sys
import yaml
repo = sys.argv[1]
problems = []
def ok(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        problems.append(what)
compose_dir = os.path.join(repo, "deploy/compose")
compose = yaml.safe_load(open(os.path.join(compose_dir, "docker-compose.yml")))
services = compose["services"]
sidecars = [n for n, s in services.items() if s.get("image", "").startswith("mcptap:")]
ok(len(sidecars) == 2, f"compose: two mcptap sidecars {sidecars}")
ok("postgres" in services, "compose: postgres")
for name in sidecars:
    service = services[name]
    ok(service.get("network_mode", "").startswith("service:"), f"compose: {name} shares its backend's network namespace")
    ok("MCPTAP_PG_URL" in service["environment"] and "MCPTAP_ADMIN_TOKEN" in service["environment"], f"compose: {name} gets the DSN and token from the environment")
    for volume in service["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            ok(os.path.exists(os.path.join(compose_dir, source)), f"compose: {name} mounts existing {source}")
for name, service in services.items():
    build = service.get("build")
    if isinstance(build, dict):
        context = os.path.normpath(os.path.join(compose_dir, build["context"]))
        ok(os.path.exists(os.path.join(context, build["dockerfile"])), f"compose: {name} builds from an existing {build['dockerfile']}")
k8s = os.path.join(repo, "deploy/k8s")
documents = {}
for file in sorted(os.listdir(k8s)):
    if file.endswith(".yaml"):
        for document in yaml.safe_load_all(open(os.path.join(k8s, file))):
            ok(all(key in document for key in ("apiVersion", "kind", "metadata")), f"k8s: {file} {document.get('kind')} well formed")
            documents[document["kind"]] = document
pod = documents["Deployment"]["spec"]["template"]["spec"]
sidecar = next(c for c in pod.get("initContainers", []) if c["name"] == "mcptap")
ok(sidecar.get("restartPolicy") == "Always", "k8s: mcptap is a native sidecar (init container, restartPolicy Always)")
ok(sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz" and sidecar["livenessProbe"]["httpGet"]["path"] == "/healthz", "k8s: readiness /readyz, liveness /healthz")
ok(all(k in sidecar["resources"].get(s, {}) for s in ("requests", "limits") for k in ("cpu", "memory")), "k8s: resource requests and limits")
ok(any(e.get("secretRef", {}).get("name") == documents["Secret"]["metadata"]["name"] for e in sidecar.get("envFrom", [])), "k8s: DSN and token from the Secret")
ok(set(documents["Secret"]["stringData"]) == {"MCPTAP_PG_URL", "MCPTAP_ADMIN_TOKEN"}, "k8s: Secret holds the DSN and token")
mounted = {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v}
ok(documents["ConfigMap"]["metadata"]["name"] in mounted, "k8s: ConfigMap mounted")
ok(pod.get("terminationGracePeriodSeconds", 30) > 10, "k8s: grace period above the drain timeout")
sys.exit(1 if problems else 0)
PY

step "systemd unit"
unit="$repo/deploy/systemd/mcptap.service"
if command -v systemd-analyze >/dev/null && systemd-analyze verify "$unit" >/dev/null 2>&1; then
  pass "systemd-analyze verify"
else
  for key in "ExecStart=/usr/local/bin/mcptap run --config" "ExecReload=" "KillSignal=SIGTERM" "WantedBy=multi-user.target" "EnvironmentFile="; do
    if grep -q "^$key" "$unit"; then pass "unit has $key"; else fail "unit lacks $key"; fi
  done
fi

step "Dockerfile: the build stage's steps, natively (continued)"
if wait "$build_pid"; then
  build_pid=""
  pass "build stage RUN steps succeed (log: $work/build.log)"
else
  build_pid=""
  tail -20 "$work/build.log"
  fail "build stage RUN steps"
fi
binary="$work/out/usr/local/bin/mcptap"
for file in usr/local/bin/mcptap usr/local/share/man/man1/mcptap.1 usr/local/lib/systemd/system/mcptap.service; do
  if [ -e "$work/out/$file" ]; then pass "installed $file"; else fail "not installed: $file"; fi
done
# Warnings are the code's business, not the image's: reported, not failed here. Each is
# reported at the last place in the sources the compiler named before it (one in a system
# header, where the sources' inlined call is). A reused build tree keeps the warnings of
# every object it compiled (warnings.json), so files not compiled again still report theirs.
warnings="$("$python" - "$work/build.log" "$stage/src/" "$work/warnings-before.json" "$stage/warnings.json" "$stage/build" <<'PY'
import json, os, re, sys
log, src, before, after, build = sys.argv[1:6]
place = re.compile(re.escape(src) + r"([^:\s]+):(\d+)")
edge = re.compile(r"^\[\d+/\d+\] Building \S+ object (\S+)")
try:
    known = json.load(open(before))
except (OSError, ValueError):
    known = {}
other, current, where = [], None, None
for line in open(log, errors="replace"):
    compiling = edge.match(line)
    if compiling:
        current, where = compiling.group(1), None
        known[current] = []
        continue
    if line.startswith("["):
        current = None
    places = place.findall(line)
    if places:
        where = "%s:%s" % places[-1]
    if "warning:" in line:
        flag = re.search(r"\[(-W[^\]]+)\]", line)
        text = (where or line.split(": warning", 1)[0]) + (" (%s)" % flag.group(1) if flag else "")
        (known[current] if current else other).append(text)
        where = None
known = {o: w for o, w in known.items() if w and os.path.exists(os.path.join(build, o))}
json.dump(known, open(after, "w"))
print(", ".join(sorted(set(other).union(*known.values()))))
PY
)"
if [ -n "$warnings" ]; then
  echo "warn the build has warnings at: $warnings"
else
  pass "warning-free build"
fi

step "runtime stage: every linked library comes from its packages"
if [ -x "$binary" ]; then
  libraries="$(ldd "$binary" | awk '/=>/ {print $3}')"
  # One dpkg -S for every candidate path (each call reads the whole package database):
  # the resolved file, the path ldd printed, and its /usr twin on merged-/usr systems.
  owners="$(for library in $libraries; do readlink -f "$library"; echo "$library"; echo "/usr$library"; done \
    | sort -u | xargs dpkg -S 2>/dev/null || true)"
  owner_of() { echo "$owners" | awk -v path="$1" '{ i = index($0, ": "); if (substr($0, i + 2) == path) { print substr($0, 1, i - 1); exit } }' | cut -d: -f1; }
  for library in $libraries; do
    owner="$(owner_of "$(readlink -f "$library")")"
    [ -n "$owner" ] || owner="$(owner_of "$library")"
    [ -n "$owner" ] || owner="$(owner_of "/usr$library")"
    case "$owner" in
      libc6|libgcc-s1|libstdc++6) pass "$(basename "$library") from $owner (in the base image)" ;;
      *) if echo "$provided" | grep -qx "$owner"; then pass "$(basename "$library") from $owner";
         else fail "$(basename "$library") comes from $owner, which the runtime stage does not install"; fi ;;
    esac
  done
fi

step "health check and SIGTERM against a live mcptap"
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if [ -x "$binary" ]; then
  admin_port="$(free_port)"
  cat > "$work/live.json" <<JSON
{ "admin": { "listen": "127.0.0.1:$admin_port" },
  "routes": [ { "name": "probe", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9" } ],
  "sink": { "postgres": "postgresql://nobody@127.0.0.1:9/none", "spool_dir": "$work/spool" } }
JSON
  "$binary" run --config "$work/live.json" 2> "$work/live.log" &
  mcptap_pid=$!
  healthy=""
  for _ in $(seq 1 100); do
    if MCPTAP_ADMIN_PORT="$admin_port" "$repo/deploy/docker-entrypoint" healthcheck 2>/dev/null; then healthy=yes; break; fi
    sleep 0.1
  done
  if [ -n "$healthy" ]; then pass "docker-entrypoint healthcheck: healthy"; else fail "docker-entrypoint healthcheck never passed"; fi
  kill -TERM "$mcptap_pid"
  if wait "$mcptap_pid"; then pass "SIGTERM: drained, exit 0"; else fail "SIGTERM: exit $?"; fi
  mcptap_pid=""
  if MCPTAP_ADMIN_PORT="$admin_port" "$repo/deploy/docker-entrypoint" healthcheck 2>/dev/null; then
    fail "healthcheck passes with nothing listening"
  else
    pass "docker-entrypoint healthcheck: unhealthy once stopped"
  fi
fi

step "shipped configurations start"
for config in "$repo"/deploy/mcptap.json "$repo"/deploy/compose/*.json "$repo"/deploy/k8s/configmap.yaml; do
  [ -x "$binary" ] || break
  name="${config#"$repo"/}"
  # Same keys, loopback ports (routes' picked by the kernel), a scratch spool.
  admin_port="$(free_port)"
  "$python" - "$config" "$work/shipped.json" "$work/spool-shipped" "$admin_port" <<'PY'
import json, sys
source, target, spool, admin_port = sys.argv[1:5]
if source.endswith(".yaml"):
    import yaml
    document = json.loads(yaml.safe_load(open(source))["data"]["mcptap.json"])
else:
    document = json.load(open(source))
document.setdefault("admin", {})["listen"] = "127.0.0.1:" + admin_port
for route in document["routes"]:
    route["listen"] = "127.0.0.1:0"
document.setdefault("sink", {}).update(spool_dir=spool, postgres="postgresql://nobody@127.0.0.1:9/none")
json.dump(document, open(target, "w"))
PY
  "$binary" run --config "$work/shipped.json" 2> "$work/shipped.log" &
  pid=$!
  # Up (healthy) or gone: a rejected configuration exits at once.
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    MCPTAP_ADMIN_PORT="$admin_port" "$repo/deploy/docker-entrypoint" healthcheck 2>/dev/null && break
    sleep 0.1
  done
  if kill -TERM "$pid" 2>/dev/null && wait "$pid"; then pass "$name accepted by mcptap run"; else
    fail "$name: $(grep -m1 mcptap: "$work/shipped.log" || tail -1 "$work/shipped.log")"; fi
done

echo
if [ "$failures" -eq 0 ]; then echo "check-deploy: all checks passed"; else echo "check-deploy: $failures failed"; fi
[ "$failures" -eq 0 ]
