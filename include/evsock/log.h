/*
 * Where the library's own messages go.  evsock reports a few events an
 * operator should see (accept() out of descriptors, a shutdown deadline
 * that closed connections hard) and, at debug level, every connection.
 * By default they are printed to stderr, one line each, at info level
 * and above.
 *
 * Both settings are process-wide: make them before any thread runs an
 * evsock event loop.
 */
#ifndef EVSOCK_LOG_H
#define EVSOCK_LOG_H

#include <evsock/version.h>

#ifdef __cplusplus
extern "C" {
#endif

enum evs_log_level { EVS_LOG_ERROR, EVS_LOG_WARN, EVS_LOG_INFO, EVS_LOG_DEBUG };

/* Sets the most verbose level that is reported (default EVS_LOG_INFO). */
EVS_API void evs_log_set_level(enum evs_log_level level);

/*
 * Hands every reported message to fn instead of printing it: `msg` is
 * one line without a newline, valid only during the call.  fn runs on
 * the thread of the event loop that logs, so with several loops it may
 * run on several threads at once.  fn NULL restores stderr.
 */
EVS_API void evs_log_set_handler(void (*fn)(enum evs_log_level level,
                                     const char *msg, void *arg),
    void *arg);

#ifdef __cplusplus
}
#endif

#endif
