/* Unit tests for the store (store_core.c and a backend): settings, certificates, nested
 * transactions, the tamper-evident audit log, file permissions and two handles at once. On
 * SQLite by default; on PostgreSQL with VMSPKI_TEST_PG (tests/it/pg_store.sh). */
#include <pthread.h>
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
#include <libpq-fe.h>
#include <sqlite3.h>

#include "store_internal.h"
#include "testutil.h"
#include "vmspki/store.h"
#include "vmspki/util.h"

struct fx {
	char *dir;
	char *db;
	vp_store *s;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	vp_error e;

	assert_non_null(f);
	f->dir = vp_test_mkdtemp();
	vp_test_pg_reset();
	f->db = vp_test_store_where(f->dir);
	if (vp_store_open(f->db, &f->s, &e) != VP_OK)
		fail_msg("open: %s", e.msg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	vp_store_close(f->s);
	free(f->db);
	vp_test_rmdir(f->dir);
	free(f);
	return 0;
}

static vp_store *
open_other(struct fx *f)
{
	vp_store *s = NULL;
	vp_error e;

	if (vp_store_open(f->db, &s, &e) != VP_OK)
		fail_msg("second open: %s", e.msg);
	return s;
}

/* raw_exec on PostgreSQL: the same change in its words, SQLITE_OK or SQLITE_CONSTRAINT (a
 * trigger's refusal) back. */
static int
raw_exec_pg(const char *sql, char *errbuf, size_t errlen)
{
	static const struct {
		const char *sqlite, *pg;
	} words[] = {
		{ "PRAGMA user_version = 99", "UPDATE vmspki_schema SET version = 99" },
		{ "DROP TRIGGER audit_log_no_update;", "DROP TRIGGER audit_log_no_update ON audit_log;" },
		{ "DROP TRIGGER audit_log_no_delete;", "DROP TRIGGER audit_log_no_delete ON audit_log;" },
	};
	char buf[512];
	PGconn *c = PQconnectdb(vp_test_pg());
	PGresult *r;
	int rc;

	snprintf(buf, sizeof(buf), "%s", sql);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		char *p = strstr(buf, words[i].sqlite), rest[512];

		if (p == NULL)
			continue;
		snprintf(rest, sizeof(rest), "%s", p + strlen(words[i].sqlite));
		snprintf(p, sizeof(buf) - (size_t)(p - buf), "%s%s", words[i].pg, rest);
	}
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, buf);
	rc = PQresultStatus(r) == PGRES_COMMAND_OK ? SQLITE_OK : SQLITE_CONSTRAINT;
	if (errbuf != NULL)
		snprintf(errbuf, errlen, "%s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	return rc;
}

/* Runs SQL on the file with the plain SQLite API, as someone with the sqlite3 CLI would (or
 * with psql on PostgreSQL). */
static int
raw_exec(struct fx *f, const char *sql, char *errbuf, size_t errlen)
{
	sqlite3 *db = NULL;
	char *err = NULL;
	int rc;

	if (vp_test_pg() != NULL)
		return raw_exec_pg(sql, errbuf, errlen);
	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (errbuf != NULL)
		snprintf(errbuf, errlen, "%s", err != NULL ? err : "");
	sqlite3_free(err);
	sqlite3_close(db);
	return rc;
}

/* A certificate record whose serial is n in hex and whose fingerprint derives from n. */
static void
make_rec(vp_cert_rec *r, unsigned n, int64_t not_after, const char *profile,
    const char *owner_kind, const char *owner_id, const char *issuer_fp)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->serial, sizeof(r->serial), "%x", n);
	snprintf(r->fingerprint, sizeof(r->fingerprint), "%064x", n + 0x1000u);
	snprintf(r->issuer_fp, sizeof(r->issuer_fp), "%s",
	    issuer_fp != NULL ? issuer_fp : "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	snprintf(r->profile, sizeof(r->profile), "%s", profile);
	snprintf(r->status, sizeof(r->status), "valid");
	r->subject = (char *)"CN=test";
	r->sans = (char *)"DNS:a.example, IP Address:10.0.0.1";
	r->owner_kind = (char *)owner_kind;
	r->owner_id = (char *)owner_id;
	r->pem = (char *)"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	r->not_before = 1000;
	r->not_after = not_after;
	r->issued_at = 1000;
	r->revoked_at = 0;
	r->revocation_reason = -1;
}

static void
insert_ok(vp_store *s, const vp_cert_rec *r)
{
	vp_error e;

	if (vp_store_cert_insert(s, r, &e) != VP_OK)
		fail_msg("insert %s: %s", r->serial, e.msg);
}

static int64_t
count_all(vp_store *s)
{
	int64_t n = -1;
	vp_error e;

	if (vp_store_cert_count(s, NULL, &n, &e) != VP_OK)
		fail_msg("count: %s", e.msg);
	return n;
}

static void
audit_ok(vp_store *s, const char *action, const char *detail)
{
	vp_error e;

	if (vp_store_audit_append(s, "tester", action, "1f", detail, &e) != VP_OK)
		fail_msg("audit append: %s", e.msg);
}

/* ---- file ---- */

