/* `vmspki cert list|show`: the certificates the CA has issued, as a table, JSON or PEM. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "cli.h"
#include "vmspki/profile.h"
#include "vmspki/util.h"

enum { O_EXPIRING = OPT_FIRST_LOCAL, O_PROFILE, O_PEM };

/* One line of the `cert list` table (arg: the time now). */
static int
list_one(const vp_cert_rec *r, void *arg)
{
	const int64_t *now = arg;
	char na[32];

	vp_time_iso(r->not_after, na, sizeof(na));
	printf("%-40s  %-16s  %-20s  %-7s  ", r->serial, r->profile, na,
	    vp_cert_rec_status(r, *now));
	cli_puts_safe(stdout, r->subject);
	fputc('\n', stdout);
	return 0;
}

static int
cert_list(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "expiring-within", required_argument, NULL, O_EXPIRING },
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 }
	};
	int64_t now = (int64_t)time(NULL);
	vp_cert_filter f = { 0 };
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	json_t *a = NULL;
	long days = -1;
	int ch, rc, json = 0;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "cert list", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case O_EXPIRING:
			if ((rc = cli_parse_int("--expiring-within", optarg, 0, 365250, &days)) !=
			    CLI_OK)
				return rc;
			break;
		case O_PROFILE:
			f.profile = optarg;
			break;
		case OPT_JSON:
			json = 1;
			break;
		}
	}
	if ((rc = cli_operands("cert list", argc, argv, NULL)) != CLI_OK)
		return rc;
	if (f.profile != NULL && vp_profile_find(f.profile, &e) == NULL)
		return cli_fail_err(&e);
	if (days >= 0)
		f.not_after_before = now + (int64_t)days * 86400;

	if ((rc = cli_open_ca(c, &s, &ca)) != CLI_OK)
		return rc;
	if (json) {
		if (vp_json_cert_list(s, &f, now, &a, &e) != VP_OK)
			rc = cli_fail_err(&e);
		else
			rc = cli_json_print(a);
		goto out;
	}
	printf("%-40s  %-16s  %-20s  %-7s  %s\n", "SERIAL", "PROFILE", "NOT AFTER", "STATUS",
	    "SUBJECT");
	if (vp_store_cert_list(s, &f, list_one, &now, &e) != VP_OK)
		rc = cli_fail_err(&e);
	else
		rc = cli_flush();
out:
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

/* A serial as the user typed it ("01:A3:..." or "1a3...") into the store's form. */
static int
normalize_serial(const char *in, char *out, size_t n)
{
	size_t j = 0;

	for (const char *p = in; *p != '\0'; p++) {
		char ch = *p;

		if (ch == ':')
			continue;
		if (ch >= 'A' && ch <= 'F')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')) || j + 1 >= n)
			return -1;
		out[j++] = ch;
	}
	out[j] = '\0';
	return j == 0 ? -1 : 0;
}

static X509 *
pem_to_x509(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return x;
}

static int
cert_show(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "pem", no_argument, NULL, O_PEM },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 }
	};
	vp_cert_rec r;
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	X509 *x = NULL;
	json_t *o = NULL;
	char serial[72], t[32];
	int64_t now = (int64_t)time(NULL);
	int ch, rc, json = 0, pem = 0;
	vp_err r2;

	memset(&r, 0, sizeof(r));
	cli_getopt_reset();
	while ((ch = cli_getopt(c, "cert show", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case O_PEM:
			pem = 1;
			break;
		case OPT_JSON:
			json = 1;
			break;
		}
	}
	if ((rc = cli_operands("cert show", argc, argv, "give the serial number of the "
	    "certificate")) != CLI_OK)
		return rc;
	if (pem && json)
		return cli_usage("cert show", "give --pem or --json, not both");
	if (normalize_serial(argv[optind], serial, sizeof(serial)) != 0)
		return cli_fail("no certificate with serial %.80s: a serial is hex digits", argv[optind]);

	if ((rc = cli_open_ca(c, &s, &ca)) != CLI_OK)
		return rc;
	if ((r2 = vp_store_cert_get(s, serial, &r, &e)) != VP_OK) {
		rc = r2 == VP_ERR_NOTFOUND ? cli_fail("no certificate with serial %s", serial) :
		    cli_fail_err(&e);
		goto out;
	}
	if (pem) {
		rc = cli_write_output(NULL, r.pem, strlen(r.pem), 0644);
		goto out;
	}
	if ((x = pem_to_x509(r.pem)) == NULL) {
		rc = cli_fail("certificate %s in the store does not parse: the store is damaged",
		    serial);
		goto out;
	}
	if (json) {
		/* The API's fields, then the certificate's facts (as `ca show --json` gives them). */
		if ((o = vp_json_cert_rec(&r, now)) == NULL) {
			rc = cli_fail("out of memory");
			goto out;
		}
		if (vp_json_x509(x, o, &e) != VP_OK) {
			rc = cli_fail_err(&e);
			goto out;
		}
		if (json_object_set_new(o, "certificate", vp_json_str(r.pem)) != 0) {
			rc = cli_fail("out of memory");
			goto out;
		}
		rc = cli_json_print(o);
		o = NULL;
		goto out;
	}
	printf("certificate %s\n", r.serial);
	if ((rc = cli_cert_describe(x, stdout)) != CLI_OK)
		goto out;
	cli_field(stdout, "SANs:", r.sans != NULL && r.sans[0] != '\0' ? r.sans : "none");
	cli_field(stdout, "profile:", r.profile);
	if (r.owner_kind != NULL && r.owner_kind[0] != '\0') {
		fputs("  owner:               ", stdout);
		cli_puts_safe(stdout, r.owner_kind);
		fputc(':', stdout);
		cli_puts_safe(stdout, r.owner_id);
		fputc('\n', stdout);
	} else {
		cli_field(stdout, "owner:", "none");
	}
	cli_field(stdout, "status:", vp_cert_rec_status(&r, now));
	if (r.revoked_at != 0) {
		vp_time_iso(r.revoked_at, t, sizeof(t));
		cli_field(stdout, "revoked at:", t);
		printf("  %-20s %d\n", "revocation reason:", r.revocation_reason);
	}
	vp_time_iso(r.issued_at, t, sizeof(t));
	cli_field(stdout, "issued at:", t);
	rc = cli_flush();
out:
	json_decref(o);
	X509_free(x);
	vp_cert_rec_clear(&r);
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

int
cmd_cert(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = { { "list", cert_list }, { "show", cert_show },
		{ "renew", cmd_cert_renew } };

	return cli_group(c, "cert", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
