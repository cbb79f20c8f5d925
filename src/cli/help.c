/* Usage texts of the vmspki command line: `vmspki help [COMMAND [SUB]]`, `--help` anywhere.
 * The command line itself is the design's "Command line" section; keep the two in step. */
#include <string.h>

#include "cli.h"
#include "vmspki/profile.h"

void
cli_help_main(FILE *f)
{
	fputs(
"usage: vmspki [--data DIR] [--store postgresql://...] COMMAND ...\n"
"\n"
"A certificate authority for a video-surveillance site.\n"
"\n"
"commands:\n"
"  ca init      create the site's root CA\n"
"  ca import    import a CA (root or intermediate) from PKCS#12\n"
"  ca show      describe the CA\n"
"  ca export    the CA certificate (PEM, DER, PKCS#7), or the CA with its key (PKCS#12)\n"
"  ca renew     renew the root CA (same key and subject) and give it to the cameras\n"
"  issue        issue a certificate from a CSR or with a key made here\n"
"  cert list    list issued certificates\n"
"  cert show    describe one issued certificate\n"
"  cert renew   a new certificate with the same subject, names and profile as one issued\n"
"  ca trust install|remove  the CA in this host's trust store (Debian)\n"
"  audit verify check the audit log's hash chain\n"
"  audit list   print the audit log\n"
"  serve        the HTTPS REST API daemon\n"
"  token create|list|revoke     API bearer tokens\n"
"  server-cert renew|import|show  the daemon's HTTPS certificate\n"
"  component add|list|renew|remove|nats-config  internal components' mTLS certificates\n"
"  device add|import|list|show|remove  the camera inventory\n"
"  device discover   find the cameras of an address range (a task; --add adds them)\n"
"  https enable|update  put certificates on cameras and turn HTTPS on (a task)\n"
"  https csr|install  a certificate from the company's own CA on a camera (tasks)\n"
"  task list|show|wait|cancel|retry-failed  tasks over devices and their results\n"
"  alarm list|ack   the alarms raised (expiry, failed renewals) and their acknowledgement\n"
"  settings [list]|get|set|reset  site settings (device certificate CN, concurrency)\n"
"  lifecycle run  the nightly job now: renewals, expiry alarms, endpoint checks\n"
"  endpoint add|list|show|check|remove  watch TLS servers vmspki did not install\n"
"  store migrate  move a site's store from SQLite to PostgreSQL (several servers)\n"
"  dot1x enable|update|radius-config  IEEE 802.1X certificates on cameras, the RADIUS side\n"
"  help [COMMAND [SUB]]   help on a command; also `vmspki COMMAND --help'\n"
"  --version    print the version\n"
"\n"
"The data directory is --data DIR (before or after the command), else $VMSPKI_DATA,\n"
"else ./var. The CA key passphrase comes from --passphrase-file F, $VMSPKI_PASSPHRASE,\n"
"the file remembered with --remember, or a prompt on a terminal; never from an argument.\n"
"The store is SQLite in the data directory (vmspki.db) unless --store postgresql://...\n"
"or the directory's store file (one line, 0600) names a PostgreSQL database that several\n"
"servers share; its password comes from the store file, PGPASSFILE or ~/.pgpass, never\n"
"from --store.\n"
"Exit status: 0 success, 1 refused (bad input, wrong passphrase), 2 usage error.\n", f);
}

