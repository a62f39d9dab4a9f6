#!/usr/bin/env bash
# Headless Chromium for tests/report/test_browser.py: Debian's `chromium` package, installed when
# it is missing and this machine can (root + apt-get). Never fails: where it cannot install,
# it says so and the browser test reports SKIPPED with the reason.
set -uo pipefail
say() { echo "browser: $*"; }
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	say "no chromium and not root: the browser test will be SKIPPED"
	exit 0
fi
if ! command -v apt-get >/dev/null; then
	say "no chromium and no apt-get: the browser test will be SKIPPED"
	exit 0
fi
say "installing Debian's chromium (headless browser of the report tests)"
export DEBIAN_FRONTEND=noninteractive
if ! { timeout 120 apt-get -o DPkg::Lock::Timeout=60 update -qq &&
	timeout 300 apt-get -o DPkg::Lock::Timeout=60 install -y -qq --no-install-recommends \
		chromium >/dev/null; }; then
	say "apt-get could not install chromium: the browser test will be SKIPPED"
fi
exit 0
