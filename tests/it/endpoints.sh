#!/usr/bin/env bash
# Endpoint monitoring from outside: `openssl s_server` endpoints serving a certificate from
# `vmspki issue` (valid), one with --days 5 (about to expire), a self-signed one (untrusted),
# one for another name, and a port where nothing listens (Unreachable, never "expired"); the
# statuses, the alarms in the store, the clock moved with faketime, and bad input refused
# with nothing added.
. "$(dirname "$0")/lib.bash"
it_init faketime jq
# libfaketime is preloaded: under ASan the sanitizer's runtime cannot come first then, which
# it checks by default; the check is only about order, not correctness.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

D="$T/data"
PASSF="$T/pass"
printf 'endpoint test passphrase\n' >"$PASSF"
vp "$D" ca init --key ec-p256 --cn "Endpoints Root" --days 3650 --passphrase-file "$PASSF"
assert_rc 0 "setup: ca init"

S_PIDS=()
# serve NAME CERT KEY: an openssl s_server on a free port of 127.0.0.1 (port in $SRV_PORT).
serve() {
	local name=$1 cert=$2 key=$3 i
	SRV_PORT=$(pick_port) || { not_ok "a free port for $name"; return 1; }
	openssl s_server -accept "127.0.0.1:$SRV_PORT" -cert "$cert" -key "$key" -www -quiet \
	    </dev/null >"$T/s_server.$name.log" 2>&1 &
	track_pid $!
	S_PIDS+=($!)
	for ((i = 0; i < 100; i++)); do
		port_busy "$SRV_PORT" && return 0
		sleep 0.1
	done
	not_ok "openssl s_server for $name listens on $SRV_PORT"
	diag_file "$T/s_server.$name.log"
	return 1
}

# alarms: the raised alarms as "kind subject severity" lines, sorted (vmspki alarm list).
alarms() {
	"$VMSPKI" --data "$D" alarm list --json | jq -r '.[] | "\(.kind) \(.subject) \(.severity)"' | sort
}

# ep_field ID FIELD: a field of `endpoint list --json`.
ep_field() {
	vp "$D" endpoint list --json
	jq -r --argjson id "$1" ".[] | select(.id == \$id) | .$2" "$VP_OUT"
}

# ---- the certificates ----
vp "$D" issue --profile server --generate-key --cn localhost --dns localhost --ip 127.0.0.1 \
    --out "$T/valid.pem" --key-out "$T/valid.key" --passphrase-file "$PASSF"
assert_rc 0 "setup: a server certificate for localhost and 127.0.0.1"
vp "$D" issue --profile server --generate-key --cn localhost --dns localhost --ip 127.0.0.1 \
    --days 5 --out "$T/soon.pem" --key-out "$T/soon.key" --passphrase-file "$PASSF"
assert_rc 0 "setup: one that ends in 5 days"
vp "$D" issue --profile server --generate-key --cn other.example --dns other.example \
    --out "$T/other.pem" --key-out "$T/other.key" --passphrase-file "$PASSF"
assert_rc 0 "setup: one for another name"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/self.key" \
    -out "$T/self.pem" -days 365 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
assert_file "$T/self.pem" "setup: a self-signed certificate"

serve valid "$T/valid.pem" "$T/valid.key" && P_VALID=$SRV_PORT
serve soon "$T/soon.pem" "$T/soon.key" && P_SOON=$SRV_PORT
serve self "$T/self.pem" "$T/self.key" && P_SELF=$SRV_PORT
serve other "$T/other.pem" "$T/other.key" && P_OTHER=$SRV_PORT
P_DOWN=$(pick_port)

# ---- add: each is checked at once ----
vp "$D" endpoint add "127.0.0.1:$P_VALID"
assert_rc 0 "endpoint add: a server with a certificate from the site CA"
assert_grep 'status: +OK' "$VP_OUT" "it is OK"
assert_grep 'verified \(site CA\): +yes' "$VP_OUT" "it verifies against the site CA"
assert_grep "SHA-256: +$(openssl x509 -in "$T/valid.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f)" \
    "$VP_OUT" "the fingerprint recorded is the one served"

