#!/usr/bin/env bash
# Interoperability: every profile, issued by vmspki from an RSA-4096 root, an EC P-384 root and
# an imported intermediate, is accepted by three independent verifiers (OpenSSL, GnuTLS, NSS)
# that trust only the root; the extensions are what the profile says; the XProtect
# recording-server .pfx flow works; CA export in every format parses and a --with-key PKCS#12
# moves the CA to a fresh data directory.
. "$(dirname "$0")/lib.bash"
it_init

PASSF="$T/ca-pass"
P12PW="$T/p12-pass"
printf 'interop-CA-passphrase-4711\n' >"$PASSF"
printf 'interop-p12-password-0815\n' >"$P12PW"
export VMSPKI_PASSPHRASE='interop-CA-passphrase-4711'

PROFILES=(server client device-https device-8021x component-server component-client)
declare -A KIND=([server]=server [client]=client [device-https]=server [device-8021x]=client
	[component-server]=server [component-client]=client)
declare -A EKU_TEXT=([server]="TLS Web Server Authentication" [client]="TLS Web Client Authentication")

# Subject keys of the CSRs (re-used for every CA: only the CN and SANs differ).
mk_key rsa2048 "$T/csr-rsa.key"
mk_key ec-p256 "$T/csr-ec.key"

# The names a certificate of profile P for tag G asks for, as vmspki options (ARGS), and what
# the certificate must then hold: CN and the SAN set (openssl -text spelling, sorted).
# Server profiles name the host with --dns/--ip; client profiles with --cn.
set_request() {
	local p=$1 g=$2
	case $p in
	server)
		ARGS=(--dns "api-$g.site.example" --dns "api-$g" --ip 10.0.0.5)
		CN="api-$g.site.example"
		SANS="DNS:api-$g, DNS:api-$g.site.example, IP Address:10.0.0.5" ;;
	client)
		ARGS=(--cn "operator-$g")
		CN="operator-$g"
		SANS="" ;;
	device-https)
		ARGS=(--dns "cam-$g.site.example" --ip 10.1.2.3)
		CN="cam-$g.site.example"
		SANS="DNS:cam-$g.site.example, IP Address:10.1.2.3" ;;
	device-8021x)
		ARGS=(--cn "ACCC8E-$g")
		CN="ACCC8E-$g"
		SANS="" ;;
	component-server)
		ARGS=(--cn "nats-$g" --dns "nats-$g.site.example" --dns localhost --ip 127.0.0.1 --ip ::1)
		CN="nats-$g"
		SANS="DNS:localhost, DNS:nats-$g.site.example, IP Address:0:0:0:0:0:0:0:1, IP Address:127.0.0.1" ;;
	component-client)
		# The profile adds the email SAN <id>.component@natsbroker.localhost itself.
		ARGS=(--cn "recorder-$g")
		CN="recorder-$g"
		SANS="email:recorder-$g.component@natsbroker.localhost" ;;
	esac
}


# check_ca_cert DESC CERT: the root/intermediate extensions the design requires of our CA.
check_ca_cert() {
	local d=$1 c=$2
	if ! parse_cert "$c"; then
		not_ok "$d: openssl reads the CA certificate"
		return
	fi
	local bc=${C_EXT[Basic Constraints]:-} ku=${C_EXT[Key Usage]:-}
	if [ -n "${C_CRIT[Basic Constraints]:-}" ] && [ "$bc" = "CA:TRUE" ]; then
		ok "$d: basicConstraints CA:TRUE, critical"
	else
		not_ok "$d: basicConstraints CA:TRUE, critical (got '$bc'${C_CRIT[Basic Constraints]:+, critical})"
	fi
	if [ -n "${C_CRIT[Key Usage]:-}" ] && [ "$ku" = "Certificate Sign, CRL Sign" ]; then
		ok "$d: keyUsage keyCertSign, cRLSign, critical"
	else
		not_ok "$d: keyUsage keyCertSign, cRLSign, critical (got '$ku'${C_CRIT[Key Usage]:+, critical})"
	fi
	if [ -n "${C_EXT[Subject Key Identifier]:-}" ]; then
		ok "$d: has a subjectKeyIdentifier"
	else
		not_ok "$d: has a subjectKeyIdentifier"
	fi
}

