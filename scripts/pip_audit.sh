#!/usr/bin/env bash
# Known vulnerabilities in the pinned requirements and everything they pull in (pip-audit, against
# PyPI's vulnerability data: it needs the network). --strict: a package that could not be checked
# fails the audit; it is never counted as clean.
#
# When the vulnerability data cannot be reached (no network, or an index mirror that does not serve
# it), the audit fails and says so. AUDIT_ALLOW_UNCHECKED=1 turns that one case (never a vulnerability
# found) into a loud warning, for machines that cannot reach it; .ci/run explains where it is set.
set -uo pipefail
cd "$(dirname "$0")/.."
output=$(mktemp)
trap 'rm -f "$output"' EXIT

"${VENV:-.venv}/bin/pip-audit" --strict --progress-spinner off -r requirements.txt -r requirements-dev.txt >"$output" 2>&1
status=$?
cat "$output"
[ "$status" = 0 ] && exit 0

if grep -q "Found [0-9]* known vulnerabilit" "$output"; then
  echo "pip-audit: a pinned dependency has a known vulnerability: bump it in requirements*.txt to a fixed version." >&2
  exit 1
fi
if grep -qiE "could not be audited|ConnectionError|Max retries|timed out|Name or service not known|ServiceError" "$output"; then
  cat >&2 <<'MESSAGE'

==> pip-audit could NOT check the dependencies: PyPI's vulnerability data did not answer for them
    (no network to it, or the package index this machine uses does not serve it).
    The requirements were NOT audited: run `make audit` where PyPI's JSON API answers.
MESSAGE
  if [ "${AUDIT_ALLOW_UNCHECKED:-0}" = 1 ]; then
    echo "==> AUDIT_ALLOW_UNCHECKED=1: going on WITHOUT the dependency audit." >&2
    exit 0
  fi
fi
exit 1
