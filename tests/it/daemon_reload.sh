#!/usr/bin/env bash
# Hot reload of the API server certificate. One keep-alive TLS connection (an openssl s_client
# coprocess: one process, one TCP socket, one handshake, several HTTP/1.1 requests) is opened
# first; then the certificate is renewed by `vmspki server-cert renew` on the data dir while the
# daemon runs, by POST /api/v1/server-certificate/renew, and replaced by `vmspki server-cert
# import`. After each: the old connection still answers (same socket, same local port, no
# second handshake, still the first certificate), every new connection gets the new
# certificate (its serial), and the daemon is the same process (same PID, same start time).
. "$(dirname "$0")/lib.bash"
it_init curl jq

D="$T/dd"
if daemon_start "$D" --ca-key ec-p256; then
	ok "vmspki serve started (port $PORT)"
else
	not_ok "vmspki serve started"
	it_done
fi
CA=$DAEMON_CA
PID0=$DAEMON_PID
START0=$(ps -o lstart= -p "$PID0" 2>/dev/null)
if [ -n "$ADMIN_TOKEN" ]; then ok "first start printed an admin token"; else not_ok "first start printed an admin token (vmspki_...)"; diag_file "$DAEMON_OUT"; fi

# new_serial: the serial of the certificate a new connection to 127.0.0.1 gets.
new_serial() {
	served_cert 127.0.0.1 "$PORT" "$T/new.pem" && cert_serial "$T/new.pem"
}

# ---------------------------------------------------------------- the keep-alive connection
coproc KA { exec openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$CA" -verify_return_error \
    -verify_ip 127.0.0.1 -ign_eof 2>"$T/ka.err"; }
track_pid "$KA_PID"
# Copies of the coprocess's pipe ends: bash closes its own ones when the coprocess ends.
exec {KA_OUT}<&"${KA[0]}" {KA_IN}>&"${KA[1]}"
KA_LOG="$T/ka.transcript"   # every line read from s_client
: >"$KA_LOG"

# ka_read_line VAR [SECONDS]: one line of s_client's output, \r removed.
ka_read_line() {
	local __l
	IFS= read -r -t "${2:-30}" -u "$KA_OUT" __l || return 1
	__l=${__l%$'\r'}
	printf '%s\n' "$__l" >>"$KA_LOG"
	printf -v "$1" '%s' "$__l"
}

# The handshake: s_client prints the server's certificate, then the session.
KA_CERT="$T/ka-cert.pem"
: >"$KA_CERT"
incert=0
while ka_read_line line 60; do
	[ "$line" = "-----BEGIN CERTIFICATE-----" ] && incert=1
	[ "$incert" = 1 ] && printf '%s\n' "$line" >>"$KA_CERT"
	[ "$line" = "-----END CERTIFICATE-----" ] && incert=2
	case $line in *"Verify return code:"*) break ;; esac
done
if grep -q 'Verify return code: 0 (ok)' "$KA_LOG"; then
	ok "keep-alive connection: handshake verified against the CA"
else
	not_ok "keep-alive connection: handshake verified against the CA"
	diag_file "$KA_LOG" 20
	diag_file "$T/ka.err"
fi
KA_SERIAL=$(cert_serial "$KA_CERT")

