/* The device driver interface: what vmspki asks of a camera, independent of the camera's API.
 *
 * A driver does no I/O. Each operation (probe, add a CA certificate, make a key, ...) is a short
 * conversation: the driver says which HTTP request to send next (vp_dop_next), the caller sends
 * it however it likes (a blocking curl easy handle in the CLI, curl multi in the task engine)
 * and hands the answer back (vp_dop_feed), until the operation is done and its result or its
 * failure can be read. This keeps the camera protocols testable with canned answers, lets the
 * fuzzers feed them hostile answers and lets one thread drive a thousand cameras.
 *
 * Drivers sit behind struct vp_driver the way curl's TLS backends sit behind its vtls table:
 * the table of drivers is in driver.c, and the rest of vmspki finds a device's driver by the
 * API its probe recorded (vp_driver_for_api), never by name. The first driver speaks Axis
 * VAPIX (vapix*.c, docs/device-protocol.md); docs/architecture.md says how to add one. */
#ifndef VMSPKI_DRIVER_H
#define VMSPKI_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "vmspki/err.h"

/* The API a device's probe found, recorded per device (vp_device.api, "" until probed): each
 * driver names its own values ("soap", "rest", ... for VAPIX) and says which are its own.
 * "unsupported" is common to all: the device answered but no driver can manage it (VAPIX:
 * firmware below 5.70). */
#define VP_DEV_API_UNSUPPORTED "unsupported"

/* HTTPS connection policy of the device's web server. */
typedef enum vp_dev_policy {
	VP_POLICY_UNKNOWN = 0,
	VP_POLICY_HTTP,
	VP_POLICY_HTTPS,
	VP_POLICY_BOTH
} vp_dev_policy;

/* How the caller must reach the device for a request. */
typedef struct vp_dev_conn {
	const char *address;      /* IPv4, IPv6 (no brackets) or host name */
	int http_port;
	int https_port;
	const char *username;
	const char *password;     /* secret: never logged, never put in an error */
	int allow_basic;          /* the operator allowed Basic for this device (HTTPS only) */
	int use_https;            /* send requests over HTTPS */
	int verify;               /* over HTTPS: verify the chain against ca_file and the name */
	const char *ca_file;      /* the site CA (PEM file) for verify */
	const char *tls_name;     /* name to verify (the device's IP or FQDN); NULL = address */
	const char *pinned_pubkey; /* "sha256//BASE64" of the key of our certificate on the
	                           * device: over HTTPS, that key is required and the chain, name
	                           * and dates are not checked (our certificate has expired) */
	long timeout_ms;          /* whole request; 0 = the default (30 s) */
} vp_dev_conn;

/* One HTTP request the driver wants sent. The path starts with '/'. */
typedef struct vp_http_req {
	const char *method;       /* "GET", "POST", "PATCH", "DELETE" */
	char path[512];
	const char *content_type; /* NULL when there is no body */
	char *body;               /* owned by the operation; may be NULL */
	size_t body_len;
} vp_http_req;

/* How a request ended below HTTP. */
typedef enum vp_transport {
	VP_TRANSPORT_OK = 0,      /* an HTTP answer arrived (any status) */
	VP_TRANSPORT_TIMEOUT,     /* connect or answer timed out */
	VP_TRANSPORT_REFUSED,     /* connection refused / no route */
	VP_TRANSPORT_RESET,       /* connection reset or closed without an answer */
	VP_TRANSPORT_TLS,         /* TLS handshake or verification failed */
	VP_TRANSPORT_TOO_BIG,     /* the answer was over the size limit */
	VP_TRANSPORT_OTHER
} vp_transport;

/* The answer to a vp_http_req, as the caller received it. */
typedef struct vp_http_resp {
	vp_transport transport;
	const char *transport_msg;  /* curl's words when transport != OK */
	long status;                /* HTTP status when transport == OK */
	const char *content_type;   /* may be NULL */
	const unsigned char *body;  /* may be NULL when len == 0 */
	size_t len;
} vp_http_resp;

/* Why an operation failed, so that tasks and device states can say it in the seeds' words. */
typedef enum vp_dev_fail {
	VP_DEVF_NONE = 0,
	VP_DEVF_UNREACHABLE,      /* timeout, refused, reset: "Unreachable"; a retry may help */
	VP_DEVF_AUTH,             /* 401 after authenticating: "Wrong credentials"; never retried */
	VP_DEVF_UNSUPPORTED,      /* firmware below 5.70 or API missing: "Unsupported firmware" */
	VP_DEVF_DEVICE,           /* the device refused (SOAP fault, REST error, 4xx/5xx) */
	VP_DEVF_PROTOCOL,         /* the answer was not what the API promises (garbage, too big) */
	VP_DEVF_TLS               /* TLS failed (verification, handshake) */
} vp_dev_fail;

