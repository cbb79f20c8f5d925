/* `vmspki issue` and `vmspki cert renew`: one certificate of a profile (or like an issued one),
 * from a CSR or with a key made here. Every flag is checked before the CA passphrase is read;
 * outputs are written only once the certificate is recorded in the store. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "cli.h"
#include "vmspki/buf.h"
#include "vmspki/issue.h"
#include "vmspki/passphrase.h"
#include "vmspki/profile.h"
#include "vmspki/util.h"

enum {
	O_PROFILE = OPT_FIRST_LOCAL, O_CSR, O_GENKEY, O_CN, O_DNS, O_IP, O_EMAIL, O_DAYS, O_OUT,
	O_CHAIN_OUT, O_KEY_OUT, O_P12, O_OWNER, O_P12_LEGACY, O_WATCH
};

typedef struct issue_args {
	const char *profile, *csr, *cn, *out, *chain_out, *key_out, *p12, *p12passfile;
	const char *passfile, *owner;
	const char **dns, **ip, **email;
	size_t ndns, nip, nemail;
	int generate_key, json;
	int p12_legacy, watch;
	long days;
	char owner_kind[32];
	const char *owner_id;
} issue_args;

/* "KIND:ID": KIND a short lowercase word (device, component, server, ...), ID any printable
 * text of at most 255 bytes. */
static int
parse_owner(issue_args *a)
{
	const char *colon = strchr(a->owner, ':');
	size_t klen = colon != NULL ? (size_t)(colon - a->owner) : 0;
	const unsigned char *p;

	if (colon == NULL || klen == 0 || klen >= sizeof(a->owner_kind) || colon[1] == '\0' ||
	    strlen(colon + 1) > 255)
		goto bad;
	for (size_t i = 0; i < klen; i++) {
		char ch = a->owner[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9' && i > 0) ||
		    ((ch == '-' || ch == '_') && i > 0)))
			goto bad;
	}
	for (p = (const unsigned char *)colon + 1; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			goto bad;
	memcpy(a->owner_kind, a->owner, klen);
	a->owner_kind[klen] = '\0';
	a->owner_id = colon + 1;
	return CLI_OK;
bad:
	return cli_fail("--owner needs KIND:ID, KIND a lowercase word such as device or component "
	    "and ID printable text of at most 255 characters");
}

static int
same_path(const char *x, const char *y)
{
	return x != NULL && y != NULL && strcmp(x, y) == 0 && strcmp(x, "-") != 0;
}

/* Checks every flag: usage errors (2) first, then values (1). Nothing is read or written. */
static int
check_args(issue_args *a, const vp_profile **prof)
{
	const char *outs[4];
	vp_error e = { 0 };
	int rc;

	if (a->profile == NULL)
		return cli_usage("issue", "--profile P is required");
	if ((a->csr != NULL) == (a->generate_key != 0))
		return cli_usage("issue", "give either --csr FILE or --generate-key");
	if (a->p12 != NULL && a->p12passfile == NULL)
		return cli_usage("issue", "--p12 needs --p12-passphrase-file F");
	if (a->p12 == NULL && a->p12passfile != NULL)
		return cli_usage("issue", "--p12-passphrase-file goes with --p12 F.p12");
	if (a->p12 == NULL && a->p12_legacy)
		return cli_usage("issue", "--p12-legacy goes with --p12 F.p12");
	if (!a->generate_key && (a->p12 != NULL || a->key_out != NULL))
		return cli_usage("issue", "%s delivers a key made here: it goes with --generate-key",
		    a->p12 != NULL ? "--p12" : "--key-out");
	if (a->generate_key && a->p12 == NULL && a->key_out == NULL)
		return cli_usage("issue", "--generate-key needs --p12 F.p12 --p12-passphrase-file F, "
		    "or --out F --key-out K, to deliver the key");
	if ((a->key_out != NULL && strcmp(a->key_out, "-") == 0) ||
	    (a->p12 != NULL && strcmp(a->p12, "-") == 0))
		return cli_usage("issue", "keys are written to files only: give a file name to %s",
		    a->p12 != NULL && strcmp(a->p12, "-") == 0 ? "--p12" : "--key-out");

	if ((*prof = vp_profile_find(a->profile, &e)) == NULL)
		return cli_fail_err(&e);
	if (a->nemail > 0 && !(*prof)->email_san_allowed)
		return cli_fail("profile %s does not take --email", a->profile);
	if (a->owner != NULL && a->owner_kind[0] == '\0' && (rc = parse_owner(a)) != CLI_OK)
		return rc;
	outs[0] = a->out;
	outs[1] = a->chain_out;
	outs[2] = a->key_out;
	outs[3] = a->p12;
	for (size_t i = 0; i < 4; i++)
		for (size_t j = i + 1; j < 4; j++)
			if (same_path(outs[i], outs[j]))
				return cli_fail("the same file %s is given for two outputs", outs[i]);
	if ((rc = cli_check_output_path("--out", a->out)) != CLI_OK ||
	    (rc = cli_check_output_path("--chain-out", a->chain_out)) != CLI_OK ||
	    (rc = cli_check_output_path("--key-out", a->key_out)) != CLI_OK ||
	    (rc = cli_check_output_path("--p12", a->p12)) != CLI_OK)
		return rc;
	return CLI_OK;
}

