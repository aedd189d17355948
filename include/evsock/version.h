#ifndef EVSOCK_VERSION_H
#define EVSOCK_VERSION_H

#define EVS_VERSION "0.1.0"

/* Symbols of the public API. */
#if defined(__GNUC__)
#define EVS_API __attribute__((visibility("default")))
#else
#define EVS_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Returns the library's version string, e.g. "0.1.0" (static). */
EVS_API const char *evs_version(void);

#ifdef __cplusplus
}
#endif

#endif
