// SPDX-License-Identifier: GPL-2.0
/*
 * oom_gpu - OOM while the GPU uses the victim's memory.
 *
 * usage: oom_gpu MODE
 *
 * The victim maps a large anonymous VMA, mirrors parts of it into emugpu
 * as user pointers and runs a job that holds them (a SPIN that never ends
 * by itself, plus FILLs of the other parts and of a small "trap" mapping).
 * A second thread of the victim then munmaps the trap while the job runs:
 * the notifier makes it wait for the job, uninterruptibly, so the victim
 * cannot exit when it is killed and only the OOM reaper can give its
 * memory back. That is the shape of a real GPU process stuck on a fence.
 *
 * MODE
 *   busy       one 64 KiB user pointer in a 128 MiB VMA; global OOM
 *   scattered  32 user pointers of 16 KiB spread through the VMA
 *   idle       as busy, plus 31 idle user pointers of 16 KiB bound to the
 *              device but used by no job
 *   whole      one user pointer over the whole VMA
 *   memcg      as busy, inside a memory cgroup with memory.max
 *   mrelease   no OOM: SIGKILL, then process_mrelease(2), deterministic
 *   thp        as mrelease, the VMA in transparent huge pages (2 MiB
 *              aligned, MADV_HUGEPAGE), 4 busy user pointers of 16 KiB at
 *              unaligned offsets inside huge pages: the reap must leave
 *              each busy huge page whole (a split would start a blocking
 *              invalidation, which waits for the job) and take the rest;
 *              skipped where the kernel has no THP (UML). With
 *              oomgpu.thp_kb=64 on the kernel command line, in 64 KiB
 *              multi-size THPs instead (PTE-mapped: the reaper zaps them
 *              page by page, so only the busy pages stay)
 *   exit       no OOM: SIGKILL and exit(0) with jobs in flight
 *   episodes   memcg, bench.episodes times in one boot (make bench): each
 *              victim's job is released by this process once the hog is
 *              done, so an episode lasts as long as its OOM, not the job
 *              timeout; it counts collateral kills and what is left after
 *              the last episode
 *
 * How emugpu answers the reaper is its notifier_policy module parameter,
 * set on the kernel command line by the scenario: precise (refuse the
 * pages the job uses, cancel the victim's job), nocancel (the same without
 * the cancel), xe (refuse every registered user pointer, busy or idle, as
 * xe, drm_gpusvm, amdgpu and radeon do), xe-kick (xe, but cancelling an
 * OOM victim's jobs first: a driver-side improvement), pin (pin the pages
 * and always agree, as i915 does: munmap does not wait, so the victim is
 * not stuck, and the pinned pages come back when it exits). "busy_kb" is
 * what the policy lets the driver keep: the job's pages, or every
 * registered page for xe and xe-kick; "pinned_kb" what pin holds pinned.
 *
 * Roles and oom_score_adj: this process (-1000) runs the scenario; the
 * victim (1000); a bystander (500) that holds 8 MiB and must survive; a
 * hog (0) that allocates what only the victim's memory can provide. On a
 * kernel that cannot reap the victim, the OOM killer moves on to the
 * bystander and the hog: collateral kills, which fail "no_collateral".
 *
 * Output: KTAP, plus "# key=value" lines the runner reads (victim_pid,
 * busy_kb, oom_cancels, ...).
 */
#define _GNU_SOURCE	/* sched_setaffinity(), before any libc header */
#include <linux/membarrier.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "emugpu_lib.h"
#include "../../../kselftest.h"

#define MiB		(1024UL * 1024)
#define VMA_SIZE	(128 * MiB)
#define VA_BUSY		0x1000000ULL
#define VA_TRAP		0x100000ULL
#define TRAP_SIZE	(4 * PAGE)
#define CGROUP		"/sys/fs/cgroup/oomgpu"
#define POLICY		"/sys/module/emugpu/parameters/notifier_policy"
#define IDLE_SIZE	(16 * 1024)
#define HPAGE		(2 * MiB)
/* thp: where in its slice of the VMA a busy user pointer starts */
#define THP_OFFSET	(300 * 1024)
#define THP_SYSFS	"/sys/kernel/mm/transparent_hugepage"
#define THP_ENABLED	THP_SYSFS "/enabled"

