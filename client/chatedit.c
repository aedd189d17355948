/*
 * libedit on the event loop.  libedit's unbuffered mode makes el_gets()
 * handle one key per call, so a read event on stdin calls it once per
 * readiness and the loop keeps serving the socket between keys.
 *
 * Output arrives while a line is half typed: the typed line is cleared
 * with the terminal's own capabilities (libedit's EL_ECHOTC, from
 * terminfo), the output printed, and libedit redraws the prompt and
 * the text with EL_REFRESH.
 */
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <wchar.h>

#include <histedit.h>

#include "chatedit.h"

#define CHATEDIT_HISTORY 500
#define CHATEDIT_CTRL_D 4

struct chatedit {
	EditLine *el;
	History *hist;
	struct event *in_ev;
	struct event *winch_ev;
	struct event *cont_ev;
	void (*line)(char *, void *);
	void *arg;
	int editing; /* libedit owns the terminal: raw mode, prompt shown */
	char prompt[64];
};

static char *
chatedit_prompt_cb(EditLine *el)
{
	struct chatedit *ed = NULL;

	el_get(el, EL_CLIENTDATA, &ed);
	return ed != NULL ? ed->prompt : (char *)"";
}

/* Returns the columns s[0..n) takes on the terminal. */
static int
chatedit_width(const char *s, size_t n)
{
	mbstate_t st;
	size_t i = 0, k;
	wchar_t wc;
	int w = 0, cw;

	memset(&st, 0, sizeof(st));
	while (i < n) {
		k = mbrtowc(&wc, s + i, n - i, &st);
		if (k == 0)
			break;
		if (k == (size_t)-1 || k == (size_t)-2) {
			memset(&st, 0, sizeof(st));
			k = 1;
			cw = 1;
		} else {
			cw = wcwidth(wc);
		}
		w += cw > 0 ? cw : 0;
		i += k;
	}
	return w;
}

/* Returns the terminal row (0 = the prompt's) of column `col` of the
   edited text, the prompt included. */
static int
chatedit_row(struct chatedit *ed, int col)
{
	int cols = 0;

	if (el_get(ed->el, EL_GETTC, "co", &cols, NULL) != 0 || cols <= 0)
		return 0;
	return col / cols;
}

/* Moves the cursor `up` rows up to the left margin and clears from
   there to the end of the screen. */
static void
chatedit_clear_from(struct chatedit *ed, int up)
{
	while (up-- > 0)
		el_set(ed->el, EL_ECHOTC, "-s", "up", NULL);
	fputc('\r', stdout);
	/* Without "clear to end of screen", the line at least. */
	if (el_set(ed->el, EL_ECHOTC, "-s", "cd", NULL) != 0)
		el_set(ed->el, EL_ECHOTC, "-s", "ce", NULL);
}

/* Clears the prompt and the typed text; the cursor ends where the
   prompt started. */
static void
chatedit_erase(struct chatedit *ed)
{
	const LineInfo *li = el_line(ed->el);
	int col = chatedit_width(ed->prompt, strlen(ed->prompt)) +
	    chatedit_width(li->buffer, (size_t)(li->cursor - li->buffer));

	chatedit_clear_from(ed, chatedit_row(ed, col));
}

static void
chatedit_start(struct chatedit *ed)
{
	/* Turning unbuffered mode on clears the line, goes raw and shows
	   the prompt. */
	el_set(ed->el, EL_UNBUFFERED, 1);
	ed->editing = 1;
}

static void
chatedit_stop(struct chatedit *ed)
{
	el_set(ed->el, EL_UNBUFFERED, 0);
	ed->editing = 0;
	fflush(stdout);
}

/* A finished line: libedit has moved below it.  The line is cleared
   from the screen (what it did is shown by the output it causes), the
   terminal is cooked while the line is acted upon, then editing starts
   again on an empty line. */
static void
chatedit_finish(struct chatedit *ed, const char *buf, int count)
{
	HistEvent ev;
	char *text;
	int width;

	width = chatedit_width(ed->prompt, strlen(ed->prompt)) +
	    chatedit_width(buf, (size_t)count - 1);
	chatedit_clear_from(ed, chatedit_row(ed, width) + 1);
	text = strndup(buf, (size_t)count - 1);
	chatedit_stop(ed);
	if (text != NULL) {
		if (text[0] != '\0')
			history(ed->hist, &ev, H_ENTER, text);
		ed->line(text, ed->arg);
		free(text);
	}
	chatedit_start(ed);
}

