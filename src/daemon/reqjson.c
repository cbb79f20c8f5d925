/* Input from API clients, checked at the edge: JSON bodies against a list of known fields
 * (an unknown field is refused, naming it), query values, owners, serials, base64. Pure
 * functions without I/O, unit-tested in tests/test_daemon_req.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "daemon.h"

static void
reqerr(vpd_reqerr *re, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
reqerr(vpd_reqerr *re, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	re->status = status;
	snprintf(re->code, sizeof(re->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(re->msg, sizeof(re->msg), fmt, ap);
	va_end(ap);
}

json_t *
vpd_json_parse(const char *body, size_t len, vpd_reqerr *re)
{
	json_error_t je;
	json_t *v;
	char *near;

	if (body == NULL || len == 0) {
		reqerr(re, 400, "bad_json", "the request needs a JSON object as its body");
		return NULL;
	}
	if ((v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		/* jansson quotes the text near the error: it may be a password typed without
		 * quotes, so leave it out and give the position. */
		if ((near = strstr(je.text, " near ")) != NULL)
			*near = '\0';
		reqerr(re, 400, "bad_json", "the body is not valid JSON: %s (line %d, column %d)",
		    je.text, je.line, je.column);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		reqerr(re, 400, "bad_json", "the body must be a JSON object ({...})");
		return NULL;
	}
	return v;
}

static const char *
type_name(vpd_ftype t)
{
	switch (t) {
	case VPD_STRING: return "a string";
	case VPD_BOOL: return "true or false";
	case VPD_INT: return "a whole number";
	case VPD_STRINGS: return "an array of strings";
	}
	return "?";
}

/* "a, b, c" of the field names, for the message about an unknown field. */
static void
field_list(const vpd_field *f, char *buf, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; f->name != NULL && used + 1 < n; f++) {
		int k = snprintf(buf + used, n - used, "%s%s", used > 0 ? ", " : "", f->name);

		if (k < 0)
			break;
		used += (size_t)k;
	}
}

int
vpd_json_check(json_t *obj, const vpd_field *fields, vpd_reqerr *re)
{
	const char *key;
	json_t *val;
	const vpd_field *f;
	char names[300];

	json_object_foreach(obj, key, val) {
		for (f = fields; f->name != NULL; f++)
			if (strcmp(f->name, key) == 0)
				break;
		if (f->name == NULL) {
			field_list(fields, names, sizeof(names));
			reqerr(re, 400, "unknown_field", "unknown field \"%.64s\": this request takes %s",
			    key, names);
			return -1;
		}
		switch (f->type) {
		case VPD_STRING:
			if (!json_is_string(val))
				goto badtype;
			if (f->max_len > 0 && json_string_length(val) > f->max_len) {
				reqerr(re, 400, "bad_field", "field \"%s\" is longer than %zu bytes",
				    f->name, f->max_len);
				return -1;
			}
			break;
		case VPD_BOOL:
			if (!json_is_boolean(val))
				goto badtype;
			break;
		case VPD_INT:
			if (!json_is_integer(val))
				goto badtype;
			if (json_integer_value(val) < f->min || json_integer_value(val) > f->max) {
				reqerr(re, 400, "bad_field", "field \"%s\" must be from %lld to %lld",
				    f->name, (long long)f->min, (long long)f->max);
				return -1;
			}
			break;
		case VPD_STRINGS: {
			size_t i;
			json_t *el;

			if (!json_is_array(val))
				goto badtype;
			if (f->max > 0 && json_array_size(val) > (size_t)f->max) {
				reqerr(re, 400, "bad_field", "field \"%s\" has more than %lld elements",
				    f->name, (long long)f->max);
				return -1;
			}
			json_array_foreach(val, i, el) {
				if (!json_is_string(el))
					goto badtype;
				if (f->max_len > 0 && json_string_length(el) > f->max_len) {
					reqerr(re, 400, "bad_field", "an element of \"%s\" is longer than "
					    "%zu bytes", f->name, f->max_len);
					return -1;
				}
			}
			break;
		}
		}
		continue;
badtype:
		reqerr(re, 400, "bad_field", "field \"%s\" must be %s", f->name, type_name(f->type));
		return -1;
	}
	for (f = fields; f->name != NULL; f++) {
		if (f->required && json_object_get(obj, f->name) == NULL) {
			reqerr(re, 400, "missing_field", "field \"%s\" is required", f->name);
			return -1;
		}
	}
	return 0;
}

