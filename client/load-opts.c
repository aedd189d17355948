/*
 * evsock load: the command line.  Options become a struct load_conf
 * (and, for scripted load, its script), checked as a whole before the
 * run starts; targets are resolved by load.c.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/addr.h"
#include "../common/opt.h"
#include "load-int.h"
#include "load-script.h"

static void load_opts_usage(FILE *fp);
static int load_opts_percentiles(const char *s, struct load_conf *conf);
static int load_opts_sources(const char *s, struct load_conf *conf);
static int load_opts_script(struct load_conf *conf, const char *send,
    int expect_kind, const char *expect_arg, const char *script_file,
    int expect_status);

static void
load_opts_usage(FILE *fp)
{
	fputs(
	    "usage: evsock load [options] HOST:PORT[,HOST:PORT...]\n"
	    "       evsock load merge [--json] [--histogram F] [--report F] A.json...\n"
	    "\n"
	    "Opens many connections to a TCP server, checks every reply, and\n"
	    "reports throughput and latency percentiles.  Several targets share\n"
	    "the connections round robin (connection i goes to target i mod n);\n"
	    "irc then also reports the latency of deliveries whose sender is on\n"
	    "another target than the receiver (cross-target: in a cluster, from\n"
	    "one instance to another).\n"
	    "\n"
	    "  -m, --mode echo|irc|script  echo (default): send, check every echoed\n"
	    "                            byte; irc: register, join, PRIVMSG and time\n"
	    "                            fan-out; script: what --send/--script say\n"
	    "  -c, --connections N       connections (default 100)\n"
	    "  -s, --size BYTES          echo: message size; irc: text length (64)\n"
	    "  -d, --duration TIME       measured time, e.g. 10, 10s, 2m (default 10s)\n"
	    "  -r, --rate MSGS_PER_S     open loop at this total rate; latency counts\n"
	    "                            from when each message was due.  Default for\n"
	    "                            echo and scripts: closed loop (send, await\n"
	    "                            the reply, repeat).  irc needs a rate (1000)\n"
	    "  -t, --threads N           event loops, one per thread (default 1)\n",
	    fp);
	fputs(
	    "\n"
	    "Any TCP protocol (mode script):\n"
	    "      --send STRING         send this; C escapes (\\r \\n \\t \\\\ \\xHH)\n"
	    "                            and fields {conn} (connection number), {seq}\n"
	    "                            (request number on it), {rand:N} (N random\n"
	    "                            letters and digits); {{ is a brace\n"
	    "      --expect STRING       the reply is exactly these bytes (escapes,\n"
	    "                            {conn} and {seq} as in --send)\n"
	    "      --expect-line         the reply is one line, any\n"
	    "      --expect-re REGEX     one line matching this POSIX extended regex\n"
	    "      --expect-bytes N      any N bytes\n"
	    "      --expect-http         one HTTP/1.1 response (Content-Length or\n"
	    "                            chunked), status 2xx; without --send,\n"
	    "                            GET / HTTP/1.1\n"
	    "      --expect-status N     --expect-http: this status instead\n"
	    "      --script FILE         steps, one a line: send STRING, expect\n"
	    "                            STRING, expect-line, expect-re REGEX,\n"
	    "                            expect-bytes N, expect-http [STATUS], sleep\n"
	    "                            TIME, close, repeat (the steps after it\n"
	    "                            repeat; without it, all of them); # comments\n"
	    "  -P, --pipeline N          replies awaited per connection before it\n"
	    "                            sends more (closed loop; default 1)\n"
	    "      --churn               connections as the load: each connects, does\n"
	    "                            one exchange, closes, and a new one takes its\n"
	    "                            place; reports connections/s and connect\n"
	    "                            latency (closed loop)\n",
	    fp);
	fputs(
	    "\n"
	    "Connections and timing:\n"
	    "      --warmup TIME         run this long before measuring (default 1s)\n"
	    "      --connect-rate N      open at most N connections per second\n"
	    "      --connect-timeout T   give up on a connection after T (default 10s);\n"
	    "                            sending starts when every connection is up\n"
	    "                            (irc: joined) or failed, or after twice this\n"
	    "      --tls                 speak TLS: every connection does a full\n"
	    "                            handshake (the certificate checked against\n"
	    "                            the system's CA store and HOST); reports\n"
	    "                            handshakes per second and their latency\n"
	    "      --ca-file FILE        --tls, trusting the CA certificates in FILE\n"
	    "      --insecure            --tls without any verification\n"
	    "      --source-ip A,B,...   spread connections over these local addresses\n"
	    "      --drain TIME          after the end, wait this long for replies\n"
	    "                            still in flight (default 5s)\n"
	    "      --senders K           irc: clients that send (default 1)\n"
	    "      --channel NAME        irc: channel to join (default #bench)\n"
	    "      --password PASS       irc: server password\n",
	    fp);
	fputs(
	    "\n"
	    "Reports:\n"
	    "      --percentiles LIST    e.g. 50,90,99,99.9 (the default)\n"
	    "      --progress            a line per second on stderr even when it is\n"
	    "                            not a terminal; --no-progress: never\n"
	    "      --json                the summary as one JSON object on stdout,\n"
	    "                            histogram buckets and per-second samples\n"
	    "                            included (what `merge` reads)\n"
	    "      --histogram FILE      the latency distribution in HdrHistogram's\n"
	    "                            .hgrm text form, in microseconds\n"
	    "      --report FILE.html    one self-contained page: throughput and\n"
	    "                            latency over time, the distribution\n"
	    "  -h, --help                this text\n"
	    "\n"
	    "Exit status: 0 clean run; 1 errors (a reply that did not match, a\n"
	    "failed connection, lost messages); 2 usage error.\n",
	    fp);
}

static int
load_opts_percentiles(const char *s, struct load_conf *conf)
{
	char buf[256], *tok, *save = NULL;
	const char *err;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	conf->npercentiles = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		double p;

		if (conf->npercentiles == LOAD_MAX_PERCENTILES ||
		    opt_parse_double(tok, 100, &p, &err) == -1)
			return -1;
		conf->percentiles[conf->npercentiles++] = p;
	}
	return conf->npercentiles > 0 ? 0 : -1;
}

static int
load_opts_sources(const char *s, struct load_conf *conf)
{
	char buf[4096], *tok, *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	conf->nsources = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		struct sockaddr_storage *ss;

		if (conf->nsources == LOAD_MAX_SOURCES)
			return -1;
		ss = &conf->sources[conf->nsources];
		memset(ss, 0, sizeof(*ss));
		if (inet_pton(AF_INET, tok,
		        &((struct sockaddr_in *)ss)->sin_addr) == 1) {
			ss->ss_family = AF_INET;
			conf->sourcelens[conf->nsources] = sizeof(
			    struct sockaddr_in);
		} else if (inet_pton(AF_INET6, tok,
		               &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
			ss->ss_family = AF_INET6;
			conf->sourcelens[conf->nsources] = sizeof(
			    struct sockaddr_in6);
		} else
			return -1;
		conf->nsources++;
	}
	return conf->nsources > 0 ? 0 : -1;
}

/*
 * Turns --send and one expectation, or --script FILE, into
 * conf->script, and checks that it can run as asked.  Returns 0, or -1
 * after printing a usage error.
 */
