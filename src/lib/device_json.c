/* The JSON of a device of the inventory, the same for `vmspki device ... --json` and the REST
 * API (/api/v1/devices); never its password. */
#include <stdlib.h>
#include <time.h>

#include "device_internal.h"
#include "vmspki/device.h"
#include "vmspki/dot1x.h"
#include "vmspki/render_json.h"
#include "vmspki/settings.h"

typedef struct list_walk {
	json_t *array;
	vp_dot1x_state *dot1x;        /* every device's 802.1X, by id */
	size_t ndot1x;
} list_walk;

/* A row of vp_device_list_json: the device and its 802.1X. */
static int
append_device(const vp_device *d, void *arg)
{
	list_walk *w = arg;
	json_t *o = vp_json_device(d);

	if (o != NULL && vp_json_dot1x(o, vp_dot1x_state_find(w->dot1x, w->ndot1x, d->id)) != 0) {
		json_decref(o);
		o = NULL;
	}
	return vp_json_append(w->array, o);
}

int
vp_json_dot1x(json_t *o, const vp_dot1x_state *st)
{
	int bad = 0;

	bad |= json_object_set_new(o, "dot1x", json_string(st != NULL && st->enabled ?
	    "Enabled" : "Disabled"));
	bad |= json_object_set_new(o, "dot1x_not_after", st != NULL && st->enabled &&
	    st->not_after > 0 ? vp_json_time(st->not_after) : json_null());
	bad |= json_object_set_new(o, "dot1x_serial", st != NULL && st->enabled ?
	    vp_json_str(st->serial) : json_null());
	bad |= json_object_set_new(o, "dot1x_status", st != NULL ?
	    vp_json_str(st->last_status) : json_null());
	bad |= json_object_set_new(o, "dot1x_error", st != NULL && st->last_error[0] ?
	    vp_json_str(st->last_error) : json_null());
	return bad ? -1 : 0;
}

json_t *
vp_json_device(const vp_device *d)
{
	json_t *o = json_object(), *c = NULL;
	int bad = o == NULL;

	bad |= json_object_set_new(o, "id", json_integer((json_int_t)d->id));
	bad |= json_object_set_new(o, "address", vp_json_str(d->address));
	bad |= json_object_set_new(o, "http_port", json_integer(d->http_port));
	bad |= json_object_set_new(o, "https_port", json_integer(d->https_port));
	bad |= json_object_set_new(o, "name", vp_json_str_or_null(d->name));
	bad |= json_object_set_new(o, "username", vp_json_str(d->username));
	bad |= json_object_set_new(o, "allow_basic", json_boolean(d->allow_basic));
	bad |= json_object_set_new(o, "cn", vp_json_str_or_null(d->cn_mode));
	bad |= json_object_set_new(o, "mac", vp_json_str_or_null(d->mac));
	bad |= json_object_set_new(o, "model", vp_json_str_or_null(d->model));
	bad |= json_object_set_new(o, "firmware", vp_json_str_or_null(d->firmware));
	bad |= json_object_set_new(o, "api", vp_json_str_or_null(d->api));
	bad |= json_object_set_new(o, "https", vp_json_str_or_null(d->https_state));
	bad |= json_object_set_new(o, "status", vp_json_str_or_null(d->status));
	bad |= json_object_set_new(o, "status_detail", vp_json_str_or_null(d->status_detail));
	bad |= json_object_set_new(o, "pinned", json_boolean(d->pinned));
	bad |= json_object_set_new(o, "https_only", json_boolean(d->https_only));
	if (d->cert_serial[0] != '\0') {
		c = json_object();
		bad |= c == NULL;
		bad |= json_object_set_new(c, "serial", vp_json_str(d->cert_serial));
		bad |= json_object_set_new(c, "alias", vp_json_str_or_null(d->cert_alias));
		bad |= json_object_set_new(c, "not_after", d->cert_not_after > 0 ?
		    vp_json_time(d->cert_not_after) : json_null());
	}
	bad |= json_object_set_new(o, "certificate", c != NULL ? c : json_null());
	bad |= json_object_set_new(o, "added_at", vp_json_time(d->added_at));
	bad |= json_object_set_new(o, "updated_at", vp_json_time(d->updated_at));
	bad |= json_object_set_new(o, "server", vp_json_str_or_null(d->server));
	return vp_json_done(o, bad);
}