const char *
vpd_json_str(json_t *obj, const char *name)
{
	return json_string_value(json_object_get(obj, name));
}

int
vpd_json_bool(json_t *obj, const char *name)
{
	return json_is_true(json_object_get(obj, name));
}

int64_t
vpd_json_int(json_t *obj, const char *name, int64_t dflt)
{
	json_t *v = json_object_get(obj, name);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

int
vpd_json_strs(json_t *obj, const char *name, const char ***out, size_t *n)
{
	json_t *a = json_object_get(obj, name), *el;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!json_is_array(a) || json_array_size(a) == 0)
		return 0;
	if ((*out = calloc(json_array_size(a), sizeof(**out))) == NULL)
		return -1;
	json_array_foreach(a, i, el)
		(*out)[i] = json_string_value(el);
	*n = json_array_size(a);
	return 0;
}

int
vpd_owner_parse(const char *s, int id_optional, char *kind, size_t kind_len,
    const char **id)
{
	const char *colon = strchr(s, ':');
	size_t klen = colon != NULL ? (size_t)(colon - s) : strlen(s);
	const unsigned char *p;

	*id = NULL;
	if (klen == 0 || klen >= kind_len)
		return -1;
	if (colon == NULL && !id_optional)
		return -1;
	if (colon != NULL && (colon[1] == '\0' || strlen(colon + 1) > 255))
		return -1;
	for (size_t i = 0; i < klen; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9' && i > 0) ||
		    ((ch == '-' || ch == '_') && i > 0)))
			return -1;
	}
	if (colon != NULL)
		for (p = (const unsigned char *)colon + 1; *p != '\0'; p++)
			if (*p < 0x20 || *p == 0x7f)
				return -1;
	memcpy(kind, s, klen);
	kind[klen] = '\0';
	*id = colon != NULL ? colon + 1 : NULL;
	return 0;
}

int
vpd_path_id(const char *arg, size_t len, int64_t max, char *num, size_t num_len, int64_t *id)
{
	snprintf(num, num_len, "%.*s", (int)(len < num_len - 1 ? len : num_len - 1), arg);
	if (len >= num_len || vpd_parse_int(num, 1, max, id) != 0)
		return -1;
	return 0;
}

int
vpd_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || s[0] == '\0' || s[0] == ' ' || s[0] == '+')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || errno != 0 || v < min || v > max)
		return -1;
	*out = (int64_t)v;
	return 0;
}

int
vpd_serial_normalize(const char *in, char *out, size_t n)
{
	size_t j = 0;
	const char *p = in;

	for (; *p != '\0'; p++) {
		char ch = *p;

		if (ch == ':')
			continue;
		if (ch >= 'A' && ch <= 'F')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return -1;
		if (j == 0 && ch == '0' && p[1] != '\0')
			continue;   /* leading zeros */
		if (j + 1 >= n)
			return -1;
		out[j++] = ch;
	}
	out[j] = '\0';
	return j == 0 ? -1 : 0;
}

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
vpd_base64_decode(const char *s, unsigned char **out, size_t *len)
{
	size_t n = strlen(s), o = 0, pad = 0;
	unsigned acc = 0;
	int bits = 0;
	unsigned char *buf;

	*out = NULL;
	*len = 0;
	if ((buf = malloc(n / 4 * 3 + 3)) == NULL)
		return -1;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		int v;

		if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
			continue;
		if (*p == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = b64_val(*p)) < 0)
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* What is left must be padding bits only: 0, 2 or 4 zero bits. */
	if (bits == 6 || pad > 2 || acc != 0 || o == 0)
		goto bad;
	*out = buf;
	*len = o;
	return 0;
bad:
	OPENSSL_cleanse(buf, n / 4 * 3 + 3);
	free(buf);
	return -1;
}

char *
vpd_base64_encode(const unsigned char *data, size_t len)
{
	char *out;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3 || len > 0x3fffffff)
		return NULL;
	if ((out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

const char *
vpd_bearer(const char *authorization)
{
	const char *p;

	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return NULL;
	for (p = authorization + 7; *p == ' '; p++)
		;
	return *p != '\0' ? p : NULL;
}

void
vpd_peer_key(const char *peer, char *out, size_t n)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET6, peer, a) == 1) {
		memset(a + 8, 0, 8);
		if (inet_ntop(AF_INET6, a, text, sizeof(text)) != NULL) {
			snprintf(out, n, "%s/64", text);
			return;
		}
	}
	snprintf(out, n, "%s", peer);
}
