# A certificate from the company's own CA on a camera (issue 19, item 3; ACS use cases 2 and
# 3, ADM): `vmspki https csr` has the camera make a key and gives its CSR, an outside
# `openssl ca` signs it, `vmspki https install` installs, binds, verifies and pins it. The
# camera then serves that certificate, verified by openssl against the outside CA alone. Before
# these commands, the only certificates vmspki could put on a camera were its own.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="extcert test passphrase"
N=127.23.20
P80=18080; P443=18443

cat >"$T/fleet.json" <<EOF2
[
 {"address":"$N.1","firmware":"11.11.0","http_port":$P80,"https_port":$P443},
 {"address":"$N.2","firmware":"9.80.1","http_port":$P80,"https_port":$P443}
]
EOF2
vp "$D" ca init --key ec-p256
assert_rc 0 "the site CA is made"
camsim_start --state "$T/cs" --fleet "$T/fleet.json" --keygen-delay-ms 100 --user root \
    --password pw-ext || it_done
printf 'pw-ext' >"$T/pw"
for i in 1 2; do
	vp "$D" device add "$N.$i:$P80" --https-port "$P443" --user root --password-file "$T/pw"
	assert_rc 0 "device add $N.$i"
done
vp "$D" device list --json
ID1=$(jq -r --arg a "$N.1" '.[] | select(.address == $a) | .id' "$VP_OUT")
ID2=$(jq -r --arg a "$N.2" '.[] | select(.address == $a) | .id' "$VP_OUT")

# The company's CA: a root made and used by openssl alone.
X="$T/company"
mkdir -p "$X/newcerts"
: >"$X/index.txt"
echo 1000 >"$X/serial"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$X/root.key" \
    -out "$X/root.pem" -days 3650 -subj "/O=Company/CN=Company Root CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    2>/dev/null
