/* The device driver interface: what vmspki asks of a camera, independent of the camera's API.
 *
 * A driver does no I/O. Each operation (probe, add a CA certificate, make a key, ...) is a short
 * conversation: the driver says which HTTP request to send next (vp_dop_next), the caller sends
 * it however it likes (a blocking curl easy handle in the CLI, curl multi in the task engine)
 * and hands the answer back (vp_dop_feed), until the operation is done and its result or its
 * failure can be read. This keeps the camera protocol testable with canned answers and lets one
 * thread drive a thousand cameras.
 *
 * The first driver speaks Axis VAPIX (vapix.c, see device-api.md). */
#ifndef VMSPKI_DRIVER_H
#define VMSPKI_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "vmspki/err.h"

/* Which certificate API the device answered to, remembered per device ("" until probed). */
#define VP_DEV_API_SOAP        "soap"          /* firmware 5.70 to 10.x */
#define VP_DEV_API_REST        "rest"          /* firmware 11+, /config/rest/cert/v1 */
#define VP_DEV_API_REST_BETA   "rest-beta"     /* early 11/12, /config/rest/cert/v1beta */
#define VP_DEV_API_UNSUPPORTED "unsupported"   /* firmware below 5.70 */

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
	VP_DOP_TLS_SET            /* bind args.alias (with args.ca_aliases) and set args.policy */
} vp_dop_kind;

typedef struct vp_dop_args {
	const char *alias;        /* certificate or CA alias (ours start with "vmspki-") */
	const char *pem;          /* CA_ADD: the CA; CERT_INSTALL: certificate + chain */
	const char *key_type;     /* "RSA-2048" (default), "RSA-4096", "EC-P256", ... */
	const char *subject;      /* "CN=10.0.0.5" */
	const char *const *sans;  /* NULL-terminated, "DNS:cam1.site" / "IP:10.0.0.5" */
	const char *const *ca_aliases; /* TLS_SET: CA certificates for the web server, may be NULL */
	vp_dev_policy policy;     /* TLS_SET; VP_POLICY_UNKNOWN keeps the device's policy */
} vp_dop_args;

/* One certificate held by the device. */
typedef struct vp_dev_cert {
	char alias[128];
	char *pem;                /* may be NULL when the device does not return it */
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
} vp_dop_result;

typedef struct vp_dop vp_dop;

/* A driver: its name and how it starts an operation. */
typedef struct vp_driver {
	const char *name;
	/* api is the device's remembered VP_DEV_API_* ("" before the first probe). */
	vp_err (*start)(vp_dop_kind kind, const vp_dop_args *args, const char *api,
	    vp_dop **out, vp_error *e);
} vp_driver;

extern const vp_driver vp_driver_vapix;

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

/* The API the device turned out to speak (a REST device answering only v1beta changes
 * "rest" into "rest-beta"): store it so that the next operation starts right. */
const char *vp_dop_api(const vp_dop *op);

void vp_dop_free(vp_dop *op);

/* Words for a vp_dev_fail: "Unreachable", "Wrong credentials", ... */
const char *vp_dev_fail_str(vp_dev_fail f);

#endif
