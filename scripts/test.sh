#!/usr/bin/env bash
# Install everything (venv, package, headless Chromium and a Chinese font for the browser
# test), check the import contracts and the linter, and run all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi wenquanyi; then
    if [ "$(id -u)" = 0 ]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null) \
            || echo "warning: could not install Debian's chromium; the browser test will fail" >&2
    else
        echo "warning: install Debian's chromium and fonts-wqy-zenhei (sudo apt-get install ...) for the browser test" >&2
    fi
fi
python3 -m venv .venv
.venv/bin/pip install -q torch==2.13.0 -e '.[test]'
# The layout's contracts first: imports point only down the stages, and the linter is clean.
.venv/bin/lint-imports --no-cache
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
