/* Listening addresses of the daemon: "127.0.0.1:8443", "[::1]:8443", "0.0.0.0:8443",
 * "[::]:8443"; sockets with SO_REUSEPORT so that every worker thread has its own, and IPv6
 * sockets IPv6-only so that 0.0.0.0 and [::] can both be given. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"

int
vpd_addr_parse(const char *s, struct sockaddr_storage *ss, unsigned *len, vp_error *e)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *hs = s;
	size_t hlen;
	int64_t port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			goto bad;
		hs = s + 1;
		hlen = (size_t)(close - hs);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || strchr(s, ':') != colon)
			goto bad;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(host) || vpd_parse_int(colon + 1, 0, 65535, &port) != 0)
		goto bad;
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			goto bad;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
	}
	return 0;
bad:
	vp_error_set(e, VP_ERR_INVALID, "--listen %.100s: give ADDR:PORT with a numeric address, "
	    "such as 127.0.0.1:8443, [::1]:8443, 0.0.0.0:8443 or [::]:8443", s);
	return -1;
}

void
vpd_addr_format(const struct sockaddr_storage *ss, char *buf, size_t n, int with_port)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		if (with_port)
			snprintf(buf, n, "[%s]:%u", host, ntohs(a->sin6_port));
		else
			snprintf(buf, n, "%s", host);
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		if (with_port)
			snprintf(buf, n, "%s:%u", host, ntohs(a->sin_port));
		else
			snprintf(buf, n, "%s", host);
	} else {
		snprintf(buf, n, "?");
	}
}

int
vpd_listen_socket(const char *addr, int reuseport, int do_listen, vp_error *e)
{
	struct sockaddr_storage ss;
	unsigned len;
	int fd, one = 1;

	if (vpd_addr_parse(addr, &ss, &len, e) != 0)
		return -1;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		vp_error_set(e, VP_ERR_IO, "cannot listen on %s: %s", addr, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* A reply goes out as several TLS records: without TCP_NODELAY the kernel holds the
	 * last ones until the client acknowledges the first, which it delays by 40 ms
	 * (measured by bench/api: a third of the throughput). Accepted sockets inherit it. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1) {
		vp_error_set(e, VP_ERR_IO, "cannot share %s between threads (SO_REUSEPORT): %s", addr,
		    strerror(errno));
		goto fail;
	}
	if (ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) {
		vp_error_set(e, VP_ERR_IO, "cannot listen on %s: %s", addr, strerror(errno));
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) == -1) {
		if (errno == EADDRINUSE)
			vp_error_set(e, VP_ERR_IO, "cannot listen on %s: the address is in use (another "
			    "vmspki serve, or another server, listens there)", addr);
		else if (errno == EADDRNOTAVAIL)
			vp_error_set(e, VP_ERR_IO, "cannot listen on %s: no interface of this host has "
			    "that address", addr);
		else
			vp_error_set(e, VP_ERR_IO, "cannot listen on %s: %s", addr, strerror(errno));
		goto fail;
	}
	if (do_listen && listen(fd, 1024) == -1) {
		vp_error_set(e, VP_ERR_IO, "cannot listen on %s: %s", addr, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	{
		int saved = errno;   /* the caller looks at why */

		close(fd);
		errno = saved;
	}
	return -1;
}

int
vpd_socket_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}
