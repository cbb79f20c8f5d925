/* The store's public calls (store.h) written once for every backend: opening picks the backend
 * (vp_store_backend, store_internal.h) and the calls run their statements through vp_sql_run. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "vmspki/store.h"
#include "store_internal.h"
#include "vmspki/util.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* ---- where the store is ---- */

int
vp_store_where_is_pg(const char *where)
{
	return where != NULL && (strncmp(where, "postgresql://", 13) == 0 ||
	    strncmp(where, "postgres://", 11) == 0);
}

/* The password of a URI "scheme://user:password@host...": *start and *len, or 0 when none. */
static int
uri_password(const char *where, size_t *start, size_t *len)
{
	const char *auth = strstr(where, "://"), *at, *colon, *end;

	if (auth == NULL)
		return 0;
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	/* The last @ before the host: a password may itself hold an escaped @ only. */
	for (at = NULL, colon = auth; colon < end; colon++)
		if (*colon == '@')
			at = colon;
	if (at == NULL)
		return 0;
	if ((colon = memchr(auth, ':', (size_t)(at - auth))) == NULL)
		return 0;
	*start = (size_t)(colon + 1 - where);
	*len = (size_t)(at - colon - 1);
	return 1;
}

int
vp_store_where_has_password(const char *where)
{
	size_t a, n;

	if (!vp_store_where_is_pg(where))
		return 0;
	return (uri_password(where, &a, &n) && n > 0) || strstr(where, "password=") != NULL;
}

char *
vp_store_where_show(const char *where)
{
	size_t a, n, len;
	char *out, *q;

	if (where == NULL)
		return NULL;
	if ((out = strdup(where)) == NULL || !vp_store_where_is_pg(where))
		return out;
	if (uri_password(out, &a, &n)) {
		/* "user:***@host": the password's length is not told either. */
		len = strlen(out);
		if (n >= 3) {
			memcpy(out + a, "***", 3);
			memmove(out + a + 3, out + a + n, len - a - n + 1);
		} else {
			char *w = malloc(len + 4);

			if (w == NULL) {
				free(out);
				return NULL;
			}
			memcpy(w, out, a);
			memcpy(w + a, "***", 3);
			memcpy(w + a + 3, out + a + n, len - a - n + 1);
			free(out);
			out = w;
		}
	}
	/* A password=... query parameter: its value up to the next & goes. */
	for (q = strstr(out, "password="); q != NULL; q = strstr(q, "password=")) {
		char *v = q + 9, *endv = v + strcspn(v, "&");

		if (endv - v >= 3) {
			memcpy(v, "***", 3);
			memmove(v + 3, endv, strlen(endv) + 1);
		} else {
			memset(v, '*', (size_t)(endv - v));
		}
		q = v;
	}
	return out;
}

vp_err
vp_store_locate(const char *given, const char *setting_file, const char *sqlite_path,
    char **where, vp_error *e)
{
	unsigned char *buf = NULL;
	size_t n = 0;
	vp_err rc;

	*where = NULL;
	if (given != NULL && *given != '\0') {
		if (vp_store_where_has_password(given))
			return vp_error_set(e, VP_ERR_INVALID,
			    "the store's address holds a password, which the process list would "
			    "show: put it in a password file (PGPASSFILE, ~/.pgpass) or in the "
			    "data directory's store file (mode 0600) instead");
		if (!vp_store_where_is_pg(given) && strncmp(given, "sqlite:", 7) != 0)
			return vp_error_set(e, VP_ERR_INVALID,
			    "--store takes postgresql://... or sqlite:FILE, not %.40s", given);
		if ((*where = strdup(strncmp(given, "sqlite:", 7) == 0 ? given + 7 : given)) ==
		    NULL)
			return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		return VP_OK;
	}
	if (setting_file != NULL) {
		rc = vp_file_read(setting_file, 4096, &buf, &n, e);
		if (rc == VP_OK) {
			while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			    buf[n - 1] == ' ' || buf[n - 1] == '\t'))
				buf[--n] = '\0';
			if (n == 0 || memchr(buf, '\n', n) != NULL || memchr(buf, '\0', n) != NULL ||
			    (!vp_store_where_is_pg((char *)buf) &&
			    strncmp((char *)buf, "sqlite:", 7) != 0)) {
				vp_secret_free(buf, n);
				return vp_error_set(e, VP_ERR_INVALID,
				    "%s must hold one line, postgresql://... or sqlite:FILE",
				    setting_file);
			}
			*where = strdup(strncmp((char *)buf, "sqlite:", 7) == 0 ?
			    (char *)buf + 7 : (char *)buf);
			vp_secret_free(buf, n);
			return *where != NULL ? VP_OK :
			    vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		}
		if (rc != VP_ERR_NOTFOUND)
			return rc;
	}
	if ((*where = strdup(sqlite_path)) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	return VP_OK;
}

/* ---- opening, transactions ---- */

vp_err
vp_store_open(const char *where, vp_store **out, vp_error *e)
{
	vp_store *s = NULL;
	vp_err rc;

	*out = NULL;
	if (where == NULL || *where == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "no store path given");
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->where = vp_store_where_show(where)) ==
	    NULL) {
		free(s);
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory opening the store");
	}
	s->b = vp_store_where_is_pg(where) ? &vp_store_pg : &vp_store_sqlite;
	if ((rc = s->b->open(s, where, &s->conn, e)) != VP_OK ||
	    (rc = s->b->migrate(s, e)) != VP_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	vp_store_close(s);
	return rc;
}

