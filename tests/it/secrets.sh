#!/usr/bin/env bash
# Secrets stay secret: after a full session (init, issue of several profiles, PKCS#12 output,
# export --with-key, import with --remember, wrong passphrases, bad input), neither the CA
# passphrase nor any PKCS#12 password (right or wrong) nor the CA private key appears in any
# output, in the database or its WAL, or in any file vmspki wrote (except the remembered
# passphrase file); the stored key is PBES2/PBKDF2-HMAC-SHA256/AES-256-CBC with >= 600000
# iterations; keys, PKCS#12 files and the remembered passphrase are 0600.
. "$(dirname "$0")/lib.bash"
it_init

# The secrets live in files under $T/secret (never searched); everything vmspki writes goes
# to the data dirs or $O.
S="$T/secret"
O="$T/out"
mkdir -p "$S" "$O"
PASS='kP9vQ2mZ-known-CA-passphrase-fh3J'
P12='xT4nB8rL-known-p12-password-Wd6c'
WRONG='wR0ngAttempt-passphrase-Lm2Q8s'
WRONGP12='wR0ngAttempt-p12-password-Hy5T1v'
printf '%s\n' "$PASS" >"$S/pass"
printf '%s\n' "$P12" >"$S/p12"
printf '%s\n' "$WRONG" >"$S/wrong"
printf '%s\n' "$WRONGP12" >"$S/wrongp12"

A="$T/dd-a"   # passphrase given per command, never remembered
B="$T/dd-b"   # the exported CA imported with --remember
C="$T/dd-c"   # a refused import

# ---------------------------------------------------------------- the session
vp "$A" ca init --cn "Secrets Root" --passphrase-file "$S/pass"
assert_rc 0 "session: ca init (RSA 4096) with --passphrase-file"

# Keep one connection open on the store so that SQLite does not fold and delete the WAL when
# each vmspki run ends: the WAL then holds the frames the session wrote, to be searched too.
HOLD_PID=""
if [ -f "$A/vmspki.db" ]; then
	mkfifo "$T/hold.fifo"
	sqlite3 "$A/vmspki.db" <"$T/hold.fifo" >/dev/null 2>&1 &
	HOLD_PID=$!
	IT_BG_PIDS=$HOLD_PID
	exec 7>"$T/hold.fifo"
	echo "SELECT count(*) FROM key_value;" >&7
fi

mk_key rsa2048 "$S/csr.key"
mk_csr "$S/csr.key" api.secrets.example "$O/api.csr"
mk_key rsa1024 "$S/weak.key"
mk_csr "$S/weak.key" weak.secrets.example "$O/weak.csr"

export VMSPKI_PASSPHRASE="$PASS"
vp "$A" issue --profile server --csr "$O/api.csr" --dns api.secrets.example --out "$O/api.pem"
assert_rc 0 "session: issue server from a CSR (passphrase from the environment)"
unset VMSPKI_PASSPHRASE
vp "$A" issue --profile server --generate-key --dns rs1.secrets.example --dns rs1 --ip 10.0.0.103 \
    --p12 "$O/rs1.p12" --p12-passphrase-file "$S/p12" --passphrase-file "$S/pass"
assert_rc 0 "session: issue server --generate-key --p12"
vp "$A" issue --profile client --generate-key --cn operator1 --out "$O/op.pem" --key-out "$O/op.key" \
    --p12 "$O/op.p12" --p12-passphrase-file "$S/p12" --passphrase-file "$S/pass"
assert_rc 0 "session: issue client --generate-key --key-out --p12"
vp "$A" issue --profile device-https --generate-key --dns cam1.secrets.example --out "$O/cam1.pem" \
    --key-out "$O/cam1.key" --passphrase-file "$S/pass"
assert_rc 0 "session: issue device-https --generate-key --key-out"
vp "$A" issue --profile component-client --generate-key --cn recorder1 --out "$O/rec1.pem" \
    --key-out "$O/rec1.key" --passphrase-file "$S/pass"