struct mode {
	const char *name;
	unsigned int nbusy;	/* user pointers the job holds */
	size_t busy_size;	/* each; 0: the whole VMA */
	unsigned int nidle;	/* bound, IDLE_SIZE each, used by no job */
	int oom;		/* 0: no OOM, the parent kills */
	int memcg;
	int thp;		/* the VMA in transparent huge pages */
};

static const struct mode modes[] = {
	{ "busy", 1, 64 * 1024, 0, 1, 0, 0 },
	{ "idle", 1, 64 * 1024, 31, 1, 0, 0 },
	{ "scattered", 32, 16 * 1024, 0, 1, 0, 0 },
	{ "whole", 1, 0, 0, 1, 0, 0 },
	{ "memcg", 1, 64 * 1024, 0, 1, 1, 0 },
	{ "mrelease", 1, 64 * 1024, 0, 0, 0, 0 },
	{ "thp", 4, 16 * 1024, 0, 0, 0, 1 },
	{ "exit", 1, 64 * 1024, 0, 0, 0, 0 },
	{ "episodes", 1, 64 * 1024, 0, 1, 1, 0 },
};

static const struct mode *mode;
/* emugpu's notifier_policy */
static char policy[16];
static int ready_pipe[2];
/* episodes: the file this process opens and each victim inherits */
static int episode_fd = -1;
/* thp: the size of the huge pages asked for (oomgpu.thp_kb) */
static unsigned long thp_kb = 2048;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set_adj(const char *adj)
{
	if (write_text("/proc/self/oom_score_adj", adj))
		_exit(90);
}

static void tell_parent(long value)
{
	if (write(ready_pipe[1], &value, sizeof(value)) != sizeof(value))
		_exit(91);
}

/*
 * What the child just spawned says once it is ready; -1 if it died first
 * (the parent holds no write end then, so read() sees end of file).
 */
static long hear_child(void)
{
	long value = -1;

	if (read(ready_pipe[0], &value, sizeof(value)) != sizeof(value))
		value = -1;
	close(ready_pipe[0]);
	return value;
}

static void join_cgroup(void)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%d", getpid());
	if (mode->memcg && write_text(CGROUP "/cgroup.procs", pid))
		_exit(92);
}

/* Field @key (kB) of /proc/@path/status; -1 if absent. */
static long status_kb(const char *path, const char *key)
{
	char file[96];

	snprintf(file, sizeof(file), "/proc/%s/status", path);
	return (long)read_key(file, key);
}

/*
 * @size bytes of anonymous memory, 2 MiB aligned, that page faults fill
 * with transparent huge pages where the kernel has them.
 */
