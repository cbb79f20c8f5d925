#!/usr/bin/env bash
# The CLI and the daemon on one data directory at once. The daemon's first start makes the CA
# with a remembered passphrase (ca.passphrase, 0600, never printed or logged); the CLI then
# issues with that passphrase while the daemon runs; each sees the other's certificates (API
# list and show include the CLI's, `vmspki cert list/show` the API's); CLI and API issuing at
# the same time all succeed with distinct serials, every one seen by both; a token made by the
# CLI works at once in the API, and is refused once revoked.
. "$(dirname "$0")/lib.bash"
it_init curl jq

D="$T/dd"
if daemon_start "$D" --ca-key ec-p256; then
	ok "vmspki serve started on a new data dir (port $PORT)"
else
	not_ok "vmspki serve started"
	it_done
fi
TOK=$ADMIN_TOKEN
if [ -n "$TOK" ]; then ok "first start printed an admin token"; else not_ok "first start printed an admin token (vmspki_...)"; diag_file "$DAEMON_OUT"; fi
diag "the daemon's first words:" && diag_file "$DAEMON_OUT" 12

# ---------------------------------------------------------------- the CA made at first start
assert_file "$D/ca.passphrase" "the CA passphrase is remembered (ca.passphrase)"
assert_mode 600 "$D/ca.passphrase" "ca.passphrase is 0600"
PASS=$(head -n 1 "$D/ca.passphrase" 2>/dev/null)
if [ -n "$PASS" ] && ! grep -Fq -- "$PASS" "$DAEMON_OUT" "$DAEMON_ERR"; then
	ok "the passphrase is neither on the daemon's stdout nor in its log"
else
	not_ok "the passphrase is neither on the daemon's stdout nor in its log"
fi
if grep -Eqi 'CA|certificate authority' "$DAEMON_OUT" "$DAEMON_ERR"; then ok "the daemon said it made a CA"; else not_ok "the daemon said it made a CA"; fi
assert_grep "ca\.cert\.pem" "$DAEMON_OUT" "the daemon printed the CA certificate's path"
assert_grep "https://" "$DAEMON_OUT" "the daemon printed its URL"
vp "$D" ca show --json
assert_rc 0 "vmspki ca show while the daemon runs"
case $(jq -r '.. | objects | (.key_type? // .key? // empty)' "$VP_OUT" 2>/dev/null | tr 'A-Z' 'a-z' | head -n 1) in
*ec* | *p-256* | *p256* | *prime256*) ok "the CA made at first start has the key asked for (--ca-key ec-p256)" ;;
*) if grep -Eqi 'ec|p-?256|prime256' "$VP_OUT"; then ok "the CA made at first start has the key asked for (--ca-key ec-p256)"; else not_ok "the CA made at first start has the key asked for (--ca-key ec-p256)"; diag_file "$VP_OUT" 10; fi ;;
esac

mk_key rsa2048 "$T/k.key"

# serials_of_api FILE: every "serial" in a JSON document, normalized, one a line.
serials_of() { jq -r '.. | objects | .serial? // empty' "$1" 2>/dev/null | while read -r s; do norm_serial "$s"; done; }

# ---------------------------------------------------------------- one each way
mk_csr "$T/k.key" api-a.example "$T/a.csr"
issue_body "$T/a.json" server "$T/a.csr" api-a.example
api POST /api/v1/issue "$TOK" "$T/a.json"
assert_status 201 "the API issues"
SA=$(norm_serial "$(jq -r '.serial // empty' "$API_BODY")")
jq -r '.certificate // empty' "$API_BODY" >"$T/a.pem"
assert_eq "$SA" "$(cert_serial "$T/a.pem")" "the 201 serial is the certificate's"

mk_csr "$T/k.key" cli-b.example "$T/b.csr"
vp "$D" issue --profile server --csr "$T/b.csr" --dns cli-b.example --out "$T/b.pem"
assert_rc 0 "the CLI issues while the daemon runs (passphrase from ca.passphrase)"
SB=$(cert_serial "$T/b.pem")

api GET /api/v1/certificates "$TOK"
assert_status 200 "the API lists certificates"
if serials_of "$API_BODY" | grep -qx "$SB"; then ok "the API list includes the CLI's certificate ($SB)"; else not_ok "the API list includes the CLI's certificate ($SB)"; diag_file "$API_BODY" 5; fi
api GET "/api/v1/certificates/$SB" "$TOK"
assert_status 200 "the API shows the CLI's certificate"
jq -r '.certificate // .pem // empty' "$API_BODY" >"$T/b-api.pem"
assert_eq "$(fp "$T/b.pem")" "$(fp "$T/b-api.pem")" "... and it is the same certificate"

vp "$D" cert list --json
if jq -r '.[].serial' "$VP_OUT" 2>/dev/null | grep -qx "$SA"; then ok "vmspki cert list includes the API's certificate ($SA)"; else not_ok "vmspki cert list includes the API's certificate ($SA)"; fi
vp "$D" cert show "$SA" --pem
assert_rc 0 "vmspki cert show shows the API's certificate"
assert_eq "$(fp "$T/a.pem")" "$(fp "$VP_OUT")" "... and it is the same certificate"

