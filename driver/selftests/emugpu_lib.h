/* SPDX-License-Identifier: GPL-2.0 */
/*
 * emugpu_lib.h - what the guest programs share: KTAP output, emugpu ioctl
 * wrappers, and the driver's debugfs counters.
 */
#ifndef EMUGPU_LIB_H
#define EMUGPU_LIB_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <drm/emugpu_drm.h>

#define EMUGPU_NODE	"/dev/dri/renderD128"
#define EMUGPU_STATS	"/sys/kernel/debug/emugpu/stats"
#define EMUGPU_STATE	"/sys/kernel/debug/emugpu/state"
#define EMUGPU_TIMEOUT	"/sys/module/emugpu/parameters/job_timeout_ms"
#define PAGE		4096UL

#ifndef ARRAY_SIZE	/* kselftest.h's, for programs built without it */
#define ARRAY_SIZE(arr) (sizeof(arr) / sizeof((arr)[0]))
#endif

static int ktap_failed;

static inline void ktap_start(int count)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("KTAP version 1\n1..%d\n", count);
}

static inline void ktap_result(int ok, int num, const char *name)
{
	printf("%s %d %s\n", ok ? "ok" : "not ok", num, name);
	if (!ok)
		ktap_failed = 1;
}

struct ktap_case {
	const char *name;
	int (*fn)(void);	/* 1: pass */
};

/* The exit status of a program that cannot run here (kselftest.h's). */
#ifndef KSFT_SKIP
#define KSFT_SKIP	4
#endif

/* A case that cannot run here returns KTAP_SKIP, its reason in ktap_skip. */
#define KTAP_SKIP	(-1)
static const char *ktap_skip = "";

/* Is @name one of @names (all of them if there are none)? */
static inline int ktap_selected(const char *name, int nnames,
				char *const *names)
{
	if (!nnames)
		return 1;
	for (int i = 0; i < nnames; i++)
		if (!strcmp(name, names[i]))
			return 1;
	return 0;
}

/*
 * Runs @cases in order as one KTAP document, or of them only those named
 * in @names (a scenario that needs a different boot, e.g. a module
 * parameter, runs a few cases of a program); returns the exit status.
 */
static inline int ktap_run(const struct ktap_case *cases, int count,
			   int nnames, char *const *names)
{
	int selected = 0, num = 0;

	for (int i = 0; i < count; i++)
		selected += ktap_selected(cases[i].name, nnames, names);
	/* As a kselftest on a machine without emugpu: skipped, not failed. */
	if (access(EMUGPU_NODE, F_OK)) {
		printf("KTAP version 1\n1..0 # SKIP no %s (emugpu)\n",
		       EMUGPU_NODE);
		return KSFT_SKIP;
	}
	ktap_start(selected);
	for (int i = 0; i < count; i++) {
		int ret;

		if (!ktap_selected(cases[i].name, nnames, names))
			continue;
		ret = cases[i].fn();
		num++;
		if (ret == KTAP_SKIP)
			printf("ok %d %s # SKIP %s\n", num, cases[i].name,
			       ktap_skip);
		else
			ktap_result(ret, num, cases[i].name);
	}
	return ktap_failed;
}

/* A diagnostic line, for the log of a failing test. */
static inline void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Evaluates @cond; on failure says where and what, and yields 0. */
#define CHECK(cond) \
	((cond) ? 1 : (diag("%s:%d: %s failed (errno %d)", __FILE__, \
			    __LINE__, #cond, errno), 0))

static inline int emugpu_open(void)
{
	int fd = open(EMUGPU_NODE, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		diag("open %s: %s", EMUGPU_NODE, strerror(errno));
	return fd;
}

/* ioctl() returning 0 or -errno, restarting on EINTR like libdrm. */
static inline int emugpu_ioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret == -1 && errno == EINTR);
	return ret ? -errno : 0;
}

static inline int emugpu_bo(int fd, uint64_t size, uint32_t *handle)
{
	struct drm_emugpu_gem_create c = { .size = size };
	int ret = emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_GEM_CREATE, &c);

	*handle = c.handle;
	return ret;
}

static inline int emugpu_userptr(int fd, void *addr, uint64_t size,
				 uint32_t flags, uint32_t *handle)
{
	struct drm_emugpu_userptr u = {
		.addr = (uintptr_t)addr, .size = size, .flags = flags,
	};
	int ret = emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_USERPTR, &u);

	*handle = u.handle;
	return ret;
}

