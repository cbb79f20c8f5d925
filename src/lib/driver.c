/* The table of device drivers and the calls that dispatch to them: the only place that names a
 * driver. A device's driver is found by the API its probe recorded (driver.h). */
#include <stddef.h>
#include <string.h>

#include "driver_impl.h"

/* In the order a probe of a device never seen before tries them. */
static const vp_driver *const drivers[] = {
	&vp_driver_vapix,
};

#define NDRIVERS (sizeof(drivers) / sizeof(drivers[0]))

const vp_driver *
vp_driver_for_api(const char *api)
{
	size_t i;

	if (api == NULL || api[0] == '\0')
		return drivers[0];
	for (i = 0; i < NDRIVERS; i++)
		if (drivers[i]->owns_api(api))
			return drivers[i];
	return NULL;
}

const vp_driver *const *
vp_drivers(size_t *n)
{
	*n = NDRIVERS;
	return drivers;
}

vp_err
vp_dop_start(const vp_driver *drv, vp_dop_kind kind, const vp_dop_args *args, const char *api,
    vp_dop **out, vp_error *e)
{
	vp_err rc;

	*out = NULL;
	if (drv == NULL)
		return vp_error_set(e, VP_ERR_INVALID,
		    "no device driver knows the device's API \"%.32s\": probe the device again",
		    api != NULL ? api : "");
	if ((rc = drv->start(kind, args, api, out, e)) == VP_OK && *out != NULL)
		(*out)->drv = drv;
	return rc;
}

vp_err
vp_dop_next(vp_dop *op, const vp_http_req **req, vp_error *e)
{
	return op->drv->next(op, req, e);
}

vp_err
vp_dop_feed(vp_dop *op, const vp_http_resp *resp, vp_error *e)
{
	return op->drv->feed(op, resp, e);
}

vp_dev_fail
vp_dop_failed(const vp_dop *op, const char **msg, int *retryable)
{
	return op->drv->failed(op, msg, retryable);
}

const vp_dop_result *
vp_dop_get_result(const vp_dop *op)
{
	return op->drv->result(op);
}

const char *
vp_dop_api(const vp_dop *op)
{
	return op->drv->api(op);
}

const vp_driver *
vp_dop_driver(const vp_dop *op)
{
	return op->drv;
}

void
vp_dop_free(vp_dop *op)
{
	if (op != NULL)
		op->drv->free(op);
}

unsigned
vp_dev_caps(const char *api, const char *firmware)
{
	const vp_driver *drv;

	if (api == NULL || api[0] == '\0' || strcmp(api, VP_DEV_API_UNSUPPORTED) == 0)
		return 0;
	if ((drv = vp_driver_for_api(api)) == NULL)
		return 0;
	return drv->caps(api, firmware != NULL ? firmware : "");
}

const char *
vp_dev_fail_str(vp_dev_fail f)
{
	switch (f) {
	case VP_DEVF_NONE:        return "OK";
	case VP_DEVF_UNREACHABLE: return "Unreachable";
	case VP_DEVF_AUTH:        return "Wrong credentials";
	case VP_DEVF_UNSUPPORTED: return "Unsupported firmware";
	case VP_DEVF_DEVICE:      return "Refused by the device";
	case VP_DEVF_PROTOCOL:    return "Unexpected answer";
	case VP_DEVF_TLS:         return "TLS failure";
	}
	return "Unknown failure";
}
