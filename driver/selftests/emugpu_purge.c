// SPDX-License-Identifier: GPL-2.0
/*
 * emugpu_purge - purgeable buffer objects and the driver's shrinker.
 *
 * An object marked EMUGPU_MADV_DONTNEED loses its pages when the kernel
 * shrinks slab caches (drop_caches 2 runs every shrinker) and reports
 * retained 0 from then on; one marked WILLNEED keeps them; one a job
 * still uses keeps them until the job is done (busy by its fence, not by
 * a pin); SUBMIT refuses DONTNEED and purged objects. Last, memory
 * pressure: a process holding DONTNEED objects of about a third of the
 * machine, and a hog that needs that memory. The shrinker gives it back
 * and the OOM killer kills nobody; the driver does this on any kernel,
 * so both flavours pass.
 */
#include <signal.h>
#include <sys/wait.h>

#include "emugpu_lib.h"

#define SZ	(1024 * PAGE)	/* 4 MiB */
/* Each test its own addresses, so one that fails leaves the next alone. */
#define VA_PURGED	0x100000ULL
#define VA_BUSY		0x1000000ULL
#define VA_KEPT		0x2000000ULL
#define VA_REFUSED	0x3000000ULL
#define VA_HOLDER	0x4000000ULL

static int fd;

static int madvise_bo(int f, uint32_t handle, uint32_t madv,
		      uint32_t *retained)
{
	struct drm_emugpu_gem_madvise m = { .handle = handle, .madv = madv };
	int ret = emugpu_ioctl(f, DRM_IOCTL_EMUGPU_GEM_MADVISE, &m);

	if (retained)
		*retained = m.retained;
	return ret;
}

/* Runs every shrinker once, ours included. */
static int shrink_all(void)
{
	return write_text("/proc/sys/vm/drop_caches", "2");
}

/* A bound object of @size at @va, filled with @value by the device. */
static int filled_bo(int f, uint64_t size, uint64_t va, int value,
		     uint32_t *handle)
{
	return CHECK(!emugpu_bo(f, size, handle)) &&
	       CHECK(!emugpu_bind(f, *handle, 0, va, size)) &&
	       CHECK(!emugpu_run(f, EMUGPU_OP_FILL, va, 0, size, value));
}

static int close_bo(int f, uint32_t handle, uint64_t va, uint64_t size)
{
	return CHECK(!emugpu_unbind(f, va, size)) &&
	       CHECK(!emugpu_ioctl(f, DRM_IOCTL_GEM_CLOSE,
				   &(struct drm_gem_close){ .handle = handle }));
}

static int test_setup(void)
{
	fd = emugpu_open();
	return CHECK(fd >= 0) && CHECK(emugpu_stat("purgeable_bytes") == 0);
}

/* Binding a purged object fails, and gives it no pages again. */
static int bind_purged(uint32_t bo)
{
	long long shmem_kb = read_key("/proc/meminfo", "Shmem");

	return CHECK(emugpu_bind(fd, bo, 0, VA_PURGED + SZ, SZ) == -EFAULT) &&
	       CHECK(read_key("/proc/meminfo", "Shmem") - shmem_kb <
		     (long long)SZ / 1024 / 2);
}

/* DONTNEED and idle: the shrinker takes its pages; the object says so. */
static int test_dontneed_is_purged(void)
{
	long long purged = emugpu_stat("purged");
	long long bytes = emugpu_stat("purged_bytes");
	long long shmem_kb;
	uint32_t bo, retained = 0;

	if (!filled_bo(fd, SZ, VA_PURGED, 0x5a, &bo) ||
	    !CHECK(!madvise_bo(fd, bo, EMUGPU_MADV_DONTNEED, &retained)) ||
	    !CHECK(retained == 1) ||
	    !CHECK(emugpu_stat("purgeable_bytes") == (long long)SZ) ||
	    !CHECK(emugpu_present(VA_PURGED) == SZ / PAGE))
		return 0;
	shmem_kb = read_key("/proc/meminfo", "Shmem");
	if (!CHECK(!shrink_all()))
		return 0;
	diag("Shmem %lld kB -> %lld kB", shmem_kb,
	     read_key("/proc/meminfo", "Shmem"));
	return CHECK(emugpu_stat("purged") == purged + 1) &&
	       CHECK(emugpu_stat("purged_bytes") == bytes + (long long)SZ) &&
	       CHECK(emugpu_stat("purgeable_bytes") == 0) &&
	       CHECK(emugpu_present(VA_PURGED) == 0) &&
	       /* Shmem is a per-CPU sum that lags: 7/8 of it is plenty. */
	       CHECK(shmem_kb - read_key("/proc/meminfo", "Shmem") >=
		     (long long)SZ / 1024 * 7 / 8) &&
	       CHECK(!madvise_bo(fd, bo, EMUGPU_MADV_WILLNEED, &retained)) &&
	       CHECK(retained == 0) &&
	       CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_PURGED, 0, PAGE, 1) ==
		     -EFAULT) &&
	       bind_purged(bo) && close_bo(fd, bo, VA_PURGED, SZ);
}

