/* What a network address or host name given by an operator, a request or a CSR may look like:
 * the one set of checks behind devices, endpoints, the engine and certificate names. */
#ifndef VMSPKI_ADDR_H
#define VMSPKI_ADDR_H

#define VP_ADDR_HOST_MAX 253   /* bytes of a DNS name (an IPv6 address is shorter) */

/* 1 if s is an IPv4 address (dotted quad), an IPv6 address (without brackets or zone), or
 * either; 0 otherwise. */
int vp_addr_is_ipv4(const char *s);
int vp_addr_is_ipv6(const char *s);
int vp_addr_is_ip(const char *s);

/* Flags of vp_addr_is_hostname. */
#define VP_ADDR_WILDCARD 0x1u   /* "*." allowed as the whole leftmost label (certificate SANs) */
#define VP_ADDR_NUMERIC  0x2u   /* a name of digits and dots allowed (certificate SANs); else
                                 * "10.0.0.256" is refused as a mistyped address */
#define VP_ADDR_SAN (VP_ADDR_WILDCARD | VP_ADDR_NUMERIC)   /* a DNS name a certificate may carry */

/* 1 if s is an RFC 1123 host name: dot-separated labels of letters, digits and '-' (not first
 * or last in a label), 1 to 63 bytes each, VP_ADDR_HOST_MAX in all (after a "*." the flags
 * allow), no trailing dot. */
int vp_addr_is_hostname(const char *s, unsigned flags);

#endif
