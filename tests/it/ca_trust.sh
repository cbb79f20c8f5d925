# The site CA in the host's trust store (issue 19, item 9): `ca trust install|remove` with
# Debian's update-ca-certificates, run against a system image under --root DIR (so that the
# test works as root or not and leaves the host's own store as it was); what openssl trusts
# through that store's bundle and hashed directory before, after install and after remove.
. "$(dirname "$0")/lib.bash"
it_init jq update-ca-certificates
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
R="$T/root"
export VMSPKI_PASSPHRASE="ca trust test passphrase"
mkdir -p "$R/etc/ssl/certs" "$R/usr/local/share/ca-certificates" "$R/usr/share/ca-certificates"
# The image has one CA of its own, as a real system has Mozilla's: its bundle is rebuilt
# (update-ca-certificates leaves the old bundle in place when nothing at all is trusted).
mkdir -p "$R/usr/share/ca-certificates/other"
mk_root "$T/other" ec-p256 "Some Other Root" 3650
cp "$T/other.pem" "$R/usr/share/ca-certificates/other/other-root.crt"
echo "other/other-root.crt" >"$R/etc/ca-certificates.conf"
vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"
vp "$D" issue --profile server --generate-key --cn host.site.lan --dns host.site.lan \
    --out "$T/leaf.pem" --key-out "$T/leaf.key"
trusted() { openssl verify -CAfile "$R/etc/ssl/certs/ca-certificates.crt" "$T/leaf.pem" >/dev/null 2>&1 &&
    openssl verify -CApath "$R/etc/ssl/certs" "$T/leaf.pem" >/dev/null 2>&1; }
FP16=$(openssl x509 -in "$D/certs/ca.cert.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f' | cut -c1-16)
F="$R/usr/local/share/ca-certificates/vmspki-$FP16.crt"

check_not "before: the image's store does not trust the site" trusted
vp "$D" ca trust install --root "$R"
assert_rc 0 "ca trust install --root DIR"
assert_file "$F" "the CA is written as vmspki-<fingerprint>.crt in usr/local/share/ca-certificates"
assert_mode 644 "$F" "... readable by all (0644)"
is "$(fp "$F")" "$(fp "$D/certs/ca.cert.pem")" "... and it is the site CA"
check "update-ca-certificates ran: the bundle and the hashed directory trust the site" trusted
vp "$D" ca trust install --root "$R"
assert_rc 0 "installing again is fine"
assert_grep "already there" "$VP_ERR" "... and says it was there already"

vp "$D" ca trust remove --root "$R"
assert_rc 0 "ca trust remove --root DIR"
assert_no_file "$F" "the file is gone"
check_not "the bundle and the hashed directory no longer trust the site" trusted
check "no link is left pointing at it" test -z "$(find "$R/etc/ssl/certs" -lname "*vmspki-$FP16*")"
check "the image's own CA is still trusted" grep -q "$(sed -n 2p "$T/other.pem")" "$R/etc/ssl/certs/ca-certificates.crt"
vp "$D" ca trust remove --root "$R"
assert_rc 0 "removing again is fine (nothing to remove)"

vp "$D" ca trust install --root relative/dir
assert_rc 2 "--root takes an absolute directory"
vp "$D" ca trust
assert_rc 2 "ca trust without install or remove is a usage error"
if [ "$(id -u)" != 0 ]; then
	vp "$D" ca trust install
	assert_rc 1 "not root: installing into the system's store is refused"
	assert_grep "needs root" "$VP_ERR" "... saying it needs root"
else
	diag "running as root: the host's own trust store is not touched (--root covers the same steps)"
fi
it_done
