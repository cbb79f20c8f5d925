/* What a device driver shares with driver.c: the head every operation starts with, and the
 * drivers themselves. Only driver files (driver.c, vapix*.c, later onvif*.c) include this. */
#ifndef VMSPKI_DRIVER_IMPL_H
#define VMSPKI_DRIVER_IMPL_H

#include "vmspki/driver.h"

/* The first member of every driver's operation struct: vp_dop_* dispatch through it. A
 * driver's start sets drv to itself. */
struct vp_dop {
	const vp_driver *drv;
};

/* The drivers (driver.c lists them in the order a probe tries them). */
extern const vp_driver vp_driver_vapix;

#endif