static void
store_file_is_created_0600_whatever_the_umask(void **state)
{
	struct fx *f = *state;
	char *dir, *db, *wal;
	vp_store *s = NULL;
	struct stat sb;
	mode_t old;
	vp_error e;

	VP_TEST_SQLITE_ONLY();
	dir = vp_test_mkdtemp();
	db = vp_path_join(dir, "x.db");
	(void)f;
	old = umask(0);
	assert_int_equal(vp_store_open(db, &s, &e), VP_OK);
	assert_int_equal(vp_store_kv_put(s, "k", "v", 1, &e), VP_OK);
	umask(old);
	assert_int_equal(stat(db, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	/* SQLite gives the WAL file the database's mode. */
	wal = malloc(strlen(db) + 5);
	assert_non_null(wal);
	sprintf(wal, "%s-wal", db);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	vp_store_close(s);
	free(wal);
	free(db);
	vp_test_rmdir(dir);
}

static void
reopening_keeps_data_and_schema(void **state)
{
	struct fx *f = *state;
	unsigned char *v = NULL;
	size_t len;
	vp_error e;

	assert_int_equal(vp_store_kv_put(f->s, "ca.cert", "pem", 3, &e), VP_OK);
	vp_store_close(f->s);
	f->s = NULL;
	assert_int_equal(vp_store_open(f->db, &f->s, &e), VP_OK);
	assert_int_equal(vp_store_kv_get(f->s, "ca.cert", &v, &len, &e), VP_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "pem", 3);
	free(v);
}

static void
open_refuses_a_newer_schema(void **state)
{
	struct fx *f = *state;
	vp_store *s = NULL;
	vp_error e;

	assert_int_equal(raw_exec(f, "PRAGMA user_version = 99", NULL, 0), SQLITE_OK);
	assert_int_equal(vp_store_open(f->db, &s, &e), VP_ERR_STORE);
	assert_null(s);
	assert_non_null(strstr(e.msg, "newer vmspki"));
}

static void
open_refuses_a_file_that_is_not_a_store(void **state)
{
	struct fx *f = *state;
	char *junk;
	vp_store *s = NULL;
	vp_error e;
	const char text[] = "this is not an SQLite database, just some text that is long "
	    "enough to fill a header of one hundred bytes or so, and then some more of it.";
	FILE *fp;

	VP_TEST_SQLITE_ONLY();
	junk = vp_path_join(f->dir, "junk.db");
	assert_non_null(junk);
	assert_non_null(fp = fopen(junk, "w"));
	assert_int_equal(fwrite(text, 1, sizeof(text), fp), sizeof(text));
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(vp_store_open(junk, &s, &e), VP_ERR_STORE);
	assert_null(s);
	assert_non_null(strstr(e.msg, junk));
	assert_int_equal(vp_store_open(f->dir, &s, &e), VP_ERR_INVALID);
	assert_null(s);
	free(junk);
}

/* ---- key_value ---- */

static void
kv_roundtrip_is_binary_safe(void **state)
{
	struct fx *f = *state;
	const unsigned char bin[] = { 'a', 0, 'b', 0, 0, 0xff, 'c' };
	unsigned char *v = NULL;
	size_t len = 99;
	vp_error e;

	assert_int_equal(vp_store_kv_put(f->s, "bin", bin, sizeof(bin), &e), VP_OK);
	assert_int_equal(vp_store_kv_get(f->s, "bin", &v, &len, &e), VP_OK);
	assert_int_equal(len, sizeof(bin));
	assert_memory_equal(v, bin, sizeof(bin));
	assert_int_equal(v[len], 0);
	free(v);

	/* Overwrite, then an empty value (which is not "absent"). */
	assert_int_equal(vp_store_kv_put(f->s, "bin", "xyz", 3, &e), VP_OK);
	assert_int_equal(vp_store_kv_get(f->s, "bin", &v, &len, &e), VP_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "xyz", 3);
	free(v);
	assert_int_equal(vp_store_kv_put(f->s, "empty", NULL, 0, &e), VP_OK);
	assert_int_equal(vp_store_kv_get(f->s, "empty", &v, &len, &e), VP_OK);
	assert_int_equal(len, 0);
	assert_int_equal(v[0], 0);
	free(v);
}

static void
kv_missing_key_is_notfound(void **state)
{
	struct fx *f = *state;
	unsigned char *v = (unsigned char *)"untouched";
	size_t len = 7;
	vp_error e;

	assert_int_equal(vp_store_kv_get(f->s, "nope", &v, &len, &e), VP_ERR_NOTFOUND);
	assert_null(v);
	assert_int_equal(len, 0);
	assert_non_null(strstr(e.msg, "nope"));

	assert_int_equal(vp_store_kv_put(f->s, "gone", "1", 1, &e), VP_OK);
	assert_int_equal(vp_store_kv_delete(f->s, "gone", &e), VP_OK);
	assert_int_equal(vp_store_kv_get(f->s, "gone", &v, &len, &e), VP_ERR_NOTFOUND);
	/* Deleting an absent key is not an error. */
	assert_int_equal(vp_store_kv_delete(f->s, "gone", &e), VP_OK);
	assert_int_equal(vp_store_kv_put(f->s, "", "1", 1, &e), VP_ERR_INVALID);
}

/* ---- certificates ---- */

static void
cert_roundtrip_keeps_every_field(void **state)
{
	struct fx *f = *state;
	vp_cert_rec r, got;
	vp_error e;

	make_rec(&r, 0xabc123, 5000, "device-https", "device", "cam-7", NULL);
	snprintf(r.status, sizeof(r.status), "revoked");
	r.revoked_at = 4000;
	r.revocation_reason = 1;
	r.issued_at = 1234;
	insert_ok(f->s, &r);

	assert_int_equal(vp_store_cert_get(f->s, "abc123", &got, &e), VP_OK);
	assert_string_equal(got.serial, "abc123");
	assert_string_equal(got.fingerprint, r.fingerprint);
	assert_string_equal(got.issuer_fp, r.issuer_fp);
	assert_string_equal(got.profile, "device-https");
	assert_string_equal(got.status, "revoked");
	assert_string_equal(got.subject, r.subject);
	assert_string_equal(got.sans, r.sans);
	assert_string_equal(got.owner_kind, "device");
	assert_string_equal(got.owner_id, "cam-7");
	assert_string_equal(got.pem, r.pem);
	assert_int_equal(got.not_before, 1000);
	assert_int_equal(got.not_after, 5000);
	assert_int_equal(got.issued_at, 1234);
	assert_int_equal(got.revoked_at, 4000);
	assert_int_equal(got.revocation_reason, 1);
	vp_cert_rec_clear(&got);
	assert_null(got.subject);
	assert_int_equal(got.serial[0], 0);

	/* Optional strings left NULL come back as "". */
	make_rec(&r, 0x77, 5000, "server", NULL, NULL, NULL);
	r.sans = NULL;
	insert_ok(f->s, &r);
	assert_int_equal(vp_store_cert_get(f->s, "77", &got, &e), VP_OK);
	assert_string_equal(got.owner_kind, "");
	assert_string_equal(got.owner_id, "");
	assert_string_equal(got.sans, "");
	vp_cert_rec_clear(&got);
}

static void
cert_get_normalizes_the_serial(void **state)
{
	struct fx *f = *state;
	const char *forms[] = { "ABC123", "00abc123", "0xAbC123", "0X00ABC123", " abc123\n",
	    "ab:c1:23" };
	vp_cert_rec r, got;
	vp_error e;
	size_t i;

	make_rec(&r, 0xabc123, 5000, "server", NULL, NULL, NULL);
	insert_ok(f->s, &r);
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		if (vp_store_cert_get(f->s, forms[i], &got, &e) != VP_OK)
			fail_msg("get '%s': %s", forms[i], e.msg);
		assert_string_equal(got.serial, "abc123");
		vp_cert_rec_clear(&got);
	}
	assert_int_equal(vp_store_cert_get(f->s, "abc12g", &got, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "'g'"));
	assert_int_equal(vp_store_cert_get(f->s, "", &got, &e), VP_ERR_INVALID);
	assert_int_equal(vp_store_cert_get(f->s, "0x", &got, &e), VP_ERR_INVALID);
	assert_int_equal(vp_store_cert_get(f->s, "12 34", &got, &e), VP_ERR_INVALID);
	assert_int_equal(vp_store_cert_get(f->s, "abc124", &got, &e), VP_ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, "abc124"));
	assert_null(got.pem);
}

