# Certificates made with `vmspki issue` for holders vmspki cannot reach (issue 19, item 4:
# XProtect's recording servers): one with an owner, or --watch, raises one expiry alarm from
# the nightly job (under faketime), and `cert renew SERIAL` gives a new one with the same
# profile, subject, names and owner, which moves the alarm to it.
. "$(dirname "$0")/lib.bash"
it_init jq faketime
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="issued watch test passphrase"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export FAKETIME_DONT_FAKE_MONOTONIC=1
vpat() { local d=$1; shift; VMSPKI_SAVED=$VMSPKI; VMSPKI="$T/vmspki-at"; printf '#!/bin/sh\nexec faketime -f "+%sd" "%s" "$@"\n' "$d" "$VMSPKI_SAVED" >"$VMSPKI"; chmod +x "$VMSPKI"; vp "$@"; VMSPKI=$VMSPKI_SAVED; }
alarms() { vpat "$1" "$D" alarm list --all --json; cp "$VP_OUT" "$T/alarms.json"; }
alarm_count() { jq --arg k "$1" --arg s "$2" --arg st "${3:-raised}" '[.[] | select(.kind == $k and .subject == $s and .state == $st)] | length' "$T/alarms.json"; }
san_of() { openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' '; }
printf 'recording server pfx password\n' >"$T/p12.pass"

vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"

# ---- a recording server's certificate with an owner, one --watch'ed, one neither
vp "$D" issue --profile server --generate-key --cn rec1.site.lan --dns rec1.site.lan \
    --dns rec1 --ip 10.0.0.21 --days 100 --owner recording-server:rec1 \
    --p12 "$T/rec1.pfx" --p12-passphrase-file "$T/p12.pass" --json
assert_rc 0 "the recording server's certificate is issued with an owner"
S1=$(jq -r .serial "$VP_OUT")
jq -r .certificate "$VP_OUT" >"$T/rec1.pem"
vp "$D" issue --profile client --generate-key --cn operator1 --days 200 --watch \
    --out "$T/op.pem" --key-out "$T/op.key" --json
assert_rc 0 "a client certificate is issued with --watch"
S2=$(jq -r .serial "$VP_OUT")
is "$(jq -r .owner_id "$VP_OUT")" "$S2" "--watch alone makes the certificate its own owner (watch:SERIAL)"
vp "$D" issue --profile server --generate-key --cn nas.site.lan --dns nas.site.lan --days 50 \
    --out "$T/nas.pem" --key-out "$T/nas.key"
assert_rc 0 "a certificate with neither is issued"

# ---- 80 days on: the recording server's has 20 days left
vpat 80 "$D" lifecycle run --json
assert_rc 0 "lifecycle run at +80 days"
is "$(jq .certificates_watched "$VP_OUT")" 2 "two issued certificates are watched"
vpat 80 "$D" lifecycle run --json
alarms 80
is "$(alarm_count certificate-expiring cert:recording-server:rec1)" 1 \
    "the recording server's certificate raised one alarm (two runs)"
assert_grep "$S1" <(jq -r '.[] | select(.subject == "cert:recording-server:rec1") | .message' "$T/alarms.json") \
    "... naming its serial"
is "$(jq '[.[] | select(.subject | startswith("cert:")) | select(.state == "raised")] | length' "$T/alarms.json")" 1 \
    "the unwatched certificate (ended at +50) raised none, the watched one (200 days) not yet"

# ---- cert renew: the same profile, subject, names and owner
vp "$D" cert renew "$S1" --generate-key --p12 "$T/rec1b.pfx" --p12-passphrase-file "$T/p12.pass" --json
assert_rc 0 "cert renew makes a successor with a key made here"
S1B=$(jq -r .serial "$VP_OUT")
jq -r .certificate "$VP_OUT" >"$T/rec1b.pem"
check "the successor has a new serial" test "$S1B" != "$S1"
vp "$D" cert show "$S1" --json
cp "$VP_OUT" "$T/old.json"
vp "$D" cert show "$S1B" --json
for f in profile subject sans owner_kind owner_id; do
	is "$(jq -r ".$f" "$VP_OUT")" "$(jq -r ".$f" "$T/old.json")" "the successor keeps the $f"
done
is "$(san_of "$T/rec1b.pem")" "$(san_of "$T/rec1.pem")" "openssl reads the same names in both"
check "the successor's key is a new one" test "$(pubkey_of_cert "$T/rec1b.pem")" != "$(pubkey_of_cert "$T/rec1.pem")"
openssl pkcs12 -in "$T/rec1b.pfx" -passin file:"$T/p12.pass" -nokeys -clcerts 2>/dev/null |
    openssl x509 -out "$T/from-pfx.pem" 2>/dev/null
is "$(fp "$T/from-pfx.pem")" "$(fp "$T/rec1b.pem")" "the new PKCS#12 holds the successor"
vpat 80 "$D" lifecycle run --json
alarms 80
is "$(alarm_count certificate-expiring cert:recording-server:rec1)" 0 "the renewal clears the owner's alarm"

# ---- renewal from the holder's CSR (its own names are ignored) and --watch alarms
mk_key rsa2048 "$T/op2.key"
openssl req -new -key "$T/op2.key" -subj "/CN=somebody-else" -out "$T/op2.csr" 2>/dev/null
vp "$D" cert renew "$S2" --csr "$T/op2.csr" --out "$T/op2.pem" --json
assert_rc 0 "cert renew takes the holder's CSR"
is "$(jq -r .owner_id "$VP_OUT")" "$S2" "the successor keeps the watch owner"
is "$(openssl x509 -in "$T/op2.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')" "CN=operator1" \
    "the subject is the old one, not the CSR's"
is "$(pubkey_of_cert "$T/op2.pem")" "$(pubkey_of_key "$T/op2.key")" "... for the CSR's key"
vpat 600 "$D" lifecycle run --json
alarms 600
is "$(alarm_count certificate-expired "cert:watch:$S2")" 1 "the watched line of certificates raises its alarm once it ends"

# ---- what cert renew refuses
vp "$D" cert renew "$S1" --generate-key --csr "$T/op2.csr"
assert_rc 2 "--csr and --generate-key together are a usage error"
vp "$D" cert renew 0123abcd --generate-key --out "$T/x.pem" --key-out "$T/x.key"
assert_rc 1 "an unknown serial is refused"
it_done
