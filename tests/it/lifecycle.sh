# The lifecycle (issue 6, "What it must show"): under faketime, device certificates are renewed
# on the cameras at the warning threshold minus 7 days (checked from outside), statuses change
# at the threshold and at expiry, a camera that refuses the renewal keeps its old certificate
# and an alarm says why, two runs never renew twice, a CA near its end raises an alarm, every
# alarm reaches the webhook exactly once (a webhook that fails first still gets it once), and
# the daemon's scheduler runs the nightly job by itself.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl faketime
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="lifecycle test passphrase"
# libfaketime is preloaded: under ASan it cannot come after the sanitizer's runtime, which only
# matters for the order check.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export FAKETIME_DONT_FAKE_MONOTONIC=1
N=127.27.0
SP=18443
at() { local d=$1; shift; faketime -f "+${d}d" "$@"; }
vpat() { local d=$1; shift; VMSPKI_SAVED=$VMSPKI; VMSPKI="$T/vmspki-at"; printf '#!/bin/sh\nexec faketime -f "+%sd" "%s" "$@"\n' "$d" "$VMSPKI_SAVED" >"$VMSPKI"; chmod +x "$VMSPKI"; vp "$@"; VMSPKI=$VMSPKI_SAVED; }
alarms() { vpat "$1" "$D" alarm list --all --json; cp "$VP_OUT" "$T/alarms.json"; }
alarm_count() { jq --arg k "$1" --arg s "$2" --arg st "${3:-raised}" '[.[] | select(.kind == $k and .subject == $s and .state == $st)] | length' "$T/alarms.json"; }

vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made (10 years)"
SINK_LOG="$T/sink.log"
SINK_PORT=$(pick_port)
"${VP_WEBHOOK_SINK:?VP_WEBHOOK_SINK is set by ctest}" --port "$SINK_PORT" --out "$SINK_LOG" \
    --fail 2 >"$T/sink.err" 2>&1 &
track_pid $!
disown $!    # killed at the end by the clean-up, without a "Killed" notice
vp "$D" settings set alarm.webhook "http://127.0.0.1:$SINK_PORT/hook"
assert_rc 0 "the webhook is set (its receiver fails the first two deliveries)"
camsim_start --state "$T/cs" --count 3 --first $N.1 --http-port 18080 --https-port $SP \
    --keygen-delay-ms 200 --password cam-lifecycle-secret --csv-out "$T/cams.csv" --quiet ||
    it_done
vp "$D" device import "$T/cams.csv"
vp "$D" https enable --all --wait
assert_rc 0 "HTTPS is enabled on three cameras (certificates for 1 year)"
for i in 1 2 3; do eval "FP0_$i=$(served_fp $N.$i $SP)"; done

# ---- 300 days on: 65 days left, nothing is due
vpat 300 "$D" lifecycle run --json
assert_rc 0 "lifecycle run at +300 days"
is "$(jq .devices_due "$VP_OUT")" 0 "nothing is due 65 days before the end"
is "$(jq .renewal_task "$VP_OUT")" 0 "no renewal task is made"

# ---- 330 days on: 35 days left, within warning (30) + 7: renewed, but camera 3 refuses
ctl POST /control/devices/$N.3/faults '{"kind":"500","op":"cert_install"}' >/dev/null
vpat 330 "$D" lifecycle run --json
assert_rc 1 "lifecycle run at +330 days renews, and says a camera refused (exit 1)"
is "$(jq .devices_due "$VP_OUT")" 3 "three devices are due 35 days before the end"
for i in 1 2; do
	vpat 330 "$D" device show "$i" --json
	serial=$(jq -r .certificate.serial "$VP_OUT")
	vp "$D" cert show "$serial" --json
	is "$(served_fp $N.$i $SP)" "$(jq -r .fingerprint "$VP_OUT")" "camera $i serves its renewed certificate"
	check "camera $i's new certificate is not the first one" test "$(served_fp $N.$i $SP)" != "$(eval echo "\$FP0_$i")"
	if at 330 openssl s_client -connect $N.$i:$SP -CAfile "$D/certs/ca.cert.pem" \
	    -verify_return_error -verify_ip $N.$i </dev/null >"$T/tls.out" 2>&1; then
		ok "camera $i's new certificate verifies (at +330 days)"
	else
		not_ok "camera $i's new certificate verifies (at +330 days)"; diag_file "$T/tls.out"
	fi
done
is "$(served_fp $N.3 $SP)" "$FP0_3" "camera 3, which refused, still serves its old certificate"
alarms 330
is "$(alarm_count renewal-failed device:3)" 1 "an alarm says camera 3's renewal failed"
assert_grep "500" <(jq -r '.[] | select(.subject == "device:3") | .message' "$T/alarms.json") \
    "... and why (HTTP 500 at install)"

# ---- the same day again: nothing renewed twice
vp "$D" cert list --json
before=$(jq '[.[] | select(.profile == "device-https")] | length' "$VP_OUT")
vpat 330 "$D" lifecycle run --json
is "$(jq .devices_due "$VP_OUT")" 1 "a second run finds only camera 3 still due"
vp "$D" cert list --json
after=$(jq '[.[] | select(.profile == "device-https")] | length' "$VP_OUT")
check "cameras 1 and 2 were not renewed twice ($before -> $after certificates: camera 3's retry only)" \
    test "$after" -le $((before + 1))
