/* Component certificates: ids, the files in <datadir>/components/certificates, the checks that
 * decide a renewal, crash-safe replacement of a key/certificate pair, the components.json
 * configuration, the nats-server configuration made from it, and the reload commands. */
#define _GNU_SOURCE   /* posix_spawn_file_actions_addclosefrom_np, pipe2 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "vmspki/buf.h"
#include "vmspki/component.h"
#include "vmspki/settings.h"
#include "vmspki/issue.h"
#include "vmspki/datadir.h"
#include "vmspki/netif.h"
#include "vmspki/render_json.h"
#include "vmspki/util.h"
#include "vmspki/x509info.h"

extern char **environ;

#define DIR_COMPONENTS "components"
#define DIR_CERTS      VP_PATH_COMPONENTS_CERTS
#define F_LOCKFILE     VP_PATH_COMPONENTS_LOCK
#define F_CONF         VP_PATH_COMPONENTS_CONF
#define RENEW_DAYS_MAX 36500
#define SUBJECT_MAX    255
#define SUBJECTS_MAX   1000      /* per list */
#define RELOAD_MAX     4096      /* bytes of a reload command */
#define CONF_OUT_MAX   (16u * 1024u * 1024u)
#define RELOAD_LINE    512       /* longest line of a reload command's output that is logged */

static const char *const kind_names[2] = { "server", "client" };

const char *
vp_component_kind_name(vp_component_kind k)
{
	return k == VP_COMPONENT_SERVER ? kind_names[0] : kind_names[1];
}

/* ---- small helpers ---- */

static void
logf_(vp_component_log_fn log, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
logf_(vp_component_log_fn log, void *arg, const char *fmt, ...)
{
	char line[1200];
	va_list ap;

	if (log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log(arg, line);
}

/* s for a message: printable ASCII kept, anything else '?', at most n - 1 bytes. */
static void
safe_copy(char *dst, size_t n, const char *s)
{
	size_t i;

	if (n == 0)
		return;
	for (i = 0; s != NULL && s[i] != '\0' && i + 1 < n; i++)
		dst[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	dst[i] = '\0';
}

vp_err
vp_component_id_check(const char *id, vp_error *e)
{
	static const char rule[] = "a component id is 1 to 64 characters of a-z, 0-9, '.', '_' "
	    "and '-', not starting with '.' or '-'";
	char shown[80];
	size_t i, len;

	if (id == NULL || id[0] == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "the component id is empty: %s", rule);
	len = strlen(id);
	safe_copy(shown, sizeof(shown), id);
	if (len > VP_COMPONENT_ID_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "the component id \"%.40s...\" is %zu "
		    "characters long: %s", shown, len, rule);
	if (id[0] == '.' || id[0] == '-')
		return vp_error_set(e, VP_ERR_INVALID, "the component id \"%s\" starts with '%c': %s",
		    shown, id[0], rule);
	for (i = 0; i < len; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-'))
			return vp_error_set(e, VP_ERR_INVALID, "the component id \"%s\" contains %s%c%s "
			    "at position %zu: %s", shown, c > 0x20 && c < 0x7f ? "'" : "",
			    c > 0x20 && c < 0x7f ? c : '?', c > 0x20 && c < 0x7f ? "'" :
			    " (a space, control or non-ASCII byte)", i + 1, rule);
	}
	return VP_OK;
}

char *
vp_component_dir(const char *datadir)
{
	return vp_datadir_join(datadir, DIR_CERTS);
}

char *
vp_component_file(const char *datadir, const char *id, vp_component_kind k, int key)
{
	char *dir = vp_component_dir(datadir), *p = NULL;
	size_t n;

	if (dir == NULL)
		return NULL;
	n = strlen(dir) + strlen(id) + 32;
	if ((p = malloc(n)) != NULL)
		snprintf(p, n, "%s/%s.%s.%s.pem", dir, id, vp_component_kind_name(k),
		    key ? "key" : "cert");
	free(dir);
	return p;
}

/* path + suffix as a new string. */
static char *
with_suffix(const char *path, const char *suffix)
{
	size_t n = strlen(path) + strlen(suffix) + 1;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s%s", path, suffix);
	return p;
}

static vp_err
fsync_path(const char *dir, vp_error *e)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	vp_err rc = VP_OK;

	if (fd == -1)
		return vp_error_set(e, VP_ERR_IO, "cannot open the directory %s: %s", dir,
		    strerror(errno));
	if (fsync(fd) == -1)
		rc = vp_error_set(e, VP_ERR_IO, "cannot sync the directory %s: %s", dir,
		    strerror(errno));
	close(fd);
	return rc;
}

/* Appends to the configuration text; a refusal shows in vp_buf_failed, checked at the end. */
static void
sb_add(vp_buf *b, const char *s, size_t n)
{
	(void)vp_buf_add(b, s, n, NULL);
}

static void
sb_puts(vp_buf *b, const char *s)
{
	(void)vp_buf_add_str(b, s, NULL);
}

/* s as a double-quoted string of the nats-server configuration language. Control characters
 * other than tab and newline cannot be written: -1. */
static int
sb_quote(vp_buf *b, const char *s)
{
	sb_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };

			sb_add(b, esc, 2);
		} else if (c == '\n') {
			sb_add(b, "\\n", 2);
		} else if (c == '\t') {
			sb_add(b, "\\t", 2);
		} else if (c < 0x20 || c == 0x7f) {
			return -1;
		} else {
			sb_add(b, (const char *)&c, 1);
		}
	}
	sb_add(b, "\"", 1);
	return 0;
}

/* ---- the lock and recovery ---- */

/* Creates the directories and takes the lock that serializes every change of the files (the
 * CLI and the daemon may run at once). *fd is released with unlock(). */
static vp_err
lock_take(const char *datadir, int *fd, vp_error *e)
{
	char *dir = vp_datadir_join(datadir, DIR_CERTS), *lp = vp_datadir_join(datadir, F_LOCKFILE);
	vp_err rc = VP_OK;

	*fd = -1;
	if (dir == NULL || lp == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = vp_mkdir_p(dir, 0700, e)) != VP_OK)
		goto out;
	if ((*fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1) {
		rc = vp_error_set(e, VP_ERR_IO, "cannot open the lock file %s: %s", lp,
		    strerror(errno));
		goto out;
	}
	while (flock(*fd, LOCK_EX) == -1) {
		if (errno == EINTR)
			continue;
		rc = vp_error_set(e, VP_ERR_IO, "cannot lock %s: %s", lp, strerror(errno));
		close(*fd);
		*fd = -1;
		break;
	}
out:
	free(lp);
	free(dir);
	return rc;
}

