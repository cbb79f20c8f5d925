/* The store's schema: one migration list that both backends run (store_internal.h says how the
 * PostgreSQL backend writes its types), and the per-backend extras such as the audit triggers. */
#include <stddef.h>

#include "store_internal.h"

/*
 * Schema migrations, applied in order: migration i brings the database to version i + 1
 * (SQLite: PRAGMA user_version; PostgreSQL: the vmspki_schema table). Never edit a released
 * entry; append a new one (in parentheses, so that clang does not take the concatenated
 * literals for a missing comma). A column is INTEGER, TEXT or BLOB, a row id "INTEGER PRIMARY
 * KEY"; a trigger goes into sqlite_only and pg_only, each in its dialect.
 */
const vp_store_migration vp_store_migrations[] = {
	/* 1: key_value, certificates, audit log (append-only by trigger, chained by hash). */
	{ ("CREATE TABLE key_value ("
	"  key TEXT PRIMARY KEY,"
	"  value BLOB NOT NULL,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE TABLE certificates ("
	"  id INTEGER PRIMARY KEY,"
	"  serial TEXT NOT NULL UNIQUE,"
	"  fingerprint TEXT NOT NULL UNIQUE,"
	"  issuer_fp TEXT NOT NULL,"
	"  profile TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('valid', 'revoked')),"
	"  subject TEXT NOT NULL,"
	"  sans TEXT NOT NULL DEFAULT '',"
	"  owner_kind TEXT NOT NULL DEFAULT '',"
	"  owner_id TEXT NOT NULL DEFAULT '',"
	"  pem TEXT NOT NULL,"
	"  not_before INTEGER NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  issued_at INTEGER NOT NULL,"
	"  revoked_at INTEGER NOT NULL DEFAULT 0,"
	"  revocation_reason INTEGER NOT NULL DEFAULT -1);"
	"CREATE INDEX certificates_not_after ON certificates (not_after, serial);"
	"CREATE INDEX certificates_profile ON certificates (profile);"
	"CREATE INDEX certificates_owner ON certificates (owner_kind, owner_id);"
	"CREATE INDEX certificates_issuer ON certificates (issuer_fp);"
	"CREATE TABLE audit_log ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  actor TEXT,"
	"  action TEXT,"
	"  serial TEXT,"
	"  detail TEXT,"
	"  prev_hash TEXT NOT NULL,"
	"  hash TEXT NOT NULL);"
	/* The id and hash of the newest audit row, so that rows removed from the end show too. */
	"CREATE TABLE audit_head ("
	"  one INTEGER PRIMARY KEY CHECK (one = 1),"
	"  id INTEGER NOT NULL,"
	"  hash TEXT NOT NULL);"),
	("CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN"
	"  SELECT RAISE(ABORT, 'audit_log is append-only: its rows cannot be changed');"
	"END;"
	"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN"
	"  SELECT RAISE(ABORT, 'audit_log is append-only: its rows cannot be deleted');"
	"END;"),
	/* PostgreSQL's triggers call a function; TRUNCATE is refused too. */
	("CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
	" BEGIN RAISE EXCEPTION 'audit_log is append-only: its rows cannot be %',"
	"   CASE TG_OP WHEN 'UPDATE' THEN 'changed' ELSE 'deleted' END; END $$;"
	"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
	"  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();"
	"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
	"  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();"
	"CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
	"  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();") },
	/* 2: API tokens, kept as SHA-256 hashes only. */
	{ ("CREATE TABLE tokens ("
	"  name TEXT PRIMARY KEY,"
	"  hash TEXT NOT NULL UNIQUE,"
	"  role TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL);"), NULL, NULL },
	/* 3: internal components (NATS broker and clients) and which certificates each has. */
	{ ("CREATE TABLE components ("
	"  id TEXT PRIMARY KEY,"
	"  server INTEGER NOT NULL DEFAULT 0,"
	"  client INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL);"), NULL, NULL },
	/* 4: cameras and their state. The password is AES-256-GCM under the site data key
	 * (devcred.c); it is never stored or shown in clear. */
	{ ("CREATE TABLE devices ("
	"  id INTEGER PRIMARY KEY,"
	"  address TEXT NOT NULL,"
	"  http_port INTEGER NOT NULL,"
	"  https_port INTEGER NOT NULL,"
	"  name TEXT NOT NULL DEFAULT '',"
	"  username TEXT NOT NULL,"
	"  secret BLOB NOT NULL,"
	"  allow_basic INTEGER NOT NULL DEFAULT 0,"
	"  cn_mode TEXT NOT NULL DEFAULT '',"
	"  mac TEXT NOT NULL DEFAULT '',"
	"  model TEXT NOT NULL DEFAULT '',"
	"  firmware TEXT NOT NULL DEFAULT '',"
	"  api TEXT NOT NULL DEFAULT '',"
	"  https_state TEXT NOT NULL DEFAULT '',"
	"  status TEXT NOT NULL DEFAULT '',"
	"  status_detail TEXT NOT NULL DEFAULT '',"
	"  pinned INTEGER NOT NULL DEFAULT 0,"
	"  https_only INTEGER NOT NULL DEFAULT 0,"
	"  cert_serial TEXT NOT NULL DEFAULT '',"
	"  cert_alias TEXT NOT NULL DEFAULT '',"
	"  cert_not_after INTEGER NOT NULL DEFAULT 0,"
	"  added_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  UNIQUE (address, http_port));"), NULL, NULL },
	/* 5: tasks over devices, and one result row per device. A task is claimed by one engine
	 * at a time through a lease (claimed_by, lease_until). */
	{ ("CREATE TABLE tasks ("
	"  id INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  options TEXT NOT NULL DEFAULT '{}',"
	"  concurrency INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  started_at INTEGER NOT NULL DEFAULT 0,"
	"  finished_at INTEGER NOT NULL DEFAULT 0,"
	"  claimed_by TEXT NOT NULL DEFAULT '',"
	"  lease_until INTEGER NOT NULL DEFAULT 0,"
	"  cancel INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE task_devices ("
	"  task_id INTEGER NOT NULL REFERENCES tasks (id),"
	"  device_id INTEGER NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'Pending',"
	"  step TEXT NOT NULL DEFAULT '',"
	"  error TEXT NOT NULL DEFAULT '',"
	"  retryable INTEGER NOT NULL DEFAULT 0,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  key_alias TEXT NOT NULL DEFAULT '',"
	"  cert_serial TEXT NOT NULL DEFAULT '',"
	"  started_at INTEGER NOT NULL DEFAULT 0,"
	"  finished_at INTEGER NOT NULL DEFAULT 0,"
	"  duration_ms INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (task_id, device_id));"
	"CREATE INDEX tasks_state ON tasks (state);"), NULL, NULL },
	/* 6: alarms, and the outbox of their deliveries (webhook, syslog): one row per raise or
	 * clear, marked delivered once the receiver took it. */
	{ ("CREATE TABLE alarms ("
	"  id INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  severity INTEGER NOT NULL,"
	"  message TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('raised', 'cleared')),"
	"  raised_at INTEGER NOT NULL,"
	"  cleared_at INTEGER NOT NULL DEFAULT 0,"
	"  acked_at INTEGER NOT NULL DEFAULT 0,"
	"  acked_by TEXT NOT NULL DEFAULT '');"
	"CREATE UNIQUE INDEX alarms_active ON alarms (kind, subject) WHERE state = 'raised';"
	"CREATE TABLE alarm_outbox ("
	"  id INTEGER PRIMARY KEY,"
	"  alarm_id INTEGER NOT NULL,"
	"  event TEXT NOT NULL,"
	"  payload TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_at INTEGER NOT NULL DEFAULT 0,"
	"  webhook_done INTEGER NOT NULL DEFAULT 0,"
	"  syslog_done INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT NOT NULL DEFAULT '');"), NULL, NULL },
	/* 7: endpoints vmspki watches but did not install (a recording server, a NAS, a proxy). */
	{ ("CREATE TABLE endpoints ("
	"  id INTEGER PRIMARY KEY,"
	"  host TEXT NOT NULL,"
	"  port INTEGER NOT NULL,"
	"  sni TEXT NOT NULL DEFAULT '',"
	"  added_at INTEGER NOT NULL,"
	"  checked_at INTEGER NOT NULL DEFAULT 0,"
	"  status TEXT NOT NULL DEFAULT '',"
	"  detail TEXT NOT NULL DEFAULT '',"
	"  verified INTEGER NOT NULL DEFAULT 0,"
	"  name_ok INTEGER NOT NULL DEFAULT 0,"
	"  subject TEXT NOT NULL DEFAULT '',"
	"  issuer TEXT NOT NULL DEFAULT '',"
	"  not_after INTEGER NOT NULL DEFAULT 0,"
	"  fingerprint TEXT NOT NULL DEFAULT '',"
	"  chain_pem TEXT NOT NULL DEFAULT '',"
	"  UNIQUE (host, port, sni));"), NULL, NULL },
	/* 8: a task's local items (components, the server certificate, the old CA of a CA
	 * replacement) with a result each, and the phase a multi-phase task has reached. */
	{ ("ALTER TABLE tasks ADD COLUMN phase INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE task_items ("
	"  task_id INTEGER NOT NULL REFERENCES tasks (id),"
	"  seq INTEGER NOT NULL,"
	"  item TEXT NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'Pending',"
	"  detail TEXT NOT NULL DEFAULT '',"
	"  finished_at INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (task_id, item));"), NULL, NULL },
	/* 9: the devices table read a page at a time in the order of a column (the web UI). */
	{ ("CREATE INDEX devices_name ON devices (name);"
	"CREATE INDEX devices_mac ON devices (mac);"
	"CREATE INDEX devices_model ON devices (model);"
	"CREATE INDEX devices_https_state ON devices (https_state);"
	"CREATE INDEX devices_cert_not_after ON devices (cert_not_after);"), NULL, NULL },
};

const int vp_store_schema_version =
    (int)(sizeof(vp_store_migrations) / sizeof(vp_store_migrations[0]));