# sort_sans "DNS:b, DNS:a": the names sorted, ", "-separated.
sort_sans() {
	local IFS=$'\n' x out=""
	[ -n "$1" ] || return 0
	for x in $(printf '%s\n' "${1//, /$'\n'}" | sort); do out="${out:+$out, }$x"; done
	printf '%s' "$out"
}
sorted_sans() { parse_cert "$1" && sort_sans "${C_EXT[Subject Alternative Name]:-}"; }

# check_leaf DESC LEAF ISSUER PROFILE CN SANS STDERR: extensions and names of an issued leaf.
check_leaf() {
	local d=$1 leaf=$2 issuer=$3 p=$4 cn=$5 sans=$6 err=$7 kind=${KIND[$4]}
	local ski ca_na aki eku bc ku si
	parse_cert "$issuer"
	ski=${C_EXT[Subject Key Identifier]:-} ca_na=$C_NA
	if ! parse_cert "$leaf"; then
		not_ok "$d: the output is a certificate openssl can read"
		return 1
	fi
	aki=${C_EXT[Authority Key Identifier]:-}
	aki=${aki#keyid:}
	if [ -n "$aki" ] && [ "$aki" = "$ski" ]; then
		ok "$d: authorityKeyIdentifier = the issuer's SKI"
	else
		not_ok "$d: authorityKeyIdentifier = the issuer's SKI (AKI '$aki', SKI '$ski')"
	fi
	if [ -n "${C_EXT[Subject Key Identifier]:-}" ]; then
		ok "$d: has a subjectKeyIdentifier"
	else
		not_ok "$d: has a subjectKeyIdentifier"
	fi
	eku=${C_EXT[Extended Key Usage]:-}
	assert_eq "${EKU_TEXT[$kind]}" "$eku" "$d: extendedKeyUsage is exactly ${kind}Auth"
	bc=${C_EXT[Basic Constraints]-none} ku=${C_EXT[Key Usage]:-}
	if [ "$bc" != none ] && [ "$bc" != "CA:FALSE" ]; then
		not_ok "$d: not a CA (basicConstraints '$bc')"
	elif [[ $ku == *"Certificate Sign"* ]]; then
		not_ok "$d: not a CA (keyUsage '$ku')"
	else
		ok "$d: not a CA (no CA:TRUE, no keyCertSign)"
	fi
	assert_eq "$sans" "$(sort_sans "${C_EXT[Subject Alternative Name]:-}")" "$d: subjectAltName as requested"
	assert_eq "CN = $cn" "$C_SUBJECT" "$d: subject CN"
	local na=$C_NA nb=$C_NB
	si=$(serial_info "$leaf")
	if [ "${si% *}" -ge 1 ] 2>/dev/null && [ "${si% *}" -le 20 ] && [ "${si#* }" = positive ]; then
		ok "$d: serial is positive and at most 20 bytes ($si)"
	else
		not_ok "$d: serial is positive and at most 20 bytes (got '$si')"
	fi
	if [ "$na" -le "$ca_na" ]; then
		ok "$d: notAfter within the CA's notAfter"
	else
		not_ok "$d: notAfter within the CA's notAfter ($na > $ca_na)"
	fi
	local days=$(( (na - nb) / 86400 ))
	case $p in
	server) if [ "$days" -le 825 ]; then ok "$d: validity <= 825 days ($days)"; else not_ok "$d: validity <= 825 days ($days)"; fi ;;
	device-https) if [ "$days" -ge 364 ] && [ "$days" -le 366 ]; then ok "$d: default validity 365 days ($days)"; else not_ok "$d: default validity 365 days (got $days)"; fi ;;
	component-server | component-client)
		# 10 years from now ends after a 10-year CA made minutes ago: clamped, and said so.
		assert_eq "$ca_na" "$na" "$d: 10-year default clamped to the CA's notAfter"
		if grep -qi clamp "$err"; then ok "$d: stderr says the validity was clamped"; else not_ok "$d: stderr says the validity was clamped"; diag_file "$err"; fi ;;
	esac
	return 0
}

