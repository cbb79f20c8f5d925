/* Site settings (settings.h): a small table of known names, their defaults and checks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmspki/settings.h"

#define KEY_PREFIX "setting."

static vp_err
check_cn(const vp_setting_def *d, const char *v, vp_error *e)
{
	if (strcmp(v, "ip") == 0 || strcmp(v, "fqdn") == 0)
		return VP_OK;
	return vp_error_set(e, VP_ERR_INVALID, "%s is \"ip\" (the device's address) or \"fqdn\" "
	    "(its name), not \"%.40s\"", d->name, v);
}

/* A decimal integer within the setting's range, written in the help as "MIN..MAX". */
static vp_err
check_int(const vp_setting_def *d, const char *v, vp_error *e)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (v[0] == '\0' || *end != '\0' || errno != 0 || n < d->min || n > d->max)
		return vp_error_set(e, VP_ERR_INVALID, "%s is a whole number from %ld to %ld, not "
		    "\"%.40s\"", d->name, d->min, d->max, v);
	return VP_OK;
}

static vp_err
check_onoff(const vp_setting_def *d, const char *v, vp_error *e)
{
	if (strcmp(v, "on") == 0 || strcmp(v, "off") == 0)
		return VP_OK;
	return vp_error_set(e, VP_ERR_INVALID, "%s is on or off, not \"%.40s\"", d->name, v);
}

/* "HH:MM", 24-hour, local time. */
static vp_err
check_time(const vp_setting_def *d, const char *v, vp_error *e)
{
	if (strlen(v) == 5 && v[2] == ':' && v[0] >= '0' && v[0] <= '2' && v[1] >= '0' &&
	    v[1] <= '9' && v[3] >= '0' && v[3] <= '5' && v[4] >= '0' && v[4] <= '9' &&
	    (v[0] - '0') * 10 + (v[1] - '0') < 24)
		return VP_OK;
	return vp_error_set(e, VP_ERR_INVALID, "%s is a time of day as HH:MM (00:00 to 23:59), "
	    "not \"%.40s\"", d->name, v);
}

/* "" (no webhook) or an http:// or https:// URL without spaces or control characters. */
static vp_err
check_url(const vp_setting_def *d, const char *v, vp_error *e)
{
	if (v[0] == '\0')
		return VP_OK;
	if ((strncmp(v, "http://", 7) == 0 && v[7] != '\0') ||
	    (strncmp(v, "https://", 8) == 0 && v[8] != '\0')) {
		for (const char *p = v; *p != '\0'; p++)
			if ((unsigned char)*p <= ' ' || *p == 0x7f)
				goto bad;
		if (strlen(v) <= 1024)
			return VP_OK;
	}
bad:
	return vp_error_set(e, VP_ERR_INVALID, "%s is an http:// or https:// URL (at most 1024 "
	    "characters, no spaces), or \"\" for none", d->name);
}

/* "auto" (the device's default key store) or a key store's name as the camera gives it (TEE0,
 * SE0, ...: letters and digits, at most 15). */