static void
unlock(int fd)
{
	if (fd >= 0)
		close(fd);   /* releases the flock */
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* "<id>.server" or "<id>.client" with a valid id: a pair this module writes. */
static int
pair_name_ok(const char *name, size_t len)
{
	char id[VP_COMPONENT_ID_MAX + 1];

	if (len > 7 && len - 7 <= VP_COMPONENT_ID_MAX &&
	    (strncmp(name + len - 7, ".server", 7) == 0 ||
	    strncmp(name + len - 7, ".client", 7) == 0)) {
		memcpy(id, name, len - 7);
		id[len - 7] = '\0';
		return vp_component_id_check(id, NULL) == VP_OK;
	}
	return 0;
}

/* A temporary file of vp_file_write_atomic: "<file>.tmp.XXXXXX". */
static int
is_stale_tmp(const char *name)
{
	const char *t = strstr(name, ".pem");

	for (; t != NULL; t = strstr(t + 1, ".pem")) {
		const char *r = t + 4;

		if (strncmp(r, ".new", 4) == 0)
			r += 4;
		if (strncmp(r, ".tmp.", 5) == 0 && strlen(r + 5) == 6)
			return 1;
	}
	return 0;
}

/* Recovery with the lock held. */
static vp_err
recover_locked(const char *datadir, vp_component_log_fn log, void *arg, vp_error *e)
{
	char *dir = vp_component_dir(datadir), *a = NULL, *b = NULL;
	DIR *d = NULL;
	struct dirent *de;
	int pass, changed = 0;
	vp_err rc = VP_OK;

	if (dir == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	/* Pass 0 rolls forward the pairs whose new certificate was written; pass 1 then removes
	 * new keys without a certificate and temporary files. */
	for (pass = 0; pass < 2 && rc == VP_OK; pass++) {
		if ((d = opendir(dir)) == NULL) {
			rc = vp_error_set(e, VP_ERR_IO, "cannot read the directory %s: %s", dir,
			    strerror(errno));
			break;
		}
		while (rc == VP_OK && (de = readdir(d)) != NULL) {
			const char *name = de->d_name;
			size_t len = strlen(name);

			free(a);
			free(b);
			a = b = NULL;
			if (pass == 0 && ends_with(name, ".cert.pem.new") &&
			    pair_name_ok(name, len - 13)) {
				char pair[VP_COMPONENT_ID_MAX + 16];
				char kn[VP_COMPONENT_ID_MAX + 32], ko[VP_COMPONENT_ID_MAX + 32];

				snprintf(pair, sizeof(pair), "%.*s", (int)(len - 13), name);
				snprintf(kn, sizeof(kn), "%s.key.pem.new", pair);
				snprintf(ko, sizeof(ko), "%s.key.pem", pair);
				if ((a = vp_path_join(dir, kn)) == NULL ||
				    (b = vp_path_join(dir, ko)) == NULL) {
					rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
					break;
				}
				if (rename(a, b) == -1 && errno != ENOENT) {
					rc = vp_error_set(e, VP_ERR_IO, "cannot rename %s to %s: %s", a, b,
					    strerror(errno));
					break;
				}
				free(a);
				free(b);
				snprintf(kn, sizeof(kn), "%s.cert.pem", pair);
				if ((a = vp_path_join(dir, name)) == NULL ||
				    (b = vp_path_join(dir, kn)) == NULL) {
					rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
					break;
				}
				if (rename(a, b) == -1) {
					rc = vp_error_set(e, VP_ERR_IO, "cannot rename %s to %s: %s", a, b,
					    strerror(errno));
					break;
				}
				changed = 1;
				logf_(log, arg, "components: finished replacing the %s certificate and key "
				    "that an interrupted run left half done", pair);
			} else if (pass == 1 && ((ends_with(name, ".key.pem.new") &&
			    pair_name_ok(name, len - 12)) || is_stale_tmp(name))) {
				if ((a = vp_path_join(dir, name)) == NULL) {
					rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
					break;
				}
				if (unlink(a) == -1 && errno != ENOENT) {
					rc = vp_error_set(e, VP_ERR_IO, "cannot delete %s: %s", a,
					    strerror(errno));
					break;
				}
				changed = 1;
				logf_(log, arg, "components: deleted %s, left by an interrupted run (the "
				    "certificate in place is kept)", name);
			}
		}
		closedir(d);
		d = NULL;
	}
	if (rc == VP_OK && changed)
		rc = fsync_path(dir, e);
	free(a);
	free(b);
	free(dir);
	return rc;
}

vp_err
vp_component_recover(const char *datadir, vp_component_log_fn log, void *log_arg, vp_error *e)
{
	int fd;
	vp_err rc;

	if ((rc = lock_take(datadir, &fd, e)) != VP_OK)
		return rc;
	rc = recover_locked(datadir, log, log_arg, e);
	unlock(fd);
	return rc;
}

/* ---- the state of a certificate ---- */

vp_err
vp_component_renew_days(vp_store *s, int *days, vp_error *e)
{
	unsigned char *v = NULL;
	size_t len = 0, i;
	long d = 0;
	vp_err rc;

	*days = VP_COMPONENT_RENEW_DAYS;
	/* The site setting (vmspki settings set component.renew_days) first; 0 follows the
	 * lifecycle window. The bare store key older versions documented is still read. */
	if (vp_setting_is_set(s, VP_COMPONENT_RENEW_SETTING)) {
		int warn;

		if ((rc = vp_setting_get_int(s, VP_COMPONENT_RENEW_SETTING, &d, e)) != VP_OK)
			return rc;
		if (d > 0) {
			*days = (int)d;
			return VP_OK;
		}
		return vp_lifecycle_windows(s, &warn, days, e);
	}
	rc = vp_store_kv_get(s, VP_COMPONENT_RENEW_KEY, &v, &len, e);
	if (rc == VP_ERR_NOTFOUND) {
		/* No component window of its own: the site's (lifecycle.renew_days). */
		int warn;

		vp_error_clear(e);
		return vp_lifecycle_windows(s, &warn, days, e);
	}
	if (rc != VP_OK)
		return rc;
	for (i = 0; i < len && d <= RENEW_DAYS_MAX; i++) {
		if (v[i] < '0' || v[i] > '9') {
			d = -1;
			break;
		}
		d = d * 10 + (v[i] - '0');
	}
	free(v);
	if (len == 0 || d < 1 || d > RENEW_DAYS_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "the store key %s must be a whole number of "
		    "days from 1 to %d: set the setting instead (vmspki settings set %s N)",
		    VP_COMPONENT_RENEW_KEY, RENEW_DAYS_MAX, VP_COMPONENT_RENEW_SETTING);
	*days = (int)d;
	return VP_OK;
}

static void
load_pair(const char *datadir, const char *id, vp_component_kind k, X509 **cert,
    EVP_PKEY **key)
{
	char *cp = vp_component_file(datadir, id, k, 0), *kp = vp_component_file(datadir, id, k, 1);
	FILE *f;

	*cert = NULL;
	*key = NULL;
	if (cp != NULL && (f = fopen(cp, "re")) != NULL) {
		*cert = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (kp != NULL && (f = fopen(kp, "re")) != NULL) {
		*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	ERR_clear_error();
	free(cp);
	free(kp);
}

/* Fills c for the certificate of kind k of id (c->wanted set by the caller). host is needed
 * for server certificates. */
static vp_err
cert_state(const vp_ca *ca, const char *datadir, const char *id, vp_component_kind k,
    const vp_netif *host, int days, int64_t now, vp_component_cert *c, vp_error *e)
{
	X509 *x = NULL;
	EVP_PKEY *key = NULL;
	char *pem = NULL;
	size_t pemlen = 0;
	int from_ca;
	vp_err rc = VP_OK;

	c->present = 0;
	c->serial[0] = '\0';
	c->reason[0] = '\0';
	c->not_before = c->not_after = 0;
	c->status = "Missing";
	load_pair(datadir, id, k, &x, &key);
	if (x == NULL || key == NULL) {
		snprintf(c->reason, sizeof(c->reason), "%s", x == NULL ?
		    "the certificate is missing" : "the key is missing");
		goto out;
	}
	if (X509_check_private_key(x, key) != 1) {
		ERR_clear_error();
		snprintf(c->reason, sizeof(c->reason), "the key does not match the certificate");
		goto out;
	}
	c->present = 1;
	if ((rc = vp_x509_serial_hex(x, c->serial, sizeof(c->serial), e)) != VP_OK)
		goto out;
	c->not_before = vp_asn1_time_unix(X509_get0_notBefore(x));
	c->not_after = vp_asn1_time_unix(X509_get0_notAfter(x));
	from_ca = X509_check_issued(vp_ca_cert(ca), x) == X509_V_OK &&
	    X509_verify(x, X509_get0_pubkey(vp_ca_cert(ca))) == 1;
	ERR_clear_error();
	if (!from_ca) {
		c->status = "Issued by another CA";
		snprintf(c->reason, sizeof(c->reason), "issued by another CA");
	} else if (now >= c->not_after) {
		c->status = "Certificate has expired";
		snprintf(c->reason, sizeof(c->reason), "expired");
	} else if (now >= c->not_after - (int64_t)days * 86400) {
		c->status = "Certificate about to expire";
		/* Not renewed when it already ends with the CA: a new one would end the same day,
		 * and every run would make one (the CA's own alarm says what to do). */
		if (c->not_after < vp_asn1_time_unix(X509_get0_notAfter(vp_ca_cert(ca))) - 86400)
			snprintf(c->reason, sizeof(c->reason), "expires within %d days", days);
	} else {
		c->status = "OK";
		if (k == VP_COMPONENT_SERVER && host != NULL) {
			if ((rc = vp_x509_to_pem(x, &pem, &pemlen, e)) != VP_OK)
				goto out;
			if (!vp_netif_covered_by(host, pem))
				snprintf(c->reason, sizeof(c->reason),
				    "does not name every current name and address of the host");
		}
	}
out:
	free(pem);
	EVP_PKEY_free(key);
	X509_free(x);
	return rc;
}

typedef struct rows {
	vp_store_component *r;
	size_t n, cap;
	int oom;
} rows;

static int
rows_add(const vp_store_component *c, void *arg)
{
	rows *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16, size;
		vp_store_component *nr;

		if (cap < l->cap || !vp_size_mul(cap, sizeof(*nr), &size) ||
		    (nr = realloc(l->r, size)) == NULL) {
			l->oom = 1;
			return 1;
		}
		l->r = nr;
		l->cap = cap;
	}
	l->r[l->n++] = *c;
	return 0;
}

static vp_err
rows_all(vp_store *s, rows *l, vp_error *e)
{
	vp_err rc;

	memset(l, 0, sizeof(*l));
	rc = vp_store_component_list(s, rows_add, l, e);
	if (l->oom)
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	return rc;
}

static int
rows_need_host(const rows *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->r[i].server)
			return 1;
	return 0;
}

static vp_err
info_fill(const vp_ca *ca, const char *datadir, const vp_store_component *r,
    const vp_netif *host, int days, int64_t now, vp_component_info *out, vp_error *e)
{
	vp_err rc = VP_OK;
	int k;

	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", r->id);
	out->created_at = r->created_at;
	out->cert[VP_COMPONENT_SERVER].wanted = r->server;
	out->cert[VP_COMPONENT_CLIENT].wanted = r->client;
	for (k = 0; k < 2 && rc == VP_OK; k++)
		if (out->cert[k].wanted)
			rc = cert_state(ca, datadir, r->id, (vp_component_kind)k, host, days, now,
			    &out->cert[k], e);
	return rc;
}

vp_err
vp_component_list(vp_store *s, const vp_ca *ca, const char *datadir, vp_component_info **out,
    size_t *n, vp_error *e)
{
	vp_component_info *all = NULL;
	vp_netif *host = NULL;
	rows l;
	int days, fd = -1;
	int64_t now = (int64_t)time(NULL);
	size_t i;
	vp_err rc;

	*out = NULL;
	*n = 0;
	memset(&l, 0, sizeof(l));
	if ((rc = vp_component_renew_days(s, &days, e)) != VP_OK ||
	    (rc = lock_take(datadir, &fd, e)) != VP_OK ||
	    (rc = recover_locked(datadir, NULL, NULL, e)) != VP_OK ||
	    (rc = rows_all(s, &l, e)) != VP_OK)
		goto out;
	if (rows_need_host(&l) && (rc = vp_netif_collect(&host, e)) != VP_OK)
		goto out;
	if (l.n > 0 && (all = calloc(l.n, sizeof(*all))) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < l.n && rc == VP_OK; i++)
		rc = info_fill(ca, datadir, &l.r[i], host, days, now, &all[i], e);
	if (rc != VP_OK)
		goto out;
	*out = all;
	*n = l.n;
	all = NULL;
out:
	unlock(fd);
	free(all);
	free(l.r);
	vp_netif_free(host);
	return rc;
}

vp_err
vp_component_get(vp_store *s, const vp_ca *ca, const char *datadir, const char *id,
    vp_component_info *out, vp_error *e)
{
	vp_store_component r;
	vp_netif *host = NULL;
	int days, fd = -1;
	vp_err rc;

	if ((rc = vp_component_id_check(id, e)) != VP_OK ||
	    (rc = vp_component_renew_days(s, &days, e)) != VP_OK ||
	    (rc = vp_store_component_get(s, id, &r, e)) != VP_OK ||
	    (rc = lock_take(datadir, &fd, e)) != VP_OK ||
	    (rc = recover_locked(datadir, NULL, NULL, e)) != VP_OK)
		goto out;
	if (r.server && (rc = vp_netif_collect(&host, e)) != VP_OK)
		goto out;
	rc = info_fill(ca, datadir, &r, host, days, (int64_t)time(NULL), out, e);
out:
	unlock(fd);
	vp_netif_free(host);
	return rc;
}

/* ---- issuing and writing a pair ---- */

static vp_err
issue_kind(const vp_ca *ca, const vp_netif *host, const char *id, vp_component_kind k,
    vp_issued **out, vp_error *e)
{
	char email[VP_COMPONENT_ID_MAX + 64];
	const char *emails[1] = { email };
	vp_issue_req req = {
		.generate_key = 1, .cn = id, .owner_kind = "component", .owner_id = id,
	};

	if (k == VP_COMPONENT_SERVER) {
		req.profile = "component-server";
		req.dns = (const char *const *)host->dns;
		req.ndns = host->ndns;
		req.ip = (const char *const *)host->ip;
		req.nip = host->nip;
	} else {
		req.profile = "component-client";
		snprintf(email, sizeof(email), "%s.component@%s", id, VP_COMPONENT_EMAIL_DOMAIN);
		req.email = emails;
		req.nemail = 1;
	}
	return vp_issue_sign(ca, &req, out, e);
}

/* The CA and the issuers above it, as PEM, appended to each certificate file. */
static vp_err
ca_chain_pem(const vp_ca *ca, char **out, size_t *len, vp_error *e)
{
	char *a = NULL, *b = NULL;
	size_t an = 0, bn = 0;
	vp_err rc;

	*out = NULL;
	if ((rc = vp_x509_to_pem(vp_ca_cert(ca), &a, &an, e)) != VP_OK ||
	    (rc = vp_x509_chain_to_pem(vp_ca_chain(ca), &b, &bn, e)) != VP_OK)
		goto out;
	if ((*out = malloc(an + bn + 1)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*out, a, an);
	memcpy(*out + an, b, bn);
	(*out)[an + bn] = '\0';
	*len = an + bn;
out:
	free(a);
	free(b);
	return rc;
}

/* Replaces the pair: key.new, cert.new (each written atomically), then key.new over the key
 * and cert.new over the certificate. A kill at any point is undone or finished by
 * recover_locked, so a key always matches its certificate. The lock is held. */
static vp_err
write_pair(const char *datadir, const char *id, vp_component_kind k, const vp_issued *c,
    const char *chain, size_t chainlen, vp_error *e)
{
	char *kp = vp_component_file(datadir, id, k, 1), *cp = vp_component_file(datadir, id, k, 0);
	char *kn = NULL, *cn = NULL, *kpem = NULL, *cpem = NULL, *all = NULL, *dir = NULL;
	size_t kl = 0, cl = 0;
	vp_err rc;

	if (kp == NULL || cp == NULL || (kn = with_suffix(kp, ".new")) == NULL ||
	    (cn = with_suffix(cp, ".new")) == NULL || (dir = vp_component_dir(datadir)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = vp_key_to_pem(c->key, &kpem, &kl, e)) != VP_OK ||
	    (rc = vp_x509_to_pem(c->cert, &cpem, &cl, e)) != VP_OK)
		goto out;
	if ((all = malloc(cl + chainlen + 1)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(all, cpem, cl);
	memcpy(all + cl, chain, chainlen);
	all[cl + chainlen] = '\0';
	if ((rc = vp_file_write_atomic(kn, kpem, kl, 0600, e)) != VP_OK ||
	    (rc = vp_file_write_atomic(cn, all, cl + chainlen, 0644, e)) != VP_OK)
		goto out;
	if (rename(kn, kp) == -1) {
		rc = vp_error_set(e, VP_ERR_IO, "cannot rename %s to %s: %s", kn, kp, strerror(errno));
		goto out;
	}
	if (rename(cn, cp) == -1) {
		rc = vp_error_set(e, VP_ERR_IO, "cannot rename %s to %s: %s", cn, cp, strerror(errno));
		goto out;
	}
	rc = fsync_path(dir, e);
out:
	free(all);
	free(cpem);
	vp_secret_free(kpem, kl);
	free(dir);
	free(cn);
	free(kn);
	free(cp);
	free(kp);
	return rc;
}

/* Signs the kinds of id listed in want[] (and records them with one audit row for action),
 * then writes their files. iss[k] keeps what was issued, for the caller's report. */
static vp_err
issue_and_write(vp_store *s, const vp_ca *ca, const char *datadir, const vp_netif *host,
    const vp_store_component *row, const int want[2], const char *action, const char *detail,
    const char *actor, vp_issued *iss[2], vp_error *e)
{
	vp_issued *batch[2];
	char *chain = NULL;
	size_t nb = 0, chainlen = 0;
	int k;
	vp_err rc;

	iss[0] = iss[1] = NULL;
	for (k = 0; k < 2; k++) {
		if (!want[k])
			continue;
		if ((rc = issue_kind(ca, host, row->id, (vp_component_kind)k, &iss[k], e)) != VP_OK)
			goto fail;
		batch[nb++] = iss[k];
	}
	if ((rc = ca_chain_pem(ca, &chain, &chainlen, e)) != VP_OK)
		goto fail;
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		goto fail;
	if ((rc = vp_issue_record(s, batch, nb, actor, e)) != VP_OK ||
	    (rc = vp_store_component_put(s, row, e)) != VP_OK ||
	    (rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", action,
	    nb == 1 ? batch[0]->rec.serial : NULL, detail, e)) != VP_OK) {
		vp_store_rollback(s);
		goto fail;
	}
	if ((rc = vp_store_commit(s, e)) != VP_OK) {
		vp_store_rollback(s);
		goto fail;
	}
	for (k = 0; k < 2; k++) {
		if (iss[k] == NULL)
			continue;
		if ((rc = write_pair(datadir, row->id, (vp_component_kind)k, iss[k], chain, chainlen,
		    e)) != VP_OK) {
			vp_error_prefix(e, "the new %s certificate of %s (serial %s) was recorded but "
			    "its files were not written (`vmspki component renew %s` tries again)",
			    vp_component_kind_name((vp_component_kind)k), row->id, iss[k]->rec.serial,
			    row->id);
			goto fail;
		}
	}
	free(chain);
	return VP_OK;
fail:
	free(chain);
	vp_issued_free(iss[0]);
	vp_issued_free(iss[1]);
	iss[0] = iss[1] = NULL;
	return rc;
}

vp_err
vp_component_add(vp_store *s, const vp_ca *ca, const char *datadir, const char *id,
    int server, int client, const char *actor, vp_component_info *out, vp_error *e)
{
	vp_store_component row;
	vp_netif *host = NULL;
	vp_issued *iss[2] = { NULL, NULL };
	char detail[200];
	int want[2], days, fd = -1, existed = 1;
	vp_err rc;

	if (!server && !client)
		server = client = 1;
	if ((rc = vp_component_id_check(id, e)) != VP_OK ||
	    (rc = vp_component_renew_days(s, &days, e)) != VP_OK)
		return rc;
	if ((rc = lock_take(datadir, &fd, e)) != VP_OK ||
	    (rc = recover_locked(datadir, NULL, NULL, e)) != VP_OK)
		goto out;
	if ((rc = vp_store_component_get(s, id, &row, e)) == VP_ERR_NOTFOUND) {
		vp_error_clear(e);
		memset(&row, 0, sizeof(row));
		snprintf(row.id, sizeof(row.id), "%s", id);
		existed = 0;
	} else if (rc != VP_OK) {
		goto out;
	}
	want[VP_COMPONENT_SERVER] = server && !row.server;
	want[VP_COMPONENT_CLIENT] = client && !row.client;
	if (!want[0] && !want[1]) {
		rc = vp_error_set(e, VP_ERR_EXISTS, "the component %s exists already with %s: "
		    "`vmspki component renew %s --force` replaces its certificates", id,
		    row.server && row.client ? "a server and a client certificate" :
		    row.server ? "a server certificate" : "a client certificate", id);
		goto out;
	}
	if (vp_ca_key(ca) == NULL) {
		rc = vp_error_set(e, VP_ERR_PASSPHRASE, "issuing the certificates of component %s "
		    "needs the CA key: give the CA passphrase", id);
		goto out;
	}
	if (want[VP_COMPONENT_SERVER] && (rc = vp_netif_collect(&host, e)) != VP_OK)
		goto out;
	row.server |= want[VP_COMPONENT_SERVER];
	row.client |= want[VP_COMPONENT_CLIENT];
	snprintf(detail, sizeof(detail), "component %s%s: %s%s%s", id, existed ? " (existing)" : "",
	    want[0] ? "server" : "", want[0] && want[1] ? " and " : "", want[1] ? "client" : "");
	if ((rc = issue_and_write(s, ca, datadir, host, &row, want, "component.add", detail, actor,
	    iss, e)) != VP_OK)
		goto out;
	if (out != NULL && (rc = vp_store_component_get(s, id, &row, e)) == VP_OK)
		rc = info_fill(ca, datadir, &row, host, days, (int64_t)time(NULL), out, e);
out:
	unlock(fd);
	vp_issued_free(iss[0]);
	vp_issued_free(iss[1]);
	vp_netif_free(host);
	return rc;
}

vp_err
vp_component_remove(vp_store *s, const char *datadir, const char *id, const char *actor,
    vp_error *e)
{
	static const char *const suffixes[] = { "", ".new" };
	char detail[120];
	int fd = -1, k, key, sfx, changed = 0;
	vp_err rc;

	if ((rc = vp_component_id_check(id, e)) != VP_OK)
		return rc;
	if ((rc = lock_take(datadir, &fd, e)) != VP_OK ||
	    (rc = recover_locked(datadir, NULL, NULL, e)) != VP_OK)
		goto out;
	/* The row first: a failure after it leaves files that nothing renews or maps. */
	snprintf(detail, sizeof(detail), "component %s", id);
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		goto out;
	if ((rc = vp_store_component_delete(s, id, e)) != VP_OK ||
	    (rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", "component.remove",
	    NULL, detail, e)) != VP_OK) {
		vp_store_rollback(s);
		goto out;
	}
	if ((rc = vp_store_commit(s, e)) != VP_OK) {
		vp_store_rollback(s);
		goto out;
	}
	for (k = 0; k < 2 && rc == VP_OK; k++)
		for (key = 0; key < 2 && rc == VP_OK; key++)
			for (sfx = 0; sfx < 2 && rc == VP_OK; sfx++) {
				char *p = vp_component_file(datadir, id, (vp_component_kind)k, key);
				char *q = p != NULL ? with_suffix(p, suffixes[sfx]) : NULL;

				if (q == NULL)
					rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
				else if (unlink(q) == 0)
					changed = 1;
				else if (errno != ENOENT)
					rc = vp_error_set(e, VP_ERR_IO, "the component %s was removed from "
					    "the store but its file %s could not be deleted: %s", id, q,
					    strerror(errno));
				free(q);
				free(p);
			}
	if (rc == VP_OK && changed) {
		char *dir = vp_component_dir(datadir);

		rc = dir == NULL ? vp_error_set(e, VP_ERR_NOMEM, "out of memory") :
		    fsync_path(dir, e);
		free(dir);
	}
out:
	unlock(fd);
	return rc;
}

/* ---- renewal ---- */

vp_err
vp_component_renew(vp_store *s, const vp_ca *ca, const char *datadir, const char *const *ids,
    size_t n, int force, const char *actor, vp_component_log_fn log, void *log_arg,
    vp_component_outcome **out, size_t *nout, vp_error *e)
{
	vp_component_conf *conf = NULL;
	vp_component_outcome *oc = NULL;
	vp_component_info info;
	vp_netif *host = NULL;
	rows l;
	int days, fd = -1, any_due = 0, k;
	int64_t now = (int64_t)time(NULL);
	size_t i, j;
	vp_err rc;

	*out = NULL;
	*nout = 0;
	memset(&l, 0, sizeof(l));
	for (i = 0; i < n; i++)
		if ((rc = vp_component_id_check(ids[i], e)) != VP_OK)
			return rc;
	if ((rc = vp_component_renew_days(s, &days, e)) != VP_OK ||
	    (rc = vp_component_conf_load(datadir, &conf, e)) != VP_OK)
		goto out;
	if ((rc = lock_take(datadir, &fd, e)) != VP_OK ||
	    (rc = recover_locked(datadir, log, log_arg, e)) != VP_OK)
		goto out;
	if (n == 0) {
		if ((rc = rows_all(s, &l, e)) != VP_OK)
			goto out;
	} else {
		for (i = 0; i < n; i++) {
			vp_store_component r;

			for (j = 0; j < i && strcmp(ids[i], ids[j]) != 0; j++)
				;
			if (j < i)
				continue;   /* named twice */
			if ((rc = vp_store_component_get(s, ids[i], &r, e)) != VP_OK ||
			    rows_add(&r, &l) != 0) {
				if (l.oom)
					rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
				goto out;
			}
		}
	}
	if (rows_need_host(&l) && (rc = vp_netif_collect(&host, e)) != VP_OK)
		goto out;
	if (l.n > 0 && (oc = calloc(l.n, sizeof(*oc))) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* What is due, before anything is issued: a locked CA key is told at once. */
	for (i = 0; i < l.n; i++) {
		if ((rc = info_fill(ca, datadir, &l.r[i], host, days, now, &info, e)) != VP_OK)
			goto out;
		snprintf(oc[i].id, sizeof(oc[i].id), "%s", l.r[i].id);
		for (k = 0; k < 2; k++) {
			vp_component_cert *c = &info.cert[k];

			if (!(oc[i].wanted[k] = c->wanted))
				continue;
			if (force || c->reason[0] != '\0') {
				oc[i].renewed[k] = 1;   /* to do; cleared if it fails */
				snprintf(oc[i].reason[k], sizeof(oc[i].reason[k]), "%s",
				    force ? "forced" : c->reason);
				any_due = 1;
			}
			snprintf(oc[i].serial[k], sizeof(oc[i].serial[k]), "%s", c->serial);
			oc[i].not_after[k] = c->not_after;
		}
	}
	if (any_due && vp_ca_key(ca) == NULL) {
		for (i = 0; i < l.n; i++)
			for (k = 0; k < 2; k++)
				if (oc[i].renewed[k]) {
					rc = vp_error_set(e, VP_ERR_PASSPHRASE, "the %s certificate of "
					    "component %s needs renewing (%s) but the CA key is locked: give "
					    "the CA passphrase", kind_names[k], oc[i].id, oc[i].reason[k]);
					goto out;
				}
	}
	for (i = 0; i < l.n; i++) {
		vp_issued *iss[2] = { NULL, NULL };
		char detail[500];

		if (!oc[i].renewed[0] && !oc[i].renewed[1])
			continue;
		snprintf(detail, sizeof(detail), "component %s:%s%s%s%s%s%s%s", oc[i].id,
		    oc[i].renewed[0] ? " server (" : "", oc[i].renewed[0] ? oc[i].reason[0] : "",
		    oc[i].renewed[0] ? ")" : "", oc[i].renewed[1] ? " client (" : "",
		    oc[i].renewed[1] ? oc[i].reason[1] : "", oc[i].renewed[1] ? ")" : "",
		    force ? " on demand" : "");
		if ((rc = issue_and_write(s, ca, datadir, host, &l.r[i], oc[i].renewed,
		    "component.renew", detail, actor, iss, e)) != VP_OK) {
			/* Those renewed so far are still told to reload. */
			for (j = i; j < l.n; j++)
				oc[j].renewed[0] = oc[j].renewed[1] = 0;
			break;
		}
		for (k = 0; k < 2; k++) {
			if (iss[k] == NULL)
				continue;
			snprintf(oc[i].serial[k], sizeof(oc[i].serial[k]), "%s", iss[k]->rec.serial);
			oc[i].not_after[k] = iss[k]->rec.not_after;
			logf_(log, log_arg, "component %s: renewed the %s certificate (%s): serial %s",
			    oc[i].id, kind_names[k], oc[i].reason[k], oc[i].serial[k]);
		}
		vp_issued_free(iss[0]);
		vp_issued_free(iss[1]);
	}
	unlock(fd);
	fd = -1;
	/* Reload commands run without the lock: they may take a while, and may call vmspki. */
	for (i = 0; i < l.n; i++) {
		const vp_component_conf_entry *ce;

		if ((!oc[i].renewed[0] && !oc[i].renewed[1]) ||
		    (ce = vp_component_conf_find(conf, oc[i].id)) == NULL || ce->reload == NULL)
			continue;
		oc[i].reload_ran = 1;
		vp_component_run_reload(oc[i].id, ce->reload, VP_COMPONENT_RELOAD_TIMEOUT, log,
		    log_arg, &oc[i].reload_status, oc[i].reload_result,
		    sizeof(oc[i].reload_result));
	}
	if (rc != VP_OK)
		goto out;
	*out = oc;
	*nout = l.n;
	oc = NULL;
out:
	unlock(fd);
	free(oc);
	free(l.r);
	vp_netif_free(host);
	vp_component_conf_free(conf);
	return rc;
}

/* ---- components.json ---- */

int
vp_nats_subject_ok(const char *s)
{
	size_t len = strlen(s), i, tok = 0;

	if (len == 0 || len > SUBJECT_MAX)
		return 0;
	for (i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (tok == 0)
				return 0;   /* empty token */
			if (tok == 1 && s[i - 1] == '>' && c != '\0')
				return 0;   /* '>' only as the last token */
			tok = 0;
			continue;
		}
		if (c <= 0x20 || c >= 0x7f)
			return 0;
		if ((c == '*' || c == '>') &&
		    ((i > 0 && s[i - 1] != '.') || (s[i + 1] != '.' && s[i + 1] != '\0')))
			return 0;   /* wildcards are whole tokens */
		tok++;
	}
	return 1;
}

void
vp_component_conf_free(vp_component_conf *c)
{
	size_t i, j;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		for (j = 0; j < c->c[i].npublish; j++)
			free(c->c[i].publish[j]);
		for (j = 0; j < c->c[i].nsubscribe; j++)
			free(c->c[i].subscribe[j]);
		free(c->c[i].publish);
		free(c->c[i].subscribe);
		free(c->c[i].reload);
	}
	free(c->c);
	free(c);
}

const vp_component_conf_entry *
vp_component_conf_find(const vp_component_conf *c, const char *id)
{
	size_t i;

	for (i = 0; c != NULL && i < c->n; i++)
		if (strcmp(c->c[i].id, id) == 0)
			return &c->c[i];
	return NULL;
}

static vp_err
conf_subjects(json_t *a, const char *what, const char *id, const char *key, char ***out,
    size_t *n, vp_error *e)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return vp_error_set(e, VP_ERR_INVALID, "%s: \"%s\" of component %s must be a list of "
		    "NATS subjects, such as [\"events.>\"]", what, key, id);
	if (json_array_size(a) > SUBJECTS_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "%s: \"%s\" of component %s has more than %d "
		    "subjects", what, key, id, SUBJECTS_MAX);
	if (json_array_size(a) > 0 && (*out = calloc(json_array_size(a), sizeof(char *))) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	json_array_foreach(a, i, v) {
		char shown[80];

		if (!json_is_string(v))
			return vp_error_set(e, VP_ERR_INVALID, "%s: \"%s\" of component %s: entry %zu "
			    "is not a string", what, key, id, i + 1);
		if (!vp_nats_subject_ok(json_string_value(v))) {
			safe_copy(shown, sizeof(shown), json_string_value(v));
			return vp_error_set(e, VP_ERR_INVALID, "%s: \"%s\" of component %s: \"%s\" is "
			    "not a NATS subject (printable characters without spaces, tokens separated "
			    "by single dots, '*' a whole token, '>' only the whole last token, at most "
			    "%d characters)", what, key, id, shown, SUBJECT_MAX);
		}
		if (((*out)[i] = vp_strdup(json_string_value(v))) == NULL)
			return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		(*n)++;
	}
	return VP_OK;
}

vp_err
vp_component_conf_parse(const char *text, size_t len, const char *what,
    vp_component_conf **out, vp_error *e)
{
	vp_component_conf *c = NULL;
	json_error_t jerr;
	json_t *root = NULL, *comps, *v, *f;
	const char *key, *fk;
	char shown[80];
	vp_err rc = VP_OK;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		safe_copy(shown, sizeof(shown), jerr.text);
		rc = vp_error_set(e, VP_ERR_INVALID, "%s is not valid JSON: %s (line %d, column %d)",
		    what, shown, jerr.line, jerr.column);
		goto out;
	}
	if (!json_is_object(root)) {
		rc = vp_error_set(e, VP_ERR_INVALID, "%s must hold a JSON object: "
		    "{\"components\": {\"ID\": {\"publish\": [...], \"subscribe\": [...], "
		    "\"reload\": \"...\"}}}", what);
		goto out;
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "components") != 0) {
			safe_copy(shown, sizeof(shown), key);
			rc = vp_error_set(e, VP_ERR_INVALID, "%s: unknown key \"%s\": the file holds "
			    "only \"components\"", what, shown);
			goto out;
		}
	}
	if ((comps = json_object_get(root, "components")) == NULL)
		goto done;
	if (!json_is_object(comps)) {
		rc = vp_error_set(e, VP_ERR_INVALID, "%s: \"components\" must be an object whose "
		    "keys are component ids", what);
		goto out;
	}
	if (json_object_size(comps) > 0 &&
	    (c->c = calloc(json_object_size(comps), sizeof(*c->c))) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	json_object_foreach(comps, key, v) {
		vp_component_conf_entry *ce = &c->c[c->n];

		if ((rc = vp_component_id_check(key, e)) != VP_OK) {
			vp_error_prefix(e, "%s", what);
			goto out;
		}
		if (!json_is_object(v)) {
			rc = vp_error_set(e, VP_ERR_INVALID, "%s: component %s must be an object with "
			    "\"publish\", \"subscribe\" and \"reload\"", what, key);
			goto out;
		}
		snprintf(ce->id, sizeof(ce->id), "%s", key);
		c->n++;
		json_object_foreach(v, fk, f) {
			if (strcmp(fk, "publish") == 0) {
				rc = conf_subjects(f, what, key, fk, &ce->publish, &ce->npublish, e);
			} else if (strcmp(fk, "subscribe") == 0) {
				rc = conf_subjects(f, what, key, fk, &ce->subscribe, &ce->nsubscribe, e);
			} else if (strcmp(fk, "reload") == 0) {
				if (!json_is_string(f) || json_string_length(f) == 0 ||
				    json_string_length(f) > RELOAD_MAX)
					rc = vp_error_set(e, VP_ERR_INVALID, "%s: \"reload\" of component %s "
					    "must be a shell command of 1 to %d bytes", what, key,
					    RELOAD_MAX);
				else if ((ce->reload = vp_strdup(json_string_value(f))) == NULL)
					rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			} else {
				safe_copy(shown, sizeof(shown), fk);
				rc = vp_error_set(e, VP_ERR_INVALID, "%s: unknown key \"%s\" in component "
				    "%s: a component takes \"publish\", \"subscribe\" and \"reload\"", what,
				    shown, key);
			}
			if (rc != VP_OK)
				goto out;
		}
	}
done:
	*out = c;
	c = NULL;
out:
	json_decref(root);
	vp_component_conf_free(c);
	return rc;
}