static void
cert_insert_rejects_a_bad_record(void **state)
{
	struct fx *f = *state;
	vp_cert_rec r;
	vp_error e;

	make_rec(&r, 1, 5000, "server", NULL, NULL, NULL);
	snprintf(r.fingerprint, sizeof(r.fingerprint), "not-a-fingerprint");
	assert_int_equal(vp_store_cert_insert(f->s, &r, &e), VP_ERR_INVALID);
	make_rec(&r, 1, 5000, "server", NULL, NULL, NULL);
	snprintf(r.status, sizeof(r.status), "expired");
	assert_int_equal(vp_store_cert_insert(f->s, &r, &e), VP_ERR_INVALID);
	make_rec(&r, 1, 5000, "server", NULL, NULL, NULL);
	snprintf(r.serial, sizeof(r.serial), "xyz");
	assert_int_equal(vp_store_cert_insert(f->s, &r, &e), VP_ERR_INVALID);
	make_rec(&r, 1, 5000, "server", NULL, NULL, NULL);
	r.pem = NULL;
	assert_int_equal(vp_store_cert_insert(f->s, &r, &e), VP_ERR_INVALID);
	assert_int_equal(count_all(f->s), 0);
}

static void
cert_duplicate_serial_is_exists_and_changes_nothing(void **state)
{
	struct fx *f = *state;
	vp_cert_rec r, got;
	vp_error e;

	make_rec(&r, 0x5a, 5000, "server", NULL, NULL, NULL);
	insert_ok(f->s, &r);
	assert_int_equal(count_all(f->s), 1);

	/* Same serial written differently, different fingerprint. */
	make_rec(&r, 0x5b, 9999, "client", NULL, NULL, NULL);
	snprintf(r.serial, sizeof(r.serial), "005A");
	assert_int_equal(vp_store_cert_insert(f->s, &r, &e), VP_ERR_EXISTS);
	assert_non_null(strstr(e.msg, "serial 5a"));
	assert_int_equal(count_all(f->s), 1);

	/* Same fingerprint, new serial (upper-case hex is the same fingerprint). */
	make_rec(&r, 0x5a, 5000, "server", NULL, NULL, NULL);
	snprintf(r.serial, sizeof(r.serial), "99");
	for (char *p = r.fingerprint; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(vp_store_cert_insert(f->s, &r, &e), VP_ERR_EXISTS);
	assert_non_null(strstr(e.msg, "fingerprint"));
	assert_int_equal(count_all(f->s), 1);

	assert_int_equal(vp_store_cert_get(f->s, "5a", &got, &e), VP_OK);
	assert_string_equal(got.profile, "server");
	assert_int_equal(got.not_after, 5000);
	vp_cert_rec_clear(&got);
}

struct collect {
	char serials[32][64];
	int n;
	int stop_after;
};

static int
collect_cb(const vp_cert_rec *r, void *arg)
{
	struct collect *c = arg;

	if (c->n < 32)
		snprintf(c->serials[c->n], sizeof(c->serials[0]), "%s", r->serial);
	c->n++;
	if (c->stop_after > 0 && c->n >= c->stop_after)
		return 42;
	return 0;
}

static void
list(vp_store *s, const vp_cert_filter *flt, struct collect *c)
{
	vp_error e;

	memset(c, 0, sizeof(*c));
	if (vp_store_cert_list(s, flt, collect_cb, c, &e) != VP_OK)
		fail_msg("list: %s", e.msg);
}

static int64_t
count(vp_store *s, const vp_cert_filter *flt)
{
	int64_t n = -1;
	vp_error e;

	if (vp_store_cert_count(s, flt, &n, &e) != VP_OK)
		fail_msg("count: %s", e.msg);
	return n;
}

static void
cert_list_filters_orders_and_pages(void **state)
{
	struct fx *f = *state;
	const char *other_ca = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	/* Inserted out of order; 0x20 and 0x3 share a not_after (serial breaks the tie). */
	static const struct { unsigned serial; int64_t not_after; const char *profile;
	    const char *okind, *oid; int other_ca; } rows[] = {
		{ 0x50, 500, "server", "server", "api", 0 },
		{ 0x20, 200, "device-https", "device", "cam1", 0 },
		{ 0x3, 200, "device-https", "device", "cam2", 0 },
		{ 0x10, 100, "client", "", "", 1 },
		{ 0x40, 400, "device-https", "device", "cam1", 0 },
		{ 0x30, 300, "component-server", "component", "nats", 1 },
	};
	vp_cert_filter flt;
	struct collect c;
	vp_cert_rec r;
	vp_error e;
	size_t i;
	int page, seen;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		make_rec(&r, rows[i].serial, rows[i].not_after, rows[i].profile, rows[i].okind,
		    rows[i].oid, rows[i].other_ca ? other_ca : NULL);
		insert_ok(f->s, &r);
	}

	list(f->s, NULL, &c);
	assert_int_equal(c.n, 6);
	assert_string_equal(c.serials[0], "10");
	assert_string_equal(c.serials[1], "20");
	assert_string_equal(c.serials[2], "3");
	assert_string_equal(c.serials[3], "30");
	assert_string_equal(c.serials[4], "40");
	assert_string_equal(c.serials[5], "50");

	memset(&flt, 0, sizeof(flt));
	flt.profile = "device-https";
	list(f->s, &flt, &c);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.serials[0], "20");
	assert_string_equal(c.serials[2], "40");
	assert_int_equal(count(f->s, &flt), 3);

	flt.owner_kind = "device";
	flt.owner_id = "cam1";
	list(f->s, &flt, &c);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.serials[0], "20");
	assert_string_equal(c.serials[1], "40");

	memset(&flt, 0, sizeof(flt));
	flt.not_after_before = 300;   /* strictly before */
	list(f->s, &flt, &c);
	assert_int_equal(c.n, 3);
	assert_int_equal(count(f->s, &flt), 3);

	memset(&flt, 0, sizeof(flt));
	flt.issuer_fp = other_ca;
	list(f->s, &flt, &c);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.serials[0], "10");
	assert_string_equal(c.serials[1], "30");

	memset(&flt, 0, sizeof(flt));
	flt.profile = "no-such-profile";
	list(f->s, &flt, &c);
	assert_int_equal(c.n, 0);
	assert_int_equal(count(f->s, &flt), 0);

	/* Paging: pages of 4 cover everything once, in order; count ignores limit/offset. */
	memset(&flt, 0, sizeof(flt));
	flt.limit = 4;
	seen = 0;
	for (page = 0; page < 3; page++) {
		flt.offset = page * 4;
		list(f->s, &flt, &c);
		assert_int_equal(c.n, page == 0 ? 4 : page == 1 ? 2 : 0);
		if (page == 1) {
			assert_string_equal(c.serials[0], "40");
			assert_string_equal(c.serials[1], "50");
		}
		seen += c.n;
		assert_int_equal(count(f->s, &flt), 6);
	}
	assert_int_equal(seen, 6);

	flt.limit = -1;
	assert_int_equal(vp_store_cert_list(f->s, &flt, collect_cb, &c, &e), VP_ERR_INVALID);

	/* A callback's non-zero return stops the walk and comes back. */
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal((int)vp_store_cert_list(f->s, NULL, collect_cb, &c, &e), 42);
	assert_int_equal(c.n, 2);
}

