// SPDX-License-Identifier: GPL-2.0
/*
 * bench_reap - what one reaper pass costs with k busy ranges (make bench).
 *
 * A victim maps bench.vma_mb MiB of anonymous memory (kernel command
 * line), touches it, and registers bench.k user pointers of one page
 * each, evenly spaced in it, under emugpu's xe policy: every registered
 * user pointer refuses a non-blockable invalidation, busy or idle, as xe,
 * amdgpu and drm_gpusvm do, so the VMA holds k busy ranges. A thread of
 * the victim then sleeps in munmap() of a separate region that a SPIN job
 * holds, which keeps the mm after SIGKILL. The parent kills the victim and
 * calls process_mrelease(2) twice (the second pass finds nothing left to
 * free), timing each call with CLOCK_MONOTONIC and counting emugpu's
 * non-blockable notifier calls and refusals and the victim's RssAnon,
 * and, where the kernel counts them (x86 with CONFIG_DEBUG_TLBFLUSH), the
 * TLB shootdowns each pass sent.
 * The parent opens the file the victim inherits and releases the SPINs
 * after the second pass, so the victim's mm outlives both passes however
 * long they take (a first pass over 4 GiB took 5.1 s on one host and
 * 20.5 s on another); the job timeout is only the backstop.
 *
 * It prints "# key=value" lines for the runner; its KTAP results say only
 * that the measurement ran: figures are not pass or fail.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "emugpu_lib.h"

#define MiB		(1024 * 1024UL)
#define TRAP_SIZE	(4 * PAGE)
#define VA_TRAP		0x100000ULL
#define POLICY		"/sys/module/emugpu/parameters/notifier_policy"
/*
 * The backstop: a SPIN ends by the job timeout (at most 10 s) even if the
 * parent never releases it. The jobs run one at a time and the munmap
 * waits for each in turn, so TRAP_SPINS of them keep the mm for up to
 * TRAP_SPINS job timeouts; each wait is a wakeup, so the munmap is never
 * a hung task. The victim's SPINs are the file's first jobs, seqno 1 on.
 */
#define TRAP_SPINS	6

static unsigned long k_busy, vma_mb;
static int gpu_fd = -1;
static int ready_pipe[2];
static struct munmap_trap trap = { .size = TRAP_SIZE };

/* A mapping with an unmapped page on each side: a VMA of its own. */
static unsigned char *isolated(size_t size)
{
	unsigned char *p = mmap(NULL, size + 2 * PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || munmap(p, PAGE) ||
	    munmap(p + PAGE + size, PAGE))
		return NULL;
	return p + PAGE;
}

static void __attribute__((noreturn)) victim(void)
{
	size_t size = vma_mb * MiB, stride;
	struct drm_emugpu_cmd spin;
	unsigned char *vma;
	pthread_t thread;
	uint32_t handle;
	int fd = gpu_fd;
	uint64_t seqno = 0;
	long tid;

	vma = isolated(size);
	if (!vma)
		_exit(93);
	memset(vma, 0x5a, size);
	stride = k_busy ? size / k_busy : size;
	for (unsigned long i = 0; i < k_busy; i++) {
		unsigned char *at = vma + i * stride + (stride - PAGE) / 2;

		at -= (uintptr_t)at % PAGE;
		if (emugpu_userptr(fd, at, PAGE, 0, &handle))
			_exit(94);
	}
	/* The trap: a VMA of its own, so it adds no busy range to the VMA. */
	trap.addr = isolated(TRAP_SIZE);
	if (!trap.addr)
		_exit(95);
	memset(trap.addr, 0x5a, TRAP_SIZE);
	spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_TRAP, TRAP_SIZE, 0);
	if (emugpu_userptr(fd, trap.addr, TRAP_SIZE, 0, &handle) ||
	    emugpu_bind(fd, handle, 0, VA_TRAP, TRAP_SIZE))
		_exit(96);
	for (uint64_t i = 1; i <= TRAP_SPINS; i++)
		if (emugpu_submit(fd, &spin, 1, &seqno) || seqno != i)
			_exit(96);
	if (!emugpu_wait_running(fd, 1) ||
	    pthread_create(&thread, NULL, munmap_trap_thread, &trap))
		_exit(96);
	/* Until the munmap sleeps in the notifier, waiting for the job. */
	while (!munmap_trap_tid(&trap) ||
	       task_state(munmap_trap_tid(&trap)) != 'D')
		sched_yield();
	tid = munmap_trap_tid(&trap);
	if (write(ready_pipe[1], &tid, sizeof(tid)) != sizeof(tid))
		_exit(97);
	for (;;)
		pause();
}

