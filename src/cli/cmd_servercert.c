/* `vmspki server-cert renew|import|show`: the HTTPS certificate of `vmspki serve`. These work
 * on the data directory directly, also while the daemon runs: it notices the new files within
 * two seconds and gives them to every new connection, without a restart. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "vmspki/servercert.h"
#include "vmspki/util.h"

void
cli_help_servercert(FILE *f, const char *sub)
{
	int all = sub == NULL;

	if (all)
		fputs("usage: vmspki server-cert renew|import|show ...\n\n", f);
	if (all || strcmp(sub, "renew") == 0)
		fputs(
"vmspki server-cert renew [--passphrase-file F]\n"
"  Issues a new API server certificate now (every name and address of the host) and\n"
"  writes DIR/certs/server.crt, server.key.pem and public.pem. A running `vmspki serve`\n"
"  uses it for new connections within 2 seconds; open connections are kept.\n", f);
	if (all || strcmp(sub, "import") == 0)
		fputs(
"vmspki server-cert import F.p12 [--p12-passphrase-file F]\n"
"  Puts the operator's certificate (PKCS#12 with key and chain) in place of the generated\n"
"  one; vmspki does not renew it (`server-cert renew` goes back to a generated one).\n", f);
	if (all || strcmp(sub, "show") == 0)
		fputs(
"vmspki server-cert show [--json]\n"
"  The server certificate's serial, validity, when it will be renewed and why.\n", f);
}

static int
sc_renew(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	vp_servercert_status st;
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	const char *passfile = NULL;
	char na[32];
	int ch, rc, renewed = 0;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "server-cert renew", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case OPT_PASSFILE:
			passfile = optarg;
			break;
		}
	}
	if ((rc = cli_operands("server-cert renew", argc, argv, NULL)) != CLI_OK)
		return rc;
	if ((rc = cli_open_ca_key(c, passfile, &s, &ca)) != CLI_OK)
		return rc;
	if (vp_servercert_ensure(s, ca, c->datadir, 1, c->actor, &renewed, &st, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	vp_time_iso(st.not_after, na, sizeof(na));
	printf("renewed the server certificate: serial %s, valid until %s\n", st.serial, na);
	printf("a running `vmspki serve` uses it for new connections within 2 seconds\n");
	rc = cli_flush();
out:
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

static int
sc_import(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "p12-passphrase-file", required_argument, NULL, OPT_P12PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	const char *passfile = NULL;
	unsigned char *p12 = NULL;
	size_t len = 0;
	char *pass = NULL;
	int ch, rc;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "server-cert import", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case OPT_P12PASSFILE:
			passfile = optarg;
			break;
		}
	}
	if ((rc = cli_operands("server-cert import", argc, argv, "give the PKCS#12 file")) != CLI_OK)
		return rc;
	if (vp_file_read(argv[optind], VP_FILE_MAX, &p12, &len, &e) != VP_OK)
		return cli_fail_err(&e);
	if ((rc = cli_p12_pass(passfile, 1, 0, &pass)) != CLI_OK)
		goto out;
	if ((rc = cli_open_ca(c, &s, &ca)) != CLI_OK)
		goto out;
	if (vp_servercert_import(s, c->datadir, p12, len, pass, c->actor, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	printf("imported the server certificate from %s\n", argv[optind]);
	printf("a running `vmspki serve` uses it for new connections within 2 seconds\n");
	rc = cli_flush();
out:
	vp_secret_free_str(pass);
	if (p12 != NULL)
		vp_secret_free(p12, len);
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

static int
sc_show(cli *c, int argc, char **argv)
{
	vp_servercert_status st;
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	char t[32];
	int rc, json = 0;

	if (!cli_getopt_simple(c, "server-cert show", argc, argv, &json, &rc))
		return rc;
	if ((rc = cli_open_ca(c, &s, &ca)) != CLI_OK)
		return rc;
	if (vp_servercert_status_get(ca, c->datadir, &st, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (json) {
		rc = cli_json_print(vp_json_servercert(&st));
		goto out;
	}
	if (!st.present) {
		printf("no usable server certificate: %s\n", st.reason);
		printf("`vmspki serve` makes one at start, `vmspki server-cert renew` now\n");
		rc = cli_flush();
		goto out;
	}
	printf("server certificate %s%s\n", st.serial, st.imported ? " (imported)" : "");
	cli_field(stdout, "SHA-256 fingerprint:", st.fingerprint);
	vp_time_iso(st.not_before, t, sizeof(t));
	cli_field(stdout, "not before:", t);
	vp_time_iso(st.not_after, t, sizeof(t));
	cli_field(stdout, "not after:", t);
	vp_time_iso(st.renew_after, t, sizeof(t));
	cli_field(stdout, "renewed after:", st.imported ? "never (imported)" : t);
	cli_field(stdout, "from the CA:", st.from_current_ca ? "yes" : "no");
	cli_field(stdout, "covers the host:", st.covers_host ? "yes" : "no");
	if (st.imported && st.reason[0]) {
		printf("  %-20s no: imported certificates are not renewed by vmspki (note: ",
		    "renewal due:");
		cli_puts_safe(stdout, st.reason);
		fputs(")\n", stdout);
	} else {
		cli_field(stdout, "renewal due:", st.reason[0] ? st.reason : "no");
	}
	rc = cli_flush();
out:
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

int
cmd_servercert(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = {
		{ "renew", sc_renew }, { "import", sc_import }, { "show", sc_show }
	};

	return cli_group(c, "server-cert", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
