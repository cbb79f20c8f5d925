#!/usr/bin/env bash
# Component certificates through a real NATS broker (issue 7). vmspki issues the broker's server
# certificate and the components' client certificates, writes the nats-server configuration
# (`component nats-config`: tls { verify_and_map } and one user per client certificate, with
# the publish/subscribe permissions of components.json), and a real nats-server (Debian
# package) runs with it. Clients written with the NATS C client (tests/tools/nats_client.c)
# connect with the component certificates:
#   - recorder publishes on video.cam1 and viewer, subscribed to video.>, receives it;
#   - recorder publishing on admin.x, viewer publishing at all, recorder subscribing at all:
#     permissions violations;
#   - a certificate from another CA (same CN and email SAN), an expired certificate from our
#     CA, and the certificate of a component removed with `component remove`: refused;
#   - after the CA is replaced (a new data dir with a new CA and the same components: the
#     path `ca init --replace` will take), the broker is reloaded (SIGHUP, same process): the
#     new certificates connect and pub/sub works, the old ones are refused;
#   - bad component ids are refused (exit 1, a message naming the rule) and change nothing.
# The client's exit status says what happened: 0 ok, 1 other error (server unreachable,
# timeout), 2 connection refused (TLS or authorization), 3 permissions violation.
. "$(dirname "$0")/lib.bash"
it_init nats-server faketime jq

NC=${VP_NATS_CLIENT:-}
if [ -z "$NC" ]; then
	for c in "${VP_BUILD_DIR:-}/tests/tools/vmspki-test-nats-client"; do
		[ -x "$c" ] && NC=$c && break
	done
fi
if [ -z "$NC" ] || [ ! -x "$NC" ]; then
	not_ok "the NATS test client is executable (VP_NATS_CLIENT=${VP_NATS_CLIENT:-unset}; target vmspki-test-nats-client)"
	it_done
fi

D="$T/dd"               # the first data dir (first CA)
D2="$T/dd2"             # the second one (the replacement CA)
CD="$D/components/certificates"
CD2="$D2/components/certificates"
N="$T/nats"             # the broker's configuration, log and the test's own certificates
mkdir -p "$N"

# ---------------------------------------------------------------- helpers

# natsc CA CERT KEY ARGS...: one run of the client against the broker (127.0.0.1:NPORT, the
# server certificate must name localhost unless ARGS give another --host). Sets NC_RC and
# NC_OUT (its output).
NC_N=0
natsc() {
	local ca=$1 cert=$2 key=$3
	shift 3
	NC_N=$((NC_N + 1))
	NC_OUT="$T/.nc.$NC_N.out"
	timeout 60 "$NC" --url "nats://127.0.0.1:$NPORT" --ca "$ca" --cert "$cert" --key "$key" \
	    --host localhost "$@" >"$NC_OUT" 2>&1
	NC_RC=$?
	{
		printf '$ nats-client --cert %s %s -> %s\n' "$(basename "$cert")" "$*" "$NC_RC"
		cat "$NC_OUT"
	} >>"$VP_LOG"
	return 0
}

# assert_nc RC DESC: the last client run exited RC.
assert_nc() {
	if [ "$NC_RC" = "$1" ]; then
		ok "$2 (client exit $NC_RC: $(head -n 1 "$NC_OUT"))"
	else
		not_ok "$2 (expected client exit $1, got $NC_RC)"
		diag_file "$NC_OUT"
		tail -n 3 "$NATS_LOG" | sed 's/^/#   nats-server: /'
	fi
}

# log_mark / assert_log_since REGEX DESC: the broker's log, from the mark on, gets a line
# matching REGEX (waits up to 10 s for it: the broker writes it as it closes the connection).
log_mark() { LOG_MARK=$(wc -l <"$NATS_LOG"); }
assert_log_since() {
	local i
	for ((i = 0; i < 50; i++)); do
		tail -n "+$((LOG_MARK + 1))" "$NATS_LOG" | grep -Eq -- "$1" && { ok "$2"; return; }
		sleep 0.2
	done
	not_ok "$2 (no /$1/ in the broker's log)"
	tail -n "+$((LOG_MARK + 1))" "$NATS_LOG" | head -n 5 | sed 's/^/#   /'
}