static int
load_opts_script(struct load_conf *conf, const char *send, int expect_kind,
    const char *expect_arg, const char *script_file, int expect_status)
{
	struct load_script *s;
	char err[256], req[600], status[16];
	const struct load_step *st;

	if ((s = conf->script = load_script_new()) == NULL) {
		fprintf(stderr, "evsock load: out of memory\n");
		return -1;
	}
	if (script_file != NULL) {
		if (send != NULL || expect_kind != -1) {
			fprintf(stderr,
			    "evsock load: --script: the script "
			    "says what to send and expect; drop --send and "
			    "--expect*\n");
			return -1;
		}
		if (load_script_parse_file(s, script_file, err, sizeof(err)) ==
		    -1) {
			fprintf(stderr, "evsock load: --script: %s\n", err);
			return -1;
		}
	} else {
		if (send == NULL && expect_kind == LOAD_EXPECT_HTTP) {
			/* The host part of the first target, as Host:. */
			snprintf(req, sizeof(req),
			    "GET / HTTP/1.1\\r\\nHost: "
			    "%.*s\\r\\n\\r\\n",
			    (int)strcspn(conf->target, ","), conf->target);
			send = req;
		}
		if (send == NULL && conf->churn && expect_kind == -1) {
			/* Connections as the load against an echo server:
			   a line it can echo, checked exactly. */
			send = "evsock {conn} {seq}\\n";
			expect_kind = LOAD_EXPECT_EXACT;
			expect_arg = send;
		}
		if (send == NULL) {
			fprintf(stderr,
			    "evsock load: --expect*: what to send? "
			    "give --send STRING\n");
			return -1;
		}
		if (expect_kind == -1) {
			fprintf(stderr,
			    "evsock load: --send: what reply? give "
			    "--expect STRING, --expect-line, --expect-re, "
			    "--expect-bytes or --expect-http\n");
			return -1;
		}
		if (load_script_add_send(s, send, err, sizeof(err)) == -1) {
			fprintf(stderr, "evsock load: --send: %s\n", err);
			return -1;
		}
		if (expect_kind == LOAD_EXPECT_HTTP && expect_status > 0) {
			snprintf(status, sizeof(status), "%d", expect_status);
			expect_arg = status;
		}
		if (load_script_add_expect(s,
		        (enum load_expect_kind)expect_kind, expect_arg, err,
		        sizeof(err)) == -1) {
			fprintf(stderr, "evsock load: --expect: %s\n", err);
			return -1;
		}
	}
	if (conf->churn && load_script_count(s, LOAD_STEP_CLOSE, 0) == 0 &&
	    load_script_add_close(s) == -1) {
		fprintf(stderr, "evsock load: out of memory\n");
		return -1;
	}
	if (s->loop == s->nsteps) {
		fprintf(stderr,
		    "evsock load: --script: repeat at the end "
		    "repeats nothing\n");
		return -1;
	}
	if (conf->rate > 0) {
		if (conf->churn) {
			fprintf(stderr,
			    "evsock load: --churn runs closed "
			    "loop; -c sets how many at once, not --rate\n");
			return -1;
		}
		if (load_script_count(s, LOAD_STEP_SLEEP, 0) > 0 ||
		    load_script_count(s, LOAD_STEP_CLOSE, 0) > 0) {
			fprintf(stderr,
			    "evsock load: --rate: a script with "
			    "sleep or close runs closed loop only\n");
			return -1;
		}
		if (load_script_count(s, LOAD_STEP_SEND, s->loop) == 0) {
			fprintf(stderr,
			    "evsock load: --rate: the repeated "
			    "steps send nothing\n");
			return -1;
		}
	}
	for (size_t i = 0; i < s->nsteps; i++) {
		st = &s->steps[i];
		if (st->kind == LOAD_STEP_SEND ||
		    st->kind == LOAD_STEP_EXPECT || st->kind == LOAD_STEP_CLOSE)
			break;
		if (i + 1 == s->nsteps) {
			fprintf(stderr,
			    "evsock load: --script: no step sends, "
			    "expects or closes\n");
			return -1;
		}
	}
	return 0;
}