vp "$D" endpoint add "localhost:$P_SOON" --json
assert_rc 0 "endpoint add --json: a certificate that ends in 5 days"
assert_eq "Certificate about to expire" "$(jq -r .status "$VP_OUT")" "its status is Certificate about to expire"
assert_eq "$(not_after "$T/soon.pem")" "$(date -u -d "$(jq -r .not_after "$VP_OUT")" +%s)" "its notAfter is recorded"

vp "$D" endpoint add "127.0.0.1:$P_SELF" --json
assert_rc 0 "endpoint add: a self-signed certificate"
assert_eq "Untrusted" "$(jq -r .status "$VP_OUT")" "its status is Untrusted"
assert_grep 'does not verify against the site CA: self-signed certificate' "$VP_OUT" "the detail says why (OpenSSL's words)"
assert_eq "false" "$(jq -r .verified "$VP_OUT")" "verified is false"

vp "$D" endpoint add "127.0.0.1:$P_OTHER" --sni Other.Example --json
assert_rc 0 "endpoint add --sni: the name sent and checked"
assert_eq "OK other.example" "$(jq -r '.status + " " + .sni' "$VP_OUT")" "with the right SNI it is OK (name kept in lowercase)"
vp "$D" endpoint add "127.0.0.1:$P_OTHER" --json
assert_eq "Untrusted false true" "$(jq -r '[.status, .name_ok, .verified] | map(tostring) | join(" ")' "$VP_OUT")" \
    "without it the name does not match: Untrusted, though verified"
assert_grep 'not for 127.0.0.1 \(it names DNS:other.example\)' "$VP_OUT" "the detail names the names it has"

vp "$D" endpoint add "127.0.0.1:$P_DOWN"
assert_rc 0 "endpoint add: a port where nothing listens is added all the same"
assert_grep 'status: +Unreachable' "$VP_OUT" "its status is Unreachable"
assert_grep 'It is down now; it is watched all the same' "$VP_OUT" "the command says so"
assert_grep 'Connection refused' "$VP_OUT" "and why"
ID_DOWN=$(grep -Eo 'added endpoint [0-9]+' "$VP_OUT" | grep -Eo '[0-9]+$')

# ---- list and alarms ----
vp "$D" endpoint list
assert_rc 0 "endpoint list"
assert_eq 6 "$(grep -Ec '^[0-9]+ ' "$VP_OUT")" "it lists the six endpoints"
assert_grep "^$ID_DOWN +Unreachable +127.0.0.1:$P_DOWN " "$VP_OUT" "the one that is down shows Unreachable"
assert_no_grep 'expired' "$VP_OUT" "nothing shows as expired"

alarms >"$T/alarms.1"
assert_eq "endpoint-expiring endpoint:2 warning
endpoint-unreachable endpoint:$ID_DOWN warning
endpoint-untrusted endpoint:3 warning
endpoint-untrusted endpoint:5 warning" "$(cat "$T/alarms.1")" "alarms: expiring, untrusted twice, unreachable (warnings), none for the good ones"

# ---- the clock moves: 6 days on, the short one has expired ----
faketime -f "+6d" "$VMSPKI" --data "$D" endpoint check 2 >"$T/check.out" 2>&1
assert_grep "endpoint 2 localhost:$P_SOON: Certificate has expired \(the certificate expired on " "$T/check.out" \
    "6 days on (faketime), endpoint check: Certificate has expired"
alarms >"$T/alarms.2"
assert_grep '^endpoint-expired endpoint:2 critical$' "$T/alarms.2" "a critical endpoint-expired alarm is raised"
assert_no_grep '^endpoint-expiring endpoint:2 ' "$T/alarms.2" "and the expiring one cleared"

# ---- down stays Unreachable, never expired, even with the clock far on ----
faketime -f "+4000d" "$VMSPKI" --data "$D" endpoint check "$ID_DOWN" >"$T/check.down" 2>&1
assert_grep "Unreachable \(cannot connect to port $P_DOWN: Connection refused\)" "$T/check.down" \
    "the endpoint that is down is Unreachable years on"