vp_err
vp_component_conf_load(const char *datadir, vp_component_conf **out, vp_error *e)
{
	char *path = vp_datadir_join(datadir, F_CONF);
	unsigned char *text = NULL;
	size_t len = 0;
	vp_err rc;

	*out = NULL;
	if (path == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		free(path);
		if ((*out = calloc(1, sizeof(**out))) == NULL)
			return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		return VP_OK;
	}
	if ((rc = vp_file_read(path, VP_FILE_MAX, &text, &len, e)) == VP_OK)
		rc = vp_component_conf_parse((const char *)text, len, path, out, e);
	free(text);
	free(path);
	return rc;
}

/* ---- the nats-server configuration ---- */

static void
sb_subjects(vp_buf *b, const char *what, char *const *subj, size_t n)
{
	size_t i;

	sb_puts(b, what);
	if (n == 0) {
		sb_puts(b, ": { deny: [\">\"] }");   /* nothing configured: nothing allowed */
		return;
	}
	sb_puts(b, ": { allow: [");
	for (i = 0; i < n; i++) {
		if (i > 0)
			sb_puts(b, ", ");
		sb_quote(b, subj[i]);   /* checked subjects are printable */
	}
	sb_puts(b, "] }");
}

vp_err
vp_component_nats_config(vp_store *s, const char *datadir, const char *id, char **out,
    size_t *len, vp_error *e)
{
	vp_component_conf *conf = NULL;
	vp_store_component row;
	vp_buf b;
	char *absdir = NULL, *p = NULL;
	rows l;
	size_t i;
	int fd = -1;
	vp_err rc;

	*out = NULL;
	*len = 0;
	memset(&l, 0, sizeof(l));
	/* the old grower refused a block over 16 MiB, its NUL included */
	vp_buf_init(&b, "the nats-server configuration", CONF_OUT_MAX - 1, 0);
	if ((rc = vp_component_id_check(id, e)) != VP_OK)
		return rc;
	if ((rc = lock_take(datadir, &fd, e)) != VP_OK ||
	    (rc = recover_locked(datadir, NULL, NULL, e)) != VP_OK)
		goto out;
	unlock(fd);
	fd = -1;
	if ((rc = vp_store_component_get(s, id, &row, e)) != VP_OK)
		goto out;
	if (!row.server) {
		rc = vp_error_set(e, VP_ERR_INVALID, "the component %s has no server certificate, so "
		    "it cannot be the broker: `vmspki component add %s --server` gives it one", id, id);
		goto out;
	}
	if ((rc = vp_component_conf_load(datadir, &conf, e)) != VP_OK ||
	    (rc = rows_all(s, &l, e)) != VP_OK)
		goto out;
	if ((absdir = realpath(datadir, NULL)) == NULL) {
		rc = vp_error_set(e, VP_ERR_IO, "cannot resolve the data directory %s: %s", datadir,
		    strerror(errno));
		goto out;
	}
	sb_puts(&b, "# written by vmspki component nats-config ");
	sb_puts(&b, id);
	sb_puts(&b, "\ntls {\n");
	for (i = 0; i < 3; i++) {
		static const char *const names[3] = { "cert_file", "key_file", "ca_file" };
		size_t n = strlen(absdir) + strlen(id) + 64;

		if ((p = malloc(n)) == NULL) {
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (i < 2)
			snprintf(p, n, "%s/%s/%s.server.%s.pem", absdir, vp_path_name(DIR_CERTS),
			    id, i == 0 ? "cert" : "key");
		else
			snprintf(p, n, "%s/%s", absdir, vp_path_name(VP_PATH_CA_CERT));
		sb_puts(&b, "  ");
		sb_puts(&b, names[i]);
		sb_puts(&b, ": ");
		if (sb_quote(&b, p) != 0) {
			rc = vp_error_set(e, VP_ERR_INVALID, "the path of the data directory contains "
			    "control characters: nats-server cannot be given it; use another --data");
			goto out;
		}
		sb_puts(&b, "\n");
		free(p);
		p = NULL;
	}
	sb_puts(&b, "  verify_and_map: true\n}\nauthorization {\n  users = [\n");
	for (i = 0; i < l.n; i++) {
		const vp_component_conf_entry *ce = vp_component_conf_find(conf, l.r[i].id);
		char user[VP_COMPONENT_ID_MAX + 64];

		if (!l.r[i].client)
			continue;
		snprintf(user, sizeof(user), "%s.component@%s", l.r[i].id, VP_COMPONENT_EMAIL_DOMAIN);
		sb_puts(&b, "    { user: ");
		sb_quote(&b, user);
		sb_puts(&b, ", permissions: { ");
		sb_subjects(&b, "publish", ce != NULL ? ce->publish : NULL,
		    ce != NULL ? ce->npublish : 0);
		sb_puts(&b, ", ");
		sb_subjects(&b, "subscribe", ce != NULL ? ce->subscribe : NULL,
		    ce != NULL ? ce->nsubscribe : 0);
		sb_puts(&b, " } }\n");
	}
	sb_puts(&b, "  ]\n}\n");
	if (vp_buf_failed(&b)) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "the nats-server configuration is too large or "
		    "memory ran out");
		goto out;
	}
	if ((rc = vp_buf_take(&b, out, len, e)) != VP_OK)
		goto out;
