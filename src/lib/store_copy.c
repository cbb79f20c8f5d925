/* Moving a site from one store to another (`vmspki store migrate`, issue 22): every table, row
 * by row, into an empty store of the same schema version, in one transaction of the target. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmspki/store.h"
#include "store_internal.h"

/*
 * The tables in an order their references allow, each with its columns and how they are read
 * and bound: I integer, T text (NULL kept), B blob. Keep in step with store_schema.c: a column
 * a migration adds goes here too (test_store's copy test fails on a table whose rows differ).
 */
static const struct copy_table {
	const char *name;
	const char *cols;
	int id_seq;             /* an identity column "id" whose next value must follow */
} tables[] = {
	{ "key_value", "key:T value:B updated_at:I", 0 },
	{ "certificates", "id:I serial:T fingerprint:T issuer_fp:T profile:T status:T subject:T "
	    "sans:T owner_kind:T owner_id:T pem:T not_before:I not_after:I issued_at:I "
	    "revoked_at:I revocation_reason:I", 1 },
	{ "audit_log", "id:I at:I actor:T action:T serial:T detail:T prev_hash:T hash:T", 1 },
	{ "audit_head", "one:I id:I hash:T", 0 },
	{ "tokens", "name:T hash:T role:T created_at:I", 0 },
	{ "components", "id:T server:I client:I created_at:I", 0 },
	{ "devices", "id:I address:T http_port:I https_port:I name:T username:T secret:B "
	    "allow_basic:I cn_mode:T mac:T model:T firmware:T api:T https_state:T status:T "
	    "status_detail:T pinned:I https_only:I cert_serial:T cert_alias:T cert_not_after:I "
	    "added_at:I updated_at:I", 1 },
	{ "tasks", "id:I kind:T state:T options:T concurrency:I created_at:I started_at:I "
	    "finished_at:I claimed_by:T lease_until:I cancel:I phase:I", 1 },
	{ "task_devices", "task_id:I device_id:I status:T step:T error:T retryable:I attempts:I "
	    "key_alias:T cert_serial:T started_at:I finished_at:I duration_ms:I", 0 },
	{ "task_items", "task_id:I seq:I item:T status:T detail:T finished_at:I", 0 },
	{ "alarms", "id:I kind:T subject:T severity:I message:T state:T raised_at:I cleared_at:I "
	    "acked_at:I acked_by:T", 1 },
	{ "alarm_outbox", "id:I alarm_id:I event:T payload:T created_at:I attempts:I next_at:I "
	    "webhook_done:I syslog_done:I last_error:T", 1 },
	{ "endpoints", "id:I host:T port:I sni:T added_at:I checked_at:I status:T detail:T "
	    "verified:I name_ok:I subject:T issuer:T not_after:I fingerprint:T chain_pem:T", 1 },
};

#define COPY_COLS_MAX 32

struct copy {
	vp_store *to;
	const char *table;
	char types[COPY_COLS_MAX];
	int ncols;
	char insert[2048];
	int64_t rows;
};

static vp_err
copy_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct copy *c = arg;
	vp_sql_param p[COPY_COLS_MAX];

	for (int i = 0; i < c->ncols; i++) {
		size_t n = 0;
		const void *b;

		if (vp_sql_col_null(row, i)) {
			p[i] = c->types[i] == 'T' ? VP_SQL_TEXT(NULL) : VP_SQL_NULL;
			continue;
		}
		switch (c->types[i]) {
		case 'I':
			p[i] = VP_SQL_INT(vp_sql_col_int64(row, i));
			break;
		case 'B':
			b = vp_sql_col_blob(row, i, &n);
			p[i] = VP_SQL_BLOB(b != NULL ? b : "", n);
			break;
		default:
			p[i] = VP_SQL_TEXT(vp_sql_col_str(row, i));
			break;
		}
	}
	c->rows++;
	return vp_sql_run(c->to, "copy a row", c->insert, p, (size_t)c->ncols, NULL, NULL, NULL,
	    e);
}

