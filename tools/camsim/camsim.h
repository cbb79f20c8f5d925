/* camsim: one process that behaves like a fleet of Axis network cameras, for vmspki's tests,
 * demos and benchmarks. Shared types of its files; docs/device-protocol.md is the contract. */
#ifndef CAMSIM_H
#define CAMSIM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define CS_ALIAS_MAX      128     /* REST alias (device-protocol.md 3) */
#define CS_SOAP_ID_MAX    64      /* SOAP Id (device-protocol.md 4.6) */
#define CS_OPNAME_MAX     48
#define CS_REASON_MAX     256
#define CS_MAX_FAULTS     16
#define CS_BODY_MAX       (1024 * 1024)   /* largest request body a device reads */
#define CS_CERT_PEM_MAX   (64 * 1024)
#define CS_NONCES         32      /* Digest nonces remembered per device (nc replay window) */

/* ------------------------------------------------------------------ operations */

/* Every request is classified into one operation; counters and faults use it. A fault names
 * either the operation or one of its classes (the driver's vp_dop_kind in lower case, so that
 * one fault hits REST and SOAP devices alike). */
typedef enum cs_op {
	CS_OP_UNKNOWN = 0,
	CS_OP_INDEX,
	CS_OP_BDI,
	CS_OP_PARAM,
	CS_OP_REST_API,
	CS_OP_REST_LIST_CERTS,
	CS_OP_REST_GET_CERT,
	CS_OP_REST_CREATE,
	CS_OP_REST_CSR,
	CS_OP_REST_REPLACE,
	CS_OP_REST_DELETE_CERT,
	CS_OP_REST_LIST_CA,
	CS_OP_REST_GET_CA,
	CS_OP_REST_ADD_CA,
	CS_OP_REST_DELETE_CA,
	CS_OP_REST_SETTINGS,
	CS_OP_SOAP_GET_CERTS,
	CS_OP_SOAP_GET_CA,
	CS_OP_SOAP_LOAD_CA,
	CS_OP_SOAP_DELETE,
	CS_OP_SOAP_CREATE,
	CS_OP_SOAP_CSR,
	CS_OP_SOAP_LOAD_CERTS,
	CS_OP_SOAP_TLS_GET,
	CS_OP_SOAP_TLS_SET,
	CS_OP_SOAP_OTHER,
	/* IEEE 802.1X (dot1x.c) */
	CS_OP_SOAP_DOT1X_GET,
	CS_OP_SOAP_DOT1X_CREATE,
	CS_OP_SOAP_DOT1X_SET,
	CS_OP_SOAP_DOT1X_DELETE,
	CS_OP_SOAP_NETIF_GET,
	CS_OP_SOAP_NETIF_SET,
	CS_OP_COUNT
} cs_op;

const char *cs_op_name(cs_op op);
/* 1 when the fault target name (operation or class, any case) covers op. */
int cs_op_matches(cs_op op, const char *target);
/* 1 when name is an operation or class name camsim knows. */
int cs_op_known_target(const char *name);

/* ------------------------------------------------------------------ faults */

typedef enum cs_fault_kind {
	CS_F_NONE = 0,
	CS_F_TIMEOUT,       /* read the request, never answer */
	CS_F_RESET,         /* close with a TCP reset instead of answering */
	CS_F_401,           /* 401 even with the right credentials */
	CS_F_500,           /* HTTP 500, a web server page */
	CS_F_SOAP_FAULT,    /* SOAP Fault (SOAP ops) or REST error (REST ops) with reason */
	CS_F_WRONG_CSR,     /* the CSR is signed by another key */
	CS_F_REBOOT,        /* both ports down for seconds, state kept */
	CS_F_LOST_ANSWER,   /* the change is applied, then the connection closes unanswered */
	CS_F_GARBAGE,       /* 200 with an answer that is not XML/JSON */
	CS_F_OVERSIZE,      /* 200 with a very long answer */
	CS_F_DELAY,         /* answer (and apply) after ms */
	CS_F_COUNT
} cs_fault_kind;

