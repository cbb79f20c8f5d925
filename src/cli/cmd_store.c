/* `vmspki store migrate --from sqlite:DIR --to postgresql://...`: moves a site's store (CA,
 * certificates, audit chain, devices with their sealed passwords, tasks, settings) into an
 * empty PostgreSQL database, and points the data directory at it (issue 22). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

enum { OPT_FROM = OPT_FIRST_LOCAL, OPT_TO };

void
cli_help_store(FILE *f, const char *sub)
{
	(void)sub;
	fputs(
"usage: vmspki store migrate --from sqlite:DIR --to postgresql://USER@HOST[:PORT]/DB\n"
"\n"
"vmspki store migrate --from sqlite:DIR --to postgresql://...\n"
"  Copies the site whose data directory is DIR (its vmspki.db) into the PostgreSQL database,\n"
"  which must be empty (vmspki makes its tables), verifies the audit chain there, and writes\n"
"  DIR/store so that DIR's commands and `vmspki serve` use PostgreSQL from then on (vmspki.db\n"
"  stays as it was). The password comes from PGPASSFILE or ~/.pgpass, never from --to.\n", f);
}

static int
store_migrate(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ NULL, 0, NULL, 0 }
	};
	vp_error e = { 0 };
	vp_store *from = NULL, *to = NULL;
	const char *src = NULL, *dst = NULL;
	char *db = NULL, *setting = NULL, *where = NULL, *shown = NULL, *line = NULL;
	int64_t rows = 0, arows = 0, bad = 0;
	struct stat st;
	int ch, rc;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "store migrate", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case OPT_FROM:
			src = optarg;
			break;
		case OPT_TO:
			dst = optarg;
			break;
		}
	}
	if ((rc = cli_operands("store migrate", argc, argv, NULL)) != CLI_OK)
		return rc;
	if (src == NULL || strncmp(src, "sqlite:", 7) != 0 || src[7] == '\0')
		return cli_usage("store migrate", "--from takes sqlite:DIR, the data directory of "
		    "the site to move");
	if (dst == NULL || !vp_store_where_is_pg(dst))
		return cli_usage("store migrate", "--to takes postgresql://USER@HOST/DB");
	/* --to is checked as --store is: no password where `ps` shows it. */
	if (vp_store_locate(dst, NULL, "", &where, &e) != VP_OK)
		return cli_fail_err(&e);
	if ((db = vp_datadir_join(src + 7, VP_PATH_DB)) == NULL ||
	    (setting = vp_datadir_join(src + 7, VP_PATH_STORE)) == NULL ||
	    (shown = vp_store_where_show(where)) == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	if (stat(db, &st) == -1) {
		rc = cli_fail("there is no store to move in %s (%s: %s)", src + 7, db,
		    strerror(errno));
		goto out;
	}
	if (stat(setting, &st) == 0) {
		rc = cli_fail("%s already names its store in %s: it was moved before", src + 7,
		    setting);
		goto out;
	}
	if (vp_store_open(db, &from, &e) != VP_OK || vp_store_open(where, &to, &e) != VP_OK ||
	    vp_store_copy(from, to, &rows, &e) != VP_OK ||
	    vp_store_audit_verify(to, &arows, &bad, &e) != VP_OK ||
	    vp_store_audit_append(to, c->actor, "store.migrate", NULL, "moved from SQLite",
	    &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	/* From now on the directory's commands and its server use the new store. */
	if ((line = malloc(strlen(where) + 2)) == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	snprintf(line, strlen(where) + 2, "%s\n", where);
	if (vp_file_write_atomic(setting, line, strlen(line), 0600, &e) != VP_OK) {
		rc = cli_fail("the site was copied to %s but %s could not be written (%s): write "
		    "the address there by hand", shown, setting, e.msg);
		goto out;
	}
	printf("moved %lld rows to %s; audit log intact: %lld rows; %s now uses it (%s)\n",
	    (long long)rows, shown, (long long)arows, src + 7, setting);
	rc = cli_flush();
out:
	vp_store_close(from);
	vp_store_close(to);
	free(line);
	free(db);
	free(setting);
	free(shown);
	vp_secret_free_str(where);
	return rc;
}

int
cmd_store(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = { { "migrate", store_migrate } };

	return cli_group(c, "store", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
