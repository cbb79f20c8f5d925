#!/usr/bin/env bash
# A browser trusts the daemon: headless Chromium (Debian's chromium, driven by npm
# playwright-core from tests/it/browser, installed here with `npm ci` from its lock file) opens
# https://127.0.0.1:PORT/healthz, https://localhost:PORT/healthz and https://[::1]:PORT/healthz
# with the site CA trusted in its NSS database ($HOME/.pki/nssdb) and gets the page with no
# certificate error; in a second home where the CA is not trusted every one fails with a
# net::ERR_CERT_ error; a name that is not in the certificate fails too, even with the CA trusted.
# Screenshots go to the work dir (IT_KEEP=1 keeps it).
. "$(dirname "$0")/lib.bash"
it_init node npm jq curl /usr/bin/chromium

SRC=${VP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/it/browser
diag "node $(node --version), npm $(npm --version 2>/dev/null), $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"

# ---------------------------------------------------------------- playwright-core
# Installed beside the build (kept between runs: npm ci again only when the lock file changed),
# never in the source tree.
NM="${VP_BUILD_DIR:-$T}/it-browser"
mkdir -p "$NM"
want=$(cat "$SRC/package.json" "$SRC/package-lock.json" | sha256sum | cut -c1-64)
if [ "$(cat "$NM/.stamp" 2>/dev/null)" != "$want" ] || [ ! -d "$NM/node_modules/playwright-core" ]; then
	cp "$SRC/package.json" "$SRC/package-lock.json" "$NM/"
	rm -f "$NM/.stamp"
	if (cd "$NM" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) >"$T/npm.log" 2>&1; then
		echo "$want" >"$NM/.stamp"
		ok "npm ci installed playwright-core from tests/it/browser/package-lock.json"
	else
		not_ok "npm ci installed playwright-core from tests/it/browser/package-lock.json"
		diag_file "$T/npm.log" 20
		it_done
	fi
else
	ok "playwright-core already installed from this lock file ($NM)"
fi
cp "$SRC/check.js" "$NM/check.js"
diag "playwright-core $(jq -r .version "$NM/node_modules/playwright-core/package.json" 2>/dev/null)"

# browse HOME OUT URL...: check.js in that home; its JSON lines in OUT.
browse() {
	local home=$1 out=$2
	shift 2
	(cd "$NM" && timeout 600 node check.js --home "$home" --shots "$T/shots/$(basename "$home")" "$@") \
	    >"$out" 2>"$out.err"
}

# ---------------------------------------------------------------- the daemon
D="$T/dd"
if daemon_start "$D" --ca-key ec-p256; then
	ok "vmspki serve started (port $PORT)"
else
	not_ok "vmspki serve started"
	it_done
fi
CA_CN=$(openssl x509 -in "$DAEMON_CA" -noout -subject -nameopt multiline 2>/dev/null |
    sed -n 's/^ *commonName *= *//p')
SRV_CN=$(openssl x509 -in "$D/certs/public.pem" -noout -subject -nameopt multiline 2>/dev/null |
    sed -n 's/^ *commonName *= *//p')
diag "CA: $CA_CN; server certificate: $SRV_CN"

URLS=("https://127.0.0.1:$PORT/healthz" "https://localhost:$PORT/healthz" "https://[::1]:$PORT/healthz")

# ---------------------------------------------------------------- the CA trusted
TRUSTED="$T/home-trusted"
mkdir -p "$TRUSTED/.pki/nssdb"
check "a fresh NSS database in the trusting home" certutil -d "sql:$TRUSTED/.pki/nssdb" -N --empty-password
check "the site CA added to it as a trusted TLS CA (certutil -A -t C,,)" \
    certutil -d "sql:$TRUSTED/.pki/nssdb" -A -n vmspki -t "C,," -i "$DAEMON_CA"

if browse "$TRUSTED" "$T/trusted.json" "${URLS[@]}"; then
	ok "Chromium ran in the trusting home"
else
	not_ok "Chromium ran in the trusting home"
	diag_file "$T/trusted.json.err" 20
fi
for u in "${URLS[@]}"; do
	line=$(jq -c --arg u "$u" 'select(.url == $u)' "$T/trusted.json" 2>/dev/null)
	if [ -z "$line" ]; then
		not_ok "CA trusted: $u was visited"
		continue
	fi
	err=$(jq -r '.error // ""' <<<"$line")
	status=$(jq -r '.status // ""' <<<"$line")
	if [ -z "$err" ] && [ "$status" = 200 ]; then
		ok "CA trusted: $u loads with no certificate error (HTTP 200)"
	else
		not_ok "CA trusted: $u loads with no certificate error (status '$status', error '$err')"
	fi
	body=$(jq -r '.body // ""' <<<"$line")
	if [ -n "$body" ]; then ok "CA trusted: $u shows the healthz body"; else not_ok "CA trusted: $u shows the healthz body (empty)"; fi
	diag "$u: $(jq -c '{status, protocol, issuer, subject, body: (.body // "" | .[0:60])}' <<<"$line")"
	assert_eq "$CA_CN" "$(jq -r '.issuer // ""' <<<"$line")" "CA trusted: $u: the certificate Chromium got is issued by the site CA"
	assert_eq "$SRV_CN" "$(jq -r '.subject // ""' <<<"$line")" "CA trusted: $u: it is the daemon's server certificate (certs/public.pem)"
	proto=$(jq -r '.protocol // ""' <<<"$line")
	case $proto in
	"TLS 1.3" | "TLS 1.2") ok "CA trusted: $u over $proto" ;;
	*) not_ok "CA trusted: $u over TLS 1.2 or 1.3 (got '$proto')" ;;
	esac
	shot=$(jq -r '.shot // ""' <<<"$line")
	if [ -n "$shot" ] && [ -s "$shot" ]; then ok "CA trusted: screenshot of $u taken"; else not_ok "CA trusted: screenshot of $u taken"; fi
