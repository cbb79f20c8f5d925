#!/usr/bin/env bash
# The web UI in a real browser: headless Chromium (Debian's chromium, driven by npm
# playwright-core from tests/it/browser, as in daemon_browser.sh) with the site CA trusted in its
# NSS database signs in with the admin token, sees the CA, imports camsim cameras by CSV (one of
# them named like an <img onerror> tag, which must show as text), enables HTTPS on all of them
# and watches the task reach Finished with every camera done without a reload, opens a device's
# result, and visits every page: no console error, failed request or error answer on the way.
# Screenshots of each page go to $T/shots (IT_KEEP=1 keeps them).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init node npm jq curl /usr/bin/chromium

SRC=${VP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/it/browser
NCAMS=20
XSS='<img src=x onerror=alert(1)>'
N=127.30.0
export VMSPKI_PASSPHRASE="web ui test passphrase"

# ---------------------------------------------------------------- playwright-core (npm ci)
# Its own directory (not daemon_browser.sh's): two tests running npm ci in one would race.
NM="${VP_BUILD_DIR:-$T}/it-webui"
mkdir -p "$NM"
want=$(cat "$SRC/package.json" "$SRC/package-lock.json" | sha256sum | cut -c1-64)
if [ "$(cat "$NM/.stamp" 2>/dev/null)" != "$want" ] || [ ! -d "$NM/node_modules/playwright-core" ]; then
	cp "$SRC/package.json" "$SRC/package-lock.json" "$NM/"
	rm -f "$NM/.stamp"
	if (cd "$NM" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) >"$T/npm.log" 2>&1; then
		echo "$want" >"$NM/.stamp"
		ok "npm ci installed tests/it/browser/package-lock.json"
	else
		not_ok "npm ci installed tests/it/browser/package-lock.json"
		diag_file "$T/npm.log" 20
		it_done
	fi
else
	ok "the browser's npm packages are already installed from this lock file ($NM)"
fi
cp "$SRC/webui.js" "$NM/webui.js"
AXE="$NM/node_modules/axe-core/axe.min.js"
AXE_ARGS=()
[ -f "$AXE" ] && AXE_ARGS=(--axe "$AXE")
diag "playwright-core $(jq -r .version "$NM/node_modules/playwright-core/package.json" 2>/dev/null)," \
    "axe-core $(jq -r .version "$NM/node_modules/axe-core/package.json" 2>/dev/null || echo none)"

# ---------------------------------------------------------------- cameras and the daemon
D="$T/dd"
vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"
# The third camera calls its model markup (a camera's answers are the camera's words, not
# ours): the UI must show it as text.
jq -n --arg x "$XSS" --arg n "$N" --argjson c "$NCAMS" '[range(1; $c + 1) |
    {address: "\($n).\(.)"} + (if . == 3 then {model: $x} else {} end)]' >"$T/fleet.json"
camsim_start --state "$T/cs" --fleet "$T/fleet.json" --http-port 18080 --https-port 18443 \
    --keygen-delay-ms 300 --password "cam-web-secret" --csv-out "$T/cams.csv" --quiet || it_done
# A last line names a device with markup: refused (a device name is a host name), and the
# refusal, which quotes the name, must show it as text too.
cp "$T/cams.csv" "$T/import.csv"
printf '%s.%s,18080,18443,root,cam-web-secret,%s\n' "$N" $((NCAMS + 1)) "$XSS" >>"$T/import.csv"
if grep -qF -- "$XSS" "$T/import.csv"; then ok "the CSV names one device $XSS"; else not_ok "the CSV names one device $XSS"; fi

if daemon_start "$D"; then ok "vmspki serve started (port $PORT)"; else not_ok "vmspki serve started"; it_done; fi
assert_grep "web UI: [0-9]* files from" "$DAEMON_ERR" "the daemon found the web UI's files next to its binary"
CA_SUBJECT=$(jq -r .subject < <(curl -s --cacert "$DAEMON_CA" "https://127.0.0.1:$PORT/api/v1/ca"))
diag "CA: $CA_SUBJECT"