void
cli_help_ca(FILE *f, const char *sub)
{
	int all = sub == NULL;

	if (all)
		fputs("usage: vmspki ca init|import|show|export ...\n\n", f);
	if (all || strcmp(sub, "init") == 0)
		fputs(
"vmspki ca init [--cn NAME] [--key rsa4096|ec-p256|ec-p384] [--days N] [--remember]\n"
"               [--passphrase-file F]\n"
"  Creates a self-signed root CA (RSA 4096, 10 years by default) in the data directory\n"
"  and writes its certificate to DIR/certs/ca.cert.pem. The key is stored encrypted with\n"
"  a passphrase from --passphrase-file, $VMSPKI_PASSPHRASE or a prompt; --remember keeps\n"
"  it in DIR/ca.passphrase (0600), and with no passphrase given generates a random one.\n"
"vmspki ca init --replace [--cn NAME] [--key T] [--days N] [--wait] [--passphrase-file F]\n"
"  Replaces the CA: the new one (under the current CA's passphrase) issues from now on,\n"
"  the old one stays trusted (DIR/certs/ca.cert.pem holds both) while one task moves the\n"
"  components, the server certificate and every camera with a certificate of ours to the\n"
"  new CA and removes the old CA from them; then the old CA is retired. --wait follows the\n"
"  task (running it here when no daemon runs). See `vmspki task show ID`.\n", f);
	if (all || strcmp(sub, "import") == 0)
		fputs(
"vmspki ca import FILE.p12 [--p12-passphrase-file F] [--chain FILE.pem] [--remember]\n"
"                 [--passphrase-file F]\n"
"  Imports a root or intermediate CA with its key from PKCS#12. The PKCS#12 password\n"
"  comes from --p12-passphrase-file, $VMSPKI_P12_PASSPHRASE or a prompt; --chain adds\n"
"  issuer certificates up to the root that the file lacks. The key is then protected\n"
"  like for `ca init'. With --replace [--wait], it replaces the current CA as `ca init\n"
"  --replace' does.\n", f);
	if (all || strcmp(sub, "show") == 0)
		fputs(
"vmspki ca show [--json]\n"
"  Subject, issuer, serial, validity, key, fingerprints, chain and the number of\n"
"  certificates the CA has issued.\n", f);
	if (all || strcmp(sub, "export") == 0)
		fputs(
"vmspki ca export [--format pem|der|p7b] [--out F]\n"
"  The public CA certificate (PEM and PKCS#7 with the chain above it) to F or stdout.\n"
"vmspki ca export --with-key --out F.p12 --p12-passphrase-file F [--p12-legacy]\n"
"                 [--passphrase-file F]\n"
"  The CA with its key as PKCS#12 (AES-256, PBKDF2), to move it to another server.\n"
"  --p12-legacy: 3DES and a SHA-1 MAC instead, for Windows Server 2016 and Windows 10\n"
"  before 1709 (weak against password guessing: a warning says so).\n", f);
}

void
cli_help_issue(FILE *f)
{
	fputs(
"usage: vmspki issue --profile P (--csr FILE | --generate-key) [--cn X] [--dns NAME]...\n"
"            [--ip ADDR]... [--email ADDR]... [--days N] [--out F] [--chain-out F]\n"
"            [--key-out F] [--p12 F.p12 --p12-passphrase-file F [--p12-legacy]]\n"
"            [--owner KIND:ID] [--watch] [--json] [--passphrase-file F]\n"
"  Issues a certificate of profile P from a CSR (PEM or DER), or with an RSA 2048 key\n"
"  made here (--generate-key, delivered as --p12 or as --key-out with --out). The\n"
"  certificate goes to --out (PEM), --chain-out (PEM with the CA chain), or stdout; a\n"
"  summary goes to stderr. Validity never passes the CA's own notAfter.\n"
"  --owner KIND:ID (e.g. recording-server:rec1) or --watch: the nightly job raises an\n"
"  alarm when the certificate is about to expire (lifecycle.warning_days) or expired,\n"
"  until `vmspki cert renew' gives the owner a new one. --p12-legacy: the PKCS#12 in 3DES\n"
"  with a SHA-1 MAC, for Windows Server 2016 and Windows 10 before 1709 (a warning says\n"
"  why it is weaker).\n"
"\n"
"profiles:\n", f);
	for (const vp_profile *p = vp_profile_all(); p->name != NULL; p++)
		fprintf(f, "  %-17s %s\n", p->name, p->summary);
}

void
cli_help_cert(FILE *f, const char *sub)
{
	int all = sub == NULL;

	if (all)
		fputs("usage: vmspki cert list|show|renew ...\n\n", f);
	if (all || strcmp(sub, "list") == 0)
		fputs(
"vmspki cert list [--expiring-within DAYS] [--profile P] [--json]\n"
"  The issued certificates, soonest to expire first.\n", f);
	if (all || strcmp(sub, "show") == 0)
		fputs(
"vmspki cert show SERIAL [--pem | --json]\n"
"  One issued certificate (SERIAL in hex, as `cert list' prints it).\n", f);
	if (all || strcmp(sub, "renew") == 0)
		fputs(
"vmspki cert renew SERIAL (--csr FILE | --generate-key) [--days N] [--out F]\n"
"            [--chain-out F] [--key-out F] [--p12 F.p12 --p12-passphrase-file F\n"
"            [--p12-legacy]] [--json] [--passphrase-file F]\n"
"  A new certificate with the same profile, subject, names (DNS, IP, email) and owner as\n"
"  SERIAL, for a new key (a CSR, whose own names are ignored, or one made here); the\n"
"  validity is the profile's default unless --days. The old one stays valid until it\n"
"  ends; its expiry alarms stop, the new one's are watched instead. Device and component\n"
"  certificates are renewed by `https update' and `component renew', not here.\n", f);
}

void
cli_help_audit(FILE *f, const char *sub)
{
	int all = sub == NULL;

	if (all)
		fputs("usage: vmspki audit verify|list ...\n\n", f);
	if (all || strcmp(sub, "verify") == 0)
		fputs(
"vmspki audit verify\n"
"  Recomputes the audit log's hash chain; exit 1 names the first row that does not fit.\n", f);
	if (all || strcmp(sub, "list") == 0)
		fputs(
"vmspki audit list [--json]\n"
"  Every audit row: when, who, what, which serial.\n", f);
}

