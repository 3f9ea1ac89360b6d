#!/usr/bin/env bash
# Container smoke test: build the image, run it, wait for its own HEALTHCHECK, check the user
# cannot write the code, answer a /detect, then stop it with requests in flight and count the
# answers. Works with podman or docker. `make image-test` runs it; figures go to
# bench/results/image-test.json.
#
# Settings (environment):
#   ENGINE      podman or docker (default: podman if installed)
#   BASE_IMAGE  the build's base (default python:3.11-slim); where Docker Hub is unreachable,
#               make one: BASE_IMAGE=$(deploy/base-image.sh)
#   IMAGE       the tag to build (default d2l-serve:test)
#   PHOTO       the JPEG to detect on (default ../shared/data/sysu-logo/unlabelled/1.jpg)
#   IN_FLIGHT   requests in flight at the stop (default 24)
#   MAX_IMAGE_GB  the size the image must stay under (default 6.5)
#   PORT        the host port (default 18000)
set -euo pipefail
cd "$(dirname "$0")/.."

engine=${ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}
base=${BASE_IMAGE:-python:3.11-slim}
image=${IMAGE:-d2l-serve:test}
photo=${PHOTO:-../shared/data/sysu-logo/unlabelled/1.jpg}
in_flight=${IN_FLIGHT:-24}
max_gb=${MAX_IMAGE_GB:-6.5}
port=${PORT:-18000}
name=d2l-serve-image-test-$$
work=$(mktemp -d)
trap '"$engine" rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

say() { printf '[image-test] %s\n' "$*"; }
fail() { say "FAILED: $*"; exit 1; }

build_flags=(--build-arg "BASE_IMAGE=$base")
run_flags=()
if [ "$engine" = podman ]; then
    # Docker's image format keeps HEALTHCHECK (OCI's drops it).
    build_flags+=(--format docker --runtime "${PODMAN_RUNTIME:-runc}")
    run_flags+=(--runtime "${PODMAN_RUNTIME:-runc}" --ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
fi
# This host's pip sources (local wheel folders, a local index, a proxy's CA) go into the build:
# podman mounts them read-only; docker build cannot mount, so it passes only URLs.
while IFS='=' read -r key value; do
    [ -n "$key" ] || continue
    for item in $value; do
        path=${item#file://}
        # A local index (…/simple) points at files beside it: mount its parent.
        [ "$(basename "$path")" != simple ] || path=$(dirname "$path")
        if [ -e "$path" ] && [ "$engine" = podman ]; then
            build_flags+=(-v "$path:$path:ro")
        elif [ -e "$path" ]; then
            continue 2
        fi
    done
    build_flags+=(--build-arg "$key=$value")
done < <(python3 - <<'EOF'
import subprocess
names = {"find-links": "PIP_FIND_LINKS", "extra-index-url": "PIP_EXTRA_INDEX_URL",
         "cert": "PIP_CERT", "constraint": "PIP_CONSTRAINT"}
found = {}
listing = subprocess.run(["python3", "-m", "pip", "config", "list"], capture_output=True, text=True)
for line in listing.stdout.splitlines():
    key, _, value = line.partition("=")
    option = key.rsplit(".", 1)[-1]
    if option in names:
        found[names[option]] = value.strip().strip("'\"")
for name, value in found.items():
    print(f"{name}={value}")
EOF
)

say "building $image on $base with $engine"
started=$(date +%s)
"$engine" build "${build_flags[@]}" -t "$image" . >"$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log"; fail "the build failed"; }
build_s=$(( $(date +%s) - started ))
size=$("$engine" image inspect --format '{{.Size}}' "$image")
size_gb=$(python3 -c "print(round($size / 1e9, 2))")
say "built in ${build_s} s: ${size_gb} GB"
python3 -c "import sys; sys.exit($size / 1e9 > $max_gb)" || fail "the image is over ${max_gb} GB"
layers=$("$engine" history --format '{{.Size}} {{.CreatedBy}}' "$image" | head -20)

"$engine" run -d --name "$name" "${run_flags[@]}" -p "127.0.0.1:$port:8000" "$image" >/dev/null
user=$("$engine" exec "$name" id -u)
[ "$user" != 0 ] || fail "the service runs as root"
for path in /srv/d2l-serve/app /srv/d2l-serve/weights /opt/venv/lib; do
    if "$engine" exec "$name" sh -c "touch $path/.written" 2>/dev/null; then
        fail "the service user can write $path"
    fi
done
say "runs as uid $user, which cannot write the code, the weights or the packages"

# The image's own HEALTHCHECK decides: healthy once every model is loaded.
started=$(date +%s)
health=starting
until [ "$health" = healthy ]; do
    [ "$("$engine" inspect --format '{{.State.Running}}' "$name")" = true ] \
        || { "$engine" logs "$name" | tail -20; fail "the container exited"; }
    if [ "$engine" = podman ]; then
        "$engine" healthcheck run "$name" >/dev/null 2>&1 && health=healthy
    else
        health=$("$engine" inspect --format '{{.State.Health.Status}}' "$name")
    fi
    [ $(( $(date +%s) - started )) -lt 600 ] || fail "not healthy after 600 s"
    [ "$health" = healthy ] || sleep 2
done
ready_s=$(( $(date +%s) - started ))
say "healthy (its HEALTHCHECK) after ${ready_s} s"

url=http://127.0.0.1:$port
detect=$(curl -sf -F "file=@$photo" "$url/detect") || fail "/detect did not answer 200"
boxes=$(python3 -c "import json, sys; print(len(json.loads(sys.argv[1])['detections']))" "$detect")
say "/detect on $photo: $boxes box(es): $detect"

# Stop with requests in flight: each curl writes its status; all must be 200.
for i in $(seq "$in_flight"); do
    curl -s -o /dev/null -w '%{http_code}\n' -F "file=@$photo" "$url/detect" >"$work/answer.$i" &
done
until curl -s "$url/metrics" | awk '/^d2l_model_in_progress/ {n += $2} END {exit !(n > 0)}'; do
    sleep 0.05
done
"$engine" stop -t 60 "$name" >/dev/null
wait
answered=$(cat "$work"/answer.* | grep -c '^200$' || true)
say "stopped with requests in flight: $answered of $in_flight answered 200"
[ "$answered" = "$in_flight" ] || fail "requests were lost at the stop"
probe_lines=$("$engine" logs "$name" 2>&1 | grep -c '/health/ready 200' || true)
[ "$probe_lines" = 0 ] || fail "health probes are logged at info ($probe_lines lines)"

mkdir -p bench/results
python3 - "$engine" "$base" "$image" "$size" "$build_s" "$ready_s" "$boxes" "$answered" "$in_flight" "$user" <<'EOF'
import json, sys
engine, base, image, size, build_s, ready_s, boxes, answered, in_flight, user = sys.argv[1:]
result = {
    "command": "make image-test", "engine": engine, "base_image": base, "image": image,
    "size_gb": round(int(size) / 1e9, 2), "build_seconds": int(build_s),
    "seconds_to_healthy": int(ready_s), "uid": int(user), "detect_boxes": int(boxes),
    "stop_with_requests_in_flight": {"sent": int(in_flight), "answered_200": int(answered)},
}
json.dump(result, open("bench/results/image-test.json", "w"), indent=2)
print(json.dumps(result))
EOF
say "passed"
