/* Small helpers of camsim: atomic file writes (a temporary file, fsync, rename, fsync of the
 * directory; the mode set before any byte is written), the log line, string copies. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "camsim.h"

int
cs_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	const unsigned char *p = data;
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 16), *slash;
	int fd = -1, dfd;

	if (tmp == NULL)
		return -1;
	snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
	if ((fd = mkstemp(tmp)) == -1)
		goto fail_nofile;
	if (fchmod(fd, (mode_t)mode) == -1)
		goto fail;
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	/* The directory entry, so that the rename survives a crash of the machine too. */
	if ((slash = strrchr(tmp, '/')) != NULL) {
		*slash = '\0';
		if ((dfd = open(tmp, O_RDONLY | O_DIRECTORY)) != -1) {
			fsync(dfd);
			close(dfd);
		}
	}
	free(tmp);
	return 0;
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
fail_nofile:
	cs_logf("camsim: cannot write %s: %s", path, strerror(errno));
	free(tmp);
	return -1;
}

void
cs_logf(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

size_t
cs_strlcpy(char *dst, const char *src, size_t n)
{
	size_t l = strlen(src);

	if (n > 0) {
		size_t c = l < n - 1 ? l : n - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return l;
}

char *
cs_strdup(const char *s)
{
	size_t l;
	char *d;

	if (s == NULL)
		return NULL;
	l = strlen(s) + 1;
	if ((d = malloc(l)) != NULL)
		memcpy(d, s, l);
	return d;
}