# ka_socket: "inode local-port state" of the s_client's one TCP socket (from /proc).
ka_socket() {
	local ino port st
	ino=$(ls -l "/proc/$KA_PID/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | head -n 1)
	[ -n "$ino" ] || { echo "none"; return; }
	read -r port st < <(awk -v i="$ino" '$10 == i { split($2, a, ":"); print a[2], $4 }' \
	    /proc/net/tcp /proc/net/tcp6 2>/dev/null)
	echo "$ino ${port:-?} ${st:-?}"
}
ka_nsockets() { ls -l "/proc/$KA_PID/fd" 2>/dev/null | grep -c 'socket:' ; }

# ka_request PATH: one GET on the keep-alive connection; sets KA_STATUS and KA_BODY. Lines that
# s_client prints between responses (TLS 1.3 session tickets) are skipped.
ka_request() {
	local line len=0 chunked=0 body="" part size
	KA_STATUS="" KA_BODY=""
	pid_alive "$KA_PID" || return 1
	printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n' "$1" "$PORT" >&"$KA_IN" || return 1
	while :; do
		ka_read_line line 30 || return 1
		case $line in HTTP/1.1\ *) break ;; esac
	done
	KA_STATUS=$(cut -d' ' -f2 <<<"$line")
	while ka_read_line line 30; do
		[ -z "$line" ] && break
		case ${line,,} in
		content-length:*) len=$(tr -dc 0-9 <<<"${line#*:}") ;;
		transfer-encoding:*chunked*) chunked=1 ;;
		esac
	done
	if [ "$chunked" = 1 ]; then
		while ka_read_line line 30; do
			size=$((16#${line%%;*}))
			[ "$size" = 0 ] && { ka_read_line line 30; break; }
			IFS= read -r -N "$size" -t 30 -u "$KA_OUT" part || return 1
			body+=$part
			ka_read_line line 30
		done
	elif [ "$len" -gt 0 ]; then
		IFS= read -r -N "$len" -t 30 -u "$KA_OUT" body || return 1
	fi
	KA_BODY=$body
	printf '%s\n' "$body" >>"$KA_LOG"
	return 0
}

# ka_check DESC: a request on the old connection answers 200, on the same socket as at first.
KA_SOCK0=""
ka_check() {
	if ka_request /healthz && [ "$KA_STATUS" = 200 ]; then
		ok "$1: the keep-alive connection answers /healthz (HTTP 200)"
	else
		not_ok "$1: the keep-alive connection answers /healthz (status '${KA_STATUS}')"
		tail -n 5 "$KA_LOG" | sed 's/^/#   /'
		diag_file "$T/ka.err"
		return
	fi
	local s
	s=$(ka_socket)
	if [ "$s" = "$KA_SOCK0" ] && [ "$(ka_nsockets)" = 1 ]; then
		ok "$1: same s_client process ($KA_PID), same one socket and local port ($s)"
	else
		not_ok "$1: same s_client process, same one socket and local port (was '$KA_SOCK0', now '$s', $(ka_nsockets) sockets)"
	fi
	local hs
	hs=$(grep -c '^Server certificate$' "$KA_LOG")
	assert_eq 1 "$hs" "$1: one handshake on that connection (s_client printed one server certificate)"
}

ka_request /healthz
assert_eq 200 "$KA_STATUS" "first request on the keep-alive connection answers /healthz"
KA_SOCK0=$(ka_socket)
case $KA_SOCK0 in
*" 01") ok "the keep-alive connection is one established TCP socket ($KA_SOCK0)" ;;
*) not_ok "the keep-alive connection is one established TCP socket (got '$KA_SOCK0')" ;;
esac
ka_request /healthz
ka_check "second request"

S0=$(cert_serial "$D/certs/public.pem")
assert_eq "$S0" "$KA_SERIAL" "the keep-alive connection got certs/public.pem (serial $S0)"
assert_eq "$S0" "$(new_serial)" "a new connection gets the same certificate"
api GET /api/v1/server-certificate "$ADMIN_TOKEN"
assert_status 200 "GET /api/v1/server-certificate"
api_serial=$(norm_serial "$(jq -r '.serial // empty' "$API_BODY" 2>/dev/null)")
assert_eq "$S0" "$api_serial" "GET /api/v1/server-certificate names the certificate in use"

# ---------------------------------------------------------------- renewal by the CLI
# The CLI takes the remembered passphrase from the data dir; the daemon notices the new files.
vp "$D" server-cert renew
assert_rc 0 "vmspki server-cert renew while the daemon runs"
S1=$(cert_serial "$D/certs/public.pem")
if [ -n "$S1" ] && [ "$S1" != "$S0" ]; then ok "the CLI wrote a new certificate (serial $S1)"; else not_ok "the CLI wrote a new certificate (serial still '$S1')"; fi
# The daemon looks at the files every few seconds: wait for it (at most 60 s), keeping the old
# connection busy meanwhile so that its idle timeout does not end it.
got="" waited=0
for ((i = 0; i < 60; i++)); do
	got=$(new_serial)
	[ "$got" = "$S1" ] && break
	ka_request /healthz >/dev/null
	sleep 1
	waited=$((waited + 1))
done
diag "the daemon served the CLI's certificate after about ${waited}s"
assert_eq "$S1" "$got" "after the CLI renewal a new connection gets the new certificate"
api GET /api/v1/server-certificate "$ADMIN_TOKEN"
assert_eq "$S1" "$(norm_serial "$(jq -r '.in_use_serial // empty' "$API_BODY" 2>/dev/null)")" "GET /api/v1/server-certificate says it is in use"
for h in localhost "[::1]"; do
	served_cert "$h" "$PORT" "$T/h.pem" && assert_eq "$S1" "$(cert_serial "$T/h.pem")" "... also on $h"
