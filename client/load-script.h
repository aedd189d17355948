/*
 * What evsock load sends and expects for any TCP protocol: templates
 * (--send), expectations (--expect, --expect-line, --expect-re,
 * --expect-bytes, --expect-http) and scripts of steps (--script FILE).
 * Pure functions over bytes: the protocol that drives them over
 * sockets is load-req.c.
 *
 * A template is a string with C escapes (\r \n \t \\ \xHH \0 ...) and
 * fields: {conn} the connection number, {seq} the request number on
 * that connection, {rand:N} N random letters and digits; {{ is a
 * literal '{'.
 */
#ifndef EVSOCK_CLIENT_LOAD_SCRIPT_H
#define EVSOCK_CLIENT_LOAD_SCRIPT_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#define LOAD_REPLY_MAX (64 * 1024) /* a line or HTTP header block */

enum load_seg_kind { LOAD_SEG_LIT, LOAD_SEG_CONN, LOAD_SEG_SEQ, LOAD_SEG_RAND };

struct load_seg {
	enum load_seg_kind kind;
	size_t off, len; /* LIT: bytes in lit; RAND: len */
};

struct load_tmpl {
	char *lit; /* every literal byte, unescaped */
	size_t litlen;
	struct load_seg *segs;
	size_t nsegs;
	int constant; /* no fields: lit is the message */
	int has_rand;
	size_t maxlen; /* longest expansion */
};

enum load_expect_kind {
	LOAD_EXPECT_EXACT, /* these bytes (a template) */
	LOAD_EXPECT_LINE,  /* any one line */
	LOAD_EXPECT_RE,    /* one line matching a regex */
	LOAD_EXPECT_BYTES, /* any N bytes */
	LOAD_EXPECT_HTTP   /* one HTTP/1.1 response */
};

struct load_expect {
	enum load_expect_kind kind;
	struct load_tmpl text; /* EXACT */
	regex_t re;            /* RE */
	int re_ok;
	char *src;      /* as written, for reports */
	uint64_t bytes; /* BYTES */
	int status;     /* HTTP: 0 means any 2xx */
};

enum load_step_kind {
	LOAD_STEP_SEND,
	LOAD_STEP_EXPECT,
	LOAD_STEP_SLEEP,
	LOAD_STEP_CLOSE
};

struct load_step {
	enum load_step_kind kind;
	struct load_tmpl send;
	struct load_expect expect;
	uint64_t sleep_ms;
};

struct load_script {
	struct load_step *steps;
	size_t nsteps;
	size_t loop; /* the steps from here repeat */
	int has_repeat;
	size_t maxsend; /* longest expanded send */
	size_t maxwant; /* longest expanded exact reply */
};

/* Incremental matching of one reply against one expectation. */
struct load_match {
	size_t pos;    /* bytes of this reply consumed */
	int state;     /* HTTP: where in the response */
	uint64_t left; /* HTTP: body or chunk bytes left */
	int status;    /* HTTP: the status code */
	int chunked;
	int close; /* HTTP: "Connection: close" */
	char *buf; /* a line or header block so far */
	size_t blen, bcap;
};

/* Returns a new empty script, or NULL. */
struct load_script *load_script_new(void);

/* Frees s and everything in it; NULL is a no-op. */
void load_script_free(struct load_script *s);

/*
 * Decodes C escapes of s[0..n) into out (room for n bytes); returns
 * the decoded length, or -1 with *err set on a bad escape.
 */
long load_script_unescape(const char *s, size_t n, char *out, const char **err);

/* Parses a template into t; returns 0, or -1 with *err set. */
int load_script_tmpl(struct load_tmpl *t, const char *s, const char **err);

/* Frees what t holds. */
void load_script_tmpl_clear(struct load_tmpl *t);

/*
 * Expands t for connection conn, request seq into out (room for
 * t->maxlen bytes), drawing {rand:N} from *rng; returns the length.
 */
size_t load_script_expand(const struct load_tmpl *t, uint64_t conn,
    uint64_t seq, uint64_t *rng, char *out);

/* Appends a send step; returns 0, or -1 with err (len errlen) set. */
int load_script_add_send(struct load_script *s, const char *text, char *err,
    size_t errlen);

/*
 * Appends an expect step of kind k whose argument is arg (the bytes,
 * the regex, the count, the HTTP status or NULL); returns 0 or -1 with
 * err set.
 */
int load_script_add_expect(struct load_script *s, enum load_expect_kind k,
    const char *arg, char *err, size_t errlen);

/* Appends a sleep or close step; returns 0 or -1 (ENOMEM). */
int load_script_add_sleep(struct load_script *s, uint64_t ms);
int load_script_add_close(struct load_script *s);

/*
 * Reads a script file: one step a line (send, expect, expect-line,
 * expect-re, expect-bytes, expect-http, sleep, close, repeat), '#'
 * comments.  Returns 0, or -1 with err naming the line.
 */
int load_script_parse_file(struct load_script *s, const char *path, char *err,
    size_t errlen);

/* Counts the steps of kind k from index `from` on. */
size_t load_script_count(const struct load_script *s, enum load_step_kind k,
    size_t from);

/* Replies (load-expect.c). */

/* Empties m for the next reply, keeping its buffer. */
void load_expect_match_reset(struct load_match *m);

/* Frees m's buffer. */
void load_expect_match_clear(struct load_match *m);

/*
 * Feeds p[0..n) to the reply m is reading against e, where want[0..wlen)
 * are the expanded bytes of an exact expectation.  Sets *used to the
 * bytes taken.  Returns 1 when the reply is complete, 0 when it needs
 * more (all n taken), -1 when it does not match, with why (size
 * whylen) saying what was expected and what came, escaped.
 */
int load_expect_match(struct load_match *m, const struct load_expect *e,
    const char *want, size_t wlen, const char *p, size_t n, size_t *used,
    char *why, size_t whylen);

/* Writes p[0..n) C-escaped and quoted into out (size cap), cut short
   with "..." when it does not fit. */
void load_expect_escape(const char *p, size_t n, char *out, size_t cap);

#endif