alarms 330
is "$(alarm_count renewal-failed device:3)" 1 "still one alarm for camera 3 (not raised twice)"

# ---- statuses at the threshold and at expiry (camera 3 keeps its old certificate)
vpat 340 "$D" device list --json
is "$(jq -r '.[] | select(.id == 3) | .status' "$VP_OUT")" "Certificate about to expire" \
    "at +340 days camera 3 shows Certificate about to expire"
is "$(jq -r '.[] | select(.id == 1) | .status' "$VP_OUT")" "OK" "camera 1, renewed, shows OK"
vpat 370 "$D" device list --json
is "$(jq -r '.[] | select(.id == 3) | .status' "$VP_OUT")" "Certificate has expired" \
    "at +370 days camera 3 shows Certificate has expired"

# ---- the fault cleared: the next run renews camera 3 and clears its alarm
ctl DELETE /control/devices/$N.3/faults >/dev/null
vpat 370 "$D" lifecycle run --json
assert_rc 0 "lifecycle run at +370 days renews camera 3"
alarms 370
is "$(alarm_count renewal-failed device:3)" 0 "camera 3's alarm is cleared"
is "$(alarm_count renewal-failed device:3 cleared)" 1 "... and shows as cleared"
vpat 370 "$D" device list --json
is "$(jq -r '.[] | select(.id == 3) | .status' "$VP_OUT")" "OK" "camera 3 is OK again"

# ---- a CA near its end
D2="$T/short"
vp "$D2" ca init --key ec-p256 --days 20
vp "$D2" settings set alarm.webhook "http://127.0.0.1:$SINK_PORT/hook"
vp "$D2" lifecycle run --json
vp "$D2" lifecycle run --json
vp "$D2" alarm list --json
is "$(jq '[.[] | select(.kind == "ca-expiring")] | length' "$VP_OUT")" 1 \
    "a CA that ends in 20 days raises one alarm (two runs)"
vpat 21 "$D2" lifecycle run --json
vpat 21 "$D2" alarm list --all --json
is "$(jq '[.[] | select(.kind == "ca-expired" and .state == "raised")] | length' "$VP_OUT")" 1 \
    "once it has ended, ca-expired is raised"
is "$(jq '[.[] | select(.kind == "ca-expiring" and .state == "raised")] | length' "$VP_OUT")" 0 \
    "... and ca-expiring cleared"

# ---- the daemon runs the nightly job by itself (at lifecycle.time), here 700 days on
vp "$D" settings set lifecycle.time 00:00
vp "$D" task list --json
tasks0=$(jq length "$VP_OUT")
FAKETIME="+700d" LD_PRELOAD="$(ls /usr/lib/*/faketime/libfaketime.so.1 | head -n 1)" \
    daemon_start "$D" || { not_ok "the daemon starts (at +700 days)"; it_done; }
ok "the daemon starts (at +700 days)"
st=""
for ((k = 0; k < 600; k++)); do
	vp "$D" task list --json
	st=$(jq -r --argjson n "$tasks0" 'if length > $n then .[-1].kind + " " + .[-1].state else "" end' "$VP_OUT")
	[ "$st" = "https-update Finished" ] || [ "$st" = "https-update Failed" ] && break
	sleep 0.5
done
is "$st" "https-update Finished" "the daemon's nightly job made a renewal task, and it finished"
for i in 1 2 3; do
	vpat 700 "$D" device show "$i" --json
	vp "$D" cert show "$(jq -r .certificate.serial "$VP_OUT")" --json
	is "$(served_fp $N.$i $SP)" "$(jq -r .fingerprint "$VP_OUT")" "camera $i serves the certificate the daemon renewed"
done
assert_grep "nightly job: starting" "$DAEMON_ERR" "the daemon says the nightly job ran"
# ---- the webhook got each event exactly once, with no secret in it
# The daemon's delivery thread retries what the receiver refused at first (it failed the
# first two): wait for the failed renewal's clearing to arrive.
for ((k = 0; k < 120; k++)); do
	grep -q '"cleared"' "$SINK_LOG" 2>/dev/null && \
	    [ "$(grep -c 'renewal-failed' "$SINK_LOG")" -ge 2 ] && break
	sleep 0.5
done
jq -r '[.event, .alarm.kind, .alarm.subject, (.alarm.id|tostring)] | join(" ")' "$SINK_LOG" \
    2>/dev/null | sort >"$T/events"
diag "webhook events:" "$(cat "$T/events")"
check "the webhook got events" test -s "$T/events"
check "no event reached the webhook twice" test -z "$(uniq -d "$T/events")"
assert_grep "raised renewal-failed device:3" "$T/events" "the failed renewal reached the webhook"
assert_grep "cleared renewal-failed device:3" "$T/events" "its clearing too"
assert_grep "raised ca-expiring ca" "$T/events" "the CA alarm too"
assert_no_grep "lifecycle test passphrase|cam-lifecycle-secret|PRIVATE KEY" "$SINK_LOG" \
    "no secret in what the webhook got"

daemon_stop "$DAEMON_PID"
assert_daemon_logs_clean
camsim_stop
it_done
