# Camera key stores (issue 19, item 10; hardening guide 4.5, TPM / secure element): the
# `device.keystore` setting (auto or a key store's name) says where cameras make vmspki's keys,
# and `device show` says per device where its key is. A device that cannot choose (firmware
# before AXIS OS 11) is told at identify, with nothing written, when a store is named. Before,
# the camera's default was used, neither chosen nor reported.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="keystore test passphrase"
N=127.23.23
P80=18080; P443=18443
cat >"$T/fleet.json" <<EOF2
[
 {"address":"$N.1","firmware":"11.11.0","http_port":$P80,"https_port":$P443},
 {"address":"$N.2","firmware":"9.80.1","http_port":$P80,"https_port":$P443}
]
EOF2
vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"
camsim_start --state "$T/cs" --fleet "$T/fleet.json" --keygen-delay-ms 100 --user root \
    --password pw-ks || it_done
printf 'pw-ks' >"$T/pw"
for i in 1 2; do
	vp "$D" device add "$N.$i:$P80" --https-port "$P443" --user root --password-file "$T/pw"
	assert_rc 0 "device add $N.$i"
done
vp "$D" device list --json
ID1=$(jq -r --arg a "$N.1" '.[] | select(.address == $a) | .id' "$VP_OUT")
ID2=$(jq -r --arg a "$N.2" '.[] | select(.address == $a) | .id' "$VP_OUT")

vp "$D" settings get device.keystore
assert_grep '^auto$' "$VP_OUT" "device.keystore is auto by default"
vp "$D" settings set device.keystore 'TPM 2!'
assert_rc 1 "a key store name with a space or punctuation is refused"
vp "$D" settings set device.keystore TEE0
assert_rc 0 "device.keystore set to TEE0"

vp "$D" https enable "$ID1" --wait
assert_rc 0 "https enable on the AXIS OS 11 camera"
ks=$(dev_state "$N.1" '[.certificates[] | select(.alias | startswith("vmspki-https-")) | .keystore] | first')
is "$ks" "TEE0" "the camera made vmspki's key in TEE0"
vp "$D" device show "$ID1" --json
is "$(jq -r .keystore "$VP_OUT")" "TEE0" "device show --json says its key is in TEE0"
vp "$D" device show "$ID1"
assert_grep "key store: *TEE0" "$VP_OUT" "device show says so"

vp "$D" https enable "$ID2" --wait --json
assert_rc 1 "https enable with a named key store on firmware 9.80 fails"
cp "$VP_OUT" "$T/task.json"
is "$(result "$ID2" step)" "identify" "... at identify"
assert_grep "cannot choose where it makes a key" <(result "$ID2" error) "... saying why"
is "$(dev_state "$N.2" '.requests.CreateCertificate2 // 0')" 0 "... with no key made on it"

vp "$D" settings set device.keystore auto
vp "$D" https enable "$ID2" --wait
assert_rc 0 "with device.keystore auto the 9.80 camera is enabled"
vp "$D" device show "$ID2" --json
is "$(jq -r .keystore "$VP_OUT")" "default" "... and its key store shows as the device's default"

vp "$D" settings set device.keystore SE0
vp "$D" https update "$ID1" --wait
assert_rc 0 "https update with device.keystore SE0"
vp "$D" device show "$ID1" --json
is "$(jq -r .keystore "$VP_OUT")" "SE0" "the renewed key is in SE0 and device show says so"

camsim_stop
it_done