/* Does the device read @size - PAGE bytes of @value after @va's page? */
static int device_reads(uint32_t bo, uint64_t va, uint64_t size, int value)
{
	static unsigned char want[SZ];
	struct drm_emugpu_gem_mmap_offset o = { .handle = bo };
	unsigned char *cpu;
	uint64_t sum;

	/* The checksum lands in the first page, read back by the CPU. */
	memset(want, value, size - PAGE);
	if (!CHECK(!emugpu_run(fd, EMUGPU_OP_CHECKSUM, va, va + PAGE,
			       size - PAGE, 0)) ||
	    !CHECK(!emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_GEM_MMAP_OFFSET, &o)))
		return 0;
	cpu = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, o.offset);
	if (!CHECK(cpu != MAP_FAILED))
		return 0;
	memcpy(&sum, cpu, sizeof(sum));
	munmap(cpu, PAGE);
	return CHECK(sum == fnv1a(want, size - PAGE));
}

/* WILLNEED (the default): the shrinker leaves it alone. */
static int test_willneed_is_kept(void)
{
	long long purged = emugpu_stat("purged");
	uint32_t bo, retained = 0;

	return filled_bo(fd, SZ, VA_KEPT, 0x5a, &bo) && CHECK(!shrink_all()) &&
	       device_reads(bo, VA_KEPT, SZ, 0x5a) &&
	       CHECK(emugpu_stat("purged") == purged) &&
	       CHECK(!madvise_bo(fd, bo, EMUGPU_MADV_WILLNEED, &retained)) &&
	       CHECK(retained == 1) && close_bo(fd, bo, VA_KEPT, SZ);
}

/*
 * Marked DONTNEED while a job uses it: the job's fence keeps it until
 * the job is done; then it goes. No pin: the fence says busy.
 */
static int test_busy_is_kept_until_done(void)
{
	struct drm_emugpu_cmd spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_BUSY,
						PAGE, 0);
	long long purged = emugpu_stat("purged");
	long long busy = emugpu_stat("purge_busy");
	uint32_t bo, retained = 0;
	uint64_t seqno;

	if (!filled_bo(fd, SZ, VA_BUSY, 0x11, &bo) ||
	    !CHECK(!emugpu_submit(fd, &spin, 1, &seqno)) ||
	    !CHECK(emugpu_wait_running(fd, seqno)) ||
	    !CHECK(!madvise_bo(fd, bo, EMUGPU_MADV_DONTNEED, &retained)) ||
	    !CHECK(retained == 1) || !CHECK(!shrink_all()))
		return 0;
	if (!CHECK(emugpu_stat("purged") == purged) ||
	    !CHECK(emugpu_stat("purge_busy") > busy) ||
	    !CHECK(emugpu_present(VA_BUSY) == SZ / PAGE) ||
	    !CHECK(!emugpu_release(fd, seqno)) ||
	    !CHECK(emugpu_wait(fd, seqno, INT64_MAX) == 0) ||
	    !CHECK(!shrink_all()))
		return 0;
	return CHECK(emugpu_stat("purged") == purged + 1) &&
	       CHECK(!madvise_bo(fd, bo, EMUGPU_MADV_WILLNEED, &retained)) &&
	       CHECK(retained == 0) && close_bo(fd, bo, VA_BUSY, SZ);
}

/* The device does not start on memory the kernel may take away. */
static int test_dontneed_refused_at_submit(void)
{
	uint32_t bo, retained = 0;

	return filled_bo(fd, SZ, VA_REFUSED, 0x22, &bo) &&
	       CHECK(!madvise_bo(fd, bo, EMUGPU_MADV_DONTNEED, &retained)) &&
	       CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_REFUSED, 0, PAGE, 1) ==
		     -EFAULT) &&
	       CHECK(!madvise_bo(fd, bo, EMUGPU_MADV_WILLNEED, &retained)) &&
	       CHECK(retained == 1) &&
	       CHECK(!emugpu_run(fd, EMUGPU_OP_FILL, VA_REFUSED, 0, PAGE, 1)) &&
	       close_bo(fd, bo, VA_REFUSED, SZ);
}

