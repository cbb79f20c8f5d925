# HTTPS on a mixed fleet of simulated cameras (issue 5, "What it must show", first item):
# firmware 5.50 (unsupported), 6.50 and 10.12 (SOAP), 7.30 (SOAP, factory certificate), 11.8
# (REST v1beta) and 11.11 (REST v1); HTTPS ports 443 and 8443; devices that start HTTP-only
# and one that starts HTTPS-only. vmspki enables HTTPS on all of them, and every check of the
# result is made from outside: openssl s_client and curl against the site CA, camsim's own
# view of what is bound.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="devices https test passphrase"
if [ "$(id -u)" = 0 ]; then P80=80; P443=443; else P80=18080; P443=18443; fi
P8443=8443
N=127.23.0

cat >"$T/fleet.json" <<EOF
[
 {"address":"$N.1","firmware":"5.50.9.2","model":"P1224-E","http_port":$P80,"https_port":$P443,"user":"root","password":"pw-1-cam-secret"},
 {"address":"$N.2","firmware":"6.50.1.2","http_port":$P80,"https_port":$P443,"name":"cam2.site.test","user":"root","password":"pw-2-cam-secret"},
 {"address":"$N.3","firmware":"7.30.1","http_port":$P80,"https_port":$P8443,"user":"root","password":"pw-3-cam-secret"},
 {"address":"$N.4","firmware":"11.11.0","http_port":$P80,"https_port":$P443,"user":"root","password":"pw-4-cam-secret"},
 {"address":"$N.5","firmware":"11.8.0","http_port":$P80,"https_port":$P8443,"user":"root","password":"pw-5-cam-secret"},
 {"address":"$N.6","firmware":"10.12.0","policy":"https","factory_cert":true,"http_port":$P80,"https_port":$P443,"user":"root","password":"pw-6-cam-secret"},
 {"address":"$N.7","firmware":"9.80.1","http_port":$P80,"https_port":$P8443,"name":"cam7.site.test","user":"root","password":"pw-7-cam-secret"}
]
EOF
{
	echo "address,http_port,https_port,user,password,name"
	jq -r '.[] | [.address, .http_port, .https_port, .user, .password, (.name // "")] | @csv' \
	    "$T/fleet.json" | tr -d '"'
} >"$T/cams.csv"

vp "$D" ca init --key ec-p384
assert_rc 0 "the CA is made"
CA="$D/certs/ca.cert.pem"
camsim_start --state "$T/cs" --fleet "$T/fleet.json" --keygen-delay-ms 300 || it_done
ok "camsim serves the fleet"

# ---- inventory
vp "$D" device import "$T/cams.csv"
assert_rc 0 "device import adds the fleet"
vp "$D" device list --json
cp "$VP_OUT" "$T/devices.json"
https_of() { jq -r --arg a "$1" '.[] | select(.address == $a) | .https' "$T/devices.json"; }
id_of() { jq -r --arg a "$1" '.[] | select(.address == $a) | .id' "$T/devices.json"; }
is "$(jq length "$T/devices.json")" 7 "seven devices are in the inventory"
is "$(https_of $N.1)" "Unsupported firmware" "firmware 5.50 shows as Unsupported firmware"
is "$(https_of $N.2)" "Disabled (Missing server certificate)" \
    "6.50 without a certificate shows Disabled (Missing server certificate)"
is "$(https_of $N.3)" "Disabled" "7.30 with its factory certificate shows Disabled"
is "$(https_of $N.6)" "Disabled" "an HTTPS-only device is reached over HTTPS and probed"
for i in 1 2 3 4 5 6 7; do eval "ID$i=$(id_of $N.$i)"; done

