/* The VAPIX driver's API values, as it records them per device (vp_device.api): the driver
 * table finds the driver again by them (driver.c). Its tests and fuzzer use them too. */
#ifndef VMSPKI_VAPIX_H
#define VMSPKI_VAPIX_H

#define VP_DEV_API_SOAP        "soap"          /* firmware 5.70 to 10.x */
#define VP_DEV_API_REST        "rest"          /* firmware 11+, /config/rest/cert/v1 */
#define VP_DEV_API_REST_BETA   "rest-beta"     /* early 11/12, /config/rest/cert/v1beta */
/* v1beta that takes POST (create_certificate, get_csr) and PATCH (replace) like v1, where the
 * other v1beta takes PUT: some AXIS OS 12.x (vapix_rest.c, beta_method) */
#define VP_DEV_API_REST_BETA_POST "rest-beta-post"

#endif