void
vp_store_close(vp_store *s)
{
	if (s == NULL)
		return;
	if (s->conn != NULL)
		s->b->close(s->conn);
	free(s->where);
	free(s);
}

int
vp_store_is_pg(const vp_store *s)
{
	return s->b == &vp_store_pg;
}

const char *
vp_store_backend_name(const vp_store *s)
{
	return s->b->name;
}

vp_err
vp_store_begin(vp_store *s, vp_error *e)
{
	vp_err rc;

	if (s->depth == 0 && (rc = s->b->begin(s, e)) != VP_OK)
		return rc;
	s->depth++;
	return VP_OK;
}

vp_err
vp_store_commit(vp_store *s, vp_error *e)
{
	vp_err rc;

	if (s->depth == 0)
		return vp_error_set(e, VP_ERR_INTERNAL,
		    "commit without a transaction (it was rolled back earlier)");
	if (s->depth > 1) {
		s->depth--;
		return VP_OK;
	}
	if ((rc = s->b->commit(s, e)) != VP_OK) {
		vp_store_rollback(s);
		return rc;
	}
	s->depth = 0;
	return VP_OK;
}

void
vp_store_rollback(vp_store *s)
{
	if (s == NULL || s->depth == 0)
		return;
	s->b->rollback(s);
	s->depth = 0;
	s->savepoints = 0;
}

vp_err
vp_store_op_begin(vp_store *s, vp_error *e)
{
	vp_err rc;

	if (s->depth == 0)
		return vp_store_begin(s, e);
	if ((rc = s->b->savepoint(s, e)) != VP_OK)
		return rc;
	s->savepoints++;
	return VP_OK;
}

vp_err
vp_store_op_end(vp_store *s, vp_err rc, vp_error *e)
{
	if (s->savepoints > 0) {
		s->savepoints--;
		return s->b->release(s, rc, e);
	}
	if (rc != VP_OK) {
		vp_store_rollback(s);
		return rc;
	}
	return vp_store_commit(s, e);
}

/* ---- running statements ---- */

vp_err
vp_sql_run(vp_store *s, const char *what, const char *sql, const vp_sql_param *p, size_t np,
    vp_sql_row_fn row, void *arg, int64_t *changes, vp_error *e)
{
	if (changes != NULL)
		*changes = 0;
	return s->b->run(s, what, sql, p, np, row, arg, changes, e);
}

struct sql_int_arg {
	int found;
	int64_t v;
};

static vp_err
sql_int_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct sql_int_arg *a = arg;

	(void)e;
	if (!a->found) {
		a->found = 1;
		a->v = vp_sql_col_int64(row, 0);
	}
	return VP_OK;
}

vp_err
vp_sql_int(vp_store *s, const char *what, const char *sql, const vp_sql_param *p, size_t np,
    int64_t *out, vp_error *e)
{
	struct sql_int_arg a = { 0, 0 };
	vp_err rc;

	*out = 0;
	if ((rc = vp_sql_run(s, what, sql, p, np, sql_int_row, &a, NULL, e)) != VP_OK)
		return rc;
	if (!a.found)
		return vp_error_set(e, VP_ERR_NOTFOUND, "cannot %s: not found", what);
	*out = a.v;
	return VP_OK;
}

int64_t
vp_sql_col_int64(const vp_sql_row *row, int i)
{
	return row->b->col_int(row, i);
}

int
vp_sql_col_int(const vp_sql_row *row, int i)
{
	int64_t v = row->b->col_int(row, i);

	return v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
}

const char *
vp_sql_col_str(const vp_sql_row *row, int i)
{
	return row->b->col_str(row, i);
}

const void *
vp_sql_col_blob(const vp_sql_row *row, int i, size_t *n)
{
	return row->b->col_blob(row, i, n);
}

int
vp_sql_col_null(const vp_sql_row *row, int i)
{
	return row->b->col_null(row, i);
}

void
vp_sql_col_text(const vp_sql_row *row, int i, char *dst, size_t n)
{
	const char *v = vp_sql_col_str(row, i);

	if (n == 0)
		return;
	snprintf(dst, n, "%s", v != NULL ? v : "");
}

char *
vp_sql_col_dup(const vp_sql_row *row, int i)
{
	const char *v = vp_sql_col_str(row, i);

	return v != NULL ? strdup(v) : NULL;
}

int64_t
vp_sql_last_id(vp_store *s)
{
	return s->b->last_id(s);
}

/* ---- key_value ---- */

static vp_err
check_key(const char *key, vp_error *e)
{
	if (key == NULL || *key == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "empty setting name");
	return VP_OK;
}

struct kv_get {
	unsigned char *val;
	size_t len;
	int found;
};

static vp_err
kv_get_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct kv_get *g = arg;
	size_t n = 0;
	const void *blob = vp_sql_col_blob(row, 0, &n);

	if (blob == NULL && n != 0)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory reading a setting");
	if ((g->val = malloc(n + 1)) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory reading a setting");
	if (n > 0)
		memcpy(g->val, blob, n);
	g->val[n] = '\0';
	g->len = n;
	g->found = 1;
	return VP_OK;
}

