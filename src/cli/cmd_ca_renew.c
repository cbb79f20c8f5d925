/* `vmspki ca renew`: a renewed certificate for the site's root CA (the same key and subject),
 * and the task that gives it to the cameras and components holding the old one. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vmspki/device.h"
#include "vmspki/engine.h"
#include "vmspki/passphrase.h"
#include "vmspki/task.h"
#include "vmspki/util.h"

enum { O_DAYS = OPT_FIRST_LOCAL, O_WAIT };

void
cli_help_ca_renew(FILE *f)
{
	fputs(
"vmspki ca renew [--days N] [--wait] [--passphrase-file F]\n"
"  Renews the site's root CA: a new certificate for the same key and subject (so the same\n"
"  subject key identifier), valid from now for N days (3652 by default; it must end after\n"
"  the current one). Every certificate already issued keeps verifying, and no camera gets\n"
"  a new key. The old CA certificate stays trusted (DIR/certs/ca.cert.pem holds both) while\n"
"  one task gives the renewed one to every camera with a certificate of ours (added, bound\n"
"  beside the camera's certificate, checked with a TLS handshake, the old one removed) and\n"
"  to every component (its certificate files carry it; its reload command runs); then the\n"
"  old one is retired. --wait follows the task (running it here when no daemon runs).\n"
"  An intermediate CA is renewed by the CA above it: import that with `ca import --replace`.\n",
	    f);
}

int
cli_ca_renew(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "days", required_argument, NULL, O_DAYS },
		{ "wait", no_argument, NULL, O_WAIT },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	const char *passfile = NULL;
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	vp_sitekey *k = NULL;
	vp_ca_transition tr;
	vp_task t;
	vp_x509_info i = { 0 };
	char *pass = NULL, until[32];
	int64_t task = 0;
	int ch, rc, wait = 0;
	long days = 0;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "ca renew", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case O_DAYS:
			if ((rc = cli_parse_int("--days", optarg, 1, 36525, &days)) != CLI_OK)
				return rc;
			break;
		case O_WAIT:
			wait = 1;
			break;
		case OPT_PASSFILE:
			passfile = optarg;
			break;
		}
	}
	if ((rc = cli_operands("ca renew", argc, argv, NULL)) != CLI_OK)
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if ((rc = cli_ca_load_public(c, s, &ca)) != CLI_OK)
		goto out;
	vp_ca_free(ca);
	ca = NULL;
	if (vp_passphrase_get(c->datadir, passfile, "CA key passphrase: ", &pass, &e) != VP_OK ||
	    vp_ca_renew(s, c->datadir, (int)days, pass, c->actor, &task, &e) != VP_OK ||
	    vp_ca_transition_get(s, &tr, &e) != VP_OK || vp_task_get(s, task, &t, &e) != VP_OK ||
	    vp_ca_load(s, pass, &ca, &e) != VP_OK ||
	    vp_x509_info_get(vp_ca_cert(ca), &i, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	printf("renewed the CA in ");
	cli_puts_safe(stdout, c->datadir);
	printf(": the same key and subject, a new certificate\n");
	cli_field(stdout, "subject:", i.subject);
	vp_time_iso(i.not_after, until, sizeof(until));
	cli_field(stdout, "valid until:", until);
	cli_field(stdout, "SHA-256 fingerprint:", i.sha256);
	printf("  %-20s SHA-256 %.16s..., still trusted until task %" PRId64 " is done\n",
	    "renews:", tr.fingerprint, task);
	printf("task %" PRId64 ": giving the renewed CA to %" PRId64 " device%s and %" PRId64
	    " component%s\n", task, t.total, t.total == 1 ? "" : "s", t.items - 1,
	    t.items - 1 == 1 ? "" : "s");
	if ((rc = cli_flush()) != CLI_OK)
		goto out;
	if (wait) {
		if (!vp_engine_other_alive(s) && vp_sitekey_open(s, pass, &k, &e) != VP_OK) {
			rc = cli_fail_err(&e);
			goto out;
		}
		rc = cli_task_follow(c, s, task, ca, k, 0);
	} else if (!vp_engine_other_alive(s)) {
		fprintf(stderr, "vmspki: no daemon serves %s: run `vmspki task wait %" PRId64 "` (or "
		    "start `vmspki serve`) to carry the task out\n", c->datadir, task);
	} else {
		fprintf(stderr, "vmspki: the daemon runs task %" PRId64 " (`vmspki task show %"
		    PRId64 "`)\n", task, task);
	}
out:
	vp_x509_info_clear(&i);
	vp_sitekey_free(k);
	vp_ca_free(ca);
	vp_secret_free_str(pass);
	vp_store_close(s);
	return rc;
}