/* "a:T b:I" into "a, b" (select), "?1, ?2" (values) and the types. */
static vp_err
parse_cols(const char *spec, struct copy *c, char *names, size_t nn, char *vals, size_t vn,
    vp_error *e)
{
	const char *p = spec;

	names[0] = vals[0] = '\0';
	c->ncols = 0;
	while (*p != '\0') {
		const char *colon = strchr(p, ':');
		char one[24];

		if (colon == NULL || c->ncols == COPY_COLS_MAX)
			return vp_error_set(e, VP_ERR_INTERNAL, "bad column list for %s", c->table);
		c->types[c->ncols] = colon[1];
		snprintf(one, sizeof(one), "%s?%d", c->ncols > 0 ? ", " : "", c->ncols + 1);
		if (c->ncols > 0)
			strncat(names, ", ", nn - strlen(names) - 1);
		strncat(names, p, (size_t)(colon - p) < nn - strlen(names) - 1 ?
		    (size_t)(colon - p) : nn - strlen(names) - 1);
		strncat(vals, one, vn - strlen(vals) - 1);
		c->ncols++;
		p = colon + 2;
		while (*p == ' ')
			p++;
	}
	return VP_OK;
}

vp_err
vp_store_copy(vp_store *from, vp_store *to, int64_t *rows, vp_error *e)
{
	char names[1024], vals[512], sql[2048];
	int64_t n, audit_rows, bad;
	vp_err rc;
	size_t i;

	*rows = 0;
	if ((rc = vp_store_begin(to, e)) != VP_OK)
		return rc;
	/* Refused unless empty: a migration never merges two sites. */
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i].name);
		if ((rc = vp_sql_int(to, "look at the target store", sql, VP_SQL_NOARGS, &n, e)) !=
		    VP_OK)
			goto out;
		if (n > 0) {
			rc = vp_error_set(e, VP_ERR_EXISTS,
			    "the target store %s is not empty (its %s table has %" PRId64 " rows): "
			    "a site moves into a new, empty database only; nothing was copied",
			    to->where, tables[i].name, n);
			goto out;
		}
	}
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		struct copy c = { .to = to, .table = tables[i].name };

		if ((rc = parse_cols(tables[i].cols, &c, names, sizeof(names), vals, sizeof(vals),
		    e)) != VP_OK)
			goto out;
		snprintf(c.insert, sizeof(c.insert), "INSERT INTO %s (%s) VALUES (%s)",
		    tables[i].name, names, vals);
		snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY 1", names, tables[i].name);
		if ((rc = vp_sql_run(from, "read the source store", sql, VP_SQL_NOARGS, copy_row, &c,
		    NULL, e)) != VP_OK) {
			vp_error_prefix(e, "copying %s", tables[i].name);
			goto out;
		}
		*rows += c.rows;
		/* PostgreSQL's identity columns go on after the ids copied. */
		if (tables[i].id_seq && vp_store_is_pg(to)) {
			snprintf(sql, sizeof(sql), "SELECT setval(pg_get_serial_sequence('%s', 'id'), "
			    "(SELECT coalesce(max(id), 0) + 1 FROM %s), false)", tables[i].name,
			    tables[i].name);
			if ((rc = vp_sql_run(to, "set the next id", sql, VP_SQL_NOARGS, NULL, NULL,
			    NULL, e)) != VP_OK)
				goto out;
		}
	}
	/* The chain must verify where it now is before the copy counts. */
	if ((rc = vp_store_audit_verify(to, &audit_rows, &bad, e)) != VP_OK) {
		vp_error_prefix(e, "the copied audit log does not verify, nothing was copied");
		goto out;
	}
	rc = vp_store_commit(to, e);
	return rc;
out:
	vp_store_rollback(to);
	return rc;
}