vp_err
vp_store_kv_get(vp_store *s, const char *key, unsigned char **val, size_t *len, vp_error *e)
{
	struct kv_get g = { NULL, 0, 0 };
	vp_err rc;

	*val = NULL;
	*len = 0;
	if ((rc = check_key(key, e)) != VP_OK)
		return rc;
	if ((rc = vp_sql_run(s, "read a setting", "SELECT value FROM key_value WHERE key = ?1",
	    VP_SQL_ARGS(VP_SQL_TEXT(key)), kv_get_row, &g, NULL, e)) != VP_OK) {
		free(g.val);
		return rc;
	}
	if (!g.found)
		return vp_error_set(e, VP_ERR_NOTFOUND, "no setting named %s in the store", key);
	*val = g.val;
	*len = g.len;
	return VP_OK;
}

vp_err
vp_store_kv_put(vp_store *s, const char *key, const void *val, size_t len, vp_error *e)
{
	vp_err rc;

	if ((rc = check_key(key, e)) != VP_OK)
		return rc;
	if (val == NULL && len != 0)
		return vp_error_set(e, VP_ERR_INTERNAL, "setting %s: no value given", key);
	if (len > (size_t)INT32_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "setting %s: value of %zu bytes is too large",
		    key, len);
	/* A zero-length value is an empty blob, not NULL. */
	return vp_sql_run(s, "save a setting", "INSERT INTO key_value (key, value, updated_at) "
	    "VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
	    "updated_at = excluded.updated_at", VP_SQL_ARGS(VP_SQL_TEXT(key),
	    VP_SQL_BLOB(val != NULL ? val : "", len), VP_SQL_INT(time(NULL))), NULL, NULL, NULL,
	    e);
}

vp_err
vp_store_kv_delete(vp_store *s, const char *key, vp_error *e)
{
	vp_err rc;

	if ((rc = check_key(key, e)) != VP_OK)
		return rc;
	return vp_sql_run(s, "delete a setting", "DELETE FROM key_value WHERE key = ?1",
	    VP_SQL_ARGS(VP_SQL_TEXT(key)), NULL, NULL, NULL, e);
}

/* ---- certificates ---- */

#define CERT_COLUMNS \
	"serial, fingerprint, issuer_fp, profile, status, subject, sans, owner_kind, owner_id, " \
	"pem, not_before, not_after, issued_at, revoked_at, revocation_reason"

