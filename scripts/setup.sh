#!/usr/bin/env bash
# One-time (and idempotent) set-up: the system libraries Manim needs, a .venv, the package
# with all its extras.
# Quick the second time: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

need_pkgs=()
have_pc() { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1"; }
have_pc cairo || need_pkgs+=(libcairo2-dev)
have_pc pangocairo || need_pkgs+=(libpango1.0-dev)
command -v pkg-config >/dev/null 2>&1 || need_pkgs+=(pkg-config)
command -v ffmpeg >/dev/null 2>&1 || need_pkgs+=(ffmpeg)
if [ "${EXPLAINER_BROWSER_TESTS:-1}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  need_pkgs+=(chromium)
fi
# nginx: only for `bench/bench_class.py --nginx 2` (several app processes, deploy/nginx.conf)
if [ "${EXPLAINER_NGINX:-0}" = 1 ] && ! command -v nginx >/dev/null 2>&1; then
  need_pkgs+=(nginx)
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "setup: installing system packages: ${need_pkgs[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_pkgs[@]}"
  else
    echo "setup: missing ${need_pkgs[*]} and no apt-get here." >&2
    echo "       Install cairo, pango, pkg-config and ffmpeg with your system's package manager" >&2
    echo "       (macOS: brew install cairo pango pkg-config ffmpeg), then run make again." >&2
    exit 1
  fi
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "setup: Python 3.10 or newer is needed ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# Every extra (app, manim, sweep) and the dev tools, at the versions the tests passed with
# (constraints.txt); `pip install mnist-explainer` alone is the light install without them.
stamp="$VENV/.installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[all,dev]" -c constraints.txt
  touch "$stamp"
fi
