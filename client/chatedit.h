/* Line editing for evsock chat on a terminal (libedit): the typed line
   stays whole at the bottom while output is printed above it. */
#ifndef EVSOCK_CLIENT_CHATEDIT_H
#define EVSOCK_CLIENT_CHATEDIT_H

#include <event2/event.h>

struct chatedit;

/*
 * Starts editing stdin (a terminal; output to stdout, a terminal too)
 * on base: shows the prompt and reads keys as they come.  Each finished
 * line goes to line(text, arg): text has no newline and is only valid
 * during the call; text is NULL once at end of input (Ctrl-D on an
 * empty line, or the terminal gone), after which nothing is read.
 * Returns NULL on failure.  Put the terminal back with chatedit_free.
 */
struct chatedit *chatedit_new(struct event_base *base,
    void (*line)(char *text, void *arg), void *arg);

/* Clears the typed line from the screen, puts the terminal back as it
   was and frees.  NULL is a no-op. */
void chatedit_free(struct chatedit *ed);

/* Sets the prompt (copied, cut to 63 bytes) and redraws it. */
void chatedit_set_prompt(struct chatedit *ed, const char *prompt);

/* Prints text and a newline above the prompt, then redraws the prompt
   and the typed text with the cursor where it was. */
void chatedit_print(struct chatedit *ed, const char *text);

#endif