assert_rc 0 "session: issue component-client --generate-key --key-out"
vp "$A" issue --profile component-server --generate-key --cn nats1 --dns nats1.secrets.example --json \
    --out "$O/nats1.pem" --key-out "$O/nats1.key" --passphrase-file "$S/pass"
assert_rc 0 "session: issue component-server --generate-key --json"

# wrong passphrases and bad input
vp "$A" issue --profile server --csr "$O/api.csr" --dns api.secrets.example --out "$O/wrong.pem" --passphrase-file "$S/wrong"
assert_rc 1 "session: wrong passphrase (file) refused"
export VMSPKI_PASSPHRASE="$WRONG"
vp "$A" issue --profile client --generate-key --cn x --p12 "$O/wrong.p12" --p12-passphrase-file "$S/p12"
assert_rc 1 "session: wrong passphrase (environment) refused"
vp "$A" ca export --with-key --out "$O/wrong-export.p12" --p12-passphrase-file "$S/p12"
assert_rc 1 "session: export --with-key with a wrong passphrase refused"
unset VMSPKI_PASSPHRASE
vp "$A" issue --profile server --csr "$O/weak.csr" --dns weak.secrets.example --out "$O/weak.pem" --passphrase-file "$S/pass"
assert_rc 1 "session: 1024-bit CSR refused"
vp "$A" issue --profile nosuch --csr "$O/api.csr" --out "$O/nosuch.pem" --passphrase-file "$S/pass"
if [ "$RC" = 1 ] || [ "$RC" = 2 ]; then ok "session: unknown profile refused (exit $RC)"; else not_ok "session: unknown profile refused (exit $RC)"; fi
vp "$A" issue --profile component-server --csr "$O/api.csr" --dns api.secrets.example --days 9000 --out "$O/long.pem" --passphrase-file "$S/pass"
assert_rc 1 "session: --days beyond the CA refused"

# export, show, list, audit
vp "$A" ca export --with-key --out "$O/ca-export.p12" --p12-passphrase-file "$S/p12" --passphrase-file "$S/pass"
assert_rc 0 "session: ca export --with-key"
vp "$A" ca export --out "$O/ca.pem"
assert_rc 0 "session: ca export"
vp "$A" ca show --json
assert_rc 0 "session: ca show --json"
vp "$A" cert list --json
assert_rc 0 "session: cert list --json"
vp "$A" audit list
assert_rc 0 "session: audit list"
vp "$A" audit verify
assert_rc 0 "session: audit verify"

# move the CA: import with --remember, then issue without giving the passphrase
vp "$B" ca import "$O/ca-export.p12" --p12-passphrase-file "$S/p12" --remember --passphrase-file "$S/pass"
assert_rc 0 "session: ca import --remember into a second data dir"
vp "$B" issue --profile client --generate-key --cn remembered --out "$O/rem.pem" --key-out "$O/rem.key"
assert_rc 0 "session: issue using the remembered passphrase"
vp "$B" issue --profile client --generate-key --cn wrong-over-remembered --out "$O/rem2.pem" --key-out "$O/rem2.key" --passphrase-file "$S/wrong"
assert_rc 1 "session: a wrong --passphrase-file is refused even with a remembered passphrase"
vp "$C" ca import "$O/ca-export.p12" --p12-passphrase-file "$S/wrongp12" --passphrase-file "$S/pass"
assert_rc 1 "session: ca import with a wrong PKCS#12 password refused"

# ---------------------------------------------------------------- the CA key, as material to look for
if openssl pkcs12 -in "$O/ca-export.p12" -nodes -nocerts -passin "file:$S/p12" 2>/dev/null |
    openssl pkey -out "$S/ca.key.pem" 2>/dev/null && [ -s "$S/ca.key.pem" ]; then
	ok "the exported CA key can be extracted (openssl pkcs12 -nodes)"
else
	not_ok "the exported CA key can be extracted (openssl pkcs12 -nodes)"
