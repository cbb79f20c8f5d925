/* Unit tests for the device inventory (device.c, sitekey.c, store_device.c, device_csv.c):
 * the site data key (made once, wrapped under the CA passphrase or a site key file, wrong
 * passphrase and wrong file refused), device passwords bound to their row, the CSV reader
 * (quoting, line ends, malformed lines by number), the operator's input checks, device states
 * and the state round trip through the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "device_internal.h"
#include "vapix.h"
#include "store_internal.h"
#include "testutil.h"
#include "vmspki/ca.h"
#include "vmspki/device.h"
#include "vmspki/store.h"
#include "vmspki/util.h"

#define PASS "correct horse battery"
#define DEV_PASSWORD "s3cret,\"quoted\" pass"

/* One store with a CA and its site key open, shared by the tests that need no fresh key. */
typedef struct fx {
	char *dir;
	vp_store *s;
	vp_sitekey *k;
} fx;

static fx F;

static vp_store *
store_new(char **dir, int with_ca)
{
	vp_ca_init_opts o = { .key = VP_KEY_EC_P256, .actor = "test", .cn = "Device Test CA" };
	vp_store *s;
	vp_error e = { 0 };

	*dir = vp_test_mkdtemp();
	s = vp_test_store_open(*dir);
	if (with_ca)
		assert_int_equal(vp_ca_init(s, *dir, &o, PASS, &e), VP_OK);
	return s;
}

static int
group_setup(void **state)
{
	vp_error e = { 0 };

	(void)state;
	unsetenv(VP_SITEKEY_FILE_ENV);
	F.s = store_new(&F.dir, 1);
	if (vp_sitekey_open(F.s, PASS, &F.k, &e) != VP_OK) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	vp_sitekey_free(F.k);
	vp_store_close(F.s);
	vp_test_rmdir(F.dir);
	return 0;
}

static int
count_kv(vp_store *s, const char *key)
{
	unsigned char *v = NULL;
	size_t len = 0;
	vp_error e = { 0 };
	vp_err r = vp_store_kv_get(s, key, &v, &len, &e);

	free(v);
	return r == VP_OK;
}

/* A device row with a sealed password, inserted without a probe. */
static int64_t
insert_device(vp_store *s, const vp_sitekey *k, const char *addr, int port, const char *pw)
{
	unsigned char *sec = NULL;
	size_t len = 0;
	char aad[300];
	vp_device d;
	vp_error e = { 0 };

	memset(&d, 0, sizeof(d));
	snprintf(d.address, sizeof(d.address), "%s", addr);
	d.http_port = port;
	d.https_port = 443;
	snprintf(d.username, sizeof(d.username), "root");
	snprintf(d.status, sizeof(d.status), "%s", VP_STATUS_OK);
	snprintf(d.https_state, sizeof(d.https_state), "%s", VP_HTTPS_MISSING);
	vp_device_aad(addr, port, aad, sizeof(aad));
	assert_int_equal(vp_sitekey_seal(k, aad, (const unsigned char *)pw, strlen(pw), &sec,
	    &len, &e), VP_OK);
	/* The ciphertext does not hold the password in clear. */
	for (size_t i = 0; i + strlen(pw) <= len; i++)
		assert_memory_not_equal(sec + i, pw, strlen(pw));
	assert_int_equal(vp_store_device_insert(s, &d, sec, len, &e), VP_OK);
	free(sec);
	assert_true(d.id > 0);
	return d.id;
}

/* ---- site key ---- */

static void
sitekey_reopens_with_the_ca_passphrase(void **state)
{
	vp_sitekey *k2 = NULL;
	vp_error e = { 0 };
	unsigned char *blob = NULL, *pt = NULL;
	size_t blen = 0, plen = 0;
	char how[32];

	(void)state;
	assert_true(count_kv(F.s, VP_SITEKEY_KV));
	assert_int_equal(vp_sitekey_wrapping(F.s, how, sizeof(how), &e), VP_OK);
	assert_string_equal(how, "passphrase");
	assert_int_equal(vp_sitekey_seal(F.k, "aad", (const unsigned char *)"pw", 2, &blob, &blen,
	    &e), VP_OK);
	/* Opened again (another process): the same key, not a new one. */
	assert_int_equal(vp_sitekey_open(F.s, PASS, &k2, &e), VP_OK);
	assert_int_equal(vp_sitekey_unseal(k2, "aad", blob, blen, &pt, &plen, &e), VP_OK);
	assert_int_equal(plen, 2);
	assert_memory_equal(pt, "pw", 2);
	vp_secret_free(pt, plen + 1);
	free(blob);
	vp_sitekey_free(k2);
}

static void
sitekey_wrong_passphrase_is_refused(void **state)
{
	vp_sitekey *k2 = NULL;
	vp_error e = { 0 };

	(void)state;
	assert_int_equal(vp_sitekey_open(F.s, "not the passphrase", &k2, &e), VP_ERR_PASSPHRASE);
	assert_null(k2);
	assert_non_null(strstr(e.msg, "wrong passphrase"));
	assert_null(strstr(e.msg, "not the passphrase"));
	assert_int_equal(vp_sitekey_open(F.s, NULL, &k2, &e), VP_ERR_PASSPHRASE);
	assert_non_null(strstr(e.msg, "CA passphrase"));
}