/* Appends the PEM of x to b. */
static int
append_pem(X509 *x, vp_buf *b)
{
	vp_error e = { 0 };
	char *pem = NULL;
	size_t plen = 0;
	vp_err r;
	int rc = CLI_OK;

	if (vp_x509_to_pem(x, &pem, &plen, &e) != VP_OK)
		return cli_fail_err(&e);
	if ((r = vp_buf_add(b, pem, plen, &e)) == VP_ERR_NOMEM)
		rc = cli_fail("out of memory");
	else if (r != VP_OK)
		rc = cli_fail_err(&e);
	free(pem);
	return rc;
}

/* Writes one output after the certificate is recorded; a failure says what is left to do. */
static int
write_one(const char *path, const void *data, size_t len, mode_t mode, const char *serial,
    int is_key)
{
	vp_error e = { 0 };

	if (path == NULL || strcmp(path, "-") == 0) {
		if (fwrite(data, 1, len, stdout) == len && fflush(stdout) == 0)
			return CLI_OK;
		vp_error_set(&e, VP_ERR_IO, "cannot write to standard output");
	} else if (vp_file_write_atomic(path, data, len, mode, &e) == VP_OK) {
		return CLI_OK;
	}
	if (is_key)
		return cli_fail("certificate %s was issued and recorded, but its key was not saved "
		    "(%s): the key is lost, issue a new certificate", serial, e.msg);
	return cli_fail("certificate %s was issued and recorded, but %s; `vmspki cert show %s "
	    "--pem' prints it again", serial, e.msg, serial);
}