# A file outside web/ is not served; the API's own 404 answers.
api GET /../vmspki.db
assert_eq 404 "$API_STATUS" "a path outside the web UI's files is 404"
api GET /index.html
assert_eq 200 "$API_STATUS" "/index.html is served"

# An endpoint where nothing listens: its check raises an alarm for the browser to acknowledge.
DOWN=$(pick_port)
printf '{"address":"127.0.0.1:%s"}' "$DOWN" >"$T/ep.json"
api POST /api/v1/endpoints "$ADMIN_TOKEN" "$T/ep.json"
assert_eq 201 "$API_STATUS" "an endpoint where nothing listens is watched"
api GET /api/v1/alarms "$ADMIN_TOKEN"
assert_eq 1 "$(jq '[.alarms[] | select(.kind == "endpoint-unreachable")] | length' "$API_BODY")" \
    "its check raised an endpoint-unreachable alarm"

# What the UI's new API calls refuse, in the API's words (curl).
api GET "/api/v1/devices?limit=0" "$ADMIN_TOKEN"
assert_eq 400 "$API_STATUS" "a page of 0 devices: 400"
api GET "/api/v1/devices?sort=password" "$ADMIN_TOKEN"
assert_eq 400 "$API_STATUS" "an order by a column not offered: 400"
assert_grep "sort must be one of" "$API_BODY" "the error names the orders offered"
api GET "/api/v1/devices?colour=blue" "$ADMIN_TOKEN"
assert_eq 400 "$API_STATUS" "an unknown parameter: 400"
api GET /api/v1/devices/summary
assert_eq 401 "$API_STATUS" "the summary needs a token"
api GET /api/v1/settings/no.such.setting "$ADMIN_TOKEN"
assert_eq 404 "$API_STATUS" "an unknown setting: 404"
printf '{"value":"-3"}' >"$T/set.json"
api POST /api/v1/settings/lifecycle.warning_days "$ADMIN_TOKEN" "$T/set.json"
assert_eq 422 "$API_STATUS" "a warning window of -3 days: 422"
printf '{"value":"40","extra":1}' >"$T/set.json"
api POST /api/v1/settings/lifecycle.warning_days "$ADMIN_TOKEN" "$T/set.json"
assert_eq 422 "$API_STATUS" "a body with another field: 422"
printf '{"value":"40"}' >"$T/set.json"
api POST /api/v1/settings/lifecycle.warning_days "$ADMIN_TOKEN" "$T/set.json"
assert_eq 200 "$API_STATUS" "a warning window of 40 days is taken"
printf '{"value":null}' >"$T/set.json"
api POST /api/v1/settings/lifecycle.warning_days "$ADMIN_TOKEN" "$T/set.json"
assert_eq "30 false" "$(jq -r '"\(.value) \(.set)"' "$API_BODY")" "null puts the default (30) back"
api GET /api/v1/settings "$ADMIN_TOKEN"
assert_eq 200 "$API_STATUS" "the settings are listed"
assert_grep '"name":"alarm.webhook"' "$API_BODY" "with alarm.webhook among them"

# ---------------------------------------------------------------- the browser
HOMEDIR="$T/home"
mkdir -p "$HOMEDIR/.pki/nssdb"
check "a fresh NSS database" certutil -d "sql:$HOMEDIR/.pki/nssdb" -N --empty-password
check "the site CA trusted in it (certutil -A -t C,,)" \
    certutil -d "sql:$HOMEDIR/.pki/nssdb" -A -n vmspki -t "C,," -i "$DAEMON_CA"