static void
chatedit_in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chatedit *ed = arg;
	const char *buf;
	int count = 0, avail = 0;

	(void)what;
	/* Readable with nothing to read: the terminal hung up.  (el_gets
	   cannot tell: it returns NULL for an emptied line too.) */
	if (ioctl(fd, FIONREAD, &avail) == 0 && avail == 0)
		goto end;
	errno = 0;
	buf = el_gets(ed->el, &count);
	if (buf != NULL && count > 0 && buf[count - 1] == '\n') {
		chatedit_finish(ed, buf, count);
		return;
	}
	if (buf != NULL && count == 1 && buf[0] == CHATEDIT_CTRL_D)
		goto end;
	if (buf == NULL && errno != 0 && errno != EINTR && errno != EAGAIN)
		goto end;
	return; /* one more key of the line being typed */
end:
	/* Ctrl-D on an empty line, or the terminal is gone. */
	chatedit_erase(ed);
	chatedit_stop(ed);
	event_del(ed->in_ev);
	ed->line(NULL, ed->arg);
}

static void
chatedit_winch_cb(evutil_socket_t sig, short what, void *arg)
{
	struct chatedit *ed = arg;

	(void)sig;
	(void)what;
	el_resize(ed->el);
	if (ed->editing)
		el_set(ed->el, EL_REFRESH);
}

/* Back from a stop (Ctrl-Z, fg): the shell had the terminal cooked. */
static void
chatedit_cont_cb(evutil_socket_t sig, short what, void *arg)
{
	struct chatedit *ed = arg;

	(void)sig;
	(void)what;
	if (!ed->editing)
		return;
	el_set(ed->el, EL_PREP_TERM, 1);
	el_set(ed->el, EL_REFRESH);
}

struct chatedit *
chatedit_new(struct event_base *base, void (*line)(char *, void *), void *arg)
{
	struct chatedit *ed;
	HistEvent ev;

	if ((ed = calloc(1, sizeof(*ed))) == NULL)
		return NULL;
	ed->line = line;
	ed->arg = arg;
	snprintf(ed->prompt, sizeof(ed->prompt), "> ");
	/* libedit reads UTF-8 only when the locale says so. */
	(void)setlocale(LC_CTYPE, "");
	ed->el = el_init("evsock", stdin, stdout, stderr);
	ed->hist = history_init();
	ed->in_ev = event_new(base, STDIN_FILENO, EV_READ | EV_PERSIST,
	    chatedit_in_cb, ed);
	ed->winch_ev = evsignal_new(base, SIGWINCH, chatedit_winch_cb, ed);
	ed->cont_ev = evsignal_new(base, SIGCONT, chatedit_cont_cb, ed);
	if (ed->el == NULL || ed->hist == NULL || ed->in_ev == NULL ||
	    ed->winch_ev == NULL || ed->cont_ev == NULL ||
	    event_add(ed->in_ev, NULL) == -1) {
		chatedit_free(ed);
		return NULL;
	}
	history(ed->hist, &ev, H_SETSIZE, CHATEDIT_HISTORY);
	el_set(ed->el, EL_CLIENTDATA, ed);
	el_set(ed->el, EL_PROMPT, chatedit_prompt_cb);
	el_set(ed->el, EL_EDITOR, "emacs");
	el_set(ed->el, EL_HIST, history, ed->hist);
	/* Signals stay with the event loop: SIGINT is /quit there. */
	el_set(ed->el, EL_SIGNAL, 0);
	(void)el_source(ed->el, NULL); /* ~/.editrc, if there is one */
	(void)event_add(ed->winch_ev, NULL);
	(void)event_add(ed->cont_ev, NULL);
	chatedit_start(ed);
	return ed;
}

void
chatedit_free(struct chatedit *ed)
{
	if (ed == NULL)
		return;
	if (ed->editing) {
		chatedit_erase(ed);
		chatedit_stop(ed);
	}
	if (ed->in_ev != NULL)
		event_free(ed->in_ev);
	if (ed->winch_ev != NULL)
		event_free(ed->winch_ev);
	if (ed->cont_ev != NULL)
		event_free(ed->cont_ev);
	if (ed->el != NULL)
		el_end(ed->el);
	if (ed->hist != NULL)
		history_end(ed->hist);
	fflush(stdout);
	free(ed);
}

void
chatedit_set_prompt(struct chatedit *ed, const char *prompt)
{
	if (ed->editing)
		chatedit_erase(ed);
	snprintf(ed->prompt, sizeof(ed->prompt), "%s", prompt);
	if (ed->editing)
		el_set(ed->el, EL_REFRESH);
}

void
chatedit_print(struct chatedit *ed, const char *text)
{
	if (!ed->editing) {
		printf("%s\n", text);
		fflush(stdout);
		return;
	}
	chatedit_erase(ed);
	/* Raw mode may not turn LF into CRLF. */
	printf("%s\r\n", text);
	el_set(ed->el, EL_REFRESH);
	fflush(stdout);
}
