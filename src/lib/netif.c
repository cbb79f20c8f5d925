/* The host's names and addresses, from getifaddrs and the resolver, for server certificates
 * whose SAN must name every way a client may reach this machine. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "vmspki/addr.h"
#include "vmspki/netif.h"
#include "vmspki/util.h"

void
vp_netif_free(vp_netif *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->ndns; i++)
		free(n->dns[i]);
	for (i = 0; i < n->nip; i++)
		free(n->ip[i]);
	free(n->dns);
	free(n->ip);
	free(n->hostname);
	free(n);
}

/* Adds s to the list unless it is there already. */
static vp_err
add_unique(char ***list, size_t *n, const char *s, vp_error *e)
{
	char **grown;
	size_t i, size;

	for (i = 0; i < *n; i++)
		if (strcasecmp((*list)[i], s) == 0)
			return VP_OK;
	if (*n >= VP_NETIF_MAX)
		return VP_OK;	/* a host with hundreds of addresses: keep the first ones */
	if (!vp_size_mul(*n + 1, sizeof(*grown), &size) ||
	    (grown = realloc(*list, size)) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	*list = grown;
	if ((grown[*n] = vp_strdup(s)) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	(*n)++;
	return VP_OK;
}

/* IPv4 before IPv6, then by their bytes: a stable order, so that an unchanged set of
 * addresses gives an unchanged certificate request. */
static int
ip_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	unsigned char bx[16], by[16];
	int vx = strchr(x, ':') != NULL, vy = strchr(y, ':') != NULL;

	if (vx != vy)
		return vx - vy;
	inet_pton(vx ? AF_INET6 : AF_INET, x, bx);
	inet_pton(vy ? AF_INET6 : AF_INET, y, by);
	return memcmp(bx, by, vx ? 16 : 4);
}

vp_err
vp_netif_collect(vp_netif **out, vp_error *e)
{
	struct ifaddrs *ifs = NULL, *i;
	struct addrinfo hints, *ai = NULL;
	vp_netif *n;
	char host[256], text[INET6_ADDRSTRLEN];
	vp_err rc = VP_OK;

	*out = NULL;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if ((n->hostname = vp_strdup(host)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (vp_addr_is_hostname(host, VP_ADDR_SAN) &&
	    (rc = add_unique(&n->dns, &n->ndns, host, e)) != VP_OK)
		goto out;
	/* The FQDN, if the resolver knows one (from /etc/hosts or DNS; no answer is fine). */
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai != NULL && ai->ai_canonname != NULL &&
	    strchr(ai->ai_canonname, '.') != NULL &&
	    vp_addr_is_hostname(ai->ai_canonname, VP_ADDR_SAN) &&
	    (rc = add_unique(&n->dns, &n->ndns, ai->ai_canonname, e)) != VP_OK)
		goto out;
	if ((rc = add_unique(&n->dns, &n->ndns, "localhost", e)) != VP_OK ||
	    (rc = add_unique(&n->ip, &n->nip, "127.0.0.1", e)) != VP_OK ||
	    (rc = add_unique(&n->ip, &n->nip, "::1", e)) != VP_OK)
		goto out;
	if (getifaddrs(&ifs) != 0) {
		rc = vp_error_set(e, VP_ERR_IO, "cannot list the network interfaces");
		goto out;
	}
	for (i = ifs; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr,
			    text, sizeof(text));
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			struct in6_addr *a = &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(a))
				continue;
			inet_ntop(AF_INET6, a, text, sizeof(text));
		} else
			continue;
		if ((rc = add_unique(&n->ip, &n->nip, text, e)) != VP_OK)
			goto out;
	}
	qsort(n->ip, n->nip, sizeof(*n->ip), ip_cmp);
	*out = n;
	n = NULL;
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	if (ifs != NULL)
		freeifaddrs(ifs);
	vp_netif_free(n);
	return rc;
}

int
vp_netif_covered_by(const vp_netif *n, const char *cert_pem)
{
	BIO *b = BIO_new_mem_buf(cert_pem, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	int ok = x != NULL;
	size_t i;

	for (i = 0; ok && i < n->ndns; i++)
		ok = X509_check_host(x, n->dns[i], 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL) == 1;
	for (i = 0; ok && i < n->nip; i++)
		ok = X509_check_ip_asc(x, n->ip[i], 0) == 1;
	X509_free(x);
	BIO_free(b);
	return ok;
}