static void
sitekey_first_use_needs_the_ca_and_its_passphrase(void **state)
{
	vp_sitekey *k = NULL;
	vp_error e = { 0 };
	char *dir;
	vp_store *s = store_new(&dir, 0);

	(void)state;
	/* No CA: nothing to wrap under. */
	assert_int_equal(vp_sitekey_open(s, PASS, &k, &e), VP_ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, "ca init"));
	vp_store_close(s);
	vp_test_rmdir(dir);

	/* A wrong passphrase at first use would lock the key under it: refused, nothing kept. */
	s = store_new(&dir, 1);
	assert_int_equal(vp_sitekey_open(s, "another passphrase", &k, &e), VP_ERR_PASSPHRASE);
	assert_null(k);
	assert_false(count_kv(s, VP_SITEKEY_KV));
	assert_int_equal(vp_sitekey_open(s, PASS, &k, &e), VP_OK);
	assert_true(count_kv(s, VP_SITEKEY_KV));
	vp_sitekey_free(k);
	vp_store_close(s);
	vp_test_rmdir(dir);
}

static char *
write_keyfile(const char *dir, const char *name, size_t n, int fill, mode_t mode)
{
	unsigned char buf[64];
	vp_error e = { 0 };
	char *p = vp_path_join(dir, name);

	assert_true(n <= sizeof(buf));
	memset(buf, fill, sizeof(buf));
	assert_int_equal(vp_file_write_atomic(p, buf, n, 0600, &e), VP_OK);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

static void
sitekey_file_wraps_instead_of_the_passphrase(void **state)
{
	vp_sitekey *k = NULL, *k2 = NULL;
	vp_error e = { 0 };
	unsigned char *blob = NULL, *pt = NULL;
	size_t blen = 0, plen = 0;
	char how[32], *dir, *good, *other, *shorty, *open_to_all;
	vp_store *s = store_new(&dir, 1);

	(void)state;
	good = write_keyfile(dir, "site.key", 32, 0x41, 0600);
	other = write_keyfile(dir, "other.key", 40, 0x42, 0600);
	shorty = write_keyfile(dir, "short.key", 31, 0x43, 0600);
	open_to_all = write_keyfile(dir, "open.key", 32, 0x41, 0644);

	/* Made under the passphrase first, then the file takes over once it is set. */
	assert_int_equal(vp_sitekey_open(s, PASS, &k, &e), VP_OK);
	assert_int_equal(vp_sitekey_seal(k, "x", (const unsigned char *)"data", 4, &blob, &blen,
	    &e), VP_OK);
	assert_int_equal(setenv(VP_SITEKEY_FILE_ENV, good, 1), 0);
	assert_int_equal(vp_sitekey_open(s, PASS, &k2, &e), VP_OK);
	vp_sitekey_free(k2);
	assert_int_equal(vp_sitekey_wrapping(s, how, sizeof(how), &e), VP_OK);
	assert_string_equal(how, "file");
	/* No passphrase needed now, and the data key is the same. */
	assert_int_equal(vp_sitekey_open(s, NULL, &k2, &e), VP_OK);
	assert_int_equal(vp_sitekey_unseal(k2, "x", blob, blen, &pt, &plen, &e), VP_OK);
	assert_memory_equal(pt, "data", 4);
	vp_secret_free(pt, plen + 1);
	vp_sitekey_free(k2);
	k2 = NULL;

	/* Another file, a short one, one every user can read, none at all: refused. */
	assert_int_equal(setenv(VP_SITEKEY_FILE_ENV, other, 1), 0);
	assert_int_equal(vp_sitekey_open(s, PASS, &k2, &e), VP_ERR_PASSPHRASE);
	assert_non_null(strstr(e.msg, "is not the one"));
	assert_int_equal(setenv(VP_SITEKEY_FILE_ENV, shorty, 1), 0);
	assert_int_equal(vp_sitekey_open(s, PASS, &k2, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "at least 32"));
	assert_int_equal(setenv(VP_SITEKEY_FILE_ENV, open_to_all, 1), 0);
	assert_int_equal(vp_sitekey_open(s, PASS, &k2, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "chmod 600"));
	assert_int_equal(unsetenv(VP_SITEKEY_FILE_ENV), 0);
	assert_int_equal(vp_sitekey_open(s, PASS, &k2, &e), VP_ERR_PASSPHRASE);
	assert_non_null(strstr(e.msg, VP_SITEKEY_FILE_ENV));
	assert_null(k2);

	free(blob);
	vp_sitekey_free(k);
	free(good);
	free(other);
	free(shorty);
	free(open_to_all);
	vp_store_close(s);
	vp_test_rmdir(dir);
}

static void
sitekey_file_at_first_use_needs_no_ca(void **state)
{
	vp_sitekey *k = NULL;
	vp_error e = { 0 };
	char how[32], *dir, *file;
	vp_store *s = store_new(&dir, 0);

	(void)state;
	file = write_keyfile(dir, "site.key", 48, 0x5a, 0600);
	assert_int_equal(setenv(VP_SITEKEY_FILE_ENV, file, 1), 0);
	assert_int_equal(vp_sitekey_open(s, NULL, &k, &e), VP_OK);
	assert_int_equal(vp_sitekey_wrapping(s, how, sizeof(how), &e), VP_OK);
	assert_string_equal(how, "file");
	assert_int_equal(unsetenv(VP_SITEKEY_FILE_ENV), 0);
	vp_sitekey_free(k);
	free(file);
	vp_store_close(s);
	vp_test_rmdir(dir);
}

static void
sealed_data_is_bound_to_its_aad(void **state)
{
	unsigned char *blob = NULL, *pt = NULL;
	size_t blen = 0, plen = 0;
	vp_error e = { 0 };
	char a[300], b[300];

	(void)state;
	vp_device_aad("10.0.0.5", 80, a, sizeof(a));
	vp_device_aad("10.0.0.6", 80, b, sizeof(b));
	assert_string_equal(a, "vmspki-device:10.0.0.5:80");
	assert_int_equal(vp_sitekey_seal(F.k, a, (const unsigned char *)DEV_PASSWORD,
	    strlen(DEV_PASSWORD), &blob, &blen, &e), VP_OK);
	assert_int_equal(vp_sitekey_unseal(F.k, b, blob, blen, &pt, &plen, &e), VP_ERR_CRYPTO);
	assert_null(pt);
	vp_device_aad("10.0.0.5", 8080, b, sizeof(b));
	assert_int_equal(vp_sitekey_unseal(F.k, b, blob, blen, &pt, &plen, &e), VP_ERR_CRYPTO);
	blob[blen / 2] ^= 1;
	assert_int_equal(vp_sitekey_unseal(F.k, a, blob, blen, &pt, &plen, &e), VP_ERR_CRYPTO);
	blob[blen / 2] ^= 1;
	assert_int_equal(vp_sitekey_unseal(F.k, a, blob, 10, &pt, &plen, &e), VP_ERR_CRYPTO);
	assert_int_equal(vp_sitekey_unseal(F.k, a, blob, blen, &pt, &plen, &e), VP_OK);
	assert_string_equal((char *)pt, DEV_PASSWORD);
	assert_null(strstr(e.msg, DEV_PASSWORD));
	vp_secret_free(pt, plen + 1);
	free(blob);
}

static void
password_cannot_move_to_another_row(void **state)
{
	sqlite3 *db = vp_store_db(F.s);
	char *pw = NULL, sql[200];
	vp_error e = { 0 };
	int64_t a = insert_device(F.s, F.k, "10.9.0.1", 80, DEV_PASSWORD);
	int64_t b = insert_device(F.s, F.k, "10.9.0.2", 80, "other password");

	(void)state;
	assert_int_equal(vp_device_password(F.s, F.k, a, &pw, &e), VP_OK);
	assert_string_equal(pw, DEV_PASSWORD);
	vp_secret_free(pw, strlen(pw));
	pw = NULL;
	/* Someone with write access to the database copies a's ciphertext into b's row. */
	snprintf(sql, sizeof(sql), "UPDATE devices SET secret = (SELECT secret FROM devices WHERE "
	    "id = %lld) WHERE id = %lld", (long long)a, (long long)b);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(vp_device_password(F.s, F.k, b, &pw, &e), VP_ERR_CRYPTO);
	assert_null(pw);
	assert_non_null(strstr(e.msg, "moved"));
	assert_int_equal(vp_device_password(F.s, F.k, 999999, &pw, &e), VP_ERR_NOTFOUND);
	assert_int_equal(vp_device_remove(F.s, a, "test", &e), VP_OK);
	assert_int_equal(vp_device_remove(F.s, b, "test", &e), VP_OK);
}

/* ---- CSV ---- */

typedef struct got_line {
	int line;
	size_t n;
	char f[VP_CSV_FIELDS_MAX][64];
	char err[300];
} got_line;

typedef struct got_lines {
	got_line l[16];
	size_t n;
} got_lines;

static int
collect(int line, char *const *fields, size_t n, const char *error, void *arg)
{
	got_lines *g = arg;
	got_line *l;

	assert_true(g->n < 16);
	l = &g->l[g->n++];
	memset(l, 0, sizeof(*l));
	l->line = line;
	if (error != NULL) {
		assert_null(fields);
		snprintf(l->err, sizeof(l->err), "%s", error);
		return 0;
	}
	l->n = n;
	for (size_t i = 0; i < n && i < VP_CSV_FIELDS_MAX; i++)
		snprintf(l->f[i], sizeof(l->f[i]), "%s", fields[i]);
	return 0;
}

static void
csv_reads_quoted_fields_and_line_ends(void **state)
{
	static const char csv[] =
	    "\xef\xbb\xbf" "address,http_port,https_port,user,password,name\r\n"
	    "10.0.0.1,80,443,root,\"pa,ss\"\"word\",cam1.site\r\n"
	    "\r\n"
	    "# a comment\n"
	    "  10.0.0.2 , 8080 ,8443, admin ,\" lead and trail \"\n"
	    "\"10.0.0.3\",,,\"\",\"\"\"\"\n"
	    "10.0.0.4,80,443,root,last";   /* no line end at the end */
	got_lines g = { 0 };
	vp_error e = { 0 };

	(void)state;
	assert_int_equal(vp_csv_read_lines(csv, sizeof(csv) - 1, collect, &g, &e), VP_OK);
	assert_int_equal(g.n, 5);
	assert_int_equal(g.l[0].line, 1);
	assert_int_equal(g.l[0].n, 6);
	assert_string_equal(g.l[0].f[0], "address");
	assert_int_equal(g.l[1].line, 2);
	assert_int_equal(g.l[1].n, 6);
	assert_string_equal(g.l[1].f[4], "pa,ss\"word");
	assert_string_equal(g.l[1].f[5], "cam1.site");
	assert_int_equal(g.l[2].line, 5);
	assert_int_equal(g.l[2].n, 5);
	assert_string_equal(g.l[2].f[0], "10.0.0.2");   /* spaces around unquoted fields go */
	assert_string_equal(g.l[2].f[1], "8080");
	assert_string_equal(g.l[2].f[3], "admin");
	assert_string_equal(g.l[2].f[4], " lead and trail ");   /* quoted: kept */
	assert_int_equal(g.l[3].line, 6);
	assert_int_equal(g.l[3].n, 5);
	assert_string_equal(g.l[3].f[1], "");
	assert_string_equal(g.l[3].f[3], "");
	assert_string_equal(g.l[3].f[4], "\"");
	assert_int_equal(g.l[4].line, 7);
	assert_string_equal(g.l[4].f[4], "last");
}

static void
csv_reports_malformed_lines_by_number(void **state)
{
	static const char csv[] =
	    "10.0.0.1,80,443,root,\"unterminated\n"        /* 1 */
	    "10.0.0.2,80,443,root,good\n"                  /* 2 */
	    "10.0.0.3,80,443,root,pa\"ss\n"                /* 3: quote in an unquoted field */
	    "10.0.0.4,80,443,root,\"pw\"x\n"               /* 4: text after the closing quote */
	    "10.0.0.5,80,443,root,pw,name,extra\n"         /* 5: seven fields */
	    "10.0.0.6,80,443,root,p\rw\n"                  /* 6: a CR inside */
	    "10.0.0.7,80,443,root,good2\n";                /* 7 */
	char with_nul[] = "10.0.0.8,80,443,root,p\0w\n10.0.0.9,80,443,root,ok\n";
	got_lines g = { 0 };
	vp_error e = { 0 };

	(void)state;
	assert_int_equal(vp_csv_read_lines(csv, sizeof(csv) - 1, collect, &g, &e), VP_OK);
	assert_int_equal(g.n, 7);
	assert_int_equal(g.l[0].line, 1);
	assert_non_null(strstr(g.l[0].err, "not closed"));
	assert_int_equal(g.l[1].line, 2);
	assert_string_equal(g.l[1].err, "");
	assert_string_equal(g.l[1].f[4], "good");
	assert_int_equal(g.l[2].line, 3);
	assert_non_null(strstr(g.l[2].err, "malformed quoting"));
	assert_int_equal(g.l[3].line, 4);
	assert_non_null(strstr(g.l[3].err, "malformed quoting"));
	assert_int_equal(g.l[4].line, 5);
	assert_non_null(strstr(g.l[4].err, "7 fields"));
	assert_int_equal(g.l[5].line, 6);
	assert_non_null(strstr(g.l[5].err, "carriage return"));
	assert_int_equal(g.l[6].line, 7);
	assert_string_equal(g.l[6].f[4], "good2");
	/* Messages never repeat a field (a password). */
	for (size_t i = 0; i < g.n; i++) {
		assert_null(strstr(g.l[i].err, "unterminated"));
		assert_null(strstr(g.l[i].err, "pa\"ss"));
	}

	memset(&g, 0, sizeof(g));
	assert_int_equal(vp_csv_read_lines(with_nul, sizeof(with_nul) - 1, collect, &g, &e),
	    VP_OK);
	assert_int_equal(g.n, 2);
	assert_non_null(strstr(g.l[0].err, "NUL"));
	assert_string_equal(g.l[1].f[4], "ok");
}

static void
csv_bounds_field_length(void **state)
{
	char *csv = malloc(VP_CSV_FIELD_MAX + 100);
	got_lines g = { 0 };
	vp_error e = { 0 };
	size_t n;

	(void)state;
	assert_non_null(csv);
	n = (size_t)sprintf(csv, "10.0.0.1,80,443,root,");
	memset(csv + n, 'x', VP_CSV_FIELD_MAX + 1);
	n += VP_CSV_FIELD_MAX + 1;
	n += (size_t)sprintf(csv + n, "\nok,1,2,u,p\n");
	assert_int_equal(vp_csv_read_lines(csv, n, collect, &g, &e), VP_OK);
	assert_int_equal(g.n, 2);
	assert_non_null(strstr(g.l[0].err, "field 5 is longer"));
	assert_string_equal(g.l[1].f[0], "ok");
	free(csv);
}

typedef struct report {
	int line[16];
	int64_t id[16];
	char msg[16][VP_ERROR_MSG_MAX];
	size_t n;
} report;

static void
on_report(int line, int64_t id, const vp_error *err, void *arg)
{
	report *r = arg;

	assert_true(r->n < 16);
	r->line[r->n] = line;
	r->id[r->n] = id;
	snprintf(r->msg[r->n], sizeof(r->msg[r->n]), "%s", err != NULL ? err->msg : "");
	r->n++;
}

static void
import_reports_bad_lines_and_changes_nothing_for_them(void **state)
{
	static const char csv[] =
	    "address,http_port,https_port,user,password,name\n"   /* 1: header */
	    "10.0.0.1,80,443,root\n"                              /* 2: four fields */
	    "10.0.0.2,eighty,443,root,pw\n"                       /* 3: bad port */
	    "not an address,80,443,root,pw\n"                     /* 4 */
	    "10.0.0.4,80,80,root,pw\n"                            /* 5: same ports */
	    "10.0.0.5,80,443,,pw\n"                               /* 6: no user */
	    "10.0.0.6,80,443,root,\"pw\n";                        /* 7: unterminated */
	report r = { 0 };
	size_t added = 9, failed = 9;
	vp_error e = { 0 };

	(void)state;
	assert_int_equal(vp_device_import_csv(F.s, F.k, NULL, csv, sizeof(csv) - 1, "test",
	    on_report, &r, &added, &failed, &e), VP_OK);
	assert_int_equal(added, 0);
	assert_int_equal(failed, 6);
	assert_int_equal(r.n, 6);
	for (size_t i = 0; i < r.n; i++) {
		assert_int_equal(r.line[i], (int)i + 2);
		assert_int_equal(r.id[i], 0);
		assert_true(r.msg[i][0] != '\0');
	}
	assert_non_null(strstr(r.msg[0], "4 fields"));
	assert_non_null(strstr(r.msg[1], "ports"));
	assert_non_null(strstr(r.msg[2], "neither an IP address nor a host name"));
	assert_non_null(strstr(r.msg[3], "differ"));
	assert_non_null(strstr(r.msg[4], "user name"));
	assert_non_null(strstr(r.msg[5], "not closed"));
	/* Without the site key nothing is read at all. */
	assert_int_equal(vp_device_import_csv(F.s, NULL, NULL, csv, sizeof(csv) - 1, "test",
	    NULL, NULL, &added, &failed, &e), VP_ERR_PASSPHRASE);
}

/* ---- checks ---- */

static void
new_device_checks(void **state)
{
	vp_device_new ok = { .address = "10.0.0.5", .username = "root", .password = "pw" }, nd;
	vp_error e = { 0 };
	char longpw[VP_DEVICE_PASSWORD_MAX + 2];

	(void)state;
	assert_int_equal(vp_device_new_check(&ok, &e), VP_OK);
	nd = ok;
	nd.address = "cam1.site.example";
	assert_int_equal(vp_device_new_check(&nd, &e), VP_OK);
	nd.address = "fd00::5";
	assert_int_equal(vp_device_new_check(&nd, &e), VP_OK);
#define BAD(field, value, words) do { \
	nd = ok; \
	nd.field = value; \
	assert_int_equal(vp_device_new_check(&nd, &e), VP_ERR_INVALID); \
	assert_non_null(strstr(e.msg, words)); \
} while (0)
	BAD(address, "", "needs an address");
	BAD(address, "10.0.0.256", "neither");
	BAD(address, "cam_1", "neither");
	BAD(address, "-cam", "neither");
	BAD(address, "fe80::1%eth0", "zone");
	BAD(address, "a\nb", "control");
	BAD(http_port, 70000, "HTTP port");
	BAD(https_port, -1, "HTTPS port");
	BAD(https_port, 80, "differ");
	BAD(username, "", "user name");
	BAD(username, "ro:ot", "without ':'");
	BAD(password, "", "password");
	BAD(password, "line\nbreak", "control characters");
	BAD(name, "not a name", "host name");
	BAD(cn_mode, "cn", "\"ip\"");
	BAD(cn_mode, "fqdn", "needs the device's name");
#undef BAD
	memset(longpw, 'p', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	nd = ok;
	nd.password = longpw;
	assert_int_equal(vp_device_new_check(&nd, &e), VP_ERR_INVALID);
	assert_null(strstr(e.msg, "pppp"));
	nd = ok;
	nd.cn_mode = "fqdn";
	nd.name = "cam1.site";
	assert_int_equal(vp_device_new_check(&nd, &e), VP_OK);
	nd.cn_mode = "ip";
	nd.address = "cam1.site";
	assert_int_equal(vp_device_new_check(&nd, &e), VP_ERR_INVALID);
}

static void
address_with_port_parses(void **state)
{
	char a[256];
	int port;
	vp_error e = { 0 };

	(void)state;
	assert_int_equal(vp_device_addr_parse("10.0.0.5:8080", a, sizeof(a), &port, &e), VP_OK);
	assert_string_equal(a, "10.0.0.5");
	assert_int_equal(port, 8080);
	assert_int_equal(vp_device_addr_parse("cam1.site", a, sizeof(a), &port, &e), VP_OK);
	assert_string_equal(a, "cam1.site");
	assert_int_equal(port, 0);
	assert_int_equal(vp_device_addr_parse("[fd00::5]:81", a, sizeof(a), &port, &e), VP_OK);
	assert_string_equal(a, "fd00::5");
	assert_int_equal(port, 81);
	assert_int_equal(vp_device_addr_parse("fd00::5", a, sizeof(a), &port, &e), VP_OK);
	assert_string_equal(a, "fd00::5");
	assert_int_equal(port, 0);
	assert_int_equal(vp_device_addr_parse("[fd00::5]", a, sizeof(a), &port, &e), VP_OK);
	assert_int_equal(vp_device_addr_parse("10.0.0.5:0", a, sizeof(a), &port, &e),
	    VP_ERR_INVALID);
	assert_int_equal(vp_device_addr_parse("10.0.0.5:80x", a, sizeof(a), &port, &e),
	    VP_ERR_INVALID);
	assert_int_equal(vp_device_addr_parse("[fd00::5", a, sizeof(a), &port, &e),
	    VP_ERR_INVALID);
	assert_int_equal(vp_device_addr_parse(":80", a, sizeof(a), &port, &e), VP_ERR_INVALID);
}

/* ---- states ---- */

static void
https_state_follows_the_seed(void **state)
{
	vp_device d;

	(void)state;
	memset(&d, 0, sizeof(d));
	snprintf(d.api, sizeof(d.api), "%s", VP_DEV_API_UNSUPPORTED);
	assert_string_equal(vp_device_https_state(&d, "default"), VP_HTTPS_UNSUPPORTED);
	snprintf(d.api, sizeof(d.api), "%s", VP_DEV_API_SOAP);
	assert_string_equal(vp_device_https_state(&d, ""), VP_HTTPS_MISSING);
	assert_string_equal(vp_device_https_state(&d, NULL), VP_HTTPS_MISSING);
	/* The factory certificate is bound, but it is not ours: Disabled. */
	assert_string_equal(vp_device_https_state(&d, "default"), VP_HTTPS_DISABLED);
	d.pinned = 1;
	snprintf(d.cert_alias, sizeof(d.cert_alias), "vmspki-https-1");
	assert_string_equal(vp_device_https_state(&d, "vmspki-https-1"), VP_HTTPS_ENABLED);
	assert_string_equal(vp_device_https_state(&d, "default"), VP_HTTPS_DISABLED);
}

static void
conn_follows_pinning(void **state)
{
	vp_device d;
	vp_dev_conn c;

	(void)state;
	memset(&d, 0, sizeof(d));
	snprintf(d.address, sizeof(d.address), "10.0.0.5");
	d.http_port = 8080;
	d.https_port = 8443;
	snprintf(d.username, sizeof(d.username), "root");
	vp_device_conn(&d, "pw", "/ca.pem", &c);
	assert_false(c.use_https);
	assert_false(c.verify);
	assert_null(c.ca_file);
	assert_int_equal(c.http_port, 8080);
	assert_int_equal(c.https_port, 8443);
	assert_string_equal(c.password, "pw");
	d.https_only = 1;
	vp_device_conn(&d, "pw", "/ca.pem", &c);
	assert_true(c.use_https);
	assert_false(c.verify);
	d.https_only = 0;
	d.pinned = 1;
	vp_device_conn(&d, "pw", "/ca.pem", &c);
	assert_true(c.use_https);
	assert_true(c.verify);
	assert_string_equal(c.ca_file, "/ca.pem");
}

static void
update_state_round_trip(void **state)
{
	vp_device d, got;
	vp_error e = { 0 };
	char *pw = NULL;
	int64_t id = insert_device(F.s, F.k, "10.8.0.1", 8080, DEV_PASSWORD);

	(void)state;
	assert_int_equal(vp_device_get(F.s, id, &d, &e), VP_OK);
	assert_string_equal(d.address, "10.8.0.1");
	assert_int_equal(d.http_port, 8080);
	assert_string_equal(d.https_state, VP_HTTPS_MISSING);
	snprintf(d.mac, sizeof(d.mac), "ACCC8E26DA33");
	snprintf(d.model, sizeof(d.model), "AXIS Q3709-PVE");
	snprintf(d.firmware, sizeof(d.firmware), "9.80.1");
	snprintf(d.api, sizeof(d.api), "%s", VP_DEV_API_SOAP);
	snprintf(d.https_state, sizeof(d.https_state), "%s", VP_HTTPS_ENABLED);
	snprintf(d.status, sizeof(d.status), "%s", VP_STATUS_EXPIRING);
	snprintf(d.status_detail, sizeof(d.status_detail), "expires in 20 days");
	d.pinned = 1;
	d.https_only = 1;
	snprintf(d.cert_serial, sizeof(d.cert_serial), "1a2b3c");
	snprintf(d.cert_alias, sizeof(d.cert_alias), "vmspki-https-1a2b3c");
	d.cert_not_after = (int64_t)time(NULL) + 10 * 86400;   /* within the warning */
	/* Address and credentials are not state: update_state leaves them. */
	snprintf(d.address, sizeof(d.address), "10.8.0.99");
	snprintf(d.username, sizeof(d.username), "other");
	d.http_port = 1;
	assert_int_equal(vp_device_update_state(F.s, &d, &e), VP_OK);
	assert_int_equal(vp_device_get(F.s, id, &got, &e), VP_OK);
	assert_string_equal(got.address, "10.8.0.1");
	assert_int_equal(got.http_port, 8080);
	assert_string_equal(got.username, "root");
	assert_string_equal(got.mac, "ACCC8E26DA33");
	assert_string_equal(got.model, "AXIS Q3709-PVE");
	assert_string_equal(got.firmware, "9.80.1");
	assert_string_equal(got.api, VP_DEV_API_SOAP);
	assert_string_equal(got.https_state, VP_HTTPS_ENABLED);
	assert_string_equal(got.status, VP_STATUS_EXPIRING);
	assert_string_equal(got.status_detail, "expires in 20 days");
	assert_true(got.pinned);
	assert_true(got.https_only);
	assert_string_equal(got.cert_serial, "1a2b3c");
	assert_string_equal(got.cert_alias, "vmspki-https-1a2b3c");
	assert_int_equal(got.cert_not_after, d.cert_not_after);
	assert_true(got.updated_at >= got.added_at);
	/* The password still opens: its row binding did not move. */
	assert_int_equal(vp_device_password(F.s, F.k, id, &pw, &e), VP_OK);
	assert_string_equal(pw, DEV_PASSWORD);
	vp_secret_free(pw, strlen(pw));

	d.id = 424242;
	assert_int_equal(vp_device_update_state(F.s, &d, &e), VP_ERR_NOTFOUND);
	assert_int_equal(vp_device_remove(F.s, id, "test", &e), VP_OK);
}

static void
expiry_shows_in_the_status(void **state)
{
	vp_device d, got;
	vp_error e = { 0 };
	int64_t now = (int64_t)time(NULL);
	int64_t id = insert_device(F.s, F.k, "10.5.0.1", 80, "pw");

	(void)state;
	assert_int_equal(vp_device_get(F.s, id, &d, &e), VP_OK);
	snprintf(d.cert_serial, sizeof(d.cert_serial), "abc123");
	snprintf(d.status, sizeof(d.status), "%s", VP_STATUS_OK);
	d.cert_not_after = now + 100 * 86400;
	assert_int_equal(vp_device_update_state(F.s, &d, &e), VP_OK);
	assert_int_equal(vp_device_get(F.s, id, &got, &e), VP_OK);
	assert_string_equal(got.status, VP_STATUS_OK);
	d.cert_not_after = now + 10 * 86400;
	assert_int_equal(vp_device_update_state(F.s, &d, &e), VP_OK);
	assert_int_equal(vp_device_get(F.s, id, &got, &e), VP_OK);
	assert_string_equal(got.status, VP_STATUS_EXPIRING);
	d.cert_not_after = now - 1;
	assert_int_equal(vp_device_update_state(F.s, &d, &e), VP_OK);
	assert_int_equal(vp_device_get(F.s, id, &got, &e), VP_OK);
	assert_string_equal(got.status, VP_STATUS_EXPIRED);
	/* A device that cannot be reached says so, whatever its certificate. */
	snprintf(d.status, sizeof(d.status), "%s", VP_STATUS_UNREACHABLE);
	assert_int_equal(vp_device_update_state(F.s, &d, &e), VP_OK);
	assert_int_equal(vp_device_get(F.s, id, &got, &e), VP_OK);
	assert_string_equal(got.status, VP_STATUS_UNREACHABLE);
	/* A renewed certificate: OK again, even when the expiry status was written back. */
	snprintf(d.status, sizeof(d.status), "%s", VP_STATUS_EXPIRED);
	d.cert_not_after = now + 300 * 86400;
	assert_int_equal(vp_device_update_state(F.s, &d, &e), VP_OK);
	assert_int_equal(vp_device_get(F.s, id, &got, &e), VP_OK);
	assert_string_equal(got.status, VP_STATUS_OK);
	assert_int_equal(vp_device_remove(F.s, id, "test", &e), VP_OK);
}

static int
count_cb(const vp_device *d, void *arg)
{
	(void)d;
	(*(int *)arg)++;
	return 0;
}

static void
remove_waits_for_running_tasks(void **state)
{
	sqlite3 *db = vp_store_db(F.s);
	vp_device d;
	vp_error e = { 0 };
	char sql[300];
	int n0 = 0, n1 = 0;
	int64_t id;

	(void)state;
	assert_int_equal(vp_device_list(F.s, count_cb, &n0, &e), VP_OK);
	id = insert_device(F.s, F.k, "10.7.0.1", 80, "pw");
	snprintf(sql, sizeof(sql), "INSERT INTO tasks (id, kind, state, created_at) VALUES "
	    "(77, 'https-enable', 'Running', 1); INSERT INTO task_devices (task_id, device_id) "
	    "VALUES (77, %lld)", (long long)id);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(vp_device_remove(F.s, id, "test", &e), VP_ERR_EXISTS);
	assert_non_null(strstr(e.msg, "task 77"));
	assert_int_equal(vp_device_get(F.s, id, &d, &e), VP_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE tasks SET state = 'Finished' WHERE id = 77",
	    NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(vp_device_remove(F.s, id, "test", &e), VP_OK);
	assert_int_equal(vp_device_get(F.s, id, &d, &e), VP_ERR_NOTFOUND);
	assert_int_equal(vp_device_remove(F.s, id, "test", &e), VP_ERR_NOTFOUND);
	assert_int_equal(vp_device_list(F.s, count_cb, &n1, &e), VP_OK);
	assert_int_equal(n0, n1);
}

static void
duplicate_address_is_refused_before_any_probe(void **state)
{
	vp_device_new nd = { .address = "10.6.0.1", .http_port = 8080, .username = "root",
	    .password = "pw" };
	vp_error e = { 0 };
	int64_t id = insert_device(F.s, F.k, "10.6.0.1", 8080, "pw");

	(void)state;
	/* 10.6.0.1 is not routed here: a probe would time out, so EXISTS proves none ran. */
	assert_int_equal(vp_device_add(F.s, F.k, NULL, &nd, 0, "test", NULL, &e), VP_ERR_EXISTS);
	assert_non_null(strstr(e.msg, "already in the inventory"));
	assert_int_equal(vp_device_add(F.s, NULL, NULL, &nd, 0, "test", NULL, &e),
	    VP_ERR_PASSPHRASE);
	assert_int_equal(vp_device_remove(F.s, id, "test", &e), VP_OK);
}

/* ---- a page at a time (the web UI) ---- */

typedef struct page_rows {
	char names[8][256];
	int n;
} page_rows;

static int
page_cb(const vp_device *d, void *arg)
{
	page_rows *r = arg;

	if (r->n < 8)
		snprintf(r->names[r->n++], sizeof(r->names[0]), "%s", d->name);
	return 0;
}

static int
sum_cb(const char *status, const char *https, int64_t n, void *arg)
{
	int64_t *v = arg;

	v[0] += n;
	if (strcmp(status, "Unreachable") == 0)
		v[1] += n;
	if (strcmp(https, "Enabled") == 0)
		v[2] += n;
	if (status[0] == '\0')
		v[3] += n;
	if (strcmp(status, VP_STATUS_EXPIRING) == 0)
		v[4] += n;
	return 0;
}

/* Five devices: names, models, states and certificate ends to filter, sort and count. */
static void
page_filters_sorts_and_counts(void **state)
{
	static const struct {
		const char *name, *model, *status, *https;
		int64_t ends;     /* seconds from now; 0: no certificate */
	} rows[] = {
		{ "cam-c.site", "P1367", "OK", "Enabled", 3 * 86400 },
		{ "cam-a.site", "Q1615", "Unreachable", "Disabled", 0 },
		{ "cam-e.site", "P1367", "OK", "Enabled", 10 * 86400 },
		{ "cam-b.site", "M3045", "", "", 0 },
		{ "cam-d.site", "P_100%", "OK", "Enabled", -60 },
	};
	vp_device_query q;
	page_rows r;
	vp_error e = { 0 };
	int64_t now = (int64_t)time(NULL), total = 0, v[5] = { 0 }, week[52], expired, later;
	char *dir;
	vp_store *s = store_new(&dir, 0);

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char addr[32];
		vp_device d;

		snprintf(addr, sizeof(addr), "10.9.0.%zu", i + 1);
		assert_int_equal(vp_store_device_get(s, insert_device(s, F.k, addr, 80, "pw"), &d,
		    &e), VP_OK);
		snprintf(d.name, sizeof(d.name), "%s", rows[i].name);
		snprintf(d.model, sizeof(d.model), "%s", rows[i].model);
		snprintf(d.status, sizeof(d.status), "%s", rows[i].status);
		snprintf(d.https_state, sizeof(d.https_state), "%s", rows[i].https);
		if (rows[i].ends != 0) {
			snprintf(d.cert_serial, sizeof(d.cert_serial), "%02zx", i + 1);
			d.cert_not_after = now + rows[i].ends;
		}
		assert_int_equal(vp_store_device_update_state(s, &d, &e), VP_OK);
		/* the name is not a state column: written as `device add` would have */
		{
			char sql[200];

			snprintf(sql, sizeof(sql), "UPDATE devices SET name = '%s' WHERE id = %lld",
			    rows[i].name, (long long)d.id);
			assert_int_equal(sqlite3_exec(vp_store_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
		}
	}

	/* sorted by name, two at a time: the pages follow each other, total counts all */
	memset(&q, 0, sizeof(q));
	q.sort = VP_DEVSORT_NAME;
	q.limit = 2;
	memset(&r, 0, sizeof(r));
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_OK);
	assert_int_equal(total, 5);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.names[0], "cam-a.site");
	assert_string_equal(r.names[1], "cam-b.site");
	q.offset = 4;
	memset(&r, 0, sizeof(r));
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_OK);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.names[0], "cam-e.site");
	q.offset = 0;
	q.desc = 1;
	memset(&r, 0, sizeof(r));
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_OK);
	assert_string_equal(r.names[0], "cam-e.site");

	/* text in the model, any case; LIKE's own characters are taken as they are */
	memset(&q, 0, sizeof(q));
	q.text = "p1367";
	memset(&r, 0, sizeof(r));
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_OK);
	assert_int_equal(total, 2);
	q.text = "P_1";
	memset(&r, 0, sizeof(r));
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_OK);
	assert_int_equal(total, 1);
	assert_string_equal(r.names[0], "cam-d.site");
	q.text = "%";
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_OK);
	assert_int_equal(total, 1);
	q.text = "10.9.0.";
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_OK);
	assert_int_equal(total, 5);

	/* exact status and HTTPS state; "" is never probed */
	memset(&q, 0, sizeof(q));
	q.status = "OK";
	q.https_state = "Enabled";
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_OK);
	assert_int_equal(total, 3);
	q.status = "";
	q.https_state = NULL;
	memset(&r, 0, sizeof(r));
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_OK);
	assert_int_equal(total, 1);
	assert_string_equal(r.names[0], "cam-b.site");
	/* the status filtered is the one shown now, with a 30-day window (vp_device_status_at):
	 * 3 and 10 days left are about to expire, an end past has expired, none is OK */
	q.now = now;
	q.warn_s = 30 * 86400;
	q.status = VP_STATUS_EXPIRING;
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_OK);
	assert_int_equal(total, 2);
	q.status = VP_STATUS_EXPIRED;
	memset(&r, 0, sizeof(r));
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_OK);
	assert_int_equal(total, 1);
	assert_string_equal(r.names[0], "cam-d.site");
	q.status = VP_STATUS_OK;
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_OK);
	assert_int_equal(total, 0);
	/* with a 5-day window only the 3-day one is */
	q.warn_s = 5 * 86400;
	q.status = VP_STATUS_EXPIRING;
	memset(&r, 0, sizeof(r));
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_OK);
	assert_int_equal(total, 1);
	assert_string_equal(r.names[0], "cam-c.site");

	/* sorted by the certificate's end, latest first */
	memset(&q, 0, sizeof(q));
	q.sort = VP_DEVSORT_EXPIRY;
	q.desc = 1;
	memset(&r, 0, sizeof(r));
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_OK);
	assert_string_equal(r.names[0], "cam-e.site");
	assert_string_equal(r.names[1], "cam-c.site");

	q.sort = VP_DEVSORT_COUNT;
	assert_int_equal(vp_store_device_page(s, &q, page_cb, &r, &total, &e), VP_ERR_INVALID);

	/* counts by status and state, ends by week */
	assert_int_equal(vp_store_device_counts(s, now, 30 * 86400, sum_cb, v, &e), VP_OK);
	assert_int_equal(v[0], 5);
	assert_int_equal(v[1], 1);
	assert_int_equal(v[2], 3);
	assert_int_equal(v[3], 1);
	assert_int_equal(v[4], 2);
	assert_int_equal(vp_store_device_expiry_weeks(s, now, 52, week, &expired, &later, &e),
	    VP_OK);
	assert_int_equal(expired, 1);
	assert_int_equal(week[0], 1);
	assert_int_equal(week[1], 1);
	assert_int_equal(later, 0);
	vp_store_close(s);
	vp_test_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sitekey_reopens_with_the_ca_passphrase),
		cmocka_unit_test(sitekey_wrong_passphrase_is_refused),
		cmocka_unit_test(sitekey_first_use_needs_the_ca_and_its_passphrase),
		cmocka_unit_test(sitekey_file_wraps_instead_of_the_passphrase),
		cmocka_unit_test(sitekey_file_at_first_use_needs_no_ca),
		cmocka_unit_test(sealed_data_is_bound_to_its_aad),
		cmocka_unit_test(password_cannot_move_to_another_row),
		cmocka_unit_test(csv_reads_quoted_fields_and_line_ends),
		cmocka_unit_test(csv_reports_malformed_lines_by_number),
		cmocka_unit_test(csv_bounds_field_length),
		cmocka_unit_test(import_reports_bad_lines_and_changes_nothing_for_them),
		cmocka_unit_test(new_device_checks),
		cmocka_unit_test(address_with_port_parses),
		cmocka_unit_test(https_state_follows_the_seed),
		cmocka_unit_test(conn_follows_pinning),
		cmocka_unit_test(update_state_round_trip),
		cmocka_unit_test(expiry_shows_in_the_status),
		cmocka_unit_test(remove_waits_for_running_tasks),
		cmocka_unit_test(duplicate_address_is_refused_before_any_probe),
		cmocka_unit_test(page_filters_sorts_and_counts),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