printf '%s\n' "$ADMIN_TOKEN" >"$T/token"
printf '%s\n' "recording server p12 pass" >"$T/p12pass"
chmod 600 "$T/token" "$T/p12pass"
if (cd "$NM" && timeout 300 node webui.js --home "$HOMEDIR" --shots "$T/shots" \
    --url "https://127.0.0.1:$PORT/" --token-file "$T/token" --csv "$T/import.csv" \
    --ca-subject "$CA_SUBJECT" --devices "$NCAMS" --xss "$XSS" --p12-out "$T/nvr1.p12" \
    --p12-pass-file "$T/p12pass" "${AXE_ARGS[@]}") \
    >"$T/webui.json" 2>"$T/webui.err"; then
	ok "the browser walked through the UI"
else
	not_ok "the browser walked through the UI"
	diag_file "$T/webui.err" 20
fi
while IFS= read -r line; do
	c=$(jq -r .check <<<"$line")
	if [ "$(jq -r .ok <<<"$line")" = true ]; then
		ok "UI: $c"
	else
		not_ok "UI: $c"
		diag "$(jq -r .detail <<<"$line")"
	fi
done <"$T/webui.json"
[ -s "$T/webui.json" ] || not_ok "the browser reported its checks"

# The browser's work as the store sees it.
n=$(sqlite3 "$D/vmspki.db" "SELECT count(*) FROM devices WHERE https_state = 'Enabled'")
assert_eq "$NCAMS" "$n" "the store holds the $NCAMS cameras with HTTPS Enabled"
model=$(sqlite3 "$D/vmspki.db" "SELECT model FROM devices WHERE address = '$N.3'")
case $model in
*"$XSS"*) ok "the camera's hostile model is stored as it said it ($model)" ;;
*) not_ok "the camera's hostile model is stored as it said it (got '$model')" ;;
esac
# The PKCS#12 the browser downloaded opens with openssl and holds the names asked for, a key
# that matches, and a certificate of the site CA.
if openssl pkcs12 -in "$T/nvr1.p12" -passin "file:$T/p12pass" -nokeys -clcerts -out "$T/nvr1.crt" 2>"$T/p12.err"; then
	ok "openssl opens the recording server's PKCS#12 with its password"
	sans=$(openssl x509 -in "$T/nvr1.crt" -noout -ext subjectAltName 2>/dev/null | tail -n 1)
	case $sans in
	*"DNS:nvr1.site.example"*"IP Address:10.0.0.10"*) ok "it holds the names and the address asked for ($sans)" ;;
	*) not_ok "it holds the names and the address asked for (got '$sans')" ;;
	esac
	check "its certificate verifies against the site CA" openssl verify -CAfile "$DAEMON_CA" -purpose sslserver "$T/nvr1.crt"
	openssl pkcs12 -in "$T/nvr1.p12" -passin "file:$T/p12pass" -nocerts -nodes -out "$T/nvr1.key" 2>/dev/null
	assert_eq "$(pubkey_of_cert "$T/nvr1.crt")" "$(pubkey_of_key "$T/nvr1.key")" "its key matches its certificate"
else
	not_ok "openssl opens the recording server's PKCS#12 with its password"
	diag_file "$T/p12.err" 5
fi
acked=$(sqlite3 "$D/vmspki.db" "SELECT acked_by FROM alarms WHERE kind = 'endpoint-unreachable'")
assert_eq "token:admin" "$acked" "the store records the acknowledgement by the browser's token"

w=$(sqlite3 "$D/vmspki.db" "SELECT CAST(value AS TEXT) FROM key_value WHERE key = 'setting.lifecycle.warning_days'")
assert_eq 365 "$w" "the store holds the warning window set from the settings page"
for s in signin overview devices task ca certificates alarms components endpoints settings; do
	assert_file "$T/shots/$s.png" "screenshot of the $s page"
done

daemon_stop "$DAEMON_PID" TERM 60
assert_eq 0 "$DAEMON_RC" "SIGTERM: the daemon exits 0"
camsim_stop
assert_daemon_logs_clean
it_done
