/* The endpoints table of the SQLite store (migration 7): the TLS servers vmspki watches, and
 * what the last check of each found (endpoint.c does the checking). */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


#include "store_internal.h"
#include "vmspki/buf.h"
#include "vmspki/endpoint.h"

#define EP_COLUMNS "id, host, port, sni, added_at, checked_at, status, detail, verified, " \
	"name_ok, subject, issuer, not_after, fingerprint"

static void
row_read(const vp_sql_row *st, vp_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->id = vp_sql_col_int64(st, 0);
	vp_sql_col_text(st, 1, ep->host, sizeof(ep->host));
	ep->port = vp_sql_col_int(st, 2);
	vp_sql_col_text(st, 3, ep->sni, sizeof(ep->sni));
	ep->added_at = vp_sql_col_int64(st, 4);
	ep->checked_at = vp_sql_col_int64(st, 5);
	vp_sql_col_text(st, 6, ep->status, sizeof(ep->status));
	vp_sql_col_text(st, 7, ep->detail, sizeof(ep->detail));
	ep->verified = vp_sql_col_int(st, 8) != 0;
	ep->name_ok = vp_sql_col_int(st, 9) != 0;
	vp_sql_col_text(st, 10, ep->subject, sizeof(ep->subject));
	vp_sql_col_text(st, 11, ep->issuer, sizeof(ep->issuer));
	ep->not_after = vp_sql_col_int64(st, 12);
	vp_sql_col_text(st, 13, ep->fingerprint, sizeof(ep->fingerprint));
}

/* A text parameter: the table's text columns are NOT NULL, and "" stands for none. */
#define TEXT(v) VP_SQL_TEXT((v) != NULL ? (v) : "")

struct get_arg {
	vp_endpoint *out;
	int found;
};

static vp_err
get_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct get_arg *g = arg;
	const char *pem = vp_sql_col_str(row, 14);

	if (g->found)
		return VP_OK;
	row_read(row, g->out);
	g->found = 1;
	if (pem != NULL && pem[0] != '\0' &&
	    (g->out->chain_pem = strdup((const char *)pem)) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	return VP_OK;
}

vp_err
vp_store_endpoint_get(vp_store *s, int64_t id, vp_endpoint *out, vp_error *e)
{
	struct get_arg g = { out, 0 };
	vp_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = vp_sql_run(s, "look up an endpoint", "SELECT " EP_COLUMNS ", chain_pem FROM "
	    "endpoints WHERE id = ?1", VP_SQL_ARGS(VP_SQL_INT(id)), get_row, &g, NULL, e)) !=
	    VP_OK)
		return rc;
	if (!g.found)
		return vp_error_set(e, VP_ERR_NOTFOUND, "no endpoint %" PRId64, id);
	return VP_OK;
}

struct list_arg {
	vp_store_endpoint_cb cb;
	void *arg;
};

static vp_err
list_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct list_arg *l = arg;
	vp_endpoint ep;

	(void)e;
	row_read(row, &ep);
	return (vp_err)l->cb(&ep, l->arg);
}

vp_err
vp_store_endpoint_list(vp_store *s, vp_store_endpoint_cb cb, void *arg, vp_error *e)
{
	struct list_arg l = { cb, arg };

	return vp_sql_run(s, "list the endpoints", "SELECT " EP_COLUMNS " FROM endpoints ORDER BY "
	    "id", VP_SQL_NOARGS, list_row, &l, NULL, e);
}

static vp_err
id_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	(void)e;
	*(int64_t *)arg = vp_sql_col_int64(row, 0);
	return VP_OK;
}

vp_err
vp_store_endpoint_find(vp_store *s, const vp_endpoint *ep, int64_t *id, vp_error *e)
{
	/* (host, port, sni) is unique: one row at most. */
	*id = 0;
	return vp_sql_run(s, "look up an endpoint", "SELECT id FROM endpoints WHERE host = ?1 AND "
	    "port = ?2 AND sni = ?3", VP_SQL_ARGS(TEXT(ep->host), VP_SQL_INT(ep->port),
	    TEXT(ep->sni)), id_row, id, NULL, e);
}

vp_err
vp_store_endpoint_insert(vp_store *s, vp_endpoint *ep, vp_error *e)
{
	vp_err rc;

	if ((rc = vp_sql_run(s, "add an endpoint", "INSERT INTO endpoints (host, port, sni, "
	    "added_at) VALUES (?1, ?2, ?3, ?4)", VP_SQL_ARGS(TEXT(ep->host), VP_SQL_INT(ep->port),
	    TEXT(ep->sni), VP_SQL_INT(ep->added_at)), NULL, NULL, NULL, e)) != VP_OK)
		return rc;
	ep->id = vp_sql_last_id(s);
	return VP_OK;
}

vp_err
vp_store_endpoint_update(vp_store *s, const vp_endpoint *ep, vp_error *e)
{
	int64_t changed = 0;
	vp_err rc;

	if ((rc = vp_sql_run(s, "record an endpoint's check", "UPDATE endpoints SET checked_at = "
	    "?2, status = ?3, detail = ?4, verified = ?5, name_ok = ?6, subject = ?7, issuer = ?8, "
	    "not_after = ?9, fingerprint = ?10, chain_pem = ?11 WHERE id = ?1",
	    VP_SQL_ARGS(VP_SQL_INT(ep->id), VP_SQL_INT(ep->checked_at), TEXT(ep->status),
	    TEXT(ep->detail), VP_SQL_INT(ep->verified != 0), VP_SQL_INT(ep->name_ok != 0),
	    TEXT(ep->subject), TEXT(ep->issuer), VP_SQL_INT(ep->not_after),
	    TEXT(ep->fingerprint), TEXT(ep->chain_pem)), NULL, NULL, &changed, e)) != VP_OK)
		return rc;
	if (changed == 0)
		return vp_error_set(e, VP_ERR_NOTFOUND, "no endpoint %" PRId64, ep->id);
	return VP_OK;
}

vp_err
vp_store_endpoint_delete(vp_store *s, int64_t id, vp_error *e)
{
	int64_t changed = 0;
	vp_err rc;

	if ((rc = vp_sql_run(s, "remove an endpoint", "DELETE FROM endpoints WHERE id = ?1",
	    VP_SQL_ARGS(VP_SQL_INT(id)), NULL, NULL, &changed, e)) != VP_OK)
		return rc;
	if (changed == 0)
		return vp_error_set(e, VP_ERR_NOTFOUND, "no endpoint %" PRId64, id);
	return VP_OK;
}

/* Adds the id in the first column to the vp_ids at arg. */
static vp_err
due_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	return vp_ids_add(arg, vp_sql_col_int64(row, 0), e);
}

vp_err
vp_store_endpoint_due(vp_store *s, int64_t interval, int64_t now, int64_t **ids, size_t *n,
    vp_error *e)
{
	vp_ids a = VP_IDS_INIT;
	vp_err rc;

	*ids = NULL;
	*n = 0;
	if ((rc = vp_sql_run(s, "find the endpoints due for a check", "SELECT id FROM endpoints "
	    "WHERE checked_at + ?1 <= ?2 ORDER BY checked_at, id", VP_SQL_ARGS(VP_SQL_INT(interval),
	    VP_SQL_INT(now)), due_row, &a, NULL, e)) != VP_OK) {
		vp_ids_free(&a);
		return rc;
	}
	*ids = a.v;
	*n = a.n;
	return VP_OK;
}
