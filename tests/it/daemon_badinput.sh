#!/usr/bin/env bash
# The daemon under bad input and abuse. Malformed JSON, a body that is not an object, an unknown
# field, a wrong type, a CSR that is not a CSR (400), a body over 64 KiB (413), a missing, wrong
# or non-bearer token (401): each answers its status with {"error":{"code","message"}} and
# stores nothing (certificate count by sqlite3 and by `vmspki cert list --json`). Failed logins
# are logged with the peer address, the presented token never. A client that sends one byte a
# second (after the handshake, and during it) is cut off while other clients get /healthz;
# 1,000 idle connections do not stop /healthz or issuance. SIGTERM: a request in flight is
# answered, then exit 0. SIGKILL while clients issue in a loop: every certificate a client was
# told it got (serial from a 201) is in the store afterwards.
. "$(dirname "$0")/lib.bash"
it_init curl jq

trap '' PIPE   # writes to a connection the daemon closed fail (EPIPE) instead of killing us
# Room for 1,000 idle connections here and in the daemon (which inherits the limit).
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
diag "open files limit: $(ulimit -n)"

D="$T/dd"
if daemon_start "$D" --ca-key ec-p256; then
	ok "vmspki serve started (port $PORT)"
else
	not_ok "vmspki serve started"
	it_done
fi
CA=$DAEMON_CA
TOK=$ADMIN_TOKEN
if [ -n "$TOK" ]; then ok "first start printed an admin token"; else not_ok "first start printed an admin token (vmspki_...)"; diag_file "$DAEMON_OUT"; fi

mk_key rsa2048 "$T/csr.key"
mk_csr "$T/csr.key" bad.example "$T/good.csr"
issue_body "$T/good.json" server "$T/good.csr" bad.example

# list_count: certificates as `vmspki cert list --json` shows them.
list_count() {
	vp "$D" cert list --json
	jq 'length' "$VP_OUT" 2>/dev/null || echo "?"
}

# ---------------------------------------------------------------- a good request first
api POST /api/v1/issue "$TOK" "$T/good.json"
assert_status 201 "a well-formed issue request (control)"
if jq -e '(.serial | type) == "string" and (.certificate | type) == "string"' "$API_BODY" >/dev/null 2>&1; then
	ok "the 201 body has serial and certificate"
	jq -r .certificate "$API_BODY" >"$T/good.pem"
	check "the certificate verifies against the CA" verify_openssl "$CA" "$T/good.pem" sslserver
else
	not_ok "the 201 body has serial and certificate"
	diag_file "$API_BODY" 5
fi
N0=$(db_count "$D")
L0=$(list_count)
diag "certificates stored before the bad requests: $N0 (cert list: $L0)"

# ---------------------------------------------------------------- malformed requests (400)
printf '{"profile":"server","csr":' >"$T/b1.json"
api POST /api/v1/issue "$TOK" "$T/b1.json"
assert_status 400 "malformed JSON"
assert_error_body '.' "malformed JSON: error body"

printf '["server"]' >"$T/b2.json"
api POST /api/v1/issue "$TOK" "$T/b2.json"
assert_status 400 "a JSON array instead of an object"
assert_error_body '.' "a JSON array: error body"

jq '. + {bogus_field: 1}' "$T/good.json" >"$T/b3.json"
api POST /api/v1/issue "$TOK" "$T/b3.json"
assert_status 400 "an unknown field"
assert_error_body '.' "an unknown field: error body names the field" 'bogus_field'

jq '. + {days: "ten"}' "$T/good.json" >"$T/b4.json"
api POST /api/v1/issue "$TOK" "$T/b4.json"
assert_status 400 "days given as a string"
assert_error_body '.' "days as a string: error body names the field" 'days'