struct pass {
	double us;
	long long calls, refused, tlb_flushes;
	long rss_kb;
	int ret;
};

/*
 * TLB flushes of user memory that had to reach another CPU, from
 * /proc/vmstat (x86, CONFIG_DEBUG_TLBFLUSH; -1 elsewhere: UML's
 * flush_tlb_range() only marks the range for its next host sync). The
 * reaper runs in this process, which never has the victim's mm loaded,
 * so every flush of a pass that reaches a CPU counts here.
 */
static long long tlb_shootdowns(void)
{
	return read_key("/proc/vmstat", "nr_tlb_remote_flush");
}

static long rss_kb(pid_t vic, long tid)
{
	char file[96];

	snprintf(file, sizeof(file), "/proc/%d/task/%ld/status", vic, tid);
	return (long)read_key(file, "RssAnon");
}

static void mrelease(int pidfd, pid_t vic, long tid, struct pass *p)
{
	long long calls = emugpu_stat("inval_nonblock");
	long long refused = emugpu_stat("inval_refused");
	long long flushes = tlb_shootdowns();
	double t0 = now_us();

	p->ret = (int)syscall(SYS_process_mrelease, pidfd, 0) ? -errno : 0;
	p->us = now_us() - t0;
	p->tlb_flushes = flushes < 0 ? -1 : tlb_shootdowns() - flushes;
	p->calls = emugpu_stat("inval_nonblock") - calls;
	p->refused = emugpu_stat("inval_refused") - refused;
	p->rss_kb = rss_kb(vic, tid);
}

int main(void)
{
	struct pass first, second;
	int pidfd, status, ok, released;
	long before, tid = -1;
	pid_t vic;

	k_busy = bench_param("k", 10);
	vma_mb = bench_param("vma_mb", 64);
	ktap_start(2);
	if (!CHECK(!write_text(POLICY, "xe")) ||
	    !CHECK(!pipe(ready_pipe)))
		return 1;
	gpu_fd = emugpu_open();
	if (!CHECK(gpu_fd >= 0))
		return 1;
	vic = fork();
	if (vic == 0)
		victim();
	close(ready_pipe[1]);
	if (!CHECK(vic > 0) ||
	    !CHECK(read(ready_pipe[0], &tid, sizeof(tid)) == sizeof(tid)))
		return 1;
	before = rss_kb(vic, tid);
	pidfd = (int)syscall(SYS_pidfd_open, vic, 0);
	if (!CHECK(pidfd >= 0) ||
	    !CHECK(!syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0)))
		return 1;
	mrelease(pidfd, vic, tid, &first);
	mrelease(pidfd, vic, tid, &second);
	/* Both passes saw the victim's mm: now let the victim exit. */
	released = 1;
	for (uint64_t i = 1; i <= TRAP_SPINS; i++)
		released &= CHECK(!emugpu_release(gpu_fd, i));
	printf("# k=%lu\n# vma_kb=%lu\n# rss_before_kb=%ld\n", k_busy,
	       vma_mb * MiB / 1024, before);
	printf("# pass1_us=%.0f\n# pass1_ret=%d\n# pass1_calls=%lld\n"
	       "# pass1_refused=%lld\n# pass1_reaped_kb=%ld\n",
	       first.us, first.ret, first.calls, first.refused,
	       before - first.rss_kb);
	printf("# pass2_us=%.0f\n# pass2_ret=%d\n# pass2_calls=%lld\n"
	       "# pass2_refused=%lld\n# pass2_reaped_kb=%ld\n",
	       second.us, second.ret, second.calls, second.refused,
	       first.rss_kb - second.rss_kb);
	if (first.tlb_flushes >= 0)
		printf("# pass1_tlb_flushes=%lld\n# pass2_tlb_flushes=%lld\n",
		       first.tlb_flushes, second.tlb_flushes);
	/* RssAnon unreadable: the victim was gone before the pass ended. */
	ok = CHECK(before > 0 && first.rss_kb >= 0 && second.rss_kb >= 0) &&
	     released;
	ktap_result(ok, 1, "measured");
	ok = CHECK(waitpid(vic, &status, 0) == vic) &&
	     CHECK(WIFSIGNALED(status));
	/* The last reference to the file: its objects go with it. */
	close(gpu_fd);
	ok = ok && CHECK(emugpu_idle());
	ktap_result(ok, 2, "victim_gone");
	close(pidfd);
	return ktap_failed;
}
