/* IEEE 802.1X (EAP-TLS) for cameras: the EAP CA the cameras trust to validate the RADIUS server
 * (the site CA unless one was set) and the FreeRADIUS configuration that admits them. The
 * per-camera work is a task (task.h: VP_TASK_DOT1X_ENABLE/UPDATE) the engine runs. */
#ifndef VMSPKI_DOT1X_H
#define VMSPKI_DOT1X_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vmspki/ca.h"
#include "vmspki/err.h"
#include "vmspki/store.h"

/* The EAP CA set for the site (PEM, a new string) into *pem, or NULL when none was set (the
 * site CA serves). */
vp_err vp_dot1x_eap_ca(vp_store *s, char **pem, vp_error *e);
/* Sets the EAP CA: pem must hold one CA certificate (basicConstraints CA:TRUE). NULL pem: back
 * to the site CA. One transaction with an audit row. */
vp_err vp_dot1x_set_eap_ca(vp_store *s, const char *pem, size_t len, const char *actor,
    vp_error *e);

/* A device's 802.1X as vmspki's tasks left it: Enabled once a dot1x task finished on it (with
 * that certificate's end), and the outcome of the latest one. */
typedef struct vp_dot1x_state {
	int64_t device_id;
	int enabled;
	char serial[64];              /* the certificate of the latest finished task */
	int64_t not_after;
	char last_status[16];         /* the latest task's result: Finished, Failed, ... */
	char last_error[256];
	char identity[8];             /* the identity mode of the latest finished task */
} vp_dot1x_state;

/* Every device a dot1x task ever ran on, by device id (ascending) into *out (free() it). */
vp_err vp_dot1x_states(vp_store *s, vp_dot1x_state **out, size_t *n, vp_error *e);
/* The state of device id in states (n of them, by vp_dot1x_states), or NULL. */
const vp_dot1x_state *vp_dot1x_state_find(const vp_dot1x_state *states, size_t n, int64_t id);

/* Adds "dot1x" (Enabled or Disabled), "dot1x_not_after", "dot1x_serial", "dot1x_status" (the
 * latest task's result) and "dot1x_error" for st (NULL: never) to a device's JSON object o;
 * -1 when out of memory. */
int vp_json_dot1x(json_t *o, const vp_dot1x_state *st);

/* The RADIUS side: vp_dot1x_radius_config issues the RADIUS server's certificate (profile
 * radius-server, a key made here) and writes into out_dir, atomically: radius.pem (certificate
 * and chain), radius.key (0600: give it to the user FreeRADIUS runs as), ca.pem (the CA that
 * signs the cameras' certificates, with its issuers) and eap, a drop-in for FreeRADIUS 3's
 * mods-available/eap with EAP-TLS only, naming those files by absolute path and checking that
 * the client certificate's CN is the EAP identity (check_cert_cn). */
typedef struct vp_radius_opts {
	const char *out_dir;
	const char *const *names;     /* DNS names of the RADIUS server (the first is the CN) */
	size_t nnames;
	const char *const *ips;       /* its IP addresses (the CN when there is no name) */
	size_t nips;
	int days;                     /* 0: the profile's default */
} vp_radius_opts;

/* ca must hold its key. serial (at least 64 bytes) gets the new certificate's serial. */
vp_err vp_dot1x_radius_config(vp_store *s, const vp_ca *ca, const vp_radius_opts *o,
    const char *actor, char *serial, vp_error *e);

#endif