typedef struct cs_fault {
	cs_fault_kind kind;
	char op[CS_OPNAME_MAX];     /* "" = every operation */
	int count;                  /* requests left; -1 = until cleared */
	int seconds;                /* reboot: how long the ports stay down */
	long ms;                    /* delay */
	size_t size;                /* oversize: bytes */
	int http_status;            /* soap_fault on REST: status (default 500) */
	int code;                   /* soap_fault on REST: error code (default 2) */
	char reason[CS_REASON_MAX]; /* soap_fault: the reason text */
	unsigned long hits;
} cs_fault;

const char *cs_fault_kind_name(cs_fault_kind k);
/* Parses one fault object ({"kind":"reset","op":"cert_install","count":1,...}); on error
 * writes a sentence into err and returns -1. */
int cs_fault_from_json(json_t *o, cs_fault *f, char *err, size_t errlen);
json_t *cs_fault_to_json(const cs_fault *f);

/* ------------------------------------------------------------------ device state */

typedef enum cs_policy {
	CS_POLICY_HTTP = 1,
	CS_POLICY_HTTPS,
	CS_POLICY_BOTH
} cs_policy;

const char *cs_policy_soap(cs_policy p);    /* "Http", "Https", "HttpAndHttps" */
int cs_policy_parse(const char *s, cs_policy *p); /* http|https|both or the SOAP words */

typedef enum cs_restapi {
	CS_REST_NONE = 0,   /* firmware below 11.6: no REST certificate API */
	CS_REST_BETA,       /* 11.6 to 11.10: only /config/rest/cert/v1beta, PUT for actions */
	CS_REST_V1          /* 11.11 and later */
} cs_restapi;

/* A certificate with its private key, made on the device (or the factory one). */
typedef struct cs_cert {
	char alias[CS_ALIAS_MAX + 1];
	char keystore[16];
	char key_type[16];
	EVP_PKEY *key;
	X509 *cert;             /* self-signed until a signed one is installed */
	STACK_OF(X509) *chain;  /* installed with it (may be NULL) */
} cs_cert;

typedef struct cs_cacert {
	char alias[CS_ALIAS_MAX + 1];
	X509 *cert;
} cs_cacert;

struct cs_nonce {
	uint64_t id;            /* the random part of the nonce */
	uint64_t max_nc;        /* highest nc seen */
	uint64_t seen;          /* bitmap of nc values max_nc-1 .. max_nc-64 */
	time_t used;
};

/* IEEE 802.1X (dot1x.c): the ONVIF Dot1XConfigurations and the wired interface's switch. */
#define CS_DOT1X_MAX 4
typedef struct cs_dot1x_conf {
	char token[CS_SOAP_ID_MAX + 1];
	char identity[CS_ALIAS_MAX + 1];
	int eap_method;
	char ca_id[CS_ALIAS_MAX + 1];   /* CACertificateID ("" none) */
	char cert_id[CS_ALIAS_MAX + 1]; /* TLSConfiguration/CertificateID */
} cs_dot1x_conf;

typedef struct cs_dot1x {
	cs_dot1x_conf conf[CS_DOT1X_MAX];
	size_t nconf;
	int enabled;                    /* eth0's 802.1X switched on */
	char token[CS_SOAP_ID_MAX + 1]; /* ... with this configuration */
} cs_dot1x;

typedef struct camsim camsim;
typedef struct cs_req cs_req;

