# Device certificate validity (issue 19, item 1): the setting device.days and --days on
# `https enable|update` (at most 825 days, the profile's maximum, and longer than the renewal
# window), checked on the certificate each simulated camera serves, with openssl.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="device days test passphrase"
N=127.61.0
SP=18443
# served_days IP: the validity, in days, of the certificate the camera at IP serves.
served_days() {
	served_cert "$1" $SP "$T/served.pem"
	echo $(( ($(not_after "$T/served.pem") - $(not_before "$T/served.pem")) / 86400 ))
}

vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made (10 years)"
camsim_start --state "$T/cs" --count 3 --first $N.1 --http-port 18080 --https-port $SP \
    --password cam-days-secret --csv-out "$T/cams.csv" --quiet || it_done
vp "$D" device import "$T/cams.csv"
assert_rc 0 "three cameras are added"

# ---- the setting: known, checked, and checked against the renewal window
vp "$D" settings get device.days
is "$(tr -d '\n' <"$VP_OUT")" "365" "device.days is 365 by default (one year, as ACS)"
vp "$D" settings set device.days 826
assert_rc 1 "device.days 826 is refused (the profile's maximum is 825)"
vp "$D" settings set device.days 30
assert_rc 1 "device.days 30 is refused: the renewal window (warning 30 + 7) is longer"
assert_grep "device.days" "$VP_ERR" "... and the message names the settings that conflict"
vp "$D" settings get device.days
is "$(tr -d '\n' <"$VP_OUT")" "365" "a refused value changes nothing"
vp "$D" settings set device.days 90
assert_rc 0 "device.days 90 is taken"

# ---- a task without --days follows the setting
vp "$D" https enable 1 --wait
assert_rc 0 "HTTPS is enabled on camera 1"
is "$(served_days $N.1)" 90 "camera 1 serves a certificate valid 90 days (openssl)"
vp "$D" device show 1 --json
serial=$(jq -r .certificate.serial "$VP_OUT")
vp "$D" cert show "$serial" --json
is "$(served_fp $N.1 $SP)" "$(jq -r .fingerprint "$VP_OUT")" "... the one recorded for it"

# ---- --days on a task comes first
vp "$D" https enable 2 --days 200 --wait
assert_rc 0 "HTTPS is enabled on camera 2 with --days 200"
is "$(served_days $N.2)" 200 "camera 2 serves a certificate valid 200 days"
vp "$D" task list --json
tasks=$(jq length "$VP_OUT")
vp "$D" https enable 3 --days 826 --wait
assert_rc 1 "--days 826 is refused (more than the profile's 825)"
vp "$D" https enable 3 --days 20 --wait
assert_rc 1 "--days 20 is refused (within the renewal window)"
vp "$D" task list --json
is "$(jq length "$VP_OUT")" "$tasks" "refused tasks are not made"
vp "$D" https enable 3 --days 825 --wait
assert_rc 0 "--days 825 is taken"
is "$(served_days $N.3)" 825 "camera 3 serves a certificate valid 825 days"
vp "$D" https update 1 --days 400 --wait
assert_rc 0 "update renews camera 1 with --days 400"
is "$(served_days $N.1)" 400 "camera 1 now serves a certificate valid 400 days"
vp "$D" task list --json
is "$(jq '.[-1].days' "$VP_OUT")" 400 "the task shows its days"

# ---- --days on dot1x: the 802.1X certificate's validity, the same rule
vp "$D" dot1x enable 2 --days 300 --wait
assert_rc 0 "802.1X is enabled on camera 2 with --days 300"
vp "$D" device list --json
d1x_serial=$(jq -r '.[] | select(.id == 2) | .dot1x_serial' "$VP_OUT")
vp "$D" cert show "$d1x_serial" --pem
openssl x509 -in "$VP_OUT" -out "$T/d1x.pem" 2>/dev/null
is "$(( ($(not_after "$T/d1x.pem") - $(not_before "$T/d1x.pem")) / 86400 ))" 300 \
    "camera 2's 802.1X certificate is valid 300 days"
vp "$D" dot1x enable 3 --days 826 --wait
assert_rc 1 "dot1x --days 826 is refused (more than the profile's 825)"

# ---- the renewal window cannot be widened past the validity afterwards
vp "$D" settings set lifecycle.warning_days 100
assert_rc 1 "lifecycle.warning_days 100 is refused while device.days is 90"

camsim_stop
it_done