static unsigned char *anon_huge(size_t size)
{
	unsigned char *raw = anon(size + HPAGE), *at;
	size_t head;

	if (!raw)
		return NULL;
	at = (unsigned char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	head = at - raw;
	if ((head && munmap(raw, head)) ||
	    munmap(at + size, HPAGE - head))
		return NULL;
	/* EINVAL without CONFIG_TRANSPARENT_HUGEPAGE: the caller sees it. */
	madvise(at, size, MADV_HUGEPAGE);
	return at;
}

static struct munmap_trap trap = { .size = TRAP_SIZE };

static __noreturn void victim(void)
{
	struct drm_emugpu_cmd cmds[EMUGPU_MAX_CMDS];
	size_t busy_size = mode->busy_size ? mode->busy_size : VMA_SIZE;
	unsigned int nptrs = mode->nbusy + mode->nidle;
	size_t stride = VMA_SIZE / nptrs;
	unsigned int n = 0, i;
	pthread_t thread;
	unsigned char *vma;
	uint32_t handle;
	uint64_t seqno;
	int fd;

	set_adj("1000");
	join_cgroup();
	fd = episode_fd >= 0 ? episode_fd : emugpu_open();
	vma = mode->thp ? anon_huge(VMA_SIZE) : anon(VMA_SIZE);
	trap.addr = anon(TRAP_SIZE);
	if (fd < 0 || !vma || !trap.addr)
		_exit(93);
	memset(vma, 0x5a, VMA_SIZE);
	memset(trap.addr, 0x5a, TRAP_SIZE);

	/*
	 * User pointers centred in equal slices of the VMA, busy first; thp:
	 * at an unaligned offset inside the slice's first huge page.
	 */
	for (i = 0; i < nptrs; i++) {
		size_t size = i < mode->nbusy ? busy_size : IDLE_SIZE;
		size_t off = mode->thp ? THP_OFFSET + i * PAGE :
			     (stride - size) / 2;
		unsigned char *at = vma + i * stride + off;
		uint64_t va = VA_BUSY + i * (uint64_t)stride;

		if (emugpu_userptr(fd, at, size, 0, &handle) ||
		    emugpu_bind(fd, handle, 0, va, size))
			_exit(94);
		if (i >= mode->nbusy)
			continue;
		cmds[n++] = i ? emugpu_cmd(EMUGPU_OP_FILL, va, 0, size, 1) :
			    emugpu_cmd(EMUGPU_OP_SPIN, 0, va, size, 0);
	}
	if (emugpu_userptr(fd, trap.addr, TRAP_SIZE, 0, &handle) ||
	    emugpu_bind(fd, handle, 0, VA_TRAP, TRAP_SIZE))
		_exit(95);
	cmds[n++] = emugpu_cmd(EMUGPU_OP_FILL, VA_TRAP, 0, TRAP_SIZE, 2);
	if (emugpu_submit(fd, cmds, n, &seqno) ||
	    !emugpu_wait_running(fd, seqno))
		_exit(96);

	if (pthread_create(&thread, NULL, munmap_trap_thread, &trap))
		_exit(97);
	if (!strcmp(policy, "pin")) {
		/*
		 * The notifier agrees at once: munmap returns and the job
		 * goes on with the pinned pages. Nothing holds the victim.
		 */
		if (pthread_join(thread, NULL))
			_exit(97);
	} else {
		/* Until the munmap sleeps in the notifier, waiting for the job. */
		while (!munmap_trap_tid(&trap) ||
		       task_state(munmap_trap_tid(&trap)) != 'D')
			sched_yield();
	}
	tell_parent(munmap_trap_tid(&trap));
	for (;;)
		pause();
}

static __noreturn void bystander(void)
{
	unsigned char *p;

	set_adj("500");
	join_cgroup();
	p = anon(8 * MiB);
	if (!p)
		_exit(93);
	memset(p, 1, 8 * MiB);
	tell_parent(0);
	for (;;)
		pause();
}

/* What the hog may take without the victim's memory. */
static long long available(void)
{
	long long kb, max, cur;
	FILE *f;

	if (mode->memcg) {
		f = fopen(CGROUP "/memory.max", "r");
		if (!f || fscanf(f, "%lld", &max) != 1)
			return -1;
		fclose(f);
		f = fopen(CGROUP "/memory.current", "r");
		if (!f || fscanf(f, "%lld", &cur) != 1)
			return -1;
		fclose(f);
		return max - cur;
	}
	kb = read_key("/proc/meminfo", "MemAvailable");
	return kb < 0 ? -1 : kb * 1024;
}

/* Allocates all that is available plus 3/4 of the victim's VMA. */
static __noreturn void hog(void)
{
	long long want, got = 0;

	set_adj("0");
	join_cgroup();
	want = available() + VMA_SIZE / 4 * 3;
	while (got < want) {
		unsigned char *p = anon(MiB);

		if (!p)
			_exit(98);
		memset(p, 3, MiB);
		got += MiB;
	}
	_exit(0);
}

/* Forks a child running @fn, with a fresh pipe to say it is ready. */
static pid_t spawn(void (*fn)(void))
{
	pid_t pid;

	if (pipe(ready_pipe))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(ready_pipe[0]);
		fn();
	}
	close(ready_pipe[1]);
	return pid;
}

static long long oom_kills(void)
{
	return read_key(mode->memcg ? CGROUP "/memory.events" : "/proc/vmstat",
			"oom_kill");
}

static int setup_cgroup(void)
{
	/* Room for the victim and the bystander, not for the hog too. */
	return write_text("/sys/fs/cgroup/cgroup.subtree_control", "+memory") ||
	       (mkdir(CGROUP, 0755) && errno != EEXIST) ||
	       write_text(CGROUP "/memory.max", "167772160");
}

