/* The VAPIX driver's private parts, shared by vapix.c (the conversation), vapix_soap.c (SOAP 1.2
 * messages), vapix_rest.c (REST cert v1) and vapix_x509.c (certificates in and out). The wire
 * messages are pinned in docs/device-protocol.md. */
#ifndef VMSPKI_VAPIX_INTERNAL_H
#define VMSPKI_VAPIX_INTERNAL_H

#include <stddef.h>

#include "driver_impl.h"
#include "vapix.h"
#include "vmspki/buf.h"
#include "vmspki/driver.h"
#include "vmspki/err.h"

/* Largest answer the driver reads (the transport stops at the same size). */
#define VX_MAX_ANSWER   (1024u * 1024u)
/* Longest alias: REST's alias type, and ONVIF's CertificateID as Axis SOAP firmware takes it. */
#define VX_ALIAS_REST   127     /* REST allows 128; driver.h keeps 127 + NUL */
#define VX_ALIAS_SOAP   64
/* Most entries read from one list (certificates, ciphers, CA ids). */
#define VX_MAX_LIST     256
/* Longest certificate or CSR accepted from the device, as PEM. */
#define VX_MAX_PEM      (64u * 1024u)

/* Where an operation is in its conversation. */
enum vx_step {
	VX_BDI = 1,       /* basicdeviceinfo getAllProperties */
	VX_PARAM,         /* param.cgi for firmware without basicdeviceinfo */
	VX_REST_V1,       /* PROBE: is /config/rest/cert/v1 there? */
	VX_REST_BETA,     /* PROBE: is /config/rest/cert/v1beta there? */
	VX_TLS_GET,       /* GetWebServerTlsConfiguration */
	VX_TLS_SET,       /* SetWebServerTlsConfiguration */
	VX_MAIN,          /* the one request of a certificate operation */
	VX_BASE_CHECK,    /* a 404 under v1: does v1 exist at all? */
	VX_DOT1X          /* an 802.1X operation (vapix_dot1x.c): d1x_sub says which request */
};

/* The web server configuration as read, to send back what we do not change. */
typedef struct vx_tls {
	int tls;
	char admin[16];          /* "Http", "Https", "HttpAndHttps" or "" */
	char cert_id[VX_ALIAS_REST + 1];
	char **ciphers;
	size_t nciphers;
	char **cas;
	size_t ncas;
	char **trusted;
	size_t ntrusted;
} vx_tls;

/* A VAPIX operation: the generic head (driver_impl.h) first. */
typedef struct vx_op {
	vp_dop base;
	vp_dop_kind kind;
	enum vx_step step;
	int done;
	char api[16];
	int base_ok;             /* v1 answered: a 404 is about the alias, not the API */

	/* the arguments, copied */
	char *alias;
	char *leaf_pem;          /* CA_ADD, CERT_INSTALL: the first certificate of args.pem */
	char *leaf_b64;          /* ... as base64 DER, for SOAP */
	char *key_type;
	char *subject;
	char **sans;
	size_t nsans;
	char **ca_aliases;
	size_t nca_aliases;
	int has_ca_aliases;
	vp_dev_policy policy;

	/* the request handed out by vp_dop_next */
	vp_http_req req;
	int built;

	/* the outcome */
	vp_dev_fail fail;
	int retryable;
	char msg[512];
	/* a 404 under v1 kept while VX_BASE_CHECK finds out what it meant */
	char pend_msg[512];
	vp_dop_result res;
	vx_tls tls;

	/* product rules (vapix_product.c): what the identity said besides the result */
	char prod_type[64];      /* ProdType, "" when not reported */
	char prod_nbr[64];       /* ProdNbr, "" when not reported */

	/* v1beta methods (vapix_rest.c): the other method was tried after a 405/501; the API a
	 * probe started with (a v1beta found again keeps the methods learnt) */
	int beta_switched;
	char probe_was[16];

	/* KEY_CREATE: the key store asked for (NULL: the device's default) */
	char *keystore;
	/* 802.1X (vapix_dot1x.c) */
	vp_dot1x_conf d1x;        /* DOT1X_SET/DELETE: the arguments; GET: the token asked */
	int d1x_create;
	int d1x_sub;              /* which request of the operation */
} vx_op;

/* Words for an operation in messages ("add CA certificate"). */
const char *vx_op_name(const vx_op *op);

