/* The names and addresses of this host, for the SAN of the API server certificate and of
 * component server certificates: every address of every interface, the host's DNS names,
 * localhost, 127.0.0.1 and ::1. */
#ifndef VMSPKI_NETIF_H
#define VMSPKI_NETIF_H

#include <stddef.h>

#include "vmspki/err.h"

#define VP_NETIF_MAX 256   /* names or addresses kept, at most, of each kind */

typedef struct vp_netif {
	char *hostname;        /* the short host name (gethostname) */
	char **dns;            /* DNS names: host name, its FQDN when known, localhost */
	size_t ndns;
	char **ip;             /* addresses as text, IPv4 then IPv6, sorted, no duplicates */
	size_t nip;
} vp_netif;

/* Collects the host's names and addresses (getifaddrs; IPv6 link-local addresses are left
 * out: they are meaningless without an interface and clients cannot name them in a URL). */
vp_err vp_netif_collect(vp_netif **out, vp_error *e);
void vp_netif_free(vp_netif *n);

/* 1 if every name and address of n is among the SANs of the certificate (PEM), else 0. */
int vp_netif_covered_by(const vp_netif *n, const char *cert_pem);

#endif