static int
write_outputs(const issue_args *a, const vp_ca *ca, vp_issued *is, const char *p12pass)
{
	const char *serial = is->rec.serial;
	STACK_OF(X509) *chain = NULL;
	vp_error e = { 0 };
	char *pem = NULL;
	unsigned char *p12 = NULL;
	size_t len = 0, p12len = 0;
	vp_buf cert, full;
	int rc = CLI_OK;

	/* a chain longer than the largest file vmspki reads could not be read back */
	vp_buf_init(&cert, "the certificate's PEM", VP_FILE_MAX, 0);
	vp_buf_init(&full, "the certificate chain", VP_FILE_MAX, 0);

	if (a->key_out != NULL) {
		if (vp_key_to_pem(is->key, &pem, &len, &e) != VP_OK) {
			rc = cli_fail("certificate %s was issued and recorded, but its key could not be "
			    "encoded (%s): the key is lost, issue a new certificate", serial, e.msg);
			goto out;
		}
		rc = write_one(a->key_out, pem, len, 0600, serial, 1);
		vp_secret_free(pem, len);
		pem = NULL;
		len = 0;
		if (rc != CLI_OK)
			goto out;
	}
	if (a->chain_out != NULL && (chain = vp_ca_chain_full(ca)) == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	if (a->p12 != NULL) {
		if (vp_issued_p12_ex(is, ca, p12pass, a->p12_legacy ? VP_P12_LEGACY : 0, &p12,
		    &p12len, &e) != VP_OK) {
			rc = cli_fail("certificate %s was issued and recorded, but the PKCS#12 could not "
			    "be built (%s): the key is lost, issue a new certificate", serial, e.msg);
			goto out;
		}
		if ((rc = write_one(a->p12, p12, p12len, 0600, serial, 1)) != CLI_OK)
			goto out;
		if (a->p12_legacy)
			cli_p12_legacy_warning(a->p12);
	}
	if ((rc = append_pem(is->cert, &cert)) != CLI_OK)
		goto out;
	if (a->out != NULL || !a->json)
		if ((rc = write_one(a->out, vp_buf_str(&cert), vp_buf_len(&cert), 0644, serial,
		    0)) != CLI_OK)
			goto out;
	if (a->chain_out != NULL) {
		if ((rc = append_pem(is->cert, &full)) != CLI_OK)
			goto out;
		for (int i = 0; i < sk_X509_num(chain); i++)
			if ((rc = append_pem(sk_X509_value(chain, i), &full)) != CLI_OK)
				goto out;
		if ((rc = write_one(a->chain_out, vp_buf_str(&full), vp_buf_len(&full), 0644,
		    serial, 0)) != CLI_OK)
			goto out;
	}
	if (a->json) {
		json_t *o = vp_json_issued(is, a->profile);
		int bad = o == NULL;

		if (a->owner != NULL) {
			bad |= json_object_set_new(o, "owner_kind", vp_json_str(a->owner_kind));
			bad |= json_object_set_new(o, "owner_id", vp_json_str(a->owner_id));
		}
		bad |= json_object_set_new(o, "certificate", vp_json_str(vp_buf_str(&cert)));
		if (bad) {
			json_decref(o);
			rc = cli_fail("certificate %s was issued and recorded, but out of memory "
			    "rendering JSON", serial);
			goto out;
		}
		rc = cli_json_print(o);
	}
out:
	free(pem);
	vp_buf_free(&cert);
	vp_buf_free(&full);
	if (p12 != NULL)
		vp_secret_free(p12, p12len);
	sk_X509_free(chain);   /* the certificates are borrowed from the CA */
	return rc;
}

/* Issues what a asks for (flags already parsed): checks, reads the inputs, opens the CA key,
 * signs, records and writes the outputs. Shared by `issue` and `cert renew`. */
static int
issue_run(cli *c, issue_args *a)
{
	const vp_profile *prof = NULL;
	vp_issue_req req;
	vp_issued *is = NULL;
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	X509_REQ *csr = NULL;
	unsigned char *csrdata = NULL;
	size_t csrlen = 0;
	char *p12pass = NULL;
	int rc;

	memset(&req, 0, sizeof(req));
	if ((rc = check_args(a, &prof)) != CLI_OK)
		goto out;

	/* Inputs that can be wrong, before any passphrase. */
	if (a->csr != NULL) {
		if (vp_file_read(a->csr, VP_FILE_MAX, &csrdata, &csrlen, &e) != VP_OK ||
		    vp_csr_parse(csrdata, csrlen, &csr, &e) != VP_OK) {
			rc = cli_fail_err(&e);
			goto out;
		}
	}
	if (a->p12 != NULL) {
		if ((rc = cli_p12_pass(a->p12passfile, 0, 0, &p12pass)) != CLI_OK)
			goto out;
		if (vp_p12_pass_check(p12pass, "the key", &e) != VP_OK) {
			rc = cli_fail_err(&e);
			goto out;
		}
	}
	if ((rc = cli_open_ca_key(c, a->passfile, &s, &ca)) != CLI_OK)
		goto out;

	req.profile = prof->name;
	req.csr = csr;
	req.generate_key = a->generate_key;
	req.cn = a->cn;
	req.dns = a->dns;
	req.ndns = a->ndns;
	req.ip = a->ip;
	req.nip = a->nip;
	req.email = a->email;
	req.nemail = a->nemail;
	req.days = (int)a->days;
	req.owner_kind = a->owner != NULL ? a->owner_kind : NULL;
	req.owner_id = a->owner_id;
	if (vp_issue_sign(ca, &req, &is, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	/* --watch without an owner: the certificate is its own owner ("watch:SERIAL"), which
	 * its renewals keep, so that one alarm follows the line of renewals. */
	if (a->watch && a->owner == NULL) {
		free(is->rec.owner_kind);
		free(is->rec.owner_id);
		is->rec.owner_kind = vp_strdup("watch");
		is->rec.owner_id = vp_strdup(is->rec.serial);
		if (is->rec.owner_kind == NULL || is->rec.owner_id == NULL) {
			rc = cli_fail("out of memory");
			goto out;
		}
		snprintf(a->owner_kind, sizeof(a->owner_kind), "watch");
		a->owner = a->owner_id = is->rec.owner_id;
	}
	if (vp_issue_record(s, &is, 1, c->actor, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	{
		char nb[32], na[32];

		vp_time_iso(is->rec.not_before, nb, sizeof(nb));
		vp_time_iso(is->rec.not_after, na, sizeof(na));
		fprintf(stderr, "issued %s certificate serial %s for ", prof->name, is->rec.serial);
		cli_puts_safe(stderr, is->rec.subject);
		fprintf(stderr, ", valid %s to %s\n", nb, na);
		if (is->clamped) {
			vp_time_iso(vp_asn1_time_unix(X509_get0_notAfter(vp_ca_cert(ca))), na,
			    sizeof(na));
			fprintf(stderr, "note: validity clamped to the CA's notAfter (%s)\n", na);
		}
	}
	rc = write_outputs(a, ca, is, p12pass);
out:
	vp_secret_free_str(p12pass);
	vp_issued_free(is);
	X509_REQ_free(csr);
	free(csrdata);
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

int
cmd_issue(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "csr", required_argument, NULL, O_CSR },
		{ "generate-key", no_argument, NULL, O_GENKEY },
		{ "cn", required_argument, NULL, O_CN },
		{ "dns", required_argument, NULL, O_DNS },
		{ "ip", required_argument, NULL, O_IP },
		{ "email", required_argument, NULL, O_EMAIL },
		{ "days", required_argument, NULL, O_DAYS },
		{ "out", required_argument, NULL, O_OUT },
		{ "chain-out", required_argument, NULL, O_CHAIN_OUT },
		{ "key-out", required_argument, NULL, O_KEY_OUT },
		{ "p12", required_argument, NULL, O_P12 },
		{ "p12-passphrase-file", required_argument, NULL, OPT_P12PASSFILE },
		{ "owner", required_argument, NULL, O_OWNER },
		{ "p12-legacy", no_argument, NULL, O_P12_LEGACY },
		{ "watch", no_argument, NULL, O_WATCH },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	issue_args a;
	int ch, rc;

	memset(&a, 0, sizeof(a));
	a.dns = calloc((size_t)argc, sizeof(*a.dns));
	a.ip = calloc((size_t)argc, sizeof(*a.ip));
	a.email = calloc((size_t)argc, sizeof(*a.email));
	if (a.dns == NULL || a.ip == NULL || a.email == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	cli_getopt_reset();
	while ((ch = cli_getopt(c, "issue", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			goto out;
		case O_PROFILE: a.profile = optarg; break;
		case O_CSR: a.csr = optarg; break;
		case O_GENKEY: a.generate_key = 1; break;
		case O_CN: a.cn = optarg; break;
		case O_DNS: a.dns[a.ndns++] = optarg; break;
		case O_IP: a.ip[a.nip++] = optarg; break;
		case O_EMAIL: a.email[a.nemail++] = optarg; break;
		case O_OUT: a.out = optarg; break;
		case O_CHAIN_OUT: a.chain_out = optarg; break;
		case O_KEY_OUT: a.key_out = optarg; break;
		case O_P12: a.p12 = optarg; break;
		case OPT_P12PASSFILE: a.p12passfile = optarg; break;
		case O_OWNER: a.owner = optarg; break;
		case O_P12_LEGACY: a.p12_legacy = 1; break;
		case O_WATCH: a.watch = 1; break;
		case OPT_JSON: a.json = 1; break;
		case OPT_PASSFILE: a.passfile = optarg; break;
		case O_DAYS:
			if ((rc = cli_parse_int("--days", optarg, 1, 36525, &a.days)) != CLI_OK)
				goto out;
			break;
		}
	}
	if ((rc = cli_operands("issue", argc, argv, NULL)) != CLI_OK)
		goto out;
	rc = issue_run(c, &a);
out:
	free(a.dns);
	free(a.ip);
	free(a.email);
	return rc;
}

/* ---- issue 19, item 4: cert renew ---- */

int
cmd_cert_renew(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "csr", required_argument, NULL, O_CSR },
		{ "generate-key", no_argument, NULL, O_GENKEY },
		{ "days", required_argument, NULL, O_DAYS },
		{ "out", required_argument, NULL, O_OUT },
		{ "chain-out", required_argument, NULL, O_CHAIN_OUT },
		{ "key-out", required_argument, NULL, O_KEY_OUT },
		{ "p12", required_argument, NULL, O_P12 },
		{ "p12-passphrase-file", required_argument, NULL, OPT_P12PASSFILE },
		{ "p12-legacy", no_argument, NULL, O_P12_LEGACY },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	const char *serial;
	vp_issue_renewal rn;
	vp_cert_rec old;
	issue_args a;
	vp_error e = { 0 };
	vp_store *s = NULL;
	int ch, rc;

	memset(&a, 0, sizeof(a));
	memset(&rn, 0, sizeof(rn));
	memset(&old, 0, sizeof(old));
	cli_getopt_reset();
	while ((ch = cli_getopt(c, "cert renew", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			goto out;
		case O_CSR: a.csr = optarg; break;
		case O_GENKEY: a.generate_key = 1; break;
		case O_OUT: a.out = optarg; break;
		case O_CHAIN_OUT: a.chain_out = optarg; break;
		case O_KEY_OUT: a.key_out = optarg; break;
		case O_P12: a.p12 = optarg; break;
		case OPT_P12PASSFILE: a.p12passfile = optarg; break;
		case O_P12_LEGACY: a.p12_legacy = 1; break;
		case OPT_JSON: a.json = 1; break;
		case OPT_PASSFILE: a.passfile = optarg; break;
		case O_DAYS:
			if ((rc = cli_parse_int("--days", optarg, 1, 36525, &a.days)) != CLI_OK)
				goto out;
			break;
		}
	}
	if (optind + 1 != argc) {
		rc = cli_usage("cert renew", "give the serial of the certificate to renew (vmspki "
		    "cert list)");
		goto out;
	}
	serial = argv[optind];
	if ((a.csr != NULL) == (a.generate_key != 0)) {
		rc = cli_usage("cert renew", "give either --csr FILE (the holder's new key) or "
		    "--generate-key");
		goto out;
	}
	/* What the old certificate was: read before any passphrase is asked for. */
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		goto out;
	if (vp_store_cert_get(s, serial, &old, &e) != VP_OK ||
	    vp_issue_renewal_from(&old, &rn, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	vp_store_close(s);
	s = NULL;
	a.profile = rn.profile;
	a.cn = rn.cn;
	a.dns = (const char **)rn.dns;
	a.ndns = rn.ndns;
	a.ip = (const char **)rn.ip;
	a.nip = rn.nip;
	a.email = (const char **)rn.email;
	a.nemail = rn.nemail;
	if (rn.owner_kind[0] != '\0') {
		/* The owner is kept as it was (already checked when it was first issued). */
		snprintf(a.owner_kind, sizeof(a.owner_kind), "%s", rn.owner_kind);
		a.owner = a.owner_id = rn.owner_id;
	}
	fprintf(stderr, "renewing certificate %s (profile %s, ", old.serial, rn.profile);
	cli_puts_safe(stderr, old.subject);
	fprintf(stderr, ")\n");
	rc = issue_run(c, &a);
out:
	vp_store_close(s);
	vp_cert_rec_clear(&old);
	vp_issue_renewal_clear(&rn);
	return rc;
}