/* Returns 0, or 2 after printing a usage error. */
int
load_opts_parse(int argc, char **argv, struct load_conf *conf)
{
	enum {
		OPT_WARMUP = 256,
		OPT_CONNECT_RATE,
		OPT_CONNECT_TIMEOUT,
		OPT_SOURCE_IP,
		OPT_DRAIN,
		OPT_PERCENTILES,
		OPT_SENDERS,
		OPT_CHANNEL,
		OPT_PASSWORD,
		OPT_PROGRESS,
		OPT_NO_PROGRESS,
		OPT_JSON,
		OPT_SEND,
		OPT_EXPECT,
		OPT_EXPECT_LINE,
		OPT_EXPECT_RE,
		OPT_EXPECT_BYTES,
		OPT_EXPECT_HTTP,
		OPT_EXPECT_STATUS,
		OPT_SCRIPT,
		OPT_CHURN,
		OPT_HISTOGRAM,
		OPT_REPORT,
		OPT_TLS,
		OPT_CA_FILE,
		OPT_INSECURE
	};
	static const struct option longopts[] = { { "mode", required_argument,
		                                      NULL, 'm' },
		{ "connections", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "rate", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "connect-rate", required_argument, NULL, OPT_CONNECT_RATE },
		{ "connect-timeout", required_argument, NULL,
		    OPT_CONNECT_TIMEOUT },
		{ "source-ip", required_argument, NULL, OPT_SOURCE_IP },
		{ "drain", required_argument, NULL, OPT_DRAIN },
		{ "percentiles", required_argument, NULL, OPT_PERCENTILES },
		{ "senders", required_argument, NULL, OPT_SENDERS },
		{ "channel", required_argument, NULL, OPT_CHANNEL },
		{ "password", required_argument, NULL, OPT_PASSWORD },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "tls", no_argument, NULL, OPT_TLS },
		{ "ca-file", required_argument, NULL, OPT_CA_FILE },
		{ "insecure", no_argument, NULL, OPT_INSECURE },
		{ "send", required_argument, NULL, OPT_SEND },
		{ "expect", required_argument, NULL, OPT_EXPECT },
		{ "expect-line", no_argument, NULL, OPT_EXPECT_LINE },
		{ "expect-re", required_argument, NULL, OPT_EXPECT_RE },
		{ "expect-bytes", required_argument, NULL, OPT_EXPECT_BYTES },
		{ "expect-http", no_argument, NULL, OPT_EXPECT_HTTP },
		{ "expect-status", required_argument, NULL, OPT_EXPECT_STATUS },
		{ "script", required_argument, NULL, OPT_SCRIPT },
		{ "pipeline", required_argument, NULL, 'P' },
		{ "churn", no_argument, NULL, OPT_CHURN },
		{ "histogram", required_argument, NULL, OPT_HISTOGRAM },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	const char *err = NULL;
	const char *send = NULL, *expect_arg = NULL, *script_file = NULL;
	uint64_t v;
	int ch, rate_given = 0, size_given = 0, mode_given = 0;
	int expect_kind = -1, expect_status = 0, longindex;
	const char *ca_file = NULL;
	int tls = 0, insecure = 0;

	conf->mode = LOAD_ECHO;
	conf->conns = 100;
	conf->size = 64;
	conf->duration_ms = 10000;
	conf->warmup_ms = 1000;
	conf->threads = 1;
	conf->connect_timeout_ms = 10000;
	conf->drain_ms = 5000;
	conf->senders = 1;
	conf->channel = "#bench";
	conf->progress = isatty(STDERR_FILENO);
	conf->percentiles[0] = 50;
	conf->percentiles[1] = 90;
	conf->percentiles[2] = 99;
	conf->percentiles[3] = 99.9;
	conf->npercentiles = 4;
	conf->pipeline = 1;

	optind = 1;
	opterr = 0;
	for (;;) {
		int expect = -1;

		longindex = -1;
		if ((ch = getopt_long(argc, argv, ":m:c:s:d:r:t:P:h", longopts,
		         &longindex)) == -1)
			break;
		switch (ch) {
		case 'm':
			mode_given = 1;
			if (strcmp(optarg, "echo") == 0)
				conf->mode = LOAD_ECHO;
			else if (strcmp(optarg, "irc") == 0)
				conf->mode = LOAD_IRC;
			else if (strcmp(optarg, "script") == 0)
				conf->mode = LOAD_SCRIPT;
			else
				err = "the modes are echo, irc and script";
			break;
		case 'P':
			if (opt_parse_uint(optarg, 1, 65536, &v, &err) == 0)
				conf->pipeline = (unsigned)v;
			break;
		case OPT_SEND:
			if (send != NULL)
				err = "one --send; use --script for more steps";
			send = optarg;
			break;
		case OPT_EXPECT:
			expect = LOAD_EXPECT_EXACT;
			break;
		case OPT_EXPECT_LINE:
			expect = LOAD_EXPECT_LINE;
			break;
		case OPT_EXPECT_RE:
			expect = LOAD_EXPECT_RE;
			break;
		case OPT_EXPECT_BYTES:
			expect = LOAD_EXPECT_BYTES;
			break;
		case OPT_EXPECT_HTTP:
			expect = LOAD_EXPECT_HTTP;
			break;
		case OPT_EXPECT_STATUS:
			if (opt_parse_uint(optarg, 100, 599, &v, &err) == 0)
				expect_status = (int)v;
			break;
		case OPT_SCRIPT:
			script_file = optarg;
			break;
		case OPT_CHURN:
			conf->churn = 1;
			break;
		case OPT_HISTOGRAM:
			conf->histogram = optarg;
			break;
		case OPT_REPORT:
			conf->report = optarg;
			break;
		case 'c':
			opt_parse_uint(optarg, 1, 10000000, &conf->conns, &err);
			break;
		case 's':
			size_given = 1;
			opt_parse_size(optarg, 1, 64 * 1024 * 1024, &conf->size,
			    &err);
			break;
		case 'd':
			opt_parse_duration(optarg, 1000ULL * 86400 * 365,
			    &conf->duration_ms, &err);
			if (err == NULL && conf->duration_ms == 0)
				err = "duration must be positive";
			break;
		case 'r':
			rate_given = 1;
			opt_parse_double(optarg, 1e9, &conf->rate, &err);
			if (err == NULL && conf->rate <= 0)
				err = "rate must be positive";
			break;
		case 't':
			if (opt_parse_uint(optarg, 1, 1024, &v, &err) == 0)
				conf->threads = (unsigned)v;
			break;
		case OPT_WARMUP:
			opt_parse_duration(optarg, 1000ULL * 86400,
			    &conf->warmup_ms, &err);
			break;
		case OPT_CONNECT_RATE:
			opt_parse_double(optarg, 1e9, &conf->connect_rate,
			    &err);
			break;
		case OPT_CONNECT_TIMEOUT:
			opt_parse_duration(optarg, 1000ULL * 86400,
			    &conf->connect_timeout_ms, &err);
			break;
		case OPT_SOURCE_IP:
			if (load_opts_sources(optarg, conf) == -1)
				err = "expected a list of IP addresses";
			break;
		case OPT_DRAIN:
			opt_parse_duration(optarg, 1000ULL * 86400,
			    &conf->drain_ms, &err);
			break;
		case OPT_PERCENTILES:
			if (load_opts_percentiles(optarg, conf) == -1)
				err = "expected numbers from 0 to 100, "
				      "comma-separated";
			break;
		case OPT_SENDERS:
			opt_parse_uint(optarg, 1, 10000000, &conf->senders,
			    &err);
			break;
		case OPT_CHANNEL:
			conf->channel = optarg;
			if ((optarg[0] != '#' && optarg[0] != '&') ||
			    strlen(optarg) > 50 || strpbrk(optarg, " ,\a\r\n"))
				err = "expected a channel name such as #bench";
			break;
		case OPT_PASSWORD:
			conf->password = optarg;
			if (strpbrk(optarg, " \r\n") || strlen(optarg) > 200)
				err = "a password is one word";
			break;
		case OPT_PROGRESS:
			conf->progress = 1;
			break;
		case OPT_NO_PROGRESS:
			conf->progress = 0;
			break;
		case OPT_JSON:
			conf->json = 1;
			break;
		case OPT_TLS:
			tls = 1;
			break;
		case OPT_CA_FILE:
			ca_file = optarg;
			tls = 1;
			break;
		case OPT_INSECURE:
			insecure = tls = 1;
			break;
		case 'h':
			load_opts_usage(stdout);
			exit(0);
		case ':':
			fprintf(stderr, "evsock load: %s needs a value\n",
			    argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "evsock load: unknown option %s\n",
			    argv[optind - 1]);
			load_opts_usage(stderr);
			return 2;
		}
		if (expect != -1) {
			if (expect_kind != -1)
				err = "one expectation per --send; use "
				      "--script for more steps";
			expect_kind = expect;
			expect_arg = optarg;
		}
		if (err != NULL) {
			/* Name the option as it was written. */
			if (longindex >= 0)
				fprintf(stderr, "evsock load: --%s",
				    longopts[longindex].name);
			else
				fprintf(stderr, "evsock load: -%c", ch);
			if (optarg != NULL)
				fprintf(stderr, " %s", optarg);
			fprintf(stderr, ": %s\n", err);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "evsock load: %s\n",
		    optind == argc ? "which server? give HOST:PORT" :
		                     "one HOST:PORT, please");
		load_opts_usage(stderr);
		return 2;
	}
	conf->target = argv[optind];
	if (send != NULL || expect_kind != -1 || script_file != NULL ||
	    (conf->churn && !mode_given)) {
		if (mode_given && conf->mode != LOAD_SCRIPT) {
			fprintf(stderr,
			    "evsock load: --mode: --send, --expect* "
			    "and --script are mode script\n");
			return 2;
		}
		conf->mode = LOAD_SCRIPT;
	}
	if (conf->churn && conf->mode == LOAD_IRC) {
		fprintf(stderr, "evsock load: --churn: not with --mode irc\n");
		return 2;
	}
	if (conf->mode == LOAD_SCRIPT &&
	    load_opts_script(conf, send, expect_kind, expect_arg, script_file,
	        expect_status) == -1)
		return 2;
	if (conf->pipeline > 1 && conf->mode != LOAD_SCRIPT) {
		fprintf(stderr,
		    "evsock load: --pipeline: for --send or "
		    "--script\n");
		return 2;
	}
	if (conf->mode == LOAD_IRC) {
		if (!rate_given)
			conf->rate = 1000;
		if (conf->senders > conf->conns) {
			fprintf(stderr,
			    "evsock load: --senders is more than "
			    "--connections\n");
			return 2;
		}
		if (conf->size > 400) {
			fprintf(stderr,
			    "evsock load: irc text is at most "
			    "400 bytes\n");
			return 2;
		}
	}
	(void)size_given;
	if (conf->threads > conf->conns)
		conf->threads = (unsigned)conf->conns;
	if (conf->nsources > 0) {
		for (unsigned i = 1; i < conf->nsources; i++)
			if (conf->sources[i].ss_family !=
			    conf->sources[0].ss_family) {
				fprintf(stderr,
				    "evsock load: --source-ip "
				    "mixes IPv4 and IPv6\n");
				return 2;
			}
	}
	if (load_resolve(conf) == -1)
		return 2;
	if (tls && load_tls(conf, ca_file, insecure) == -1)
		return 2;
	for (unsigned i = 0; conf->nsources > 0 && i < conf->ntargets; i++)
		if (conf->addrs[i].ss_family != conf->sources[0].ss_family) {
			fprintf(stderr,
			    "evsock load: --source-ip and %s are "
			    "not of the same address family\n",
			    conf->target);
			return 2;
		}
	{
		/* A tag unique enough that two runs on one channel do not
		   count each other's messages. */
		static const char al[] = "abcdefghijklmnopqrstuvwxyz";
		uint64_t x = load_now() ^ ((uint64_t)getpid() << 20);

		for (int i = 0; i < LOAD_TAG_LEN; i++) {
			conf->tag[i] = al[x % 26];
			x /= 26;
		}
		conf->tag[LOAD_TAG_LEN] = '\0';
	}
	return 0;
}
