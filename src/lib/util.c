/* Small helpers used across libvmspki: bounded file reads, atomic file writes (temp, fsync,
 * rename, fsync of the directory), hex encoding, and wiping of secrets. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "vmspki/buf.h"
#include "vmspki/util.h"

vp_err
vp_file_read(const char *path, size_t max, unsigned char **out, size_t *len, vp_error *e)
{
	unsigned char chunk[8192];
	vp_buf b;
	char *p = NULL;
	vp_err rc = VP_OK;
	int fd;

	*out = NULL;
	*len = 0;
	/* the file may hold a key or a passphrase: no copy of it is left in freed memory */
	vp_buf_init(&b, path, max, VP_BUF_SECRET);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return vp_error_set(e, errno == ENOENT ? VP_ERR_NOTFOUND : VP_ERR_IO,
		    "cannot open %s: %s", path, strerror(errno));
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			rc = vp_error_set(e, VP_ERR_IO, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if ((rc = vp_buf_add(&b, chunk, (size_t)r, e)) != VP_OK)
			goto refused;
	}
	if ((rc = vp_buf_take(&b, &p, len, e)) != VP_OK)
		goto refused;
	*out = (unsigned char *)p;
	goto out;
refused:
	if (rc == VP_ERR_INVALID)
		rc = vp_error_set(e, VP_ERR_INVALID,
		    "%s is larger than %zu bytes: not a file vmspki reads", path, max);
	else
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory reading %s", path);
out:
	OPENSSL_cleanse(chunk, sizeof(chunk));
	vp_buf_free(&b);
	close(fd);
	return rc;
}

static vp_err
fsync_dir(const char *path, vp_error *e)
{
	char *copy = vp_strdup(path);
	int fd;
	vp_err rc = VP_OK;

	if (copy == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		rc = vp_error_set(e, VP_ERR_IO, "cannot open the directory of %s: %s", path,
		    strerror(errno));
	} else {
		if (fsync(fd) == -1)
			rc = vp_error_set(e, VP_ERR_IO, "cannot sync the directory of %s: %s", path,
			    strerror(errno));
		close(fd);
	}
	free(copy);
	return rc;
}

vp_err
vp_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, vp_error *e)
{
	const unsigned char *p = data;
	char *tmp = NULL;
	size_t plen = strlen(path);
	int fd = -1;
	vp_err rc = VP_OK;

	if ((tmp = malloc(plen + 16)) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
	if ((fd = mkstemp(tmp)) == -1) {
		rc = vp_error_set(e, VP_ERR_IO, "cannot create a temporary file beside %s: %s", path,
		    strerror(errno));
		free(tmp);
		return rc;
	}
	if (fchmod(fd, mode) == -1) {
		rc = vp_error_set(e, VP_ERR_IO, "cannot set the mode of %s: %s", tmp, strerror(errno));
		goto fail;
	}
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1) {
			rc = vp_error_set(e, VP_ERR_IO, "cannot write %s: %s", path, strerror(errno));
			goto fail;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) == -1) {
		rc = vp_error_set(e, VP_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		rc = vp_error_set(e, VP_ERR_IO, "cannot close %s: %s", path, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		rc = vp_error_set(e, VP_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
		    strerror(errno));
		goto fail;
	}
	free(tmp);
	return fsync_dir(path, e);
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	return rc;
}

vp_err
vp_mkdir_p(const char *dir, mode_t mode, vp_error *e)
{
	char *copy = vp_strdup(dir), *p;
	vp_err rc = VP_OK;

	if (copy == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	for (p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(copy, mode) == -1 && errno != EEXIST) {
			rc = vp_error_set(e, VP_ERR_IO, "cannot create directory %s: %s", copy,
			    strerror(errno));
			break;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	free(copy);
	return rc;
}

char *
vp_path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

void
vp_hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

void
vp_secret_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

void
vp_secret_free_str(char *s)
{
	if (s != NULL)
		vp_secret_free(s, strlen(s));
}

vp_err
vp_random_b64url(size_t nbytes, const char *prefix, char **out, vp_error *e)
{
	unsigned char raw[64];
	char b64[96];
	size_t plen = strlen(prefix);
	int n, i;

	*out = NULL;
	if (nbytes > sizeof(raw))
		return vp_error_set(e, VP_ERR_INTERNAL, "too many random bytes asked for");
	if (RAND_bytes(raw, (int)nbytes) != 1)
		return vp_error_set(e, VP_ERR_CRYPTO, "the random generator failed");
	n = EVP_EncodeBlock((unsigned char *)b64, raw, (int)nbytes);
	OPENSSL_cleanse(raw, sizeof(raw));
	for (i = 0; i < n && b64[i] != '='; i++) {	/* base64url: safe in files, URLs, shells */
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
	}
	b64[i] = '\0';
	if ((*out = malloc(plen + (size_t)i + 1)) != NULL) {
		memcpy(*out, prefix, plen);
		memcpy(*out + plen, b64, (size_t)i + 1);
	}
	OPENSSL_cleanse(b64, sizeof(b64));
	return *out != NULL ? VP_OK : vp_error_set(e, VP_ERR_NOMEM, "out of memory");
}

char *
vp_strdup(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

int
vp_size_mul(size_t a, size_t b, size_t *out)
{
	if (b != 0 && a > SIZE_MAX / b)
		return 0;
	*out = a * b;
	return 1;
}