# nats_start: nats-server -c $N/main.conf, listening on 127.0.0.1:NPORT (a free port; another
# one if the bind fails), log in $NATS_LOG. Waits until it says it is ready. Sets NATS_PID.
nats_start() {
	local try i
	NATS_LOG="$N/nats-server.log"
	for ((try = 1; try <= 5; try++)); do
		NPORT=$(pick_port) || { diag "no free port"; return 1; }
		{
			printf '# the test'"'"'s main configuration: where to listen, then what vmspki wrote\n'
			printf 'listen: 127.0.0.1:%s\n' "$NPORT"
			printf 'include "broker-tls.conf"\n'
		} >"$N/main.conf"
		: >"$NATS_LOG"
		nats-server -c "$N/main.conf" -l "$NATS_LOG" </dev/null >"$N/nats-server.out" 2>&1 &
		NATS_PID=$!
		track_pid "$NATS_PID"
		printf '$ nats-server -c %s (pid %s, port %s)\n' "$N/main.conf" "$NATS_PID" "$NPORT" >>"$VP_LOG"
		for ((i = 0; i < 150; i++)); do
			pid_alive "$NATS_PID" || break
			grep -q 'Server is ready' "$NATS_LOG" && return 0
			sleep 0.2
		done
		if pid_alive "$NATS_PID"; then
			diag "nats-server did not get ready within 30 s"
			diag_file "$NATS_LOG" 20
			return 1
		fi
		wait "$NATS_PID" 2>/dev/null
		if grep -Eqi 'address already in use' "$NATS_LOG" "$N/nats-server.out"; then
			diag "port $NPORT was taken; trying another"
			continue
		fi
		diag "nats-server exited; its log:"
		diag_file "$NATS_LOG" 20
		diag_file "$N/nats-server.out" 20
		return 1
	done
	return 1
}

# nats_reload: `nats-server --signal reload=PID`, then waits for the broker to say it reloaded
# (or failed to). 0 when it reloaded.
nats_reload() {
	local before i
	before=$(grep -c 'Reloaded server configuration' "$NATS_LOG")
	nats-server --signal "reload=$NATS_PID" >>"$VP_LOG" 2>&1 || kill -HUP "$NATS_PID"
	for ((i = 0; i < 150; i++)); do
		[ "$(grep -c 'Reloaded server configuration' "$NATS_LOG")" -gt "$before" ] && return 0
		grep -q 'Failed to reload' "$NATS_LOG" && break
		sleep 0.2
	done
	diag "nats-server did not reload:"
	grep -E 'reload|ERR' "$NATS_LOG" | tail -n 5 | sed 's/^/#   /'
	return 1
}

# sub_start CA CERT KEY SUBJ: a subscriber (count 1, 30 s) in the background; waits until it
# says it is subscribed. Sets SUB_PID and SUB_OUT. sub_wait: waits for it, sets SUB_RC.
SUB_N=0
sub_start() {
	local i
	SUB_N=$((SUB_N + 1))
	SUB_OUT="$T/.sub.$SUB_N.out"
	"$NC" --url "nats://127.0.0.1:$NPORT" --ca "$1" --cert "$2" --key "$3" --host localhost \
	    sub "$4" --count 1 --timeout 30 >"$SUB_OUT" 2>&1 &
	SUB_PID=$!
	track_pid "$SUB_PID"
	for ((i = 0; i < 150; i++)); do
		grep -q '^subscribed to' "$SUB_OUT" && return 0
		pid_alive "$SUB_PID" || break
		sleep 0.2
	done
	diag "the subscriber did not subscribe:"
	diag_file "$SUB_OUT"
	return 1
}
sub_wait() {
	wait "$SUB_PID" 2>/dev/null
	SUB_RC=$?
	{ printf '$ nats-client sub (background) -> %s\n' "$SUB_RC"; cat "$SUB_OUT"; } >>"$VP_LOG"
}