void
vp_cert_rec_clear(vp_cert_rec *r)
{
	if (r == NULL)
		return;
	free(r->subject);
	free(r->sans);
	free(r->owner_kind);
	free(r->owner_id);
	free(r->pem);
	memset(r, 0, sizeof(*r));
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Canonical form of a serial number: lowercase hex without leading zeros. Accepts what people
 * paste: any case, an optional 0x, colons between bytes (openssl x509 -text), spaces around.
 */
static vp_err
serial_normalize(const char *in, char out[64], vp_error *e)
{
	const char *p = in, *end;
	size_t n = 0;
	int digits = 0;

	if (in == NULL)
		return vp_error_set(e, VP_ERR_INVALID, "no serial number given");
	while (*p == ' ' || *p == '\t')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if (end - p >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	for (; p < end; p++) {
		int v = hexval((unsigned char)*p);

		if (*p == ':' && digits > 0 && p + 1 < end && hexval((unsigned char)p[1]) >= 0)
			continue;
		if (v < 0) {
			unsigned char c = (unsigned char)*p;

			if (c >= 0x21 && c < 0x7f)
				return vp_error_set(e, VP_ERR_INVALID,
				    "serial number is not hexadecimal (unexpected '%c'): give it as "
				    "`vmspki cert list` prints it", c);
			return vp_error_set(e, VP_ERR_INVALID,
			    "serial number is not hexadecimal (unexpected character 0x%02x): give it "
			    "as `vmspki cert list` prints it", c);
		}
		digits++;
		if (n == 0 && v == 0)
			continue;
		if (n >= 63)
			return vp_error_set(e, VP_ERR_INVALID,
			    "serial number is too long: a certificate serial has at most 40 hex "
			    "digits");
		out[n++] = "0123456789abcdef"[v];
	}
	if (digits == 0)
		return vp_error_set(e, VP_ERR_INVALID, "empty serial number");
	if (n == 0)
		out[n++] = '0';
	out[n] = '\0';
	return VP_OK;
}

/* Checks one fixed-size field of a record: NUL-terminated within its array and not empty. */
static vp_err
check_field(const char *v, size_t size, const char *name, vp_error *e)
{
	if (memchr(v, '\0', size) == NULL)
		return vp_error_set(e, VP_ERR_INTERNAL, "certificate record: %s is not terminated",
		    name);
	if (*v == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "certificate record: %s is empty", name);
	return VP_OK;
}

static vp_err
fingerprint_normalize(const char *in, size_t size, const char *name, char out[65],
    vp_error *e)
{
	size_t i;
	vp_err rc;

	if ((rc = check_field(in, size, name, e)) != VP_OK)
		return rc;
	for (i = 0; i < 64; i++) {
		int v = hexval((unsigned char)in[i]);

		if (v < 0)
			break;
		out[i] = "0123456789abcdef"[v];
	}
	if (i != 64 || in[64] != '\0')
		return vp_error_set(e, VP_ERR_INVALID,
		    "certificate record: %s is not a SHA-256 fingerprint (64 hex digits)", name);
	out[64] = '\0';
	return VP_OK;
}

vp_err
vp_store_cert_insert(vp_store *s, const vp_cert_rec *r, vp_error *e)
{
	char serial[64], fp[65], ifp[65];
	vp_err rc;

	if ((rc = check_field(r->serial, sizeof(r->serial), "serial", e)) != VP_OK ||
	    (rc = serial_normalize(r->serial, serial, e)) != VP_OK ||
	    (rc = fingerprint_normalize(r->fingerprint, sizeof(r->fingerprint), "fingerprint",
	    fp, e)) != VP_OK ||
	    (rc = fingerprint_normalize(r->issuer_fp, sizeof(r->issuer_fp), "issuer fingerprint",
	    ifp, e)) != VP_OK ||
	    (rc = check_field(r->profile, sizeof(r->profile), "profile", e)) != VP_OK ||
	    (rc = check_field(r->status, sizeof(r->status), "status", e)) != VP_OK)
		return rc;
	if (strcmp(r->status, "valid") != 0 && strcmp(r->status, "revoked") != 0)
		return vp_error_set(e, VP_ERR_INVALID,
		    "certificate record: status must be \"valid\" or \"revoked\"");
	if (r->subject == NULL || r->pem == NULL || *r->pem == '\0')
		return vp_error_set(e, VP_ERR_INVALID,
		    "certificate record: subject and PEM are required");
	rc = vp_sql_run(s, "record a certificate", "INSERT INTO certificates (" CERT_COLUMNS
	    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
	    VP_SQL_ARGS(VP_SQL_TEXT(serial), VP_SQL_TEXT(fp), VP_SQL_TEXT(ifp),
	    VP_SQL_TEXT(r->profile), VP_SQL_TEXT(r->status), VP_SQL_TEXT(r->subject),
	    VP_SQL_TEXT(r->sans != NULL ? r->sans : ""),
	    VP_SQL_TEXT(r->owner_kind != NULL ? r->owner_kind : ""),
	    VP_SQL_TEXT(r->owner_id != NULL ? r->owner_id : ""), VP_SQL_TEXT(r->pem),
	    VP_SQL_INT(r->not_before), VP_SQL_INT(r->not_after), VP_SQL_INT(r->issued_at),
	    VP_SQL_INT(r->revoked_at), VP_SQL_INT(r->revocation_reason)), NULL, NULL, NULL, e);
	if (rc == VP_ERR_EXISTS) {
		/* Both backends name the constraint's column in their message. */
		if (e != NULL && strstr(e->msg, "fingerprint") != NULL)
			rc = vp_error_set(e, VP_ERR_EXISTS,
			    "a certificate with fingerprint %s is already recorded", fp);
		else
			rc = vp_error_set(e, VP_ERR_EXISTS,
			    "a certificate with serial %s is already recorded", serial);
	}
	return rc;
}

/* Copies a text column into a fixed field; a value that does not fit is a damaged row. */
static int
col_fixed(const vp_sql_row *st, int i, char *dst, size_t size)
{
	const char *v = vp_sql_col_str(st, i);
	size_t n = v != NULL ? strlen(v) : 0;

	if (v == NULL || n >= size)
		return -1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static char *
col_dup(const vp_sql_row *st, int i)
{
	const char *v = vp_sql_col_str(st, i);

	return strdup(v != NULL ? v : "");
}

/* Fills r from a row of CERT_COLUMNS. r starts zeroed; on failure it is cleared again. */
static vp_err
row_to_rec(vp_store *s, const vp_sql_row *st, vp_cert_rec *r, vp_error *e)
{
	memset(r, 0, sizeof(*r));
	if (col_fixed(st, 0, r->serial, sizeof(r->serial)) != 0 ||
	    col_fixed(st, 1, r->fingerprint, sizeof(r->fingerprint)) != 0 ||
	    col_fixed(st, 2, r->issuer_fp, sizeof(r->issuer_fp)) != 0 ||
	    col_fixed(st, 3, r->profile, sizeof(r->profile)) != 0 ||
	    col_fixed(st, 4, r->status, sizeof(r->status)) != 0) {
		vp_cert_rec_clear(r);
		return vp_error_set(e, VP_ERR_STORE,
		    "a certificate row in %s has an over-long or missing field: the store was "
		    "changed outside vmspki", s->where);
	}
	r->subject = col_dup(st, 5);
	r->sans = col_dup(st, 6);
	r->owner_kind = col_dup(st, 7);
	r->owner_id = col_dup(st, 8);
	r->pem = col_dup(st, 9);
	if (r->subject == NULL || r->sans == NULL || r->owner_kind == NULL ||
	    r->owner_id == NULL || r->pem == NULL) {
		vp_cert_rec_clear(r);
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory reading a certificate");
	}
	r->not_before = vp_sql_col_int64(st, 10);
	r->not_after = vp_sql_col_int64(st, 11);
	r->issued_at = vp_sql_col_int64(st, 12);
	r->revoked_at = vp_sql_col_int64(st, 13);
	r->revocation_reason = vp_sql_col_int(st, 14);
	return VP_OK;
}

struct cert_one {
	vp_store *s;
	vp_cert_rec *out;
	int found;
};

static vp_err
cert_one_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct cert_one *o = arg;
	vp_err rc;

	if ((rc = row_to_rec(o->s, row, o->out, e)) == VP_OK)
		o->found = 1;
	return rc;
}

vp_err
vp_store_cert_get(vp_store *s, const char *serial, vp_cert_rec *out, vp_error *e)
{
	struct cert_one o = { s, out, 0 };
	char norm[64];
	vp_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = serial_normalize(serial, norm, e)) != VP_OK)
		return rc;
	if ((rc = vp_sql_run(s, "look up a certificate", "SELECT " CERT_COLUMNS " FROM "
	    "certificates WHERE serial = ?1", VP_SQL_ARGS(VP_SQL_TEXT(norm)), cert_one_row, &o,
	    NULL, e)) != VP_OK)
		return rc;
	if (!o.found)
		return vp_error_set(e, VP_ERR_NOTFOUND, "no certificate with serial %s in the store",
		    norm);
	return VP_OK;
}