cat >"$X/ca.cnf" <<EOF2
[ ca ]
default_ca = company
[ company ]
dir = $X
database = $X/index.txt
new_certs_dir = $X/newcerts
serial = $X/serial
certificate = $X/root.pem
private_key = $X/root.key
default_md = sha256
default_days = 365
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = supplied
[ server ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
EOF2
# ... and an issuing CA under it, which signs the second camera's certificate: the camera
# must send it, since clients trust the root alone.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$X/inter.key" \
    -subj "/O=Company/CN=Company Issuing CA" -out "$X/inter.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' \
    >"$X/inter.ext"
openssl x509 -req -in "$X/inter.csr" -CA "$X/root.pem" -CAkey "$X/root.key" \
    -CAcreateserial -days 1000 -extfile "$X/inter.ext" -out "$X/inter.pem" 2>/dev/null
cat "$X/inter.pem" "$X/root.pem" >"$X/chain.pem"
inter_sign() { # CSR OUT ADDR
	printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:%s\n' \
	    "$3" >"$X/leaf.ext"
	openssl x509 -req -in "$1" -CA "$X/inter.pem" -CAkey "$X/inter.key" -CAcreateserial \
	    -days 365 -extfile "$X/leaf.ext" -out "$2" >/dev/null 2>&1
}
company_sign() { # CSR OUT ADDR
	printf '[ server ]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\nsubjectAltName = IP:%s\n' \
	    "$3" >"$X/ext.cnf"
	openssl ca -batch -config "$X/ca.cnf" -extfile "$X/ext.cnf" -extensions server \
	    -in "$1" -out "$2" -notext >"$X/ca.log" 2>&1
}

for i in 1 2; do
	eval "id=\$ID$i"
	vp "$D" https csr "$id" --out "$T/cam$i.csr"
	assert_rc 0 "https csr on $N.$i (a task, followed to its end)"
	check "the CSR of $N.$i is a PKCS#10 request with a valid signature" \
	    openssl req -in "$T/cam$i.csr" -noout -verify
	alias=$(dev_state "$N.$i" '[.certificates[].alias | select(startswith("vmspki-ext-"))] | first')
	check "$N.$i holds the key it made (alias $alias)" test -n "$alias" -a "$alias" != null
	vp "$D" task list --json
	is "$(jq -r '[.[] | select(.kind == "https-csr")] | length' "$VP_OUT")" "$i" \
	    "the CSR is a task of kind https-csr"
	if [ "$i" = 1 ]; then
		check "the company's openssl ca signs the CSR of $N.$i" \
		    company_sign "$T/cam$i.csr" "$T/cam$i.pem" "$N.$i"
	else
		check "the company's issuing CA signs the CSR of $N.$i" \
		    inter_sign "$T/cam$i.csr" "$T/cam$i.pem" "$N.$i"
	fi
done

# A certificate for another key is refused and nothing changes.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/other.key" \
    -subj "/CN=$N.1" -out "$T/other.csr" 2>/dev/null
company_sign "$T/other.csr" "$T/other.pem" "$N.1"
before=$(dev_state "$N.1" .bound_fingerprint)
vp "$D" https install "$ID1" --cert "$T/other.pem" --chain "$X/root.pem"
assert_rc 1 "https install refuses a certificate for another key"
assert_stderr "not for the key" "... and says so"
is "$(dev_state "$N.1" .bound_fingerprint)" "$before" "... and the camera serves what it served"
# One that does not chain to the root given is refused too.
vp "$D" https install "$ID1" --cert "$T/cam1.pem" --chain "$D/certs/ca.cert.pem"
assert_rc 1 "https install refuses a certificate that does not verify against the chain"

for i in 1 2; do
	eval "id=\$ID$i"
	chain="$X/root.pem"
	[ "$i" = 2 ] && chain="$X/chain.pem"
	vp "$D" https install "$id" --cert "$T/cam$i.pem" --chain "$chain" --json
	assert_rc 0 "https install on $N.$i: installed, bound, verified"
	is "$(jq -r .kind "$VP_OUT")" "https-install" "... as a task of kind https-install"
	is "$(jq -r ".results[0].status" "$VP_OUT")" "Finished" "... with a result for the device"
	want=$(openssl x509 -in "$T/cam$i.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' |
	    tr 'A-F' 'a-f')
	is "$(served_fp "$N.$i" "$P443")" "$want" "$N.$i serves the certificate the company's CA signed"
	check "... verified by openssl against the company's CA alone (chain and IP)" \
	    tls_ok "$N.$i" "$P443" "$X/root.pem"
	check_not "... and not against the site CA" tls_ok "$N.$i" "$P443" "$D/certs/ca.cert.pem"
done
is "$(dev_state "$N.2" '[.ca_certificates[].alias | select(startswith("vmspki-ext-ca-"))] | length')" 1 \
    "$N.2 got the issuing CA as a CA certificate (and sends it: the check above trusts the root alone)"
vp "$D" device list --json
is "$(jq -r --arg a "$N.1" '.[] | select(.address == $a) | .https' "$VP_OUT")" "Enabled" \
    "$N.1 shows HTTPS Enabled"

# Pinned to that key: the next task reaches the camera over HTTPS by the pin and can put the
# site's own certificate back.
vp "$D" https update "$ID1" --https-only --wait
assert_rc 0 "https update on the camera with the outside certificate (reached by its pin)"
check "$N.1 now serves the site CA's certificate" tls_ok "$N.1" "$P443" "$D/certs/ca.cert.pem"

# A removed device takes what was kept for it along (device ids are given again).
kv() { sqlite3 "$D/vmspki.db" "SELECT count(*) FROM key_value WHERE key LIKE '$1'"; }
is "$(kv "extcert.pin.$ID2")" 1 "the pin of $N.2 is kept"
vp "$D" device remove "$ID2"
assert_rc 0 "device remove $N.2"
is "$(kv "extcert.%.$ID2")$(kv "foreign.%.$ID2")$(kv "keystore.device.$ID2")" 000 \
    "... and nothing is kept for its id any more"

camsim_stop
it_done
