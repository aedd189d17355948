/* Unit: the pass's output spool and a cork's ranges of it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>

#include "../common/sockio.h"
#include "../server/spool.h"

/* Reads everything fd has now (non-blocking) into buf; returns bytes. */
static size_t
drain_fd(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
		got += (size_t)n;
	return got;
}

/* Bytes put one after the other lie one after the other, and a cork
   that takes them in turn holds one range. */
START_TEST(test_spool_adjacent_ranges_merge)
{
	struct spool s = { 0 };
	struct spool_segs g = { 0 };
	struct spool_at a, b;

	ck_assert_int_eq(spool_put(&s, "hello ", 6, &a), 0);
	ck_assert_int_eq(spool_put(&s, "world\n", 6, &b), 0);
	ck_assert_ptr_eq(b.p, a.p + 6);
	ck_assert_int_eq(spool_segs_add(&g, &a, 6), 0);
	ck_assert_int_eq(spool_segs_add(&g, &b, 6), 0);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_uint_eq(g.len, 12);
	ck_assert_int_eq(memcmp(g.v[0].iov_base, "hello world\n", 12), 0);
	spool_segs_free(&g);
	spool_free(&s);
}
END_TEST

/* A cork that skips pieces holds one range per run, up to the limit;
   copied out, they come in the order they were added. */
START_TEST(test_spool_gaps_make_ranges_up_to_the_limit)
{
	struct spool s = { 0 };
	struct spool_segs g = { 0 };
	struct evbuffer *out = evbuffer_new();
	char want[SPOOL_SEGS_MAX * 4 + 1], got[sizeof(want)];
	size_t wlen = 0;

	struct spool_at at, other;

	for (int i = 0; i < SPOOL_SEGS_MAX; i++) {
		char piece[8];

		snprintf(piece, sizeof(piece), "%03d", i);
		ck_assert_int_eq(spool_put(&s, piece, 3, &at), 0);
		/* someone else's byte */
		ck_assert_int_eq(spool_put(&s, "-", 1, &other), 0);
		ck_assert_int_eq(spool_segs_add(&g, &at, 3), 0);
		memcpy(want + wlen, piece, 3);
		wlen += 3;
	}
	ck_assert_uint_eq(g.n, SPOOL_SEGS_MAX);
	ck_assert_int_eq(spool_put(&s, "x", 1, &at), 0);
	ck_assert_int_eq(spool_segs_add(&g, &at, 1), -1);
	ck_assert_uint_eq(g.n, SPOOL_SEGS_MAX);
	ck_assert_int_eq(spool_segs_copy(&g, out), 0);
	ck_assert_uint_eq(g.n, 0);
	ck_assert_uint_eq(g.len, 0);
	ck_assert_uint_eq(evbuffer_get_length(out), wlen);
	evbuffer_remove(out, got, wlen);
	ck_assert_int_eq(memcmp(got, want, wlen), 0);
	evbuffer_free(out);
	spool_segs_free(&g);
	spool_free(&s);
}
END_TEST

/* A piece larger than a chunk gets a chunk of its own; after a reset
   the spool starts again with a small one. */
START_TEST(test_spool_large_piece_and_reset)
{
	struct spool s = { 0 };
	size_t big = 200 * 1024;
	char *data = malloc(big);
	struct spool_at a, p, q;
	uint64_t gen;

	spool_init(&s);
	gen = s.gen;

	memset(data, 'z', big);
	ck_assert_int_eq(spool_put(&s, "a", 1, &a), 0);
	ck_assert_int_eq(spool_put(&s, data, big, &p), 0);
	ck_assert_ptr_ne(p.chunk, a.chunk);
	ck_assert_int_eq(memcmp(p.p, data, big), 0);
	ck_assert_uint_eq(s.used, big + 1);
	spool_reset(&s);
	ck_assert_uint_eq(s.used, 0);
	ck_assert(s.gen > gen);
	ck_assert_int_eq(spool_put(&s, "b", 1, &q), 0);
	ck_assert_int_eq(*q.p, 'b');
	free(data);
	spool_free(&s);
}
END_TEST

/* Written to a socket that takes only part: the rest, and only the
   rest, is queued to the output, in order, and stays readable after
   the spool moved on to the next pass. */