static int killed(int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

/*
 * What the policy lets the driver keep from the reaper: the job's user
 * pointers and the trap, and with xe the idle user pointers too. (pin:
 * the same pages, pinned, so unmapped by the reaper but not freed.)
 */
static unsigned long busy_kb(void)
{
	size_t each = mode->busy_size ? mode->busy_size : VMA_SIZE;

	/*
	 * The reaper leaves each PMD-mapped huge page that holds a busy range
	 * whole; PTE-mapped smaller ones it zaps around page by page.
	 */
	if (mode->thp && thp_kb == HPAGE / 1024)
		each = HPAGE;
	size_t idle = strncmp(policy, "xe", 2) ? 0 : mode->nidle * IDLE_SIZE;

	return (each * mode->nbusy + idle + TRAP_SIZE) / 1024;
}

static int run_oom(void)
{
	long long kills_before, kills, cancels_before;
	pid_t by, vic, hg;
	int st_vic, st_hog, by_alive, ok_vic;
	char msg[64];
	double t0;

	printf("1..4\n");
	by = spawn(bystander);
	if (hear_child() < 0)
		return 1;
	vic = spawn(victim);
	if (hear_child() < 0) {
		diag("the victim died before its job ran (too little memory?)");
		return 1;
	}
	printf("# victim_pid=%d\n# busy_kb=%lu\n# vma_kb=%lu\n", vic,
	       busy_kb(), VMA_SIZE / 1024);
	/* What policy pin keeps pinned; the reaper cannot free it. */
	printf("# pinned_kb=%lld\n",
	       emugpu_stat("pinned_pages") * (long long)(PAGE / 1024));
	kills_before = oom_kills();
	cancels_before = emugpu_stat("oom_cancels");

	t0 = now();
	hg = spawn(hog);
	/* Reap the hog and the victim as they end, and the bystander if. */
	by_alive = 1;
	for (int left = 2; left;) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0)
			return 1;
		if (pid == by) {
			by_alive = 0;
			continue;
		}
		left--;
		if (pid == hg) {
			st_hog = status;
			continue;
		}
		st_vic = status;
		printf("# victim_gone_s=%.3f\n", now() - t0);
		/* On the kernel's clock, next to the OOM killer's lines. */
		snprintf(msg, sizeof(msg), "oomgpu: victim %d gone\n", vic);
		write_text("/dev/kmsg", msg);
	}
	/* Died, and not reaped in the loop? Then it did not survive. */
	if (by_alive && waitpid(by, NULL, WNOHANG) == by)
		by_alive = 0;
	if (by_alive) {
		kill(by, SIGKILL);
		waitpid(by, NULL, 0);
	}
	kills = oom_kills() - kills_before;
	printf("# oom_kills=%lld\n# oom_cancels=%lld\n", kills,
	       emugpu_stat("oom_cancels") - cancels_before);

	ok_vic = CHECK(killed(st_vic));
	ktap_result(ok_vic, 1, "victim_oom_killed");
	ktap_result(CHECK(by_alive) && CHECK(kills == 1), 2, "no_collateral");
	ktap_result(CHECK(WIFEXITED(st_hog) && !WEXITSTATUS(st_hog)), 3,
		    "hog_got_its_memory");
	ktap_result(emugpu_idle(), 4, "driver_idle");
	return ktap_failed;
}

static int run_mrelease(void)
{
	long before, after, busy = (long)busy_kb();
	char task[64];
	int pidfd, ret, status;
	pid_t vic;
	long tid;

	printf("1..3\n");
	vic = spawn(victim);
	tid = hear_child();
	if (tid < 0)
		return 1;
	/* The leader exits at once; the stuck thread still has the mm. */
	snprintf(task, sizeof(task), "%d/task/%ld", vic, tid);
	before = status_kb(task, "RssAnon");
	pidfd = (int)syscall(SYS_pidfd_open, vic, 0);
	if (!CHECK(pidfd >= 0) ||
	    !CHECK(!syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0)))
		return 1;
	ret = (int)syscall(SYS_process_mrelease, pidfd, 0) ? -errno : 0;
	after = status_kb(task, "RssAnon");
	printf("# victim_pid=%d\n# busy_kb=%ld\n# vma_kb=%lu\n", vic, busy,
	       VMA_SIZE / 1024);
	printf("# mrelease=%d\n# rss_before_kb=%ld\n# rss_after_kb=%ld\n", ret,
	       before, after);
	/* All but the busy range, and what little else it mapped. */
	ktap_result(CHECK(before > (long)(VMA_SIZE / 1024)) &&
		    CHECK(after >= 0 && after <= busy + 1024), 1,
		    "reaped_around_busy_range");
	ktap_result(CHECK(waitpid(vic, &status, 0) == vic) &&
		    CHECK(killed(status)), 2, "victim_exits");
	close(pidfd);
	ktap_result(emugpu_idle(), 3, "driver_idle");
	return ktap_failed;
}

