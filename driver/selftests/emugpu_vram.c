// SPDX-License-Identifier: GPL-2.0
/*
 * emugpu_vram - emulated VRAM: a device pool of fixed size, charged to the
 * dmem cgroup controller.
 *
 * VRAM objects run jobs like any other (the device fills one and copies
 * it into a shmem object the CPU reads), and are not CPU-visible,
 * purgeable or exportable. They come out of a pool of emugpu.vram_mb MiB:
 * when it is full GEM_CREATE says -ENOSPC, and freeing one makes room.
 * Under a cgroup whose dmem.max for "drm/emugpu/vram" is 8 MiB, the third
 * 4 MiB object fails with -ENOSPC, dmem.current says 8 MiB, and
 * memory.current does not grow by it (VRAM is not system memory). Linux
 * 6.12 has no dmem controller (6.14): that case is skipped there.
 *
 * Last, device memory in system RAM and a memcg OOM: who does the OOM
 * killer pick, the holder of the objects or the task that allocates?
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "emugpu_lib.h"

#define MIB		(1024 * 1024ULL)
#define VA_VRAM		0x100000ULL
#define VA_SYS		0x1000000ULL
#define REGION		"drm/emugpu/vram"
#define CGROUP		"/sys/fs/cgroup/emugpu-vram"
#define MAX_POOL_MB	1024

static int fd;

static int vram_bo(uint64_t size, uint32_t *handle)
{
	struct drm_emugpu_gem_create c = {
		.size = size, .flags = EMUGPU_GEM_CREATE_VRAM,
	};
	int ret = emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_GEM_CREATE, &c);

	*handle = c.handle;
	return ret;
}

static int gem_close(uint32_t handle)
{
	return emugpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE,
			    &(struct drm_gem_close){ .handle = handle });
}

static int test_setup(void)
{
	fd = emugpu_open();
	return CHECK(fd >= 0) && CHECK(emugpu_stat("vram_bytes") == 0);
}

/* Are @size bytes of the shmem object @handle all @value, from the CPU? */
static int cpu_sees(uint32_t handle, uint64_t size, unsigned char value)
{
	struct drm_emugpu_gem_mmap_offset o = { .handle = handle };
	unsigned char *cpu;
	size_t i = 0;

	if (!CHECK(!emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_GEM_MMAP_OFFSET, &o)))
		return 0;
	cpu = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, o.offset);
	if (!CHECK(cpu != MAP_FAILED))
		return 0;
	while (i < size && cpu[i] == value)
		i++;
	munmap(cpu, size);
	return CHECK(i == size);
}

/* The device writes VRAM and copies it out; nothing else reaches it. */
static int test_jobs_on_vram(void)
{
	uint32_t vram, sys;
	struct drm_emugpu_gem_mmap_offset o = {};
	struct drm_emugpu_gem_madvise m = { .madv = EMUGPU_MADV_DONTNEED };
	struct drm_prime_handle prime = { .flags = DRM_CLOEXEC };

	if (!CHECK(!vram_bo(MIB, &vram)) || !CHECK(!emugpu_bo(fd, MIB, &sys)) ||
	    !CHECK(emugpu_stat("vram_bytes") == (long long)MIB) ||
	    !CHECK(!emugpu_bind(fd, vram, 0, VA_VRAM, MIB)) ||
	    !CHECK(!emugpu_bind(fd, sys, 0, VA_SYS, MIB)) ||
	    !CHECK(!emugpu_run(fd, EMUGPU_OP_FILL, VA_VRAM, 0, MIB, 0x33)) ||
	    !CHECK(!emugpu_run(fd, EMUGPU_OP_COPY, VA_SYS, VA_VRAM, MIB, 0)) ||
	    !cpu_sees(sys, MIB, 0x33))
		return 0;
	o.handle = vram;
	m.handle = vram;
	prime.handle = vram;
	return CHECK(emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_GEM_MMAP_OFFSET, &o) ==
		     -EINVAL) &&
	       CHECK(emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_GEM_MADVISE, &m) ==
		     -EINVAL) &&
	       CHECK(emugpu_ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &prime) ==
		     -EPERM) &&
	       CHECK(!emugpu_unbind(fd, VA_VRAM, MIB)) &&
	       CHECK(!emugpu_unbind(fd, VA_SYS, MIB)) &&
	       CHECK(!gem_close(vram)) && CHECK(!gem_close(sys)) &&
	       /* The COPY job holds both objects until drm_sched frees it. */
	       CHECK(emugpu_jobs_reach(0) == 0) &&
	       CHECK(emugpu_stat("vram_bytes") == 0);
}