static inline int emugpu_bind(int fd, uint32_t handle, uint64_t offset,
			      uint64_t va, uint64_t size)
{
	struct drm_emugpu_vm_bind b = {
		.handle = handle, .offset = offset, .va = va, .size = size,
	};

	return emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_VM_BIND, &b);
}

/* DRM_IOCTL_EMUGPU_VM_OPS: @count operations, all or none. */
static inline int emugpu_vm_ops(int fd, const struct drm_emugpu_vm_op *ops,
				uint32_t count)
{
	struct drm_emugpu_vm_ops v = { .ops = (uintptr_t)ops, .count = count };

	return emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_VM_OPS, &v);
}

static inline int emugpu_unbind(int fd, uint64_t va, uint64_t size)
{
	struct drm_emugpu_vm_unbind u = { .va = va, .size = size };

	return emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_VM_UNBIND, &u);
}

static inline int emugpu_submit(int fd, const struct drm_emugpu_cmd *cmds,
				uint32_t count, uint64_t *seqno)
{
	struct drm_emugpu_submit s = {
		.cmds = (uintptr_t)cmds, .count = count,
	};
	int ret = emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, &s);

	*seqno = s.seqno;
	return ret;
}

/* Waits for a job; returns the ioctl's error, else the job's status. */
/* A new binary syncobj of @fd, or 0. */
static inline uint32_t emugpu_syncobj_create(int fd)
{
	struct drm_syncobj_create c = {};

	return emugpu_ioctl(fd, DRM_IOCTL_SYNCOBJ_CREATE, &c) ? 0 : c.handle;
}

static inline int emugpu_wait(int fd, uint64_t seqno, int64_t timeout_ns)
{
	struct drm_emugpu_wait w = { .seqno = seqno, .timeout_ns = timeout_ns };
	int ret = emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_WAIT, &w);

	return ret ? ret : w.status;
}

static inline int emugpu_release(int fd, uint64_t seqno)
{
	struct drm_emugpu_job_release r = { .seqno = seqno };

	return emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_JOB_RELEASE, &r);
}

static inline struct drm_emugpu_cmd emugpu_cmd(uint32_t op, uint64_t dst,
					       uint64_t src, uint64_t size,
					       uint64_t value)
{
	struct drm_emugpu_cmd c = {
		.op = op, .dst = dst, .src = src, .size = size, .value = value,
	};

	return c;
}

/* Runs one command to completion; returns the job's status or -errno. */
static inline int emugpu_run(int fd, uint32_t op, uint64_t dst, uint64_t src,
			     uint64_t size, uint64_t value)
{
	struct drm_emugpu_cmd c = emugpu_cmd(op, dst, src, size, value);
	uint64_t seqno;
	int ret = emugpu_submit(fd, &c, 1, &seqno);

	return ret ? ret : emugpu_wait(fd, seqno, INT64_MAX);
}

/*
 * The number after @key in a file of "key value" or "key: value [kB]"
 * lines (debugfs stats, /proc/meminfo, /proc/vmstat, memory.events,
 * /proc/PID/status), or -1 if the file or the key is not there.
 */
static inline long long read_key(const char *path, const char *key)
{
	char line[256];
	size_t len = strlen(key);
	long long value = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, len) &&
		    (line[len] == ':' || line[len] == ' ')) {
			value = strtoll(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return value;
}

/* The first number in @path (memory.current, a parameter), or -1. */
static inline long long read_number(const char *path)
{
	long long v = -1;
	FILE *f = fopen(path, "r");

	if (f && fscanf(f, "%lld", &v) != 1)
		v = -1;
	if (f)
		fclose(f);
	return v;
}

/* One counter of emugpu's debugfs stats, or -1. */
static inline long long emugpu_stat(const char *key)
{
	return read_key(EMUGPU_STATS, key);
}

/*
 * The number of live jobs once it has come down to @want, or what it was
 * after 10 s. drm_sched frees a job from a work item after the job's
 * finished fence signalled, so a test that waited for that fence can see
 * the job still counted for a moment (under QEMU's TCG it did).
 */
static inline long long emugpu_jobs_reach(long long want)
{
	struct timespec start, now;
	long long jobs;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		jobs = emugpu_stat("jobs");
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (jobs == want || now.tv_sec - start.tv_sec >= 10)
			return jobs;
		sched_yield();
	}
}