/* The operations a driver offers. */
typedef enum vp_dop_kind {
	VP_DOP_PROBE = 1,         /* identity, firmware, API, HTTPS policy and bound certificate */
	VP_DOP_CA_LIST,           /* CA certificates: aliases and PEM */
	VP_DOP_CA_ADD,            /* add args.alias with args.pem */
	VP_DOP_CA_DELETE,         /* remove CA certificate args.alias */
	VP_DOP_CERT_LIST,         /* certificates with keys: aliases and PEM */
	VP_DOP_KEY_CREATE,        /* key pair on the device: args.alias, key_type, subject, sans */
	VP_DOP_CSR_GET,           /* PKCS#10 for args.alias (PEM, checked to parse) */
	VP_DOP_CERT_INSTALL,      /* args.pem (certificate, then chain) for the key args.alias */
	VP_DOP_CERT_DELETE,       /* remove certificate args.alias (and its key) */
	VP_DOP_TLS_GET,           /* web server: bound certificate alias and policy */
	VP_DOP_TLS_SET,           /* bind args.alias (with args.ca_aliases) and set args.policy */
	/* Discovery (issue 19, item 8): identity without credentials where the device allows
	 * it (serial, model, firmware, brand; no API decided). A device that wants credentials
	 * fails with VP_DEVF_AUTH, one with no such way with VP_DEVF_UNSUPPORTED. */
	VP_DOP_IDENTIFY,
	/* IEEE 802.1X (EAP-TLS), see vp_dot1x_conf */
	VP_DOP_DOT1X_GET,         /* the wired interface's 802.1X and the configuration it names;
	                           * whether configuration args.dot1x->token exists */
	VP_DOP_DOT1X_SET,         /* args.dot1x: the configuration (created when
	                           * args.dot1x_create) unless its identity is "", then the
	                           * interface switched to enabled with token ("" keeps it) */
	VP_DOP_DOT1X_DELETE       /* remove configuration args.dot1x->token */
} vp_dop_kind;

/* An 802.1X (EAP-TLS) configuration and the wired interface's switch. */
typedef struct vp_dot1x_conf {
	char token[65];           /* the configuration's name on the device */
	char identity[254];       /* EAP identity, the certificate's CN */
	char ca_alias[128];       /* CA certificate that validates the RADIUS server ("" none) */
	char cert_alias[128];     /* the client certificate (key made on the device) */
	int enabled;              /* the interface authenticates with 802.1X */
} vp_dot1x_conf;

typedef struct vp_dop_args {
	const char *alias;        /* certificate or CA alias (ours start with "vmspki-") */
	const char *pem;          /* CA_ADD: the CA; CERT_INSTALL: certificate + chain */
	const char *key_type;     /* "RSA-2048" (default), "RSA-4096", "EC-P256", ... */
	const char *subject;      /* "CN=10.0.0.5" */
	const char *const *sans;  /* NULL-terminated, "DNS:cam1.site" / "IP:10.0.0.5" */
	const char *const *ca_aliases; /* TLS_SET: CA certificates for the web server, may be NULL */
	vp_dev_policy policy;     /* TLS_SET; VP_POLICY_UNKNOWN keeps the device's policy */

	/* KEY_CREATE: the key store to make the key in ("TEE0", "SE0"); NULL: the device's
	 * default (a device without a choice of key stores refuses any other) */
	const char *keystore;
	const vp_dot1x_conf *dot1x; /* DOT1X_*: GET reads only its token (may be NULL) */
	int dot1x_create;         /* DOT1X_SET: create the configuration (else change it) */
} vp_dop_args;

/* One certificate held by the device. */
typedef struct vp_dev_cert {
	char alias[128];
	char *pem;                /* may be NULL when the device does not return it */
	char keystore[16];        /* CERT_LIST: where its key is ("" when not said) */
} vp_dev_cert;

typedef struct vp_dop_result {
	/* PROBE */
	char serial[32];          /* the MAC, e.g. ACCC8E26DA33 */
	char model[96];
	char firmware[48];
	char brand[48];
	char api[16];             /* VP_DEV_API_* */
	/* PROBE, TLS_GET */
	vp_dev_policy policy;
	char bound_alias[128];    /* certificate the web server presents ("" if none) */
	/* CA_LIST, CERT_LIST */
	vp_dev_cert *certs;
	size_t ncerts;
	/* CSR_GET */
	char *csr_pem;

	/* PROBE: the product class its driver's rules found ("camera", "access-control",
	 * "audio", "switch"; "" when not identified) */
	char product[24];
	/* DOT1X_GET: the interface's enabled and token, and the fields of the configuration that
	 * token names when it exists (dot1x_found) */
	vp_dot1x_conf dot1x;
	int dot1x_found;
	int dot1x_asked_exists;   /* a configuration args.dot1x->token exists */
} vp_dop_result;

