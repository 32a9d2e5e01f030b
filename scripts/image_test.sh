#!/usr/bin/env bash
# `make image-test`: prove deploy/Dockerfile builds and serves, with no registry at hand.
#
# 1. bootstrap a Debian bookworm base with Python 3.11 + venv (debootstrap), import it into
#    podman as localhost/s2s-debian-python:bookworm (cached in podman's store after the first run);
# 2. build a wheelhouse of the serving dependencies on the host (pip, through its usual index);
# 3. build deploy/Dockerfile on that base, offline (--network none, wheels mounted at /wheels);
# 4. run the container as compose does (read-only, all capabilities dropped) with its gRPC and
#    metrics ports published on 127.0.0.1, and check: health SERVING, the liveness name, the
#    image's own HEALTHCHECK, a real Translate, metrics, the user, and a graceful stop (exit 0).
# Needs root (or rootless podman), podman, runc and debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=localhost/s2s-debian-python:bookworm
IMAGE=localhost/seq2seq-serve:image-test
NAME=s2s-image-test-$$
WORK=.cache/image-test
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PY=.venv/bin/python
S2S=.venv/bin/s2s
PODMAN=(podman)
# Explicit limits: podman's defaults (its own nproc hard limit) can exceed what an unprivileged
# sandbox lets runc set ("error setting rlimit type 6: operation not permitted").
NOFILE=$(ulimit -Hn); [ "$NOFILE" = unlimited ] || [ "$NOFILE" -gt 65536 ] && NOFILE=65536
RUNTIME=(--runtime runc --ulimit "nofile=$NOFILE:$NOFILE" --ulimit nproc=4096:4096)

step() { printf '\n== %s\n' "$*"; }
for tool in podman runc debootstrap; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install podman runc debootstrap" >&2; exit 2; }
done
[ -x "$PY" ] || { echo "run make dev first" >&2; exit 2; }
mkdir -p "$WORK"
started=$(date +%s)

step "base image $BASE"
if "${PODMAN[@]}" image exists "$BASE"; then
  echo "cached: $("${PODMAN[@]}" image inspect --format '{{.Id}} {{.Created}}' "$BASE")"
else
  rootfs=$WORK/rootfs
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "${PODMAN[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' - "$BASE"
  rm -rf "$rootfs"
fi
"${PODMAN[@]}" run --rm "${RUNTIME[@]}" --network none "$BASE" python3 --version

step "wheelhouse (serving dependencies only)"
rm -rf "$WORK/wheels"
"$PY" -m pip wheel --quiet --wheel-dir "$WORK/wheels" . 2>&1 | grep -v "^WARNING: Location" || true
# Build requirements, and what the base's Python 3.11.2 needs beyond the host's (redis wants
# async-timeout below 3.11.3).
"$PY" -m pip download --quiet --dest "$WORK/wheels" "setuptools>=77" wheel "async-timeout>=4.0.3" 2>&1 \
  | grep -v "^WARNING: Location" || true
ls "$WORK/wheels" | sed 's/^/  /'
if ls "$WORK/wheels" | grep -qiE '^(torch|transformers)'; then
  echo "torch/transformers in the serving wheelhouse" >&2; exit 1
fi

REVISION=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
step "podman build deploy/Dockerfile (offline, BASE_IMAGE=$BASE)"
# Docker image format: the OCI format has no HEALTHCHECK.
"${PODMAN[@]}" build "${RUNTIME[@]}" --format docker --network none \
  --volume "$PWD/$WORK/wheels:/wheels:ro" \
  --build-arg BASE_IMAGE="$BASE" --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels \
  --build-arg BUILD_REVISION="$REVISION" \
  -f deploy/Dockerfile -t "$IMAGE" .
