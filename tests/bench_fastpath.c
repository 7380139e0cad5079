// SPDX-License-Identifier: GPL-2.0
/*
 * bench_fastpath - what the OOM series costs mm paths that do not refuse
 * (make bench).
 *
 * The series changes how an invalidation reaches interval notifiers: the
 * blockable __mmu_notifier_invalidate_range_start() now goes through the
 * same walk as the non-blocking one, with nowhere to note a refusal. Every
 * munmap(), mprotect() and MADV_DONTNEED over mirrored memory takes that
 * path. This program maps bench.pages pages and registers one emugpu user
 * pointer per page (bench.pages interval notifiers, none of them busy),
 * then runs bench.rounds rounds of three operations over the whole
 * mapping, each after touching every page (untimed) and each timed alone
 * with CLOCK_MONOTONIC:
 *
 *   madv_dontneed  madvise(MADV_DONTNEED)
 *   mprotect       mprotect(PROT_READ); PROT_READ|PROT_WRITE again untimed
 *   munmap         munmap(); the mapping comes back with MAP_FIXED untimed
 *
 * It prints each operation's median over the rounds as "# OP_ns=N" and
 * checks that every timed operation reached every notifier (emugpu's
 * inval_blockable count): a figure for a path that skipped the notifiers
 * would say nothing. The runner compares the flavours; no figure passes or
 * fails.
 */
#include "emugpu_lib.h"

enum { OP_DONTNEED, OP_MPROTECT, OP_MUNMAP, NR_OPS };

static const char *const op_names[NR_OPS] = {
	"madv_dontneed", "mprotect", "munmap",
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned long n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Runs @op over [@p, @p + @size) and returns its time in ns; -1 on error. */
static double timed_op(int op, unsigned char *p, size_t size)
{
	double t0, t;
	int ret;

	memset(p, 0x5a, size);
	t0 = now_us();
	switch (op) {
	case OP_DONTNEED:
		ret = madvise(p, size, MADV_DONTNEED);
		break;
	case OP_MPROTECT:
		ret = mprotect(p, size, PROT_READ);
		break;
	default:
		ret = munmap(p, size);
		break;
	}
	t = (now_us() - t0) * 1e3;
	if (ret)
		return -1;
	if (op == OP_MPROTECT && mprotect(p, size, PROT_READ | PROT_WRITE))
		return -1;
	if (op == OP_MUNMAP &&
	    mmap(p, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
		return -1;
	return t;
}

int main(void)
{
	unsigned long pages = bench_param("pages", 1024);
	unsigned long rounds = bench_param("rounds", 200);
	size_t size = pages * PAGE;
	long long calls_before, calls;
	double *ns[NR_OPS];
	unsigned char *p;
	uint32_t handle;
	int fd, ok = 1;

	ktap_start(2);
	fd = emugpu_open();
	p = anon(size);
	for (int op = 0; op < NR_OPS; op++)
		ns[op] = calloc(rounds, sizeof(double));
	if (!CHECK(fd >= 0) || !CHECK(p) || !ns[0] || !ns[1] || !ns[2] ||
	    !CHECK(rounds > 0))
		return 1;
	for (unsigned long i = 0; i < pages; i++)
		if (!CHECK(!emugpu_userptr(fd, p + i * PAGE, PAGE, 0, &handle)))
			return 1;

	calls_before = emugpu_stat("inval_blockable");
	/* The operations take turns, so drift touches all of them alike. */
	for (unsigned long r = 0; r < rounds && ok; r++)
		for (int op = 0; op < NR_OPS && ok; op++) {
			ns[op][r] = timed_op(op, p, size);
			ok = CHECK(ns[op][r] >= 0);
		}
	calls = emugpu_stat("inval_blockable") - calls_before;
	ktap_result(ok, 1, "measured");

	printf("# pages=%lu\n# rounds=%lu\n", pages, rounds);
	for (int op = 0; ok && op < NR_OPS; op++)
		printf("# %s_ns=%.0f\n", op_names[op], median(ns[op], rounds));
	/*
	 * Each timed operation calls every user pointer's notifier once, and
	 * so does the untimed mprotect() back to writable; mapping again
	 * over nothing calls none.
	 */
	printf("# notifier_calls=%lld\n# expected_calls=%lu\n", calls,
	       rounds * (NR_OPS + 1) * pages);
	ktap_result(ok && CHECK(calls == (long long)(rounds * (NR_OPS + 1) *
						       pages)),
		    2, "every_operation_reached_the_notifiers");
	close(fd);
	return ktap_failed;
}