assert_eq 0 "$(sqlite3 "file:$D/vmspki.db?mode=ro" "SELECT count(*) FROM alarms WHERE subject = 'endpoint:$ID_DOWN' AND kind LIKE '%expir%';")" \
    "and has no expiry alarm"

# ---- it comes up with a good certificate: OK, its alarm cleared ----
openssl s_server -accept "127.0.0.1:$P_DOWN" -cert "$T/valid.pem" -key "$T/valid.key" -www -quiet \
    </dev/null >"$T/s_server.up.log" 2>&1 &
track_pid $!
S_PIDS+=($!)
for ((i = 0; i < 100; i++)); do port_busy "$P_DOWN" && break; sleep 0.1; done
vp "$D" endpoint check
assert_rc 0 "endpoint check (all of them)"
assert_grep "endpoint $ID_DOWN 127.0.0.1:$P_DOWN: OK$" "$VP_OUT" "the endpoint that came up is OK"
assert_eq 6 "$(grep -c '^endpoint ' "$VP_OUT")" "every endpoint was checked"
assert_no_grep "endpoint-unreachable endpoint:$ID_DOWN " <(alarms) "its unreachable alarm is cleared"
vp "$D" alarm list --all --json
assert_eq "cleared" "$(jq -r --arg s "endpoint:$ID_DOWN" '.[] | select(.subject == $s and .kind == "endpoint-unreachable") | .state' "$VP_OUT")" \
    "alarm list --all keeps it, cleared"

# ---- show ----
vp "$D" endpoint show 1 --pem
assert_rc 0 "endpoint show --pem"
openssl x509 -in "$VP_OUT" -noout -fingerprint -sha256 >"$T/fp.shown" 2>&1
assert_eq "$(openssl x509 -in "$T/valid.pem" -noout -fingerprint -sha256)" "$(cat "$T/fp.shown")" "the chain stored is the one served"
vp "$D" endpoint show 1 --json
assert_eq "true true" "$(jq -r '"\(.verified) \(.name_ok)"' "$VP_OUT")" "show --json: verified and name_ok"

# ---- bad input changes nothing ----
before=$(rows "$D/vmspki.db" endpoints)
for bad in "nas.example" "2001:db8::5:443" "[2001:db8::5]" "bad_host:443" "10.0.0.256:443" "nas:0" "nas:99999" ""; do
	vp "$D" endpoint add "$bad"
	assert_rc 1 "endpoint add \"$bad\" is refused"
done
vp "$D" endpoint add "127.0.0.1:$P_VALID"
assert_rc 1 "endpoint add: the same endpoint twice is refused"
assert_stderr 'watched already, as endpoint 1' "the refusal names the endpoint"
vp "$D" endpoint add "nas.example:443" --sni 10.0.0.1
assert_rc 1 "endpoint add --sni with an address is refused"
vp "$D" endpoint add
assert_rc 2 "endpoint add without HOST:PORT is a usage error"
vp "$D" endpoint check 99
assert_rc 1 "endpoint check of an unknown id is refused"
vp "$D" endpoint remove x
assert_rc 2 "endpoint remove x is a usage error"
assert_eq "$before" "$(rows "$D/vmspki.db" endpoints)" "nothing was added by the refused commands"

# ---- remove ----
vp "$D" endpoint remove 3
assert_rc 0 "endpoint remove"
assert_grep "removed endpoint 3 \(127.0.0.1:$P_SELF\)" "$VP_OUT" "it says which"
assert_no_grep 'endpoint:3 ' <(alarms) "its alarms are cleared"
vp "$D" endpoint show 3
assert_rc 1 "it is gone"
vp "$D" audit verify
assert_rc 0 "the audit chain holds (endpoint.add and endpoint.remove rows)"
assert_eq 1 "$(sqlite3 "file:$D/vmspki.db?mode=ro" "SELECT count(*) FROM audit_log WHERE action = 'endpoint.remove';")" "one endpoint.remove audit row"

