/* Helpers shared by the vmspki commands: option parsing, messages and exit statuses, opening
 * the store and the CA, passphrases, output files, and the text form of a certificate. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cli.h"
#include "vmspki/passphrase.h"
#include "vmspki/util.h"

#define P12_ENV "VMSPKI_P12_PASSPHRASE"

int
cli_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("vmspki: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_REFUSED;
}

int
cli_fail_err(const vp_error *e)
{
	return cli_fail("%s", e->msg[0] != '\0' ? e->msg : vp_err_str(e->code));
}

int
cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("vmspki: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry `vmspki %s%s--help'.\n", cmd != NULL ? cmd : "",
	    cmd != NULL ? " " : "");
	return CLI_USAGE;
}

void
cli_getopt_reset(void)
{
	optind = 0;   /* glibc: 0 also resets getopt's internal state for a new argv */
	opterr = 0;
}

/* The option word as typed, without any "=value" (which could be a secret typed by mistake). */
static void
option_word(char **argv, int shortch, char *buf, size_t n)
{
	const char *w = optind > 0 ? argv[optind - 1] : "";

	if (strncmp(w, "--", 2) != 0 && shortch > 0 && shortch < 256) {
		snprintf(buf, n, "-%c", shortch);
		return;
	}
	snprintf(buf, n, "%s", w);
	buf[strcspn(buf, "=")] = '\0';
}

/* getopt_long would take "--passphrase=X" as an abbreviation of --passphrase-file and then
 * name X in its error: a passphrase typed as an argument must be refused without echoing it. */
static int
refuse_secret_args(const char *cmd, int argc, char **argv)
{
	static const char *const ok[] = { "--passphrase-file", "--p12-passphrase-file",
	    "--password-file" };
	char word[64];

	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *w = argv[i];
		size_t n = strcspn(w, "=");
		int fine = 0;

		if (strncmp(w, "--pass", 6) != 0 && strncmp(w, "--p12-pass", 10) != 0 &&
		    strncmp(w, "--pw", 4) != 0)
			continue;
		for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++)
			fine |= strlen(ok[k]) == n && strncmp(w, ok[k], n) == 0;
		if (fine) {
			i += w[n] == '\0';   /* skip the file name */
			continue;
		}
		snprintf(word, sizeof(word), "%.*s", (int)(n < 40 ? n : 40), w);
		cli_usage(cmd, "unknown option %s: passphrases are never given as arguments; use "
		    "--passphrase-file F or --p12-passphrase-file F", word);
		return -1;
	}
	return 0;
}

/* The help of cmd ("ca show", "issue"; NULL: the main help), as `vmspki help CMD` prints it. */
static int
help_for(const char *cmd)
{
	char buf[64], *words[2] = { buf, NULL };

	if (cmd == NULL)
		return cli_help(0, NULL);
	snprintf(buf, sizeof(buf), "%s", cmd);
	if ((words[1] = strchr(buf, ' ')) != NULL)
		*words[1]++ = '\0';
	return cli_help(words[1] != NULL ? 2 : 1, words);
}

int
cli_getopt(cli *c, const char *cmd, int argc, char **argv, const char *shortopts,
    const struct option *longopts, int *rc)
{
	char optstr[64], word[128];
	int ch;

	*rc = CLI_USAGE;
	if (optind == 0 && cmd != NULL && refuse_secret_args(cmd, argc, argv) != 0)
		return CLI_OPT_STOP;

	/* ':' first (after a '+' that stops at the first word) so that a missing argument is told
	 * apart from an unknown option. */
	if (shortopts[0] == '+')
		snprintf(optstr, sizeof(optstr), "+:%s", shortopts + 1);
	else
		snprintf(optstr, sizeof(optstr), ":%s", shortopts);
	for (;;) {
		ch = getopt_long(argc, argv, optstr, longopts, NULL);
		switch (ch) {
		case OPT_DATA:
			if (optarg[0] == '\0') {
				cli_usage(cmd, "--data needs a directory");
				return CLI_OPT_STOP;
			}
			c->datadir = optarg;
			continue;
		case OPT_STORE:
			if (optarg[0] == '\0') {
				cli_usage(cmd, "--store needs postgresql://... or sqlite:FILE");
				return CLI_OPT_STOP;
			}
			c->store = optarg;
			continue;
		case 'h':
			*rc = help_for(cmd);
			return CLI_OPT_STOP;
		case ':':
			option_word(argv, optopt, word, sizeof(word));
			cli_usage(cmd, "option %s needs an argument", word);
			return CLI_OPT_STOP;
		case '?':
			option_word(argv, optopt, word, sizeof(word));
			if (cmd != NULL)
				cli_usage(cmd, "unknown option %s for `vmspki %s'", word, cmd);
			else
				cli_usage(NULL, "unknown option %s", word);
			return CLI_OPT_STOP;
		default:
			*rc = CLI_OK;
			return ch;
		}
	}
}

