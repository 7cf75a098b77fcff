/*
 * dirty: keeps rewriting part of a working set, for migration tests.  Every
 * page holds {index, generation, check(index, generation)} in its first 24
 * bytes and the generation in every other word; before a page is rewritten
 * (generation + 1) it must still hold exactly what was last written.
 *
 * Params: dirty.mb=N (64) working set, dirty.share=P (25) percent of pages
 * per round, dirty.rate=R (0 = unlimited) pages/s, dirty.seconds=S (2) run
 * time; dirty.rounds=N (200) runs N rounds instead (also used when there is
 * no clock); dirty.at=ADDR puts the working set at guest-physical ADDR (in
 * any e820 RAM range, e.g. a --region's) instead of the first free RAM;
 * dirty.beat=N (0 = none) prints "b" on a line of its own after every N page
 * writes of the rewriting loop: a heartbeat a host can timestamp to see the
 * guest's pauses (a migration's downtime) without a clock in the guest.
 *
 *   dirty: start pages=N
 *   dirty: round R ok                            (about once a second)
 *   dirty: ok pages=N writes=W rounds=R
 *   dirty: MISMATCH page=N expected-gen=G got=0x<value> word=K   (exit 0x10)
 */
#include "rt.h"

#define WORDS (RT_PAGE / 8)

struct work {
	uint64_t base;
	uint64_t pages;
	uint32_t *gen;		/* last generation written, per page */
	uint64_t writes;
	uint64_t rng;
};

static uint64_t check_word(uint64_t idx, uint64_t gen)
{
	uint64_t x = (idx << 32 ^ gen) * 0xbf58476d1ce4e5b9ull;

	return x ^ (x >> 31);
}

static uint64_t expected(unsigned word, uint64_t idx, uint64_t gen)
{
	return word == 0 ? idx : word == 2 ? check_word(idx, gen) : gen;
}

static bool page_ok(const struct work *w, uint64_t idx)
{
	const volatile uint64_t *p = (const volatile uint64_t *)(w->base + idx * RT_PAGE);
	uint64_t gen = w->gen[idx];

	for (unsigned i = 0; i < WORDS; i++) {
		uint64_t v = p[i];
		if (v != expected(i, idx, gen)) {
			rt_printf("dirty: MISMATCH page=%lu expected-gen=%lu got=0x%lx word=%u\n",
				  (unsigned long)idx, (unsigned long)gen, (unsigned long)v, i);
			return false;
		}
	}
	return true;
}

static void page_write(struct work *w, uint64_t idx)
{
	uint64_t *p = (uint64_t *)(w->base + idx * RT_PAGE);
	uint64_t gen = ++w->gen[idx];

	p[0] = idx;
	p[1] = gen;
	p[2] = check_word(idx, gen);
	for (unsigned i = 3; i < WORDS; i++)
		p[i] = gen;
	w->writes++;
}

static uint64_t next_random(struct work *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

int main(void)
{
	struct work w = { .rng = 0x9e3779b97f4a7c15ull };
	uint64_t mb = rt_param_u64("dirty.mb", 64);
	uint64_t share = rt_param_u64("dirty.share", 25);
	uint64_t rate = rt_param_u64("dirty.rate", 0);
	uint64_t seconds = rt_param_u64("dirty.seconds", 2);
	uint64_t khz = rt_tsc_khz();
	/* dirty.seconds wins when there is a clock; dirty.rounds alone asks for rounds */
	bool by_rounds = !khz || (rt_param("dirty.rounds") && !rt_param("dirty.seconds"));
	uint64_t max_rounds = rt_param_u64("dirty.rounds", 200);
	uint64_t beat = rt_param_u64("dirty.beat", 0), to_beat = beat;

	w.pages = mb * RT_MIB / RT_PAGE;
	w.gen = (uint32_t *)rt_ram_alloc(w.pages * sizeof(uint32_t), RT_PAGE);
	uint64_t at = rt_param_u64("dirty.at", 0);
	w.base = at ? rt_ram_claim(at, w.pages * RT_PAGE) : rt_ram_alloc(w.pages * RT_PAGE, RT_PAGE);
	if (!w.pages || !w.gen || !w.base) {
		rt_printf("dirty: not enough RAM for dirty.mb=%lu%s\n", (unsigned long)mb,
			  at ? " at dirty.at (free e820 RAM there?)" : "");
		return RT_EXIT_FAIL;
	}
	if (at && at % RT_PAGE) {
		rt_printf("dirty: dirty.at=0x%lx is not page aligned\n", (unsigned long)at);
		return RT_EXIT_FAIL;
	}
	rt_printf("dirty: start pages=%lu\n", (unsigned long)w.pages);
	for (uint64_t i = 0; i < w.pages; i++) {
		w.gen[i] = 0;
		page_write(&w, i);
	}

	uint64_t per_round = w.pages * (share > 100 ? 100 : share) / 100;
	if (!per_round)
		per_round = 1;
	uint64_t hz = khz * 1000;				/* TSC ticks per second */
	uint64_t gap = rate && khz ? hz / rate : 0;		/* ticks per page write */
	uint64_t t0 = rt_rdtsc(), last_print = t0, next_write = t0;
	uint64_t deadline = t0 + seconds * hz;
	uint64_t rounds = 0, print_every = max_rounds / 10 ? max_rounds / 10 : 1;
	bool done = false;

	while (!done && (by_rounds ? rounds < max_rounds : rt_rdtsc() < deadline)) {
		for (uint64_t k = 0; k < per_round; k++) {
			uint64_t idx = next_random(&w) % w.pages;
			if (!page_ok(&w, idx))
				return RT_EXIT_FAIL;
			page_write(&w, idx);
			if (beat && !--to_beat) {
				rt_printf("b\n");
				to_beat = beat;
			}
			if (gap) {
				next_write += gap;
				while (rt_rdtsc() < next_write)
					__asm__ volatile("pause");
			}
			if (!by_rounds && rt_rdtsc() >= deadline) {
				done = true;
				break;
			}
		}
		if (done)
			break;
		rounds++;
		uint64_t now = rt_rdtsc();
		if (khz ? now - last_print >= hz : rounds % print_every == 0) {
			rt_printf("dirty: round %lu ok\n", (unsigned long)rounds);
			last_print = now;
		}
	}

	for (uint64_t i = 0; i < w.pages; i++)
		if (!page_ok(&w, i))
			return RT_EXIT_FAIL;
	rt_printf("dirty: ok pages=%lu writes=%lu rounds=%lu\n", (unsigned long)w.pages, (unsigned long)w.writes,
		  (unsigned long)rounds);
	return 0;
}
