/* Address and host name checks, one copy for every module that takes an address from outside
 * (devices, endpoints, the engine's choice of certificate names, SANs of issued certificates). */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

#include "vmspki/addr.h"

int
vp_addr_is_ipv4(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1;
}

int
vp_addr_is_ipv6(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET6, s, &a) == 1;
}

int
vp_addr_is_ip(const char *s)
{
	return vp_addr_is_ipv4(s) || vp_addr_is_ipv6(s);
}

int
vp_addr_is_hostname(const char *s, unsigned flags)
{
	size_t n, label = 0;
	int all_digits = 1;

	if ((flags & VP_ADDR_WILDCARD) != 0 && strncmp(s, "*.", 2) == 0)
		s += 2;
	n = strlen(s);
	if (n == 0 || n > VP_ADDR_HOST_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if ((!isalnum(c) && c != '-') || (c == '-' && label == 0))
			return 0;
		if (!isdigit(c))
			all_digits = 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[n - 1] != '-' && (!all_digits || (flags & VP_ADDR_NUMERIC) != 0);
}