# A certificate where the CSR should be, and text that is no PEM at all.
jq --rawfile c "$CA" '.csr = $c' "$T/good.json" >"$T/b5.json"
api POST /api/v1/issue "$TOK" "$T/b5.json"
assert_status 400 "a certificate given as the CSR"
assert_error_body '.' "a certificate as the CSR: error body" 'csr|request|CSR'
jq '.csr = "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n"' "$T/good.json" >"$T/b6.json"
api POST /api/v1/issue "$TOK" "$T/b6.json"
assert_status 400 "a CSR PEM block whose content is not a CSR"
assert_error_body '.' "garbage in a CSR block: error body" 'csr|request|CSR'

# ---------------------------------------------------------------- over the size limit (413)
# Valid JSON of 70 KiB (over the 64 KiB limit): the size alone must refuse it.
pad=$(head -c 71680 /dev/zero | tr '\0' 'a')
jq --arg p "$pad" '. + {dns: [$p]}' "$T/good.json" >"$T/big.json"
api POST /api/v1/issue "$TOK" "$T/big.json"
assert_status 413 "a 70 KiB body"
assert_error_body '.' "a 70 KiB body: error body"
# Far over the limit (2 MiB): refused too; the daemon may also just close the connection.
head -c 2097152 /dev/zero | tr '\0' ' ' >"$T/huge.json"
cat "$T/good.json" >>"$T/huge.json"
api POST /api/v1/issue "$TOK" "$T/huge.json"
case $API_STATUS in
413) ok "a 2 MiB body is refused (HTTP 413)" ;;
000) ok "a 2 MiB body is refused (connection closed, curl exit $API_RC)" ;;
*) not_ok "a 2 MiB body is refused (HTTP $API_STATUS)" ;;
esac
healthz_up "$PORT" && ok "the daemon answers after the big bodies" || not_ok "the daemon answers after the big bodies"

# ---------------------------------------------------------------- authentication (401)
WRONG="vmspki_$(openssl rand -hex 20)"
api POST /api/v1/issue "" "$T/good.json"
assert_status 401 "no token"
assert_error_body '.' "no token: error body"
api POST /api/v1/issue "$WRONG" "$T/good.json"
assert_status 401 "a wrong token"
assert_error_body '.' "a wrong token: error body"
printf 'Authorization: Basic %s\n' "$(printf 'admin:%s' "$TOK" | base64 -w0)" >"$T/basic.hdr"
code=$(curl -gsS --max-time 60 --cacert "$CA" -H "@$T/basic.hdr" -H 'Content-Type: application/json' \
    --data-binary "@$T/good.json" -o "$T/basic.body" -w '%{http_code}' "https://127.0.0.1:$PORT/api/v1/issue" 2>/dev/null)
assert_eq 401 "$code" "the token sent as Basic credentials instead of Bearer is refused (401)"
api GET /api/v1/certificates ""
assert_status 401 "listing certificates without a token"

N1=$(db_count "$D")
L1=$(list_count)
assert_eq "$N0" "$N1" "nothing was stored by the refused requests (sqlite3: $N1 certificates)"
assert_eq "$L0" "$L1" "nothing was stored by the refused requests (vmspki cert list --json: $L1)"

# The open endpoints stay open; the token still works.
api GET /healthz ""
assert_status 200 "/healthz needs no token"
api GET /api/v1/ca ""
assert_status 200 "GET /api/v1/ca needs no token"
if grep -Fq "$(sed -n 2p "$CA")" "$API_BODY"; then ok "GET /api/v1/ca returns the CA certificate"; else not_ok "GET /api/v1/ca returns the CA certificate"; diag_file "$API_BODY" 3; fi
api GET /api/v1/certificates "$TOK"
assert_status 200 "the admin token still lists certificates"

# Logs: the failed logins with the peer address; no token, right or wrong.
sleep 0.5
assert_grep '127\.0\.0\.1' "$DAEMON_ERR" "failed authentication is logged with the peer address"
assert_no_grep "$WRONG" "$DAEMON_ERR" "the wrong token is not in the log"
assert_no_grep "$TOK" "$DAEMON_ERR" "the admin token is not in the log"