"${PODMAN[@]}" image inspect --format 'image {{.Id}}: {{.Size}} bytes, user {{.Config.User}}' "$IMAGE"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
GRPC_PORT=$(free_port)
METRICS_PORT=$(free_port)
cleanup() { "${PODMAN[@]}" rm -f -t 0 "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "podman run (read-only, cap-drop ALL, ports on 127.0.0.1:$GRPC_PORT and :$METRICS_PORT)"
"${PODMAN[@]}" run -d "${RUNTIME[@]}" --name "$NAME" \
  --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
  -p "127.0.0.1:$GRPC_PORT:50051" -p "127.0.0.1:$METRICS_PORT:9400" \
  -e S2S_GRACE_SECONDS=10 "$IMAGE"
deadline=$(( $(date +%s) + 180 ))
until "$S2S" health --target "127.0.0.1:$GRPC_PORT" --timeout 2 >/dev/null 2>&1; do
  if [ "$(date +%s)" -gt "$deadline" ] || [ "$("${PODMAN[@]}" inspect --format '{{.State.Running}}' "$NAME")" != true ]; then
    "${PODMAN[@]}" logs "$NAME" | tail -30; echo "container never became SERVING" >&2; exit 1
  fi
  sleep 1
done
echo "health '':        $("$S2S" health --target "127.0.0.1:$GRPC_PORT")"
echo "health liveness:  $("$S2S" health --target "127.0.0.1:$GRPC_PORT" --service liveness)"
if ! hc=$("${PODMAN[@]}" healthcheck run "$NAME" 2>&1); then
  echo "the image's HEALTHCHECK failed: $hc" >&2; exit 1
fi
echo "image HEALTHCHECK: ${hc:-healthy} ($("${PODMAN[@]}" image inspect --format '{{.Config.Healthcheck.Test}}' "$IMAGE"))"
echo "user in container: $("${PODMAN[@]}" exec "$NAME" id -u):$("${PODMAN[@]}" exec "$NAME" id -g)"
if "${PODMAN[@]}" exec "$NAME" touch /opt/s2s/probe 2>/dev/null; then
  echo "root filesystem is writable" >&2; exit 1
fi
echo "root filesystem:   read-only"

step "Translate and Summarize through the container"
text="The old man sees the small dog in the garden."
out=$("$S2S" translate --target "127.0.0.1:$GRPC_PORT" --from en --to de "$text")
echo "en: $text"
echo "de: $out"
[ -n "$out" ]
# The same text again: answered from the result cache.
"$S2S" translate --target "127.0.0.1:$GRPC_PORT" --from en --to de --json "$text" | "$PY" -c '
import json, sys
r = json.load(sys.stdin)
print("again:", r["results"][0]["text"], "| cached:", r["results"][0]["cached"], "| model", r["model"], r["model_revision"][:19])
sys.exit(0 if r["results"][0]["cached"] is True else 1)'
summary=$("$S2S" summarize --target "127.0.0.1:$GRPC_PORT" \
  "A bus crashed near Geneva on Thursday. 54 passengers were injured. It rained all day.")
echo "summary: $summary"
[ -n "$summary" ]
"$S2S" models --target "127.0.0.1:$GRPC_PORT"
metrics=$(curl -sf "http://127.0.0.1:$METRICS_PORT/metrics")
grep -E '^s2s_(requests_total|build_info|model_info)\{' <<<"$metrics" | sed 's/^/metrics: /'
grep -E '^s2s_build_info\{' <<<"$metrics" | grep -q "revision=\"$REVISION\"" \
  || { echo "s2s_build_info does not carry revision $REVISION" >&2; exit 1; }

step "graceful stop (SIGTERM)"
"${PODMAN[@]}" stop -t 30 "$NAME" >/dev/null
code=$("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' "$NAME")
"${PODMAN[@]}" logs "$NAME" 2>&1 | grep -E '"event": "(shutting_down|stopped)"' | cut -c1-160
echo "exit code: $code"
[ "$code" = 0 ]
echo
echo "image-test passed in $(( $(date +%s) - started )) s"