/*
 * "SELECT <what> FROM certificates WHERE <filter> [ORDER/LIMIT]" with only the conditions the
 * filter sets, so that the database can pick the matching index. Parameters are numbered, so
 * each keeps its number whichever others are present (all seven are bound).
 */
static vp_err
filtered_sql(const vp_cert_filter *f, int listing, char *sql, size_t size, vp_error *e)
{
	const char *glue = " WHERE ";

	if (f != NULL && (f->limit < 0 || f->offset < 0 || f->not_after_before < 0))
		return vp_error_set(e, VP_ERR_INVALID,
		    "certificate filter: limit, offset and date must not be negative");
	snprintf(sql, size, "SELECT %s FROM certificates", listing ? CERT_COLUMNS : "count(*)");
#define ADD(glue_, cond) do { \
	strncat(sql, glue_, size - strlen(sql) - 1); \
	strncat(sql, cond, size - strlen(sql) - 1); \
	glue = " AND "; \
} while (0)
	if (f != NULL && f->not_after_before != 0)
		ADD(glue, "not_after < ?1");
	if (f != NULL && f->profile != NULL)
		ADD(glue, "profile = ?2");
	if (f != NULL && f->owner_kind != NULL)
		ADD(glue, "owner_kind = ?3");
	if (f != NULL && f->owner_id != NULL)
		ADD(glue, "owner_id = ?4");
	if (f != NULL && f->issuer_fp != NULL)
		ADD(glue, "issuer_fp = ?5");
	if (listing)
		ADD(" ", "ORDER BY not_after, serial LIMIT ?6 OFFSET ?7");
	else
		ADD(glue, "?6 = ?6 AND ?7 = ?7");
#undef ADD
	return VP_OK;
}

#define FILTER_ARGS(f) VP_SQL_ARGS( \
	VP_SQL_INT((f) != NULL ? (f)->not_after_before : 0), \
	VP_SQL_TEXT((f) != NULL && (f)->profile != NULL ? (f)->profile : ""), \
	VP_SQL_TEXT((f) != NULL && (f)->owner_kind != NULL ? (f)->owner_kind : ""), \
	VP_SQL_TEXT((f) != NULL && (f)->owner_id != NULL ? (f)->owner_id : ""), \
	VP_SQL_TEXT((f) != NULL && (f)->issuer_fp != NULL ? (f)->issuer_fp : ""), \
	VP_SQL_INT((f) != NULL && (f)->limit > 0 ? (f)->limit : INT64_MAX), \
	VP_SQL_INT((f) != NULL ? (f)->offset : 0))

struct cert_walk {
	vp_store *s;
	vp_cert_cb cb;
	void *arg;
};

static vp_err
cert_walk_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct cert_walk *w = arg;
	vp_cert_rec rec;
	vp_err rc;
	int cbr;

	if ((rc = row_to_rec(w->s, row, &rec, e)) != VP_OK)
		return rc;
	cbr = w->cb(&rec, w->arg);
	vp_cert_rec_clear(&rec);
	return (vp_err)cbr;
}

vp_err
vp_store_cert_list(vp_store *s, const vp_cert_filter *f, vp_cert_cb cb, void *arg,
    vp_error *e)
{
	struct cert_walk w = { s, cb, arg };
	char sql[512];
	vp_err rc;

	if ((rc = filtered_sql(f, 1, sql, sizeof(sql), e)) != VP_OK)
		return rc;
	return vp_sql_run(s, "list certificates", sql, FILTER_ARGS(f), cert_walk_row, &w, NULL,
	    e);
}

vp_err
vp_store_cert_count(vp_store *s, const vp_cert_filter *f, int64_t *n, vp_error *e)
{
	char sql[512];
	vp_err rc;

	*n = 0;
	if ((rc = filtered_sql(f, 0, sql, sizeof(sql), e)) != VP_OK)
		return rc;
	return vp_sql_int(s, "count certificates", sql, FILTER_ARGS(f), n, e);
}

/* ---- audit log ---- */

static int
hash_u64(EVP_MD_CTX *md, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 7; i >= 0; i--) {
		b[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
	return EVP_DigestUpdate(md, b, sizeof(b));
}

/* A field is a presence byte, then (if present) its length and bytes: no two different rows
 * encode alike, and NULL differs from "". */
static int
hash_text(EVP_MD_CTX *md, const char *v)
{
	unsigned char present = v != NULL;
	size_t n = v != NULL ? strlen(v) : 0;

	if (!EVP_DigestUpdate(md, &present, 1))
		return 0;
	if (v == NULL)
		return 1;
	return hash_u64(md, (uint64_t)n) && EVP_DigestUpdate(md, v, n);
}

/* hex = SHA-256("vmspki-audit-v1" || prev_hash || id || at || actor || action || serial ||
 * detail), each field encoded as above. */
static vp_err
audit_hash(const char *prev, int64_t id, int64_t at, const char *actor, const char *action,
    const char *serial, const char *detail, char hex[65], vp_error *e)
{
	static const char tag[] = "vmspki-audit-v1";
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_MD_CTX *md;
	int ok;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return vp_error_ssl(e, VP_ERR_NOMEM, "cannot hash an audit row");
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(md, tag, sizeof(tag)) &&
	    hash_text(md, prev) &&
	    hash_u64(md, (uint64_t)id) &&
	    hash_u64(md, (uint64_t)at) &&
	    hash_text(md, actor) &&
	    hash_text(md, action) &&
	    hash_text(md, serial) &&
	    hash_text(md, detail) &&
	    EVP_DigestFinal_ex(md, dig, &dlen) && dlen == 32;
	EVP_MD_CTX_free(md);
	if (!ok)
		return vp_error_ssl(e, VP_ERR_CRYPTO, "cannot hash an audit row");
	vp_hex_encode(dig, 32, hex);
	return VP_OK;
}

struct id_hash {
	int found;
	int64_t id;
	char hash[65];
};

/* Reads (id, hash) from a one-row statement; found stays 0 when there is no row. */
static vp_err
id_hash_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct id_hash *h = arg;

	(void)e;
	h->found = 1;
	h->id = vp_sql_col_int64(row, 0);
	if (col_fixed(row, 1, h->hash, sizeof(h->hash)) != 0)
		h->hash[0] = '\0'; /* a damaged hash: the chain check will say so */
	return VP_OK;
}

