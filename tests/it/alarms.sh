#!/usr/bin/env bash
# Alarms from outside: a CA that ends within the warning (ca init --days 10) raises an alarm
# through `vmspki lifecycle run`; endpoints on closed ports raise (and, removed, clear) more.
# Their delivery to webhook receivers (tests/tools/webhook_sink): a receiver that fails twice
# still gets each event once; one that never answers does not hold the daemon up (healthz and
# the API answer) and gets it later once it answers; two daemons on one store send each event
# once; an https receiver with a certificate from the site CA is trusted, a self-signed one is
# not. The CLI and the API list and acknowledge alarms; /metrics counts them; no payload, log,
# reason or request holds a secret.
. "$(dirname "$0")/lib.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

SINK=${VP_WEBHOOK_SINK:-${VP_BUILD_DIR:-}/tests/tools/vmspki-test-webhook-sink}
if [ ! -x "$SINK" ]; then
	not_ok "the webhook sink is built (VP_WEBHOOK_SINK=$SINK)"
	it_done
fi
if ! "$VMSPKI" help lifecycle >/dev/null 2>&1; then
	not_ok "vmspki lifecycle run exists (the nightly job raises the CA alarm)"
	it_done
fi

D="$T/data"
PASS="alarms test passphrase 7Qz"
export VMSPKI_PASSPHRASE=$PASS
HOOK_PW="hook-password-5Xw"
HOOK_TOK="hook-token-9Kd"

db() { sqlite3 "file:$D/vmspki.db?mode=ro" "$1"; }
pending() { db "SELECT count(*) FROM alarm_outbox WHERE webhook_done = 0"; }

# sink_start NAME ARGS...: a webhook sink on a free port ($SINK_PORT), its accepted bodies in
# $T/NAME.out and its requests in $T/NAME.req.
sink_start() {
	local name=$1 i
	shift
	rm -f "$T/$name.port"
	: >"$T/$name.out"
	: >"$T/$name.req"
	"$SINK" --out "$T/$name.out" --requests "$T/$name.req" --port-file "$T/$name.port" "$@" \
	    >"$T/$name.log" 2>&1 &
	track_pid $!
	for ((i = 0; i < 100; i++)); do
		[ -s "$T/$name.port" ] && SINK_PORT=$(cat "$T/$name.port") && return 0
		sleep 0.1
	done
	not_ok "the sink $name starts"
	diag_file "$T/$name.log"
	return 1
}

# wait_delivered SECONDS: 0 once no outbox row is left to send.
wait_delivered() {
	local i
	for ((i = 0; i < $1 * 5; i++)); do
		[ "$(pending)" = 0 ] && return 0
		sleep 0.2
	done
	return 1
}

# accepted NAME: the delivery ids a sink took (answered 204), one a line.
accepted() { [ -f "$T/$1.req" ] && sed -n 's/.* delivery=\([0-9]*\) .*-> 204$/\1/p' "$T/$1.req"; }

# once: every outbox row was taken exactly once over all the sinks (A, C and the two-daemon
# sink B2), and each accepted body is a JSON event.
check_once() {
	local desc=$1 ids dups missing
	ids=$(cat <(accepted A) <(accepted C) <(accepted B2) 2>/dev/null | sort -n)
	dups=$(uniq -d <<<"$ids" | tr '\n' ' ')
	missing=$(comm -23 <(db "SELECT id FROM alarm_outbox WHERE webhook_done = 1 ORDER BY id" |
	    sort) <(sort -u <<<"$ids") | tr '\n' ' ')
	if [ -z "$dups" ] && [ -z "$missing" ] && [ -n "$ids" ]; then
		ok "$desc ($(wc -l <<<"$ids") events)"
	else
		not_ok "$desc (sent twice: ${dups:-none}; never taken: ${missing:-none})"
		diag_file "$T/A.req" 20
	fi
}

vp "$D" ca init --key ec-p256 --cn "Alarm Test Root" --days 10
assert_rc 0 "setup: a CA that ends in 10 days (within the 30-day warning)"

# ---- A: a receiver that answers 500 twice, then takes everything ----
sink_start A --fail 2 || it_done
P_A=$SINK_PORT
URL_A="http://hook:$HOOK_PW@127.0.0.1:$P_A/hook?token=$HOOK_TOK"
vp "$D" settings set alarm.webhook "$URL_A"
assert_rc 0 "the webhook is set"
vp "$D" settings set alarm.syslog off
assert_rc 0 "syslog off (the test reads the outbox, not the host's log)"