int
cli_help(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (argc == 0) {
		cli_help_main(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[0], "ca") == 0 && sub != NULL && strcmp(sub, "trust") == 0)
		cli_help_ca_trust(stdout);
	else if (strcmp(argv[0], "ca") == 0 && (sub == NULL || strcmp(sub, "init") == 0 ||
	    strcmp(sub, "import") == 0 || strcmp(sub, "show") == 0 || strcmp(sub, "export") == 0))
		cli_help_ca(stdout, sub);
	else if (strcmp(argv[0], "ca") == 0 && sub != NULL && strcmp(sub, "renew") == 0)
		cli_help_ca_renew(stdout);
	else if (strcmp(argv[0], "device") == 0 && sub != NULL && strcmp(sub, "discover") == 0)
		cli_help_device_discover(stdout);
	else if (strcmp(argv[0], "issue") == 0)
		cli_help_issue(stdout);
	else if (strcmp(argv[0], "cert") == 0 && (sub == NULL || strcmp(sub, "list") == 0 ||
	    strcmp(sub, "show") == 0 || strcmp(sub, "renew") == 0))
		cli_help_cert(stdout, sub);
	else if (strcmp(argv[0], "audit") == 0 && (sub == NULL || strcmp(sub, "verify") == 0 ||
	    strcmp(sub, "list") == 0))
		cli_help_audit(stdout, sub);
	else if (strcmp(argv[0], "serve") == 0)
		cli_help_serve(stdout);
	else if (strcmp(argv[0], "token") == 0 && (sub == NULL || strcmp(sub, "create") == 0 ||
	    strcmp(sub, "list") == 0 || strcmp(sub, "revoke") == 0))
		cli_help_token(stdout, sub);
	else if (strcmp(argv[0], "server-cert") == 0 && (sub == NULL ||
	    strcmp(sub, "renew") == 0 || strcmp(sub, "import") == 0 || strcmp(sub, "show") == 0))
		cli_help_servercert(stdout, sub);
	else if (strcmp(argv[0], "component") == 0 && (sub == NULL || strcmp(sub, "add") == 0 ||
	    strcmp(sub, "list") == 0 || strcmp(sub, "renew") == 0 || strcmp(sub, "remove") == 0 ||
	    strcmp(sub, "nats-config") == 0))
		cli_help_component(stdout, sub);
	else if (strcmp(argv[0], "device") == 0 && (sub == NULL || strcmp(sub, "add") == 0 ||
	    strcmp(sub, "import") == 0 || strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0 ||
	    strcmp(sub, "remove") == 0))
		cli_help_device(stdout, sub);
	else if (strcmp(argv[0], "https") == 0)
		cli_help_https(stdout, sub);
	else if (strcmp(argv[0], "dot1x") == 0)
		cli_help_dot1x(stdout, sub);
	else if (strcmp(argv[0], "task") == 0 && (sub == NULL || strcmp(sub, "list") == 0 ||
	    strcmp(sub, "show") == 0 || strcmp(sub, "cancel") == 0 || strcmp(sub, "wait") == 0 ||
	    strcmp(sub, "retry-failed") == 0))
		cli_help_task(stdout, sub);
	else if (strcmp(argv[0], "alarm") == 0 && (sub == NULL || strcmp(sub, "list") == 0 ||
	    strcmp(sub, "ack") == 0))
		cli_help_alarm(stdout, sub);
	else if (strcmp(argv[0], "settings") == 0)
		cli_help_settings(stdout, sub);
	else if (strcmp(argv[0], "lifecycle") == 0)
		cli_help_lifecycle(stdout, sub);
	else if (strcmp(argv[0], "store") == 0 && (sub == NULL || strcmp(sub, "migrate") == 0))
		cli_help_store(stdout, sub);
	else if (strcmp(argv[0], "endpoint") == 0 && (sub == NULL || strcmp(sub, "add") == 0 ||
	    strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0 || strcmp(sub, "check") == 0 ||
	    strcmp(sub, "remove") == 0))
		cli_help_endpoint(stdout, sub);
	else
		return cli_usage(NULL, "no help on \"%s%s%s\"", argv[0], sub ? " " : "",
		    sub ? sub : "");
	/* Issue 19 (items 5 and 8): the whole group's help names these too. */
	if (sub == NULL && strcmp(argv[0], "ca") == 0)
		cli_help_ca_renew(stdout);
	if (sub == NULL && strcmp(argv[0], "device") == 0)
		cli_help_device_discover(stdout);
	return CLI_OK;
}