int
cli_operands(const char *cmd, int argc, char **argv, const char *missing)
{
	int want = missing != NULL;

	if (missing != NULL && optind >= argc)
		return cli_usage(cmd, "%s", missing);
	if (optind + want < argc)
		return cli_usage(cmd, "unexpected argument \"%s\"", argv[optind + want]);
	return CLI_OK;
}

int
cli_getopt_simple(cli *c, const char *cmd, int argc, char **argv, int *json, int *rc)
{
	static const struct option common[] = { CLI_OPTS_COMMON, { NULL, 0, NULL, 0 } };
	static const struct option with_json[] = {
		CLI_OPTS_COMMON,
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, cmd, argc, argv, "h", json != NULL ? with_json : common,
	    rc)) != -1) {
		if (ch == CLI_OPT_STOP)
			return 0;
		*json = 1;   /* OPT_JSON: the only option of its own */
	}
	return (*rc = cli_operands(cmd, argc, argv, NULL)) == CLI_OK;
}

/* Takes --data DIR (or --data=DIR) given between a group's name (argv[0]) and its
 * sub-command, leaving argv[0] the group and argv[1] the sub-command. CLI_OK or CLI_USAGE. */
static int
group_data(cli *c, const char *group, int *argc, char ***argv)
{
	char *name = (*argv)[0];

	while (*argc > 1) {
		const char *w = (*argv)[1];

		if (strcmp(w, "--data") == 0) {
			if (*argc < 3 || (*argv)[2][0] == '\0')
				return cli_usage(group, "--data needs a directory");
			c->datadir = (*argv)[2];
			*argc -= 2;
			*argv += 2;
		} else if (strncmp(w, "--data=", 7) == 0 && w[7] != '\0') {
			c->datadir = w + 7;
			*argc -= 1;
			*argv += 1;
		} else if (strcmp(w, "--store") == 0) {
			if (*argc < 3 || (*argv)[2][0] == '\0')
				return cli_usage(group, "--store needs postgresql://... or sqlite:FILE");
			c->store = (*argv)[2];
			*argc -= 2;
			*argv += 2;
		} else if (strncmp(w, "--store=", 8) == 0 && w[8] != '\0') {
			c->store = w + 8;
			*argc -= 1;
			*argv += 1;
		} else {
			break;
		}
		(*argv)[0] = name;
	}
	return CLI_OK;
}

int
cli_group(cli *c, const char *group, const cli_sub *subs, size_t n, int argc, char **argv)
{
	char names[128] = "", *words[1] = { (char *)group };
	const char *sub;

	if (group_data(c, group, &argc, &argv) != CLI_OK)
		return CLI_USAGE;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names);

		snprintf(names + l, sizeof(names) - l, "%s%s", i == 0 ? "" : i + 1 < n ? ", " :
		    " or ", subs[i].name);
	}
	if ((sub = argc > 1 ? argv[1] : NULL) == NULL)
		return cli_usage(group, "missing sub-command: %s", names);
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0)
		return cli_help(1, words);
	for (size_t i = 0; i < n; i++)
		if (strcmp(sub, subs[i].name) == 0)
			return subs[i].run(c, argc - 1, argv + 1);
	return cli_usage(group, "unknown sub-command \"%s\": use %s", sub, names);
}

int
cli_parse_int(const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		return cli_fail("%s needs a whole number from %ld to %ld, not \"%s\"", opt, min,
		    max, s);
	*out = v;
	return CLI_OK;
}

int
cli_parse_id(const char *cmd, const char *what, const char *listcmd, const char *s,
    int64_t *id)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < 1)
		return cli_usage(cmd, "%s id is a positive number (`vmspki %s` shows them), not "
		    "\"%.32s\"", what, listcmd, s);
	*id = (int64_t)v;
	return CLI_OK;
}

