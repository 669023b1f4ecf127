#!/usr/bin/env bash
# Checks deploy/ without a container engine: lints the Dockerfile (hadolint when it can be
# installed), checks its required instructions statically, runs its build stage's steps
# natively in a temporary directory and checks that the runtime stage's packages provide
# every library the binary links, runs the image's health check against a live mcptap,
# starts mcptap on every shipped configuration, validates the compose and Kubernetes YAML,
# and checks `cmake --install`. Exit 0 when everything passed.
#   deploy/check-deploy.sh [--keep]     (run from anywhere; needs the Debian build packages)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dockerfile="$repo/deploy/Dockerfile"
work="$(mktemp -d /tmp/mcptap-check-deploy.XXXXXX)"
failures=0
mcptap_pid=""
cleanup() {
  if [ -n "$mcptap_pid" ] && kill -0 "$mcptap_pid" 2>/dev/null; then kill "$mcptap_pid"; fi
  if [ "${1:-}" != "--keep" ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap 'cleanup "${KEEP:-}"' EXIT
[ "${1:-}" = "--keep" ] && KEEP=--keep

pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
step() { echo; echo "== $*"; }

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
python3 - "$dockerfile" "$repo" "$work/stages.json" <<'PY' || failures=$((failures + 1))
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
build_packages="$(python3 -c '
import json, re, sys
stages = json.load(open(sys.argv[1]))
for keyword, rest in stages[0]["instructions"]:
    if keyword == "RUN" and "apt-get install" in rest:
        words = rest.split("apt-get install", 1)[1].split("&&")[0].split()
        print(" ".join(w for w in words if not w.startswith("-")))
' "$work/stages.json")"
runtime_packages="$(python3 -c '
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
for package in $runtime_packages; do
  if apt-cache show "$package" >/dev/null 2>&1; then pass "runtime package exists: $package"; else fail "no such package: $package"; fi
done
# The stage's COPY lines into a scratch /src, then its RUN lines with /build and /out
# moved under the scratch directory.
mkdir -p "$work/src"
python3 -c '
import json, sys
stages = json.load(open(sys.argv[1]))
for keyword, rest in stages[0]["instructions"]:
    if keyword == "COPY":
        print(rest)
' "$work/stages.json" | while read -r -a words; do
  target="${words[-1]}"
  for source in "${words[@]:0:${#words[@]}-1}"; do
    if [ "$target" = "./" ]; then cp -a "$repo/$source" "$work/src/"; else mkdir -p "$work/src/$target" && cp -a "$repo/$source/." "$work/src/$target"; fi
  done
done
python3 -c '
import json, sys
stages = json.load(open(sys.argv[1]))
for keyword, rest in stages[0]["instructions"]:
    if keyword == "RUN" and "apt-get" not in rest:
        print(rest)
' "$work/stages.json" | sed -e "s#/build#$work/build#g" -e "s#DESTDIR=/out#DESTDIR=$work/out#g" -e "s#/out/#$work/out/#g" \
  > "$work/build-steps.sh"
if (cd "$work/src" && bash -o pipefail -e "$work/build-steps.sh") > "$work/build.log" 2>&1; then
  pass "build stage RUN steps succeed (log: $work/build.log)"
else
  tail -20 "$work/build.log"
  fail "build stage RUN steps"
fi
binary="$work/out/usr/local/bin/mcptap"
for file in usr/local/bin/mcptap usr/local/share/man/man1/mcptap.1 usr/local/lib/systemd/system/mcptap.service; do
  if [ -e "$work/out/$file" ]; then pass "installed $file"; else fail "not installed: $file"; fi
done
# Warnings are the code's business, not the image's: reported, not failed here.
if grep -q "warning:" "$work/build.log"; then
  echo "warn the build has warnings in: $(grep -o '[a-z_/]*\.cpp:[0-9]*' "$work/build.log" | sort -u | tr '\n' ' ')"
else
  pass "warning-free build"
fi

step "runtime stage: every linked library comes from its packages"
if [ -x "$binary" ]; then
  provided="$(for package in $runtime_packages; do apt-cache depends --recurse --no-recommends --no-suggests \
    --no-conflicts --no-breaks --no-replaces --no-enhances "$package" 2>/dev/null | grep -v '^ ' ; done | sort -u)"
  for library in $(ldd "$binary" | awk '/=>/ {print $3}'); do
    owner="$(dpkg -S "$(readlink -f "$library")" 2>/dev/null | head -1 | cut -d: -f1 || true)"
    [ -n "$owner" ] || owner="$(dpkg -S "$library" 2>/dev/null | head -1 | cut -d: -f1 || true)"
    [ -n "$owner" ] || owner="$(dpkg -S "/usr$library" 2>/dev/null | head -1 | cut -d: -f1 || true)"
    case "$owner" in
      libc6|libgcc-s1|libstdc++6) pass "$(basename "$library") from $owner (in the base image)" ;;
      *) if echo "$provided" | grep -qx "$owner"; then pass "$(basename "$library") from $owner";
         else fail "$(basename "$library") comes from $owner, which the runtime stage does not install"; fi ;;
    esac
  done
fi

step "health check and SIGTERM against a live mcptap"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
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
  # Same keys, loopback ports picked by the kernel, a scratch spool.
  python3 - "$config" "$work/shipped.json" "$work/spool-shipped" <<'PY'
import json, sys
source, target, spool = sys.argv[1:4]
if source.endswith(".yaml"):
    import yaml
    document = json.loads(yaml.safe_load(open(source))["data"]["mcptap.json"])
else:
    document = json.load(open(source))
document.setdefault("admin", {})["listen"] = "127.0.0.1:0"
for route in document["routes"]:
    route["listen"] = "127.0.0.1:0"
document.setdefault("sink", {}).update(spool_dir=spool, postgres="postgresql://nobody@127.0.0.1:9/none")
json.dump(document, open(target, "w"))
PY
  "$binary" run --config "$work/shipped.json" 2> "$work/shipped.log" &
  pid=$!
  sleep 0.5
  if kill -TERM "$pid" 2>/dev/null && wait "$pid"; then pass "$name accepted by mcptap run"; else
    fail "$name: $(grep -m1 mcptap: "$work/shipped.log" || tail -1 "$work/shipped.log")"; fi
done

step "YAML: compose and Kubernetes"
if ! python3 -c 'import yaml' 2>/dev/null && [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-yaml >/dev/null || true
fi
python3 - "$repo" <<'PY' || failures=$((failures + 1))
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

echo
if [ "$failures" -eq 0 ]; then echo "check-deploy: all checks passed"; else echo "check-deploy: $failures failed"; fi
[ "$failures" -eq 0 ]
