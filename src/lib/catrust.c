/* The site CA in the host's trust store (catrust.h): one file under
 * /usr/local/share/ca-certificates, then Debian's update-ca-certificates. */
#define _GNU_SOURCE   /* posix_spawn_file_actions_addclosefrom_np */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmspki/catrust.h"
#include "vmspki/issue.h"
#include "vmspki/util.h"

extern char **environ;

/* Where Debian's tool is: sbin is often not on a user's PATH. */
static const char *
tool_path(void)
{
	static const char *const where[] = { "/usr/sbin/update-ca-certificates",
	    "/sbin/update-ca-certificates" };

	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
		if (access(where[i], X_OK) == 0)
			return where[i];
	return "update-ca-certificates";
}

static int
is_system(const char *root)
{
	return root == NULL || root[0] == '\0' || strcmp(root, "/") == 0;
}

/* ROOT/usr/local/share/ca-certificates/vmspki-<fp>.crt into r->path, and its directory. */
static vp_err
file_for(const vp_ca *ca, const char *root, vp_catrust_result *r, char *dir, size_t dirlen,
    vp_error *e)
{
	char fp[65];
	const char *pre = is_system(root) ? "" : root;
	int n;

	if (vp_x509_fingerprint(vp_ca_cert(ca), "SHA256", fp, sizeof(fp), e) != VP_OK)
		return e->code;
	n = snprintf(dir, dirlen, "%s" VP_CATRUST_DIR, pre);
	if (n < 0 || (size_t)n >= dirlen || (n = snprintf(r->path, sizeof(r->path),
	    "%s/vmspki-%.16s.crt", dir, fp)) < 0 || (size_t)n >= sizeof(r->path))
		return vp_error_set(e, VP_ERR_INVALID, "the root directory name is too long");
	return VP_OK;
}

/* Runs update-ca-certificates [--fresh] [--sysroot ROOT], its output to /dev/null. */
static vp_err
run_tool(const char *root, int fresh, vp_error *e)
{
	const char *tool = tool_path();
	char *argv[6];
	int argc = 0, st = 0, err;
	posix_spawn_file_actions_t fa;
	pid_t pid;

	argv[argc++] = (char *)tool;
	if (fresh)
		argv[argc++] = "--fresh";
	if (!is_system(root)) {
		argv[argc++] = "--sysroot";
		argv[argc++] = (char *)root;
	}
	argv[argc] = NULL;
	if ((err = posix_spawn_file_actions_init(&fa)) != 0)
		return vp_error_set(e, VP_ERR_NOMEM, "cannot run %s: %s", tool, strerror(err));
	if ((err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) != 0 ||
	    (err = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)) != 0 ||
	    (err = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0)) != 0 ||
	    (err = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0 ||
	    (err = posix_spawn(&pid, tool, &fa, NULL, argv, environ)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return vp_error_set(e, VP_ERR_IO, "cannot run %s (%s): is the Debian package "
		    "ca-certificates installed?", tool, strerror(err));
	}
	posix_spawn_file_actions_destroy(&fa);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return vp_error_set(e, VP_ERR_IO, "cannot wait for %s: %s", tool,
			    strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return vp_error_set(e, VP_ERR_IO, "%s failed (%s %d): run it by hand to see why",
		    tool, WIFEXITED(st) ? "exit status" : "signal", WIFEXITED(st) ?
		    WEXITSTATUS(st) : WTERMSIG(st));
	return VP_OK;
}

static vp_err
refuse_not_root(const char *root, const char *what, vp_error *e)
{
	if (is_system(root) && geteuid() != 0)
		return vp_error_set(e, VP_ERR_INVALID, "%s the system's trust store needs root: run "
		    "it with sudo (or give --root DIR for a system image)", what);
	return VP_OK;
}

vp_err
vp_catrust_install(const vp_ca *ca, const char *root, vp_catrust_result *r, vp_error *e)
{
	char dir[1024], *pem = NULL, *have = NULL;
	size_t len = 0, havelen = 0;
	vp_err rc;

	memset(r, 0, sizeof(*r));
	if ((rc = refuse_not_root(root, "putting the CA into", e)) != VP_OK ||
	    (rc = file_for(ca, root, r, dir, sizeof(dir), e)) != VP_OK ||
	    (rc = vp_x509_to_pem(vp_ca_cert(ca), &pem, &len, e)) != VP_OK)
		goto out;
	if (vp_file_read(r->path, 1 << 20, (unsigned char **)&have, &havelen, NULL) != VP_OK ||
	    havelen != len || memcmp(have, pem, len) != 0) {
		if ((rc = vp_mkdir_p(dir, 0755, e)) != VP_OK ||
		    (rc = vp_file_write_atomic(r->path, pem, len, 0644, e)) != VP_OK)
			goto out;
		r->changed = 1;
	}
	/* Run even when the file was there: the links and the bundle may be behind it. */
	rc = run_tool(root, 0, e);
out:
	free(have);
	free(pem);
	return rc;
}

vp_err
vp_catrust_remove(const vp_ca *ca, const char *root, vp_catrust_result *r, vp_error *e)
{
	char dir[1024];
	vp_err rc;

	memset(r, 0, sizeof(*r));
	if ((rc = refuse_not_root(root, "taking the CA out of", e)) != VP_OK ||
	    (rc = file_for(ca, root, r, dir, sizeof(dir), e)) != VP_OK)
		return rc;
	if (unlink(r->path) == 0)
		r->changed = 1;
	else if (errno != ENOENT)
		return vp_error_set(e, VP_ERR_IO, "cannot remove %s: %s", r->path, strerror(errno));
	if (!r->changed)
		return VP_OK;
	/* --fresh: the links to a removed file are only dropped by a fresh run. */
	return run_tool(root, 1, e);
}