/* AnonHugePages of task @task (PID/task/TID), kB; -1 if unreadable. */
static long anon_huge_kb(const char *task)
{
	char file[96];

	snprintf(file, sizeof(file), "/proc/%s/smaps_rollup", task);
	return (long)read_key(file, "AnonHugePages");
}

/*
 * thp: process_mrelease(2) of a killed victim whose VMA is in huge pages,
 * with busy user pointers inside some of them. The reaper must zap around
 * the huge pages that hold them without splitting one (a split issues a
 * blocking invalidation of those 2 MiB, which the driver answers by
 * waiting for the job), keep the busy ranges mapped for the device, and
 * take the rest.
 */
static int run_thp(void)
{
	long before, after, huge, busy = (long)busy_kb();
	long long blockable, faults = 0;
	char size_dir[96] = "", file[128];
	double took;
	unsigned int i, mapped = 0;
	char task[64];
	int pidfd, ret, status;
	pid_t vic;
	long tid;

	static const char *const names[] = {
		"thp_backs_the_vma", "no_blockable_invalidation",
		"busy_ranges_still_mapped", "reaped_around_busy_huge_pages",
		"victim_exits", "driver_idle",
	};

	printf("1..6\n");
	if (access(THP_ENABLED, F_OK)) {
		for (i = 0; i < 6; i++)
			printf("ok %u %s # SKIP no transparent huge pages\n",
			       i + 1, names[i]);
		return 0;
	}
	if (thp_kb != HPAGE / 1024) {
		/* Multi-size THP: only that size, where madvise() asks. */
		snprintf(size_dir, sizeof(size_dir), THP_SYSFS "/hugepages-%lukB",
			 thp_kb);
		snprintf(file, sizeof(file), "%s/stats/anon_fault_alloc",
			 size_dir);
		if (access(file, F_OK)) {
			for (i = 0; i < 6; i++)
				printf("ok %u %s # SKIP no %lu kB THP\n", i + 1,
				       names[i], thp_kb);
			return 0;
		}
		faults = read_number(file);
		snprintf(file, sizeof(file), "%s/enabled", size_dir);
		if (write_text(THP_SYSFS "/hugepages-2048kB/enabled", "never") ||
		    write_text(file, "madvise")) {
			diag("%s: %s", file, strerror(errno));
			return 1;
		}
	}
	/*
	 * The kernel turns THP off on machines under 512 MiB, which the
	 * administrator may undo (mm/huge_memory.c, hugepage_init()).
	 */
	if (write_text(THP_ENABLED, "madvise")) {
		diag("%s: %s", THP_ENABLED, strerror(errno));
		return 1;
	}
	vic = spawn(victim);
	tid = hear_child();
	if (tid < 0)
		return 1;
	snprintf(task, sizeof(task), "%d/task/%ld", vic, tid);
	if (thp_kb == HPAGE / 1024) {
		huge = anon_huge_kb(task);
	} else {
		snprintf(file, sizeof(file), "%s/stats/anon_fault_alloc",
			 size_dir);
		huge = (long)((read_number(file) - faults) * (long long)thp_kb);
	}
	before = status_kb(task, "RssAnon");
	printf("# thp_kb=%lu\n# anon_huge_before_kb=%ld\n", thp_kb, huge);
	ktap_result(CHECK(huge >= (long)(VMA_SIZE / 1024) / 2), 1, names[0]);
	if (ktap_failed) {
		/* Nothing below would test what it says. */
		kill(vic, SIGKILL);
		waitpid(vic, &status, 0);
		for (i = 1; i < 6; i++)
			printf("ok %u %s # SKIP no huge pages\n", i + 1,
			       names[i]);
		return 1;
	}
	blockable = emugpu_stat("inval_blockable");
	pidfd = (int)syscall(SYS_pidfd_open, vic, 0);
	if (!CHECK(pidfd >= 0) ||
	    !CHECK(!syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0)))
		return 1;
	took = now();
	ret = (int)syscall(SYS_process_mrelease, pidfd, 0) ? -errno : 0;
	took = now() - took;
	blockable = emugpu_stat("inval_blockable") - blockable;
	after = status_kb(task, "RssAnon");
	for (i = 0; i < mode->nbusy; i++)
		mapped += emugpu_present(VA_BUSY + i * (VMA_SIZE / mode->nbusy)) ==
			  (long)(mode->busy_size / PAGE);
	printf("# victim_pid=%d\n# busy_kb=%ld\n# vma_kb=%lu\n", vic, busy,
	       VMA_SIZE / 1024);
	printf("# mrelease=%d\n# mrelease_ms=%.1f\n", ret, took * 1e3);
	printf("# rss_before_kb=%ld\n# rss_after_kb=%ld\n", before, after);
	printf("# anon_huge_after_kb=%ld\n# thp_left_kb=%ld\n",
	       anon_huge_kb(task), after);
	printf("# blockable_in_reap=%lld\n# busy_mapped=%u\n", blockable,
	       mapped);
	ktap_result(CHECK(blockable == 0), 2, names[1]);
	ktap_result(CHECK(mapped == mode->nbusy), 3, names[2]);
	/* All but the busy huge pages, and what little else it mapped. */
	ktap_result(CHECK(before > (long)(VMA_SIZE / 1024)) &&
		    CHECK(after >= 0 && after <= busy + 1024), 4, names[3]);
	ktap_result(CHECK(waitpid(vic, &status, 0) == vic) &&
		    CHECK(killed(status)), 5, names[4]);
	close(pidfd);
	ktap_result(emugpu_idle(), 6, names[5]);
	return ktap_failed;
}

