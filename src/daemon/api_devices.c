/* /api/v1/devices: the camera inventory (add, import, list, show, remove). */
#include "daemon.h"

void
vpd_h_devices(vpd_ctx *c)
{
	vpd_reply_error(c, 501, "not_implemented", "the device inventory is not served yet");
}

void
vpd_h_device_item(vpd_ctx *c, const char *arg)
{
	(void)arg;
	vpd_reply_error(c, 501, "not_implemented", "the device inventory is not served yet");
}