# expand_ip ADDR: an address as openssl prints it in a SAN (IPv6: eight upper-case groups
# without leading zeros, "FD00:0:0:0:0:0:0:2").
expand_ip() {
	local a=${1,,} head tail g fill i out=""
	local -a H=() TL=() G=()
	case $a in
	*:*) ;;
	*) echo "$a"; return ;;
	esac
	if [[ $a == *::* ]]; then head=${a%%::*} tail=${a#*::}; else head=$a tail=""; fi
	[ -n "$head" ] && IFS=: read -ra H <<<"$head"
	[ -n "$tail" ] && IFS=: read -ra TL <<<"$tail"
	fill=0
	[[ $a == *::* ]] && fill=$((8 - ${#H[@]} - ${#TL[@]}))
	G=("${H[@]}")
	for ((i = 0; i < fill; i++)); do G+=(0); done
	G+=("${TL[@]}")
	for g in "${G[@]}"; do out+=$(printf '%X:' "$((16#$g))"); done
	echo "${out%:}"
}

# ---------------------------------------------------------------- the CA and the components
vp "$D" ca init --key ec-p256 --remember --cn "NATS Test Root"
assert_rc 0 "ca init (EC P-256, passphrase remembered)"
CA="$D/certs/ca.cert.pem"

cat >"$D/components.json" <<'EOF'
{
  "components": {
    "broker": {},
    "recorder": { "publish": ["video.>"], "subscribe": [] },
    "viewer": { "publish": [], "subscribe": ["video.>"] }
  }
}
EOF

vp "$D" component add broker --server
assert_rc 0 "component add broker --server"
vp "$D" component add recorder --client
assert_rc 0 "component add recorder --client"
vp "$D" component add viewer --client
assert_rc 0 "component add viewer --client"
vp "$D" component add intruder --client
assert_rc 0 "component add intruder --client (a component with no entry in components.json)"

assert_file "$CD/broker.server.cert.pem" "broker.server.cert.pem written"
assert_file "$CD/broker.server.key.pem" "broker.server.key.pem written"
assert_no_file "$CD/broker.client.cert.pem" "--server only: no broker.client.cert.pem"
for c in recorder viewer intruder; do
	assert_file "$CD/$c.client.cert.pem" "$c.client.cert.pem written"
	assert_no_file "$CD/$c.server.cert.pem" "--client only: no $c.server.cert.pem"
done
assert_mode 700 "$CD" "components/certificates is 0700"
for k in broker.server recorder.client viewer.client intruder.client; do
	assert_mode 600 "$CD/$k.key.pem" "$k.key.pem is 0600"
	if [ "$(pubkey_of_key "$CD/$k.key.pem")" = "$(pubkey_of_cert "$CD/$k.cert.pem")" ] &&
	    [ -n "$(pubkey_of_cert "$CD/$k.cert.pem")" ]; then
		ok "$k: the key matches the certificate"
	else
		not_ok "$k: the key matches the certificate"
	fi
	if grep -q 'ENCRYPTED' "$CD/$k.key.pem"; then
		not_ok "$k.key.pem is unencrypted PKCS#8 (nats-server reads it)"
	else
		assert_grep '^-----BEGIN PRIVATE KEY-----' "$CD/$k.key.pem" "$k.key.pem is unencrypted PKCS#8 (nats-server reads it)"
	fi
done

# Adding an existing id again (the same kind) is refused and changes nothing.
snapshot "$D" >"$T/snap.readd"
vp "$D" component add recorder --client
assert_rc 1 "component add recorder --client again is refused"
assert_unchanged "$T/snap.readd" "$D" "refused re-add: nothing changed"

# ---------------------------------------------------------------- what the certificates say
ca_na=$(not_after "$CA")
now=$(date +%s)
tenyears=$((3650 * 86400))

parse_cert "$CD/broker.server.cert.pem"
assert_eq "CN = broker" "$C_SUBJECT" "broker server certificate: CN = broker"
san=${C_EXT[Subject Alternative Name]:-}
eku=${C_EXT[Extended Key Usage]:-}
assert_eq "TLS Web Server Authentication" "$eku" "broker server certificate: EKU serverAuth only"
assert_eq "(2048 bit)" "$C_PUBKEY" "broker server certificate: RSA 2048"
want_san=("DNS:localhost" "DNS:$(hostname)" "IP Address:127.0.0.1" "IP Address:0:0:0:0:0:0:0:1")
while read -r addr; do
	[ -n "$addr" ] && want_san+=("IP Address:$(expand_ip "$addr")")
done < <(if command -v ip >/dev/null; then ip -o addr show | awk '{print $4}'; else hostname -I | tr ' ' '\n'; fi |
    sed 's|/.*||' | grep -vi '^fe80:')
missing=""
for w in "${want_san[@]}"; do
	[[ ", $san, " == *", $w, "* ]] || missing="$missing [$w]"
done
if [ -z "$missing" ]; then
	ok "broker server certificate: SAN has localhost, the host name, 127.0.0.1, ::1 and every interface address (${#want_san[@]})"
else
	not_ok "broker server certificate: SAN has localhost, the host name, 127.0.0.1, ::1 and every interface address (missing:$missing)"
	diag "SAN: $san"
fi
if [ "$C_NA" -le "$ca_na" ] && [ "$C_NA" -ge $((now + tenyears - 10 * 86400)) ] ||
    [ "$C_NA" = "$ca_na" ]; then
	ok "broker server certificate: 10 years, clamped to the CA"
else
	not_ok "broker server certificate: 10 years, clamped to the CA (notAfter $C_NA, CA $ca_na, now $now)"
fi
if [ "$(count_pem_certs "$CD/broker.server.cert.pem")" -ge 2 ] &&
    pem_fps "$CD/broker.server.cert.pem" | grep -qx "$(fp "$CA")"; then
	ok "broker.server.cert.pem holds the certificate then the CA"
else
	not_ok "broker.server.cert.pem holds the certificate then the CA ($(count_pem_certs "$CD/broker.server.cert.pem") certificates)"
fi
first_cert "$CD/broker.server.cert.pem" "$T/broker.leaf.pem"
check "broker server certificate verifies (openssl -purpose sslserver)" verify_openssl "$CA" "$T/broker.leaf.pem" sslserver

for c in recorder viewer intruder; do
	parse_cert "$CD/$c.client.cert.pem"
	assert_eq "CN = $c" "$C_SUBJECT" "$c client certificate: CN = $c"
	assert_eq "email:$c.component@natsbroker.localhost" "${C_EXT[Subject Alternative Name]:-}" \
	    "$c client certificate: SAN email:$c.component@natsbroker.localhost"
	assert_eq "TLS Web Client Authentication" "${C_EXT[Extended Key Usage]:-}" "$c client certificate: EKU clientAuth only"
	assert_eq "(2048 bit)" "$C_PUBKEY" "$c client certificate: RSA 2048"
	if [ "$C_NA" -le "$ca_na" ] && [ "$C_NA" -ge $((now + tenyears - 10 * 86400)) ] || [ "$C_NA" = "$ca_na" ]; then
		ok "$c client certificate: 10 years, clamped to the CA"
	else
		not_ok "$c client certificate: 10 years, clamped to the CA (notAfter $C_NA, CA $ca_na)"
	fi
	first_cert "$CD/$c.client.cert.pem" "$T/$c.leaf.pem"
	check "$c client certificate verifies (openssl -purpose sslclient)" verify_openssl "$CA" "$T/$c.leaf.pem" sslclient
done

vp "$D" component list
assert_rc 0 "component list"
assert_grep 'broker' "$VP_OUT" "component list names broker"
assert_grep 'recorder' "$VP_OUT" "component list names recorder"
vp "$D" component list --json
if [ "$RC" = 0 ] && jq -e . "$VP_OUT" >/dev/null 2>&1; then
	ok "component list --json is JSON"
else
	not_ok "component list --json is JSON (exit $RC)"
	diag_file "$VP_OUT"
	diag_file "$VP_ERR"
fi

# ---------------------------------------------------------------- remove intruder
# Its certificate and key are kept here: the broker must refuse them once the configuration no
# longer maps it (the certificate itself is still a valid one from our CA).
cp "$CD/intruder.client.cert.pem" "$N/intruder.cert.pem"
cp "$CD/intruder.client.key.pem" "$N/intruder.key.pem"
vp "$D" component remove intruder
assert_rc 0 "component remove intruder"
assert_no_file "$CD/intruder.client.cert.pem" "intruder.client.cert.pem is gone"
assert_no_file "$CD/intruder.client.key.pem" "intruder.client.key.pem is gone"
vp "$D" component list
assert_no_grep 'intruder' "$VP_OUT" "component list no longer names intruder"
check "the removed component's certificate still verifies against the CA (only the map refuses it)" \
    verify_openssl "$CA" "$T/intruder.leaf.pem" sslclient

# ---------------------------------------------------------------- the broker's configuration
TLSCONF="$N/broker-tls.conf"
vp "$D" component nats-config broker --out "$TLSCONF"
assert_rc 0 "component nats-config broker --out broker-tls.conf"
assert_mode 600 "$TLSCONF" "the nats configuration is 0600 (it names key files)"
assert_grep 'verify_and_map: *true' "$TLSCONF" "tls { verify_and_map: true }"
assert_grep "cert_file: *\"$CD/broker.server.cert.pem\"" "$TLSCONF" "cert_file: the broker's certificate, absolute path"
assert_grep "key_file: *\"$CD/broker.server.key.pem\"" "$TLSCONF" "key_file: the broker's key, absolute path"
assert_grep "ca_file: *\"$D/certs/ca.cert.pem\"" "$TLSCONF" "ca_file: the CA certificate, absolute path"
assert_grep 'recorder\.component@natsbroker\.localhost' "$TLSCONF" "a user for recorder"
assert_grep 'viewer\.component@natsbroker\.localhost' "$TLSCONF" "a user for viewer"
assert_no_grep 'intruder' "$TLSCONF" "no user for the removed intruder"
assert_no_grep 'broker\.component@' "$TLSCONF" "no user for broker (it has no client certificate)"
assert_no_grep '^[[:space:]]*(listen|port)[[:space:]]*:' "$TLSCONF" "no listen/port line"
diag "broker-tls.conf:"
diag_file "$TLSCONF" 30

vp "$D" component nats-config recorder --out "$N/nope.conf"
assert_rc 1 "nats-config for a component without a server certificate is refused"
assert_no_file "$N/nope.conf" "and writes nothing"

if nats_start; then
	ok "nats-server started with the generated configuration (port $NPORT, pid $NATS_PID)"
else
	not_ok "nats-server started with the generated configuration"
	it_done
fi

# ---------------------------------------------------------------- allowed traffic
natsc "$CA" "$CD/recorder.client.cert.pem" "$CD/recorder.client.key.pem" connect
assert_nc 0 "recorder connects (mTLS, server name localhost verified)"
natsc "$CA" "$CD/recorder.client.cert.pem" "$CD/recorder.client.key.pem" --host "$(hostname)" connect
assert_nc 0 "recorder connects verifying the server name $(hostname)"

if sub_start "$CA" "$CD/viewer.client.cert.pem" "$CD/viewer.client.key.pem" 'video.>'; then
	ok "viewer subscribed to video.>"
else
	not_ok "viewer subscribed to video.>"
fi
natsc "$CA" "$CD/recorder.client.cert.pem" "$CD/recorder.client.key.pem" pub video.cam1 frame-0001
assert_nc 0 "recorder publishes on video.cam1"
sub_wait
if [ "$SUB_RC" = 0 ] && grep -qx 'received video.cam1: frame-0001' "$SUB_OUT"; then
	ok "viewer received recorder's message on video.cam1"
else
	not_ok "viewer received recorder's message on video.cam1 (subscriber exit $SUB_RC)"
	diag_file "$SUB_OUT"
fi

# ---------------------------------------------------------------- permissions
natsc "$CA" "$CD/recorder.client.cert.pem" "$CD/recorder.client.key.pem" pub admin.x oops
assert_nc 3 "recorder publishing on admin.x: permissions violation"
natsc "$CA" "$CD/viewer.client.cert.pem" "$CD/viewer.client.key.pem" pub video.cam1 fake
assert_nc 3 "viewer publishing (publish: []): permissions violation"
natsc "$CA" "$CD/recorder.client.cert.pem" "$CD/recorder.client.key.pem" sub 'video.>' --timeout 5
assert_nc 3 "recorder subscribing (subscribe: []): permissions violation"

# ---------------------------------------------------------------- refused clients
# Another CA, the same CN and email SAN.
mk_root "$N/other" ec-p256 "Other Root" 365
mk_signed "$N/foreign" "$N/other" rsa2048 recorder 365 "subjectAltName=email:recorder.component@natsbroker.localhost
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
log_mark
natsc "$CA" "$N/foreign.pem" "$N/foreign.key" connect
assert_nc 2 "a client certificate from another CA (CN recorder, recorder's email SAN) is refused"
assert_log_since 'unknown authority|certificate' "the broker says why (another CA)"

# Expired, from our CA: recorder's own certificate (same key, subject and extensions) signed
# again 400 days ago for 30 days, with the CA key exported by vmspki. (`faketime vmspki issue`
# cannot do it: vmspki rightly refuses to issue before the CA's own notBefore.)
printf 'nats-it-export-pass-4242\n' >"$N/p12pass"
vp "$D" ca export --with-key --out "$N/ca.p12" --p12-passphrase-file "$N/p12pass"
assert_rc 0 "ca export --with-key (to sign an expired certificate with the CA key)"
openssl pkcs12 -in "$N/ca.p12" -nocerts -nodes -passin "file:$N/p12pass" -out "$N/ca.key" 2>/dev/null
openssl x509 -x509toreq -in "$T/recorder.leaf.pem" -signkey "$CD/recorder.client.key.pem" \
    -copy_extensions copyall -out "$N/expired.csr" >/dev/null 2>&1
faketime -f '-400d' openssl x509 -req -in "$N/expired.csr" -CA "$CA" -CAkey "$N/ca.key" \
    -copy_extensions copyall -days 30 -set_serial "0x$(openssl rand -hex 12)" -out "$N/expired.pem" >/dev/null 2>&1
rm -f "$N/ca.key" "$N/ca.p12"
if [ -s "$N/expired.pem" ] && ! openssl x509 -in "$N/expired.pem" -noout -checkend 0 >/dev/null 2>&1 &&
    [ "$(ext_value "$N/expired.pem" "X509v3 Subject Alternative Name")" = "email:recorder.component@natsbroker.localhost" ] &&
    [ "$(openssl verify -CAfile "$CA" "$N/expired.pem" 2>&1 | grep -E '^error [0-9]+ at' | tr '\n' ' ')" = \
    "error 10 at 0 depth lookup: certificate has expired " ]; then
	ok "an expired recorder certificate from our CA (valid 400..370 days ago; openssl verify: expired, nothing else)"
else
	not_ok "an expired recorder certificate from our CA (valid 400..370 days ago; openssl verify: expired, nothing else)"
	openssl verify -CAfile "$CA" "$N/expired.pem" 2>&1 | head -n 3 | sed 's/^/#   /'
fi
log_mark
natsc "$CA" "$N/expired.pem" "$CD/recorder.client.key.pem" connect
assert_nc 2 "the expired certificate from our CA is refused"
assert_log_since 'expired' "the broker says why (expired)"

log_mark
natsc "$CA" "$N/intruder.cert.pem" "$N/intruder.key.pem" connect
assert_nc 2 "the removed component intruder (valid certificate, not in the map) is refused"
assert_log_since 'uthoriz|uthentication' "the broker says why (authorization)"

# The broker still serves the good ones after the refusals.
natsc "$CA" "$CD/viewer.client.cert.pem" "$CD/viewer.client.key.pem" connect
assert_nc 0 "viewer still connects after the refusals"

# ---------------------------------------------------------------- CA replacement
# `ca init --replace` (issue 6) does not exist yet; the equivalent: a new data dir with a new
# CA and the same components, its nats-config written over the broker's file, the broker
# reloaded.
for k in broker.server recorder.client viewer.client; do
	cp "$CD/$k.cert.pem" "$N/old.$k.cert.pem"
	cp "$CD/$k.key.pem" "$N/old.$k.key.pem"
done
vp "$D2" ca init --key ec-p256 --remember --cn "NATS Test Root 2"
assert_rc 0 "a second data dir with a new CA"
CA2="$D2/certs/ca.cert.pem"
cp "$D/components.json" "$D2/components.json"
vp "$D2" component add broker --server
assert_rc 0 "new CA: component add broker --server"
vp "$D2" component add recorder --client
assert_rc 0 "new CA: component add recorder --client"
vp "$D2" component add viewer --client
assert_rc 0 "new CA: component add viewer --client"
vp "$D2" component nats-config broker --out "$TLSCONF"
assert_rc 0 "new CA: nats-config over the broker's configuration file"
assert_grep "ca_file: *\"$D2/certs/ca.cert.pem\"" "$TLSCONF" "the configuration now names the new CA"

if nats_reload; then
	ok "nats-server reloaded the configuration (SIGHUP)"
else
	not_ok "nats-server reloaded the configuration (SIGHUP)"
fi
if pid_alive "$NATS_PID"; then ok "the broker is the same process (pid $NATS_PID)"; else not_ok "the broker is the same process (it died)"; diag_file "$NATS_LOG" 20; fi
if sub_start "$CA2" "$CD2/viewer.client.cert.pem" "$CD2/viewer.client.key.pem" 'video.>'; then
	ok "new CA: viewer subscribed to video.>"
else
	not_ok "new CA: viewer subscribed to video.>"
fi
natsc "$CA2" "$CD2/recorder.client.cert.pem" "$CD2/recorder.client.key.pem" pub video.cam2 frame-0002
assert_nc 0 "new CA: recorder publishes on video.cam2"
sub_wait
if [ "$SUB_RC" = 0 ] && grep -qx 'received video.cam2: frame-0002' "$SUB_OUT"; then
	ok "new CA: viewer received recorder's message"
else
	not_ok "new CA: viewer received recorder's message (subscriber exit $SUB_RC)"
	diag_file "$SUB_OUT"
fi
natsc "$CA2" "$CD2/recorder.client.cert.pem" "$CD2/recorder.client.key.pem" pub admin.x oops
assert_nc 3 "new CA: recorder on admin.x is still a permissions violation"

# Old certificates, trusting the new CA (so that the refusal is the broker's, not ours).
log_mark
natsc "$CA2" "$N/old.recorder.client.cert.pem" "$N/old.recorder.client.key.pem" connect
assert_nc 2 "old recorder certificate refused after the CA replacement"
assert_log_since 'unknown authority|certificate' "the broker says why (old CA)"
natsc "$CA2" "$N/old.viewer.client.cert.pem" "$N/old.viewer.client.key.pem" connect
assert_nc 2 "old viewer certificate refused after the CA replacement"
# A client that still trusts only the old CA no longer trusts the broker either.
natsc "$CA" "$CD/recorder.client.cert.pem" "$CD/recorder.client.key.pem" connect
assert_nc 2 "a client trusting only the old CA refuses the broker's new certificate"

# The old data dir still works; the new one has nothing to renew.
vp "$D" component list
assert_rc 0 "old data dir: component list still works"
assert_grep 'viewer' "$VP_OUT" "old data dir: component list names viewer"
for k in broker.server recorder.client viewer.client; do fp "$CD2/$k.cert.pem"; done >"$T/fps2.before"
vp "$D2" component renew --all
assert_rc 0 "new data dir: component renew --all (no --force)"
assert_no_grep 'renewed' "$VP_OUT" "new data dir: nothing renewed (all current)"
for k in broker.server recorder.client viewer.client; do fp "$CD2/$k.cert.pem"; done >"$T/fps2.after"
if cmp -s "$T/fps2.before" "$T/fps2.after"; then ok "new data dir: the certificates are unchanged"; else not_ok "new data dir: the certificates are unchanged"; fi
diag "renew --all output:"
diag_file "$VP_OUT"

# ---------------------------------------------------------------- bad ids
snapshot "$D" >"$T/snap.ids"
long65=$(printf 'a%.0s' {1..65})
for id in ../x a/b / "$long65" UPPER -x .hidden "a b" ""; do
	vp "$D" component add -- "$id"
	assert_rc 1 "component add '$id' is refused"
	assert_stderr '64 characters|a-z' "component add '$id': the message names the rule"
done
assert_unchanged "$T/snap.ids" "$D" "the refused ids changed nothing in the data dir"
assert_no_file "$D/x.client.cert.pem" "nothing written outside components/certificates"
assert_no_file "$D/components/x.client.cert.pem" "nothing written in components/ either"
long64=$(printf 'b%.0s' {1..64})
vp "$D" component add "$long64" --client
assert_rc 0 "an id of 64 characters of [a-z0-9._-] is accepted"
assert_file "$CD/$long64.client.cert.pem" "its certificate is written"
vp "$D" component remove "$long64"
assert_rc 0 "and removed"

assert_grep 'Server is ready' "$NATS_LOG" "the broker's log is there"
if [ -n "$(grep -E '\[(FTL|PNC)\]|panic' "$NATS_LOG")" ]; then
	not_ok "no fatal error in the broker's log"
	grep -E '\[(FTL|PNC)\]|panic' "$NATS_LOG" | head -n 3 | sed 's/^/#   /'
else
	ok "no fatal error in the broker's log"
fi
daemon_stop "$NATS_PID" TERM 20
it_done