out:
	unlock(fd);
	vp_buf_free(&b);
	free(p);
	free(absdir);
	free(l.r);
	vp_component_conf_free(conf);
	return rc;
}

/* ---- reload commands ---- */

/* The environment of a reload command: ours without the passphrases, with VMSPKI_COMPONENT. */
static char **
child_env(const char *id)
{
	size_t n = 0, i, k = 0;
	char **env, *mine;

	while (environ != NULL && environ[n] != NULL)
		n++;
	if ((env = calloc(n + 2, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (strncmp(environ[i], "VMSPKI_PASSPHRASE=", 18) == 0 ||
		    strncmp(environ[i], "VMSPKI_P12_PASSPHRASE=", 22) == 0 ||
		    strncmp(environ[i], "VMSPKI_COMPONENT=", 17) == 0)
			continue;
		env[k++] = environ[i];
	}
	if ((mine = malloc(strlen(id) + 18)) == NULL) {
		free(env);
		return NULL;
	}
	snprintf(mine, strlen(id) + 18, "VMSPKI_COMPONENT=%s", id);
	env[k++] = mine;
	env[k] = NULL;
	return env;
}

static void
child_env_free(char **env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++)
		if (strncmp(env[i], "VMSPKI_COMPONENT=", 17) == 0)
			free(env[i]);   /* ours; the others are borrowed from environ */
	free(env);
}

typedef struct outbuf {
	char line[RELOAD_LINE + 1];
	size_t len;
	int cut;
} outbuf;

static void
out_flush(outbuf *o, const char *id, vp_component_log_fn log, void *arg)
{
	if (o->len > 0 || o->cut) {
		o->line[o->len] = '\0';
		logf_(log, arg, "component %s: reload: %s%s", id, o->line, o->cut ? " [...]" : "");
	}
	o->len = 0;
	o->cut = 0;
}

static void
out_feed(outbuf *o, const char *data, size_t n, const char *id, vp_component_log_fn log,
    void *arg)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)data[i];

		if (c == '\n') {
			out_flush(o, id, log, arg);
			continue;
		}
		if (o->len >= RELOAD_LINE) {
			o->cut = 1;
			continue;
		}
		o->line[o->len++] = c >= 0x20 && c < 0x7f ? (char)c : c == '\t' ? ' ' : '?';
	}
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
vp_component_run_reload(const char *id, const char *cmd, int timeout_s,
    vp_component_log_fn log, void *log_arg, int *status, char *result, size_t result_len)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dflt;
	char *argv[4] = { "/bin/sh", "-c", NULL, NULL };
	char **env = NULL, buf[4096];
	outbuf ob = { .len = 0 };
	int pfd[2] = { -1, -1 }, fa_up = 0, attr_up = 0, err, ws = 0, exited = 0, timed_out = 0;
	int64_t deadline;
	pid_t pid = -1, w;

	*status = -1;
	snprintf(result, result_len, "could not be started");
	argv[2] = (char *)cmd;
	if ((env = child_env(id)) == NULL) {
		snprintf(result, result_len, "could not be started: out of memory");
		goto out;
	}
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		snprintf(result, result_len, "could not be started: %s", strerror(errno));
		goto out;
	}
	sigemptyset(&none);
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGPIPE);
	sigaddset(&dflt, SIGINT);
	sigaddset(&dflt, SIGTERM);
	sigaddset(&dflt, SIGHUP);
	sigaddset(&dflt, SIGQUIT);
	sigaddset(&dflt, SIGCHLD);
	sigaddset(&dflt, SIGUSR1);
	sigaddset(&dflt, SIGUSR2);
	if ((err = posix_spawn_file_actions_init(&fa)) != 0) {
		snprintf(result, result_len, "could not be started: %s", strerror(err));
		goto out;
	}
	fa_up = 1;
	if ((err = posix_spawnattr_init(&attr)) != 0) {
		snprintf(result, result_len, "could not be started: %s", strerror(err));
		goto out;
	}
	attr_up = 1;
	/* stdin from /dev/null, stdout and stderr to our pipe, nothing else open; its own process
	 * group (killed whole on timeout), no blocked or ignored signals inherited. */
	if ((err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) != 0 ||
	    (err = posix_spawn_file_actions_adddup2(&fa, pfd[1], 1)) != 0 ||
	    (err = posix_spawn_file_actions_adddup2(&fa, pfd[1], 2)) != 0 ||
	    (err = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0 ||
	    (err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0 ||
	    (err = posix_spawnattr_setpgroup(&attr, 0)) != 0 ||
	    (err = posix_spawnattr_setsigmask(&attr, &none)) != 0 ||
	    (err = posix_spawnattr_setsigdefault(&attr, &dflt)) != 0 ||
	    (err = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, env)) != 0) {
		pid = -1;
		snprintf(result, result_len, "could not be started: %s", strerror(err));
		goto out;
	}
	close(pfd[1]);
	pfd[1] = -1;
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	deadline = mono_ms() + (int64_t)timeout_s * 1000;
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		int64_t left = deadline - mono_ms();
		ssize_t r;

		if (!exited && (w = waitpid(pid, &ws, WNOHANG)) == pid)
			exited = 1;
		if (pfd[0] < 0 && exited)
			break;
		if (left <= 0 && !exited) {
			timed_out = 1;
			kill(-pid, SIGKILL);
			while (waitpid(pid, &ws, 0) == -1 && errno == EINTR)
				;
			exited = 1;
			break;
		}
		if (pfd[0] < 0) {
			/* Output closed; wait for the exit a little at a time. */
			poll(NULL, 0, 20);
			continue;
		}
		if (poll(&p, 1, exited ? 0 : (int)(left < 100 ? left : 100)) <= 0) {
			if (exited)
				break;   /* it ended; a background child may hold the pipe: stop here */
			continue;
		}
		r = read(pfd[0], buf, sizeof(buf));
		if (r > 0) {
			out_feed(&ob, buf, (size_t)r, id, log, log_arg);
		} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			close(pfd[0]);
			pfd[0] = -1;
		}
	}
	out_flush(&ob, id, log, log_arg);
	if (timed_out) {
		snprintf(result, result_len, "did not finish within %d s and was killed", timeout_s);
	} else if (WIFEXITED(ws)) {
		*status = WEXITSTATUS(ws);
		snprintf(result, result_len, "exited with status %d", *status);
	} else if (WIFSIGNALED(ws)) {
		snprintf(result, result_len, "was killed by signal %d", WTERMSIG(ws));
	}