/* ---- transactions ---- */

static void
nested_transaction_rollback_leaves_nothing(void **state)
{
	struct fx *f = *state;
	vp_store *other = open_other(f);
	unsigned char *v = NULL;
	int64_t rows, bad;
	size_t len;
	vp_cert_rec r;
	vp_error e;

	assert_int_equal(vp_store_begin(f->s, &e), VP_OK);
	assert_int_equal(vp_store_begin(f->s, &e), VP_OK);
	make_rec(&r, 0x111, 5000, "server", NULL, NULL, NULL);
	insert_ok(f->s, &r);
	assert_int_equal(vp_store_kv_put(f->s, "ca.key", "enc", 3, &e), VP_OK);
	audit_ok(f->s, "issue", "inner");
	assert_int_equal(vp_store_commit(f->s, &e), VP_OK);   /* inner: nothing durable yet */
	/* Not visible to another handle while the outer transaction is open. */
	assert_int_equal(count_all(other), 0);
	assert_int_equal(count_all(f->s), 1);
	vp_store_rollback(f->s);

	assert_int_equal(count_all(f->s), 0);
	assert_int_equal(vp_store_kv_get(f->s, "ca.key", &v, &len, &e), VP_ERR_NOTFOUND);
	assert_int_equal(vp_store_audit_verify(f->s, &rows, &bad, &e), VP_OK);
	assert_int_equal(rows, 0);
	/* The outer commit after a rollback is refused rather than silently accepted. */
	assert_int_equal(vp_store_commit(f->s, &e), VP_ERR_INTERNAL);

	/* Nested commits: the outermost makes it durable and visible. */
	assert_int_equal(vp_store_begin(f->s, &e), VP_OK);
	assert_int_equal(vp_store_begin(f->s, &e), VP_OK);
	insert_ok(f->s, &r);
	audit_ok(f->s, "issue", "kept");
	assert_int_equal(vp_store_commit(f->s, &e), VP_OK);
	assert_int_equal(vp_store_commit(f->s, &e), VP_OK);
	assert_int_equal(count_all(other), 1);
	assert_int_equal(vp_store_audit_verify(other, &rows, &bad, &e), VP_OK);
	assert_int_equal(rows, 1);
	vp_store_close(other);
}