done

# A name that is not in the certificate, mapped to 127.0.0.1 by Chromium's resolver: the CA is
# trusted, the name check must still fail.
BADNAME="not-in-the-certificate.invalid"
if browse "$TRUSTED" "$T/badname.json" --arg "--host-resolver-rules=MAP $BADNAME 127.0.0.1" \
    "https://$BADNAME:$PORT/healthz"; then
	err=$(jq -r '.error // ""' "$T/badname.json" 2>/dev/null | head -n 1)
	case $err in
	net::ERR_CERT_COMMON_NAME_INVALID) ok "CA trusted, name not in the certificate: $err" ;;
	*) not_ok "CA trusted, name not in the certificate: net::ERR_CERT_COMMON_NAME_INVALID (got '$err', status $(jq -r '.status' "$T/badname.json" 2>/dev/null | head -n 1))" ;;
	esac
else
	not_ok "Chromium ran for the name that is not in the certificate"
	diag_file "$T/badname.json.err" 20
fi

# ---------------------------------------------------------------- the CA not trusted
UNTRUSTED="$T/home-untrusted"
mkdir -p "$UNTRUSTED/.pki/nssdb"
check "a fresh NSS database in the second home (our CA not in it)" certutil -d "sql:$UNTRUSTED/.pki/nssdb" -N --empty-password
if browse "$UNTRUSTED" "$T/untrusted.json" "${URLS[@]}"; then
	ok "Chromium ran in the home that does not trust the CA"
else
	not_ok "Chromium ran in the home that does not trust the CA"
	diag_file "$T/untrusted.json.err" 20
fi
for u in "${URLS[@]}"; do
	line=$(jq -c --arg u "$u" 'select(.url == $u)' "$T/untrusted.json" 2>/dev/null)
	err=$(jq -r '.error // ""' <<<"$line" 2>/dev/null)
	case $err in
	net::ERR_CERT_*) ok "CA not trusted: $u fails with a certificate error ($err)" ;;
	*) not_ok "CA not trusted: $u fails with a net::ERR_CERT_ error (got '${err:-no error}', status $(jq -r '.status' <<<"$line" 2>/dev/null))" ;;
	esac
done

# ---------------------------------------------------------------- the daemon is still well
if pid_alive "$DAEMON_PID"; then ok "the daemon is still running"; else not_ok "the daemon is still running"; fi
daemon_stop "$DAEMON_PID" TERM 60
assert_eq 0 "$DAEMON_RC" "SIGTERM: the daemon exits 0"

assert_daemon_logs_clean

it_done
