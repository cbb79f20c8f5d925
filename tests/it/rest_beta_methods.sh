# The v1beta REST certificate API as some AXIS OS 12.x firmware speaks it (issue 19, item 13):
# POST for create_certificate and get_csr and PATCH to replace a certificate, where AXIS OS
# 11.x's v1beta takes PUT. The driver sent PUT to every v1beta device; now a 405 or 501 to one
# method makes it try the other, and the device's API remembers which (rest-beta-post), so a
# later task sends the right method first.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="rest beta methods test passphrase"
N=127.23.21
P80=18080; P443=18443
cat >"$T/fleet.json" <<EOF2
[
 {"address":"$N.1","firmware":"12.2.0","rest_api":"v1beta","http_port":$P80,"https_port":$P443},
 {"address":"$N.2","firmware":"11.8.0","http_port":$P80,"https_port":$P443}
]
EOF2
vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"
CA="$D/certs/ca.cert.pem"
camsim_start --state "$T/cs" --fleet "$T/fleet.json" --keygen-delay-ms 100 --user root \
    --password pw-beta || it_done
printf 'pw-beta' >"$T/pw"
for i in 1 2; do
	vp "$D" device add "$N.$i:$P80" --https-port "$P443" --user root --password-file "$T/pw"
	assert_rc 0 "device add $N.$i"
done
vp "$D" device list --json
cp "$VP_OUT" "$T/devices.json"
f() { jq -r --arg a "$1" ".[] | select(.address == \$a) | .$2" "$T/devices.json"; }
ID1=$(f $N.1 id)
is "$(f $N.1 api)" "rest-beta" "the 12.2 camera answers only under v1beta"

vp "$D" https enable --all --wait --json
assert_rc 0 "https enable on the POST-taking 12.2 v1beta camera and the PUT-taking 11.8 one"
cp "$VP_OUT" "$T/task.json"
for i in 1 2; do
	check "$N.$i serves a certificate that verifies against the site CA" tls_ok "$N.$i" "$P443" "$CA"
done
vp "$D" device list --json
cp "$VP_OUT" "$T/devices.json"
is "$(f $N.1 https)" "Enabled" "the 12.2 camera is Enabled"
is "$(f $N.1 api)" "rest-beta-post" "... and remembered as the v1beta that takes POST/PATCH"
is "$(f $N.2 api)" "rest-beta" "the 11.8 camera stays the v1beta that takes PUT"
creates=$(dev_state "$N.1" '.requests.create_certificate')
csrs=$(dev_state "$N.1" '.requests.get_csr')
replaces=$(dev_state "$N.1" '.requests.replace_certificate')
is "$creates $csrs $replaces" "2 1 1" \
    "one refused PUT to create_certificate, then POST; get_csr and replace right the first time"

vp "$D" https update "$ID1" --wait
assert_rc 0 "https update on the 12.2 camera"
is "$(dev_state "$N.1" '.requests.create_certificate')" 3 \
    "the next task sends POST first (no second refusal)"
check "it serves the renewed certificate, verified" tls_ok "$N.1" "$P443" "$CA"
is "$(dev_state "$N.2" '.requests.create_certificate')" 1 "the 11.8 camera got PUT the first time"

camsim_stop
it_done
