/* The CA passphrase: read from a file, the environment, the remembered 0600 file beside the
 * database, or typed at the terminal with echo off. Never from a command-line argument. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "vmspki/datadir.h"
#include "vmspki/passphrase.h"
#include "vmspki/util.h"

/* Takes the first line of buf (len bytes) as a new string. */
static vp_err
first_line(const unsigned char *buf, size_t len, const char *what, char **out, vp_error *e)
{
	size_t n = 0;

	while (n < len && buf[n] != '\n' && buf[n] != '\r')
		n++;
	if (n == 0)
		return vp_error_set(e, VP_ERR_PASSPHRASE, "%s is empty", what);
	if (memchr(buf, '\0', n) != NULL)
		return vp_error_set(e, VP_ERR_PASSPHRASE, "%s contains a NUL byte", what);
	if (n > VP_PASSPHRASE_MAX)
		return vp_error_set(e, VP_ERR_PASSPHRASE, "%s is longer than %d characters", what,
		    VP_PASSPHRASE_MAX);
	if ((*out = malloc(n + 1)) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	memcpy(*out, buf, n);
	(*out)[n] = '\0';
	return VP_OK;
}

vp_err
vp_passphrase_from_file(const char *path, char **out, vp_error *e)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	char what[512];
	vp_err rc;

	*out = NULL;
	snprintf(what, sizeof(what), "passphrase file %s", path);
	if ((rc = vp_file_read(path, 64 * 1024, &buf, &len, e)) != VP_OK)
		return rc == VP_ERR_NOTFOUND ? vp_error_set(e, VP_ERR_PASSPHRASE,
		    "passphrase file %s does not exist", path) : rc;
	rc = first_line(buf, len, what, out, e);
	vp_secret_free(buf, len);
	return rc;
}

/* Reads one line from the terminal with echo off. VP_ERR_NOTFOUND when there is no terminal. */
static vp_err
prompt_tty(const char *prompt, char **out, vp_error *e)
{
	struct termios old, quiet;
	char buf[VP_PASSPHRASE_MAX + 2];
	FILE *tty;
	vp_err rc = VP_OK;

	*out = NULL;
	if (!isatty(STDIN_FILENO) || (tty = fopen("/dev/tty", "r+")) == NULL)
		return VP_ERR_NOTFOUND;
	if (tcgetattr(fileno(tty), &old) == -1) {
		fclose(tty);
		return VP_ERR_NOTFOUND;
	}
	quiet = old;
	quiet.c_lflag &= (tcflag_t)~ECHO;
	fprintf(tty, "%s", prompt);
	fflush(tty);
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	if (fgets(buf, sizeof(buf), tty) == NULL)
		rc = vp_error_set(e, VP_ERR_PASSPHRASE, "no passphrase was typed");
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fprintf(tty, "\n");
	fclose(tty);
	if (rc == VP_OK)
		rc = first_line((unsigned char *)buf, strlen(buf), "the typed passphrase", out, e);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

static const char *
how_to_give(void)
{
	return "give it with --passphrase-file FILE, the environment variable " VP_PASSPHRASE_ENV
	    ", or type it at a terminal";
}

vp_err
vp_passphrase_get(const char *datadir, const char *file, const char *prompt, char **out,
    vp_error *e)
{
	const char *env;
	char *remembered;
	vp_err rc;

	*out = NULL;
	if (file != NULL)
		return vp_passphrase_from_file(file, out, e);
	if ((env = getenv(VP_PASSPHRASE_ENV)) != NULL && *env != '\0')
		return first_line((const unsigned char *)env, strlen(env), VP_PASSPHRASE_ENV, out, e);
	if (datadir != NULL) {
		if ((remembered = vp_datadir_join(datadir, VP_PATH_PASSPHRASE)) == NULL)
			return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		if (access(remembered, F_OK) == 0) {
			rc = vp_passphrase_from_file(remembered, out, e);
			free(remembered);
			return rc;
		}
		free(remembered);
	}
	if (prompt != NULL && (rc = prompt_tty(prompt, out, e)) != VP_ERR_NOTFOUND)
		return rc;
	return vp_error_set(e, VP_ERR_PASSPHRASE, "the CA passphrase is needed: %s",
	    how_to_give());
}

static vp_err
check_new(char *p, vp_error *e)
{
	if (strlen(p) < VP_PASSPHRASE_MIN)
		return vp_error_set(e, VP_ERR_PASSPHRASE,
		    "the new passphrase is too short: use at least %d characters",
		    VP_PASSPHRASE_MIN);
	return VP_OK;
}

vp_err
vp_passphrase_new(const char *file, const char *prompt, char **out, vp_error *e)
{
	const char *env;
	char *again = NULL;
	vp_err rc;

	*out = NULL;
	if (file != NULL)
		rc = vp_passphrase_from_file(file, out, e);
	else if ((env = getenv(VP_PASSPHRASE_ENV)) != NULL && *env != '\0')
		rc = first_line((const unsigned char *)env, strlen(env), VP_PASSPHRASE_ENV, out, e);
	else if (prompt != NULL && (rc = prompt_tty(prompt, out, e)) != VP_ERR_NOTFOUND) {
		if (rc == VP_OK && (rc = prompt_tty("Repeat the passphrase: ", &again, e)) ==
		    VP_OK && strcmp(*out, again) != 0)
			rc = vp_error_set(e, VP_ERR_PASSPHRASE, "the two passphrases differ");
		vp_secret_free_str(again);
	} else
		return vp_error_set(e, VP_ERR_PASSPHRASE,
		    "a passphrase for the new CA key is needed: %s, or use --remember to have "
		    "vmspki make one and keep it beside the database", how_to_give());
	if (rc == VP_OK)
		rc = check_new(*out, e);
	if (rc != VP_OK) {
		vp_secret_free_str(*out);
		*out = NULL;
	}
	return rc;
}

vp_err
vp_passphrase_random(char **out, vp_error *e)
{
	return vp_random_b64url(32, "", out, e);
}

vp_err
vp_passphrase_remember(const char *datadir, const char *pass, vp_error *e)
{
	char *path = vp_datadir_join(datadir, VP_PATH_PASSPHRASE);
	size_t n = strlen(pass);
	char *line;
	vp_err rc;

	if (path == NULL || (line = malloc(n + 2)) == NULL) {
		free(path);
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	}
	memcpy(line, pass, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	rc = vp_file_write_atomic(path, line, n + 1, 0600, e);
	vp_secret_free(line, n + 2);
	free(path);
	return rc;
}
