/* Certificate profiles: what each kind of certificate the site uses may contain (see the
 * profile table of the design). One table, read by issuance and by the CLI's help. */
#ifndef VMSPKI_PROFILE_H
#define VMSPKI_PROFILE_H

#include <stddef.h>

#include "vmspki/err.h"

typedef struct vp_profile {
	const char *name;        /* "server", "client", "device-https", ... */
	const char *summary;     /* one line for help output */
	const char *key_usage;   /* X.509v3 config value, e.g. "critical,digitalSignature,keyEncipherment" */
	const char *ext_key_usage; /* "serverAuth", "clientAuth" */
	int default_days;
	int max_days;            /* 0: only the CA's own notAfter limits it */
	int csr_san_allowed;     /* DNS/IP SANs requested in a CSR are copied when no --dns/--ip */
	int needs_name;          /* at least one DNS or IP SAN (TLS server profiles) */
	int email_san_allowed;   /* --email is accepted (component client) */
	const char *default_email_domain; /* email SAN <CN><this> when none is given, or NULL */
} vp_profile;

/* The profile called name, or NULL (and VP_ERR_INVALID listing the known names in e). */
const vp_profile *vp_profile_find(const char *name, vp_error *e);

/* All profiles, terminated by an entry with name NULL. */
const vp_profile *vp_profile_all(void);

#endif