START_TEST(test_spool_write_keeps_what_the_socket_refused)
{
	struct spool s = { 0 };
	struct spool_segs g = { 0 };
	struct evbuffer *out = evbuffer_new();
	size_t total = 0, got, chunk = 100 * 1024;
	char *data = malloc(chunk), *back;
	int sv[2], small = 4096;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 4; i++) {
		struct spool_at at, other;

		for (size_t j = 0; j < chunk; j++)
			data[j] = (char)('a' + (i * 7 + j) % 26);
		ck_assert_int_eq(spool_put(&s, data, chunk, &at), 0);
		ck_assert_int_eq(spool_put(&s, "#", 1, &other), 0);
		ck_assert_int_eq(spool_segs_add(&g, &at, chunk), 0);
		total += chunk;
	}
	ck_assert_int_eq(spool_segs_write(&g, sv[0], out), 0);
	ck_assert_uint_eq(g.n, 0);
	ck_assert_uint_gt(evbuffer_get_length(out), 0);
	spool_reset(&s);
	{
		struct spool_at next;

		ck_assert_int_eq(spool_put(&s, "next pass", 9, &next), 0);
	}
	back = malloc(total);
	got = drain_fd(sv[1], back, total);
	ck_assert_uint_lt(got, total);
	ck_assert_uint_eq(got + evbuffer_get_length(out), total);
	evbuffer_remove(out, back + got, total - got);
	for (int i = 0; i < 4; i++)
		for (size_t j = 0; j < chunk; j++)
			ck_assert_int_eq(back[(size_t)i * chunk + j],
			    (char)('a' + (i * 7 + j) % 26));
	close(sv[0]);
	close(sv[1]);
	free(back);
	free(data);
	evbuffer_free(out);
	spool_segs_free(&g);
	spool_free(&s);
}
END_TEST

/* A socket error is reported with nothing queued. */
START_TEST(test_spool_write_error)
{
	struct spool s = { 0 };
	struct spool_segs g = { 0 };
	struct evbuffer *out = evbuffer_new();
	struct spool_at at;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	ck_assert_int_eq(spool_put(&s, "x\n", 2, &at), 0);
	ck_assert_int_eq(spool_segs_add(&g, &at, 2), 0);
	ck_assert_int_eq(spool_segs_write(&g, sv[0], out), SOCKIO_WRITE_ERROR);
	ck_assert_uint_eq(g.n, 0);
	ck_assert_uint_eq(evbuffer_get_length(out), 0);
	close(sv[0]);
	evbuffer_free(out);
	spool_segs_free(&g);
	spool_free(&s);
}
END_TEST

/* A cork that waits past several resets keeps its bytes; the chunks
   go once the last range lets go (ASan and valgrind see the rest). */
START_TEST(test_spool_cork_outlives_resets)
{
	struct spool s = { 0 };
	struct spool_segs g = { 0 };
	struct evbuffer *out = evbuffer_new();
	char got[64];

	for (int pass = 0; pass < 3; pass++) {
		struct spool_at at;
		char piece[8];

		snprintf(piece, sizeof(piece), "p%d;", pass);
		ck_assert_int_eq(spool_put(&s, piece, 3, &at), 0);
		ck_assert_int_eq(spool_segs_add(&g, &at, 3), 0);
		spool_reset(&s);
	}
	ck_assert_uint_eq(g.len, 9);
	ck_assert_int_eq(spool_segs_queue(&g, out), 0);
	ck_assert_uint_eq(g.n, 0);
	spool_free(&s);
	ck_assert_uint_eq(evbuffer_get_length(out), 9);
	evbuffer_remove(out, got, 9);
	ck_assert_int_eq(memcmp(got, "p0;p1;p2;", 9), 0);
	evbuffer_free(out);
	spool_segs_free(&g);
}
END_TEST

static Suite *
spool_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("ranges");

	tcase_add_test(tc, test_spool_adjacent_ranges_merge);
	tcase_add_test(tc, test_spool_gaps_make_ranges_up_to_the_limit);
	tcase_add_test(tc, test_spool_large_piece_and_reset);
	tcase_add_test(tc, test_spool_write_keeps_what_the_socket_refused);
	tcase_add_test(tc, test_spool_write_error);
	tcase_add_test(tc, test_spool_cork_outlives_resets);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(spool_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