daemon_start "$D" || { not_ok "the daemon starts"; it_done; }
ok "the daemon starts"
vp "$D" lifecycle run
assert_rc 0 "lifecycle run"
vp "$D" alarm list --json
is "$(jq -r '[.[] | select(.kind == "ca-expiring" and .subject == "ca")] | length' "$VP_OUT")" 1 \
    "the CA near its end raised ca-expiring"
is "$(jq -r '.[] | select(.kind == "ca-expiring") | .severity + " " + .state' "$VP_OUT")" \
    "warning raised" "a warning, raised"
vp "$D" lifecycle run
assert_rc 0 "lifecycle run again"
is "$(db "SELECT count(*) FROM alarms WHERE kind = 'ca-expiring'")" 1 \
    "a second run raises no second alarm for the same condition"
is "$(db "SELECT count(*) FROM alarm_outbox o JOIN alarms a ON a.id = o.alarm_id WHERE a.kind = 'ca-expiring'")" \
    1 "and queues no second delivery"

if wait_delivered 120; then
	ok "the daemon delivers every queued event although the receiver failed twice"
else
	not_ok "every queued event delivered within 120 s ($(pending) left)"
	diag_file "$T/A.req" 20
	diag_file "$DAEMON_ERR" 20
fi
is "$(grep -c -- '-> 500$' "$T/A.req")" 2 "the receiver refused two attempts"
check_once "each event reached the receiver exactly once"
is "$(wc -l <"$T/A.out")" "$(accepted A | wc -l)" "one line in the receiver per accepted POST"
is "$(db "SELECT sum(attempts) - count(*) FROM alarm_outbox")" 2 \
    "two attempts more than events: the events that met the failures were tried again"
CA_LINE=$(jq -c 'select(.alarm.kind == "ca-expiring")' "$T/A.out")
is "$(jq -r '.event' <<<"$CA_LINE")" raised "the receiver got ca-expiring raised"
is "$(jq -r '.alarm.subject + " " + .alarm.severity' <<<"$CA_LINE")" "ca warning" \
    "with its subject and severity"
is "$(jq -r '.site.ca' <<<"$CA_LINE")" "Alarm Test Root" "and the site (its CA)"
# A call stops at its first failure, so whoever met the two 500s, the retries are the daemon's.
assert_grep 'alarms: [0-9]+ events? delivered to the webhook' "$DAEMON_ERR" \
    "the daemon logs what it delivered"

# ---- listing, acknowledging, metrics ----
CA_ID=$(db "SELECT id FROM alarms WHERE kind = 'ca-expiring'")
vp "$D" alarm list
assert_rc 0 "alarm list"
assert_grep "^$CA_ID +ca-expiring +ca +warning +raised .* - +the CA" "$VP_OUT" \
    "alarm list shows it (ID, Kind, Subject, Severity, State, Raised, Acknowledged, Message)"
api GET /api/v1/alarms "$ADMIN_TOKEN"
assert_status 200 "GET /api/v1/alarms"
is "$(jq -r ".alarms[] | select(.id == $CA_ID) | .kind" "$API_BODY")" ca-expiring "the API lists it"
api GET "/api/v1/alarms?all=maybe" "$ADMIN_TOKEN"
assert_status 400 "all=maybe is refused"
assert_error_body bad_parameter "with an error body"
api GET /api/v1/alarms
assert_status 401 "the list needs a token"
api POST "/api/v1/alarms/$CA_ID/ack"
assert_status 401 "so does acknowledging"
is "$(db "SELECT acked_at FROM alarms WHERE id = $CA_ID")" 0 "and nothing was acknowledged"
api POST "/api/v1/alarms/$CA_ID/ack" "$ADMIN_TOKEN"
assert_status 200 "POST /api/v1/alarms/ID/ack"
is "$(jq -r '.acknowledged_by' "$API_BODY")" "token:admin" "acknowledged by the token's name"
is "$(jq -r '.state' "$API_BODY")" raised "and still raised"
api GET "/api/v1/alarms/$CA_ID" "$ADMIN_TOKEN"
is "$(jq -r '.acknowledged' "$API_BODY")" true "GET /api/v1/alarms/ID shows it acknowledged"
api POST /api/v1/alarms/9999/ack "$ADMIN_TOKEN"
assert_status 404 "an unknown alarm: 404"
api GET /api/v1/alarms/abc "$ADMIN_TOKEN"
assert_status 404 "an id that is not a number: 404"
api DELETE "/api/v1/alarms/$CA_ID" "$ADMIN_TOKEN"
assert_status 405 "DELETE on an alarm: 405"
vp "$D" alarm ack "$CA_ID"
assert_rc 0 "alarm ack of an acknowledged alarm"
assert_grep "already, by token:admin" "$VP_OUT" "says who acknowledged it first"
vp "$D" alarm ack 9999
assert_rc 1 "alarm ack of an unknown id"
vp "$D" alarm ack abc
assert_rc 1 "alarm ack of a non-number is refused"
assert_stderr "whole number" "saying what an alarm id is"
vp "$D" audit list
assert_grep "alarm.ack +alarm $CA_ID: ca-expiring ca" "$VP_OUT" "the acknowledgement is in the audit log"
ACTIVE=$(db "SELECT count(*) FROM alarms WHERE state = 'raised' AND kind = 'ca-expiring'")
curl -sk --max-time 10 "https://127.0.0.1:$PORT/metrics" >"$T/metrics"
assert_grep "^vmspki_alarms_active\{kind=\"ca-expiring\"\} $ACTIVE$" "$T/metrics" \
    "/metrics: vmspki_alarms_active{kind=\"ca-expiring\"} $ACTIVE"
