/* The data directory's layout: the one table of the files vmspki keeps under --data, and a
 * handle that holds their paths so that callers never spell them. */
#include <stdlib.h>

#include "vmspki/datadir.h"
#include "vmspki/util.h"

static const char *const names[VP_PATH_COUNT] = {
	[VP_PATH_DB] = "vmspki.db",
	[VP_PATH_CERTS] = "certs",
	[VP_PATH_CA_CERT] = "certs/ca.cert.pem",
	[VP_PATH_CA_CHAIN] = "certs/ca.chain.pem",
	[VP_PATH_SERVER_CERT] = "certs/server.crt",
	[VP_PATH_SERVER_KEY] = "certs/server.key.pem",
	[VP_PATH_SERVER_PUBLIC] = "certs/public.pem",
	[VP_PATH_SERVER_IMPORTED] = "certs/server.imported",
	[VP_PATH_PASSPHRASE] = "ca.passphrase",
	[VP_PATH_COMPONENTS_CONF] = "components.json",
	[VP_PATH_COMPONENTS_CERTS] = "components/certificates",
	[VP_PATH_COMPONENTS_LOCK] = "components/.lock",
	[VP_PATH_STORE] = "store",
};

struct vp_datadir {
	char *dir;
	char *path[VP_PATH_COUNT];
};

const char *
vp_path_name(vp_path p)
{
	return (unsigned)p < VP_PATH_COUNT ? names[p] : "";
}

char *
vp_datadir_join(const char *dir, vp_path p)
{
	return vp_path_join(dir, vp_path_name(p));
}

vp_err
vp_datadir_open(const char *dir, vp_datadir **out, vp_error *e)
{
	vp_datadir *dd = calloc(1, sizeof(*dd));
	vp_err rc = VP_OK;

	*out = NULL;
	if (dd == NULL || (dd->dir = vp_strdup(dir)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < VP_PATH_COUNT; i++) {
		if ((dd->path[i] = vp_datadir_join(dir, (vp_path)i)) == NULL) {
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	*out = dd;
	dd = NULL;
out:
	vp_datadir_close(dd);
	return rc;
}

void
vp_datadir_close(vp_datadir *dd)
{
	if (dd == NULL)
		return;
	for (int i = 0; i < VP_PATH_COUNT; i++)
		free(dd->path[i]);
	free(dd->dir);
	free(dd);
}

const char *
vp_datadir_dir(const vp_datadir *dd)
{
	return dd->dir;
}

const char *
vp_datadir_path(const vp_datadir *dd, vp_path p)
{
	return (unsigned)p < VP_PATH_COUNT ? dd->path[p] : dd->dir;
}
