// SPDX-License-Identifier: GPL-2.0
/*
 * fpstate - check that UML keeps each process's AVX-512 registers intact.
 *
 * UML saves a process's FP/XSTATE from the host with PTRACE_GETREGSET on
 * every trap and writes it back before resuming it. If the buffer is the
 * wrong size for the host the write-back fails (the process dies) or the
 * state of one process leaks into another. Two processes therefore load
 * distinct patterns into zmm0-zmm31 and k0-k7, then, with the registers
 * live, make a system call (sched_yield, which switches to the other
 * process) or touch a fresh page (a page fault, which UML handles through
 * its stub), and compare what the registers hold afterwards.
 *
 * Output is KTAP; exit status 0 only if every case passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NR_ZMM		32
#define NR_KMASK	8
#define ZMM_BYTES	64
#define DEFAULT_ROUNDS	5000
#define FAULT_AREA	(64UL << 20)
#define PAGE		4096UL

struct avx512_image {
	uint8_t zmm[NR_ZMM][ZMM_BYTES] __attribute__((aligned(64)));
	uint64_t k[NR_KMASK];
};

static void fill_pattern(struct avx512_image *img, unsigned int seed)
{
	for (int r = 0; r < NR_ZMM; r++)
		for (int b = 0; b < ZMM_BYTES; b++)
			img->zmm[r][b] = (uint8_t)(seed * 131 + r * 67 + b * 7 + 1);
	for (int r = 0; r < NR_KMASK; r++)
		img->k[r] = 0x9e3779b97f4a7c15ULL * (seed + 1) ^ ((uint64_t)r << 56);
}

#define LOAD_ZMM(n)  "vmovdqu64 " #n "*64(%[in]), %%zmm" #n "\n\t"
#define STORE_ZMM(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%[out])\n\t"
#define LOAD_K(n)    "kmovq " #n "*8(%[kin]), %%k" #n "\n\t"
#define STORE_K(n)   "kmovq %%k" #n ", " #n "*8(%[kout])\n\t"
#define ALL_ZMM(op) op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7) \
	op(8) op(9) op(10) op(11) op(12) op(13) op(14) op(15) op(16) op(17) \
	op(18) op(19) op(20) op(21) op(22) op(23) op(24) op(25) op(26) \
	op(27) op(28) op(29) op(30) op(31)
#define ALL_K(op) op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7)

#define CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", \
	"xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", \
	"xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", \
	"xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", \
	"xmm29", "xmm30", "xmm31", "k0", "k1", "k2", "k3", "k4", "k5", "k6", \
	"k7", "memory"

/*
 * Only these two functions use AVX-512 (kmovq needs AVX512BW); the rest is
 * built for the baseline ISA so that main() can SKIP on older CPUs.
 */
#define AVX512_ONLY __attribute__((target("avx512f,avx512bw"), noinline))

/* Registers live across a sched_yield() system call. */
static AVX512_ONLY void roundtrip_syscall(const struct avx512_image *in,
			      struct avx512_image *out)
{
	long nr = SYS_sched_yield;

	asm volatile(ALL_ZMM(LOAD_ZMM) ALL_K(LOAD_K)
		     "syscall\n\t"
		     ALL_ZMM(STORE_ZMM) ALL_K(STORE_K)
		     : "+a"(nr)
		     : [in] "r"(in->zmm), [out] "r"(out->zmm),
		       [kin] "r"(in->k), [kout] "r"(out->k)
		     : "rcx", "r11", CLOBBERS);
}

/* Registers live across the page fault taken by a store to @page. */
static AVX512_ONLY void roundtrip_fault(const struct avx512_image *in,
			    struct avx512_image *out, volatile char *page)
{
	asm volatile(ALL_ZMM(LOAD_ZMM) ALL_K(LOAD_K)
		     "movb $1, (%[page])\n\t"
		     ALL_ZMM(STORE_ZMM) ALL_K(STORE_K)
		     :
		     : [in] "r"(in->zmm), [out] "r"(out->zmm),
		       [kin] "r"(in->k), [kout] "r"(out->k),
		       [page] "r"(page)
		     : CLOBBERS);
}

static int compare(const struct avx512_image *want,
		   const struct avx512_image *got, const char *what, long round)
{
	for (int r = 0; r < NR_ZMM; r++) {
		if (memcmp(want->zmm[r], got->zmm[r], ZMM_BYTES)) {
			printf("# %s round %ld: zmm%d corrupted\n", what, round, r);
			return -1;
		}
	}
	for (int r = 0; r < NR_KMASK; r++) {
		if (want->k[r] != got->k[r]) {
			printf("# %s round %ld: k%d 0x%llx != 0x%llx\n", what,
			       round, r, (unsigned long long)got->k[r],
			       (unsigned long long)want->k[r]);
			return -1;
		}
	}
	return 0;
}

/* One process's share of a case: returns 0 if its registers survived. */
static int worker(unsigned int seed, long rounds, int faults)
{
	static struct avx512_image want, got;
	char *area = NULL;
	size_t off = 0;

	fill_pattern(&want, seed);
	if (faults) {
		area = mmap(NULL, FAULT_AREA, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (area == MAP_FAILED) {
			printf("# mmap: %s\n", strerror(errno));
			return -1;
		}
	}

	for (long i = 0; i < rounds; i++) {
		memset(&got, 0, sizeof(got));
		if (faults) {
			if (off == FAULT_AREA) {
				/* Drop the pages so that the next stores fault again. */
				madvise(area, FAULT_AREA, MADV_DONTNEED);
				off = 0;
			}
			roundtrip_fault(&want, &got, area + off);
			off += PAGE;
			if (i % 8 == 0)
				sched_yield();
		} else {
			roundtrip_syscall(&want, &got);
		}
		if (compare(&want, &got, faults ? "fault" : "syscall", i))
			return -1;
	}
	return 0;
}

/* Runs a case in two processes at once, so that they switch back and forth. */
static int run_case(long rounds, int faults)
{
	int status, ret = 0;
	pid_t child;

	fflush(stdout);
	child = fork();
	if (child < 0) {
		printf("# fork: %s\n", strerror(errno));
		return -1;
	}
	if (child == 0)
		_exit(worker(2, rounds, faults) ? 1 : 0);

	if (worker(1, rounds, faults))
		ret = -1;
	if (waitpid(child, &status, 0) != child) {
		printf("# waitpid: %s\n", strerror(errno));
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		if (WIFSIGNALED(status))
			printf("# child killed by signal %d\n", WTERMSIG(status));
		else
			printf("# child exit status %d\n", WEXITSTATUS(status));
		ret = -1;
	}
	return ret;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : DEFAULT_ROUNDS;
	int failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("KTAP version 1\n1..2\n");

	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx512f") ||
	    !__builtin_cpu_supports("avx512bw")) {
		printf("ok 1 zmm_kept_across_syscalls # SKIP no AVX-512F/BW\n");
		printf("ok 2 zmm_kept_across_page_faults # SKIP no AVX-512F/BW\n");
		return 0;
	}

	if (run_case(rounds, 0)) {
		failed++;
		printf("not ok 1 zmm_kept_across_syscalls\n");
	} else {
		printf("ok 1 zmm_kept_across_syscalls\n");
	}
	if (run_case(rounds, 1)) {
		failed++;
		printf("not ok 2 zmm_kept_across_page_faults\n");
	} else {
		printf("ok 2 zmm_kept_across_page_faults\n");
	}
	return failed ? 1 : 0;
}
