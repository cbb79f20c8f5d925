/* vmspki error reporting: status codes plus a human sentence, with OpenSSL's error queue
 * drained into the sentence so that nothing is left behind for the next call. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "vmspki/err.h"

static void vset(vp_error *e, vp_err code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
vset(vp_error *e, vp_err code, const char *fmt, va_list ap)
{
	e->code = code;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

vp_err
vp_error_set(vp_error *e, vp_err code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	va_start(ap, fmt);
	vset(e, code, fmt, ap);
	va_end(ap);
	return code;
}

vp_err
vp_error_ssl(vp_error *e, vp_err code, const char *fmt, ...)
{
	va_list ap;
	unsigned long l;
	char buf[256];
	int first = 1;

	if (e != NULL) {
		va_start(ap, fmt);
		vset(e, code, fmt, ap);
		va_end(ap);
	}
	while ((l = ERR_get_error()) != 0) {
		size_t len;

		if (e == NULL)
			continue;
		ERR_error_string_n(l, buf, sizeof(buf));
		/* Keep only the reason text: "error:0A000086:SSL routines::reason" -> "reason". */
		const char *reason = ERR_reason_error_string(l);
		len = strlen(e->msg);
		if (len + 4 < sizeof(e->msg))
			snprintf(e->msg + len, sizeof(e->msg) - len, "%s%s", first ? ": " : "; ",
			    reason != NULL ? reason : buf);
		first = 0;
	}
	return code;
}

vp_err
vp_error_prefix(vp_error *e, const char *fmt, ...)
{
	char prefix[VP_ERROR_MSG_MAX], old[VP_ERROR_MSG_MAX];
	va_list ap;

	if (e == NULL)
		return VP_ERR_INTERNAL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	if (snprintf(e->msg, sizeof(e->msg), "%s: %s", prefix, old) < 0)
		e->msg[0] = '\0';
	return e->code;
}

void
vp_error_clear(vp_error *e)
{
	if (e == NULL)
		return;
	e->code = VP_OK;
	e->msg[0] = '\0';
}

const char *
vp_err_str(vp_err code)
{
	switch (code) {
	case VP_OK:             return "ok";
	case VP_ERR_INVALID:    return "invalid input";
	case VP_ERR_PASSPHRASE: return "wrong or missing passphrase";
	case VP_ERR_NOTFOUND:   return "not found";
	case VP_ERR_EXISTS:     return "already exists";
	case VP_ERR_IO:         return "input/output error";
	case VP_ERR_CRYPTO:     return "cryptographic failure";
	case VP_ERR_STORE:      return "store failure";
	case VP_ERR_NOMEM:      return "out of memory";
	case VP_ERR_INTERNAL:   return "internal error";
	}
	return "unknown error";
}