const char *
cli_safe(const char *s, char *buf, size_t n)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return "-";
	for (i = 0; s[i] != '\0' && i + 1 < n; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

int
cli_no_ca(const cli *c)
{
	return cli_fail("no CA in %s: run `vmspki ca init` or `vmspki ca import`", c->datadir);
}

const char *
cli_path(cli *c, vp_path p)
{
	vp_error e = { 0 };

	/* --data may come after the command's name: the handle follows c->datadir. */
	if (c->dd != NULL && strcmp(vp_datadir_dir(c->dd), c->datadir) != 0) {
		vp_datadir_close(c->dd);
		c->dd = NULL;
	}
	if (c->dd == NULL && vp_datadir_open(c->datadir, &c->dd, &e) != VP_OK)
		return NULL;
	return vp_datadir_path(c->dd, p);
}

const char *
cli_store_where(cli *c)
{
	vp_error e = { 0 };
	const char *db, *setting;

	if (c->where != NULL)
		return c->where;
	if ((setting = cli_path(c, VP_PATH_STORE)) == NULL ||
	    (db = cli_path(c, VP_PATH_DB)) == NULL) {
		cli_fail("out of memory");
		return NULL;
	}
	if (vp_store_locate(c->store, setting, db, &c->where, &e) != VP_OK) {
		cli_fail_err(&e);
		return NULL;
	}
	return c->where;
}

int
cli_store_is_pg(cli *c)
{
	const char *w = cli_store_where(c);

	return w != NULL && vp_store_where_is_pg(w);
}

int
cli_store_open(cli *c, int create, vp_store **out)
{
	vp_error e = { 0 };
	struct stat st;
	const char *db;
	int rc = CLI_OK;

	*out = NULL;
	if ((db = cli_store_where(c)) == NULL)
		return CLI_REFUSED;
	if (create) {
		if (vp_mkdir_p(c->datadir, 0700, &e) != VP_OK) {
			rc = cli_fail_err(&e);
			goto out;
		}
	} else if (!vp_store_where_is_pg(db) && stat(db, &st) == -1) {
		rc = errno == ENOENT || errno == ENOTDIR ? cli_no_ca(c) :
		    cli_fail("cannot read %s: %s", db, strerror(errno));
		goto out;
	}
	if (vp_store_open(db, out, &e) != VP_OK)
		rc = cli_fail_err(&e);
out:
	return rc;
}

int
cli_ca_load_public(cli *c, vp_store *s, vp_ca **out)
{
	vp_error e = { 0 };
	vp_err r;

	if ((r = vp_ca_load(s, NULL, out, &e)) == VP_OK)
		return CLI_OK;
	return r == VP_ERR_NOTFOUND ? cli_no_ca(c) : cli_fail_err(&e);
}

int
cli_ca_load_key(cli *c, vp_store *s, const char *passfile, vp_ca **out)
{
	vp_error e = { 0 };
	char *pass = NULL;
	vp_err r;
	int rc;

	/* No CA is told before any passphrase is asked for. */
	if ((rc = cli_ca_load_public(c, s, out)) != CLI_OK)
		return rc;
	vp_ca_free(*out);
	*out = NULL;
	if (vp_passphrase_get(c->datadir, passfile, "CA key passphrase: ", &pass, &e) != VP_OK)
		return cli_fail_err(&e);
	r = vp_ca_load(s, pass, out, &e);
	vp_secret_free_str(pass);
	if (r == VP_OK)
		return CLI_OK;
	return r == VP_ERR_NOTFOUND ? cli_no_ca(c) : cli_fail_err(&e);
}

/* cli_open_ca and cli_open_ca_key. */
static int
open_ca(cli *c, int with_key, const char *passfile, vp_store **s, vp_ca **ca)
{
	int rc;

	*ca = NULL;
	if ((rc = cli_store_open(c, 0, s)) != CLI_OK)
		return rc;
	rc = with_key ? cli_ca_load_key(c, *s, passfile, ca) : cli_ca_load_public(c, *s, ca);
	if (rc != CLI_OK) {
		vp_store_close(*s);
		*s = NULL;
	}
	return rc;
}

int
cli_open_ca(cli *c, vp_store **s, vp_ca **ca)
{
	return open_ca(c, 0, NULL, s, ca);
}

int
cli_open_ca_key(cli *c, const char *passfile, vp_store **s, vp_ca **ca)
{
	return open_ca(c, 1, passfile, s, ca);
}

int
cli_p12_pass(const char *file, int env_ok, int confirm, char **out)
{
	vp_error e = { 0 };
	const char *env;
	char buf[VP_PASSPHRASE_MAX + 1];
	int r;

	*out = NULL;
	if (file != NULL) {
		if (vp_passphrase_from_file(file, out, &e) != VP_OK)
			return cli_fail_err(&e);
		return CLI_OK;
	}
	if (env_ok && (env = getenv(P12_ENV)) != NULL) {
		if ((*out = vp_strdup(env)) == NULL)
			return cli_fail("out of memory");
		return CLI_OK;
	}
	if (!isatty(STDIN_FILENO))
		return cli_fail("no PKCS#12 password: give --p12-passphrase-file F%s", env_ok ?
		    ", set $" P12_ENV ", or run on a terminal to be asked" : "");
	r = EVP_read_pw_string_min(buf, 0, (int)sizeof(buf) - 1, "PKCS#12 password: ", confirm);
	if (r != 0) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return cli_fail(r == -2 ? "cancelled at the PKCS#12 password prompt" :
		    "could not read the PKCS#12 password from the terminal");
	}
	*out = vp_strdup(buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	return *out == NULL ? cli_fail("out of memory") : CLI_OK;
}

static int
is_binary(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] >= 0x80 || (p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t'))
			return 1;
	}
	return 0;
}

