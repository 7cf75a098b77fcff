/*
 * Every size gm_memory_check suggests ("use size=X") must be one the
 * --memory parser reads back and the check then accepts: no unit the parser
 * lacks (1P), no wrap-around to 0, nothing above the limit.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "gmvm/config.h"
#include "mem/mem.h"
#include "mem_test.h"

/* Refuse cfg, then parse and check every size=X the message suggests. */
static unsigned check_suggestions(struct gm_mem_config cfg, const struct gm_caps *caps,
				  char *msg, size_t msglen)
{
	struct gm_error err = { 0 };
	unsigned n = 0;

	cr_assert_lt(gm_memory_check(&cfg, caps, &err), 0, "size %llu accepted",
		     (unsigned long long)cfg.size);
	snprintf(msg, msglen, "%s", err.msg);
	for (const char *p = err.msg; (p = strstr(p, "size=")); ) {
		char val[32];
		size_t len;
		struct gm_error e = { 0 };
		struct gm_mem_config s = cfg;

		p += 5;
		len = strcspn(p, " ;,");
		cr_assert_lt(len, sizeof(val));
		memcpy(val, p, len);
		val[len] = '\0';
		cr_assert_eq(gm_parse_size(val, &s.size, &e), 0, "suggested size=%s does not parse: %s (%s)",
			     val, e.msg, err.msg);
		cr_assert_gt(s.size, 0, "suggested size=%s is 0 (%s)", val, err.msg);
		cr_assert_leq(s.size, GM_MEM_MAX_SIZE, "suggested size=%s is above the limit (%s)", val,
			      err.msg);
		cr_assert_eq(gm_memory_check(&s, caps, &e), 0, "suggested size=%s is refused: %s (%s)",
			     val, e.msg, err.msg);
		n++;
	}
	return n;
}

Test(size_suggest, petabyte_plus_one_suggests_the_limit)
{
	struct gm_caps caps = mt_caps_generous();
	char msg[512];

	cr_assert_eq(check_suggestions(mt_cfg(GM_BACKEND_GUEST_MEMFD, UINT64_C(1125899906842625)), &caps,
				       msg, sizeof(msg)), 1);
	cr_assert(strstr(msg, "is above the limit of 63G"), "%s", msg);
	cr_assert(strstr(msg, "; use size=63G or less"), "%s", msg);
	cr_assert_null(strstr(msg, "1P"), "%s", msg);
}

Test(size_suggest, uint64_max_does_not_wrap_to_zero)
{
	struct gm_caps caps = mt_caps_generous();
	char msg[512];

	cr_assert_eq(check_suggestions(mt_cfg(GM_BACKEND_GUEST_MEMFD, UINT64_MAX), &caps, msg,
				       sizeof(msg)), 1);
	cr_assert_null(strstr(msg, "size=0"), "%s", msg);
	cr_assert(strstr(msg, "use size=63G or less"), "%s", msg);
}

Test(size_suggest, every_refused_size_suggests_sizes_that_work)
{
	static const uint64_t sizes[] = {
		1, 4095, 4097, 3 * MT_GIB + 1, 63 * MT_GIB - 1, 63 * MT_GIB + 1, 64 * MT_GIB,
		UINT64_C(1) << 50, (UINT64_C(1) << 50) + 1, UINT64_C(1) << 60, UINT64_MAX - 4095,
		UINT64_MAX - 1, UINT64_MAX,
	};
	static const uint64_t pages[] = { GM_PAGE_4K, GM_PAGE_2M, GM_PAGE_1G };
	struct gm_caps caps = mt_caps_generous();
	char msg[512];

	for (size_t p = 0; p < 3; p++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, sizes[i]);

			cfg.page_size = pages[p];
			cr_assert_geq(check_suggestions(cfg, &caps, msg, sizeof(msg)), 1,
				      "no size suggested: %s", msg);
		}
	}
}

Test(size_suggest, rounding_up_past_host_ram_suggests_only_rounding_down)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 8 * MT_GIB - MT_MIB);
	char msg[512];

	caps.host_ram = 8 * MT_GIB - MT_MIB;
	cfg.page_size = GM_PAGE_1G;
	cr_assert_eq(check_suggestions(cfg, &caps, msg, sizeof(msg)), 1);
	cr_assert(strstr(msg, "not a multiple of the 1G page size; use size=7G"), "%s", msg);
}

Test(size_suggest, size_str_uses_only_units_the_parser_reads)
{
	char buf[32];
	uint64_t v;
	struct gm_error e = { 0 };

	cr_assert_str_eq(gm_mem_size_str(UINT64_C(1) << 50, buf, sizeof(buf)), "1024T");
	cr_assert_eq(gm_parse_size(buf, &v, &e), 0, "%s", e.msg);
	cr_assert_eq(v, UINT64_C(1) << 50);
	cr_assert_str_eq(gm_mem_size_str(UINT64_MAX - 4095, buf, sizeof(buf)), "18014398509481980K");
	cr_assert_eq(gm_parse_size(buf, &v, &e), 0, "%s", e.msg);
	cr_assert_eq(v, UINT64_MAX - 4095);
}
