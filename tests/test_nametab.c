/* Unit: the case-insensitive name table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../common/nametab.h"

struct item {
	struct nametab_ent h;
	char name[32];
};

/* Names `it` and adds it to t under that name. */
static void
item_add(struct nametab *t, struct item *it, const char *name)
{
	snprintf(it->name, sizeof(it->name), "%s", name);
	nametab_add(t, &it->h, it->name);
}

START_TEST(test_nametab_find_ignores_case)
{
	struct nametab t;
	struct item a, b;

	ck_assert_int_eq(nametab_init(&t), 0);
	item_add(&t, &a, "Alice");
	item_add(&t, &b, "#Chan[1]");
	ck_assert_ptr_eq(nametab_find(&t, "alice"), &a.h);
	ck_assert_ptr_eq(nametab_find(&t, "ALICE"), &a.h);
	ck_assert_ptr_eq(nametab_find(&t, "#chan[1]"), &b.h);
	ck_assert_ptr_null(nametab_find(&t, "alic"));
	ck_assert_ptr_null(nametab_find(&t, "bob"));
	ck_assert_uint_eq(nametab_count(&t), 2);
	nametab_fini(&t);
}
END_TEST

START_TEST(test_nametab_del_and_readd)
{
	struct nametab t;
	struct item a, b;

	ck_assert_int_eq(nametab_init(&t), 0);
	item_add(&t, &a, "alice");
	item_add(&t, &b, "bob");
	nametab_del(&t, &a.h);
	ck_assert_ptr_null(nametab_find(&t, "alice"));
	ck_assert_ptr_eq(nametab_find(&t, "bob"), &b.h);
	ck_assert_uint_eq(nametab_count(&t), 1);
	/* A rename: the owner's key changes while it is out of the table. */
	item_add(&t, &a, "Carol");
	ck_assert_ptr_eq(nametab_find(&t, "carol"), &a.h);
	ck_assert_uint_eq(nametab_count(&t), 2);
	nametab_fini(&t);
}
END_TEST

/* Many entries: the table grows and every entry stays reachable, by
   lookup and by walking, exactly once. */
START_TEST(test_nametab_grows_and_walks)
{
	enum { N = 1000 };
	struct nametab t;
	struct item *items = calloc(N, sizeof(*items));
	struct nametab_ent *e;
	unsigned char *seen = calloc(N, 1);
	size_t i, walked = 0;

	ck_assert_ptr_nonnull(items);
	ck_assert_ptr_nonnull(seen);
	ck_assert_int_eq(nametab_init(&t), 0);
	for (i = 0; i < N; i++) {
		snprintf(items[i].name, sizeof(items[i].name), "Nick%zu", i);
		nametab_add(&t, &items[i].h, items[i].name);
	}
	ck_assert_uint_eq(nametab_count(&t), N);
	for (i = 0; i < N; i++) {
		char key[32];

		snprintf(key, sizeof(key), "NICK%zu", i);
		ck_assert_ptr_eq(nametab_find(&t, key), &items[i].h);
	}
	for (e = nametab_next(&t, NULL); e != NULL; e = nametab_next(&t, e)) {
		struct item *it = (struct item *)(void *)e;
		size_t k = (size_t)(it - items);

		ck_assert_uint_lt(k, N);
		ck_assert_uint_eq(seen[k], 0);
		seen[k] = 1;
		ck_assert_uint_le(++walked, N);
	}
	ck_assert_uint_eq(walked, N);
	for (i = 0; i < N; i += 2)
		nametab_del(&t, &items[i].h);
	ck_assert_uint_eq(nametab_count(&t), N / 2);
	ck_assert_ptr_null(nametab_find(&t, "nick0"));
	ck_assert_ptr_eq(nametab_find(&t, "nick1"), &items[1].h);
	nametab_fini(&t);
	free(seen);
	free(items);
}
END_TEST

START_TEST(test_nametab_empty_walk)
{
	struct nametab t;

	ck_assert_int_eq(nametab_init(&t), 0);
	ck_assert_ptr_null(nametab_next(&t, NULL));
	ck_assert_uint_eq(nametab_count(&t), 0);
	nametab_fini(&t);
}
END_TEST

static Suite *
nametab_suite(void)
{
	Suite *s = suite_create("nametab");
	TCase *tc = tcase_create("lookup");

	tcase_add_test(tc, test_nametab_find_ignores_case);
	tcase_add_test(tc, test_nametab_del_and_readd);
	suite_add_tcase(s, tc);
	tc = tcase_create("growth");
	tcase_add_test(tc, test_nametab_grows_and_walks);
	tcase_add_test(tc, test_nametab_empty_walk);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(nametab_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