fi
# Two 40-character pieces of the PEM body (the second line, and one from the middle) and a
# 24-byte piece of the DER from its middle (the secret exponent's region), as hex.
KEYFRAG1=$(sed -n '2p' "$S/ca.key.pem" | cut -c1-40)
nl=$(grep -vc -- '-----' "$S/ca.key.pem" || true)
KEYFRAG2=$(grep -v -- '-----' "$S/ca.key.pem" | sed -n "$(( (nl + 1) / 2 ))p" | cut -c11-50)
openssl pkey -in "$S/ca.key.pem" -outform DER -out "$S/ca.key.der" 2>/dev/null
dsz=$(stat -c %s "$S/ca.key.der" 2>/dev/null || echo 0)
KEYHEX=$(od -An -tx1 -v -j $((dsz / 2)) -N 24 "$S/ca.key.der" 2>/dev/null | tr -d ' \n')
if [ ${#KEYFRAG1} -eq 40 ] && [ ${#KEYFRAG2} -eq 40 ] && [ ${#KEYHEX} -eq 48 ]; then
	ok "key fragments to look for: 2 x 40 base64 characters, 24 DER bytes"
else
	not_ok "key fragments to look for (got '${KEYFRAG1}' '${KEYFRAG2}' '${KEYHEX}')"
fi

# ---------------------------------------------------------------- where to look
# Every file in the three data dirs and in $O, the transcript of all stdout and stderr, and the
# WAL kept alive by the open connection.
list_files() { find "$A" "$B" "$C" "$O" -type f 2>/dev/null | sort; }
list_files >"$T/files"
echo "$VP_LOG" >>"$T/files"
diag "searching $(wc -l <"$T/files") files; WAL present: $( [ -f "$A/vmspki.db-wal" ] && echo "yes ($(stat -c %s "$A/vmspki.db-wal") bytes)" || echo no)"
assert_file "$A/vmspki.db" "the store of the session exists"
if [ -n "$HOLD_PID" ]; then
	if [ -s "$A/vmspki.db-wal" ]; then ok "the WAL of the session is there to be searched"; else not_ok "the WAL of the session is there to be searched"; fi
fi

# find_secret NAME STRING: no file (except the remembered passphrase) contains STRING.
find_secret() {
	local name=$1 s=$2 f hits=""
	while read -r f; do
		[ "$f" = "$B/ca.passphrase" ] && continue
		if grep -aqF -- "$s" "$f" 2>/dev/null; then hits="$hits ${f#"$T"/}"; fi
	done <"$T/files"
	if [ -z "$hits" ]; then ok "$name appears nowhere (outputs, stores, WAL, written files)"; else not_ok "$name found in:$hits"; fi
}
find_secret "the CA passphrase" "$PASS"
find_secret "the PKCS#12 password" "$P12"
find_secret "the wrong CA passphrase" "$WRONG"
find_secret "the wrong PKCS#12 password" "$WRONGP12"
find_secret "CA key PEM body piece 1" "$KEYFRAG1"
find_secret "CA key PEM body piece 2" "$KEYFRAG2"
# The DER piece: in hex dumps of the stores (db and WAL) of A and B.
hexhits=""
for f in "$A"/vmspki.db* "$B"/vmspki.db*; do
	[ -f "$f" ] || continue
	if od -An -tx1 -v "$f" | tr -d ' \n' | grep -qF "$KEYHEX"; then hexhits="$hexhits ${f#"$T"/}"; fi
done
if [ -z "$hexhits" ]; then ok "the CA key's DER bytes appear in no store file"; else not_ok "the CA key's DER bytes found in:$hexhits"; fi

# No unencrypted private key PEM in any store.
for f in "$A/vmspki.db" "$A/vmspki.db-wal" "$B/vmspki.db"; do
	[ -f "$f" ] || continue
	if grep -aqE -- '-----BEGIN (RSA |EC )?PRIVATE KEY-----' "$f"; then not_ok "no unencrypted private key PEM in ${f#"$T"/}"; else ok "no unencrypted private key PEM in ${f#"$T"/}"; fi
done

# ---------------------------------------------------------------- the remembered passphrase
assert_mode 600 "$B/ca.passphrase" "ca.passphrase is 0600"
if [ -f "$B/ca.passphrase" ] && grep -qxF -- "$PASS" "$B/ca.passphrase"; then ok "ca.passphrase holds the passphrase"; else not_ok "ca.passphrase holds the passphrase"; fi
assert_no_file "$A/ca.passphrase" "no ca.passphrase without --remember"
if grep -aqF -- "$PASS" "$B/vmspki.db" "$B"/vmspki.db-wal 2>/dev/null; then not_ok "remembered passphrase is not in the database"; else ok "remembered passphrase is not in the database"; fi

# ---------------------------------------------------------------- the stored CA key
keyname=$(sqlite3 "$A/vmspki.db" "SELECT key FROM key_value WHERE CAST(value AS TEXT) LIKE '%BEGIN ENCRYPTED PRIVATE KEY%';" 2>/dev/null | head -n 1)
if [ -n "$keyname" ]; then ok "key_value holds an ENCRYPTED PRIVATE KEY (key '$keyname')"; else not_ok "key_value holds an ENCRYPTED PRIVATE KEY"; fi
sqlite3 "$A/vmspki.db" "SELECT CAST(value AS TEXT) FROM key_value WHERE key = '$keyname';" >"$T/stored.pem" 2>/dev/null
openssl asn1parse -in "$T/stored.pem" >"$T/stored.asn1" 2>&1
assert_grep ':PBES2$' "$T/stored.asn1" "stored key: PBES2"
assert_grep ':PBKDF2$' "$T/stored.asn1" "stored key: PBKDF2"
assert_grep ':hmacWithSHA256$' "$T/stored.asn1" "stored key: PRF hmacWithSHA256"
assert_grep ':aes-256-cbc$' "$T/stored.asn1" "stored key: aes-256-cbc"
iter_hex=$(sed -n '/:PBKDF2$/,$p' "$T/stored.asn1" | grep -m1 'prim: INTEGER' | sed 's/.*://')
iter=$(( 16#${iter_hex:-0} ))
if [ "$iter" -ge 600000 ]; then ok "stored key: PBKDF2 iterations >= 600000 ($iter)"; else not_ok "stored key: PBKDF2 iterations >= 600000 (got $iter)"; fi
if openssl pkey -in "$T/stored.pem" -passin "file:$S/pass" -noout 2>/dev/null; then ok "stored key opens with the passphrase (openssl pkey)"; else not_ok "stored key opens with the passphrase (openssl pkey)"; fi
if openssl pkey -in "$T/stored.pem" -passin "file:$S/wrong" -noout 2>/dev/null; then not_ok "stored key does not open with a wrong passphrase"; else ok "stored key does not open with a wrong passphrase"; fi

# ---------------------------------------------------------------- modes
assert_mode 600 "$A/vmspki.db" "vmspki.db is 0600"
[ -f "$A/vmspki.db-wal" ] && assert_mode 600 "$A/vmspki.db-wal" "vmspki.db-wal is 0600"
nkeys=0
for f in "$O"/*.key "$O"/*.p12; do
	[ -e "$f" ] || continue
	nkeys=$((nkeys + 1))
	assert_mode 600 "$f" "$(basename "$f") is 0600"
done
if [ "$nkeys" -ge 7 ]; then ok "all key and PKCS#12 outputs were written ($nkeys)"; else not_ok "all key and PKCS#12 outputs were written (only $nkeys)"; fi
for f in wrong.pem wrong.p12 wrong-export.p12 weak.pem nosuch.pem long.pem rem2.pem rem2.key; do
	assert_no_file "$O/$f" "refused command wrote no $f"
done

if [ -n "$HOLD_PID" ]; then
	exec 7>&-
	wait "$HOLD_PID" 2>/dev/null
fi
it_done