vp_err
vp_device_list_json(vp_store *s, json_t *array, vp_error *e)
{
	list_walk w = { .array = array };
	vp_err rc;

	if ((rc = vp_dot1x_states(s, &w.dot1x, &w.ndot1x, e)) != VP_OK)
		return rc;
	rc = vp_device_list(s, append_device, &w, e);
	free(w.dot1x);
	return rc;
}

vp_err
vp_device_page_json(vp_store *s, const vp_device_query *q, json_t *array, int64_t *total,
    vp_error *e)
{
	list_walk w = { .array = array };
	vp_err rc;

	if ((rc = vp_dot1x_states(s, &w.dot1x, &w.ndot1x, e)) != VP_OK)
		return rc;
	rc = vp_device_page(s, q, append_device, &w, total, e);
	free(w.dot1x);
	return rc;
}

/* Adds n to the count under key in o. */
static int
count_add(json_t *o, const char *key, int64_t n)
{
	json_t *v = json_object_get(o, key);

	return json_object_set_new(o, key, json_integer((json_int_t)(n +
	    (v != NULL ? json_integer_value(v) : 0))));
}

struct summary_walk {
	json_t *status, *https;
	int64_t total;
	int bad;
};

static int
summary_count(const char *status, const char *https_state, int64_t n, void *arg)
{
	struct summary_walk *w = arg;

	/* "" (never probed) is "unknown", as the devices table shows it */
	w->bad |= count_add(w->status, status[0] ? status : "unknown", n);
	w->bad |= count_add(w->https, https_state[0] ? https_state : "unknown", n);
	w->total += n;
	return 0;
}

vp_err
vp_device_summary_json(vp_store *s, int64_t now, json_t **out, vp_error *e)
{
	struct summary_walk w = { json_object(), json_object(), 0, 0 };
	int64_t week[VP_DEVICE_SUMMARY_WEEKS], expired = 0, later = 0;
	int warn = VP_DEVICE_EXPIRY_WARN_DAYS, renew;
	json_t *o = NULL, *weeks = json_array();
	vp_err rc;

	*out = NULL;
	if (w.status == NULL || w.https == NULL || weeks == NULL) {
		rc = VP_ERR_NOMEM;
		goto out;
	}
	if ((rc = vp_lifecycle_windows(s, &warn, &renew, e)) != VP_OK ||
	    (rc = vp_store_device_counts(s, now, (int64_t)warn * 86400, summary_count, &w, e)) !=
	    VP_OK ||
	    (rc = vp_store_device_expiry_weeks(s, now, VP_DEVICE_SUMMARY_WEEKS, week, &expired,
	    &later, e)) != VP_OK)
		goto out;
	for (int i = 0; i < VP_DEVICE_SUMMARY_WEEKS; i++)
		w.bad |= json_array_append_new(weeks, json_integer((json_int_t)week[i]));
	if (w.bad || (o = json_pack("{s:I,s:O,s:O,s:{s:o,s:I,s:O,s:I}}", "total",
	    (json_int_t)w.total, "by_status", w.status, "by_https", w.https, "expiry", "from",
	    vp_json_time(now), "expired", (json_int_t)expired, "weeks", weeks, "later",
	    (json_int_t)later)) == NULL) {
		rc = VP_ERR_NOMEM;
		goto out;
	}
	*out = o;
out:
	json_decref(w.status);
	json_decref(w.https);
	json_decref(weeks);
	return rc;
}
