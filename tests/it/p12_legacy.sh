# PKCS#12 for older Windows (issue 19, item 6): --p12-legacy on `issue` and `ca export
# --with-key` writes 3DES bags and a SHA-1 MAC, which `openssl pkcs12 -legacy` opens, with a
# warning; without it the file stays AES-256 / SHA-256.
. "$(dirname "$0")/lib.bash"
it_init jq
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="p12 legacy test passphrase"
printf 'windows server 2016 pfx\n' >"$T/p12.pass"
vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"

vp "$D" issue --profile server --generate-key --cn rec2.site.lan --dns rec2.site.lan \
    --p12 "$T/legacy.pfx" --p12-passphrase-file "$T/p12.pass" --p12-legacy --json
assert_rc 0 "issue --p12-legacy"
jq -r .certificate "$VP_OUT" >"$T/issued.pem"
assert_grep "legacy PKCS#12" "$VP_ERR" "a warning says the file is the weaker legacy format"
openssl pkcs12 -legacy -in "$T/legacy.pfx" -passin file:"$T/p12.pass" -info -noout \
    >"$T/info" 2>&1
RC=$?; VP_ERR="$T/info"
assert_rc 0 "openssl pkcs12 -legacy opens it"
assert_grep "MAC: sha1" "$T/info" "its MAC is SHA-1"
assert_grep "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC" "$T/info" "its key bag is 3DES"
assert_grep "PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC" "$T/info" "its certificates are 3DES"
assert_no_grep "AES|PBES2" "$T/info" "nothing in it needs AES or PBKDF2"
openssl pkcs12 -legacy -in "$T/legacy.pfx" -passin file:"$T/p12.pass" -nodes -out "$T/all.pem" 2>/dev/null
openssl x509 -in "$T/all.pem" -out "$T/leaf.pem" 2>/dev/null
is "$(fp "$T/leaf.pem")" "$(fp "$T/issued.pem")" "it holds the issued certificate"
is "$(openssl pkey -in "$T/all.pem" -pubout 2>/dev/null)" "$(pubkey_of_cert "$T/issued.pem")" "... and its key"
check "... and the CA" grep -q "$(openssl x509 -in "$D/certs/ca.cert.pem" -noout -subject | sed 's/^subject=//; s/.*CN *= *//')" "$T/all.pem"

vp "$D" issue --profile server --generate-key --cn rec3.site.lan --dns rec3.site.lan \
    --p12 "$T/modern.pfx" --p12-passphrase-file "$T/p12.pass"
openssl pkcs12 -in "$T/modern.pfx" -passin file:"$T/p12.pass" -info -noout >"$T/info2" 2>&1
assert_grep "MAC: sha256" "$T/info2" "without --p12-legacy: a SHA-256 MAC"
assert_grep "AES-256-CBC" "$T/info2" "... and AES-256"
vp "$D" issue --profile server --generate-key --cn rec4.site.lan --dns rec4.site.lan \
    --out "$T/x.pem" --key-out "$T/x.key" --p12-legacy
assert_rc 2 "--p12-legacy without --p12 is a usage error"

vp "$D" ca export --with-key --out "$T/ca-legacy.p12" --p12-passphrase-file "$T/p12.pass" --p12-legacy
assert_rc 0 "ca export --with-key --p12-legacy"
assert_grep "legacy PKCS#12" "$VP_ERR" "... with the warning"
assert_mode 600 "$T/ca-legacy.p12" "the CA's legacy PKCS#12 is 0600"
openssl pkcs12 -legacy -in "$T/ca-legacy.p12" -passin file:"$T/p12.pass" -info -noout >"$T/info3" 2>&1
RC=$?; VP_ERR="$T/info3"
assert_rc 0 "openssl pkcs12 -legacy opens the CA's"
assert_grep "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC" "$T/info3" "its key bag is 3DES"
vp "$D" ca export --out "$T/ca.pem" --p12-legacy
assert_rc 2 "--p12-legacy without --with-key is a usage error"
it_done