/* A child with a job holding its memory; it tells the parent, then ends. */
static __noreturn void job_child(int do_exit)
{
	struct drm_emugpu_cmd spin;
	unsigned char *mem = anon(16 * PAGE);
	uint32_t handle;
	uint64_t seqno;
	int fd = emugpu_open();

	spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_BUSY, 16 * PAGE, 0);
	if (fd < 0 || !mem || emugpu_userptr(fd, mem, 16 * PAGE, 0, &handle) ||
	    emugpu_bind(fd, handle, 0, VA_BUSY, 16 * PAGE) ||
	    emugpu_submit(fd, &spin, 1, &seqno) ||
	    !emugpu_wait_running(fd, seqno))
		_exit(1);
	tell_parent(0);
	if (do_exit)
		exit(0);
	for (;;)
		pause();
}

static void killed_child(void)
{
	job_child(0);
}

static void exiting_child(void)
{
	job_child(1);
}

static int run_exit(void)
{
	long long cancels = emugpu_stat("exit_cancels");
	int status_k, status_e;
	double t0, killed_s;
	pid_t k, e;

	printf("1..4\n");
	/* Exit tears the mm down first: that unmap cancels the job. */
	k = spawn(killed_child);
	if (hear_child() < 0)
		return 1;
	t0 = now();
	kill(k, SIGKILL);
	waitpid(k, &status_k, 0);
	killed_s = now() - t0;
	e = spawn(exiting_child);
	if (hear_child() < 0)
		return 1;
	waitpid(e, &status_e, 0);
	printf("# killed_exit_s=%.3f\n# exit_cancels=%lld\n", killed_s,
	       emugpu_stat("exit_cancels") - cancels);
	ktap_result(CHECK(killed(status_k)), 1, "sigkill_with_job_in_flight");
	ktap_result(CHECK(WIFEXITED(status_e) && !WEXITSTATUS(status_e)), 2,
		    "exit_with_job_in_flight");
	/* Neither waited for the job timeout: their exits cancelled. */
	ktap_result(CHECK(emugpu_stat("exit_cancels") - cancels == 2), 3,
		    "exit_cancels_jobs");
	ktap_result(emugpu_idle(), 4, "driver_idle");
	return ktap_failed;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Objects, user pointers, mappings, jobs and fences emugpu still holds. */
static long long driver_objects(void)
{
	static const char *const live[] = {
		"objects", "userptrs", "mappings", "jobs", "fences",
	};
	long long n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(live); i++)
		n += emugpu_stat(live[i]);
	return n;
}

/*
 * memory.current also counts the charges each CPU keeps in stock for the
 * memcg (up to MEMCG_CHARGE_BATCH pages each) and caches the children
 * left that reclaim can take (dentries of /proc). Writing memory.high
 * drains the stocks, its own CPU's at once and the others' later by a
 * work item, then reclaims down to the new high: so write 0 from each CPU
 * in turn, and what memory.current shows next is what is held.
 */
static int settle_memcg(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t all, one;

	if (sched_getaffinity(0, sizeof(all), &all))
		return -1;
	for (long cpu = 0; cpu < cpus; cpu++) {
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one) ||
		    write_text(CGROUP "/memory.high", "0"))
			return -1;
	}
	return sched_setaffinity(0, sizeof(all), &all) ||
	       write_text(CGROUP "/memory.high", "max");
}