assert_grep '^vmspki_alarms_active\{kind="endpoint-unreachable"\} 0$' "$T/metrics" \
    "/metrics: kinds with no alarm show 0"

# ---- B: a receiver that never answers does not hold the daemon up ----
sink_start B --hang 1000000 || it_done
vp "$D" settings set alarm.webhook "http://127.0.0.1:$SINK_PORT/hook"
CLOSED=$(pick_port)
vp "$D" endpoint add "127.0.0.1:$CLOSED"
assert_rc 0 "an endpoint on a closed port is added"
EP1=$(db "SELECT id FROM endpoints WHERE port = $CLOSED")
is "$(db "SELECT count(*) FROM alarms WHERE kind = 'endpoint-unreachable' AND state = 'raised'")" \
    1 "it raised endpoint-unreachable"
for ((i = 0; i < 100; i++)); do
	grep -q 'no answer' "$T/B.req" && break
	sleep 0.1
done
assert_grep 'no answer' "$T/B.req" "the daemon sent it to the receiver that hangs"
t0=$(date +%s)
slow=0
for ((i = 0; i < 8; i++)); do
	code=$(curl -sk --max-time 2 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/healthz")
	[ "$code" = 200 ] || slow=$((slow + 1))
	api GET /api/v1/alarms "$ADMIN_TOKEN"
	[ "$API_STATUS" = 200 ] || slow=$((slow + 1))
	sleep 0.5
done
is "$slow" 0 "healthz and the API answer while the delivery waits for the receiver"
for ((i = 0; i < 150; i++)); do
	[ "$(db "SELECT attempts FROM alarm_outbox o JOIN alarms a ON a.id = o.alarm_id WHERE a.subject = 'endpoint:$EP1'")" -ge 1 ] && break
	sleep 0.1
done
is "$(db "SELECT last_error FROM alarm_outbox o JOIN alarms a ON a.id = o.alarm_id WHERE a.subject = 'endpoint:$EP1'")" \
    "the webhook did not answer within 5000 ms" "the attempt gave up after 5 s, and says so"
# The receiver comes back (the webhook now points to A): the event is taken once.
vp "$D" settings set alarm.webhook "$URL_A"
if wait_delivered 60; then ok "the event that waited is delivered once the receiver answers"
else not_ok "the event that waited is delivered ($(pending) left)"; fi
check_once "still each event exactly once"

# ---- two daemons on one store ----
FIRST_PID=$DAEMON_PID
FIRST_PORT=$PORT
sink_start B2 || it_done
vp "$D" settings set alarm.webhook "http://127.0.0.1:$SINK_PORT/hook"
daemon_start "$D" || { not_ok "a second daemon on the same data directory"; it_done; }
ok "a second daemon on the same data directory"
n0=$(db "SELECT count(*) FROM alarm_outbox")
EPS=()
for ((k = 0; k < 6; k++)); do
	p=$(pick_port)
	vp "$D" endpoint add "127.0.0.1:$p"
	EPS+=("$(db "SELECT id FROM endpoints WHERE port = $p")")
done
vp "$D" endpoint remove "${EPS[0]}"
assert_rc 0 "an endpoint removed (its alarm cleared)"
is "$(( $(db "SELECT count(*) FROM alarm_outbox") - n0 ))" 7 "six raises and a clear queued"
if wait_delivered 60; then ok "both daemons deliver them"
else not_ok "both daemons deliver them ($(pending) left)"; fi
check_once "each event exactly once with two daemons on one store"
is "$(wc -l <"$T/B2.out")" 7 "the receiver got seven events"
CLR=$(jq -c "select(.alarm.subject == \"endpoint:${EPS[0]}\")" "$T/B2.out" | jq -sc 'map(.event)')
is "$CLR" '["raised","cleared"]' "the removed endpoint's raise came before its clear"
daemon_stop "$DAEMON_PID"
DAEMON_PID=$FIRST_PID
PORT=$FIRST_PORT

# ---- C: an https receiver: the site CA's certificate is trusted, a self-signed one is not ----
vp "$D" issue --profile server --generate-key --cn 127.0.0.1 --ip 127.0.0.1 \
    --out "$T/sink.pem" --key-out "$T/sink.key"
assert_rc 0 "setup: a server certificate from the site CA for the receiver"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/self.key" \
    -out "$T/self.pem" -days 30 -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" \
    >/dev/null 2>&1
sink_start S --tls-cert "$T/self.pem" --tls-key "$T/self.key" || it_done
vp "$D" settings set alarm.webhook "https://127.0.0.1:$SINK_PORT/hook"
p=$(pick_port)
vp "$D" endpoint add "127.0.0.1:$p"
EPS_S=$(db "SELECT id FROM endpoints WHERE port = $p")
q="SELECT last_error FROM alarm_outbox o JOIN alarms a ON a.id = o.alarm_id WHERE a.subject = 'endpoint:$EPS_S'"
for ((i = 0; i < 150; i++)); do
	[ -n "$(db "$q")" ] && break
	sleep 0.1
done
assert_grep "TLS certificate or handshake failed" <(db "$q") \
    "a receiver with a self-signed certificate is not trusted, and the reason says so"
is "$(wc -l <"$T/S.out")" 0 "it got nothing"
sink_start C --tls-cert "$T/sink.pem" --tls-key "$T/sink.key" || it_done
vp "$D" settings set alarm.webhook "https://127.0.0.1:$SINK_PORT/hook"
if wait_delivered 60; then ok "a receiver with a certificate of the site CA gets the event over https"
else not_ok "delivered over https ($(pending) left)"; diag_file "$DAEMON_ERR" 10; fi
is "$(jq -r '.alarm.subject' "$T/C.out")" "endpoint:$EPS_S" "the one that waited"
check_once "each event exactly once, over all the receivers"

# ---- no secret anywhere ----
ADMIN_TOKEN_Q=${ADMIN_TOKEN:-no-token}
leak=""
# The receivers' request logs hold the URL they were called at (theirs to see); the rest may
# not hold the URL's credentials, and nothing may hold the passphrase.
for f in "$T"/*.req "$T"/[A-Z]*.out "$T"/daemon.*.err "$T"/daemon.*.out; do
	[ -f "$f" ] || continue
	grep -qF -- "$PASS" "$f" && leak="$leak $(basename "$f"):passphrase"
	case $f in *.req) continue ;; esac
	for s in "$HOOK_PW" "$HOOK_TOK"; do
		grep -qF -- "$s" "$f" && leak="$leak $(basename "$f"):$s"
	done
done
for s in "$PASS" "$HOOK_PW" "$HOOK_TOK" "$ADMIN_TOKEN_Q"; do
	grep -qF -- "$s" "$T/A.out" "$T/B2.out" "$T/C.out" && leak="$leak payload:$s"
	[ "$(db "SELECT count(*) FROM alarm_outbox WHERE instr(payload, '$s') > 0 OR instr(last_error, '$s') > 0")" = 0 ] ||
	    leak="$leak outbox:$s"
	[ "$(db "SELECT count(*) FROM alarms WHERE instr(message, '$s') > 0")" = 0 ] || leak="$leak alarms:$s"
done
is "${leak:-none}" none "no passphrase, token or webhook credential in payloads, reasons, logs or requests"

daemon_stop "$DAEMON_PID"
is "$DAEMON_RC" 0 "the daemon stops cleanly"
assert_daemon_logs_clean
it_done
