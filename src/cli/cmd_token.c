/* `vmspki token create|list|revoke`: the bearer tokens of the REST API. A token is printed
 * once when it is made; the store keeps only its hash. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vmspki/token.h"
#include "vmspki/util.h"

void
cli_help_token(FILE *f, const char *sub)
{
	int all = sub == NULL;

	if (all)
		fputs("usage: vmspki token create|list|revoke ...\n\n", f);
	if (all || strcmp(sub, "create") == 0)
		fputs(
"vmspki token create NAME\n"
"  Makes an API token (role admin) and prints it on standard output, once: the store\n"
"  keeps only its hash. Use it as \"Authorization: Bearer TOKEN\".\n", f);
	if (all || strcmp(sub, "list") == 0)
		fputs(
"vmspki token list [--json]\n"
"  The tokens' names, roles and creation times (never the tokens).\n", f);
	if (all || strcmp(sub, "revoke") == 0)
		fputs(
"vmspki token revoke NAME\n"
"  Removes the token: the API refuses it from the next request on.\n", f);
}

/* The NAME of `token create|revoke NAME` (no options of their own). *name stays NULL when
 * the command ends here: after --help (CLI_OK) or a usage error. */
static int
one_name(cli *c, const char *cmd, int argc, char **argv, const char **name)
{
	static const struct option opts[] = { CLI_OPTS_COMMON, { NULL, 0, NULL, 0 } };
	int rc;

	*name = NULL;
	cli_getopt_reset();
	if (cli_getopt(c, cmd, argc, argv, "h", opts, &rc) != -1 ||
	    (rc = cli_operands(cmd, argc, argv, "give the token's name")) != CLI_OK)
		return rc;
	*name = argv[optind];
	return CLI_OK;
}

static int
token_create(cli *c, int argc, char **argv)
{
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	const char *name = NULL;
	char *tok = NULL;
	int rc;

	if ((rc = one_name(c, "token create", argc, argv, &name)) != CLI_OK || name == NULL)
		return rc;
	if ((rc = cli_open_ca(c, &s, &ca)) != CLI_OK)
		return rc;
	if (vp_token_create(s, name, "admin", c->actor, &tok, &e) != VP_OK) {
		rc = e.code == VP_ERR_EXISTS ? cli_fail("there is already a token called %s: revoke "
		    "it first or choose another name", name) : cli_fail_err(&e);
		goto out;
	}
	printf("%s\n", tok);
	if (fflush(stdout) != 0) {
		rc = cli_fail("cannot write the token to standard output: revoke it with `vmspki "
		    "token revoke %s`", name);
		goto out;
	}
	fprintf(stderr, "made API token \"%s\" (admin); it is shown only this once\n", name);
	rc = CLI_OK;
out:
	vp_secret_free_str(tok);
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

typedef struct list_ctx {
	json_t *a;
	int oom;
} list_ctx;

static int
list_one(const vp_token_rec *t, void *arg)
{
	list_ctx *l = arg;
	char when[32];

	vp_time_iso(t->created_at, when, sizeof(when));
	if (l->a != NULL) {
		json_t *o = json_object();

		if (o == NULL || json_object_set_new(o, "name", vp_json_str(t->name)) != 0 ||
		    json_object_set_new(o, "role", vp_json_str(t->role)) != 0 ||
		    json_object_set_new(o, "created_at", json_string(when)) != 0 ||
		    json_array_append_new(l->a, o) != 0) {
			l->oom = 1;
			return 1;
		}
		return 0;
	}
	printf("%-32s  %-8s  %s\n", t->name, t->role, when);
	return 0;
}

static int
token_list(cli *c, int argc, char **argv)
{
	list_ctx l = { 0 };
	vp_error e = { 0 };
	vp_store *s = NULL;
	int rc, json = 0;

	if (!cli_getopt_simple(c, "token list", argc, argv, &json, &rc))
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (json && (l.a = json_array()) == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	if (!json)
		printf("%-32s  %-8s  %s\n", "NAME", "ROLE", "CREATED");
	if (vp_token_list(s, list_one, &l, &e) != VP_OK || l.oom) {
		rc = l.oom ? cli_fail("out of memory") : cli_fail_err(&e);
		goto out;
	}
	if (json) {
		rc = cli_json_print(l.a);
		l.a = NULL;
	} else {
		rc = cli_flush();
	}
out:
	json_decref(l.a);
	vp_store_close(s);
	return rc;
}

static int
token_revoke(cli *c, int argc, char **argv)
{
	vp_error e = { 0 };
	vp_store *s = NULL;
	const char *name = NULL;
	int rc;

	if ((rc = one_name(c, "token revoke", argc, argv, &name)) != CLI_OK || name == NULL)
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (vp_token_revoke(s, name, c->actor, &e) != VP_OK)
		rc = e.code == VP_ERR_NOTFOUND ? cli_fail("there is no token called %s", name) :
		    cli_fail_err(&e);
	else
		fprintf(stderr, "revoked API token \"%s\"\n", name);
	vp_store_close(s);
	return rc;
}

int
cmd_token(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = {
		{ "create", token_create }, { "list", token_list }, { "revoke", token_revoke }
	};

	return cli_group(c, "token", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