static void
failed_insert_leaves_callers_transaction_usable(void **state)
{
	struct fx *f = *state;
	vp_cert_rec r;
	vp_error e;

	make_rec(&r, 0x1, 5000, "server", NULL, NULL, NULL);
	insert_ok(f->s, &r);
	assert_int_equal(vp_store_begin(f->s, &e), VP_OK);
	make_rec(&r, 0x2, 5000, "server", NULL, NULL, NULL);
	insert_ok(f->s, &r);
	make_rec(&r, 0x1, 5000, "server", NULL, NULL, NULL);
	assert_int_equal(vp_store_cert_insert(f->s, &r, &e), VP_ERR_EXISTS);
	assert_int_equal(vp_store_commit(f->s, &e), VP_OK);
	assert_int_equal(count_all(f->s), 2);
}

/* ---- audit log ---- */

static void
audit_chain_verifies(void **state)
{
	struct fx *f = *state;
	int64_t rows = -1, bad = -1;
	vp_error e;
	int i;

	assert_int_equal(vp_store_audit_verify(f->s, &rows, &bad, &e), VP_OK);
	assert_int_equal(rows, 0);
	assert_int_equal(bad, 0);
	for (i = 0; i < 5; i++)
		audit_ok(f->s, "issue", "ok");
	/* Optional fields may be NULL. */
	assert_int_equal(vp_store_audit_append(f->s, NULL, "ca init", NULL, NULL, &e), VP_OK);
	assert_int_equal(vp_store_audit_verify(f->s, &rows, &bad, &e), VP_OK);
	assert_int_equal(rows, 6);
	assert_int_equal(bad, 0);
}

static void
audit_detects_an_edited_row(void **state)
{
	struct fx *f = *state;
	int64_t rows, bad;
	char err[256];
	vp_error e;
	int i;

	for (i = 0; i < 5; i++)
		audit_ok(f->s, "issue", "original");
	assert_int_equal(raw_exec(f, "DROP TRIGGER audit_log_no_update;"
	    "UPDATE audit_log SET detail = 'forged' WHERE id = 3", err, sizeof(err)), SQLITE_OK);
	assert_int_equal(vp_store_audit_verify(f->s, &rows, &bad, &e), VP_ERR_INVALID);
	assert_int_equal(bad, 3);
	assert_non_null(strstr(e.msg, "row 3"));

	/* Putting the original text back makes the chain whole again: the check is on content. */
	assert_int_equal(raw_exec(f, "UPDATE audit_log SET detail = 'original' WHERE id = 3", err,
	    sizeof(err)), SQLITE_OK);
	assert_int_equal(vp_store_audit_verify(f->s, &rows, &bad, &e), VP_OK);
	assert_int_equal(rows, 5);
}

static void
audit_detects_an_edited_timestamp(void **state)
{
	struct fx *f = *state;
	int64_t rows, bad;
	vp_error e;
	int i;

	for (i = 0; i < 4; i++)
		audit_ok(f->s, "issue", "x");
	assert_int_equal(raw_exec(f, "DROP TRIGGER audit_log_no_update;"
	    "UPDATE audit_log SET at = at - 86400 WHERE id = 2", NULL, 0), SQLITE_OK);
	assert_int_equal(vp_store_audit_verify(f->s, &rows, &bad, &e), VP_ERR_INVALID);
	assert_int_equal(bad, 2);
}

static void
audit_detects_a_deleted_middle_row(void **state)
{
	struct fx *f = *state;
	int64_t rows, bad;
	vp_error e;
	int i;

	for (i = 0; i < 5; i++)
		audit_ok(f->s, "issue", "x");
	assert_int_equal(raw_exec(f, "DROP TRIGGER audit_log_no_delete;"
	    "DELETE FROM audit_log WHERE id = 3", NULL, 0), SQLITE_OK);
	assert_int_equal(vp_store_audit_verify(f->s, &rows, &bad, &e), VP_ERR_INVALID);
	assert_int_equal(bad, 3);
	assert_non_null(strstr(e.msg, "removed"));

	/* Renumbering the rows to hide the gap breaks the hashes instead. */
	assert_int_equal(raw_exec(f, "DROP TRIGGER audit_log_no_update;"
	    "UPDATE audit_log SET id = id - 1 WHERE id > 3", NULL, 0), SQLITE_OK);
	assert_int_equal(vp_store_audit_verify(f->s, &rows, &bad, &e), VP_ERR_INVALID);
	assert_int_equal(bad, 3);
}

