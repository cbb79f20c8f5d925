/* `vmspki ca trust install|remove`: the site CA into or out of this host's own trust store
 * (Debian), so that the host's tools (curl, browsers using the system store) trust it. */
#include <string.h>

#include "cli.h"
#include "vmspki/catrust.h"

enum { O_ROOT = OPT_FIRST_LOCAL };

void
cli_help_ca_trust(FILE *f)
{
	fputs(
"vmspki ca trust install|remove [--root DIR]\n"
"  install: writes the CA certificate to /usr/local/share/ca-certificates/vmspki-<its\n"
"  SHA-256, 16 hex>.crt and runs update-ca-certificates (Debian, Ubuntu), so that the\n"
"  host's own clients trust the site. remove: deletes that file and runs\n"
"  update-ca-certificates --fresh. Both need root. --root DIR: the same in a system image\n"
"  under DIR (update-ca-certificates --sysroot DIR). Windows and macOS: see the README.\n",
	    f);
}

int
cmd_ca_trust(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "root", required_argument, NULL, O_ROOT },
		{ NULL, 0, NULL, 0 }
	};
	const char *root = NULL, *verb;
	vp_catrust_result r;
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	vp_err v;
	int ch, rc, install;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "ca trust", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case O_ROOT:
			root = optarg;
			break;
		}
	}
	if (optind + 1 != argc || (strcmp(argv[optind], "install") != 0 &&
	    strcmp(argv[optind], "remove") != 0))
		return cli_usage("ca trust", "say install or remove");
	verb = argv[optind];
	install = strcmp(verb, "install") == 0;
	if (root != NULL && root[0] != '/')
		return cli_usage("ca trust", "--root takes an absolute directory, not \"%.80s\"",
		    root);
	if ((rc = cli_open_ca(c, &s, &ca)) != CLI_OK)
		return rc;
	v = install ? vp_catrust_install(ca, root, &r, &e) : vp_catrust_remove(ca, root, &r, &e);
	if (v != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (install)
		fprintf(stderr, "the CA is in the trust store: ");
	else
		fprintf(stderr, r.changed ? "the CA is out of the trust store: removed " :
		    "the CA was not in the trust store: nothing to remove at ");
	cli_puts_safe(stderr, r.path);
	fprintf(stderr, "%s\n", install && !r.changed ? " (already there)" : "");
	rc = CLI_OK;
out:
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}
