/* The web UI's static files: web/ in the source, installed with the binary, read once at start
 * into memory and served at / with a strict Content-Security-Policy. The UI uses only the API. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "daemon.h"
#include "vmspki/util.h"

#define WEB_FILE_MAX  (2u * 1024u * 1024u)   /* one file */
#define WEB_TOTAL_MAX (16u * 1024u * 1024u)  /* all of them */
#define WEB_FILES_MAX 256
#define WEB_DEPTH_MAX 3

/* What a page may load: only its own origin's scripts, styles and images, never a frame of it
 * anywhere; no inline script or style (the UI has none), no plugins, no <base> tricks. */
#define WEB_CSP "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " \
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; " \
	"form-action 'self'; frame-ancestors 'none'"

typedef struct web_file {
	char *path;              /* "/app.js" */
	const char *ctype;
	unsigned char *data;
	size_t len;
} web_file;

struct vpd_web {
	char *dir;
	web_file *f;
	size_t n;
	size_t total;
};

static const struct {
	const char *ext, *ctype;
} types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".json", "application/json" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".woff2", "font/woff2" },
};

static const char *
ctype_of(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t k = strlen(types[i].ext);

		if (n > k && strcmp(name + n - k, types[i].ext) == 0)
			return types[i].ctype;
	}
	return NULL;
}

/* Only plain names: letters, digits, '.', '-', '_', not starting with '.'. */
static int
name_ok(const char *s)
{
	if (s[0] == '\0' || s[0] == '.')
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

/* Reads the files of dir (url is its path under /) into w. */
static vp_err
load_dir(vpd_web *w, const char *dir, const char *url, int depth, vp_error *e)
{
	DIR *dp;
	struct dirent *de;
	vp_err rc = VP_OK;

	if ((dp = opendir(dir)) == NULL)
		return vp_error_set(e, VP_ERR_IO, "cannot read the web UI's directory %s: %s", dir,
		    strerror(errno));
	while (rc == VP_OK && (de = readdir(dp)) != NULL) {
		char path[PATH_MAX], sub[PATH_MAX];
		struct stat st;
		const char *ct;
		web_file *f;

		if (!name_ok(de->d_name))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path) ||
		    (size_t)snprintf(sub, sizeof(sub), "%s/%s", url, de->d_name) >= sizeof(sub))
			continue;
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (depth < WEB_DEPTH_MAX)
				rc = load_dir(w, path, sub, depth + 1, e);
			continue;
		}
		if (!S_ISREG(st.st_mode) || (ct = ctype_of(de->d_name)) == NULL)
			continue;
		if (w->n >= WEB_FILES_MAX) {
			rc = vp_error_set(e, VP_ERR_INVALID, "the web UI's directory %s holds more than "
			    "%d files", w->dir, WEB_FILES_MAX);
			break;
		}
		f = &w->f[w->n];
		memset(f, 0, sizeof(*f));
		if ((rc = vp_file_read(path, WEB_FILE_MAX, &f->data, &f->len, e)) != VP_OK)
			break;
		if (w->total + f->len > WEB_TOTAL_MAX) {
			free(f->data);
			rc = vp_error_set(e, VP_ERR_INVALID, "the web UI's files in %s are over %u bytes",
			    w->dir, WEB_TOTAL_MAX);
			break;
		}
		if ((f->path = vp_strdup(sub)) == NULL) {
			free(f->data);
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			break;
		}
		f->ctype = ct;
		w->total += f->len;
		w->n++;
	}
	closedir(dp);
	return rc;
}

/* The directory next to the binary: <bin>/../share/vmspki/web once installed, <bin>/web in a
 * build tree (CMake links it to the source's web/), then the prefix the build was configured
 * with. NULL when none holds an index.html. */
static char *
web_dir_default(void)
{
	char exe[PATH_MAX], cand[3][PATH_MAX + 64], idx[PATH_MAX + 80];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t k = 0;

	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL)
			*slash = '\0';
		snprintf(cand[k++], sizeof(cand[0]), "%s/../share/vmspki/web", exe);
		snprintf(cand[k++], sizeof(cand[0]), "%s/web", exe);
	}
#ifdef VPD_WEB_DIR
	snprintf(cand[k++], sizeof(cand[0]), "%s", VPD_WEB_DIR);
#endif
	for (size_t i = 0; i < k; i++) {
		struct stat st;

		if ((size_t)snprintf(idx, sizeof(idx), "%s/index.html", cand[i]) >= sizeof(idx))
			continue;
		if (stat(idx, &st) == 0 && S_ISREG(st.st_mode))
			return realpath(cand[i], NULL);
	}
	return NULL;
}

vpd_web *
vpd_web_load(const char *dir, vp_error *e)
{
	vpd_web *w = calloc(1, sizeof(*w));
	int found = 0;

	if (w == NULL || (w->f = calloc(WEB_FILES_MAX, sizeof(*w->f))) == NULL) {
		vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	w->dir = dir != NULL ? vp_strdup(dir) : web_dir_default();
	if (w->dir == NULL) {
		if (dir != NULL)
			vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		else
			vp_error_set(e, VP_ERR_NOTFOUND, "no web UI files were found next to the "
			    "binary (share/vmspki/web): give their directory with --web DIR");
		goto fail;
	}
	if (load_dir(w, w->dir, "", 0, e) != VP_OK)
		goto fail;
	for (size_t i = 0; i < w->n; i++)
		found |= strcmp(w->f[i].path, "/index.html") == 0;
	if (!found) {
		vp_error_set(e, VP_ERR_NOTFOUND, "the web UI's directory %s has no index.html",
		    w->dir);
		goto fail;
	}
	return w;
fail:
	vpd_web_free(w);
	return NULL;
}

void
vpd_web_free(vpd_web *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; w->f != NULL && i < w->n; i++) {
		free(w->f[i].path);
		free(w->f[i].data);
	}
	free(w->f);
	free(w->dir);
	free(w);
}

const char *
vpd_web_dir(const vpd_web *w)
{
	return w != NULL ? w->dir : NULL;
}

size_t
vpd_web_count(const vpd_web *w)
{
	return w != NULL ? w->n : 0;
}

int
vpd_web_serve(vpd_ctx *c)
{
	const vpd_web *w = c->d->web;
	const char *p = strcmp(c->path, "/") == 0 ? "/index.html" : c->path;
	struct evkeyvalq *h;

	if (w == NULL || (c->method != EVHTTP_REQ_GET && c->method != EVHTTP_REQ_HEAD))
		return 0;
	for (size_t i = 0; i < w->n; i++) {
		if (strcmp(w->f[i].path, p) != 0)
			continue;
		h = evhttp_request_get_output_headers(c->req);
		evhttp_add_header(h, "Content-Security-Policy", WEB_CSP);
		evhttp_add_header(h, "X-Frame-Options", "DENY");
		evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
		evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
		vpd_reply_raw(c, 200, w->f[i].ctype, w->f[i].data, w->f[i].len, NULL);
		return 1;
	}
	return 0;
}
