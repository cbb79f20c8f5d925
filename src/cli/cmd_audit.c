/* `vmspki audit verify|list`: check the audit log's hash chain, or print its rows. */
#include <string.h>

#include "cli.h"

static int
audit_verify(cli *c, int argc, char **argv)
{
	vp_error e = { 0 };
	vp_store *s = NULL;
	int64_t rows = 0, bad = 0;
	int rc;

	if (!cli_getopt_simple(c, "audit verify", argc, argv, NULL, &rc))
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (vp_store_audit_verify(s, &rows, &bad, &e) != VP_OK) {
		rc = cli_fail_err(&e);
	} else {
		printf("audit log intact: %lld rows\n", (long long)rows);
		rc = cli_flush();
	}
	vp_store_close(s);
	return rc;
}

typedef struct audit_ctx {
	json_t *array;   /* NULL: print lines */
	int oom;
} audit_ctx;

static int
audit_one(const vp_audit_rec *r, void *arg)
{
	audit_ctx *a = arg;
	char t[32];

	vp_time_iso(r->at, t, sizeof(t));
	if (a->array != NULL) {
		json_t *o = json_object();
		int bad = o == NULL;

		bad |= json_object_set_new(o, "id", json_integer(r->id));
		bad |= json_object_set_new(o, "at", json_string(t));
		bad |= json_object_set_new(o, "actor", vp_json_str(r->actor));
		bad |= json_object_set_new(o, "action", vp_json_str(r->action));
		bad |= json_object_set_new(o, "serial", vp_json_str(r->serial));
		bad |= json_object_set_new(o, "detail", vp_json_str(r->detail));
		bad |= json_object_set_new(o, "hash", vp_json_str(r->hash));
		if (bad || json_array_append_new(a->array, o) != 0) {
			if (bad)
				json_decref(o);
			a->oom = 1;
			return 1;
		}
		return 0;
	}
	printf("%6lld  %s  ", (long long)r->id, t);
	cli_puts_safe(stdout, r->actor);
	fputs("  ", stdout);
	cli_puts_safe(stdout, r->action);
	if (r->serial != NULL && r->serial[0] != '\0') {
		fputs("  serial ", stdout);
		cli_puts_safe(stdout, r->serial);
	}
	if (r->detail != NULL && r->detail[0] != '\0') {
		fputs("  ", stdout);
		cli_puts_safe(stdout, r->detail);
	}
	fputc('\n', stdout);
	return 0;
}

static int
audit_list(cli *c, int argc, char **argv)
{
	audit_ctx a = { 0 };
	vp_error e = { 0 };
	vp_store *s = NULL;
	int rc, json = 0;

	if (!cli_getopt_simple(c, "audit list", argc, argv, &json, &rc))
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (json && (a.array = json_array()) == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	if (vp_store_audit_list(s, audit_one, &a, &e) != VP_OK || a.oom) {
		rc = a.oom ? cli_fail("out of memory") : cli_fail_err(&e);
		goto out;
	}
	if (json) {
		rc = cli_json_print(a.array);
		a.array = NULL;
	} else {
		rc = cli_flush();
	}
out:
	json_decref(a.array);
	vp_store_close(s);
	return rc;
}

int
cmd_audit(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = { { "verify", audit_verify }, { "list", audit_list } };

	return cli_group(c, "audit", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
