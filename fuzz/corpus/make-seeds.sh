#!/usr/bin/env bash
# Regenerates the committed seed corpora with the openssl binary: a few small, valid inputs per
# target from which libFuzzer mutates. Run from anywhere; rewrites fuzz/corpus/fuzz_*/seed-*.
# Iteration counts are low on purpose: each fuzz run decrypts, and 600000 rounds per input would
# leave the fuzzer no time to explore. The passphrase/password is "fuzz" (see fuzz_*.c).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Keys: an EC P-256 key keeps seeds small; one RSA 2048 for the RSA code paths.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ec.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/rsa.key" 2>/dev/null

mkdir -p fuzz_csr fuzz_p12 fuzz_pem
rm -f fuzz_csr/seed-* fuzz_p12/seed-* fuzz_pem/seed-*

# fuzz_csr: CSRs in PEM and DER, with and without SANs.
openssl req -new -key "$tmp/ec.key" -subj "/CN=cam-01.site.example" \
	-addext "subjectAltName=DNS:cam-01.site.example,IP:192.0.2.10" -out fuzz_csr/seed-ec-san.pem
openssl req -in fuzz_csr/seed-ec-san.pem -outform DER -out fuzz_csr/seed-ec-san.der
openssl req -new -key "$tmp/rsa.key" -subj "/CN=192.0.2.11/O=Site" -outform DER \
	-out fuzz_csr/seed-rsa.der
openssl req -in fuzz_csr/seed-rsa.der -inform DER -out fuzz_csr/seed-rsa.pem

# A self-signed certificate to wrap into PKCS#12 files.
openssl req -x509 -new -key "$tmp/ec.key" -subj "/CN=fuzz CA" -days 3650 \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	-out "$tmp/ec.crt"

# fuzz_p12: modern PBES2/AES-256 + SHA-256 MAC (what vmspki writes), the same with an empty
# password, and a certificate-only file.
openssl pkcs12 -export -inkey "$tmp/ec.key" -in "$tmp/ec.crt" -name fuzz -passout pass:fuzz \
	-keypbe AES-256-CBC -certpbe AES-256-CBC -macalg sha256 -iter 1000 -maciter \
	-out fuzz_p12/seed-aes-sha256.p12
openssl pkcs12 -export -inkey "$tmp/ec.key" -in "$tmp/ec.crt" -passout pass: \
	-keypbe AES-256-CBC -certpbe AES-256-CBC -macalg sha256 -iter 1000 -maciter \
	-out fuzz_p12/seed-empty-pass.p12
openssl pkcs12 -export -nokeys -in "$tmp/ec.crt" -passout pass:fuzz -certpbe AES-256-CBC \
	-iter 1000 -out fuzz_p12/seed-cert-only.p12

# fuzz_pem: encrypted PKCS#8 (PBES2, AES-256-CBC, PBKDF2-HMAC-SHA256) as vmspki stores the CA
# key, one RSA, and a CSR so the PEM branch of vp_csr_parse starts from something real.
openssl pkcs8 -topk8 -in "$tmp/ec.key" -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 1000 \
	-passout pass:fuzz -out fuzz_pem/seed-ec-pkcs8.pem
openssl pkcs8 -topk8 -in "$tmp/rsa.key" -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 1000 \
	-passout pass:fuzz -out fuzz_pem/seed-rsa-pkcs8.pem
cp fuzz_csr/seed-ec-san.pem fuzz_pem/seed-csr.pem

ls -l fuzz_csr fuzz_p12 fuzz_pem
