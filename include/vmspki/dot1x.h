/* IEEE 802.1X (EAP-TLS) for cameras: the EAP CA the cameras trust to validate the RADIUS server
 * (the site CA unless one was set) and the FreeRADIUS configuration that admits them. The
 * per-camera work is a task (task.h: VP_TASK_DOT1X_ENABLE/UPDATE) the engine runs. */
#ifndef VMSPKI_DOT1X_H
#define VMSPKI_DOT1X_H

#include <stddef.h>

#include "vmspki/err.h"
#include "vmspki/store.h"

/* The EAP CA set for the site (PEM, a new string) into *pem, or NULL when none was set (the
 * site CA serves). */
vp_err vp_dot1x_eap_ca(vp_store *s, char **pem, vp_error *e);
/* Sets the EAP CA: pem must hold one CA certificate (basicConstraints CA:TRUE). NULL pem: back
 * to the site CA. One transaction with an audit row. */
vp_err vp_dot1x_set_eap_ca(vp_store *s, const char *pem, size_t len, const char *actor,
    vp_error *e);

#endif
