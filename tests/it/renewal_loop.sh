# No re-key loop (issue 19, item 7): with the CA ending inside the renewal window, two
# consecutive nightly runs under faketime renew the cameras once (to the CA's end) and the
# second renews nothing, component and API certificates that already end with the CA are left
# alone, one CA alarm says why; and the settings that would renew every night are refused.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl faketime
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="renewal loop test passphrase"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export FAKETIME_DONT_FAKE_MONOTONIC=1
N=127.62.0
SP=18443
vpat() { local d=$1; shift; VMSPKI_SAVED=$VMSPKI; VMSPKI="$T/vmspki-at"; printf '#!/bin/sh\nexec faketime -f "+%sd" "%s" "$@"\n' "$d" "$VMSPKI_SAVED" >"$VMSPKI"; chmod +x "$VMSPKI"; vp "$@"; VMSPKI=$VMSPKI_SAVED; }
certs() { vp "$D" cert list --json; jq length "$VP_OUT"; }

# ---- settings that would renew every night are refused (device certificates: 365 days)
vp "$D" ca init --key ec-p256 --days 400
assert_rc 0 "a CA valid 400 days is made"
vp "$D" settings set lifecycle.warning_days 358
assert_rc 1 "lifecycle.warning_days 358 is refused (358 + 7 >= 365: renewed every night)"
vp "$D" settings set lifecycle.renew_days 365
assert_rc 1 "lifecycle.renew_days 365 is refused (the whole validity)"
vp "$D" settings set lifecycle.renew_days 300
assert_rc 0 "lifecycle.renew_days 300 is taken"
vp "$D" settings set lifecycle.renew_days 0
assert_rc 0 "... and back to the default (warning + 7)"

vp "$D" component add broker --server
assert_rc 0 "a component is added (its certificate ends with the CA)"
camsim_start --state "$T/cs" --count 2 --first $N.1 --http-port 18080 --https-port $SP \
    --password cam-loop-secret --csv-out "$T/cams.csv" --quiet || it_done
vp "$D" device import "$T/cams.csv"
vp "$D" https enable --all --wait
assert_rc 0 "HTTPS is enabled on two cameras (365 days, the CA ends at 400)"

# ---- +370 days: the cameras' certificates have ended, the CA ends in 30 days
vpat 370 "$D" lifecycle run --json
assert_rc 0 "first run at +370 days"
is "$(jq .devices_due "$VP_OUT")" 2 "both cameras are due"
check "a renewal task is made" test "$(jq .renewal_task "$VP_OUT")" != 0
is "$(jq .components_renewed "$VP_OUT")" 0 "the component certificate, ending with the CA, is not renewed"
for i in 1 2; do
	served_cert $N.$i $SP "$T/c$i.pem"
	check "camera $i serves a certificate that ends with the CA" \
	    test "$(not_after "$T/c$i.pem")" = "$(not_after "$D/certs/ca.cert.pem")"
	eval "FP_$i=$(served_fp $N.$i $SP)"
done
n1=$(certs)

vpat 370 "$D" lifecycle run --json
assert_rc 0 "second run at +370 days"
is "$(jq .renewal_task "$VP_OUT")" 0 "the second run makes no renewal task"
is "$(jq .devices_due "$VP_OUT")" 0 "no device is due: a renewal would not extend them"
is "$(jq .devices_blocked "$VP_OUT")" 2 "... both are held back by the CA's end"
is "$(jq .components_renewed "$VP_OUT")" 0 "the component is not renewed either"
is "$(jq .server_renewed "$VP_OUT")" false "nor the API server certificate"
is "$(certs)" "$n1" "no certificate was issued by the second run"
for i in 1 2; do
	is "$(served_fp $N.$i $SP)" "$(eval echo "\$FP_$i")" "camera $i was not re-keyed"
done
vpat 371 "$D" lifecycle run --json
is "$(jq .renewal_task "$VP_OUT")" 0 "a third run, a day later, renews nothing"
is "$(certs)" "$n1" "... and issues nothing"
vpat 371 "$D" alarm list --json
is "$(jq '[.[] | select(.kind == "ca-limits-renewal" and .subject == "ca")] | length' "$VP_OUT")" 1 \
    "one CA alarm says the renewals are held back by the CA (raised once over two runs)"
assert_grep "ca init --replace" <(jq -r '.[] | select(.kind == "ca-limits-renewal") | .message' "$VP_OUT") \
    "... and what to do"

camsim_stop
it_done
