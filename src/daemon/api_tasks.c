/* /api/v1/tasks: tasks over devices (create, list, show, cancel, retry-failed). */
#include "daemon.h"

void
vpd_h_tasks(vpd_ctx *c)
{
	vpd_reply_error(c, 501, "not_implemented", "tasks are not served yet");
}

void
vpd_h_task_item(vpd_ctx *c, const char *arg)
{
	(void)arg;
	vpd_reply_error(c, 501, "not_implemented", "tasks are not served yet");
}