typedef struct cs_device {
	camsim *cs;
	size_t index;
	/* identity (fleet) */
	char address[16];
	int http_port;
	int https_port;
	char serial[13];
	char model[64];             /* ProdNbr, e.g. P1367 */
	char prod_name[96];         /* ProdFullName */
	char prod_type[48];
	char firmware[48];
	int fw_major, fw_minor;
	char user[64];
	char password[128];         /* secret: never logged */
	char name[256];             /* FQDN, for --csv-out */
	int allow_basic;            /* Basic over HTTPS allowed */
	int bdi_anonymous;          /* basicdeviceinfo getAllUnrestrictedProperties answers
	                             * without credentials (allowAnonymous, on by default) */
	int digest_md5, digest_sha256;
	cs_restapi rest;
	int beta_post;              /* v1beta takes POST/PATCH like v1, not PUT (AXIS OS 12.x) */
	int store_slots;
	/* state (persisted) */
	cs_cert *certs;
	size_t ncerts;
	cs_cacert *cas;
	size_t ncas;
	char bound[CS_ALIAS_MAX + 1];   /* certificate the web server presents ("" none) */
	char **bound_cas;               /* CA aliases of the web server's CertificateSet */
	size_t nbound_cas;
	int tls;                        /* web server Tls flag */
	cs_policy policy;
	cs_dot1x dot1x;
	/* runtime */
	struct evhttp *http;            /* NULL while the port is closed */
	struct evhttp *https;
	unsigned boot_id;
	int down;                       /* rebooting */
	int apply_wanted;               /* listeners to follow once the answer is sent */
	struct event *reboot_ev;
	struct event *apply_ev;         /* listener changes after an answer went out */
	cs_fault faults[CS_MAX_FAULTS];
	size_t nfaults;
	unsigned long counters[CS_OP_COUNT];
	unsigned long unauthorized;     /* 401 answers */
	unsigned char nonce_key[32];
	struct cs_nonce nonces[CS_NONCES];
	cs_req *pending;                /* requests answered later (keygen, delay, timeout) */
	int reserved_slots;             /* keys being generated */
} cs_device;

struct camsim {
	struct event_base *base;
	char *state_dir;
	cs_device *devs;
	size_t ndevs;
	long keygen_delay_ms;
	long nonce_lifetime_s;
	int hang_s;                     /* how long a "timeout" request is held */
	int verbose;
	SSL_CTX *tls_ctx;               /* shared settings; the certificate is set per connection */
	struct evhttp *control;
	struct event *sig_term, *sig_int;
	int key_pool;                   /* RSA-2048 keys kept ready (0 = none) */
};

/* Counts the store's used slots (certificates with keys, CA certificates, keys being made). */
size_t cs_dev_slots_used(const cs_device *d);
cs_cert *cs_dev_cert(cs_device *d, const char *alias);
cs_cacert *cs_dev_ca(cs_device *d, const char *alias);
/* 1 when alias names a certificate, a CA certificate or a key being made. */
int cs_dev_alias_taken(cs_device *d, const char *alias);
int cs_fw_at_least(const cs_device *d, int major, int minor);
int cs_fw_parse(const char *v, int *major, int *minor);

/* ------------------------------------------------------------------ requests */

typedef enum cs_style { CS_STYLE_HTML = 0, CS_STYLE_JSON, CS_STYLE_SOAP, CS_STYLE_TEXT } cs_style;

struct cs_req {
	cs_req *next, *prev;        /* in dev->pending while answered later */
	cs_device *dev;
	struct evhttp_request *req; /* NULL once libevent freed it under us */
	int tls;
	int pending;
	cs_op op;
	cs_style style;
	cs_fault_kind fault;        /* the fault this request got (consumed at start) */
	cs_fault fault_copy;
	enum evhttp_cmd_type method;
	char path[512];             /* decoded path without the query */
	char *query;                /* raw query (may be NULL) */
	unsigned char *body;        /* NUL-terminated copy */
	size_t body_len;
	struct event *timer;
	/* asynchronous key generation */
	unsigned boot_id;
	char alias[CS_ALIAS_MAX + 1];
	char key_type[16];
	char keystore[16];          /* "" the default (SE0) */
	X509_NAME *subject;
	char **sans;
	size_t nsans;
	time_t not_before, not_after;
	EVP_PKEY *new_key;
	int key_done, delay_done, key_failed;
	int creating;               /* holds a slot and the alias while the key is made */
	int in_keygen;              /* a worker thread holds r: never free it then */
	void (*done)(cs_req *r);    /* called when the key exists and the delay is over */
};