# ---------------------------------------------------------------- both at once
# 8 CLI issues in a row and 2 API clients of 8 requests each, all at the same time.
printf 'Authorization: Bearer %s\n' "$TOK" >"$T/auth.hdr"
chmod 600 "$T/auth.hdr"
cli_loop() {
	local k
	: >"$T/cli.serials"
	for ((k = 0; k < 8; k++)); do
		mk_csr "$T/k.key" "cli-$k.example" "$T/c$k.csr"
		if "$VMSPKI" --data "$D" issue --profile server --csr "$T/c$k.csr" --dns "cli-$k.example" \
		    --out "$T/c$k.pem" </dev/null >"$T/c$k.out" 2>"$T/c$k.err"; then
			cert_serial "$T/c$k.pem" >>"$T/cli.serials"
		else
			echo "cli $k failed: $(head -c 300 "$T/c$k.err")" >>"$T/conc.failures"
		fi
	done
}
api_loop() {
	local id=$1 k code
	: >"$T/api$id.serials"
	for ((k = 0; k < 8; k++)); do
		code=$(curl -gsS --max-time 60 --cacert "$DAEMON_CA" -H "@$T/auth.hdr" -H 'Content-Type: application/json' \
		    --data-binary "@$T/a.json" -o "$T/api$id.$k.json" -w '%{http_code}' \
		    "https://127.0.0.1:$PORT/api/v1/issue" 2>>"$T/conc.failures")
		if [ "$code" = 201 ]; then
			norm_serial "$(jq -r '.serial // empty' "$T/api$id.$k.json")" >>"$T/api$id.serials"
		else
			echo "api $id/$k: HTTP $code $(head -c 300 "$T/api$id.$k.json")" >>"$T/conc.failures"
		fi
	done
}
: >"$T/conc.failures"
cli_loop &
p1=$!
api_loop 1 &
p2=$!
api_loop 2 &
p3=$!
track_pid "$p1"; track_pid "$p2"; track_pid "$p3"
wait "$p1" "$p2" "$p3"
if [ -s "$T/conc.failures" ]; then
	not_ok "CLI and API issuing at the same time: every request succeeded"
	diag_file "$T/conc.failures" 10
else
	ok "CLI and API issuing at the same time: every request succeeded"
fi
assert_eq 8 "$(grep -c . "$T/cli.serials")" "the CLI issued 8"
assert_eq 16 "$(cat "$T/api1.serials" "$T/api2.serials" | grep -c .)" "the API issued 16"
cat "$T/cli.serials" "$T/api1.serials" "$T/api2.serials" | grep . | sort >"$T/all.serials"
assert_eq 24 "$(sort -u "$T/all.serials" | wc -l)" "24 distinct serials"

api GET "/api/v1/certificates?limit=1000" "$TOK"
[ "$API_STATUS" = 200 ] || api GET /api/v1/certificates "$TOK"
serials_of "$API_BODY" | sort -u >"$T/api-list"
vp "$D" cert list --json
jq -r '.[].serial' "$VP_OUT" 2>/dev/null | sort -u >"$T/cli-list"
miss_api=$(comm -23 "$T/all.serials" "$T/api-list" | wc -l)
miss_cli=$(comm -23 "$T/all.serials" "$T/cli-list" | wc -l)
assert_eq 0 "$miss_api" "the API list has all 24"
assert_eq 0 "$miss_cli" "vmspki cert list has all 24"
# And one by one through the API (not depending on the list's paging).
miss=0
while read -r s; do
	api GET "/api/v1/certificates/$s" "$TOK"
	[ "$API_STATUS" = 200 ] || miss=$((miss + 1))
done <"$T/cli.serials"
assert_eq 0 "$miss" "GET /api/v1/certificates/{serial} finds each CLI certificate"
assert_eq ok "$(sqlite3 "$D/vmspki.db" 'PRAGMA integrity_check;' 2>&1)" "the store passes PRAGMA integrity_check"

# ---------------------------------------------------------------- tokens from the CLI
vp "$D" token create ops-it
assert_rc 0 "vmspki token create while the daemon runs"
OPS=$(grep -Eo 'vmspki_[A-Za-z0-9_-]+' "$VP_OUT" | head -n 1)
if [ -n "$OPS" ]; then ok "it printed the token"; else not_ok "it printed the token"; diag_file "$VP_OUT"; fi
api GET /api/v1/certificates "$OPS"
assert_status 200 "the daemon takes the CLI's new token at once"
vp "$D" token list
assert_rc 0 "vmspki token list"
assert_grep 'ops-it' "$VP_OUT" "the list names the token"
[ -n "$OPS" ] && assert_no_grep "$OPS" "$VP_OUT" "the list does not show the secret"
if [ -n "$OPS" ] && sqlite3 "$D/vmspki.db" .dump 2>/dev/null | grep -Fq "$OPS"; then
	not_ok "the store does not hold the token itself"
else
	ok "the store does not hold the token itself"
fi
vp "$D" token revoke ops-it
assert_rc 0 "vmspki token revoke"
api GET /api/v1/certificates "$OPS"
assert_status 401 "the revoked token is refused at once"

if pid_alive "$DAEMON_PID"; then ok "the daemon ran throughout"; else not_ok "the daemon ran throughout"; fi
daemon_stop "$DAEMON_PID" TERM 60
assert_eq 0 "$DAEMON_RC" "SIGTERM: the daemon exits 0"

assert_daemon_logs_clean

it_done
