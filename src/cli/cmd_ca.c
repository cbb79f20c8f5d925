/* `vmspki ca init|import|show|export`: create or import the site's CA, describe it, export
 * its certificate or (with its key) move it elsewhere. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <inttypes.h>

#include "cli.h"
#include "vmspki/device.h"
#include "vmspki/engine.h"
#include "vmspki/issue.h"
#include "vmspki/passphrase.h"
#include "vmspki/task.h"
#include "vmspki/util.h"

/* Options of the ca commands. */
enum {
	O_CN = OPT_FIRST_LOCAL, O_KEY, O_DAYS, O_REMEMBER, O_CHAIN, O_FORMAT, O_OUT, O_WITH_KEY,
	O_REPLACE, O_WAIT
};
/* issue 19, item 6: ca export --with-key --p12-legacy (apart, for merges). */
enum { O_P12_LEGACY = OPT_FIRST_LOCAL + 64 };

/* A store to create a CA in: refuses before any prompt when the data directory has a CA. */
static int
check_no_ca(cli *c, vp_store **s)
{
	vp_error e = { 0 };
	struct stat st;
	vp_ca *ca = NULL;
	const char *db;
	vp_err r;
	int rc;

	*s = NULL;
	if ((db = cli_store_where(c)) == NULL)
		return CLI_REFUSED;
	rc = vp_store_where_is_pg(db) ? 0 : stat(db, &st);
	if (rc == -1)
		return CLI_OK;   /* no store yet: it is created once the passphrase is known */
	if ((rc = cli_store_open(c, 0, s)) != CLI_OK)
		return rc;
	if ((r = vp_ca_load(*s, NULL, &ca, &e)) == VP_OK) {
		char *subj = vp_x509_name_str(X509_get_subject_name(vp_ca_cert(ca)));

		rc = cli_fail("%s already has a CA (%s): vmspki does not replace it; use another "
		    "--data directory", c->datadir, subj != NULL ? subj : "?");
		free(subj);
		vp_ca_free(ca);
	} else if (r != VP_ERR_NOTFOUND) {
		rc = cli_fail_err(&e);
	}
	if (rc != CLI_OK) {
		vp_store_close(*s);
		*s = NULL;
	}
	return rc;
}

/* Creates the data directory and the store for a new CA, remembering what did not exist. */
typedef struct fresh {
	int dir_made;   /* the data directory was made by this command */
	int db_made;    /* the database was made by this command */
} fresh;

static int
create_store(cli *c, vp_store **s, fresh *f)
{
	struct stat st;

	f->dir_made = stat(c->datadir, &st) == -1;
	/* check_no_ca found no database (a PostgreSQL one is the operator's, never removed) */
	f->db_made = !cli_store_is_pg(c);
	return cli_store_open(c, 1, s);
}

/* A CA that could not be created leaves nothing behind: no empty database, no directory. */
static void
undo_create(cli *c, vp_store **s, const fresh *f)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	const char *db = cli_path(c, VP_PATH_DB), *certs = cli_path(c, VP_PATH_CERTS);

	vp_store_close(*s);
	*s = NULL;
	if (!f->db_made)
		return;
	for (size_t i = 0; db != NULL && i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t n = strlen(db) + strlen(suffixes[i]) + 1;
		char *p = malloc(n);

		if (p != NULL) {
			snprintf(p, n, "%s%s", db, suffixes[i]);
			unlink(p);
		}
		free(p);
	}
	if (f->dir_made) {
		if (certs != NULL)
			rmdir(certs);
		rmdir(c->datadir);
	}
}

/* The passphrase that will protect a new or imported CA key. *generated tells that it is a
 * random one (only with --remember and no passphrase given). */
static int
new_ca_passphrase(cli *c, const char *passfile, int remember, char **pass, int *generated)
{
	vp_error e = { 0 };
	const char *env = getenv(VP_PASSPHRASE_ENV);
	int given = passfile != NULL || (env != NULL && env[0] != '\0');

	*pass = NULL;
	*generated = 0;
	if (!given && remember) {
		if (vp_passphrase_random(pass, &e) != VP_OK)
			return cli_fail_err(&e);
		*generated = 1;
		return CLI_OK;
	}
	if (!given && !isatty(STDIN_FILENO))
		return cli_fail("no passphrase for the CA key: give --passphrase-file F, set $%s, or "
		    "use --remember to generate one and keep it in %s/%s", VP_PASSPHRASE_ENV,
		    c->datadir, vp_path_name(VP_PATH_PASSPHRASE));
	if (vp_passphrase_new(passfile, "Passphrase for the CA key: ", pass, &e) != VP_OK)
		return cli_fail_err(&e);
	return CLI_OK;
}

