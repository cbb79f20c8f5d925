/* Endpoint monitoring: TLS servers vmspki did not install (a recording server, a NAS, a reverse
 * proxy), checked on a schedule: the chain they serve, whether it verifies against the site CA
 * and names them, its expiry, with alarms (alarm.h) raised and cleared like any certificate's. */
#ifndef VMSPKI_ENDPOINT_H
#define VMSPKI_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vmspki/err.h"
#include "vmspki/store.h"

/* Status, in the seeds' words. */
#define VP_EP_OK          "OK"
#define VP_EP_EXPIRING    "Certificate about to expire"
#define VP_EP_EXPIRED     "Certificate has expired"
#define VP_EP_UNREACHABLE "Unreachable"
#define VP_EP_UNTRUSTED   "Untrusted"

#define VP_ENDPOINT_TIMEOUT_MS 10000   /* connect and handshake, each check */
#define VP_ENDPOINT_HOST_MAX   253     /* a DNS name; an IPv6 address is shorter */
#define VP_ENDPOINT_CHAIN_MAX  10      /* certificates of a served chain that are kept */

typedef struct vp_endpoint {
	int64_t id;
	char host[VP_ENDPOINT_HOST_MAX + 1]; /* IP address (IPv6 without brackets) or DNS name */
	int port;
	char sni[VP_ENDPOINT_HOST_MAX + 1];  /* server name sent and checked; "" = host if a name */
	int64_t added_at;
	int64_t checked_at;      /* 0: never checked */
	char status[40];         /* VP_EP_*, "" before the first check */
	char detail[512];        /* why, in words ("" when OK) */
	int verified;            /* the chain verifies against the site CA */
	int name_ok;             /* the leaf names sni, or host */
	char subject[512];       /* the leaf's, RFC 2253 (cut to fit) */
	char issuer[512];
	int64_t not_after;       /* the leaf's; 0 if never seen */
	char fingerprint[65];    /* SHA-256 of the leaf's DER, lowercase hex */
	char *chain_pem;         /* the chain served, PEM; filled by get and check only (else NULL) */
} vp_endpoint;

/* Frees what ep holds (chain_pem) and clears it. */
void vp_endpoint_clear(vp_endpoint *ep);

/* "HOST:PORT" or "[IPV6]:PORT" into host (n bytes) and *port. The host is an IPv4 or IPv6
 * address or a DNS name; VP_ERR_INVALID saying what is wrong otherwise. */
vp_err vp_endpoint_parse(const char *in, char *host, size_t n, int *port, vp_error *e);

/* Connects to ep->host:ep->port (timeout_ms for the connection and for the handshake; 0: the
 * default), does a TLS 1.2/1.3 handshake and fills ep's state: chain, leaf facts, verified
 * against ca_file's certificates alone (NULL or unreadable: not verified), name_ok, and status
 * and detail at time now with warning_days. A server that cannot be reached is a status
 * (Unreachable, the certificate fields left as they were), not an error: errors are only
 * VP_ERR_NOMEM and the like. The process ignores SIGPIPE (the CLI and the daemon do): a
 * server that closes early fails a write. */
vp_err vp_endpoint_probe(vp_endpoint *ep, const char *ca_file, int64_t now, long warning_days,
    long timeout_ms, vp_error *e);

/* Checks host, port and sni, stores the endpoint (VP_ERR_EXISTS if the same host, port and sni
 * are watched already) with an audit row, then checks it once (vp_endpoint_check): *out gets
 * the result. An endpoint that is down is still added (status Unreachable). */
vp_err vp_endpoint_add(vp_store *s, const char *ca_file, const char *host, int port,
    const char *sni, const char *actor, int64_t now, long timeout_ms, vp_endpoint *out,
    vp_error *e);

/* get: VP_ERR_NOTFOUND for an unknown id; out has chain_pem (vp_endpoint_clear it). list: by
 * id, without chain_pem; a non-zero return from cb stops the walk and is returned. */
vp_err vp_endpoint_get(vp_store *s, int64_t id, vp_endpoint *out, vp_error *e);
typedef int (*vp_endpoint_cb)(const vp_endpoint *ep, void *arg);
vp_err vp_endpoint_list(vp_store *s, vp_endpoint_cb cb, void *arg, vp_error *e);

/* Forgets the endpoint and clears its alarms, with an audit row (one transaction). */
vp_err vp_endpoint_remove(vp_store *s, int64_t id, const char *actor, vp_error *e);

/* Probes endpoint id now (no store lock held meanwhile), then in one transaction writes the
 * result and raises or clears its alarms (subject "endpoint:<id>": expiring warning, expired
 * critical, untrusted warning, unreachable warning). out (may be NULL) gets the endpoint as
 * stored (vp_endpoint_clear it). */
vp_err vp_endpoint_check(vp_store *s, const char *ca_file, int64_t id, int64_t now,
    long timeout_ms, vp_endpoint *out, vp_error *e);

/* Checks every endpoint whose checked_at + endpoint.interval <= now, one after the other
 * (the daemon's scheduler calls this every minute). *checked (may be NULL) counts the
 * endpoints checked. One endpoint's failure does not stop the others; the first is returned. */
vp_err vp_endpoint_check_due(vp_store *s, const char *ca_file, int64_t now, int *checked,
    vp_error *e);

/* id, host, port, sni (null if none), address ("host:port", "[v6]:port"), status, detail,
 * verified, name_ok, subject, issuer, not_after, fingerprint, checked_at, added_at (times
 * null when 0), and chain_pem when with_chain and present. NULL when out of memory. */
json_t *vp_json_endpoint(const vp_endpoint *ep, int with_chain);
/* Every endpoint as vp_json_endpoint (without chain) appended to array (the CLI's --json and
 * the API's list). VP_ERR_NOMEM when out of memory (e not set), else the store's. */
vp_err vp_endpoint_list_json(vp_store *s, json_t *array, vp_error *e);

/* "host:port" or "[v6]:port" into buf. */
void vp_endpoint_address(const vp_endpoint *ep, char *buf, size_t n);

#endif
