/* Unit: whether crypt(3) can check passwords against a hash
   (common/passhash.c). */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../common/passhash.h"

START_TEST(test_passhash_usable_real_hash)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h;

	ck_assert_ptr_nonnull(cd);
	h = crypt_r("sesame", "$6$evsocktestsalt$", cd);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_ne(h[0], '*');
	ck_assert_int_eq(passhash_usable(h), 1);
	free(cd);
}
END_TEST

/* A method libcrypt lacks, a cut-off hash and libcrypt's own failure
   tokens would refuse every password: not usable. */
START_TEST(test_passhash_usable_refuses)
{
	ck_assert_int_eq(passhash_usable("$6$x$y"), 0);
	ck_assert_int_eq(passhash_usable("$99$salt$abcdef"), 0);
	ck_assert_int_eq(passhash_usable("*0"), 0);
	ck_assert_int_eq(passhash_usable(""), 0);
}
END_TEST

static Suite *
passhash_suite(void)
{
	Suite *s = suite_create("passhash");
	TCase *tc = tcase_create("usable");

	tcase_add_test(tc, test_passhash_usable_real_hash);
	tcase_add_test(tc, test_passhash_usable_refuses);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(passhash_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
