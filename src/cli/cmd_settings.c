/* `vmspki settings [list] | get NAME | set NAME VALUE | reset NAME`: the site's settings
 * (settings.h), each with its default, its check and an audit row when changed. */
#include <string.h>

#include "cli.h"
#include "vmspki/settings.h"

void
cli_help_settings(FILE *f, const char *sub)
{
	size_t n, i;
	const vp_setting_def *d = vp_settings_all(&n);

	(void)sub;
	fputs(
"vmspki settings [list] [--json]           every setting, its value and its default\n"
"vmspki settings get NAME                  one value\n"
"vmspki settings set NAME VALUE            change it (checked; an audit row)\n"
"vmspki settings reset NAME                back to the default\n"
"\n"
"Settings:\n", f);
	for (i = 0; i < n; i++)
		fprintf(f, "  %-24s default %-6s %s\n", d[i].name, d[i].dflt, d[i].help);
}

static int
set_list(cli *c, int argc, char **argv)
{
	vp_error e = { 0 };
	vp_store *s = NULL;
	size_t n, i;
	const vp_setting_def *d = vp_settings_all(&n);
	json_t *a = NULL;
	char v[256];
	int rc, json = 0;

	if (!cli_getopt_simple(c, "settings list", argc, argv, &json, &rc))
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (json && (a = json_array()) == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (vp_setting_get(s, d[i].name, v, sizeof(v), &e) != VP_OK) {
			json_decref(a);
			rc = cli_fail_err(&e);
			goto out;
		}
		if (json) {
			if (json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:b,s:s}", "name",
			    d[i].name, "value", v, "default", d[i].dflt, "set",
			    vp_setting_is_set(s, d[i].name), "help", d[i].help)) != 0) {
				json_decref(a);
				rc = cli_fail("out of memory");
				goto out;
			}
		} else {
			printf("%-24s %-8s%s\n", d[i].name, v, vp_setting_is_set(s, d[i].name) ? "" :
			    " (default)");
		}
	}
	rc = json ? cli_json_print(a) : cli_flush();
out:
	vp_store_close(s);
	return rc;
}

/* get NAME, set NAME VALUE, reset NAME: the words after the options. */
static int
set_words(cli *c, const char *cmd, int argc, char **argv, int want, const char *missing)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ NULL, 0, NULL, 0 }
	};
	int ch, rc;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, cmd, argc, argv, "h", opts, &rc)) != -1)
		if (ch == CLI_OPT_STOP)
			return rc == CLI_OK ? -1 : rc;
	if (argc - optind != want)
		return cli_usage(cmd, "%s", missing);
	return CLI_OK;
}

static int
set_get(cli *c, int argc, char **argv)
{
	vp_error e = { 0 };
	vp_store *s = NULL;
	char v[256];
	int rc;

	if ((rc = set_words(c, "settings get", argc, argv, 1, "give the setting's name")) !=
	    CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (vp_setting_get(s, argv[optind], v, sizeof(v), &e) != VP_OK)
		rc = cli_fail_err(&e);
	else {
		printf("%s\n", v);
		rc = cli_flush();
	}
	vp_store_close(s);
	return rc;
}

static int
set_set(cli *c, int argc, char **argv)
{
	vp_error e = { 0 };
	vp_store *s = NULL;
	int rc;

	if ((rc = set_words(c, "settings set", argc, argv, 2, "give the setting's name and its "
	    "value")) != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (vp_setting_set(s, argv[optind], argv[optind + 1], c->actor, &e) != VP_OK)
		rc = cli_fail_err(&e);
	vp_store_close(s);
	return rc;
}

static int
set_reset(cli *c, int argc, char **argv)
{
	vp_error e = { 0 };
	vp_store *s = NULL;
	int rc;

	if ((rc = set_words(c, "settings reset", argc, argv, 1, "give the setting's name")) !=
	    CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (vp_setting_set(s, argv[optind], NULL, c->actor, &e) != VP_OK)
		rc = cli_fail_err(&e);
	vp_store_close(s);
	return rc;
}

int
cmd_settings(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = {
		{ "list", set_list },
		{ "get", set_get },
		{ "set", set_set },
		{ "reset", set_reset },
	};

	if (argc == 1) {
		char *list[] = { argv[0], (char *)"list", NULL };

		return cli_group(c, "settings", subs, sizeof(subs) / sizeof(subs[0]), 2, list);
	}
	return cli_group(c, "settings", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
