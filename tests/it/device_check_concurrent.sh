# The nightly device check does not hold its devices (issue 6): another task may work on a
# device while the check still waits for it. What that task wrote is newer than what the
# check saw, and must stay. Here the camera resets the check's first two tries and holds its
# last one until the check gives up (it looks down to the check); meanwhile it answers an
# operator who renews its certificate, and the check fails after that. The device must show what
# the renewal found (OK, HTTPS enabled, the new certificate), not the check's "Unreachable",
# while the check's own result for the device still says what it saw. The renewal runs in its
# own command while the check's command runs: a command's engine runs its own task only and
# must not pass for a daemon (it did until 2026-12-07: the renewal then waited for a daemon
# that did not exist).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="device check race test passphrase"
N=127.29.0
PW=cam-race-secret

vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"
camsim_start --state "$T/cs" --count 1 --first "$N.1" --http-port 18180 --https-port 18543 \
    --keygen-delay-ms 50 --password "$PW" --csv-out "$T/cams.csv" || it_done
vp "$D" device import "$T/cams.csv"
assert_rc 0 "the camera is imported"
vp "$D" https enable 1 --wait
assert_rc 0 "HTTPS enabled on the camera"
vp "$D" device show 1 --json
FIRST=$(jq -r .certificate.serial "$VP_OUT")
check "the camera has our certificate ($FIRST)" test -n "$FIRST"

# The camera stops answering the check. The check tries three times (two retries after a
# pause); libcurl sends a request once more on a new connection when a kept one dies
# unanswered. The first two tries meet resets (two each), the last one a camera that holds
# the request until the check gives up on it (the driver's 30 s request timeout; camsim
# holds it for 300 s). Then the faults are used up.
ctl POST "/control/devices/$N.1/faults" '{"kind":"reset","op":"*","count":4}' >/dev/null
ctl POST "/control/devices/$N.1/faults" '{"kind":"timeout","op":"*","count":1}' >/dev/null
timeout 300 "$VMSPKI" --data "$D" lifecycle run --json </dev/null >"$T/lr.out" 2>"$T/lr.err" &
LR=$!
track_pid "$LR"
held=0
for ((i = 0; i < 600; i++)); do
	if cat "$T/camsim.$CAMSIM_N".* | grep -q "timeout fault: held, no answer"; then
		held=1
		break
	fi
	sleep 0.1
done
is "$held" 1 "the check's last try waits on the camera"
grep -q "(attempt 3)" "$T/lr.err"
is "$?" 0 "it is the check's third try"

# The operator renews the camera's certificate while the check still waits.
vp "$D" https update 1 --wait --json
assert_rc 0 "the renewal finishes while the check waits"
assert_no_grep "the daemon runs" "$VP_ERR" \
    "the renewal runs here: the check's command is no daemon (it runs its own task only)"
vp "$D" device show 1 --json
SECOND=$(jq -r .certificate.serial "$VP_OUT")
check "the renewal installed a new certificate ($SECOND)" test -n "$SECOND" -a "$SECOND" != "$FIRST"
is "$(jq -r .status "$VP_OUT")" "OK" "after the renewal the camera shows OK"

wait "$LR"
LR_RC=$?
[ "$LR_RC" = 0 ] || diag_file "$T/lr.err" 40
is "$LR_RC" 0 "lifecycle run ends (a camera that is down is not its failure)"
is "$(jq -r .check_state "$T/lr.out")" Failed "the check task ends Failed: it could not reach the camera"
CHECK=$(jq -r .check_task "$T/lr.out")
check "the run made a device check task ($CHECK)" test "$CHECK" -gt 0
task_json "$CHECK"
is "$(result 1 status)" Failed "the check's own result for the camera: Failed (what it saw)"
assert_grep "changed by another task while it was checked" "$T/lr.err" \
    "the run says why it left the camera's state as the renewal wrote it"

vp "$D" device show 1 --json
is "$(jq -r .status "$VP_OUT")" "OK" "the camera still shows OK (the renewal's, not the check's Unreachable)"
is "$(jq -r .https "$VP_OUT")" "Enabled" "and HTTPS Enabled"
is "$(jq -r .certificate.serial "$VP_OUT")" "$SECOND" "and the renewed certificate"
check "the camera serves the renewed certificate, verified against the site CA" \
    tls_ok "$N.1" 18543 "$D/certs/ca.cert.pem"

# Without another writer, the check's view is written as before: the camera goes down, the
# next check shows it Unreachable.
ctl POST "/control/devices/$N.1/faults" '{"kind":"reset","op":"*"}' >/dev/null
vp "$D" lifecycle run --json
assert_rc 0 "lifecycle run with the camera down"
is "$(jq -r .check_state "$VP_OUT")" Failed "the check task ends Failed"
vp "$D" device show 1 --json
is "$(jq -r .status "$VP_OUT")" "Unreachable" "a check alone still records the camera Unreachable"
it_done