static vp_err
check_keystore(const vp_setting_def *d, const char *v, vp_error *e)
{
	size_t n = strlen(v);

	if (strcmp(v, "auto") == 0)
		return VP_OK;
	if (n >= 1 && n <= 15 && strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789") == n)
		return VP_OK;
	return vp_error_set(e, VP_ERR_INVALID, "%s is auto or a key store's name as the camera "
	    "lists it (e.g. TEE0, SE0: letters and digits), not \"%.40s\"", d->name, v);
}

static const vp_setting_def defs[] = {
	{ "device.cn", "ip", "the CN of device certificates: ip (the address) or fqdn (the "
	    "device's name); a device's own setting and a task's --cn come first", check_cn, 0, 0 },
	{ "device.days", "365", "days a device certificate is valid (1..825, the profile's "
	    "maximum); a task's --days comes first; more than the renewal window", check_int,
	    1, 825 },
	{ "task.concurrency", "50", "devices one task works on at once (1..1000), unless the "
	    "task says", check_int, 1, 1000 },
	{ "engine.max_devices", "100", "devices the task engine works on at once over all tasks "
	    "(1..5000)", check_int, 1, 5000 },
	{ "lifecycle.warning_days", "30", "days before a certificate ends when it shows as "
	    "\"about to expire\" and its alarm is raised (1..365)", check_int, 1, 365 },
	{ "lifecycle.renew_days", "0", "days before a certificate ends when vmspki renews it "
	    "(0: the warning plus 7, the ADM rule; 1..400)", check_int, 0, 400 },
	{ "component.renew_days", "0", "days before a component certificate ends when vmspki "
	    "renews it (0: the lifecycle window, lifecycle.renew_days; 1..3000)", check_int, 0,
	    3000 },
	{ "lifecycle.time", "02:00", "when the nightly job runs (HH:MM, local time)",
	    check_time, 0, 0 },
	{ "alarm.webhook", "", "URL that gets each alarm raised or cleared as a JSON POST "
	    "(\"\": none)", check_url, 0, 0 },
	{ "alarm.syslog", "on", "alarms also go to syslog (on, off)", check_onoff, 0, 0 },
	{ "endpoint.interval", "3600", "seconds between checks of a monitored endpoint "
	    "(10..86400)", check_int, 10, 86400 },
	{ "device.keystore", "auto", "where cameras keep the keys vmspki has them make: auto "
	    "(the camera's default) or a key store's name (TEE0, SE0: TPM or secure element, "
	    "hardening guide 4.5); firmware before AXIS OS 11 cannot choose", check_keystore, 0,
	    0 },
};

const vp_setting_def *
vp_settings_all(size_t *n)
{
	*n = sizeof(defs) / sizeof(defs[0]);
	return defs;
}

const vp_setting_def *
vp_setting_find(const char *name)
{
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		if (strcmp(defs[i].name, name) == 0)
			return &defs[i];
	return NULL;
}

static vp_err
unknown(const char *name, vp_error *e)
{
	char names[300] = "";

	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
		strncat(names, i > 0 ? ", " : "", sizeof(names) - strlen(names) - 1);
		strncat(names, defs[i].name, sizeof(names) - strlen(names) - 1);
	}
	return vp_error_set(e, VP_ERR_NOTFOUND, "there is no setting \"%.60s\"; there are: %s",
	    name, names);
}

vp_err
vp_setting_get(vp_store *s, const char *name, char *buf, size_t n, vp_error *e)
{
	const vp_setting_def *d = vp_setting_find(name);
	char key[96];
	unsigned char *v = NULL;
	size_t len = 0;
	vp_err rc;

	if (d == NULL)
		return unknown(name, e);
	snprintf(key, sizeof(key), KEY_PREFIX "%s", name);
	rc = vp_store_kv_get(s, key, &v, &len, e);
	if (rc == VP_ERR_NOTFOUND) {
		snprintf(buf, n, "%s", d->dflt);
		vp_error_clear(e);
		return VP_OK;
	}
	if (rc != VP_OK)
		return rc;
	/* A value stored by an older or damaged store that no longer passes: the default. */
	if (d->check(d, (const char *)v, NULL) != VP_OK)
		snprintf(buf, n, "%s", d->dflt);
	else
		snprintf(buf, n, "%s", (const char *)v);
	free(v);
	return VP_OK;
}

vp_err
vp_setting_get_int(vp_store *s, const char *name, long *out, vp_error *e)
{
	char buf[64];
	vp_err rc;

	if ((rc = vp_setting_get(s, name, buf, sizeof(buf), e)) != VP_OK)
		return rc;
	*out = strtol(buf, NULL, 10);
	return VP_OK;
}

int
vp_setting_is_set(vp_store *s, const char *name)
{
	char key[96];
	unsigned char *v = NULL;
	size_t len = 0;

	snprintf(key, sizeof(key), KEY_PREFIX "%s", name);
	if (vp_store_kv_get(s, key, &v, &len, NULL) != VP_OK)
		return 0;
	free(v);
	return 1;
}