#define HOLDER_BOS	32	/* of SZ: 128 MiB */

/*
 * The holder: DONTNEED objects of HOLDER_BOS * SZ, bound (so they have
 * pages). Says 'r' when they are, waits for a byte, then writes how many
 * of them were purged.
 */
static void holder(int to_parent, int from_parent)
{
	uint32_t bo[HOLDER_BOS], retained;
	unsigned char n = 0;
	char c;
	int f = emugpu_open();

	for (int i = 0; i < HOLDER_BOS; i++)
		if (f < 0 || !filled_bo(f, SZ, VA_HOLDER + i * SZ, i, &bo[i]) ||
		    madvise_bo(f, bo[i], EMUGPU_MADV_DONTNEED, NULL))
			_exit(1);
	if (write(to_parent, "r", 1) != 1 || read(from_parent, &c, 1) != 1)
		_exit(1);
	for (int i = 0; i < HOLDER_BOS; i++) {
		if (madvise_bo(f, bo[i], EMUGPU_MADV_WILLNEED, &retained))
			_exit(1);
		n += !retained;
	}
	_exit(write(to_parent, &n, 1) == 1 ? 0 : 1);
}

/* The hog: touches @bytes of anonymous memory, then exits 0. */
static void hog(size_t bytes)
{
	unsigned char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(1);
	for (size_t i = 0; i < bytes; i += PAGE)
		p[i] = 1;
	_exit(0);
}

/*
 * Memory pressure: the hog needs most of what was available before the
 * holder took its 128 MiB of purgeable objects. Without the shrinker the
 * OOM killer would have to kill the hog or the holder (tried: it did).
 */
static int test_purged_before_oom(void)
{
	long long avail = read_key("/proc/meminfo", "MemAvailable") * 1024;
	long long kills = read_key("/proc/vmstat", "oom_kill");
	long long purged = emugpu_stat("purged");
	int up[2], down[2], hs, ws;
	unsigned char n = 0;
	pid_t h, w;
	char c;

	if (!CHECK(!pipe(up)) || !CHECK(!pipe(down)))
		return 0;
	h = fork();
	if (h == 0)
		holder(up[1], down[0]);
	if (!CHECK(h > 0) || !CHECK(read(up[0], &c, 1) == 1))
		return 0;
	diag("MemAvailable %lld MiB before the holder, %lld MiB after",
	     avail >> 20, read_key("/proc/meminfo", "MemAvailable") >> 10);
	w = fork();
	if (w == 0)
		hog(avail - (avail >> 3));
	if (!CHECK(w > 0) || !CHECK(waitpid(w, &ws, 0) == w) ||
	    !CHECK(write(down[1], "g", 1) == 1) ||
	    !CHECK(read(up[0], &n, 1) == 1) ||
	    !CHECK(waitpid(h, &hs, 0) == h))
		return 0;
	diag("hog %s %d; %u of %d objects purged; oom_kill %lld -> %lld",
	     WIFEXITED(ws) ? "exited" : "killed by signal",
	     WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws), n, HOLDER_BOS,
	     kills, read_key("/proc/vmstat", "oom_kill"));
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
	return CHECK(WIFEXITED(ws) && !WEXITSTATUS(ws)) &&
	       CHECK(WIFEXITED(hs) && !WEXITSTATUS(hs)) && CHECK(n > 0) &&
	       CHECK(emugpu_stat("purged") >= purged + n) &&
	       CHECK(read_key("/proc/vmstat", "oom_kill") == kills);
}

static int test_teardown(void)
{
	return CHECK(!close(fd)) && CHECK(emugpu_idle());
}

static const struct ktap_case tests[] = {
	{ "setup", test_setup },
	{ "dontneed_is_purged", test_dontneed_is_purged },
	{ "willneed_is_kept", test_willneed_is_kept },
	{ "busy_is_kept_until_done", test_busy_is_kept_until_done },
	{ "dontneed_refused_at_submit", test_dontneed_refused_at_submit },
	{ "purged_before_oom", test_purged_before_oom },
	{ "teardown", test_teardown },
};

int main(int argc, char **argv)
{
	return ktap_run(tests, ARRAY_SIZE(tests), argc - 1, argv + 1);
}