/* Sends the answer (or carries out the connection fault chosen at start) and frees r. */
void cs_reply(cs_req *r, int status, const char *reason, struct evbuffer *body);
void cs_reply_str(cs_req *r, int status, const char *text);
void cs_reply_json(cs_req *r, int status, json_t *o);  /* steals o */
void cs_reply_rest_error(cs_req *r, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Keeps r for a later cs_reply (links it into dev->pending). */
void cs_req_hold(cs_req *r);
void cs_req_free(cs_req *r);
void cs_log_req(const cs_req *r, int status, const char *note);

/* ------------------------------------------------------------------ modules */

/* server.c: listeners, request dispatch, faults, reboot. */
int cs_server_init(camsim *cs);
int cs_dev_open(cs_device *d);          /* opens the ports the state allows */
void cs_dev_close(cs_device *d, int http, int https);
void cs_dev_apply_later(cs_device *d);  /* re-opens/closes ports to match policy, next turn */
void cs_dev_reboot(cs_device *d, int seconds);
void cs_server_shutdown(camsim *cs);

/* digest.c: RFC 7616 Digest (and Basic over TLS where allowed). */
typedef enum cs_auth { CS_AUTH_OK = 0, CS_AUTH_MISSING, CS_AUTH_BAD, CS_AUTH_STALE } cs_auth;
cs_auth cs_auth_check(cs_device *d, struct evhttp_request *req, int tls);
void cs_auth_challenge(cs_device *d, struct evhttp_request *req, int tls, int stale);
void cs_auth_expire_nonces(cs_device *d);

/* axis.c: basicdeviceinfo, param.cgi, REST certificate API. */
cs_op cs_axis_classify(cs_device *d, enum evhttp_cmd_type m, const char *path, cs_style *style);
void cs_axis_handle(cs_req *r);

/* soap.c: /vapix/services. */
cs_op cs_soap_classify(cs_device *d, const unsigned char *body, size_t len);
void cs_soap_handle(cs_req *r);
void cs_soap_fault(cs_req *r, int http_status, const char *code, const char *sub1,
    const char *sub2, const char *reason);

/* certstore.c: the store operations both APIs share. Return 0 or an error class with a
 * sentence in err. */
typedef enum cs_sterr {
	CS_ST_OK = 0,
	CS_ST_NOTFOUND,
	CS_ST_EXISTS,
	CS_ST_FULL,
	CS_ST_INVALID,      /* unreadable input */
	CS_ST_MISMATCH,     /* certificate not for this key */
	CS_ST_INUSE,        /* bound to the web server */
	CS_ST_INTERNAL
} cs_sterr;
/* Starts making a key pair for r (alias, key_type, subject, sans, validity in r); answers
 * through done when the key exists (or generation failed). */
cs_sterr cs_store_create_start(cs_req *r, void (*done)(cs_req *r), char *err, size_t errlen);
cs_sterr cs_store_create_finish(cs_req *r, char *err, size_t errlen);
cs_sterr cs_store_csr(cs_device *d, const char *alias, const X509_NAME *subject, int wrong_key,
    X509_REQ **out, char *err, size_t errlen);
cs_sterr cs_store_install(cs_device *d, const char *alias, STACK_OF(X509) *certs, char *err,
    size_t errlen);
cs_sterr cs_store_add_ca(cs_device *d, const char *alias, X509 *cert, char *err, size_t errlen);
cs_sterr cs_store_delete(cs_device *d, const char *alias, int certs, int cas, char *err,
    size_t errlen);
/* Binds alias (NULL: keep) with CA aliases, sets tls and policy; then the ports follow. */
cs_sterr cs_store_bind(cs_device *d, int tls, const char *alias, char **ca_aliases, size_t ncas,
    cs_policy policy, char *err, size_t errlen);
int cs_store_factory(cs_device *d);

/* pki.c */
EVP_PKEY *cs_pki_keygen(const char *key_type);
int cs_key_type_ok(const char *key_type);
X509 *cs_pki_selfsigned(EVP_PKEY *key, const X509_NAME *subject, char *const *sans, size_t nsans,
    time_t not_before, time_t not_after);
X509_REQ *cs_pki_csr(EVP_PKEY *key, const X509_NAME *subject, const X509 *from);
X509_NAME *cs_pki_name_parse(const char *rfc4514, char *err, size_t errlen);
int cs_pki_san_ok(const char *san);
char *cs_pki_cert_pem(X509 *x);                 /* malloc'd */
char *cs_pki_req_pem(X509_REQ *r);              /* malloc'd */
char *cs_pki_b64_der_cert(X509 *x);             /* malloc'd base64, no line breaks */
char *cs_pki_b64_der_req(X509_REQ *r);
STACK_OF(X509) *cs_pki_pem_certs(const char *pem, size_t len, size_t max);
X509 *cs_pki_b64_cert(const char *b64);
void cs_pki_fingerprint(X509 *x, char out[65]);
const char *cs_pki_key_type(EVP_PKEY *k);

/* keygen.c: worker threads. */
int cs_keygen_init(camsim *cs, int threads);
/* Queues the generation of a key for r; r->new_key is set (or r->key_failed) and done(r) is
 * called on the event loop. */
int cs_keygen_submit(cs_req *r, void (*done)(cs_req *r));
void cs_keygen_shutdown(void);

/* state.c: persistence under DIR/<address>/. */
int cs_state_load(cs_device *d, char *err, size_t errlen);
int cs_state_save(cs_device *d);
int cs_state_save_key(cs_device *d, const char *alias, EVP_PKEY *key);
void cs_state_remove_key(cs_device *d, const char *alias);

/* dot1x.c: IEEE 802.1X over the ONVIF device service (both firmware generations). */
int cs_dot1x_classify(const void *opel, cs_op *op);   /* opel: the SOAP operation element */
void cs_dot1x_handle(cs_req *r, void *opel);
/* 1 when an 802.1X configuration names alias (certificate or CA): it cannot be removed. */
int cs_dot1x_uses(const cs_device *d, const char *alias);
json_t *cs_dot1x_to_json(const cs_device *d);
int cs_dot1x_from_json(cs_device *d, json_t *o);      /* NULL o: none; -1 when unreadable */

/* fleet.c */
typedef struct cs_opts {
	const char *state_dir;
	long count;
	const char *first;
	const char *firmware;
	const char *fleet;
	long keygen_delay_ms;
	const char *csv_out;
	int http_port;
	int https_port;
	const char *control;
	const char *user;
	const char *password;
	long nonce_lifetime_s;
	int hang_s;
	int keygen_threads;
} cs_opts;
int cs_fleet_build(camsim *cs, const cs_opts *o, char *err, size_t errlen);
int cs_fleet_csv_out(camsim *cs, const char *path, char *err, size_t errlen);

/* product.c: products besides cameras, and what a device's product and firmware allow. */
struct cs_model {
	const char *nbr, *full, *type;
};
const struct cs_model *cs_product_model(const char *nbr);
/* 1 when the device has a certificate store and HTTPS (cameras 5.70, access control and
 * audio 1.25, never a PoE switch). */
int cs_dev_https_capable(const cs_device *d);
/* 1 when its HTTPS speaks TLS 1.0/1.1 only (cameras below 6.10, ACS seed). */
int cs_dev_tls11_only(const cs_device *d);

/* control.c */
int cs_control_start(camsim *cs, const char *addrport, char *err, size_t errlen);
json_t *cs_dev_state_json(cs_device *d);

/* util */
extern int cs_quiet;        /* --quiet: no line per request */
int cs_write_atomic(const char *path, const void *data, size_t len, unsigned mode);
void cs_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
size_t cs_strlcpy(char *dst, const char *src, size_t n);
char *cs_strdup(const char *s);

#endif
