/* vp_buf, the growing buffer used wherever vmspki builds or receives bytes of unknown length:
 * every size is checked before arithmetic, and a secret never stays behind in a freed block. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "vmspki/buf.h"

#define MIB (1024u * 1024u)
#define KIB 1024u
/* The first block: most buffers are a line or a page of text. */
#define CAP_MIN 256u

void
vp_buf_init(vp_buf *b, const char *what, size_t max, unsigned flags)
{
	memset(b, 0, sizeof(*b));
	b->what = what != NULL ? what : "the buffer";
	b->max = max < SIZE_MAX ? max : SIZE_MAX - 1;   /* room for the NUL */
	b->flags = flags;
}

/* Remembers the first refusal for vp_buf_failed. */
static void
refused(vp_buf *b, vp_err code)
{
	if (b->failed == VP_OK)
		b->failed = code;
}

/* The refusal sentence names the limit the way a person would ("is over 1 MiB"). */
static vp_err
over(vp_buf *b, vp_error *e)
{
	refused(b, VP_ERR_INVALID);
	if (b->max >= MIB && b->max % MIB == 0)
		return vp_error_set(e, VP_ERR_INVALID, "%s is over %zu MiB", b->what, b->max / MIB);
	if (b->max >= KIB && b->max % KIB == 0)
		return vp_error_set(e, VP_ERR_INVALID, "%s is over %zu KiB", b->what, b->max / KIB);
	return vp_error_set(e, VP_ERR_INVALID, "%s is over %zu bytes", b->what, b->max);
}

/* Makes room for n more bytes and the NUL; changes nothing on failure. */
static vp_err
room(vp_buf *b, size_t n, vp_error *e)
{
	size_t need, cap;
	char *np;

	if (n > b->max - b->len)           /* len <= max always, so no wrap */
		return over(b, e);
	need = b->len + n + 1;             /* <= max + 1 <= SIZE_MAX */
	if (need <= b->cap)
		return VP_OK;
	cap = b->cap != 0 ? b->cap : CAP_MIN;
	while (cap < need)
		cap = cap > (b->max + 1) / 2 ? b->max + 1 : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	if (b->flags & VP_BUF_SECRET) {
		/* realloc could leave a copy of the secret in the block it frees */
		if ((np = malloc(cap)) == NULL)
			goto nomem;
		if (b->p != NULL) {
			memcpy(np, b->p, b->len + 1);
			OPENSSL_cleanse(b->p, b->cap);
			free(b->p);
		}
	} else if ((np = realloc(b->p, cap)) == NULL) {
		goto nomem;
	}
	b->p = np;
	b->cap = cap;
	return VP_OK;
nomem:
	refused(b, VP_ERR_NOMEM);
	return vp_error_set(e, VP_ERR_NOMEM, "out of memory for %s", b->what);
}

vp_err
vp_buf_add(vp_buf *b, const void *data, size_t n, vp_error *e)
{
	vp_err rc;

	if ((rc = room(b, n, e)) != VP_OK)
		return rc;
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return VP_OK;
}

vp_err
vp_buf_add_str(vp_buf *b, const char *s, vp_error *e)
{
	return vp_buf_add(b, s, strlen(s), e);
}

vp_err
vp_buf_printf(vp_buf *b, vp_error *e, const char *fmt, ...)
{
	va_list ap;
	int n;
	vp_err rc;

	/* once to measure, once to write into the room made for it */
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		refused(b, VP_ERR_INTERNAL);
		return vp_error_set(e, VP_ERR_INTERNAL, "cannot format the text of %s", b->what);
	}
	if ((rc = room(b, (size_t)n, e)) != VP_OK)
		return rc;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {   /* the arguments changed meanwhile */
		b->p[b->len] = '\0';
		refused(b, VP_ERR_INTERNAL);
		return vp_error_set(e, VP_ERR_INTERNAL, "cannot format the text of %s", b->what);
	}
	b->len += (size_t)n;
	return VP_OK;
}

const char *
vp_buf_str(const vp_buf *b)
{
	return b->p != NULL ? b->p : "";
}

size_t
vp_buf_len(const vp_buf *b)
{
	return b->len;
}

vp_err
vp_buf_failed(const vp_buf *b)
{
	return b->failed;
}

vp_err
vp_buf_take(vp_buf *b, char **out, size_t *len, vp_error *e)
{
	if (b->p == NULL && (b->p = calloc(1, 1)) == NULL) {
		*out = NULL;
		if (len != NULL)
			*len = 0;
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory for %s", b->what);
	}
	*out = b->p;
	if (len != NULL)
		*len = b->len;
	b->p = NULL;
	b->len = b->cap = 0;
	b->failed = VP_OK;
	return VP_OK;
}

void
vp_buf_reset(vp_buf *b)
{
	if (b->p != NULL) {
		if (b->flags & VP_BUF_SECRET)
			OPENSSL_cleanse(b->p, b->cap);
		b->p[0] = '\0';
	}
	b->len = 0;
	b->failed = VP_OK;
}

void
vp_buf_free(vp_buf *b)
{
	if (b == NULL)
		return;
	if (b->p != NULL && (b->flags & VP_BUF_SECRET))
		OPENSSL_cleanse(b->p, b->cap);
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->failed = VP_OK;
}

/* The first block of a vp_ids: a page of ids. */
#define IDS_CAP_MIN 64u

vp_err
vp_ids_add(vp_ids *l, int64_t id, vp_error *e)
{
	if (l->n == l->cap) {
		size_t cap;
		int64_t *m;

		/* Doubling must not wrap cap * 2 * sizeof(id). */
		if (l->cap > SIZE_MAX / 2 / sizeof(*m))
			return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		cap = l->cap == 0 ? IDS_CAP_MIN : l->cap * 2;
		if ((m = realloc(l->v, cap * sizeof(*m))) == NULL)
			return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		l->v = m;
		l->cap = cap;
	}
	l->v[l->n++] = id;
	return VP_OK;
}

void
vp_ids_free(vp_ids *l)
{
	if (l == NULL)
		return;
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}
