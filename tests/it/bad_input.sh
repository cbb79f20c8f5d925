#!/usr/bin/env bash
# Bad input is refused with exit 1 (2 for usage errors), a message on stderr that says what was
# wrong, and no change at all: every file of the data directory keeps its hash and mode, the
# three tables keep their row counts, and no output file appears.
. "$(dirname "$0")/lib.bash"
it_init faketime

PASSF="$T/ca-pass"
WRONGF="$T/wrong-pass"
P12PW="$T/p12-pass"
WRONGP12="$T/wrong-p12-pass"
printf 'bad-input-CA-passphrase-31\n' >"$PASSF"
printf 'not-the-CA-passphrase-32\n' >"$WRONGF"
printf 'bad-input-p12-password-33\n' >"$P12PW"
printf 'not-the-p12-password-34\n' >"$WRONGP12"

# refused DESC WANT_RC REGEX DATADIR OUTFILE ARGS...: snapshot, run, compare. OUTFILE ("" for
# none) must not exist afterwards, nor any temporary file next to it.
refused() {
	local desc=$1 want=$2 re=$3 dd=$4 outf=$5
	shift 5
	snapshot "$dd" >"$T/.snap.before"
	vp "$dd" "$@"
	if [ "$want" = "1|2" ]; then
		if [ "$RC" = 1 ] || [ "$RC" = 2 ]; then ok "$desc: refused (exit $RC)"; else not_ok "$desc: refused (expected exit 1 or 2, got $RC)"; diag_file "$VP_ERR"; fi
	else
		assert_rc "$want" "$desc: refused"
	fi
	assert_grep '^vmspki: ' "$VP_ERR" "$desc: stderr has a \"vmspki: ...\" message"
	assert_stderr "$re" "$desc: the message says what was wrong"
	assert_unchanged "$T/.snap.before" "$dd" "$desc: data dir unchanged (file hashes, modes, row counts)"
	if [ -n "$outf" ]; then
		assert_no_file "$outf" "$desc: no output file"
		local left
		left=$(ls -1 "$outf".tmp.* "$(dirname "$outf")"/.*tmp* 2>/dev/null | head -n 3)
		if [ -n "$left" ]; then not_ok "$desc: no temporary output file left ($left)"; else ok "$desc: no temporary output file left"; fi
	fi
}

# ================================================================ fixtures (openssl, faketime)
mk_key rsa2048 "$T/rsa2048.key"
mk_key rsa1024 "$T/rsa1024.key"
mk_csr "$T/rsa2048.key" good.example "$T/good.pem"

# A CSR whose signature is broken: flip one byte inside the signature BIT STRING (the last
# bytes of the DER), then wrap it in PEM again without re-encoding anything.
openssl req -in "$T/good.pem" -outform DER -out "$T/good.der" 2>/dev/null
sz=$(stat -c %s "$T/good.der")
off=$((sz - 20))
b=$(od -An -tu1 -j "$off" -N1 "$T/good.der" | tr -d ' ')
cp "$T/good.der" "$T/badsig.der"
printf "$(printf '\\%03o' $(( b ^ 0x5a )))" | dd of="$T/badsig.der" bs=1 seek="$off" conv=notrunc 2>/dev/null
{ echo '-----BEGIN CERTIFICATE REQUEST-----'; base64 -w 64 "$T/badsig.der"; echo '-----END CERTIFICATE REQUEST-----'; } >"$T/input1.pem"
# (openssl req -verify exits 0 either way in 3.0: look at what it says)
if openssl req -in "$T/input1.pem" -verify -noout 2>&1 | grep -q 'verify OK'; then not_ok "fixture: openssl req -verify rejects the flipped-signature CSR"; else ok "fixture: openssl req -verify rejects the flipped-signature CSR"; fi
if openssl req -in "$T/good.pem" -verify -noout 2>&1 | grep -q 'verify OK'; then ok "fixture: openssl req -verify accepts the original CSR"; else not_ok "fixture: openssl req -verify accepts the original CSR"; fi
check "fixture: the flipped-signature CSR still parses" openssl req -in "$T/input1.pem" -noout