#define AUDIT_LAST_SQL "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1"
#define AUDIT_HEAD_SQL "SELECT id, hash FROM audit_head WHERE one = 1"

vp_err
vp_store_audit_append(vp_store *s, const char *actor, const char *action,
    const char *serial, const char *detail, vp_error *e)
{
	struct id_hash last = { 0 }, head = { 0 };
	char prev[65] = ZERO_HASH, hash[65];
	int64_t last_id, id, at = (int64_t)time(NULL);
	vp_err rc;

	/* The transaction holds the site's write lock from its start (vp_store_begin, on every
	 * backend): two servers never read the same head and append two rows after it. */
	if ((rc = vp_store_op_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = vp_sql_run(s, "read the audit log", AUDIT_LAST_SQL, VP_SQL_NOARGS, id_hash_row,
	    &last, NULL, e)) != VP_OK ||
	    (rc = vp_sql_run(s, "read the audit log", AUDIT_HEAD_SQL, VP_SQL_NOARGS, id_hash_row,
	    &head, NULL, e)) != VP_OK)
		goto out;
	last_id = last.found ? last.id : 0;
	if (last.found)
		memcpy(prev, last.hash, sizeof(prev));
	/* If rows were cut from the end, chain to the recorded head rather than to the last
	 * surviving row: the gap then stays visible to vp_store_audit_verify. */
	if (head.found && head.id > last_id) {
		last_id = head.id;
		memcpy(prev, head.hash, sizeof(prev));
	}
	if (last_id == INT64_MAX) {
		rc = vp_error_set(e, VP_ERR_STORE, "the audit log is full");
		goto out;
	}
	id = last_id + 1;
	if ((rc = audit_hash(prev, id, at, actor, action, serial, detail, hash, e)) != VP_OK ||
	    (rc = vp_sql_run(s, "append to the audit log", "INSERT INTO audit_log "
	    "(id, at, actor, action, serial, detail, prev_hash, hash) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", VP_SQL_ARGS(VP_SQL_INT(id), VP_SQL_INT(at),
	    VP_SQL_TEXT(actor), VP_SQL_TEXT(action), VP_SQL_TEXT(serial), VP_SQL_TEXT(detail),
	    VP_SQL_TEXT(prev), VP_SQL_TEXT(hash)), NULL, NULL, NULL, e)) != VP_OK)
		goto out;
	rc = vp_sql_run(s, "append to the audit log", "INSERT INTO audit_head (one, id, hash) "
	    "VALUES (1, ?1, ?2) ON CONFLICT (one) DO UPDATE SET id = excluded.id, "
	    "hash = excluded.hash", VP_SQL_ARGS(VP_SQL_INT(id), VP_SQL_TEXT(hash)), NULL, NULL,
	    NULL, e);
out:
	return vp_store_op_end(s, rc, e);
}

struct audit_check {
	char expect[65];
	int64_t prev_id;
	int64_t *rows, *bad_id;
};

static vp_err
audit_check_row(const vp_sql_row *st, void *arg, vp_error *e)
{
	struct audit_check *c = arg;
	int64_t id = vp_sql_col_int64(st, 0), prev_id = c->prev_id;
	const char *ph = vp_sql_col_str(st, 6), *h = vp_sql_col_str(st, 7);
	char hash[65];
	vp_err rc;

	(*c->rows)++;
	if ((rc = audit_hash(ph != NULL ? ph : "", id, vp_sql_col_int64(st, 1),
	    vp_sql_col_str(st, 2), vp_sql_col_str(st, 3), vp_sql_col_str(st, 4),
	    vp_sql_col_str(st, 5), hash, e)) != VP_OK)
		return rc;
	if (id != prev_id + 1) {
		*c->bad_id = prev_id + 1;
		if (id == prev_id + 2)
			return vp_error_set(e, VP_ERR_INVALID,
			    "the audit log is broken at row %lld: that row was removed",
			    (long long)prev_id + 1);
		return vp_error_set(e, VP_ERR_INVALID,
		    "the audit log is broken at row %lld: rows %lld to %lld were removed",
		    (long long)prev_id + 1, (long long)prev_id + 1, (long long)id - 1);
	}
	if (ph == NULL || strcmp(ph, c->expect) != 0) {
		*c->bad_id = id;
		return vp_error_set(e, VP_ERR_INVALID,
		    "the audit log is broken at row %lld: it does not follow row %lld "
		    "(rows were removed or changed before it)", (long long)id, (long long)prev_id);
	}
	if (h == NULL || strcmp(h, hash) != 0) {
		*c->bad_id = id;
		return vp_error_set(e, VP_ERR_INVALID,
		    "the audit log is broken at row %lld: its content does not match its "
		    "hash (the row was changed)", (long long)id);
	}
	memcpy(c->expect, hash, sizeof(c->expect));
	c->prev_id = id;
	return VP_OK;
}

