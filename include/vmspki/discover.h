/* Device discovery (issue 19, item 8): which addresses of an IPv4 range answer as a device a
 * driver knows, identified without credentials where the device allows it, with the reverse
 * DNS name when there is one; the result is recorded as a task with one item per device
 * found. Adding what was found is a separate step (vp_device_add). */
#ifndef VMSPKI_DISCOVER_H
#define VMSPKI_DISCOVER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vmspki/err.h"
#include "vmspki/store.h"
#include "vmspki/task.h"             /* VP_TASK_DEVICE_DISCOVER */

#define VP_DISCOVER_MAX_ADDRESSES 4096   /* a /20: larger ranges are walked in parts */
#define VP_DISCOVER_MAX_PORTS 8
#define VP_DISCOVER_CONCURRENCY 32       /* addresses asked at once (default) */
#define VP_DISCOVER_CONCURRENCY_MAX 256
#define VP_DISCOVER_TIMEOUT_MS 3000      /* each request (default) */

typedef struct vp_discover_opts {
	const char *range;        /* "10.0.0.0/24", "10.0.0.10-10.0.0.50" or "10.0.0.10-50" */
	const int *ports;         /* HTTP ports to ask on; NULL or nports 0: 80 */
	size_t nports;
	const char *username;     /* optional: to identify a device that wants credentials */
	const char *password;     /* secret */
	int concurrency;          /* 0: VP_DISCOVER_CONCURRENCY */
	long timeout_ms;          /* 0: VP_DISCOVER_TIMEOUT_MS */
	int no_dns;               /* skip the reverse DNS lookups */
} vp_discover_opts;

/* How a found device was identified. */
typedef enum vp_discover_how {
	VP_DISC_ANONYMOUS = 0,    /* without credentials */
	VP_DISC_CREDENTIALS,      /* with the credentials given */
	VP_DISC_NEEDS_CREDENTIALS, /* wants credentials, none given: identity unknown */
	VP_DISC_REFUSED           /* refused the credentials given: identity unknown */
} vp_discover_how;

typedef struct vp_discovered {
	char address[64];
	int port;
	char name[256];           /* reverse DNS, "" when none */
	char serial[32];          /* MAC for VAPIX; "" when not identified */
	char model[96];
	char firmware[48];
	char brand[48];
	vp_discover_how how;
	int64_t device_id;        /* the inventory's device at this address and port, else 0 */
} vp_discovered;

/* The first and last address (host order) of range; VP_ERR_INVALID with what is wrong (not
 * IPv4, reversed, more than VP_DISCOVER_MAX_ADDRESSES addresses). A CIDR block up to /30
 * leaves out its network and broadcast addresses. */
vp_err vp_discover_range(const char *range, uint32_t *first, uint32_t *last, vp_error *e);

/* Asks every address and port of o->range, at most o->concurrency at once; *out (free())
 * gets the devices found, ordered by address and port, *n of them; *answered_other how many
 * address:port pairs answered HTTP as nothing a driver knows. Marks each found device that
 * the inventory of s (may be NULL) holds. Nothing is written. */
vp_err vp_discover_run(vp_store *s, const vp_discover_opts *o, vp_discovered **out, size_t *n,
    size_t *answered_other, vp_error *e);

/* Records a discovery as a finished task of kind VP_TASK_DEVICE_DISCOVER with one item
 * "ADDRESS:PORT" per device found (its identity in the detail) and one audit row, in one
 * transaction; *task gets its id. */
vp_err vp_discover_record(vp_store *s, const char *actor, const vp_discover_opts *o,
    const vp_discovered *d, size_t n, int64_t *task, vp_error *e);

/* One found device as JSON: address, port, name, serial, model, firmware, brand,
 * identified ("anonymous", "credentials", "needs-credentials", "refused"), device_id (null
 * when not in the inventory). NULL when out of memory. */
json_t *vp_json_discovered(const vp_discovered *d);
const char *vp_discover_how_name(vp_discover_how h);

#endif