/* The pool holds vram_mb MiB: one more is -ENOSPC until one is freed. */
static int test_pool_full(void)
{
	long long n = read_number("/sys/module/emugpu/parameters/vram_mb");
	long long objects = emugpu_stat("objects");
	uint32_t handle[MAX_POOL_MB], extra;
	long long made = 0;
	int ok = CHECK(n > 0 && n <= MAX_POOL_MB);

	while (ok && made < n)
		ok = CHECK(!vram_bo(MIB, &handle[made++]));
	ok = ok && CHECK(vram_bo(MIB, &extra) == -ENOSPC) &&
	     CHECK(emugpu_stat("objects") == objects + n) &&
	     CHECK(emugpu_stat("vram_bytes") == n * (long long)MIB) &&
	     CHECK(!gem_close(handle[0])) && CHECK(!vram_bo(MIB, &handle[0]));
	diag("a pool of %lld MiB: %lld objects of 1 MiB, then -ENOSPC", n,
	     made);
	for (long long i = 0; i < made; i++)
		ok = CHECK(!gem_close(handle[i])) && ok;
	return ok && CHECK(emugpu_stat("vram_bytes") == 0) &&
	       CHECK(emugpu_stat("objects") == objects);
}

static int has_dmem(void)
{
	char line[512] = "";
	FILE *f = fopen("/sys/fs/cgroup/cgroup.controllers", "r");

	if (f && !fgets(line, sizeof(line), f))
		line[0] = 0;
	if (f)
		fclose(f);
	return !!strstr(line, "dmem");
}

/*
 * dmem.max 8 MiB: two objects of 4 MiB, not three; dmem.current counts
 * them, memory.current does not.
 */
static int test_dmem_max(void)
{
	long long mem_before, mem_after, dmem_now, capacity;
	uint32_t a, b, c;
	char pid[32];
	int ok;

	if (!has_dmem()) {
		ktap_skip = "no dmem cgroup controller (Linux 6.12)";
		return KTAP_SKIP;
	}
	snprintf(pid, sizeof(pid), "%d", getpid());
	/* Root-only; absent on 7.3 UML here (-1), so printed, not checked. */
	capacity = read_key("/sys/fs/cgroup/dmem.capacity", REGION);
	if (!CHECK(!write_text("/sys/fs/cgroup/cgroup.subtree_control",
			       "+dmem +memory")) ||
	    !CHECK(!mkdir(CGROUP, 0755) || errno == EEXIST) ||
	    !CHECK(!write_text(CGROUP "/dmem.max", REGION " 8388608")) ||
	    !CHECK(!write_text(CGROUP "/cgroup.procs", pid)))
		return 0;
	mem_before = read_number(CGROUP "/memory.current");
	ok = CHECK(!vram_bo(4 * MIB, &a)) && CHECK(!vram_bo(4 * MIB, &b)) &&
	     CHECK(vram_bo(4 * MIB, &c) == -ENOSPC);
	dmem_now = read_key(CGROUP "/dmem.current", REGION);
	mem_after = read_number(CGROUP "/memory.current");
	ok = ok && CHECK(!gem_close(a)) && CHECK(!gem_close(b));
	diag("%s: capacity %lld, dmem.current %lld with two objects, %lld after",
	     REGION, capacity, dmem_now,
	     read_key(CGROUP "/dmem.current", REGION));
	diag("memory.current %lld -> %lld", mem_before, mem_after);
	ok = ok && CHECK(dmem_now == 8 * (long long)MIB) &&
	     CHECK(read_key(CGROUP "/dmem.current", REGION) == 0) &&
	     CHECK(mem_after - mem_before < 4 * (long long)MIB);
	ok = CHECK(!write_text("/sys/fs/cgroup/cgroup.procs", pid)) && ok;
	return CHECK(!rmdir(CGROUP)) && ok;
}

#define OOM_CGROUP	"/sys/fs/cgroup/emugpu-oom"
#define HOLDER_MB	48

/* Holds HOLDER_MB MiB of bound shmem objects; says 'r', then waits. */
static void holder(int to_parent, int from_parent)
{
	int f = emugpu_open();
	uint32_t bo;
	char c;

	for (int i = 0; i < HOLDER_MB / 4; i++)
		if (f < 0 || emugpu_bo(f, 4 * MIB, &bo) ||
		    emugpu_bind(f, bo, 0, VA_SYS + i * 4 * MIB, 4 * MIB))
			_exit(1);
	if (write(to_parent, "r", 1) != 1)
		_exit(1);
	_exit(read(from_parent, &c, 1) == 1 ? 0 : 1);
}