# ---------------------------------------------------------------- slow clients
# (a) after the handshake, a request whose headers never end, one byte a second;
# (b) a TLS handshake that never ends, one byte a second on a plain TCP connection.
# Meanwhile /healthz is asked every second by other clients. Bounded at 120 s.
coproc SLOW { exec openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$CA" -quiet -ign_eof 2>"$T/slow.err"; }
track_pid "$SLOW_PID"
# Copies of the coprocess's pipe ends: bash closes its own ones when the coprocess ends.
exec {SLOW_IN}>&"${SLOW[1]}"
printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' >&"$SLOW_IN"
exec {RAW}<>"/dev/tcp/127.0.0.1/$PORT"
HELLO=$'\x16\x03\x01\x02\x01\x01\x01\x01\xfd\x03\x03'   # a TLS record of 513 bytes, begun
a_cut="" b_cut="" hz_ok=0 hz_bad=0
for ((s = 1; s <= 120; s++)); do
	if [ -z "$a_cut" ]; then
		if pid_alive "$SLOW_PID"; then
			printf 'a' >&"$SLOW_IN" 2>/dev/null || a_cut=$s
		else
			a_cut=$s
		fi
	fi
	if [ -z "$b_cut" ]; then
		if ! printf '%s' "${HELLO:$(( (s - 1) % ${#HELLO} )):1}" >&"$RAW" 2>/dev/null; then
			b_cut=$s
		fi
	fi
	# One second passes here, reading what the daemon sends on the raw connection: EOF (status
	# 1) means it closed it; a timeout (status > 128) that it is still open.
	t0=$SECONDS
	while [ -z "$b_cut" ] && [ $((SECONDS - t0)) -lt 1 ]; do
		IFS= read -r -N 1 -t 1 -u "$RAW" _c
		rc=$?
		if [ "$rc" = 1 ]; then b_cut=$s; fi
		[ "$rc" -gt 128 ] && break
	done
	[ -n "$b_cut" ] && [ $((SECONDS - t0)) -lt 1 ] && sleep 1
	if healthz_up "$PORT"; then hz_ok=$((hz_ok + 1)); else hz_bad=$((hz_bad + 1)); fi
	[ -n "$a_cut" ] && [ -n "$b_cut" ] && break
done
exec {RAW}>&-
diag "slow request cut after ${a_cut:-never} s, slow handshake cut after ${b_cut:-never} s; /healthz meanwhile: $hz_ok answered, $hz_bad not"
if [ -n "$a_cut" ]; then ok "a client sending its request one byte a second is cut off (after ~${a_cut}s)"; else not_ok "a client sending its request one byte a second is cut off (still open after 120 s)"; fi
if [ -n "$b_cut" ]; then ok "a client sending its handshake one byte a second is cut off (after ~${b_cut}s)"; else not_ok "a client sending its handshake one byte a second is cut off (still open after 120 s)"; fi
if [ "$hz_bad" = 0 ] && [ "$hz_ok" -gt 0 ]; then
	ok "other clients got /healthz every time meanwhile ($hz_ok times)"
else
	not_ok "other clients got /healthz every time meanwhile ($hz_bad of $((hz_ok + hz_bad)) failed)"
fi
exec {SLOW_IN}>&-
kill "$SLOW_PID" 2>/dev/null
wait "$SLOW_PID" 2>/dev/null

# ---------------------------------------------------------------- 1,000 idle connections
FDS=()
opened=0
for ((i = 0; i < 1000; i++)); do
	if [ $((i % 2)) = 0 ]; then h=127.0.0.1; else h=::1; fi
	if exec {fd}<>"/dev/tcp/$h/$PORT"; then
		FDS+=("$fd")
		opened=$((opened + 1))
	fi 2>/dev/null
done
assert_eq 1000 "$opened" "1,000 idle TCP connections opened (half to 127.0.0.1, half to [::1])"
code=$(curl -gsS --max-time 60 --cacert "$CA" -o "$T/hz.body" -w '%{http_code}' "https://127.0.0.1:$PORT/healthz" 2>"$T/hz.err")
assert_eq 200 "$code" "with them open, /healthz on 127.0.0.1 answers"
code=$(curl -gsS --max-time 60 --cacert "$CA" -o "$T/hz.body" -w '%{http_code}' "https://[::1]:$PORT/healthz" 2>"$T/hz.err")
assert_eq 200 "$code" "with them open, /healthz on [::1] answers"
api POST /api/v1/issue "$TOK" "$T/good.json"
assert_status 201 "with them open, an issue request is served"
for fd in "${FDS[@]}"; do exec {fd}>&-; done
if pid_alive "$DAEMON_PID"; then ok "the daemon survived the idle connections"; else not_ok "the daemon survived the idle connections"; fi

# ---------------------------------------------------------------- SIGTERM with a request in flight
# The request's headers and half its body are sent, then SIGTERM, then the rest of the body:
# the daemon must answer it (201, stored) and only then exit 0.
printf 'Authorization: Bearer %s\n' "$TOK" >"$T/auth.hdr"
chmod 600 "$T/auth.hdr"
len=$(wc -c <"$T/good.json")
half=$((len / 2))
coproc INFL { exec openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$CA" -quiet -ign_eof 2>"$T/infl.err"; }
track_pid "$INFL_PID"
exec {INFL_IN}>&"${INFL[1]}" {INFL_OUT}<&"${INFL[0]}"
{
	printf 'POST /api/v1/issue HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n' "$PORT"
	printf 'Authorization: Bearer %s\r\n' "$TOK"
	printf 'Content-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' "$len"
	head -c "$half" "$T/good.json"
} >&"$INFL_IN"
sleep 1   # let the daemon read the first part
kill -TERM "$DAEMON_PID"
sleep 1
if pid_alive "$DAEMON_PID"; then ok "after SIGTERM the daemon waits for the request in flight"; else not_ok "after SIGTERM the daemon waits for the request in flight (it is gone)"; fi
tail -c +$((half + 1)) "$T/good.json" >&"$INFL_IN"
status_line=""
IFS= read -r -t 30 -u "$INFL_OUT" status_line
status_line=${status_line%$'\r'}
# The rest of the answer (headers, body) until the daemon closes the connection.
timeout 30 cat <&"$INFL_OUT" >"$T/infl.rest" 2>/dev/null
case $status_line in
"HTTP/1.1 201"*) ok "the request in flight was answered 201 after SIGTERM" ;;
*) not_ok "the request in flight was answered 201 after SIGTERM (got '${status_line:-nothing}')"; diag_file "$T/infl.err" ;;
esac
s=$(sed -n '/^{/,$p' "$T/infl.rest" | jq -r '.serial // empty' 2>/dev/null)
if [ -n "$s" ] && db_has_serial "$D" "$(norm_serial "$s")"; then ok "its certificate is stored ($s)"; else not_ok "its certificate is stored (serial '${s}')"; fi
exec {INFL_IN}>&- {INFL_OUT}<&-
wait "$INFL_PID" 2>/dev/null
daemon_stop "$DAEMON_PID" TERM 60
assert_eq 0 "$DAEMON_RC" "SIGTERM: the daemon exits 0"
port_busy "$PORT" && not_ok "nothing listens on the port any more" || ok "nothing listens on the port any more"