/* After the CA was stored: keep the passphrase if asked to. */
static int
remember_passphrase(cli *c, const char *pass, int generated)
{
	vp_error e = { 0 };

	if (vp_passphrase_remember(c->datadir, pass, &e) == VP_OK)
		return CLI_OK;
	if (generated)
		return cli_fail("the CA was created but its generated passphrase could not be saved "
		    "(%s), so its key cannot be used: remove %s/%s and run the command again",
		    e.msg, c->datadir, vp_path_name(VP_PATH_DB));
	return cli_fail("the CA was created but its passphrase was not remembered: %s", e.msg);
}

/* What `ca init` and `ca import` print once the CA is in place. */
static int
print_created(cli *c, vp_store *s, const char *verb, int remember)
{
	vp_x509_info i = { 0 };
	char when[32];
	vp_error e = { 0 };
	vp_ca *ca = NULL;
	const char *path, *pf;
	int rc;

	if ((rc = cli_ca_load_public(c, s, &ca)) != CLI_OK)
		return rc;
	path = cli_path(c, VP_PATH_CA_CERT);
	pf = cli_path(c, VP_PATH_PASSPHRASE);
	if (path == NULL || pf == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	if (vp_x509_info_get(vp_ca_cert(ca), &i, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	printf("%s %s CA in %s\n", verb, vp_ca_is_root(ca) ? "a root" : "an intermediate",
	    c->datadir);
	cli_field(stdout, "subject:", i.subject);
	cli_field(stdout, "key:", i.key);
	vp_time_iso(i.not_before, when, sizeof(when));
	cli_field(stdout, "not before:", when);
	vp_time_iso(i.not_after, when, sizeof(when));
	cli_field(stdout, "not after:", when);
	cli_field(stdout, "SHA-256 fingerprint:", i.sha256);
	if (!vp_ca_is_root(ca))
		printf("  %-20s %d certificate(s) above this CA\n", "chain:",
		    sk_X509_num(vp_ca_chain(ca)));
	cli_field(stdout, "certificate:", path);
	if (remember) {
		fputs("  passphrase:          remembered in ", stdout);
		cli_puts_safe(stdout, pf);
		fputs(" (0600)\n", stdout);
	} else {
		printf("  passphrase:          not remembered: give it with --passphrase-file F, $%s "
		    "or at the prompt\n", VP_PASSPHRASE_ENV);
	}
	rc = cli_flush();
out:
	vp_x509_info_clear(&i);
	vp_ca_free(ca);
	return rc;
}

/* Stores the new CA: vp_ca_init or vp_ca_import, given the store and the new key's passphrase. */
typedef vp_err (*ca_maker)(cli *c, vp_store *s, const char *pass, void *arg, vp_error *e);

/* What `ca init` and `ca import` do once their input is checked: the passphrase for the new
 * key, the store (s: the one check_no_ca opened, or NULL to create it; closed here), the CA
 * made by make (nothing left behind when that fails), the passphrase kept if asked, and the
 * summary ("created" or "imported": verb). */
static int
make_ca(cli *c, vp_store *s, const char *passfile, int remember, ca_maker make, void *arg,
    const char *verb)
{
	fresh made = { 0, 0 };
	vp_error e = { 0 };
	char *pass = NULL;
	int rc, generated = 0;

	if ((rc = new_ca_passphrase(c, passfile, remember, &pass, &generated)) != CLI_OK)
		goto out;
	if (s == NULL && (rc = create_store(c, &s, &made)) != CLI_OK)
		goto out;
	if (make(c, s, pass, arg, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		undo_create(c, &s, &made);
		goto out;
	}
	if (remember && (rc = remember_passphrase(c, pass, generated)) != CLI_OK)
		goto out;
	rc = print_created(c, s, verb, remember);
out:
	vp_secret_free_str(pass);
	vp_store_close(s);
	return rc;
}

/* --replace keeps the current passphrase (nothing to remember); --wait needs a task. */
static int
replace_opts_check(const char *cmd, int replace, int remember, int wait)
{
	if (replace && remember)
		return cli_usage(cmd, "--replace keeps the passphrase of the current CA (and "
		    "whether it is remembered): drop --remember");
	if (wait && !replace)
		return cli_usage(cmd, "--wait only goes with --replace (it waits for the "
		    "replacement task)");
	return CLI_OK;
}

/* `--replace`: the new CA is made (or imported) under the passphrase of the current one,
 * with its task in the same transaction; then the task is followed (--wait: run here when no
 * daemon serves the data directory) or left to the daemon. */
static int
replace_ca(cli *c, const char *passfile, int wait, ca_maker make, void *arg)
{
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	vp_sitekey *k = NULL;
	vp_ca_transition tr;
	vp_task t;
	vp_x509_info i = { 0 };
	char *pass = NULL;
	int rc;

	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if ((rc = cli_ca_load_public(c, s, &ca)) != CLI_OK)
		goto out;
	vp_ca_free(ca);
	ca = NULL;
	if (vp_passphrase_get(c->datadir, passfile, "Passphrase of the current CA key: ", &pass,
	    &e) != VP_OK || make(c, s, pass, arg, &e) != VP_OK ||
	    vp_ca_transition_get(s, &tr, &e) != VP_OK || vp_task_get(s, tr.task, &t, &e) != VP_OK ||
	    vp_ca_load(s, pass, &ca, &e) != VP_OK ||
	    vp_x509_info_get(vp_ca_cert(ca), &i, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	printf("replaced the CA in ");
	cli_puts_safe(stdout, c->datadir);
	printf(": the new %s CA issues every certificate from now on\n", vp_ca_is_root(ca) ?
	    "root" : "intermediate");
	cli_field(stdout, "subject:", i.subject);
	cli_field(stdout, "key:", i.key);
	cli_field(stdout, "SHA-256 fingerprint:", i.sha256);
	printf("  %-20s ", "replaces:");
	cli_puts_safe(stdout, tr.subject);
	printf(" (SHA-256 %.16s...), still trusted until task %" PRId64 " has moved everything\n",
	    tr.fingerprint, tr.task);
	printf("task %" PRId64 ": moving %" PRId64 " device%s, %" PRId64 " component%s and the "
	    "server certificate to the new CA\n", tr.task, t.total, t.total == 1 ? "" : "s",
	    t.items - 2, t.items - 2 == 1 ? "" : "s");
	if ((rc = cli_flush()) != CLI_OK)
		goto out;
	if (wait) {
		if (!vp_engine_other_alive(s) && vp_sitekey_open(s, pass, &k, &e) != VP_OK) {
			rc = cli_fail_err(&e);
			goto out;
		}
		rc = cli_task_follow(c, s, tr.task, ca, k, 0);
	} else if (!vp_engine_other_alive(s)) {
		fprintf(stderr, "vmspki: no daemon serves %s: run `vmspki task wait %" PRId64 "` (or "
		    "start `vmspki serve`) to carry the task out\n", c->datadir, tr.task);
	} else {
		fprintf(stderr, "vmspki: the daemon runs task %" PRId64 " (`vmspki task show %"
		    PRId64 "`)\n", tr.task, tr.task);
	}
out:
	vp_x509_info_clear(&i);
	vp_sitekey_free(k);
	vp_ca_free(ca);
	vp_secret_free_str(pass);
	vp_store_close(s);
	return rc;
}

static vp_err
init_ca(cli *c, vp_store *s, const char *pass, void *arg, vp_error *e)
{
	return vp_ca_init(s, c->datadir, arg, pass, e);
}

static int
ca_init(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "cn", required_argument, NULL, O_CN },
		{ "key", required_argument, NULL, O_KEY },
		{ "days", required_argument, NULL, O_DAYS },
		{ "remember", no_argument, NULL, O_REMEMBER },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ "replace", no_argument, NULL, O_REPLACE },
		{ "wait", no_argument, NULL, O_WAIT },
		{ NULL, 0, NULL, 0 }
	};
	vp_ca_init_opts o = { .key = VP_KEY_RSA4096, .actor = c->actor };
	const char *passfile = NULL;
	vp_error e = { 0 };
	vp_store *s = NULL;
	int ch, rc, remember = 0, wait = 0;
	long days;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "ca init", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case O_CN:
			o.cn = optarg;
			break;
		case O_KEY:
			if (vp_keytype_parse(optarg, &o.key, &e) != VP_OK)
				return cli_fail_err(&e);
			break;
		case O_DAYS:
			if ((rc = cli_parse_int("--days", optarg, 1, 36525, &days)) != CLI_OK)
				return rc;
			o.days = (int)days;
			break;
		case O_REMEMBER:
			remember = 1;
			break;
		case OPT_PASSFILE:
			passfile = optarg;
			break;
		case O_REPLACE:
			o.replace = 1;
			break;
		case O_WAIT:
			wait = 1;
			break;
		}
	}
	if ((rc = cli_operands("ca init", argc, argv, NULL)) != CLI_OK)
		return rc;
	if ((rc = replace_opts_check("ca init", o.replace, remember, wait)) != CLI_OK)
		return rc;
	if (o.replace)
		return replace_ca(c, passfile, wait, init_ca, &o);

	if ((rc = check_no_ca(c, &s)) != CLI_OK)
		return rc;
	return make_ca(c, s, passfile, remember, init_ca, &o, "created");
}

/* What `ca import` stores, for make_ca. */
typedef struct import_in {
	const unsigned char *p12, *chain;
	size_t p12len, chainlen;
	const char *p12pass;
	int replace;
} import_in;

static vp_err
import_ca(cli *c, vp_store *s, const char *pass, void *arg, vp_error *e)
{
	const import_in *in = arg;

	return vp_ca_import(s, c->datadir, in->p12, in->p12len, in->p12pass, in->chain,
	    in->chainlen, pass, in->replace, c->actor, e);
}

static int
ca_import(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "p12-passphrase-file", required_argument, NULL, OPT_P12PASSFILE },
		{ "chain", required_argument, NULL, O_CHAIN },
		{ "remember", no_argument, NULL, O_REMEMBER },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ "replace", no_argument, NULL, O_REPLACE },
		{ "wait", no_argument, NULL, O_WAIT },
		{ NULL, 0, NULL, 0 }
	};
	const char *passfile = NULL, *p12file = NULL, *p12passfile = NULL, *chainfile = NULL;
	unsigned char *p12 = NULL, *chain = NULL;
	size_t p12len = 0, chainlen = 0;
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *sk = NULL;
	vp_error e = { 0 };
	vp_store *s = NULL;
	char *p12pass = NULL;
	int ch, rc, remember = 0, replace = 0, wait = 0;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "ca import", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case OPT_P12PASSFILE:
			p12passfile = optarg;
			break;
		case O_CHAIN:
			chainfile = optarg;
			break;
		case O_REMEMBER:
			remember = 1;
			break;
		case OPT_PASSFILE:
			passfile = optarg;
			break;
		case O_REPLACE:
			replace = 1;
			break;
		case O_WAIT:
			wait = 1;
			break;
		}
	}
	if ((rc = cli_operands("ca import", argc, argv, "give the PKCS#12 file to import")) !=
	    CLI_OK)
		return rc;
	if ((rc = replace_opts_check("ca import", replace, remember, wait)) != CLI_OK)
		return rc;
	p12file = argv[optind];

	if (vp_file_read(p12file, VP_FILE_MAX, &p12, &p12len, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (chainfile != NULL && vp_file_read(chainfile, VP_FILE_MAX, &chain, &chainlen, &e) !=
	    VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (!replace && (rc = check_no_ca(c, &s)) != CLI_OK)
		goto out;
	if ((rc = cli_p12_pass(p12passfile, 1, 0, &p12pass)) != CLI_OK)
		goto out;
	/* A wrong password or a file that is no PKCS#12 is told before anything is asked or
	 * made; vp_ca_import checks the rest (CA, key usage, validity, chain). */
	if (vp_p12_parse(p12, p12len, p12pass, &k, &x, &sk, &e) != VP_OK) {
		rc = cli_fail("%s: %s", p12file, e.msg);
		goto out;
	}
	EVP_PKEY_free(k);
	X509_free(x);
	sk_X509_pop_free(sk, X509_free);
	{
		import_in in = { p12, chain, p12len, chainlen, p12pass, replace };

		if (replace)
			rc = replace_ca(c, passfile, wait, import_ca, &in);
		else
			rc = make_ca(c, s, passfile, remember, import_ca, &in, "imported");
		s = NULL;   /* closed by make_ca */
	}
out:
	vp_secret_free_str(p12pass);
	vp_secret_free(p12, p12len);
	free(chain);
	vp_store_close(s);
	return rc;
}

static int
ca_show(cli *c, int argc, char **argv)
{
	vp_cert_filter f = { 0 };
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	json_t *o = NULL, *chain = NULL;
	STACK_OF(X509) *sk;
	int64_t issued = 0;
	vp_ca_transition tr;
	const char *path;
	int rc, json = 0, bad = 0;

	if (!cli_getopt_simple(c, "ca show", argc, argv, &json, &rc))
		return rc;

	if ((rc = cli_open_ca(c, &s, &ca)) != CLI_OK)
		return rc;
	if (vp_ca_transition_get(s, &tr, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	f.issuer_fp = vp_ca_fingerprint(ca);
	if (vp_store_cert_count(s, &f, &issued, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if ((path = cli_path(c, VP_PATH_CA_CERT)) == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	sk = vp_ca_chain(ca);
	if (json) {
		if ((o = json_object()) == NULL || (chain = json_array()) == NULL) {
			rc = cli_fail("out of memory");
			goto out;
		}
		bad |= json_object_set_new(o, "type",
		    json_string(vp_ca_is_root(ca) ? "root" : "intermediate"));
		if (vp_json_ca(ca, issued, o, &e) != VP_OK) {
			rc = cli_fail_err(&e);
			goto out;
		}
		for (int i = 0; i < sk_X509_num(sk); i++) {
			char *n = vp_x509_name_str(X509_get_subject_name(sk_X509_value(sk, i)));

			bad |= n == NULL || json_array_append_new(chain, vp_json_str(n)) != 0;
			free(n);
		}
		bad |= json_object_set(o, "chain", chain);   /* subject names, unlike the API's PEM */
		bad |= json_object_set_new(o, "certificate_file", vp_json_str(path));
		if (tr.task != 0)
			bad |= json_object_set_new(o, "replace_task", json_integer(tr.task)) ||
			    json_object_set_new(o, "previous", json_pack("{s:s,s:s}", "subject",
			    tr.subject, "fingerprint", tr.fingerprint));
		if (bad) {
			rc = cli_fail("out of memory");
			goto out;
		}
		rc = cli_json_print(o);
		o = NULL;
		goto out;
	}
	printf("%s CA in ", vp_ca_is_root(ca) ? "root" : "intermediate");
	cli_puts_safe(stdout, c->datadir);
	fputc('\n', stdout);
	if ((rc = cli_cert_describe(vp_ca_cert(ca), stdout)) != CLI_OK)
		goto out;
	if (sk_X509_num(sk) == 0) {
		cli_field(stdout, "chain:", "none (self-signed root)");
	} else {
		printf("  %-20s %d certificate(s) above this CA\n", "chain:", sk_X509_num(sk));
		for (int i = 0; i < sk_X509_num(sk); i++) {
			char *n = vp_x509_name_str(X509_get_subject_name(sk_X509_value(sk, i)));

			cli_field(stdout, "", n != NULL ? n : "?");
			free(n);
		}
	}
	printf("  %-20s %lld\n", "issued certificates:", (long long)issued);
	cli_field(stdout, "certificate file:", path);
	if (tr.task != 0) {
		printf("  %-20s ", "replacing:");
		cli_puts_safe(stdout, tr.subject);
		printf(" (SHA-256 %.16s...): still trusted until task %" PRId64 " has moved every "
		    "certificate to this CA\n", tr.fingerprint, tr.task);
	}
	rc = cli_flush();
out:
	json_decref(o);
	json_decref(chain);
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

static int
ca_export(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "format", required_argument, NULL, O_FORMAT },
		{ "out", required_argument, NULL, O_OUT },
		{ "with-key", no_argument, NULL, O_WITH_KEY },
		{ "p12-legacy", no_argument, NULL, O_P12_LEGACY },
		{ "p12-passphrase-file", required_argument, NULL, OPT_P12PASSFILE },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	const char *out = NULL, *format = NULL, *passfile = NULL, *p12passfile = NULL;
	vp_export_fmt fmt = VP_EXPORT_PEM;
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	unsigned char *data = NULL;
	size_t len = 0;
	char *p12pass = NULL;
	int ch, rc, with_key = 0, legacy = 0;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "ca export", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case O_P12_LEGACY:
			legacy = 1;
			break;
		case O_FORMAT:
			format = optarg;
			break;
		case O_OUT:
			out = optarg;
			break;
		case O_WITH_KEY:
			with_key = 1;
			break;
		case OPT_P12PASSFILE:
			p12passfile = optarg;
			break;
		case OPT_PASSFILE:
			passfile = optarg;
			break;
		}
	}
	if ((rc = cli_operands("ca export", argc, argv, NULL)) != CLI_OK)
		return rc;
	if (with_key) {
		if (format != NULL)
			return cli_usage("ca export", "--with-key always writes PKCS#12: drop --format");
		if (out == NULL || strcmp(out, "-") == 0)
			return cli_usage("ca export", "--with-key needs --out F.p12");
		if (p12passfile == NULL)
			return cli_usage("ca export", "--with-key needs --p12-passphrase-file F");
	} else {
		if (p12passfile != NULL)
			return cli_usage("ca export", "--p12-passphrase-file goes with --with-key");
		if (legacy)
			return cli_usage("ca export", "--p12-legacy goes with --with-key");
		if (format == NULL || strcmp(format, "pem") == 0)
			fmt = VP_EXPORT_PEM;
		else if (strcmp(format, "der") == 0)
			fmt = VP_EXPORT_DER;
		else if (strcmp(format, "p7b") == 0)
			fmt = VP_EXPORT_P7B;
		else
			return cli_fail("unknown export format \"%s\": use pem, der or p7b", format);
	}
	if ((rc = cli_check_output_path("--out", out)) != CLI_OK)
		return rc;

	if ((rc = cli_open_ca(c, &s, &ca)) != CLI_OK)
		return rc;
	if (!with_key) {
		if (fmt == VP_EXPORT_DER && (out == NULL || strcmp(out, "-") == 0) &&
		    isatty(STDOUT_FILENO)) {
			rc = cli_fail("refusing to write DER to a terminal: give --out FILE or redirect "
			    "the output");
			goto out;
		}
		if (vp_ca_export(ca, fmt, &data, &len, &e) != VP_OK) {
			rc = cli_fail_err(&e);
			goto out;
		}
		rc = cli_write_output(out, data, len, 0644);
		goto out;
	}
	if ((rc = cli_p12_pass(p12passfile, 0, 1, &p12pass)) != CLI_OK)
		goto out;
	if (vp_p12_pass_check(p12pass, "the CA key", &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	vp_ca_free(ca);
	ca = NULL;
	if ((rc = cli_ca_load_key(c, s, passfile, &ca)) != CLI_OK)
		goto out;
	if (vp_ca_export_p12_ex(ca, p12pass, legacy ? VP_P12_LEGACY : 0, &data, &len, &e) !=
	    VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if ((rc = cli_write_output(out, data, len, 0600)) != CLI_OK)
		goto out;
	fprintf(stderr, "wrote the CA with its key to ");
	cli_puts_safe(stderr, out);
	fprintf(stderr, " (PKCS#12, 0600)\n");
	if (legacy)
		cli_p12_legacy_warning(out);
out:
	if (with_key)
		vp_secret_free(data, len);
	else
		free(data);
	vp_secret_free_str(p12pass);
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

int
cmd_ca(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = {
		{ "init", ca_init }, { "import", ca_import }, { "show", ca_show },
		{ "export", ca_export },
		{ "trust", cmd_ca_trust },     /* cmd_catrust.c */
		{ "renew", cli_ca_renew }     /* cmd_ca_renew.c */
	};

	return cli_group(c, "ca", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
