/* Camera key stores (hardening guide 4.5: TPM, secure element): the `device.keystore` setting
 * says where cameras make the keys vmspki asks for; each device's key store is recorded as
 * the camera reports it for vmspki's key, and shown with the device. */
#ifndef VMSPKI_KEYSTORE_H
#define VMSPKI_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "vmspki/err.h"
#include "vmspki/store.h"

/* Records that vmspki's key on device dev_id is in key store ks ("TEE0", "SE0", or "default"
 * when the device does not say), in the caller's transaction. */
vp_err vp_keystore_record(vp_store *s, int64_t dev_id, const char *ks, vp_error *e);

/* Forgets it (the device is removed; its id may be given again). */
vp_err vp_keystore_forget(vp_store *s, int64_t dev_id, vp_error *e);

/* The key store recorded for device dev_id into buf (n bytes); "" when none is. */
void vp_keystore_get(vp_store *s, int64_t dev_id, char *buf, size_t n);

#endif