static vp_err
audit_verify_rows(vp_store *s, int64_t *rows, int64_t *bad_id, vp_error *e)
{
	struct audit_check c = { ZERO_HASH, 0, rows, bad_id };
	struct id_hash head = { 0 };
	int64_t prev_id;
	vp_err rc;

	if ((rc = vp_sql_run(s, "read the audit log", AUDIT_HEAD_SQL, VP_SQL_NOARGS, id_hash_row,
	    &head, NULL, e)) != VP_OK ||
	    (rc = vp_sql_run(s, "read the audit log", "SELECT id, at, actor, action, serial, "
	    "detail, prev_hash, hash FROM audit_log ORDER BY id", VP_SQL_NOARGS, audit_check_row,
	    &c, NULL, e)) != VP_OK)
		return rc;
	prev_id = c.prev_id;
	/* The head records the newest row written: rows cut from the end, or added by hand,
	 * show here. */
	if (!head.found && prev_id != 0) {
		*bad_id = prev_id;
		return vp_error_set(e, VP_ERR_INVALID,
		    "the audit log is broken at row %lld: the record of its newest row is missing",
		    (long long)prev_id);
	}
	if (head.found && head.id > prev_id) {
		*bad_id = prev_id + 1;
		return vp_error_set(e, VP_ERR_INVALID,
		    "the audit log is broken at row %lld: it ends at row %lld but rows up to %lld "
		    "were written (rows were removed from the end)", (long long)prev_id + 1,
		    (long long)prev_id, (long long)head.id);
	}
	if (head.found && head.id < prev_id) {
		*bad_id = head.id + 1;
		return vp_error_set(e, VP_ERR_INVALID,
		    "the audit log is broken at row %lld: rows after %lld were not written by "
		    "vmspki", (long long)head.id + 1, (long long)head.id);
	}
	if (head.found && strcmp(head.hash, c.expect) != 0) {
		*bad_id = prev_id;
		return vp_error_set(e, VP_ERR_INVALID,
		    "the audit log is broken at row %lld: it is not the row vmspki wrote last",
		    (long long)prev_id);
	}
	return VP_OK;
}

vp_err
vp_store_audit_verify(vp_store *s, int64_t *rows, int64_t *bad_id, vp_error *e)
{
	int own = 0;
	vp_err rc;

	*rows = 0;
	*bad_id = 0;
	/* One read transaction: a consistent snapshot even while another process appends. */
	if (s->depth == 0) {
		if ((rc = s->b->snapshot(s, 0, e)) != VP_OK)
			return rc;
		own = 1;
	}
	rc = audit_verify_rows(s, rows, bad_id, e);
	if (own)
		s->b->snapshot(s, 1, NULL);
	return rc;
}

struct audit_walk {
	vp_audit_cb cb;
	void *arg;
};

static vp_err
audit_walk_row(const vp_sql_row *st, void *arg, vp_error *e)
{
	struct audit_walk *w = arg;
	vp_audit_rec rec;

	(void)e;
	rec.id = vp_sql_col_int64(st, 0);
	rec.at = vp_sql_col_int64(st, 1);
	rec.actor = vp_sql_col_str(st, 2);
	rec.action = vp_sql_col_str(st, 3);
	rec.serial = vp_sql_col_str(st, 4);
	rec.detail = vp_sql_col_str(st, 5);
	rec.hash = vp_sql_col_str(st, 6);
	return (vp_err)w->cb(&rec, w->arg);
}

vp_err
vp_store_audit_list(vp_store *s, vp_audit_cb cb, void *arg, vp_error *e)
{
	struct audit_walk w = { cb, arg };

	return vp_sql_run(s, "read the audit log", "SELECT id, at, actor, action, serial, detail, "
	    "hash FROM audit_log ORDER BY id", VP_SQL_NOARGS, audit_walk_row, &w, NULL, e);
}

/* ---- API tokens ---- */

vp_err
vp_store_token_insert(vp_store *s, const char *name, const char *hash, const char *role,
    vp_error *e)
{
	vp_err rc = vp_sql_run(s, "save a token", "INSERT INTO tokens (name, hash, role, "
	    "created_at) VALUES (?1, ?2, ?3, ?4)", VP_SQL_ARGS(VP_SQL_TEXT(name),
	    VP_SQL_TEXT(hash), VP_SQL_TEXT(role), VP_SQL_INT(time(NULL))), NULL, NULL, NULL, e);

	if (rc == VP_ERR_EXISTS)
		rc = vp_error_set(e, VP_ERR_EXISTS, "a token named %s exists already", name);
	return rc;
}

struct token_one {
	char *name, *role;
	size_t name_len, role_len;
	int found;
};

static vp_err
token_one_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct token_one *t = arg;

	(void)e;
	vp_sql_col_text(row, 0, t->name, t->name_len);
	vp_sql_col_text(row, 1, t->role, t->role_len);
	t->found = 1;
	return VP_OK;
}