# ---------------------------------------------------------------- clients issuing in a loop
# issue_loop ID N: up to N issue requests, one connection each; the serial of every complete
# 201 answer goes to $T/loop.ID.serials. Stops after 3 failures in a row (daemon gone).
issue_loop() {
	local id=$1 n=$2 k code rc fails=0
	: >"$T/loop.$id.serials"
	: >"$T/loop.$id.log"
	for ((k = 0; k < n; k++)); do
		code=$(curl -gs --max-time 60 --cacert "$CA" -H "@$T/auth.hdr" -H 'Content-Type: application/json' \
		    -H 'Expect:' --data-binary "@$T/good.json" -o "$T/loop.$id.body" -w '%{http_code}' \
		    "https://127.0.0.1:$PORT/api/v1/issue" 2>/dev/null)
		rc=$?
		echo "$rc $code" >>"$T/loop.$id.log"
		if [ "$rc" = 0 ] && [ "$code" = 201 ]; then
			jq -r '.serial // empty' "$T/loop.$id.body" 2>/dev/null >>"$T/loop.$id.serials"
			fails=0
		else
			fails=$((fails + 1))
			[ "$fails" -ge 3 ] && break
		fi
	done
}
# run_loops: 3 clients in the background until SIGNAL is sent once WANT certificates were
# received (at most 120 s); then checks every received serial is stored.
run_loops() {
	local sig=$1 want=$2 pids=() c got=0 i
	for c in 1 2 3; do
		issue_loop "$sig$c" 300 &
		pids+=($!)
		track_pid "$!"
	done
	for ((i = 0; i < 1200; i++)); do
		got=$(cat "$T"/loop."$sig"*.serials 2>/dev/null | wc -l)
		[ "$got" -ge "$want" ] && break
		sleep 0.1
	done
	diag "$got certificates received before SIGKILL/SIGTERM"
	if [ "$sig" = KILL ]; then
		kill -KILL "$DAEMON_PID"
		daemon_stop "$DAEMON_PID" KILL 30
	else
		daemon_stop "$DAEMON_PID" TERM 60
	fi
	for c in "${pids[@]}"; do wait "$c" 2>/dev/null; done
	cat "$T"/loop."$sig"*.serials >"$T/received.$sig"
	diag "curl results (exit status, HTTP code): $(cat "$T"/loop."$sig"*.log | sort | uniq -c | tr -s ' \n' ' ')"
}