int
cli_write_output(const char *path, const void *data, size_t len, mode_t mode)
{
	vp_error e = { 0 };

	if (path == NULL || strcmp(path, "-") == 0) {
		if (isatty(STDOUT_FILENO) && is_binary(data, len))
			return cli_fail("refusing to write binary data to a terminal: give --out FILE "
			    "or redirect the output");
		if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
			return cli_fail("cannot write to standard output: %s", strerror(errno));
		return CLI_OK;
	}
	if (vp_file_write_atomic(path, data, len, mode, &e) != VP_OK)
		return cli_fail_err(&e);
	return CLI_OK;
}

int
cli_check_output_path(const char *opt, const char *path)
{
	struct stat st;
	char *dir, *slash;
	int rc = CLI_OK;

	if (path == NULL || strcmp(path, "-") == 0)
		return CLI_OK;
	if (path[0] == '\0')
		return cli_fail("%s needs a file name", opt);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return cli_fail("%s %s is a directory: give a file name", opt, path);
	if ((dir = vp_strdup(path)) == NULL)
		return cli_fail("out of memory");
	if ((slash = strrchr(dir, '/')) == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode))
		rc = cli_fail("%s %s: directory %s does not exist", opt, path, dir);
	else if (access(dir, W_OK | X_OK) == -1)
		rc = cli_fail("%s %s: cannot write in directory %s: %s", opt, path, dir,
		    strerror(errno));
	free(dir);
	return rc;
}

int
cli_flush(void)
{
	return fflush(stdout) == 0 ? CLI_OK : cli_fail("cannot write to standard output");
}

void
cli_puts_safe(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s != NULL ? s : ""); *p; p++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

void
cli_log_stderr(void *arg, const char *line)
{
	(void)arg;
	cli_puts_safe(stderr, line);
	fputc('\n', stderr);
}

void
cli_field(FILE *f, const char *label, const char *value)
{
	fprintf(f, "  %-20s ", label);
	cli_puts_safe(f, value);
	fputc('\n', f);
}

int
cli_list_json(vp_store *s, cli_list_fetch fetch, void *arg)
{
	vp_error e = { 0 };
	json_t *a = json_array();
	vp_err r;

	if (a == NULL)
		return cli_fail("out of memory");
	if ((r = fetch(s, arg, a, &e)) != VP_OK) {
		json_decref(a);
		return r == VP_ERR_NOMEM ? cli_fail("out of memory") : cli_fail_err(&e);
	}
	return cli_json_print(a);
}

int
cli_json_print(json_t *v)
{
	int rc = CLI_OK;

	if (v == NULL)
		return cli_fail("out of memory");
	if (json_dumpf(v, stdout, JSON_INDENT(2)) != 0 || fputc('\n', stdout) == EOF ||
	    fflush(stdout) != 0)
		rc = cli_fail("cannot write to standard output: %s", strerror(errno));
	json_decref(v);
	return rc;
}

int
cli_cert_describe(X509 *x, FILE *out)
{
	vp_x509_info i;
	vp_error e = { 0 };
	char nb[32], na[32];

	if (vp_x509_info_get(x, &i, &e) != VP_OK)
		return cli_fail_err(&e);
	vp_time_iso(i.not_before, nb, sizeof(nb));
	vp_time_iso(i.not_after, na, sizeof(na));
	cli_field(out, "subject:", i.subject);
	cli_field(out, "issuer:", i.issuer);
	cli_field(out, "serial:", i.serial);
	cli_field(out, "not before:", nb);
	cli_field(out, "not after:", na);
	cli_field(out, "key:", i.key);
	cli_field(out, "SHA-256 fingerprint:", i.sha256);
	cli_field(out, "SHA-1 fingerprint:", i.sha1);
	vp_x509_info_clear(&i);
	return CLI_OK;
}

/* ---- issue 19, item 6: legacy PKCS#12 ---- */

void
cli_p12_legacy_warning(const char *path)
{
	fprintf(stderr, "warning: ");
	cli_puts_safe(stderr, path);
	fprintf(stderr, " is a legacy PKCS#12 (3DES, SHA-1 MAC, 2048 rounds) for Windows "
	    "Server 2016 and Windows 10 before 1709: a copy of it lets anyone test passwords "
	    "fast. Import it, then delete it.\n");
}