# A truncated PEM: the first half of the lines, no END line.
n=$(wc -l <"$T/good.pem")
head -n $((n / 2)) "$T/good.pem" >"$T/input2.pem"

# A CSR for a 1024-bit RSA key.
mk_csr "$T/rsa1024.key" weak.example "$T/input3.pem"

# ================================================================ the CA the issue cases run on
D="$T/dd"
vp "$D" ca init --key ec-p256 --cn "Bad Input Root" --days 400 --passphrase-file "$PASSF"
assert_rc 0 "setup: ca init --key ec-p256 --days 400"
vp "$D" issue --profile server --csr "$T/good.pem" --dns good.example --out "$T/ok.pem" --passphrase-file "$PASSF"
assert_rc 0 "setup: a good CSR is issued (so that the cases below fail for their own reason)"
vp "$D" issue --profile device-https --csr "$T/good.pem" --dns good.example --days 300 --out "$T/ok2.pem" --passphrase-file "$PASSF"
assert_rc 0 "setup: device-https --days 300 on the 400-day CA is issued"
assert_file "$D/vmspki.db" "setup: the store exists"

O="$T/out"
mkdir -p "$O"
refused "CSR with a broken signature" 1 'signature' "$D" "$O/c1.pem" \
    issue --profile server --csr "$T/input1.pem" --dns good.example --out "$O/c1.pem" --passphrase-file "$PASSF"
refused "truncated PEM CSR" 1 'truncat|damag|malformed|not a (readable|valid)|cannot (parse|decode|read)|bad end line' "$D" "$O/c2.pem" \
    issue --profile server --csr "$T/input2.pem" --dns good.example --out "$O/c2.pem" --passphrase-file "$PASSF"
refused "1024-bit RSA CSR" 1 '1024|2048|too (small|short|weak)|weak' "$D" "$O/c3.pem" \
    issue --profile server --csr "$T/input3.pem" --dns weak.example --out "$O/c3.pem" --passphrase-file "$PASSF"
refused "missing CSR file" 1 'input-missing\.pem|no such file|not found|cannot (open|read)' "$D" "$O/c4.pem" \
    issue --profile server --csr "$T/input-missing.pem" --dns good.example --out "$O/c4.pem" --passphrase-file "$PASSF"
# An unknown profile is a refused value (1) or a usage error (2): both are fine, not 0.
refused "unknown profile" "1|2" 'profile.*bogus|bogus.*profile' "$D" "$O/c5.pem" \
    issue --profile bogus --csr "$T/good.pem" --dns good.example --out "$O/c5.pem" --passphrase-file "$PASSF"
if grep -Eq 'server' "$VP_ERR" && grep -Eq 'device-https' "$VP_ERR"; then ok "unknown profile: the message lists the known profiles"; else not_ok "unknown profile: the message lists the known profiles"; fi
refused "--days beyond the CA's notAfter (device-https --days 500 on a 400-day CA)" 1 \
    'notafter|not after|expir|beyond|exceed|outlive|after the ca|ca.*(ends|valid until|validity)' "$D" "$O/c6.pem" \
    issue --profile device-https --csr "$T/good.pem" --dns good.example --days 500 --out "$O/c6.pem" --passphrase-file "$PASSF"
refused "--days beyond the CA's notAfter (component-server --days 5000)" 1 \
    'notafter|not after|expir|beyond|exceed|outlive|after the ca|ca.*(ends|valid until|validity)' "$D" "$O/c7.pem" \
    issue --profile component-server --generate-key --cn nats --dns nats.example --days 5000 --out "$O/c7.pem" \
    --key-out "$O/c7.key" --passphrase-file "$PASSF"
assert_no_file "$O/c7.key" "--days beyond the CA: no key file"
refused "server profile without a DNS name or IP" 1 'dns|ip|name|subjectaltname|san' "$D" "$O/c8.pem" \
    issue --profile server --generate-key --cn noname --out "$O/c8.pem" --key-out "$O/c8.key" --passphrase-file "$PASSF"
