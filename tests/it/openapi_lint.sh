#!/usr/bin/env bash
# docs/openapi.yaml, which the web UI and client generators are written against, passes
# `redocly lint` (npm @redocly/cli, pinned in docs/lint/package-lock.json, installed here with
# npm ci beside the build) with its recommended rules and no warning; the few warnings that do
# not apply are listed with their reason in docs/.redocly.lint-ignore.yaml. Every operation has
# an operationId.
. "$(dirname "$0")/lib.bash"
it_init node npm jq

SRC=${VP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
NM="${VP_BUILD_DIR:-$T}/it-openapi-lint"
mkdir -p "$NM"
want=$(cat "$SRC/docs/lint/package.json" "$SRC/docs/lint/package-lock.json" | sha256sum | cut -c1-64)
if [ "$(cat "$NM/.stamp" 2>/dev/null)" != "$want" ] || [ ! -x "$NM/node_modules/.bin/redocly" ]; then
	cp "$SRC/docs/lint/package.json" "$SRC/docs/lint/package-lock.json" "$NM/"
	rm -f "$NM/.stamp"
	if (cd "$NM" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) >"$T/npm.log" 2>&1; then
		echo "$want" >"$NM/.stamp"
		ok "npm ci installed @redocly/cli from docs/lint/package-lock.json"
	else
		not_ok "npm ci installed @redocly/cli from docs/lint/package-lock.json"
		diag_file "$T/npm.log" 20
		it_done
	fi
else
	ok "@redocly/cli already installed from this lock file ($NM)"
fi

export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_COLOR=1
(cd "$SRC/docs" && timeout 120 "$NM/node_modules/.bin/redocly" lint --format=stylish openapi.yaml) \
    >"$T/lint.out" 2>&1
rc=$?
assert_eq 0 "$rc" "redocly lint docs/openapi.yaml exits 0 (valid)"
if grep -Eq '(warning|error)[[:space:]]' "$T/lint.out"; then
	not_ok "redocly lint reports no warning and no error"
	grep -E '(warning|error)[[:space:]]' "$T/lint.out" | head -n 20 | sed 's/^/#   /'
else
	ok "redocly lint reports no warning and no error"
fi
diag "$(grep -E 'valid|ignored' "$T/lint.out" | head -n 3)"

# Every operation has an operationId, and no two share one (client generators need them).
ops=$(grep -cE '^    (get|post|put|patch|delete):$' "$SRC/docs/openapi.yaml")
ids=$(grep -E '^      operationId: ' "$SRC/docs/openapi.yaml" | sort | uniq | wc -l)
assert_eq "$ops" "$ids" "every one of the $ops operations has its own operationId"
it_done