/* Is job @seqno of some file running (its pages on the "hardware")? */
static inline int emugpu_job_running(uint64_t seqno)
{
	char line[256], want[64];
	FILE *f = fopen(EMUGPU_STATE, "r");
	int found = 0;

	if (!f)
		return 0;
	snprintf(want, sizeof(want), "running job=%llu\n",
		 (unsigned long long)seqno);
	while (!found && fgets(line, sizeof(line), f))
		found = !!strstr(line, want);
	fclose(f);
	return found;
}

/*
 * How many pages of the mapping at device address @va (of any file) are
 * in the device page table, from debugfs; -1 if there is none.
 */
static inline long emugpu_present(uint64_t va)
{
	char line[256], want[64];
	FILE *f = fopen(EMUGPU_STATE, "r");
	long present = -1;
	char *p;

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "map va=[0x%llx-", (unsigned long long)va);
	while (present < 0 && fgets(line, sizeof(line), f)) {
		p = strstr(line, want) ? strstr(line, "present=") : NULL;
		if (p)
			present = strtol(p + strlen("present="), NULL, 10);
	}
	fclose(f);
	return present;
}

/*
 * Waits until the engine runs job @seqno of @fd, yielding to it; false
 * if the job ended first. The engine starts a queued job as soon as it
 * gets the CPU, so this ends.
 */
static inline int emugpu_wait_running(int fd, uint64_t seqno)
{
	while (!emugpu_job_running(seqno)) {
		if (emugpu_wait(fd, seqno, 0) != -ETIME)
			return 0;
		sched_yield();
	}
	return 1;
}

/*
 * What keeps a killed process's mm for the reaper or process_mrelease(2):
 * a thread of it munmap()s memory a running job uses and sleeps in the
 * notifier, in state D, until the job ends; after SIGKILL it still holds
 * the mm. Start munmap_trap_thread() on one, with @addr and @size set.
 */
struct munmap_trap {
	void *addr;
	size_t size;
	pid_t tid;	/* the thread's once it runs: munmap_trap_tid() */
};

/* The trap thread's id, or 0 until it has started. */
static inline pid_t munmap_trap_tid(struct munmap_trap *trap)
{
	return __atomic_load_n(&trap->tid, __ATOMIC_ACQUIRE);
}

static inline void *munmap_trap_thread(void *arg)
{
	struct munmap_trap *trap = arg;

	__atomic_store_n(&trap->tid, (pid_t)syscall(SYS_gettid),
			 __ATOMIC_RELEASE);
	munmap(trap->addr, trap->size);
	return NULL;
}

/* The state letter of thread @tid of this process (R, S, D...), or '?'. */
static inline char task_state(pid_t tid)
{
	char file[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(file, sizeof(file), "/proc/self/task/%d/stat", tid);
	f = fopen(file, "r");
	if (!f)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* True when the driver holds no objects, mappings, jobs or memory. */
static inline int emugpu_idle(void)
{
	static const char *const live[] = {
		"objects", "shmem_bytes", "userptrs", "mappings", "jobs",
		"pinned_pages", "fences", "purgeable_bytes", "vram_bytes",
	};
	int ok = 1;

	for (size_t i = 0; i < ARRAY_SIZE(live); i++) {
		long long v = emugpu_stat(live[i]);

		if (v != 0) {
			diag("emugpu %s = %lld, want 0", live[i], v);
			ok = 0;
		}
	}
	return ok;
}

static inline int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t len = (ssize_t)strlen(text);
	int ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, text, len) == len;
	close(fd);
	return ok ? 0 : -EIO;
}

/* 64-bit FNV-1a, as EMUGPU_OP_CHECKSUM computes it. */
static inline uint64_t fnv1a(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *s++) * 0x100000001b3ULL;
	return h;
}

static inline void *anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* KEY=VALUE (an unsigned number) from the kernel command line, or @def. */
static inline unsigned long cmdline_param(const char *key, unsigned long def)
{
	char line[4096], want[80], *p;
	FILE *f = fopen("/proc/cmdline", "r");
	unsigned long v = def;

	snprintf(want, sizeof(want), "%s=", key);
	if (f && fgets(line, sizeof(line), f)) {
		p = strstr(line, want);
		if (p)
			v = strtoul(p + strlen(want), NULL, 10);
	}
	if (f)
		fclose(f);
	return v;
}

/* bench.NAME=VALUE from the kernel command line, or @def. */
static inline unsigned long bench_param(const char *name, unsigned long def)
{
	char key[64];

	snprintf(key, sizeof(key), "bench.%s", name);
	return cmdline_param(key, def);
}

static inline double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

#endif /* EMUGPU_LIB_H */