refused "wrong CA passphrase (issue from a CSR)" 1 'passphrase' "$D" "$O/c9.pem" \
    issue --profile server --csr "$T/good.pem" --dns good.example --out "$O/c9.pem" --passphrase-file "$WRONGF"
refused "wrong CA passphrase (issue --generate-key --p12)" 1 'passphrase' "$D" "$O/c10.p12" \
    issue --profile server --generate-key --dns good.example --p12 "$O/c10.p12" --p12-passphrase-file "$P12PW" \
    --passphrase-file "$WRONGF"
refused "wrong CA passphrase (export --with-key)" 1 'passphrase' "$D" "$O/c11.p12" \
    ca export --with-key --out "$O/c11.p12" --p12-passphrase-file "$P12PW" --passphrase-file "$WRONGF"
refused "ca init a second time" 1 'already|exists' "$D" "" \
    ca init --key ec-p256 --cn "Second Root" --passphrase-file "$PASSF"
assert_eq "CN = Bad Input Root" "$(openssl x509 -in "$D/certs/ca.cert.pem" -noout -subject -nameopt oneline | sed 's/^subject=//')" \
    "ca init a second time: the first CA is still the CA"

# Usage errors: exit 2.
refused "issue without --csr or --generate-key" 2 'csr|generate-key|usage' "$D" "$O/u1.pem" \
    issue --profile server --dns good.example --out "$O/u1.pem" --passphrase-file "$PASSF"
refused "issue with both --csr and --generate-key" 2 'csr|generate-key|usage|both' "$D" "$O/u2.pem" \
    issue --profile server --csr "$T/good.pem" --generate-key --dns good.example --out "$O/u2.pem" --passphrase-file "$PASSF"
refused "a passphrase as an argument is not an option" 2 'passphrase|unknown|unrecognized|usage|option' "$D" "$O/u3.pem" \
    issue --profile server --csr "$T/good.pem" --dns good.example --out "$O/u3.pem" --passphrase bad-input-CA-passphrase-31
refused "unknown command" 2 'unknown|usage|command' "$D" "" frobnicate

# ================================================================ CA import cases
# A fresh data directory; a harmless command first lets vmspki create its empty store there,
# so that the cases compare against a store that exists.
DI="$T/import-dd"
vp "$DI" cert list
diag "cert list on a new data dir: exit $RC; store $( [ -f "$DI/vmspki.db" ] && echo created || echo not created)"

R="$T/root"
mk_root "$R" ec-p256 "Import Root" 3650
I="$T/inter"
mk_intermediate "$I" "$R" ec-p256 "Import Intermediate" 1000
mk_p12 "$T/inter-root.p12" "$I.key" "$I.pem" "$P12PW" "$R.pem"
mk_p12 "$T/inter-alone.p12" "$I.key" "$I.pem" "$P12PW"

refused "ca import over an existing CA" 1 'already|exists' "$D" "" \
    ca import "$T/inter-root.p12" --p12-passphrase-file "$P12PW" --passphrase-file "$PASSF"

# wrong PKCS#12 password
refused "ca import with a wrong PKCS#12 password" 1 'password|passphrase|mac' "$DI" "" \
    ca import "$T/inter-root.p12" --p12-passphrase-file "$WRONGP12" --passphrase-file "$PASSF"

# expired CA: made two years ago, valid 30 days
X="$T/expired"
mk_key ec-p256 "$X.key"
faketime -f '-2y' bash -c "$(declare -f mk_root mk_key); mk_root '$X' ec-p256 'Expired Root' 30"
check_not "fixture: the expired CA is expired (openssl x509 -checkend 0)" openssl x509 -in "$X.pem" -noout -checkend 0
mk_p12 "$T/expired.p12" "$X.key" "$X.pem" "$P12PW"
refused "ca import of an expired CA" 1 'expired|validity|not valid|no longer valid|notafter|not after' "$DI" "" \
    ca import "$T/expired.p12" --p12-passphrase-file "$P12PW" --passphrase-file "$PASSF"