/* The lifecycle windows and the device validity checked together, with name taking value
 * (NULL: its default): a certificate must not be "about to expire" or due for renewal as soon
 * as it is made, or the nightly job would renew every camera every night. */
static vp_err
check_windows(vp_store *s, const char *name, const char *value, vp_error *e)
{
	static const char *const names[3] = { "device.days", "lifecycle.warning_days",
	    "lifecycle.renew_days" };
	long v[3];
	long renew;

	for (int i = 0; i < 3; i++) {
		if (strcmp(name, names[i]) == 0)
			v[i] = strtol(value != NULL ? value : vp_setting_find(name)->dflt, NULL, 10);
		else if (vp_setting_get_int(s, names[i], &v[i], e) != VP_OK)
			return e->code;
	}
	renew = v[2] > 0 ? v[2] : v[1] + 7;
	if (v[1] >= v[0])
		return vp_error_set(e, VP_ERR_INVALID, "lifecycle.warning_days (%ld) must be below "
		    "device.days (%ld): device certificates would show as about to expire as soon "
		    "as they are made; lower the warning or raise device.days", v[1], v[0]);
	if (renew >= v[0])
		return vp_error_set(e, VP_ERR_INVALID, "the renewal window (%ld days: %s) must be "
		    "below device.days (%ld): device certificates would be renewed every night; "
		    "lower lifecycle.%s or raise device.days", renew, v[2] > 0 ?
		    "lifecycle.renew_days" : "lifecycle.warning_days plus 7", v[0], v[2] > 0 ?
		    "renew_days" : "warning_days");
	return VP_OK;
}

vp_err
vp_setting_set(vp_store *s, const char *name, const char *value, const char *actor,
    vp_error *e)
{
	const vp_setting_def *d = vp_setting_find(name);
	char key[96], detail[200];
	vp_err rc;

	if (d == NULL)
		return unknown(name, e);
	if (value != NULL && (rc = d->check(d, value, e)) != VP_OK)
		return rc;
	if ((strcmp(name, "device.days") == 0 || strncmp(name, "lifecycle.", 10) == 0) &&
	    strcmp(name, "lifecycle.time") != 0 && (rc = check_windows(s, name, value, e)) != VP_OK)
		return rc;
	snprintf(key, sizeof(key), KEY_PREFIX "%s", name);
	if (d->check == check_url && value != NULL && value[0] != '\0') {
		/* A URL may carry a password or a token (user:pw@, ?token=): the audit log gets
		 * its scheme and host only. */
		const char *h = strstr(value, "://") + 3;
		const char *at = strchr(h, '@'), *end = h + strcspn(h, "/?#");

		if (at != NULL && at < end)
			h = at + 1;
		snprintf(detail, sizeof(detail), "%s = %.*s%.*s/...", name,
		    (int)(strstr(value, "://") + 3 - value), value, (int)(end - h > 100 ? 100 :
		    end - h), h);
	} else {
		snprintf(detail, sizeof(detail), "%s = %.100s", name, value != NULL ? value :
		    d->dflt);
	}
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	if (value != NULL)
		rc = vp_store_kv_put(s, key, value, strlen(value), e);
	else if ((rc = vp_store_kv_delete(s, key, e)) == VP_ERR_NOTFOUND)
		rc = VP_OK;
	if (rc != VP_OK || (rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown",
	    "setting.set", NULL, detail, e)) != VP_OK || (rc = vp_store_commit(s, e)) != VP_OK) {
		vp_store_rollback(s);
		return rc;
	}
	return VP_OK;
}

vp_err
vp_lifecycle_windows(vp_store *s, int *warn_days, int *renew_days, vp_error *e)
{
	long w = 30, r = 0;
	vp_err rc;

	if ((rc = vp_setting_get_int(s, "lifecycle.warning_days", &w, e)) != VP_OK ||
	    (rc = vp_setting_get_int(s, "lifecycle.renew_days", &r, e)) != VP_OK)
		return rc;
	*warn_days = (int)w;
	*renew_days = r > 0 ? (int)r : (int)w + 7;
	return VP_OK;
}
