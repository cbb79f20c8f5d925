/* /api/v1/settings: the site settings (settings.h), as `vmspki settings` shows and changes them.
 *   GET  /api/v1/settings               every setting: name, value, default, help, set
 *   GET  /api/v1/settings/{name}        one
 *   POST /api/v1/settings/{name}        {"value": "..."} changes it (checked; an audit row),
 *                                       {"value": null} puts the default back
 * Quick store calls: answered on the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "daemon.h"
#include "vmspki/render_json.h"
#include "vmspki/settings.h"

#define SETTING_VALUE_MAX 2048

/* One setting as JSON, NULL when out of memory (e filled when the store failed). */
static json_t *
setting_json(vp_store *s, const vp_setting_def *d, vp_error *e)
{
	char v[SETTING_VALUE_MAX + 1];

	if (vp_setting_get(s, d->name, v, sizeof(v), e) != VP_OK)
		return NULL;
	return json_pack("{s:s,s:o,s:s,s:s,s:b}", "name", d->name, "value", vp_json_str(v),
	    "default", d->dflt, "help", d->help, "set", vp_setting_is_set(s, d->name));
}

static void
reply_setting(vpd_ctx *c, const vp_setting_def *d)
{
	vp_error e = { 0 };
	json_t *o = setting_json(c->store, d, &e);

	if (o != NULL)
		vpd_reply_json(c, 200, o);
	else if (e.code != VP_OK)
		vpd_reply_vp_error(c, &e);
	else
		vpd_reply_oom(c);
}

void
vpd_h_settings(vpd_ctx *c)
{
	const vp_setting_def *all;
	vp_error e = { 0 };
	json_t *a = json_array(), *o;
	size_t n;

	if (a == NULL) {
		vpd_reply_oom(c);
		return;
	}
	all = vp_settings_all(&n);
	for (size_t i = 0; i < n; i++) {
		if ((o = setting_json(c->store, &all[i], &e)) == NULL ||
		    json_array_append_new(a, o) != 0) {
			json_decref(a);
			if (e.code != VP_OK)
				vpd_reply_vp_error(c, &e);
			else
				vpd_reply_oom(c);
			return;
		}
	}
	vpd_reply_json(c, 200, json_pack("{s:o}", "settings", a));
}

void
vpd_h_setting_item(vpd_ctx *c, const char *arg)
{
	const vp_setting_def *d = strchr(arg, '/') == NULL ? vp_setting_find(arg) : NULL;
	vp_error e = { 0 };
	json_t *b, *v;
	char *raw = NULL;
	size_t rawlen = 0;

	if (d == NULL) {
		if (c->method == EVHTTP_REQ_POST)
			free(vpd_body(c, &rawlen));
		if (c->req != NULL)
			vpd_reply_error(c, 404, "not_found", "there is no setting \"%.100s\" "
			    "(GET /api/v1/settings lists them)", arg);
		return;
	}
	if (c->method != EVHTTP_REQ_POST) {
		reply_setting(c, d);
		return;
	}
	/* {"value": string or null}: read by hand, since the field checker has no null */
	if ((raw = vpd_body(c, &rawlen)) == NULL)
		return;
	{
		vpd_reqerr re;

		memset(&re, 0, sizeof(re));
		b = vpd_json_parse(raw, rawlen, &re);
		free(raw);
		if (b == NULL) {
			vpd_reply_reqerr(c, &re);
			return;
		}
	}
	v = json_object_get(b, "value");
	if (json_object_size(b) != 1 || v == NULL || !(json_is_string(v) || json_is_null(v)) ||
	    (json_is_string(v) && json_string_length(v) > SETTING_VALUE_MAX)) {
		json_decref(b);
		vpd_reply_error(c, 422, "bad_value", "the body is {\"value\": \"...\"} (at most %d "
		    "bytes) to change the setting, or {\"value\": null} to put its default back",
		    SETTING_VALUE_MAX);
		return;
	}
	if (vp_setting_set(c->store, d->name, json_string_value(v), c->actor, &e) != VP_OK) {
		json_decref(b);
		vpd_reply_vp_error(c, &e);
		return;
	}
	json_decref(b);
	vpd_log("setting %s changed by %s", d->name, c->actor);
	reply_setting(c, d);
}
