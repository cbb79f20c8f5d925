/* Certificate profiles: the design's profile table as data. Issuance reads it; nothing else
 * decides what a certificate of a given kind may contain. */
#include <stdio.h>
#include <string.h>

#include "vmspki/profile.h"

static const vp_profile profiles[] = {
	{ "server", "TLS server (API, recording server, NAS): serverAuth, <= 825 days",
	  "critical,digitalSignature,keyEncipherment", "serverAuth", 825, 825, 1, 1, 0, NULL },
	{ "client", "TLS client (operators, integrations, admin API access): clientAuth",
	  "critical,digitalSignature", "clientAuth", 365, 825, 0, 0, 1, NULL },
	{ "device-https", "camera HTTPS server, key made on the device: serverAuth",
	  "critical,digitalSignature,keyEncipherment", "serverAuth", 365, 825, 1, 1, 0, NULL },
	{ "device-8021x", "camera IEEE 802.1X EAP-TLS client, CN the MAC or serial: clientAuth",
	  "critical,digitalSignature,keyEncipherment", "clientAuth", 365, 825, 0, 0, 0, NULL },
	{ "component-server", "internal service (NATS broker) server: serverAuth, 10 years",
	  "critical,digitalSignature,keyEncipherment", "serverAuth", 3652, 0, 1, 1, 0, NULL },
	{ "component-client", "internal service mTLS client, email SAN: clientAuth, 10 years",
	  "critical,digitalSignature,keyEncipherment", "clientAuth", 3652, 0, 0, 0, 1,
	  ".component@natsbroker.localhost" },
	{ "radius-server", "RADIUS server (FreeRADIUS EAP-TLS for 802.1X): serverAuth, <= 825 days",
	  "critical,digitalSignature,keyEncipherment", "serverAuth", 825, 825, 1, 1, 0, NULL },
	{ NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, NULL }
};

const vp_profile *
vp_profile_all(void)
{
	return profiles;
}

const vp_profile *
vp_profile_find(const char *name, vp_error *e)
{
	char names[256] = "";
	const vp_profile *p;

	for (p = profiles; p->name != NULL; p++) {
		if (name != NULL && strcmp(p->name, name) == 0)
			return p;
		size_t l = strlen(names);
		snprintf(names + l, sizeof(names) - l, "%s%s", l ? ", " : "", p->name);
	}
	vp_error_set(e, VP_ERR_INVALID, "unknown profile \"%s\": use one of %s",
	    name != NULL ? name : "", names);
	return NULL;
}