# issue_all TAG DATADIR ROOT [INTERMEDIATE]: every profile from an RSA CSR, an EC CSR and a
# generated key; each certificate checked and verified against ROOT (with INTERMEDIATE).
issue_all() {
	local tag=$1 dd=$2 root=$3 inter=${4:-} issuer p src g out csr
	issuer=${inter:-$root}
	for p in "${PROFILES[@]}"; do
		for src in rsa ec gen; do
			g="$tag-$src"
			set_request "$p" "$g"
			out="$T/$tag.$p.$src.pem"
			if [ "$src" = gen ]; then
				vp "$dd" issue --profile "$p" --generate-key "${ARGS[@]}" --out "$out" \
				    --key-out "$T/$tag.$p.$src.key"
			else
				csr="$T/$tag.$p.$src.csr"
				# The CSR asks for CA:TRUE, keyCertSign and a SAN of its own: a server
				# profile given --dns/--ip must ignore them all.
				openssl req -new -key "$T/csr-$src.key" -subj "/CN=$CN" \
				    -addext "basicConstraints=critical,CA:TRUE" \
				    -addext "keyUsage=critical,keyCertSign,digitalSignature" \
				    ${SANS:+-addext "subjectAltName=DNS:csr-requested.invalid"} \
				    -out "$csr" 2>/dev/null
				# Client profiles: the CN comes from the CSR, so drop --cn.
				local a=("${ARGS[@]}")
				[ "${a[0]}" = --cn ] && a=("${a[@]:2}")
				vp "$dd" issue --profile "$p" --csr "$csr" "${a[@]}" --out "$out"
			fi
			local d="$tag $p ($src)"
			assert_rc 0 "$d: issued"
			[ "$RC" = 0 ] || continue
			local leaf="$T/$tag.$p.$src.leaf.pem"
			first_cert "$out" "$leaf"
			check_leaf "$d" "$leaf" "$issuer" "$p" "$CN" "$SANS" "$VP_ERR" || continue
			if [ "$src" = gen ]; then
				if [ -n "$(pubkey_of_cert "$leaf")" ] &&
				    [ "$(pubkey_of_key "$T/$tag.$p.$src.key")" = "$(pubkey_of_cert "$leaf")" ]; then
					ok "$d: --key-out holds the certificate's key"
				else
					not_ok "$d: --key-out holds the certificate's key"
				fi
			fi
			local host=""
			if [ "${KIND[$p]}" = server ]; then   # the first DNS name (C_EXT is still the leaf's)
				host=${C_EXT[Subject Alternative Name]:-}
				host=${host%%,*}
				[[ $host == DNS:* ]] && host=${host#DNS:} || host=""
			fi
			verify_all "$d" "$root" "$leaf" "${KIND[$p]}" "$inter" "$host"
			if [ "${KIND[$p]}" = server ]; then
				check_not "$d: openssl refuses it for -purpose sslclient (serverAuth only)" \
				    verify_openssl "$root" "$leaf" sslclient "$inter"
			else
				check_not "$d: openssl refuses it for -purpose sslserver (clientAuth only)" \
				    verify_openssl "$root" "$leaf" sslserver "$inter"
			fi
		done
	done
}

# check_exports TAG DATADIR NCERTS: ca export in PEM (file and stdout), DER and PKCS#7, each
# holding the CA certificate (PEM/P7B: NCERTS certificates with the chain).
check_exports() {
	local tag=$1 dd=$2 n=$3 cafp
	cafp=$(fp "$dd/certs/ca.cert.pem")
	vp "$dd" ca export --format pem --out "$T/$tag.export.pem"
	assert_rc 0 "$tag: ca export --format pem"
	assert_eq "$cafp" "$(fp "$T/$tag.export.pem")" "$tag: exported PEM is the CA certificate"
	assert_eq "$n" "$(count_pem_certs "$T/$tag.export.pem")" "$tag: exported PEM holds $n certificate(s)"
	vp "$dd" ca export
	assert_rc 0 "$tag: ca export to stdout"
	assert_eq "$cafp" "$(fp "$VP_OUT")" "$tag: ca export on stdout is the CA certificate (PEM)"
	vp "$dd" ca export --format der --out "$T/$tag.export.der"
	assert_rc 0 "$tag: ca export --format der"
	assert_eq "$cafp" "$(fp "$T/$tag.export.der" DER)" "$tag: exported DER parses (openssl x509 -inform DER) as the CA"
	vp "$dd" ca export --format p7b --out "$T/$tag.export.p7b"
	assert_rc 0 "$tag: ca export --format p7b"
	if openssl pkcs7 -inform DER -in "$T/$tag.export.p7b" -print_certs -out "$T/$tag.p7b.pem" 2>/dev/null ||
	    openssl pkcs7 -inform PEM -in "$T/$tag.export.p7b" -print_certs -out "$T/$tag.p7b.pem" 2>/dev/null; then
		ok "$tag: exported P7B parses (openssl pkcs7 -print_certs)"
	else
		not_ok "$tag: exported P7B parses (openssl pkcs7 -print_certs)"
	fi
	assert_eq "$n" "$(count_pem_certs "$T/$tag.p7b.pem")" "$tag: P7B holds $n certificate(s)"
	assert_eq "$cafp" "$(fp "$T/$tag.p7b.pem")" "$tag: P7B's first certificate is the CA"
}

# check_p12_export TAG DATADIR: export --with-key, inspect it with openssl, re-import it into a
# fresh data directory and compare the CA fingerprint.
check_p12_export() {
	local tag=$1 dd=$2 p12="$T/$1.ca-export.p12" info="$T/$1.p12info"
	vp "$dd" ca export --with-key --out "$p12" --p12-passphrase-file "$P12PW"
	assert_rc 0 "$tag: ca export --with-key"
	if openssl pkcs12 -info -in "$p12" -passin "file:$P12PW" -nodes -out "$T/$tag.p12.pem" 2>"$info"; then
		ok "$tag: openssl pkcs12 -info opens the exported PKCS#12"
	else
		not_ok "$tag: openssl pkcs12 -info opens the exported PKCS#12"
		diag_file "$info"
	fi
	assert_grep 'Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC' "$info" "$tag: key bag is PBES2/PBKDF2/AES-256-CBC"
	assert_grep 'PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC' "$info" "$tag: certificate bag is PBES2/PBKDF2/AES-256-CBC"
	assert_grep '^MAC: sha256' "$info" "$tag: MAC is SHA-256"
	if [ -n "$(pubkey_of_cert "$T/$tag.p12.pem")" ] &&
	    [ "$(pubkey_of_key "$T/$tag.p12.pem")" = "$(pubkey_of_cert "$T/$tag.p12.pem")" ]; then
		ok "$tag: the exported key matches the exported CA certificate"
	else
		not_ok "$tag: the exported key matches the exported CA certificate"
	fi
	vp "$T/$tag.reimport" ca import "$p12" --p12-passphrase-file "$P12PW" --passphrase-file "$PASSF"
	assert_rc 0 "$tag: ca import of the exported PKCS#12 into a fresh data dir"
	assert_eq "$(fp "$dd/certs/ca.cert.pem")" "$(fp "$T/$tag.reimport/certs/ca.cert.pem")" \
	    "$tag: re-imported CA has the same fingerprint"
}

# ca show prints the fingerprint (any spelling: colons or not, any case).
check_show() {
	local tag=$1 dd=$2 cafp
	cafp=$(fp "$dd/certs/ca.cert.pem")
	vp "$dd" ca show
	assert_rc 0 "$tag: ca show"
	if tr -d ':' <"$VP_OUT" | tr 'A-F' 'a-f' | grep -q "$cafp"; then ok "$tag: ca show prints the SHA-256 fingerprint"; else not_ok "$tag: ca show prints the SHA-256 fingerprint"; diag_file "$VP_OUT"; fi
	vp "$dd" ca show --json
	assert_rc 0 "$tag: ca show --json"
	if tr -d ':' <"$VP_OUT" | tr 'A-F' 'a-f' | grep -q "$cafp"; then ok "$tag: ca show --json has the fingerprint"; else not_ok "$tag: ca show --json has the fingerprint"; diag_file "$VP_OUT"; fi
}

# ================================================================ RSA-4096 root (the default)
D1="$T/rsa4096"
vp "$D1" ca init --cn "IT RSA Root" --passphrase-file "$PASSF"
assert_rc 0 "rsa4096: ca init (default key) with --passphrase-file"
CA1="$D1/certs/ca.cert.pem"
assert_file "$CA1" "rsa4096: certs/ca.cert.pem written"
check_ca_cert "rsa4096 root" "$CA1"
assert_grep 'Public-Key: \(4096 bit\)' <(cert_text "$CA1") "rsa4096 root: the default key is RSA 4096"
assert_eq "CN = IT RSA Root" "$(openssl x509 -in "$CA1" -noout -subject -nameopt oneline | sed 's/^subject=//')" "rsa4096 root: CN from --cn"
ca_days=$(( ($(not_after "$CA1") - $(not_before "$CA1")) / 86400 ))
if [ "$ca_days" -ge 3650 ] && [ "$ca_days" -le 3653 ]; then ok "rsa4096 root: 10 years ($ca_days days)"; else not_ok "rsa4096 root: 10 years (got $ca_days days)"; fi
check "rsa4096 root: self-signed, verifies against itself (openssl -x509_strict)" \
    openssl verify -x509_strict -CAfile "$CA1" "$CA1"
check_show rsa4096 "$D1"
issue_all rsa4096 "$D1" "$CA1"

# The XProtect recording-server flow: key made here, several names, a password-protected .pfx.
vp "$D1" issue --profile server --generate-key --dns rs1.example.local --dns rs1 --ip 10.0.0.103 \
    --p12 "$T/rs1.pfx" --p12-passphrase-file "$P12PW"
assert_rc 0 "xprotect: issue --profile server --generate-key ... --p12 rs1.pfx"
if openssl pkcs12 -in "$T/rs1.pfx" -nodes -passin "file:$P12PW" -out "$T/rs1.all.pem" 2>"$T/rs1.err"; then
	ok "xprotect: openssl pkcs12 opens rs1.pfx with the password"
else
	not_ok "xprotect: openssl pkcs12 opens rs1.pfx with the password"
	diag_file "$T/rs1.err"
fi
# The leaf is the certificate whose key is in the file (the CA may come with it).
openssl pkey -in "$T/rs1.all.pem" -out "$T/rs1.key" 2>/dev/null
rs1=""
for c in $(split_pem "$T/rs1.all.pem" "$T/rs1.cert"); do
	if [ -n "$(pubkey_of_key "$T/rs1.key")" ] && [ "$(pubkey_of_cert "$c")" = "$(pubkey_of_key "$T/rs1.key")" ]; then rs1=$c; fi
done
if [ -n "$rs1" ]; then ok "xprotect: rs1.pfx holds a key and the certificate that matches it"; else not_ok "xprotect: rs1.pfx holds a key and the certificate that matches it"; rs1="$T/rs1.cert.1.pem"; fi
diag "rs1.pfx holds $(count_pem_certs "$T/rs1.all.pem") certificate(s)"
assert_eq "CN = rs1.example.local" "$(openssl x509 -in "$rs1" -noout -subject -nameopt oneline 2>/dev/null | sed 's/^subject=//')" \
    "xprotect: CN is the first DNS name"
assert_eq "TLS Web Server Authentication" "$(ext_value "$rs1" "X509v3 Extended Key Usage")" "xprotect: EKU is serverAuth only"
assert_eq "DNS:rs1, DNS:rs1.example.local, IP Address:10.0.0.103" "$(sorted_sans "$rs1")" "xprotect: SANs are the two DNS names and the IP"
verify_all "xprotect rs1" "$CA1" "$rs1" server "" rs1.example.local
if openssl pkcs12 -in "$T/rs1.pfx" -info -noout -passin "file:$P12PW" 2>&1 | grep -q 'AES-256-CBC'; then
	diag "rs1.pfx is encrypted with AES-256-CBC"
else
	diag "rs1.pfx is not AES-256-CBC (older Windows may need that; not a failure)"
fi

# cert show / cert list find an issued certificate by the serial openssl prints.
leaf="$T/rsa4096.server.rsa.leaf.pem"
if [ -s "$leaf" ]; then
	serial=$(openssl x509 -in "$leaf" -noout -serial | sed 's/^serial=//')
	vp "$D1" cert show "$serial" --pem
	assert_rc 0 "cert show SERIAL --pem (serial as openssl prints it)"
	assert_eq "$(fp "$leaf")" "$(fp "$VP_OUT")" "cert show --pem gives the issued certificate"
	vp "$D1" cert show "$(tr 'A-F' 'a-f' <<<"$serial")" --json
	assert_rc 0 "cert show SERIAL --json (lowercase serial)"
	vp "$D1" cert list --json
	assert_rc 0 "cert list --json"
	if grep -qi "$(sed 's/^0*//' <<<"$serial")" "$VP_OUT"; then ok "cert list --json includes the serial"; else not_ok "cert list --json includes the serial"; fi
	vp "$D1" cert list
	assert_rc 0 "cert list"
	vp "$D1" cert list --expiring-within 30 --json
	assert_rc 0 "cert list --expiring-within 30 --json"
	if grep -qi "$(sed 's/^0*//' <<<"$serial")" "$VP_OUT"; then not_ok "cert list --expiring-within 30 leaves out a 825-day certificate"; else ok "cert list --expiring-within 30 leaves out a 825-day certificate"; fi
fi
check_exports rsa4096 "$D1" 1
check_p12_export rsa4096 "$D1"
vp "$D1" audit verify
assert_rc 0 "rsa4096: audit verify"
vp "$D1" audit list
assert_rc 0 "rsa4096: audit list"

# ================================================================ EC P-384 root
D2="$T/p384"
vp "$D2" ca init --key ec-p384 --cn "IT P-384 Root"
assert_rc 0 "p384: ca init --key ec-p384 (passphrase from the environment)"
CA2="$D2/certs/ca.cert.pem"
check_ca_cert "p384 root" "$CA2"
assert_grep 'ASN1 OID: secp384r1' <(cert_text "$CA2") "p384 root: the key is EC P-384"
issue_all p384 "$D2" "$CA2"

# ================================================================ clamping on a short-lived CA
D3="$T/short"
vp "$D3" ca init --key ec-p256 --cn "IT Short Root" --days 400
assert_rc 0 "short: ca init --key ec-p256 --days 400"
CA3="$D3/certs/ca.cert.pem"
vp "$D3" issue --profile server --generate-key --dns short.example --out "$T/short.server.pem" --key-out "$T/short.server.key"
assert_rc 0 "short: server with the 825-day default on a 400-day CA is issued"
assert_eq "$(not_after "$CA3")" "$(not_after "$T/short.server.pem" 2>/dev/null)" "short: server notAfter clamped to the CA's"
assert_stderr clamp "short: stderr says the server certificate was clamped"
vp "$D3" issue --profile device-https --generate-key --dns cam.example --days 100 --out "$T/short.dev.pem" --key-out "$T/short.dev.key"
assert_rc 0 "short: device-https --days 100"
vp_days=$(( ($(not_after "$T/short.dev.pem") - $(not_before "$T/short.dev.pem")) / 86400 ))
if [ "$vp_days" -ge 99 ] && [ "$vp_days" -le 101 ]; then ok "short: --days 100 gives 100 days ($vp_days)"; else not_ok "short: --days 100 gives 100 days (got $vp_days)"; fi
if grep -qi clamp "$VP_ERR"; then not_ok "short: an unclamped certificate does not say clamped"; else ok "short: an unclamped certificate does not say clamped"; fi

# ================================================================ imported intermediate
R="$T/root"
mk_root "$R" ec-p384 "IT Company Root" 7300
I="$T/inter"
mk_intermediate "$I" "$R" rsa2048 "IT Site Intermediate" 3650
check "fixture: openssl accepts the intermediate under the root" openssl verify -x509_strict -CAfile "$R.pem" "$I.pem"
mk_p12 "$T/inter-with-root.p12" "$I.key" "$I.pem" "$P12PW" "$R.pem"
mk_p12 "$T/inter-alone.p12" "$I.key" "$I.pem" "$P12PW"

D4="$T/inter-dd"
vp "$D4" ca import "$T/inter-with-root.p12" --p12-passphrase-file "$P12PW" --passphrase-file "$PASSF"
assert_rc 0 "intermediate: ca import of key+cert+root"
assert_eq "$(fp "$I.pem")" "$(fp "$D4/certs/ca.cert.pem")" "intermediate: certs/ca.cert.pem is the intermediate"
check_show intermediate "$D4"
issue_all inter "$D4" "$R.pem" "$I.pem"

# --chain-out gives what a server must send along: the intermediate (and maybe the root).
vp "$D4" issue --profile server --generate-key --dns chained.example --out "$T/chained.pem" \
    --key-out "$T/chained.key" --chain-out "$T/chained.chain.pem"
assert_rc 0 "intermediate: issue with --chain-out"
if pem_fps "$T/chained.chain.pem" | grep -qx "$(fp "$I.pem")"; then
	ok "intermediate: --chain-out holds the intermediate"
else
	not_ok "intermediate: --chain-out holds the intermediate"
fi
first_cert "$T/chained.pem" "$T/chained.leaf.pem"
check "intermediate: openssl verify with the --chain-out file as untrusted chain" \
    verify_openssl "$R.pem" "$T/chained.leaf.pem" sslserver "$T/chained.chain.pem"
check_exports intermediate "$D4" 2
check_p12_export intermediate "$D4"

# The same intermediate without the root in the file, with --chain root.pem.
D5="$T/inter-chain-dd"
vp "$D5" ca import "$T/inter-alone.p12" --p12-passphrase-file "$P12PW" --chain "$R.pem" --passphrase-file "$PASSF"
assert_rc 0 "intermediate --chain: ca import of key+cert with --chain root.pem"
assert_eq "$(fp "$I.pem")" "$(fp "$D5/certs/ca.cert.pem")" "intermediate --chain: certs/ca.cert.pem is the intermediate"
for p in server component-client; do
	set_request "$p" "via-chain"
	vp "$D5" issue --profile "$p" --generate-key "${ARGS[@]}" --out "$T/via-chain.$p.pem" --key-out "$T/via-chain.$p.key"
	assert_rc 0 "intermediate --chain: issue $p"
	first_cert "$T/via-chain.$p.pem" "$T/via-chain.$p.leaf.pem"
	check_leaf "intermediate --chain $p" "$T/via-chain.$p.leaf.pem" "$I.pem" "$p" "$CN" "$SANS" "$VP_ERR" || continue
	verify_all "intermediate --chain $p" "$R.pem" "$T/via-chain.$p.leaf.pem" "${KIND[$p]}" "$I.pem"
done
check_exports intermediate-chain "$D5" 2

it_done