static void
audit_detects_rows_removed_from_the_end(void **state)
{
	struct fx *f = *state;
	int64_t rows, bad;
	vp_error e;
	int i;

	for (i = 0; i < 5; i++)
		audit_ok(f->s, "issue", "x");
	assert_int_equal(raw_exec(f, "DROP TRIGGER audit_log_no_delete;"
	    "DELETE FROM audit_log WHERE id >= 4", NULL, 0), SQLITE_OK);
	assert_int_equal(vp_store_audit_verify(f->s, &rows, &bad, &e), VP_ERR_INVALID);
	assert_int_equal(bad, 4);

	/* Later appends keep the evidence rather than papering over the cut. */
	audit_ok(f->s, "issue", "after the cut");
	assert_int_equal(vp_store_audit_verify(f->s, &rows, &bad, &e), VP_ERR_INVALID);
	assert_int_equal(bad, 4);
}

static void
audit_triggers_refuse_update_and_delete(void **state)
{
	struct fx *f = *state;
	int64_t rows, bad;
	char err[256];
	vp_error e;

	audit_ok(f->s, "issue", "x");
	audit_ok(f->s, "revoke", "y");
	assert_int_equal(raw_exec(f, "UPDATE audit_log SET detail = 'z' WHERE id = 1", err,
	    sizeof(err)), SQLITE_CONSTRAINT);
	assert_non_null(strstr(err, "append-only"));
	assert_int_equal(raw_exec(f, "DELETE FROM audit_log WHERE id = 2", err, sizeof(err)),
	    SQLITE_CONSTRAINT);
	assert_non_null(strstr(err, "append-only"));
	assert_int_equal(vp_store_audit_verify(f->s, &rows, &bad, &e), VP_OK);
	assert_int_equal(rows, 2);
}

struct audit_seen {
	int n;
	int64_t last_id;
	int ok;
};

static int
audit_cb(const vp_audit_rec *r, void *arg)
{
	struct audit_seen *a = arg;

	a->n++;
	if (r->id != a->last_id + 1 || r->hash == NULL || strlen(r->hash) != 64)
		a->ok = 0;
	if (r->id == 1 && (r->actor == NULL || strcmp(r->actor, "tester") != 0 ||
	    strcmp(r->action, "issue") != 0 || strcmp(r->serial, "1f") != 0 ||
	    strcmp(r->detail, "first") != 0))
		a->ok = 0;
	if (r->id == 2 && (r->actor != NULL || r->serial != NULL || r->detail != NULL))
		a->ok = 0;
	a->last_id = r->id;
	return 0;
}

static void
audit_list_returns_rows_in_order(void **state)
{
	struct fx *f = *state;
	struct audit_seen a = { 0, 0, 1 };
	vp_error e;

	audit_ok(f->s, "issue", "first");
	assert_int_equal(vp_store_audit_append(f->s, NULL, "ca init", NULL, NULL, &e), VP_OK);
	audit_ok(f->s, "issue", "third");
	assert_int_equal(vp_store_audit_list(f->s, audit_cb, &a, &e), VP_OK);
	assert_int_equal(a.n, 3);
	assert_true(a.ok);
}

static void
audit_append_rolls_back_with_the_callers_transaction(void **state)
{
	struct fx *f = *state;
	int64_t rows, bad;
	vp_error e;

	audit_ok(f->s, "issue", "kept");
	assert_int_equal(vp_store_begin(f->s, &e), VP_OK);
	audit_ok(f->s, "issue", "dropped");
	vp_store_rollback(f->s);
	audit_ok(f->s, "issue", "kept too");
	assert_int_equal(vp_store_audit_verify(f->s, &rows, &bad, &e), VP_OK);
	assert_int_equal(rows, 2);
}

/* ---- two handles ---- */

static void
two_handles_see_each_others_commits(void **state)
{
	struct fx *f = *state;
	vp_store *b = open_other(f);
	unsigned char *v = NULL;
	size_t len;
	vp_cert_rec r;
	int64_t rows, bad;
	vp_error e;

	assert_int_equal(vp_store_kv_put(f->s, "setting", "from A", 6, &e), VP_OK);
	assert_int_equal(vp_store_kv_get(b, "setting", &v, &len, &e), VP_OK);
	assert_memory_equal(v, "from A", 6);
	free(v);

	make_rec(&r, 0xb0b, 5000, "server", NULL, NULL, NULL);
	insert_ok(b, &r);
	assert_int_equal(count_all(f->s), 1);

	/* Both append to one chain. */
	audit_ok(f->s, "issue", "A");
	audit_ok(b, "issue", "B");
	audit_ok(f->s, "issue", "A again");
	assert_int_equal(vp_store_audit_verify(b, &rows, &bad, &e), VP_OK);
	assert_int_equal(rows, 3);
	vp_store_close(b);
}

struct holder {
	vp_store *s;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int locked;
	vp_err rc;
	char msg[VP_ERROR_MSG_MAX];
};

/* Holds a write transaction for a moment, then commits. */
static void *
holder_main(void *arg)
{
	struct holder *h = arg;
	struct timespec pause = { 0, 300 * 1000 * 1000 };
	vp_error e;

	vp_error_clear(&e);
	h->rc = vp_store_begin(h->s, &e);
	if (h->rc == VP_OK)
		h->rc = vp_store_kv_put(h->s, "writer", "A", 1, &e);
	pthread_mutex_lock(&h->mu);
	h->locked = 1;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	if (h->rc == VP_OK) {
		nanosleep(&pause, NULL);
		h->rc = vp_store_commit(h->s, &e);
	}
	snprintf(h->msg, sizeof(h->msg), "%s", e.msg);
	return NULL;
}

