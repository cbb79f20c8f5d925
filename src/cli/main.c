/* vmspki: the command line. Finds the data directory and the actor, then hands the words to
 * the command group (cmd_*.c); every command returns 0, 1 (refused) or 2 (usage error). */
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*run)(cli *, int, char **);
} commands[] = {
	{ "ca", cmd_ca },
	{ "issue", cmd_issue },
	{ "cert", cmd_cert },
	{ "audit", cmd_audit },
	{ "serve", cmd_serve },
	{ "token", cmd_token },
	{ "server-cert", cmd_servercert },
	{ "component", cmd_component },
	{ "device", cmd_device },
	{ "https", cmd_https },
	{ "task", cmd_task },
	{ "alarm", cmd_alarm },
	{ "settings", cmd_settings },
	{ "lifecycle", cmd_lifecycle },
	{ "endpoint", cmd_endpoint },
	{ "store", cmd_store },
	{ "dot1x", cmd_dot1x },
};

static char *
actor_name(void)
{
	struct passwd *pw = getpwuid(geteuid());
	char buf[300];

	if (pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0')
		snprintf(buf, sizeof(buf), "cli:%.256s", pw->pw_name);
	else
		snprintf(buf, sizeof(buf), "cli:uid%lu", (unsigned long)geteuid());
	return strdup(buf);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *env = getenv("VMSPKI_DATA");
	cli c = { .datadir = env != NULL && env[0] != '\0' ? env : "./var" };
	int ch, rc;

	/* A device or client that closes its end makes write(2) fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	cli_getopt_reset();
	while ((ch = cli_getopt(&c, NULL, argc, argv, "+hV", opts, &rc)) != -1) {
		if (ch == CLI_OPT_STOP)
			return rc;
		printf("vmspki %s\n", VMSPKI_VERSION);   /* -V, --version */
		return CLI_OK;
	}
	if (optind >= argc) {
		cli_help_main(stderr);
		return CLI_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (strcmp(argv[0], "help") == 0)
		return cli_help(argc - 1, argv + 1);
	if (strcmp(argv[0], "version") == 0) {
		printf("vmspki %s\n", VMSPKI_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[0], commands[i].name) != 0)
			continue;
		if ((c.actor = actor_name()) == NULL)
			return cli_fail("out of memory");
		rc = commands[i].run(&c, argc, argv);
		vp_datadir_close(c.dd);
		vp_secret_free_str(c.where);
		free(c.actor);
		return rc;
	}
	return cli_usage(NULL, "unknown command \"%s\"", argv[0]);
}