/* Ends op with failure f and a message (control characters in device text are removed by
 * the callers that quote it). */
void vx_fail(vx_op *op, vp_dev_fail f, int retryable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Ends op successfully. */
void vx_finish(vx_op *op);
/* Copies device text into dst (at most n-1 bytes, at most 400 characters), control characters
 * as spaces, for quoting in a message. */
void vx_quote(char *dst, size_t n, const char *src, size_t len);
/* Ends op with the generic failure for an HTTP status without a usable error body. */
void vx_fail_status(vx_op *op, long status);

/* Sets op's request (method, path printf-style); body (may be NULL) is taken over. */
vp_err vx_request(vx_op *op, const char *method, const char *content_type, char *body,
    size_t body_len, vp_error *e, const char *path_fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* Appends alias to dst percent-encoded (RFC 3986 unreserved kept); 0 if it does not fit. */
int vx_pct_encode(char *dst, size_t n, const char *alias);

/* True when s is 1..max bytes without control characters. */
int vx_text_ok(const char *s, size_t max);

/* SOAP (vapix_soap.c) */
vp_err vx_soap_build(vx_op *op, vp_error *e);   /* for VX_TLS_GET, VX_TLS_SET, VX_MAIN */
vp_err vx_soap_handle(vx_op *op, const vp_http_resp *r, vp_error *e);
void vx_tls_clear(vx_tls *t);
/* Whether subject can be sent to CreateCertificate2 (C, ST, L, O, OU, CN, comma-separated). */
vp_err vx_soap_subject_check(const char *subject, vp_error *e);

/* REST (vapix_rest.c) */
vp_err vx_rest_build(vx_op *op, vp_error *e);   /* VX_MAIN, VX_BASE_CHECK, probe steps */
vp_err vx_rest_handle(vx_op *op, const vp_http_resp *r, vp_error *e);
/* Reads a JSON answer: 1 and *root (json_t *, decref it) for a success object, 0 when op has
 * failed (garbage, error object, HTTP error). */
int vx_json_answer(vx_op *op, const vp_http_resp *r, void **root);

/* Product rules (vapix_product.c): 1 when the identified device (op->res, prod_type, firmware
 * major.minor) can have its HTTPS certificate managed; else 0 with op failed
 * VP_DEVF_UNSUPPORTED, its API "unsupported" and the reason. Sets op->res.product. */
int vx_product_allows(vx_op *op, long major, long minor);

/* Certificates (vapix_x509.c). All return NULL/0 with nothing allocated on bad input. */
/* The first certificate of a PEM text: its PEM and base64 DER (either out may be NULL). */
vp_err vx_pem_first_cert(const char *pem, char **pem_out, char **b64_out, vp_error *e);
/* A certificate from the device, PEM text or base64 DER: normalised PEM, or NULL. */
char *vx_cert_pem(const char *text, size_t len, int is_b64);
/* A CSR from the device, PEM text or base64 DER: normalised PEM, or NULL. */
char *vx_csr_pem(const char *text, size_t len, int is_b64);

/* IEEE 802.1X over the ONVIF device service (vapix_dot1x.c): the same SOAP on every
 * firmware generation. */
vp_err vx_dot1x_check(vx_op *op, const vp_dop_args *a, vp_error *e); /* copies the args */
vp_err vx_dot1x_build(vx_op *op, vp_error *e);
vp_err vx_dot1x_handle(vx_op *op, const vp_http_resp *r, vp_error *e);
/* SOAP helpers of vapix_soap.c for it. A request body (the operation element) wrapped in the
 * envelope and set as op's request; the answer's ns:name element (xmlNode *) in *out and its
 * document (xmlDoc *, free with xmlFreeDoc) returned, or NULL with op failed. */
vp_err vx_soap_send(vx_op *op, vp_buf *inner, vp_error *e);
void *vx_soap_answer(vx_op *op, const vp_http_resp *r, const char *ns, const char *name,
    void **out);
/* The first element child of p named ns:name after "after" (NULL: from the start). */
void *vx_xml_child(const void *p, const char *ns, const char *name, const void *after);
/* A leaf's text trimmed, vx_text_ok(max), malloc'd; NULL when missing or not. */
char *vx_xml_word(const void *n, size_t max);
/* <tag>escaped text</tag> into b. */
void vx_xml_put_el(vp_buf *b, const char *tag, const char *text);

#endif