/* Touches anonymous memory until the OOM killer stops it. */
static void hog(void)
{
	for (;;) {
		unsigned char *p = mmap(NULL, MIB, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			_exit(1);
		for (size_t i = 0; i < MIB; i += PAGE)
			p[i] = 1;
	}
}

/* fork(), the child first moving itself into @cgroup (or exiting 1). */
static pid_t fork_into(const char *cgroup)
{
	char path[128], pid[32];
	pid_t child = fork();

	if (child)
		return child;
	snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (write_text(path, pid))
		_exit(1);
	return 0;
}

static const char *fate(int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ?
	       "OOM-killed" : "alive";
}

/*
 * Device memory in system RAM (bound shmem objects) is charged to the
 * memcg of the process that binds it, but the OOM killer ranks tasks by
 * RSS, swap and page tables, which do not count it: in a memcg OOM the
 * holder of the memory does not look big. A holder of 48 MiB of objects
 * and a hog share a memcg of 96 MiB. Asserted: the objects are charged,
 * the memcg OOM kills exactly one task, and the holder's memory is back
 * once it is gone. Printed: which task the OOM killer chose.
 */
static int test_memcg_oom_with_device_memory(void)
{
	long long before, held, kills;
	int up[2], down[2], hs, ws, st, ok;
	pid_t h, w, first;
	char c;

	if (!CHECK(!write_text("/sys/fs/cgroup/cgroup.subtree_control",
			       "+memory")) ||
	    !CHECK(!mkdir(OOM_CGROUP, 0755) || errno == EEXIST) ||
	    !CHECK(!write_text(OOM_CGROUP "/memory.max", "100663296")) ||
	    !CHECK(!pipe(up)) || !CHECK(!pipe(down)))
		return 0;
	before = read_number(OOM_CGROUP "/memory.current");
	h = fork_into(OOM_CGROUP);
	if (h == 0)
		holder(up[1], down[0]);
	if (!CHECK(h > 0) || !CHECK(read(up[0], &c, 1) == 1))
		return 0;
	held = read_number(OOM_CGROUP "/memory.current");
	w = fork_into(OOM_CGROUP);
	if (w == 0)
		hog();
	if (!CHECK(w > 0))
		return 0;
	/* The first of the two to end is the one the OOM killer chose. */
	first = wait(&st);
	if (first == w) {
		ws = st;
		ok = CHECK(write(down[1], "g", 1) == 1) &&
		     CHECK(waitpid(h, &hs, 0) == h);
	} else {
		/* The hog goes on to the limit, and is killed in turn. */
		hs = st;
		ok = CHECK(first == h) && CHECK(waitpid(w, &ws, 0) == w);
	}
	kills = read_key(OOM_CGROUP "/memory.events", "oom_kill");
	diag("memcg of 96 MiB: %lld kB before, %lld kB with the holder's objects bound",
	     before >> 10, held >> 10);
	diag("OOM killer's first victim: the %s; holder %s, hog %s; oom_kill %lld",
	     first == h ? "holder" : "hog", fate(hs), fate(ws), kills);
	diag("memcg: %lld kB after", read_number(OOM_CGROUP "/memory.current") >> 10);
	for (int i = 0; i < 2; i++) {
		close(up[i]);
		close(down[i]);
	}
	ok = ok && CHECK(held - before >= HOLDER_MB * (long long)MIB) &&
	     CHECK(kills >= 1) && CHECK(!strcmp(fate(ws), "OOM-killed")) &&
	     CHECK(read_number(OOM_CGROUP "/memory.current") - before <
		   4 * (long long)MIB);
	return CHECK(!rmdir(OOM_CGROUP)) && ok;
}

static int test_teardown(void)
{
	return CHECK(!close(fd)) && CHECK(emugpu_idle());
}

static const struct ktap_case tests[] = {
	{ "setup", test_setup },
	{ "jobs_on_vram", test_jobs_on_vram },
	{ "pool_full", test_pool_full },
	{ "dmem_max", test_dmem_max },
	{ "memcg_oom_with_device_memory", test_memcg_oom_with_device_memory },
	{ "teardown", test_teardown },
};

int main(int argc, char **argv)
{
	return ktap_run(tests, ARRAY_SIZE(tests), argc - 1, argv + 1);
}