# ---- the REST API ----
daemon_start "$D" --passphrase-file "$PASSF" || { not_ok "the daemon starts"; it_done; }
ok "the daemon starts"
body() { printf '%s' "$1" >"$T/body.json"; }
n_before=$(rows "$D/vmspki.db" endpoints)
api GET /api/v1/endpoints
assert_status 401 "GET /api/v1/endpoints without a token"
for b in '{"address":"nas"}' '{"host":"nas"}' '{"address":"nas:443","port":443}' '{"address":5}' \
    '{"host":"bad host","port":443}' '{"address":"[::1]:443","sni":"10.0.0.1"}' '{"address":"nas:443","x":1}'; do
	body "$b"
	api POST /api/v1/endpoints "$ADMIN_TOKEN" "$T/body.json"
	case $API_STATUS in 400|422) ok "POST $b refused (HTTP $API_STATUS)" ;; *) not_ok "POST $b refused (HTTP $API_STATUS)"; diag_file "$API_BODY" ;; esac
done
assert_error_body 'unknown|field|rejected' "the refusal has the error body"
assert_eq "$n_before" "$(rows "$D/vmspki.db" endpoints)" "the refused requests added nothing"
body "{\"address\":\"127.0.0.1:$P_VALID\"}"
api POST /api/v1/endpoints "$ADMIN_TOKEN" "$T/body.json"
assert_status 409 "POST an endpoint watched already"
assert_error_body '^exists$' "code exists" 'watched already'
body "{\"host\":\"localhost\",\"port\":$P_VALID,\"sni\":\"localhost\"}"
api POST /api/v1/endpoints "$ADMIN_TOKEN" "$T/body.json"
assert_status 201 "POST /api/v1/endpoints (host, port, sni)"
assert_eq "OK true true" "$(jq -r '"\(.status) \(.verified) \(.name_ok)"' "$API_BODY")" "it is checked at once: OK"
NEW=$(jq -r .id "$API_BODY")
api GET /api/v1/endpoints "$ADMIN_TOKEN"
assert_status 200 "GET /api/v1/endpoints"
assert_eq "$((n_before + 1))" "$(jq '.endpoints | length' "$API_BODY")" "it lists every endpoint"
assert_eq "OK" "$(jq -r --argjson id "$ID_DOWN" '.endpoints[] | select(.id == $id) | .status' "$API_BODY")" \
    "the list has the statuses of the last checks"
api GET "/api/v1/endpoints/$NEW" "$ADMIN_TOKEN"
assert_status 200 "GET /api/v1/endpoints/ID"
jq -r .chain_pem "$API_BODY" >"$T/api.chain.pem"
assert_eq "$(openssl x509 -in "$T/valid.pem" -noout -fingerprint -sha256)" \
    "$(openssl x509 -in "$T/api.chain.pem" -noout -fingerprint -sha256 2>&1)" "it has the chain served"
api POST "/api/v1/endpoints/2/check" "$ADMIN_TOKEN"
assert_status 200 "POST /api/v1/endpoints/ID/check"
assert_eq "Certificate about to expire" "$(jq -r .status "$API_BODY")" "it checks now (real time: about to expire)"
api GET "/api/v1/endpoints/2/check" "$ADMIN_TOKEN"
assert_status 405 "GET .../check is refused"
api GET "/api/v1/endpoints/abc" "$ADMIN_TOKEN"
assert_status 404 "GET /api/v1/endpoints/abc"
api POST "/api/v1/endpoints/999/check" "$ADMIN_TOKEN"
assert_status 404 "checking an unknown endpoint"
api DELETE "/api/v1/endpoints/$NEW" "$ADMIN_TOKEN"
assert_status 200 "DELETE /api/v1/endpoints/ID"
api GET "/api/v1/endpoints/$NEW" "$ADMIN_TOKEN"
assert_status 404 "it is gone"
daemon_stop "$DAEMON_PID"
assert_eq 0 "$DAEMON_RC" "the daemon stops cleanly"
assert_daemon_logs_clean

vp "$D" help endpoint
assert_rc 0 "help endpoint"
assert_grep 'endpoint add HOST:PORT \[--sni NAME\]' "$VP_OUT" "the help shows the command line"

for p in "${S_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
it_done