out:
	logf_(log, log_arg, "component %s: the reload command %s", id, result);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (attr_up)
		posix_spawnattr_destroy(&attr);
	if (fa_up)
		posix_spawn_file_actions_destroy(&fa);
	child_env_free(env);
}

/* ---- JSON ---- */

static int
set(json_t *o, const char *k, json_t *v)
{
	return v == NULL ? -1 : json_object_set_new(o, k, v);
}

json_t *
vp_json_component(const vp_component_info *c, const char *datadir)
{
	json_t *o = json_object(), *kinds = json_array(), *certs = json_array();
	int k, bad = o == NULL || kinds == NULL || certs == NULL;

	for (k = 0; k < 2 && !bad; k++) {
		const vp_component_cert *cc = &c->cert[k];
		char *cp, *kp;
		json_t *x;

		if (!cc->wanted)
			continue;
		cp = vp_component_file(datadir, c->id, (vp_component_kind)k, 0);
		kp = vp_component_file(datadir, c->id, (vp_component_kind)k, 1);
		x = json_object();
		bad = cp == NULL || kp == NULL || x == NULL ||
		    json_array_append_new(kinds, json_string(kind_names[k])) != 0 ||
		    set(x, "kind", json_string(kind_names[k])) != 0 ||
		    set(x, "serial", cc->present ? json_string(cc->serial) : json_null()) != 0 ||
		    set(x, "not_before", cc->present ? vp_json_time(cc->not_before) : json_null()) != 0 ||
		    set(x, "not_after", cc->present ? vp_json_time(cc->not_after) : json_null()) != 0 ||
		    set(x, "status", json_string(cc->status)) != 0 ||
		    set(x, "renewal_due", vp_json_str_or_null(cc->reason)) != 0 ||
		    set(x, "cert_file", vp_json_str(cp)) != 0 ||
		    set(x, "key_file", vp_json_str(kp)) != 0;
		free(cp);
		free(kp);
		if (bad || json_array_append_new(certs, x) != 0) {
			if (!bad)
				x = NULL;
			json_decref(x);
			bad = 1;
		}
	}
	if (bad || set(o, "id", json_string(c->id)) != 0 || json_object_set(o, "kinds", kinds) != 0 ||
	    set(o, "created_at", vp_json_time(c->created_at)) != 0 ||
	    json_object_set(o, "certificates", certs) != 0) {
		json_decref(o);
		o = NULL;
	}
	json_decref(kinds);
	json_decref(certs);
	return o;
}