if daemon_start "$D"; then ok "the daemon starts again on the same data dir"; else not_ok "the daemon starts again on the same data dir"; it_done; fi
run_loops TERM 10
assert_eq 0 "$DAEMON_RC" "SIGTERM while clients issue: the daemon exits 0"
missing=0
while read -r s; do db_has_serial "$D" "$(norm_serial "$s")" || { missing=$((missing + 1)); diag "not stored: $s"; }; done <"$T/received.TERM"
assert_eq 0 "$missing" "SIGTERM: every certificate a client received is stored ($(wc -l <"$T/received.TERM") received)"

if daemon_start "$D"; then ok "the daemon starts again"; else not_ok "the daemon starts again"; it_done; fi
run_loops KILL 20
n_recv=$(wc -l <"$T/received.KILL")
if [ "$n_recv" -gt 0 ]; then ok "clients received certificates before the SIGKILL ($n_recv)"; else not_ok "clients received certificates before the SIGKILL"; fi
missing=0
while read -r s; do db_has_serial "$D" "$(norm_serial "$s")" || { missing=$((missing + 1)); diag "not stored: $s"; }; done <"$T/received.KILL"
assert_eq 0 "$missing" "SIGKILL: every certificate a client received is stored"
assert_eq ok "$(sqlite3 "$D/vmspki.db" 'PRAGMA integrity_check;' 2>&1)" "the store passes PRAGMA integrity_check after the SIGKILL"
vp "$D" audit verify
assert_rc 0 "vmspki audit verify after the SIGKILL"
if daemon_start "$D"; then ok "the daemon starts after the SIGKILL"; else not_ok "the daemon starts after the SIGKILL"; it_done; fi
api POST /api/v1/issue "$TOK" "$T/good.json"
assert_status 201 "and issues"
daemon_stop "$DAEMON_PID" TERM 60
assert_eq 0 "$DAEMON_RC" "SIGTERM: exit 0"

assert_daemon_logs_clean

it_done