typedef struct vp_dop vp_dop;

/* What a device can do, as its driver knows it from the probe (vp_driver.caps). */
#define VP_DCAP_HTTPS     (1u << 0)   /* a certificate of ours on its web server */
#define VP_DCAP_KEYGEN    (1u << 1)   /* makes its own key pair and CSR (the key stays on it) */
#define VP_DCAP_8021X     (1u << 2)   /* an EAP-TLS client certificate for IEEE 802.1X */
#define VP_DCAP_KEYSTORES (1u << 3)   /* a choice of key stores (software, TPM, secure element) */

/* A driver: a table of the operations every driver implements. Callers use the vp_dop_*
 * functions below, which dispatch through the operation's driver. */
typedef struct vp_driver {
	const char *name;               /* "vapix": for logs and docs, not for choosing */
	/* 1 if api (a value this driver's probe recorded) is one of this driver's. */
	int (*owns_api)(const char *api);
	/* Starts an operation for a device whose recorded API is api ("" before the first
	 * probe: only VP_DOP_PROBE). VP_ERR_INVALID for bad arguments, nothing allocated. */
	vp_err (*start)(vp_dop_kind kind, const vp_dop_args *args, const char *api,
	    vp_dop **out, vp_error *e);
	vp_err (*next)(vp_dop *op, const vp_http_req **req, vp_error *e);
	vp_err (*feed)(vp_dop *op, const vp_http_resp *resp, vp_error *e);
	vp_dev_fail (*failed)(const vp_dop *op, const char **msg, int *retryable);
	const vp_dop_result *(*result)(const vp_dop *op);
	const char *(*api)(const vp_dop *op);
	void (*free)(vp_dop *op);
	/* VP_DCAP_* of a device with this recorded api and firmware (0 for "unsupported"). */
	unsigned (*caps)(const char *api, const char *firmware);
} vp_driver;

/* The driver of a device whose probe recorded api; for "" (never probed) the driver a probe
 * starts with. NULL when no driver owns api (a store written by a newer vmspki). */
const vp_driver *vp_driver_for_api(const char *api);

/* Every driver, in the order a probe of a device never seen before tries them: *n of them. */
const vp_driver *const *vp_drivers(size_t *n);

/* Starts an operation with drv (vp_driver_for_api): the same contract as drv->start. */
vp_err vp_dop_start(const vp_driver *drv, vp_dop_kind kind, const vp_dop_args *args,
    const char *api, vp_dop **out, vp_error *e);

/* The next request of op: VP_OK with *req pointing into op (valid until the next call), or
 * VP_OK with *req == NULL when the operation has finished: read vp_dop_failed/result. */
vp_err vp_dop_next(vp_dop *op, const vp_http_req **req, vp_error *e);

/* Hands op the answer to the request vp_dop_next gave. Always VP_OK unless out of memory: a
 * failed operation is not an error of this call, it shows in vp_dop_failed. */
vp_err vp_dop_feed(vp_dop *op, const vp_http_resp *resp, vp_error *e);

/* Once finished: VP_DEVF_NONE on success; else why, with the device's own words (a SOAP
 * fault reason, a REST error message, the HTTP status) in msg and whether a retry may help. */
vp_dev_fail vp_dop_failed(const vp_dop *op, const char **msg, int *retryable);
const vp_dop_result *vp_dop_get_result(const vp_dop *op);

/* The API the device turned out to speak (a VAPIX REST device answering only v1beta changes
 * "rest" into "rest-beta", one whose v1beta takes POST/PATCH into "rest-beta-post"): store it
 * so that the next operation starts right. */
const char *vp_dop_api(const vp_dop *op);

/* The driver op belongs to. */
const vp_driver *vp_dop_driver(const vp_dop *op);

void vp_dop_free(vp_dop *op);

/* VP_DCAP_* of a device whose probe recorded api and firmware: 0 when no driver owns api. */
unsigned vp_dev_caps(const char *api, const char *firmware);

/* Words for a vp_dev_fail: "Unreachable", "Wrong credentials", ... */
const char *vp_dev_fail_str(vp_dev_fail f);

#endif