json_t *
vp_json_components(const vp_component_info *all, size_t n, const char *datadir)
{
	json_t *a = json_array();
	int bad = a == NULL;

	for (size_t i = 0; !bad && i < n; i++)
		bad = vp_json_append(a, vp_json_component(&all[i], datadir)) != 0;
	return vp_json_done(a, bad);
}

json_t *
vp_json_component_outcome(const vp_component_outcome *oc)
{
	json_t *o = json_object(), *certs = json_array(), *rl = NULL;
	int k, bad = o == NULL || certs == NULL;

	for (k = 0; k < 2 && !bad; k++) {
		json_t *x;

		if (!oc->wanted[k])
			continue;
		x = json_object();
		bad = x == NULL || set(x, "kind", json_string(kind_names[k])) != 0 ||
		    set(x, "renewed", json_boolean(oc->renewed[k])) != 0 ||
		    set(x, "reason", vp_json_str_or_null(oc->renewed[k] ? oc->reason[k] : "")) != 0 ||
		    set(x, "serial", vp_json_str_or_null(oc->serial[k])) != 0 ||
		    set(x, "not_after", oc->serial[k][0] ? vp_json_time(oc->not_after[k]) :
		    json_null()) != 0;
		if (bad || json_array_append_new(certs, x) != 0) {
			if (!bad)
				x = NULL;
			json_decref(x);
			bad = 1;
		}
	}
	if (!bad && oc->reload_ran) {
		rl = json_object();
		bad = rl == NULL || set(rl, "exit_status", oc->reload_status >= 0 ?
		    json_integer(oc->reload_status) : json_null()) != 0 ||
		    set(rl, "result", json_string(oc->reload_result)) != 0;
	} else if (!bad) {
		rl = json_null();
	}
	if (bad || set(o, "id", json_string(oc->id)) != 0 ||
	    json_object_set(o, "certificates", certs) != 0 || json_object_set(o, "reload", rl) != 0) {
		json_decref(o);
		o = NULL;
	}
	json_decref(rl);
	json_decref(certs);
	return o;
}

