/* Camera key stores: which one holds vmspki's key on each device, as the camera reported it
 * when a task made or found that key (kept in key_value beside the device row). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmspki/keystore.h"

vp_err
vp_keystore_record(vp_store *s, int64_t dev_id, const char *ks, vp_error *e)
{
	char k[64];

	snprintf(k, sizeof(k), "keystore.device.%" PRId64, dev_id);
	return vp_store_kv_put(s, k, ks, strlen(ks), e);
}

vp_err
vp_keystore_forget(vp_store *s, int64_t dev_id, vp_error *e)
{
	char k[64];

	snprintf(k, sizeof(k), "keystore.device.%" PRId64, dev_id);
	return vp_store_kv_delete(s, k, e);
}

void
vp_keystore_get(vp_store *s, int64_t dev_id, char *buf, size_t n)
{
	char k[64];
	unsigned char *v = NULL;
	size_t len = 0;

	snprintf(k, sizeof(k), "keystore.device.%" PRId64, dev_id);
	buf[0] = '\0';
	if (vp_store_kv_get(s, k, &v, &len, NULL) == VP_OK)
		snprintf(buf, n, "%s", (const char *)v);
	free(v);
}