done
code=$(curl -gsS --max-time 30 --cacert "$CA" -o /dev/null -w '%{http_code}' "https://localhost:$PORT/healthz" 2>/dev/null)
assert_eq 200 "$code" "a new connection verifies with the new certificate (curl --cacert, localhost)"
ka_check "after the CLI renewal"

# ---------------------------------------------------------------- renewal through the API
api POST /api/v1/server-certificate/renew "$ADMIN_TOKEN"
case $API_STATUS in
200 | 201) ok "POST /api/v1/server-certificate/renew (HTTP $API_STATUS)" ;;
*) not_ok "POST /api/v1/server-certificate/renew (HTTP $API_STATUS)"; diag_file "$API_BODY" 5 ;;
esac
diag "renew answered: $(head -c 400 "$API_BODY")"
S2=$(cert_serial "$D/certs/public.pem")
if [ -n "$S2" ] && [ "$S2" != "$S1" ]; then ok "the API renewal wrote a new certificate (serial $S2)"; else not_ok "the API renewal wrote a new certificate (serial still '$S2')"; fi
api_serial=$(norm_serial "$(jq -r '.serial // .certificate.serial // empty' "$API_BODY" 2>/dev/null)")
assert_eq "$S2" "$api_serial" "the renewal's answer names the new certificate"
# The daemon made the new context itself: the very next connection has it.
assert_eq "$S2" "$(new_serial)" "right after the API renewal a new connection gets the new certificate"
api GET /api/v1/server-certificate "$ADMIN_TOKEN"
assert_eq "$S2" "$(norm_serial "$(jq -r '.serial // empty' "$API_BODY" 2>/dev/null)")" "GET /api/v1/server-certificate names it"
assert_eq "$S2" "$(norm_serial "$(jq -r '.in_use_serial // empty' "$API_BODY" 2>/dev/null)")" "... and says it is the one in use for new connections"
ka_check "after the API renewal"

# ---------------------------------------------------------------- an operator's certificate
# From a CA of the operator's own, imported as PKCS#12: it takes the place of ours the same way.
mk_root "$T/opca" ec-p256 "Operator Corporate CA" 400
mk_signed "$T/op" "$T/opca" rsa2048 "vms.operator.example" 300 "subjectAltName=DNS:vms.operator.example,DNS:localhost,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment"
printf 'operator-p12-password-31\n' >"$T/op.pw"
mk_p12 "$T/op.p12" "$T/op.key" "$T/op.pem" "$T/op.pw" "$T/opca.pem"
S3=$(cert_serial "$T/op.pem")
vp "$D" server-cert import "$T/op.p12" --p12-passphrase-file "$T/op.pw"
assert_rc 0 "vmspki server-cert import of an operator's PKCS#12 while the daemon runs"
got=""
for ((i = 0; i < 60; i++)); do
	got=$(new_serial)
	[ "$got" = "$S3" ] && break
	ka_request /healthz >/dev/null
	sleep 1
done
assert_eq "$S3" "$got" "after the import a new connection gets the operator's certificate"
code=$(curl -gsS --max-time 30 --cacert "$T/opca.pem" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/healthz" 2>/dev/null)
assert_eq 200 "$code" "it verifies against the operator's CA (curl --cacert opca.pem)"
ka_check "after the import"

# The old connection kept its first certificate all along.
assert_eq "$S0" "$KA_SERIAL" "the keep-alive connection is still the one made with the first certificate"

# ---------------------------------------------------------------- the same daemon
if pid_alive "$PID0"; then ok "the daemon still runs as PID $PID0"; else not_ok "the daemon still runs as PID $PID0"; fi
assert_eq "$START0" "$(ps -o lstart= -p "$PID0" 2>/dev/null)" "same process start time (no restart, no re-exec)"
assert_no_grep 'vmspki_[A-Za-z0-9_-]{8,}' "$DAEMON_ERR" "the daemon's log holds no token"

exec {KA_IN}>&- {KA_OUT}<&-
kill "$KA_PID" 2>/dev/null
wait "$KA_PID" 2>/dev/null
daemon_stop "$PID0" TERM 60
assert_eq 0 "$DAEMON_RC" "SIGTERM: the daemon exits 0"

assert_daemon_logs_clean

it_done