/* ---- CA renewal (issue 19, item 5) ---- */

/* One certificate file: its leaf, when the current CA's key signed it, written again with the
 * CA's chain after it. *done: 1 when rewritten, 0 when left (no file, another CA's). */
static vp_err
rechain_file(const vp_ca *ca, const char *path, const char *chain, size_t chainlen, int *done,
    vp_error *e)
{
	unsigned char *in = NULL;
	STACK_OF(X509) *certs = NULL;
	X509 *leaf;
	char *pem = NULL, *all = NULL;
	size_t n = 0, pn = 0;
	vp_err rc;

	*done = 0;
	if (access(path, F_OK) != 0)
		return VP_OK;
	if ((rc = vp_file_read(path, 1024 * 1024, &in, &n, e)) != VP_OK ||
	    (rc = vp_chain_from_pem(in, n, &certs, e)) != VP_OK)
		goto out;
	leaf = sk_X509_num(certs) > 0 ? sk_X509_value(certs, 0) : NULL;
	if (leaf == NULL || X509_check_issued(vp_ca_cert(ca), leaf) != X509_V_OK ||
	    X509_verify(leaf, X509_get0_pubkey(vp_ca_cert(ca))) != 1) {
		ERR_clear_error();
		goto out;                     /* not ours to touch: component renew says so */
	}
	if ((rc = vp_x509_to_pem(leaf, &pem, &pn, e)) != VP_OK)
		goto out;
	if ((all = malloc(pn + chainlen + 1)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(all, pem, pn);
	memcpy(all + pn, chain, chainlen);
	if ((rc = vp_file_write_atomic(path, all, pn + chainlen, 0644, e)) == VP_OK)
		*done = 1;
out:
	free(all);
	free(pem);
	vp_x509_stack_free(certs);
	free(in);
	return rc;
}

vp_err
vp_component_rechain(vp_store *s, const vp_ca *ca, const char *datadir, const char *id,
    int *files, vp_error *e)
{
	vp_store_component r;
	char *chain = NULL;
	size_t chainlen = 0;
	int fd = -1;
	vp_err rc;

	*files = 0;
	if ((rc = vp_store_component_get(s, id, &r, e)) != VP_OK ||
	    (rc = ca_chain_pem(ca, &chain, &chainlen, e)) != VP_OK)
		goto out;
	if ((rc = lock_take(datadir, &fd, e)) != VP_OK ||
	    (rc = recover_locked(datadir, NULL, NULL, e)) != VP_OK)
		goto out;
	for (int k = 0; k < 2 && rc == VP_OK; k++) {
		char *p;
		int done = 0;

		if (!(k == VP_COMPONENT_SERVER ? r.server : r.client))
			continue;
		if ((p = vp_component_file(datadir, id, (vp_component_kind)k, 0)) == NULL) {
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			break;
		}
		rc = rechain_file(ca, p, chain, chainlen, &done, e);
		*files += done;
		free(p);
	}
out:
	if (fd != -1)
		unlock(fd);
	free(chain);
	return rc;
}
