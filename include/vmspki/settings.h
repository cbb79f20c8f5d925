/* Site settings: named values an operator may change (vmspki settings, the API), each with a
 * default and a check. Kept in the store's key_value table under "setting.<name>". */
#ifndef VMSPKI_SETTINGS_H
#define VMSPKI_SETTINGS_H

#include <stddef.h>

#include "vmspki/err.h"
#include "vmspki/store.h"

typedef struct vp_setting_def {
	const char *name;         /* "device.cn" */
	const char *dflt;         /* the value when none was set */
	const char *help;         /* one line: what it does and its values */
	/* VP_OK if v is a value the setting takes, else VP_ERR_INVALID saying which are. */
	vp_err (*check)(const struct vp_setting_def *d, const char *v, vp_error *e);
	long min, max;            /* an integer setting's range (as its help writes it) */
} vp_setting_def;

/* Every known setting, in a fixed order. */
const vp_setting_def *vp_settings_all(size_t *n);
const vp_setting_def *vp_setting_find(const char *name);

/* The value (the default when unset) into buf. VP_ERR_NOTFOUND for an unknown name. */
vp_err vp_setting_get(vp_store *s, const char *name, char *buf, size_t n, vp_error *e);
/* Same, as an integer (for integer settings). */
vp_err vp_setting_get_int(vp_store *s, const char *name, long *out, vp_error *e);
/* Checks and stores value, with an audit row (one transaction). NULL value: back to the
 * default. */
vp_err vp_setting_set(vp_store *s, const char *name, const char *value, const char *actor,
    vp_error *e);
/* The lifecycle windows in days: when a certificate shows as about to expire (and its alarm is
 * raised), and when vmspki renews it (lifecycle.renew_days, 0 meaning the warning plus 7). */
vp_err vp_lifecycle_windows(vp_store *s, int *warn_days, int *renew_days, vp_error *e);

/* 1 if the setting was set (not its default). */
int vp_setting_is_set(vp_store *s, const char *name);

#endif