#define MAX_GRACE_PERIODS	10
/* What may stay charged to the memcg after the last episode */
#define MEMORY_SLACK		(64 * (long long)PAGE)

/*
 * The memcg's memory.current once it has settled down to @target, or
 * after MAX_GRACE_PERIODS: page tables are freed after an RCU grace
 * period (UML selects MMU_GATHER_RCU_TABLE_FREE), so the last exits' may
 * still be charged. MEMBARRIER_CMD_GLOBAL waits for one grace period
 * (synchronize_rcu()). -1 on error.
 */
static long long settled_usage(long long target)
{
	long long usage = -1;

	for (int gp = 0; gp <= MAX_GRACE_PERIODS; gp++) {
		if (gp && syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
			return -1;
		if (settle_memcg())
			return -1;
		usage = read_number(CGROUP "/memory.current");
		if (usage <= target)
			break;
	}
	return usage;
}

/* What memory.stat says is still charged after the last episode */
static const char *const memcg_parts[] = {
	"anon", "file", "kernel", "kernel_stack", "pagetables", "percpu",
	"sock", "slab_reclaimable", "slab_unreclaimable",
};

/*
 * The memcg OOM of run_oom(), @n times in one boot. This process opens
 * each episode's file and the victim inherits it (its user pointers and
 * job are still its own mm's), so when the hog is done, or killed, this
 * process releases the victim's SPIN (JOB_RELEASE of the file's first
 * job) and the stuck victim can exit: the episode ends with its OOM, not
 * at the job timeout. Each episode has its own bystander, killed by this
 * process at the end if the OOM killer has not, so each starts and ends
 * with an empty memcg. After the first and the last: the memcg's memory.current, next
 * to its value before the first, and the driver's live objects.
 */
static int run_episodes(unsigned long n)
{
	long long kills_before, kills, mem_before, mem_first = -1, mem_after;
	long long objects;
	unsigned long victims_killed = 0, hogs_ok = 0, bystanders_lost = 0;
	double *secs = calloc(n ? n : 1, sizeof(double));
	int released = 1, ok;
	pid_t by;

	printf("1..5\n");
	mem_before = read_number(CGROUP "/memory.current");
	kills_before = oom_kills();
	if (!secs || mem_before < 0 || kills_before < 0)
		return 1;
	for (unsigned long i = 0; i < n; i++) {
		pid_t vic, hg, pid;
		int status, left;
		double t0;

		by = spawn(bystander);
		if (hear_child() < 0)
			return 1;
		episode_fd = emugpu_open();
		if (episode_fd < 0)
			return 1;
		vic = spawn(victim);
		if (hear_child() < 0) {
			diag("episode %lu: the victim died before its job ran", i);
			return 1;
		}
		t0 = now();
		hg = spawn(hog);
		for (left = 2; left;) {
			pid = waitpid(-1, &status, 0);
			if (pid < 0)
				return 1;
			if (pid == by) {
				bystanders_lost++;
				by = -1;
				continue;
			}
			left--;
			if (pid == hg) {
				hogs_ok += WIFEXITED(status) && !WEXITSTATUS(status);
				/* Done with or without its memory: let it go. */
				released &= !emugpu_release(episode_fd, 1);
				continue;
			}
			victims_killed += pid == vic && killed(status);
		}
		secs[i] = now() - t0;
		close(episode_fd);
		/* Died, and not reaped in the loop? Then the OOM killer. */
		if (by > 0 && waitpid(by, NULL, WNOHANG) == by) {
			bystanders_lost++;
		} else if (by > 0) {
			kill(by, SIGKILL);
			waitpid(by, NULL, 0);
		}
		/* What one episode leaves, to compare the last one's with */
		if (!i)
			mem_first = settled_usage(mem_before);
	}
	kills = oom_kills() - kills_before;
	mem_after = settled_usage(mem_before);
	for (size_t i = 0; i < ARRAY_SIZE(memcg_parts); i++)
		printf("# memcg_%s_kb=%lld\n", memcg_parts[i],
		       read_key(CGROUP "/memory.stat", memcg_parts[i]) / 1024);
	objects = driver_objects();
	qsort(secs, n, sizeof(*secs), cmp_double);
	printf("# episodes=%lu\n# victims_killed=%lu\n# oom_kills=%lld\n"
	       "# collateral_kills=%lld\n# bystanders_lost=%lu\n"
	       "# hogs_ok=%lu\n", n, victims_killed, kills,
	       kills - (long long)victims_killed, bystanders_lost, hogs_ok);
	printf("# memory_before_kb=%lld\n# memory_after_first_kb=%lld\n"
	       "# memory_after_kb=%lld\n# memory_left_kb=%lld\n"
	       "# memory_growth_kb=%lld\n# driver_objects_left=%lld\n",
	       mem_before / 1024, mem_first / 1024, mem_after / 1024,
	       (mem_after - mem_before) / 1024,
	       (mem_after - mem_first) / 1024, objects);
	if (n)
		printf("# episode_s_min=%.3f\n# episode_s_median=%.3f\n"
		       "# episode_s_max=%.3f\n", secs[0], n % 2 ? secs[n / 2] :
		       (secs[n / 2 - 1] + secs[n / 2]) / 2, secs[n - 1]);
	free(secs);

	ok = CHECK(victims_killed == n) && CHECK(released);
	ktap_result(ok, 1, "every_victim_oom_killed");
	ktap_result(CHECK(kills == (long long)n) && CHECK(!bystanders_lost), 2,
		    "no_collateral");
	ktap_result(CHECK(hogs_ok == n), 3, "every_hog_got_its_memory");
	/*
	 * Everything the episodes charged is uncharged: anonymous memory,
	 * page tables, and the driver's GFP_KERNEL_ACCOUNT allocations. Some
	 * kernel memory of the exited processes is freed later still (after
	 * the grace periods waited for), so a residue stays charged: 16 to
	 * 124 kB here, as much after 10 episodes as after 1. A leak of a
	 * page per episode passes MEMORY_SLACK within 64 episodes.
	 */
	ktap_result(CHECK(mem_first >= 0 && mem_after >= 0) &&
		    CHECK(read_key(CGROUP "/memory.stat", "anon") == 0) &&
		    CHECK(mem_after - mem_before < MEMORY_SLACK), 4,
		    "memory_back");
	ktap_result(CHECK(!objects) && emugpu_idle(), 5, "driver_idle");
	return ktap_failed;
}

int main(int argc, char **argv)
{
	/*
	 * Without the cancel, the job must outlast the reaper's retries,
	 * which give up about 3.1 s after the kill (OOM_REAPER_DELAY, then
	 * ten passes HZ/10 apart). With 5 s, on 7.3 SMP UML the timeout
	 * cancelled the job 2.8 s after the kill, inside those retries, and
	 * a baseline kernel reaped the whole victim: the bug did not show.
	 * The module's default, 10 s, is long enough; the timeout is fixed
	 * when the module loads.
	 */
	long long timeout;
	FILE *f;
	int ret;

	for (int i = 1; i < argc; i++)
		for (size_t m = 0; m < ARRAY_SIZE(modes); m++)
			if (!strcmp(argv[i], modes[m].name))
				mode = &modes[m];
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("KTAP version 1\n");
	if (!mode) {
		printf("1..0 # SKIP usage: oom_gpu MODE\n");
		return 2;
	}
	f = fopen(POLICY, "r");
	if (!f || !fgets(policy, sizeof(policy), f)) {
		printf("1..0 # SKIP cannot read %s (no emugpu)\n", POLICY);
		return KSFT_SKIP;
	}
	fclose(f);
	policy[strcspn(policy, "\n")] = 0;
	timeout = read_number(EMUGPU_TIMEOUT);
	if (timeout < 10000) {
		printf("1..0 # SKIP job_timeout_ms=%lld, the scenario needs 10000\n",
		       timeout);
		return 1;
	}
	if (write_text("/proc/self/oom_score_adj", "-1000") ||
	    (mode->memcg && setup_cgroup())) {
		diag("setup: %s", strerror(errno));
		printf("1..0 # SKIP setup failed\n");
		return 1;
	}
	printf("# mode=%s policy=%s job_timeout_ms=%lld\n", mode->name, policy,
	       timeout);
	if (!strcmp(mode->name, "episodes")) {
		ret = run_episodes(bench_param("episodes", 100));
	} else if (mode->oom) {
		ret = run_oom();
	} else if (!strcmp(mode->name, "mrelease")) {
		ret = run_mrelease();
	} else if (mode->thp) {
		thp_kb = cmdline_param("oomgpu.thp_kb", HPAGE / 1024);
		ret = run_thp();
	} else {
		ret = run_exit();
	}
	return ret;
}