static void
writer_waits_for_another_handles_transaction(void **state)
{
	struct fx *f = *state;
	vp_store *b = open_other(f);
	struct holder h;
	pthread_t t;
	unsigned char *v = NULL;
	size_t len;
	vp_error e;

	memset(&h, 0, sizeof(h));
	h.s = f->s;
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	assert_int_equal(pthread_create(&t, NULL, holder_main, &h), 0);
	pthread_mutex_lock(&h.mu);
	while (!h.locked)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);

	/* A holds the write lock, so B's write waits for A's commit and lands after it: the
	 * value left is B's. (Had B written first, A's commit would have left "A".) */
	if (vp_store_kv_put(b, "writer", "B", 1, &e) != VP_OK)
		fail_msg("B's write failed: %s", e.msg);
	pthread_join(t, NULL);
	if (h.rc != VP_OK)
		fail_msg("A failed: %s", h.msg);
	assert_int_equal(vp_store_kv_get(f->s, "writer", &v, &len, &e), VP_OK);
	assert_memory_equal(v, "B", 1);
	free(v);
	pthread_mutex_destroy(&h.mu);
	pthread_cond_destroy(&h.cv);
	vp_store_close(b);
}

/* ---- vp_sql_run, the store files' one way to run a statement (store_internal.h) ---- */

struct walk {
	vp_store *s;
	int rows;
	int64_t inner_total;
	int stop_at;
};

/* Reads the key_value table again from inside the walk: the same SQL is in use further up. */
static vp_err
walk_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct walk *w = arg;
	char *key = vp_sql_col_dup(row, 0), text[8];
	int64_t n = 0;
	vp_err rc;

	w->rows++;
	assert_non_null(key);
	vp_sql_col_text(row, 0, text, sizeof(text));
	assert_string_equal(key, text);
	assert_int_equal(strncmp(key, "t.", 2), 0);
	free(key);
	if ((rc = vp_sql_int(w->s, "count keys", "SELECT count(*) FROM key_value WHERE key >= ?1",
	    VP_SQL_ARGS(VP_SQL_TEXT("")), &n, e)) != VP_OK)
		return rc;
	w->inner_total += n;
	if (w->stop_at != 0 && w->rows == w->stop_at)
		return vp_error_set(e, VP_ERR_INVALID, "stopped at row %d", w->rows);
	return VP_OK;
}

static void
sql_run_binds_walks_and_is_reentrant(void **state)
{
	struct fx *f = *state;
	static const char *const walk_sql =
	    "SELECT key FROM key_value WHERE key LIKE ?1 ORDER BY key";
	struct walk w = { f->s, 0, 0, 0 };
	char buf[64];
	int64_t changes = -1, v = 0;
	vp_error e;
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "t.%d", i);
		assert_int_equal(vp_store_kv_put(f->s, buf, "x", 1, &e), VP_OK);
	}
	/* a walk whose callback runs the same statement text again */
	assert_int_equal(vp_sql_run(f->s, "walk", walk_sql, VP_SQL_ARGS(VP_SQL_TEXT("t.%")),
	    walk_row, &w, NULL, &e), VP_OK);
	assert_int_equal(w.rows, 3);
	assert_int_equal(w.inner_total, 9);
	/* kept statements are reset: the same walk again gives the same rows */
	w.rows = 0;
	assert_int_equal(vp_sql_run(f->s, "walk", walk_sql, VP_SQL_ARGS(VP_SQL_TEXT("t.%")),
	    walk_row, &w, NULL, &e), VP_OK);
	assert_int_equal(w.rows, 3);
	/* a callback's error stops the walk and is the result, with its sentence */
	w.rows = 0;
	w.stop_at = 2;
	assert_int_equal(vp_sql_run(f->s, "walk", walk_sql, VP_SQL_ARGS(VP_SQL_TEXT("t.%")),
	    walk_row, &w, NULL, &e), VP_ERR_INVALID);
	assert_int_equal(w.rows, 2);
	assert_string_equal(e.msg, "stopped at row 2");
	/* changes, NULL text and a missing row */
	assert_int_equal(vp_sql_run(f->s, "drop keys", "DELETE FROM key_value WHERE key LIKE ?1",
	    VP_SQL_ARGS(VP_SQL_TEXT("t.%")), NULL, NULL, &changes, &e), VP_OK);
	assert_int_equal(changes, 3);
	assert_int_equal(vp_sql_int(f->s, "read a null", "SELECT ?1 IS NULL",
	    VP_SQL_ARGS(VP_SQL_TEXT(NULL)), &v, &e), VP_OK);
	assert_int_equal(v, 1);
	assert_int_equal(vp_sql_int(f->s, "find t.0", "SELECT 1 FROM key_value WHERE key = ?1",
	    VP_SQL_ARGS(VP_SQL_TEXT("t.0")), &v, &e), VP_ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, "find t.0"));
	/* a statement that does not compile names the work, and the handle goes on */
	assert_int_equal(vp_sql_run(f->s, "run nonsense", "SELEC nothing", VP_SQL_NOARGS, NULL,
	    NULL, NULL, &e), VP_ERR_STORE);
	assert_non_null(strstr(e.msg, "cannot run nonsense"));
	assert_int_equal(vp_store_kv_put(f->s, "after", "y", 1, &e), VP_OK);
}

/* SQL built at run time is kept by its text: many distinct statements never exhaust the
 * handle, and a buffer reused for another text never runs the old statement. */