# ---- enable: HTTP and HTTPS on some, HTTPS only on others, the FQDN as CN on one
vp "$D" https enable "$ID1" "$ID2" "$ID3" "$ID4" --wait --json
assert_rc 1 "https enable --wait exits 1 when a device failed (the unsupported one)"
cp "$VP_OUT" "$T/task.json"
is "$(jq -r .state "$T/task.json")" "Failed" "the task ends Failed (one device could not be done)"
is "$(result "$ID1" status)" "Failed" "the 5.50 device failed"
is "$(result "$ID1" step)" "identify" "... at identify"
assert_grep "Unsupported firmware" <(result "$ID1" error) "... because its firmware is unsupported"
is "$(result "$ID1" retryable)" "false" "... and a retry would not help"
for i in 2 3 4; do
	eval "id=\$ID$i"
	is "$(result "$id" status)" "Finished" "device $N.$i finished"
done
vp "$D" https enable "$ID5" "$ID6" --https-only --wait
assert_rc 0 "https enable --https-only on 11.8 (v1beta) and an HTTPS-only 10.12 finishes"
vp "$D" https enable "$ID7" --cn fqdn --wait
assert_rc 0 "https enable --cn fqdn finishes"

# ---- from outside: every supported device serves our certificate for its name
port_of() { jq -r --arg a "$1" '.[] | select(.address == $a) | .https_port' "$T/fleet.json"; }
for i in 2 3 4 5 6; do
	a=$N.$i
	p=$(port_of "$a")
	if tls_ok "$a" "$p" "$CA"; then ok "openssl s_client verifies $a:$p (chain and IP)"
	else not_ok "openssl s_client verifies $a:$p (chain and IP)"; diag_file "$T/.tls.out" 12; fi
	check "curl --cacert verifies https://$a:$p/" curl -s -o /dev/null --max-time 10 \
	    --cacert "$CA" "https://$a:$p/"
	eval "id=\$ID$i"
	vp "$D" device show "$id" --json
	serial=$(jq -r .certificate.serial "$VP_OUT")
	vp "$D" cert show "$serial" --json
	is "$(served_fp "$a" "$p")" "$(jq -r .fingerprint "$VP_OUT")" \
	    "$a serves the certificate vmspki issued for it ($serial)"
	is "$(jq -r '.owner_kind + ":" + .owner_id' "$VP_OUT")" "device:$id" "the certificate is recorded as device $id's"
done
if tls_ok $N.7 "$(port_of $N.7)" "$CA" cam7.site.test; then ok "$N.7 verifies as cam7.site.test"
else not_ok "$N.7 verifies as cam7.site.test"; diag_file "$T/.tls.out" 12; fi
check "curl verifies https://cam7.site.test/ (resolved to $N.7)" curl -s -o /dev/null \
    --max-time 10 --cacert "$CA" --resolve "cam7.site.test:$(port_of $N.7):$N.7" \
    "https://cam7.site.test:$(port_of $N.7)/"
openssl x509 -in <(openssl s_client -connect $N.7:"$(port_of $N.7)" </dev/null 2>/dev/null) \
    -noout -subject >"$T/subj7" 2>&1
assert_grep "CN *= *cam7.site.test" "$T/subj7" "--cn fqdn puts the device's name in the CN"

# The negative control: a CA that is not ours does not verify the devices.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/o.key" \
    -subj /CN=other -days 2 -out "$T/other.pem" 2>/dev/null
if tls_ok $N.4 "$(port_of $N.4)" "$T/other.pem"; then
	not_ok "another CA does not verify $N.4 (the check can fail)"
else
	ok "another CA does not verify $N.4 (the check can fail)"
fi

# ---- connection policies: HTTPS only where asked, HTTP kept elsewhere
for i in 5 6; do
	curl -s -o /dev/null --max-time 5 "http://$N.$i:$P80/"
	is "$?" 7 "HTTP is refused on $N.$i (HTTPS only was asked)"
	is "$(dev_state $N.$i .policy)" "Https" "camsim says $N.$i's policy is Https"
done
for i in 2 3 4; do
	check "HTTP still answers on $N.$i (HTTP and HTTPS)" curl -s -o /dev/null --max-time 5 \
	    "http://$N.$i:$P80/"