# not a CA: a TLS server certificate (with its root) in the p12
L="$T/leaf"
mk_signed "$L" "$R" ec-p256 "leaf.example" 300 "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:leaf.example
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"
mk_p12 "$T/leaf.p12" "$L.key" "$L.pem" "$P12PW" "$R.pem"
refused "ca import of a non-CA certificate" 1 'not a ca|ca:true|basic ?constraints|certificate authority' "$DI" "" \
    ca import "$T/leaf.p12" --p12-passphrase-file "$P12PW" --passphrase-file "$PASSF"

# a CA certificate without keyCertSign
K="$T/nokcs"
mk_root "$K" ec-p256 "No KeyCertSign Root" 3650 "critical,digitalSignature,cRLSign"
mk_p12 "$T/nokcs.p12" "$K.key" "$K.pem" "$P12PW"
refused "ca import of a CA without keyCertSign" 1 'keycertsign|key ?usage|certificate sign|sign certificates' "$DI" "" \
    ca import "$T/nokcs.p12" --p12-passphrase-file "$P12PW" --passphrase-file "$PASSF"

# a key that does not belong to the certificate (certtool writes such a file; openssl won't)
mk_key ec-p256 "$T/other.key"
certtool --to-p12 --load-privkey "$T/other.key" --load-certificate "$R.pem" --p12-name mismatch \
    --pkcs-cipher aes-256 --outder --outfile "$T/mismatch.p12" --password "$(cat "$P12PW")" >/dev/null 2>&1
check "fixture: the mismatched PKCS#12 opens" openssl pkcs12 -in "$T/mismatch.p12" -passin "file:$P12PW" -noout
refused "ca import of a PKCS#12 whose key does not match the certificate" 1 'match|belong|pair|no certificate for' "$DI" "" \
    ca import "$T/mismatch.p12" --p12-passphrase-file "$P12PW" --passphrase-file "$PASSF"

# an intermediate without its root, and with an unrelated --chain
refused "ca import of an intermediate without its root" 1 'chain|root|issuer' "$DI" "" \
    ca import "$T/inter-alone.p12" --p12-passphrase-file "$P12PW" --passphrase-file "$PASSF"
O2="$T/otherroot"
mk_root "$O2" ec-p256 "Unrelated Root" 3650
refused "ca import of an intermediate with an unrelated --chain" 1 'chain|root|issuer' "$DI" "" \
    ca import "$T/inter-alone.p12" --p12-passphrase-file "$P12PW" --chain "$O2.pem" --passphrase-file "$PASSF"

# a 1024-bit RSA CA
W="$T/weak"
mk_root "$W" rsa1024 "Weak Root" 3650
mk_p12 "$T/weak.p12" "$W.key" "$W.pem" "$P12PW"
refused "ca import of a 1024-bit RSA CA" 1 '1024|2048|weak|too (small|short)' "$DI" "" \
    ca import "$T/weak.p12" --p12-passphrase-file "$P12PW" --passphrase-file "$PASSF"

# not a PKCS#12 at all
refused "ca import of a PEM file instead of a PKCS#12" 1 'pkcs ?#? ?12|p12|pfx|pars|format|invalid|decod' "$DI" "" \
    ca import "$R.pem" --p12-passphrase-file "$P12PW" --passphrase-file "$PASSF"

# After all that, the good intermediate still imports (the refusals were for their reasons).
vp "$DI" ca import "$T/inter-root.p12" --p12-passphrase-file "$P12PW" --passphrase-file "$PASSF"
assert_rc 0 "control: the good intermediate PKCS#12 imports into the same data dir"

# A refused import into a data dir that was never used: report what it leaves behind.
DN="$T/never-used"
vp "$DN" ca import "$T/leaf.p12" --p12-passphrase-file "$P12PW" --passphrase-file "$PASSF"
assert_rc 1 "never-used data dir: non-CA import refused"
diag "never-used data dir after a refused import: $( [ -e "$DN" ] && (cd "$DN" && find . -type f | sort | tr '\n' ' ') || echo 'nothing')"

vp "$D" audit verify
assert_rc 0 "audit verify after all the refusals"

it_done
