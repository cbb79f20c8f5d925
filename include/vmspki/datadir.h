/* The data directory's layout: every file vmspki keeps under --data, named once here. Front
 * ends hold a vp_datadir; library modules handed the directory as a string use vp_datadir_join. */
#ifndef VMSPKI_DATADIR_H
#define VMSPKI_DATADIR_H

#include "vmspki/err.h"

/* The files and directories of a data directory. */
typedef enum vp_path {
	VP_PATH_DB,                /* vmspki.db: the store (SQLite) */
	VP_PATH_CERTS,             /* certs: the public files below */
	VP_PATH_CA_CERT,           /* certs/ca.cert.pem: the CA certificate, then its chain */
	VP_PATH_CA_CHAIN,          /* certs/ca.chain.pem: the chain above the CA alone */
	VP_PATH_SERVER_CERT,       /* certs/server.crt: the API server certificate and chain */
	VP_PATH_SERVER_KEY,        /* certs/server.key.pem: its key (0600) */
	VP_PATH_SERVER_PUBLIC,     /* certs/public.pem: the CA certificate clients trust */
	VP_PATH_SERVER_IMPORTED,   /* certs/server.imported: marks an operator's certificate */
	VP_PATH_PASSPHRASE,        /* ca.passphrase: the remembered CA passphrase (0600) */
	VP_PATH_COMPONENTS_CONF,   /* components.json: the components' settings (optional) */
	VP_PATH_COMPONENTS_CERTS,  /* components/certificates: their certificates and keys */
	VP_PATH_COMPONENTS_LOCK,   /* components/.lock: one component change at a time */
	VP_PATH_STORE,             /* store: where the store is when not vmspki.db (optional,
	                            * one line: postgresql://...; 0600, it may hold a password) */
	VP_PATH_COUNT
} vp_path;

/* The name of p relative to the data directory ("certs/ca.cert.pem"), for messages. */
const char *vp_path_name(vp_path p);

/* dir/name of p as a new string (free() it); NULL when out of memory. */
char *vp_datadir_join(const char *dir, vp_path p);

/* A data directory: the --data path and every path in it. Opening checks nothing (the
 * directory may not exist yet) and touches no file; only memory can fail (VP_ERR_NOMEM). */
typedef struct vp_datadir vp_datadir;
vp_err vp_datadir_open(const char *dir, vp_datadir **out, vp_error *e);
void vp_datadir_close(vp_datadir *dd);   /* NULL is fine */
/* The directory as given. */
const char *vp_datadir_dir(const vp_datadir *dd);
/* The path of p in dd, owned by dd (valid until vp_datadir_close). */
const char *vp_datadir_path(const vp_datadir *dd, vp_path p);

#endif