vp_err
vp_store_token_find(vp_store *s, const char *hash, char *name, size_t name_len, char *role,
    size_t role_len, vp_error *e)
{
	struct token_one t = { name, role, name_len, role_len, 0 };
	vp_err rc;

	if ((rc = vp_sql_run(s, "look up a token", "SELECT name, role FROM tokens WHERE hash = ?1",
	    VP_SQL_ARGS(VP_SQL_TEXT(hash)), token_one_row, &t, NULL, e)) != VP_OK)
		return rc;
	if (!t.found)
		return vp_error_set(e, VP_ERR_NOTFOUND, "unknown token");
	return VP_OK;
}

/* Runs a DELETE of at most one row keyed by ?1; *deleted tells whether a row went. */
static vp_err
delete_one(vp_store *s, const char *sql, const char *key, const char *what, int *deleted,
    vp_error *e)
{
	int64_t n = 0;
	vp_err rc = vp_sql_run(s, what, sql, VP_SQL_ARGS(VP_SQL_TEXT(key)), NULL, NULL, &n, e);

	*deleted = rc == VP_OK && n > 0;
	return rc;
}

vp_err
vp_store_token_delete(vp_store *s, const char *name, vp_error *e)
{
	int deleted;
	vp_err rc = delete_one(s, "DELETE FROM tokens WHERE name = ?1", name, "delete a token",
	    &deleted, e);

	if (rc == VP_OK && !deleted)
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "no token named %s", name);
	return rc;
}

struct token_walk {
	vp_store_token_cb cb;
	void *arg;
};

static vp_err
token_walk_row(const vp_sql_row *st, void *arg, vp_error *e)
{
	struct token_walk *w = arg;

	(void)e;
	return (vp_err)w->cb(vp_sql_col_str(st, 0), vp_sql_col_str(st, 1),
	    vp_sql_col_int64(st, 2), w->arg);
}

vp_err
vp_store_token_list(vp_store *s, vp_store_token_cb cb, void *arg, vp_error *e)
{
	struct token_walk w = { cb, arg };

	return vp_sql_run(s, "list the tokens", "SELECT name, role, created_at FROM tokens ORDER BY "
	    "name", VP_SQL_NOARGS, token_walk_row, &w, NULL, e);
}

/* ---- components ---- */

static void
component_row_read(const vp_sql_row *st, vp_store_component *r)
{
	memset(r, 0, sizeof(*r));
	vp_sql_col_text(st, 0, r->id, sizeof(r->id));
	r->server = vp_sql_col_int(st, 1) != 0;
	r->client = vp_sql_col_int(st, 2) != 0;
	r->created_at = vp_sql_col_int64(st, 3);
}

struct component_one {
	vp_store_component *out;
	int found;
};

static vp_err
component_one_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct component_one *c = arg;

	(void)e;
	component_row_read(row, c->out);
	c->found = 1;
	return VP_OK;
}

vp_err
vp_store_component_get(vp_store *s, const char *id, vp_store_component *out, vp_error *e)
{
	struct component_one c = { out, 0 };
	vp_err rc;

	if ((rc = vp_sql_run(s, "look up a component", "SELECT id, server, client, created_at "
	    "FROM components WHERE id = ?1", VP_SQL_ARGS(VP_SQL_TEXT(id)), component_one_row, &c,
	    NULL, e)) != VP_OK)
		return rc;
	if (!c.found)
		return vp_error_set(e, VP_ERR_NOTFOUND, "there is no component called %s", id);
	return VP_OK;
}

vp_err
vp_store_component_put(vp_store *s, const vp_store_component *c, vp_error *e)
{
	return vp_sql_run(s, "save a component", "INSERT INTO components (id, server, client, "
	    "created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET server = "
	    "excluded.server, client = excluded.client", VP_SQL_ARGS(VP_SQL_TEXT(c->id),
	    VP_SQL_INT(c->server != 0), VP_SQL_INT(c->client != 0),
	    VP_SQL_INT(c->created_at > 0 ? c->created_at : (int64_t)time(NULL))), NULL, NULL,
	    NULL, e);
}

vp_err
vp_store_component_delete(vp_store *s, const char *id, vp_error *e)
{
	int deleted;
	vp_err rc = delete_one(s, "DELETE FROM components WHERE id = ?1", id,
	    "delete a component", &deleted, e);

	if (rc == VP_OK && !deleted)
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "there is no component called %s", id);
	return rc;
}

struct component_walk {
	vp_store_component_cb cb;
	void *arg;
};

static vp_err
component_walk_row(const vp_sql_row *st, void *arg, vp_error *e)
{
	struct component_walk *w = arg;
	vp_store_component row;

	(void)e;
	component_row_read(st, &row);
	return (vp_err)w->cb(&row, w->arg);
}

vp_err
vp_store_component_list(vp_store *s, vp_store_component_cb cb, void *arg, vp_error *e)
{
	struct component_walk w = { cb, arg };

	return vp_sql_run(s, "list the components", "SELECT id, server, client, created_at FROM "
	    "components ORDER BY id", VP_SQL_NOARGS, component_walk_row, &w, NULL, e);
}

/* ---- CA renewal (issue 19, item 5) ---- */

vp_err
vp_store_cert_move_issuer(vp_store *s, const char *from_fp, const char *to_fp, vp_error *e)
{
	return vp_sql_run(s, "record the renewed CA as the certificates' issuer",
	    "UPDATE certificates SET issuer_fp = ?2 WHERE issuer_fp = ?1",
	    VP_SQL_ARGS(VP_SQL_TEXT(from_fp), VP_SQL_TEXT(to_fp)), NULL, NULL, NULL, e);
}