static void
sql_run_keeps_statements_by_text(void **state)
{
	struct fx *f = *state;
	char sql[64];
	int64_t v;
	vp_error e;
	int i;

	for (i = 0; i < 400; i++) {
		snprintf(sql, sizeof(sql), "SELECT %d", i);
		assert_int_equal(vp_sql_int(f->s, "select", sql, VP_SQL_NOARGS, &v, &e), VP_OK);
		assert_int_equal(v, i);
	}
	for (i = 0; i < 400; i += 37) {
		snprintf(sql, sizeof(sql), "SELECT %d", i);
		assert_int_equal(vp_sql_int(f->s, "select", sql, VP_SQL_NOARGS, &v, &e), VP_OK);
		assert_int_equal(v, i);
	}
}

/* ---- where the store is (vp_store_locate, vp_store_where_show: issue 22) ---- */

static void
where_show_masks_the_password(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "postgresql://u:s3cret-pw@db.example:5432/site", "postgresql://u:***@db.example:5432/site" },
		{ "postgres://u:pw@h/site", "postgres://u:***@h/site" },
		{ "postgresql://u@h/site?sslmode=require&password=xyz123", "postgresql://u@h/site?sslmode=require&password=***" },
		{ "postgresql://u@h:5432/site", "postgresql://u@h:5432/site" },
		{ "/var/lib/vmspki/vmspki.db", "/var/lib/vmspki/vmspki.db" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *w = vp_store_where_show(cases[i].in);

		assert_non_null(w);
		assert_string_equal(w, cases[i].out);
		free(w);
	}
	assert_true(vp_store_where_has_password("postgresql://u:pw@h/db"));
	assert_true(vp_store_where_has_password("postgresql://u@h/db?password=pw"));
	assert_false(vp_store_where_has_password("postgresql://u@h:5432/db"));
	assert_false(vp_store_where_has_password("/tmp/x.db"));
}

static void
locate_prefers_the_option_then_the_file(void **state)
{
	struct fx *f = *state;
	char *setting = vp_path_join(f->dir, "store"), *where = NULL;
	vp_error e;

	assert_non_null(setting);
	/* No option, no file: the SQLite path. */
	assert_int_equal(vp_store_locate(NULL, setting, "/d/vmspki.db", &where, &e), VP_OK);
	assert_string_equal(where, "/d/vmspki.db");
	free(where);
	/* The file: one line, a password allowed (it is 0600). */
	assert_int_equal(vp_file_write_atomic(setting, "postgresql://u:pw@h/site\n", 25, 0600, &e),
	    VP_OK);
	assert_int_equal(vp_store_locate(NULL, setting, "/d/vmspki.db", &where, &e), VP_OK);
	assert_string_equal(where, "postgresql://u:pw@h/site");
	free(where);
	/* The option wins; with a password it is refused without repeating it. */
	assert_int_equal(vp_store_locate("sqlite:/x/y.db", setting, "/d/vmspki.db", &where, &e),
	    VP_OK);
	assert_string_equal(where, "/x/y.db");
	free(where);
	assert_int_equal(vp_store_locate("postgresql://u:hunter2@h/site", setting, "/d/vmspki.db",
	    &where, &e), VP_ERR_INVALID);
	assert_null(where);
	assert_null(strstr(e.msg, "hunter2"));
	assert_int_equal(vp_store_locate("mysql://h/site", NULL, "/d/vmspki.db", &where, &e),
	    VP_ERR_INVALID);
	/* A file that names no store is refused, not taken for a path. */
	assert_int_equal(vp_file_write_atomic(setting, "two\nlines\n", 10, 0600, &e), VP_OK);
	assert_int_equal(vp_store_locate(NULL, setting, "/d/vmspki.db", &where, &e),
	    VP_ERR_INVALID);
	free(setting);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(store_file_is_created_0600_whatever_the_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(reopening_keeps_data_and_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(open_refuses_a_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(open_refuses_a_file_that_is_not_a_store, setup, teardown),
		cmocka_unit_test_setup_teardown(kv_roundtrip_is_binary_safe, setup, teardown),
		cmocka_unit_test_setup_teardown(kv_missing_key_is_notfound, setup, teardown),
		cmocka_unit_test_setup_teardown(cert_roundtrip_keeps_every_field, setup, teardown),
		cmocka_unit_test_setup_teardown(cert_get_normalizes_the_serial, setup, teardown),
		cmocka_unit_test_setup_teardown(cert_insert_rejects_a_bad_record, setup, teardown),
		cmocka_unit_test_setup_teardown(cert_duplicate_serial_is_exists_and_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(cert_list_filters_orders_and_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(nested_transaction_rollback_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(failed_insert_leaves_callers_transaction_usable, setup, teardown),
		cmocka_unit_test_setup_teardown(audit_chain_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(audit_detects_an_edited_row, setup, teardown),
		cmocka_unit_test_setup_teardown(audit_detects_an_edited_timestamp, setup, teardown),
		cmocka_unit_test_setup_teardown(audit_detects_a_deleted_middle_row, setup, teardown),
		cmocka_unit_test_setup_teardown(audit_detects_rows_removed_from_the_end, setup, teardown),
		cmocka_unit_test_setup_teardown(audit_triggers_refuse_update_and_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(audit_list_returns_rows_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(audit_append_rolls_back_with_the_callers_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(two_handles_see_each_others_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(writer_waits_for_another_handles_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(sql_run_binds_walks_and_is_reentrant, setup, teardown),
		cmocka_unit_test_setup_teardown(sql_run_keeps_statements_by_text, setup, teardown),
		cmocka_unit_test_setup_teardown(where_show_masks_the_password, setup, teardown),
		cmocka_unit_test_setup_teardown(locate_prefers_the_option_then_the_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