done

# ---- states as the seeds show them
vp "$D" device list --json
cp "$VP_OUT" "$T/devices.json"
for i in 2 3 4 5 6 7; do
	is "$(https_of $N.$i)" "Enabled" "$N.$i shows HTTPS Enabled"
done
is "$(https_of $N.1)" "Unsupported firmware" "$N.1 still shows Unsupported firmware"
vp "$D" device list
assert_grep "ACCC8E" "$VP_OUT" "device list shows MAC addresses"

# ---- on the devices: one key of ours each, the factory certificate kept, the CA installed
for i in 2 3 4 5 6 7; do
	mine=$(ctl GET /control/devices/$N.$i | jq '[.certificates[] | select(.alias | startswith("vmspki-"))] | length')
	is "$mine" 1 "$N.$i holds exactly one key of ours"
	cas=$(ctl GET /control/devices/$N.$i | jq '[.ca_certificates[] | select(.fingerprint == "'"$(fp "$CA")"'")] | length')
	is "$cas" 1 "$N.$i has the site CA installed once"
done
is "$(ctl GET /control/devices/$N.3 | jq '[.certificates[] | select(.alias | startswith("vmspki-") | not)] | length')" \
    1 "the factory certificate of the 7.30 device is kept (not ours to delete)"

# ---- update: a new certificate, the old one of ours removed, still one key
vp "$D" device show "$ID4" --json
old=$(jq -r .certificate.serial "$VP_OUT")
vp "$D" https update "$ID4" --wait
assert_rc 0 "https update finishes"
vp "$D" device show "$ID4" --json
new=$(jq -r .certificate.serial "$VP_OUT")
check "update gives the device a new certificate" test "$old" != "$new" -a -n "$new"
vp "$D" cert show "$new" --json
is "$(served_fp $N.4 "$(port_of $N.4)")" "$(jq -r .fingerprint "$VP_OUT")" \
    "$N.4 serves the new certificate"
is "$(ctl GET /control/devices/$N.4 | jq '[.certificates[] | select(.alias | startswith("vmspki-"))] | length')" \
    1 "the previous key of ours was removed from $N.4"

# ---- the site setting for the CN: the device's name once set to fqdn
openssl x509 -in <(openssl s_client -connect $N.2:$P443 </dev/null 2>/dev/null) -noout \
    -subject >"$T/subj2" 2>&1
assert_grep "CN *= *$N.2" "$T/subj2" "by default the CN is the device's address"
vp "$D" settings set device.cn fqdn
assert_rc 0 "settings set device.cn fqdn"
vp "$D" settings set device.cn serial
assert_rc 1 "a CN setting other than ip or fqdn is refused"
vp "$D" https update "$ID2" --wait
assert_rc 0 "https update after the setting changed"
openssl x509 -in <(openssl s_client -connect $N.2:$P443 </dev/null 2>/dev/null) -noout \
    -subject >"$T/subj2" 2>&1
assert_grep "CN *= *cam2.site.test" "$T/subj2" "the site setting fqdn puts the device's name in the CN"
if tls_ok $N.2 $P443 "$CA" cam2.site.test; then ok "$N.2 verifies as cam2.site.test"
else not_ok "$N.2 verifies as cam2.site.test"; diag_file "$T/.tls.out" 12; fi
if tls_ok $N.2 $P443 "$CA"; then ok "... and as its address (the SAN has both)"
else not_ok "... and as its address (the SAN has both)"; diag_file "$T/.tls.out" 12; fi

# ---- secrets: the device passwords are nowhere but in camsim's fleet file
for f in "$VP_LOG" "$D/vmspki.db" "$D/vmspki.db-wal" "$T"/devices.json "$T"/task.json; do
	[ -f "$f" ] || continue
	assert_no_grep "cam-secret" "$f" "no device password in $(basename "$f")"
done

camsim_stop
it_done
