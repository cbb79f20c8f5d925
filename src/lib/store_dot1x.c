/* The store's 802.1X queries: each device's 802.1X state read from the results of the dot1x
 * tasks (task_devices) and the certificates they recorded, in one walk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store_internal.h"
#include "vmspki/dot1x.h"
#include "vmspki/task.h"

typedef struct walk {
	vp_dot1x_state *v;
	size_t n, cap;
} walk;

/* The task's identity mode ("cn" of its options, JSON the task module wrote); read here
 * rather than in SQL, whose JSON functions differ between the backends. */
static void
identity_mode(const char *options, char *dst, size_t n)
{
	json_t *o = options != NULL ? json_loads(options, 0, NULL) : NULL;
	const char *cn = json_string_value(json_object_get(o, "cn"));

	snprintf(dst, n, "%s", cn != NULL ? cn : "");
	json_decref(o);
}

/* Rows come by device, then in the order the results were made: the last row of a device is
 * its latest task, its last Finished row its certificate. */
static vp_err
row(const vp_sql_row *st, void *arg, vp_error *e)
{
	walk *w = arg;
	int64_t dev = vp_sql_col_int64(st, 0);
	vp_dot1x_state *d;
	char status[16];

	if (w->n == 0 || w->v[w->n - 1].device_id != dev) {
		if (w->n == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 64;
			vp_dot1x_state *m = realloc(w->v, cap * sizeof(*m));

			if (m == NULL)
				return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			w->v = m;
			w->cap = cap;
		}
		memset(&w->v[w->n], 0, sizeof(w->v[0]));
		w->v[w->n++].device_id = dev;
	}
	d = &w->v[w->n - 1];
	vp_sql_col_text(st, 1, status, sizeof(status));
	snprintf(d->last_status, sizeof(d->last_status), "%s", status);
	vp_sql_col_text(st, 4, d->last_error, sizeof(d->last_error));
	if (strcmp(status, VP_TASK_FINISHED) == 0) {
		d->enabled = 1;
		vp_sql_col_text(st, 2, d->serial, sizeof(d->serial));
		d->not_after = vp_sql_col_int64(st, 3);
		identity_mode(vp_sql_col_str(st, 5), d->identity, sizeof(d->identity));
	}
	return VP_OK;
}

vp_err
vp_store_dot1x_states(vp_store *s, vp_dot1x_state **out, size_t *n, vp_error *e)
{
	walk w = { 0 };
	vp_err rc;

	*out = NULL;
	*n = 0;
	rc = vp_sql_run(s, "read the devices' 802.1X", "SELECT td.device_id, td.status, "
	    "td.cert_serial, COALESCE(c.not_after, 0), td.error, "
	    "t.options FROM task_devices td "
	    "JOIN tasks t ON t.id = td.task_id LEFT JOIN certificates c ON c.serial = "
	    "td.cert_serial WHERE t.kind IN ('" VP_TASK_DOT1X_ENABLE "', '" VP_TASK_DOT1X_UPDATE
	    "') AND td.status IN ('Finished', 'Failed', 'Cancelled') "
	    "ORDER BY td.device_id, td.finished_at, t.id", VP_SQL_NOARGS, row, &w, NULL, e);
	if (rc != VP_OK) {
		free(w.v);
		return rc;
	}
	*out = w.v;
	*n = w.n;
	return VP_OK;
}
