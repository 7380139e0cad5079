// SPDX-License-Identifier: GPL-2.0
/*
 * emugpu_basic - the device works end to end, checked from the CPU side.
 *
 * GEM objects and user pointers are bound in the device VM; fill, copy
 * and checksum jobs run on them and the CPU checks every byte. Then what
 * the CPU side may do to a user pointer while the device uses it: a job
 * writing into it, madvise(DONTNEED) (the next job re-faults), fork and
 * copy-on-write; mprotect, madvise and fork while a job runs (each waits
 * for the job); munmap during a job (waits for it; later jobs fail
 * cleanly), JOB_RELEASE, the job timeout, closing the file and SIGKILL
 * with jobs in flight; the pin policy (i915's way: pinned pages, nothing
 * waits). At the end the driver holds nothing.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "emugpu_lib.h"

#define SZ	(256 * PAGE)	/* 1 MiB */
#define VA_A	0x100000ULL
#define VA_B	0x400000ULL
#define VA_U	0x800000ULL
#define VA_TMP	0x1000000ULL
#define VA_QUEUED	0x3000000ULL
#define VA_SPLIT	0x4000000ULL
#define VA_SWAP		0x5000000ULL
#define VA_LAST		0x6000000ULL
#define VA_NEXT		0x6100000ULL
#define VA_VICTIM	0x7000000ULL
#define VA_PINNED	0x8000000ULL
#define VA_IDLE		0x9000000ULL

static int fd;
static uint32_t bo_a, bo_b, up;
static unsigned char *cpu_a, *cpu_b, *user;

static void *bo_map(uint32_t handle, size_t size)
{
	struct drm_emugpu_gem_mmap_offset o = { .handle = handle };
	void *p;

	if (emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_GEM_MMAP_OFFSET, &o))
		return NULL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, o.offset);
	return p == MAP_FAILED ? NULL : p;
}

static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != v) {
			diag("byte %zu is 0x%02x, want 0x%02x", i, p[i], v);
			return 0;
		}
	}
	return 1;
}

static int test_setup(void)
{
	fd = emugpu_open();
	if (!CHECK(fd >= 0) || !CHECK(!emugpu_bo(fd, SZ, &bo_a)) ||
	    !CHECK(!emugpu_bo(fd, SZ, &bo_b)))
		return 0;
	cpu_a = bo_map(bo_a, SZ);
	cpu_b = bo_map(bo_b, SZ);
	user = anon(SZ);
	if (!CHECK(cpu_a && cpu_b && user))
		return 0;
	for (size_t i = 0; i < SZ; i++)
		user[i] = (unsigned char)(i * 7 + 3);
	return CHECK(!emugpu_userptr(fd, user, SZ, 0, &up)) &&
	       CHECK(!emugpu_bind(fd, bo_a, 0, VA_A, SZ)) &&
	       CHECK(!emugpu_bind(fd, bo_b, 0, VA_B, SZ)) &&
	       CHECK(!emugpu_bind(fd, up, 0, VA_U, SZ)) &&
	       CHECK(emugpu_stat("objects") == 3) &&
	       CHECK(emugpu_stat("shmem_bytes") == 2 * SZ);
}

static int test_fill_copy_checksum(void)
{
	struct drm_emugpu_cmd cmds[3] = {
		emugpu_cmd(EMUGPU_OP_FILL, VA_A, 0, SZ, 0x5a),
		emugpu_cmd(EMUGPU_OP_COPY, VA_B, VA_U, SZ, 0),
		/* Unaligned source, result into the last 8 bytes of A. */
		emugpu_cmd(EMUGPU_OP_CHECKSUM, VA_A + SZ - 8, VA_U + 123,
			   SZ - 1000, 0),
	};
	uint64_t seqno, sum;

	if (!CHECK(!emugpu_submit(fd, cmds, 3, &seqno)) ||
	    !CHECK(emugpu_wait(fd, seqno, INT64_MAX) == 0))
		return 0;
	memcpy(&sum, cpu_a + SZ - 8, 8);
	return CHECK(all_bytes(cpu_a, SZ - 8, 0x5a)) &&
	       CHECK(!memcmp(cpu_b, user, SZ)) &&
	       CHECK(sum == fnv1a(user + 123, SZ - 1000));
}

static int test_write_userptr(void)
{
	/* The device writes process memory; the CPU sees it at once. */
	return CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_U + PAGE + 17, 0,
				3 * PAGE, 0x33) == 0) &&
	       CHECK(all_bytes(user + PAGE + 17, 3 * PAGE, 0x33)) &&
	       CHECK(user[PAGE + 16] == (unsigned char)((PAGE + 16) * 7 + 3));
}

static int test_refault_after_dontneed(void)
{
	long long refaults = emugpu_stat("refaults");
	uint64_t sum;

	/* Zaps the device's entries; the next job faults fresh zero pages. */
	if (!CHECK(!madvise(user, SZ, MADV_DONTNEED)))
		return 0;
	if (!CHECK(emugpu_run(fd, EMUGPU_OP_CHECKSUM, VA_A, VA_U, SZ, 0) == 0))
		return 0;
	memcpy(&sum, cpu_a, 8);
	memset(cpu_b, 0, SZ);
	return CHECK(sum == fnv1a(cpu_b, SZ)) &&
	       CHECK(emugpu_stat("refaults") > refaults);
}

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif

/*
 * MADV_FREE leaves the PTEs writable but clean, so the device's write
 * fault does not dirty them; unless the driver marks the pages dirty,
 * reclaim (here MADV_PAGEOUT) drops what the device wrote and the CPU
 * reads zeros.
 */
static int test_device_writes_survive_madv_free(void)
{
	memset(user, 0x11, SZ);
	if (!CHECK(!madvise(user, SZ, MADV_FREE)) ||
	    !CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_U, 0, SZ, 0x44) == 0) ||
	    !CHECK(!madvise(user, SZ, MADV_PAGEOUT)))
		return 0;
	return CHECK(all_bytes(user, SZ, 0x44));
}

/*
 * A job that only reads a writable user pointer must not dirty it: after
 * MADV_FREE, reclaim may still drop those pages, as it drops the control
 * region's, which the device never saw. On one CPU, so that MADV_PAGEOUT
 * finds the folios MADV_FREE queued on this CPU's LRU batch.
 */
static int test_device_reads_do_not_dirty(void)
{
	unsigned char *control = anon(16 * PAGE);
	cpu_set_t all, one;
	int ok;

	if (!CHECK(control))
		return 0;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	if (!CHECK(!sched_getaffinity(0, sizeof(all), &all)) ||
	    !CHECK(!sched_setaffinity(0, sizeof(one), &one))) {
		munmap(control, 16 * PAGE);
		return 0;
	}
	memset(user, 0x11, SZ);
	memset(control, 0x11, 16 * PAGE);
	ok = CHECK(!madvise(user, SZ, MADV_FREE)) &&
	     CHECK(!madvise(control, 16 * PAGE, MADV_FREE)) &&
	     CHECK(emugpu_run(fd, EMUGPU_OP_CHECKSUM, VA_A, VA_U, SZ, 0) ==
		   0) &&
	     CHECK(!madvise(control, 16 * PAGE, MADV_PAGEOUT)) &&
	     CHECK(!madvise(user, SZ, MADV_PAGEOUT));
	sched_setaffinity(0, sizeof(all), &all);
	if (ok && !all_bytes(control, 16 * PAGE, 0)) {
		ktap_skip = "MADV_PAGEOUT keeps lazily freed pages here";
		ok = KTAP_SKIP;
	} else if (ok) {
		/*
		 * And a job that writes pages a read faulted in (no fault of
		 * its own) dirties them: what it wrote survives.
		 */
		ok = CHECK(all_bytes(user, SZ, 0)) &&
		     CHECK(!madvise(user, SZ, MADV_FREE)) &&
		     CHECK(emugpu_run(fd, EMUGPU_OP_CHECKSUM, VA_A, VA_U, SZ,
				      0) == 0) &&
		     CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_U, 0, SZ, 0x44) ==
			   0) &&
		     CHECK(!madvise(user, SZ, MADV_PAGEOUT)) &&
		     CHECK(all_bytes(user, SZ, 0x44));
	}
	munmap(control, 16 * PAGE);
	return ok;
}

static int test_fork_cow(void)
{
	int status;
	pid_t pid;

	memset(user, 0x11, SZ);
	pid = fork();
	if (pid == 0) {
		/* The child's copy diverges; the device must not see it. */
		memset(user, 0x22, SZ);
		_exit(0);
	}
	if (!CHECK(pid > 0) || !CHECK(waitpid(pid, &status, 0) == pid) ||
	    !CHECK(WIFEXITED(status) && !WEXITSTATUS(status)))
		return 0;
	/* The device writes the parent's memory, COW broken or not. */
	if (!CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_U, 0, PAGE, 0x44) == 0))
		return 0;
	return CHECK(all_bytes(user, PAGE, 0x44)) &&
	       CHECK(all_bytes(user + PAGE, SZ - PAGE, 0x11));
}

static int test_job_release(void)
{
	uint64_t seqno;
	struct drm_emugpu_cmd spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_U, SZ, 0);

	if (!CHECK(!emugpu_submit(fd, &spin, 1, &seqno)))
		return 0;
	/* Still spinning: a poll says so. */
	if (!CHECK(emugpu_wait(fd, seqno, 0) == -ETIME) ||
	    !CHECK(!emugpu_release(fd, seqno)))
		return 0;
	return CHECK(emugpu_wait(fd, seqno, INT64_MAX) == 0) &&
	       /* Releasing an ended job does nothing. */
	       CHECK(!emugpu_release(fd, seqno));
}

/*
 * A SPIN that only the job timeout ends: the scheduler's timeout handler
 * stops it, its fence says -ETIMEDOUT, and the next job runs. The timeout
 * is fixed when the module loads; the scenario emugpu-timeout-capped
 * boots with an hour asked for, which must still be the 10 s cap: a
 * SPIN is a fence userspace controls. Without the cap the wait would
 * outlast the scenario.
 */
static int test_job_timeout(void)
{
	struct drm_emugpu_cmd spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_U, SZ, 0);
	struct drm_emugpu_cmd fill = emugpu_cmd(EMUGPU_OP_FILL, VA_A, 0, 8, 7);
	long long timedout = emugpu_stat("jobs_timedout");
	uint64_t seqno, next;

	diag("job_timeout_ms=%lld", read_number(EMUGPU_TIMEOUT));
	return CHECK(!emugpu_submit(fd, &spin, 1, &seqno)) &&
	       CHECK(!emugpu_submit(fd, &fill, 1, &next)) &&
	       CHECK(emugpu_wait(fd, seqno, INT64_MAX) == -ETIMEDOUT) &&
	       CHECK(emugpu_wait(fd, next, INT64_MAX) == 0) &&
	       CHECK(all_bytes(cpu_a, 8, 7)) &&
	       CHECK(emugpu_stat("jobs_timedout") == timedout + 1);
}

/* sw_sync (CONFIG_SW_SYNC): fences userspace signals, as igt uses them. */
#define SW_SYNC		"/sys/kernel/debug/sync/sw_sync"
struct sw_sync_create_fence_data {
	uint32_t value;
	char name[32];
	int32_t fence;
};

#define SW_SYNC_IOC_CREATE_FENCE \
	_IOWR('W', 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC	_IOW('W', 1, uint32_t)

/*
 * A syncobj of @fd holding an unsignalled fence that @timeline's counter
 * reaching 1 signals; 0 if that fails.
 */
static uint32_t sw_sync_syncobj(int timeline)
{
	struct sw_sync_create_fence_data f = { .value = 1, .name = "in" };
	struct drm_syncobj_handle imp = {
		.flags = DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_IMPORT_SYNC_FILE,
	};

	imp.handle = emugpu_syncobj_create(fd);
	if (!CHECK(imp.handle) ||
	    !CHECK(!ioctl(timeline, SW_SYNC_IOC_CREATE_FENCE, &f)))
		return 0;
	imp.fd = f.fence;
	if (!CHECK(!emugpu_ioctl(fd, DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE, &imp)))
		imp.handle = 0;
	close(f.fence);
	return imp.handle;
}

/*
 * SUBMIT's in-fence: the job does not start before its syncobj's fence
 * signals, while another file's job submitted after it runs and ends; it
 * runs once the fence signals. The file's later jobs wait behind it.
 */
static int test_syncobj_in(void)
{
	struct drm_emugpu_cmd fill = emugpu_cmd(EMUGPU_OP_FILL, VA_A, 0, PAGE,
						0x21);
	struct drm_emugpu_cmd after = emugpu_cmd(EMUGPU_OP_FILL, VA_A, 0, 8,
						 0x22);
	struct drm_emugpu_cmd other = emugpu_cmd(EMUGPU_OP_FILL, VA_A, 0, PAGE,
						 1);
	struct drm_emugpu_submit s = { .cmds = (uintptr_t)&fill, .count = 1 };
	int timeline = open(SW_SYNC, O_RDWR);
	uint64_t later, others;
	uint32_t one = 1, bo2;
	int f, ok;

	if (timeline < 0 && errno == ENOENT) {
		ktap_skip = "no sw_sync (CONFIG_SW_SYNC, debugfs)";
		return KTAP_SKIP;
	}
	f = emugpu_open();
	if (!CHECK(timeline >= 0) || !CHECK(f >= 0) ||
	    !CHECK(!emugpu_bo(f, PAGE, &bo2)) ||
	    !CHECK(!emugpu_bind(f, bo2, 0, VA_A, PAGE)))
		return 0;
	memset(cpu_a, 0, PAGE);
	s.in_syncobj = sw_sync_syncobj(timeline);
	ok = CHECK(s.in_syncobj) &&
	     CHECK(!emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, &s)) &&
	     CHECK(!emugpu_submit(fd, &after, 1, &later)) &&
	     CHECK(!emugpu_submit(f, &other, 1, &others)) &&
	     CHECK(emugpu_wait(f, others, INT64_MAX) == 0) &&
	     CHECK(emugpu_wait(fd, s.seqno, 0) == -ETIME) &&
	     CHECK(emugpu_wait(fd, later, 0) == -ETIME) &&
	     CHECK(all_bytes(cpu_a, PAGE, 0));
	/* Signalled whatever happened, so that nothing waits for ever. */
	ok = CHECK(!ioctl(timeline, SW_SYNC_IOC_INC, &one)) && ok;
	ok = ok && CHECK(emugpu_wait(fd, s.seqno, INT64_MAX) == 0) &&
	     CHECK(emugpu_wait(fd, later, INT64_MAX) == 0) &&
	     CHECK(all_bytes(cpu_a, 8, 0x22)) &&
	     CHECK(all_bytes(cpu_a + 8, PAGE - 8, 0x21));
	close(timeline);
	return CHECK(!close(f)) && ok;
}

static int test_munmap_during_job(void)
{
	struct drm_emugpu_cmd spin, fill;
	unsigned char *tmp = anon(16 * PAGE);
	long long waited = emugpu_stat("inval_waited");
	uint32_t handle;
	uint64_t seqno, next;

	if (!CHECK(tmp) ||
	    !CHECK(!emugpu_userptr(fd, tmp, 16 * PAGE, 0, &handle)) ||
	    !CHECK(!emugpu_bind(fd, handle, 0, VA_TMP, 16 * PAGE)))
		return 0;
	/* The job holds the pages for 200 ms of guest time. */
	spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_TMP, 16 * PAGE, 200000000);
	fill = emugpu_cmd(EMUGPU_OP_FILL, VA_TMP, 0, 16 * PAGE, 9);
	if (!CHECK(!emugpu_submit(fd, &spin, 1, &seqno)))
		return 0;
	/* Once the engine runs it, queue a second job, pull the memory away. */
	if (!CHECK(emugpu_wait_running(fd, seqno)) ||
	    !CHECK(!emugpu_submit(fd, &fill, 1, &next)) ||
	    !CHECK(!munmap(tmp, 16 * PAGE)))
		return 0;
	/*
	 * munmap returned: both jobs are over, neither was cut short. The
	 * second was published (its pages faulted in by SUBMIT) before the
	 * munmap, so the munmap waited for it too, or found it ended (its
	 * fence may signal a moment after it leaves the VM's published
	 * jobs), and it ran on the pages.
	 */
	if (!CHECK(emugpu_wait(fd, seqno, 0) == 0) ||
	    !CHECK(emugpu_wait(fd, next, INT64_MAX) == 0) ||
	    !CHECK(emugpu_stat("inval_waited") >= waited + 1))
		return 0;
	/* The range is gone: a new job fails cleanly, at SUBMIT. */
	return CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_TMP, 0, PAGE, 1) ==
		     -EFAULT) &&
	       CHECK(!emugpu_unbind(fd, VA_TMP, 16 * PAGE)) &&
	       CHECK(!emugpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE,
				   &(struct drm_gem_close){ .handle = handle })) &&
	       /* The jobs hold the object until they are freed. */
	       CHECK(emugpu_jobs_reach(0) == 0) &&
	       CHECK(emugpu_stat("objects") == 3);
}

/*
 * Starts a 100 ms SPIN over the first 16 pages of the user pointer and
 * returns once the engine runs it.
 */
static int spin_on_user(uint64_t *seqno)
{
	struct drm_emugpu_cmd spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_U,
						16 * PAGE, 100000000);

	return CHECK(!emugpu_submit(fd, &spin, 1, seqno)) &&
	       CHECK(emugpu_wait_running(fd, *seqno));
}

static int test_cpu_side_during_job(void)
{
	long long waited = emugpu_stat("inval_waited");
	uint64_t seqno, sum;
	int status;
	pid_t pid;

	/* mprotect: waits for the job; then writes fail, reads work. */
	if (!spin_on_user(&seqno) ||
	    !CHECK(!mprotect(user, 16 * PAGE, PROT_READ)) ||
	    !CHECK(emugpu_wait(fd, seqno, 0) == 0) ||
	    !CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_U, 0, PAGE, 7) ==
		   -EFAULT) ||
	    !CHECK(!mprotect(user, 16 * PAGE, PROT_READ | PROT_WRITE)))
		return 0;

	/* madvise(DONTNEED): waits; the next job sees the zero pages. */
	memset(user, 0x66, 16 * PAGE);
	if (!spin_on_user(&seqno) ||
	    !CHECK(!madvise(user, 16 * PAGE, MADV_DONTNEED)) ||
	    !CHECK(emugpu_wait(fd, seqno, 0) == 0) ||
	    !CHECK(emugpu_run(fd, EMUGPU_OP_CHECKSUM, VA_A, VA_U, 16 * PAGE,
			      0) == 0))
		return 0;
	memcpy(&sum, cpu_a, 8);
	memset(cpu_b, 0, 16 * PAGE);
	if (!CHECK(sum == fnv1a(cpu_b, 16 * PAGE)))
		return 0;

	/* fork: write-protecting the parent's pages for COW waits too. */
	memset(user, 0x77, 16 * PAGE);
	if (!spin_on_user(&seqno))
		return 0;
	pid = fork();
	if (pid == 0)
		_exit(user[0] == 0x77 ? 0 : 1);
	if (!CHECK(pid > 0) || !CHECK(waitpid(pid, &status, 0) == pid) ||
	    !CHECK(WIFEXITED(status) && !WEXITSTATUS(status)) ||
	    !CHECK(emugpu_wait(fd, seqno, INT64_MAX) == 0))
		return 0;
	/* The device writes the parent's copy, not the child's. */
	if (!CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_U, 0, PAGE, 0x78) == 0) ||
	    !CHECK(all_bytes(user, PAGE, 0x78)))
		return 0;
	/* mprotect, madvise and fork each waited for a running job. */
	return CHECK(emugpu_stat("inval_waited") >= waited + 3);
}

/* A second file with a job that never ends by itself. */
static int spinning_file(unsigned char *mem, uint64_t *seqno)
{
	struct drm_emugpu_cmd spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_A,
						4 * PAGE, 0);
	uint32_t handle;
	int f = emugpu_open();

	if (f < 0 || emugpu_userptr(f, mem, 4 * PAGE, 0, &handle) ||
	    emugpu_bind(f, handle, 0, VA_A, 4 * PAGE) ||
	    emugpu_submit(f, &spin, 1, seqno))
		return -1;
	return f;
}

static int test_close_with_jobs(void)
{
	unsigned char *mem = anon(4 * PAGE);
	long long failed = emugpu_stat("jobs_failed");
	uint64_t seqno;
	int f;

	if (!CHECK(mem))
		return 0;
	f = spinning_file(mem, &seqno);
	if (!CHECK(f >= 0))
		return 0;
	/* close() cancels the job; nothing of that file survives. */
	return CHECK(!close(f)) &&
	       CHECK(emugpu_stat("jobs_failed") == failed + 1) &&
	       CHECK(emugpu_stat("jobs") == 0) &&
	       CHECK(emugpu_stat("objects") == 3) &&
	       CHECK(!munmap(mem, 4 * PAGE));
}

/*
 * SUBMIT faults the job's user pages in, in the submitting process,
 * before the job's fence is published: a job queued behind another
 * file's has all its pages present already, so the engine never faults
 * (a slow mapping stalls only its own submitter).
 */
static int test_submit_faults_first(void)
{
	struct drm_emugpu_cmd spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_A, PAGE,
						0);
	struct drm_emugpu_cmd fill = emugpu_cmd(EMUGPU_OP_FILL, VA_QUEUED, 0,
						16 * PAGE, 0x66);
	unsigned char *mem = anon(16 * PAGE);
	uint64_t seqno, queued;
	uint32_t handle;
	int f = emugpu_open(), ok;

	if (!CHECK(f >= 0) || !CHECK(mem) ||
	    !CHECK(!emugpu_userptr(f, mem, 16 * PAGE, 0, &handle)) ||
	    !CHECK(!emugpu_bind(f, handle, 0, VA_QUEUED, 16 * PAGE)) ||
	    !CHECK(emugpu_present(VA_QUEUED) == 0) ||
	    !CHECK(!emugpu_submit(fd, &spin, 1, &seqno)) ||
	    !CHECK(emugpu_wait_running(fd, seqno)) ||
	    !CHECK(!emugpu_submit(f, &fill, 1, &queued)))
		return 0;
	ok = CHECK(emugpu_wait(f, queued, 0) == -ETIME) &&
	     CHECK(emugpu_present(VA_QUEUED) == 16);
	return CHECK(!emugpu_release(fd, seqno)) &&
	       CHECK(emugpu_wait(f, queued, INT64_MAX) == 0) &&
	       CHECK(all_bytes(mem, 16 * PAGE, 0x66)) && ok &&
	       CHECK(!close(f)) && CHECK(!munmap(mem, 16 * PAGE));
}

/*
 * Closing a file whose jobs wait behind another file's job on the one
 * engine does not wait for that job: the other file's job is still
 * running when close() returns.
 */
static int test_close_behind_other_file(void)
{
	struct drm_emugpu_cmd spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_A, PAGE,
						0);
	struct drm_emugpu_cmd fill = emugpu_cmd(EMUGPU_OP_FILL, VA_A, 0, PAGE,
						1);
	long long failed = emugpu_stat("jobs_failed");
	uint64_t seqno, queued;
	uint32_t bo2;
	int f = emugpu_open();

	if (!CHECK(f >= 0) || !CHECK(!emugpu_bo(f, PAGE, &bo2)) ||
	    !CHECK(!emugpu_bind(f, bo2, 0, VA_A, PAGE)) ||
	    !CHECK(!emugpu_submit(fd, &spin, 1, &seqno)) ||
	    !CHECK(emugpu_wait_running(fd, seqno)) ||
	    !CHECK(!emugpu_submit(f, &fill, 1, &queued)) ||
	    !CHECK(!emugpu_submit(f, &fill, 1, &queued)))
		return 0;
	return CHECK(!close(f)) &&
	       CHECK(emugpu_wait(fd, seqno, 0) == -ETIME) &&
	       CHECK(emugpu_stat("jobs_failed") == failed + 2) &&
	       CHECK(!emugpu_release(fd, seqno)) &&
	       CHECK(emugpu_wait(fd, seqno, INT64_MAX) == 0) &&
	       CHECK(emugpu_jobs_reach(0) == 0) &&
	       CHECK(emugpu_stat("objects") == 3);
}

static int test_sigkill_with_jobs(void)
{
	long long exits = emugpu_stat("exit_cancels");
	int ready[2], status;
	uint64_t seqno;
	char c = 0;
	pid_t pid;

	if (!CHECK(!pipe(ready)))
		return 0;
	pid = fork();
	if (pid == 0) {
		unsigned char *mem = anon(4 * PAGE);

		c = mem && spinning_file(mem, &seqno) >= 0;
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	if (!CHECK(pid > 0) || !CHECK(read(ready[0], &c, 1) == 1 && c))
		return 0;
	/* The job may still be faulting; either way exit must not hang. */
	kill(pid, SIGKILL);
	close(ready[0]);
	close(ready[1]);
	return CHECK(waitpid(pid, &status, 0) == pid) &&
	       CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) &&
	       CHECK(emugpu_stat("jobs") == 0) &&
	       CHECK(emugpu_stat("objects") == 3) &&
	       CHECK(emugpu_stat("exit_cancels") >= exits);
}

static int gem_close(uint32_t handle)
{
	return emugpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE,
			    &(struct drm_gem_close){ .handle = handle });
}

/* Has the debugfs counter @key passed @than, within @seconds? */
static int stat_passes(const char *key, long long than, int seconds)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		if (emugpu_stat(key) > than)
			return 1;
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec < seconds);
	return 0;
}

/*
 * A job holding the last reference of a user pointer ends while munmap()
 * of another user pointer of the same mm waits, in its notifier, for a
 * job queued behind the first. Freeing the first object waits for that
 * invalidation to end (mmu_interval_notifier_remove()), so it must not
 * happen where the queued job has to run next: drm_sched's free_job runs
 * on the queue that runs run_job. Both jobs end and munmap() returns; a
 * wedged device fails the case within twice the job timeout.
 */
static int test_free_job_drops_last_userptr(void)
{
	struct drm_emugpu_cmd spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_LAST,
						PAGE, 0);
	struct drm_emugpu_cmd fill = emugpu_cmd(EMUGPU_OP_FILL, VA_NEXT, 0,
						PAGE, 0x66);
	long long timeout_ns = read_number(EMUGPU_TIMEOUT) * 1000000LL;
	long long waited = emugpu_stat("inval_waited");
	unsigned char *last = anon(PAGE), *next = anon(PAGE);
	struct munmap_trap trap = { .addr = next, .size = PAGE };
	uint64_t spinning, queued;
	uint32_t h_last, h_next;
	struct timespec deadline;
	pthread_t thread;

	if (!CHECK(last && next) || !CHECK(timeout_ns > 0) ||
	    !CHECK(!emugpu_userptr(fd, last, PAGE, 0, &h_last)) ||
	    !CHECK(!emugpu_userptr(fd, next, PAGE, 0, &h_next)) ||
	    !CHECK(!emugpu_bind(fd, h_last, 0, VA_LAST, PAGE)) ||
	    !CHECK(!emugpu_bind(fd, h_next, 0, VA_NEXT, PAGE)) ||
	    !CHECK(!emugpu_submit(fd, &spin, 1, &spinning)) ||
	    !CHECK(emugpu_wait_running(fd, spinning)) ||
	    !CHECK(!emugpu_submit(fd, &fill, 1, &queued)) ||
	    /* From here only the spinning job holds the first object. */
	    !CHECK(!emugpu_unbind(fd, VA_LAST, PAGE)) ||
	    !CHECK(!gem_close(h_last)) ||
	    !CHECK(!pthread_create(&thread, NULL, munmap_trap_thread, &trap)))
		return 0;
	/* munmap() waits in the notifier for the queued job. */
	if (!CHECK(stat_passes("inval_waited", waited, 10)) ||
	    !CHECK(!emugpu_release(fd, spinning)) ||
	    !CHECK(emugpu_wait(fd, spinning, 2 * timeout_ns) == 0) ||
	    !CHECK(emugpu_wait(fd, queued, 2 * timeout_ns) == 0))
		return 0;
	clock_gettime(CLOCK_REALTIME, &deadline);
	timeout_ns = 2 * timeout_ns + deadline.tv_nsec;
	deadline.tv_sec += timeout_ns / 1000000000LL;
	deadline.tv_nsec = timeout_ns % 1000000000LL;
	return CHECK(!pthread_timedjoin_np(thread, NULL, &deadline)) &&
	       CHECK(!munmap(last, PAGE)) &&
	       CHECK(!emugpu_unbind(fd, VA_NEXT, PAGE)) &&
	       CHECK(!gem_close(h_next)) &&
	       CHECK(emugpu_jobs_reach(0) == 0) &&
	       CHECK(emugpu_stat("objects") == 3);
}

/*
 * A file keeps the status of its last EMUGPU_FILE_FENCES jobs, and no more
 * fences than that; at most that many of its jobs may be unfinished. Each
 * buffer object also keeps the fence of the last job that used it, in its
 * reservation object (implicit sync, and what tells the shrinker it is
 * busy), until a later job replaces it or the object goes: bo_a's is in
 * the ring, bo_b's may be older.
 */
static int test_fences_bounded(void)
{
	struct drm_emugpu_cmd spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_A, PAGE,
						0);
	struct drm_emugpu_cmd fill = emugpu_cmd(EMUGPU_OP_FILL, VA_A, 0, 8, 1);
	uint64_t first, seqno, last = 0;
	int i;

	/* The engine is held: the file fills up with unfinished jobs. */
	if (!CHECK(!emugpu_submit(fd, &spin, 1, &first)) ||
	    !CHECK(emugpu_wait_running(fd, first)))
		return 0;
	for (i = 1; i < EMUGPU_FILE_FENCES; i++)
		if (!CHECK(!emugpu_submit(fd, &fill, 1, &last)))
			return 0;
	if (!CHECK(emugpu_submit(fd, &fill, 1, &seqno) == -EBUSY) ||
	    !CHECK(!emugpu_release(fd, first)) ||
	    !CHECK(emugpu_wait(fd, last, INT64_MAX) == 0))
		return 0;
	/* As many again: the first job's fence is dropped. */
	for (i = 0; i < EMUGPU_FILE_FENCES; i++)
		if (!CHECK(!emugpu_submit(fd, &fill, 1, &last)))
			return 0;
	if (!CHECK(emugpu_wait(fd, last, INT64_MAX) == 0))
		return 0;
	diag("live fences: %lld", emugpu_stat("fences"));
	return CHECK(last == first + 2 * EMUGPU_FILE_FENCES - 1) &&
	       CHECK(emugpu_wait(fd, first, 0) == -ENOENT) &&
	       CHECK(emugpu_wait(fd, last - EMUGPU_FILE_FENCES + 1, 0) == 0) &&
	       CHECK(emugpu_wait(fd, last + 1, 0) == -EINVAL) &&
	       CHECK(!emugpu_release(fd, first)) &&
	       CHECK(emugpu_stat("fences") <= EMUGPU_FILE_FENCES + 1);
}

#define POLICY	"/sys/module/emugpu/parameters/notifier_policy"

/* Sets the notifier policy; @old gets the one it replaces. */
static int set_policy(const char *policy, char *old, size_t size)
{
	FILE *f = fopen(POLICY, "r");

	if (!CHECK(f) || !CHECK(fgets(old, (int)size, f)))
		return 0;
	fclose(f);
	old[strcspn(old, "\n")] = 0;
	return CHECK(!write_text(POLICY, policy));
}

/* A user pointer over @mem, made under policy @policy, bound at @va. */
static int userptr_under(const char *policy, void *mem, size_t size,
			 uint64_t va, uint32_t *handle)
{
	char old[16];
	int ok;

	if (!set_policy(policy, old, sizeof(old)))
		return 0;
	ok = CHECK(!emugpu_userptr(fd, mem, size, 0, handle));
	return CHECK(!write_text(POLICY, old)) && ok &&
	       CHECK(!emugpu_bind(fd, *handle, 0, va, size));
}

/*
 * Policy pin, as i915: the first job pins the whole object; a madvise
 * during a job neither waits nor cuts the job short (the device keeps the
 * old pages); the next job pins the new pages and the CPU sees what it
 * writes; closing the object unpins everything, once the jobs that used
 * it are freed.
 */
static int test_pin_policy(void)
{
	struct drm_emugpu_cmd spin;
	unsigned char *tmp = anon(16 * PAGE);
	long long waited = emugpu_stat("inval_waited");
	long long pinned = emugpu_stat("pinned_pages");
	long long faults;
	uint32_t handle = 0;
	uint64_t seqno;

	if (!CHECK(tmp) ||
	    !userptr_under("pin", tmp, 16 * PAGE, VA_TMP, &handle))
		return 0;
	if (!CHECK(emugpu_stat("pinned_pages") == pinned) ||
	    !CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_TMP, 0, PAGE, 0x44) == 0) ||
	    !CHECK(all_bytes(tmp, PAGE, 0x44)) ||
	    !CHECK(emugpu_stat("pinned_pages") == pinned + 16))
		return 0;

	spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_TMP, 16 * PAGE, 0);
	if (!CHECK(!emugpu_submit(fd, &spin, 1, &seqno)) ||
	    !CHECK(emugpu_wait_running(fd, seqno)) ||
	    !CHECK(!madvise(tmp, 16 * PAGE, MADV_DONTNEED)) ||
	    !CHECK(emugpu_stat("inval_waited") == waited) ||
	    !CHECK(emugpu_wait(fd, seqno, 0) == -ETIME) ||
	    !CHECK(!emugpu_release(fd, seqno)) ||
	    !CHECK(emugpu_wait(fd, seqno, INT64_MAX) == 0))
		return 0;

	/* The device kept the old pages; the next job pins the new ones. */
	faults = emugpu_stat("faults");
	if (!CHECK(all_bytes(tmp, PAGE, 0)) ||
	    !CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_TMP, 0, PAGE, 0x55) == 0) ||
	    !CHECK(all_bytes(tmp, PAGE, 0x55)) ||
	    !CHECK(emugpu_stat("faults") > faults) ||
	    !CHECK(emugpu_stat("pinned_pages") == pinned + 16))
		return 0;
	/* The last job holds the object until drm_sched frees it. */
	return CHECK(!emugpu_unbind(fd, VA_TMP, 16 * PAGE)) &&
	       CHECK(!emugpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE,
				   &(struct drm_gem_close){ .handle = handle })) &&
	       CHECK(emugpu_jobs_reach(0) == 0) &&
	       CHECK(emugpu_stat("pinned_pages") == pinned) &&
	       CHECK(!munmap(tmp, 16 * PAGE));
}

#define CGROUP	"/sys/fs/cgroup/emugpu-basic"

/*
 * A shmem object is device memory charged to the memory cgroup of the
 * process that binds it (bind gets its pages), and uncharged when freed:
 * memory.current moves by its size.
 */
static int test_bo_charged_to_memcg(void)
{
	long long before, bound, closed;
	char pid[32];
	uint32_t bo;
	int f, ok;

	snprintf(pid, sizeof(pid), "%d", getpid());
	if (!CHECK(!write_text("/sys/fs/cgroup/cgroup.subtree_control",
			       "+memory")) ||
	    !CHECK(!mkdir(CGROUP, 0755) || errno == EEXIST) ||
	    !CHECK(!write_text(CGROUP "/cgroup.procs", pid)))
		return 0;
	before = read_number(CGROUP "/memory.current");
	f = emugpu_open();
	ok = CHECK(f >= 0) && CHECK(!emugpu_bo(f, 8 * SZ, &bo)) &&
	     CHECK(!emugpu_bind(f, bo, 0, VA_A, 8 * SZ));
	bound = read_number(CGROUP "/memory.current");
	ok = CHECK(!close(f)) && ok;
	closed = read_number(CGROUP "/memory.current");
	diag("memory.current: %lld, bound %lld, closed %lld", before, bound,
	     closed);
	ok = CHECK(!write_text("/sys/fs/cgroup/cgroup.procs", pid)) && ok;
	ok = CHECK(!rmdir(CGROUP)) && ok;
	return ok && CHECK(before >= 0) &&
	       CHECK(bound - before >= 8 * (long long)SZ) &&
	       CHECK(bound - closed >= 8 * (long long)SZ);
}

/*
 * A value from this file's fdinfo (Documentation/gpu/drm-usage-stats.rst),
 * in bytes for sizes ("N", "N KiB", "N MiB") or as printed ("N ns"); -1 if
 * the key is not there.
 */
static long long fdinfo_value(const char *key)
{
	char path[64], line[256], unit[8];
	long long value = -1, v;
	size_t len = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (value < 0 && fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, len) || line[len] != ':')
			continue;
		unit[0] = 0;
		if (sscanf(line + len + 1, "%lld %7s", &v, unit) < 1)
			break;
		value = v * (!strcmp(unit, "KiB") ? 1024 :
			     !strcmp(unit, "MiB") ? 1024 * 1024 : 1);
	}
	fclose(f);
	return value;
}

/* fdinfo: shmem objects as "system" memory, user pointers apart. */
static int test_fdinfo(void)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "drm-", 4))
			diag("%.*s", (int)strcspn(line, "\n"), line);
	if (f)
		fclose(f);
	return CHECK(fdinfo_value("drm-total-system") == 2 * (long long)SZ) &&
	       CHECK(fdinfo_value("drm-resident-system") == 2 * (long long)SZ) &&
	       CHECK(fdinfo_value("drm-total-userptr") == (long long)SZ) &&
	       CHECK(fdinfo_value("drm-engine-render") > 0);
}

/* Waits for a binary syncobj until @abs_ns (CLOCK_MONOTONIC), -errno. */
static int syncobj_wait(uint32_t handle, int64_t abs_ns)
{
	struct drm_syncobj_wait w = {
		.handles = (uintptr_t)&handle, .count_handles = 1,
		.timeout_nsec = abs_ns,
	};

	return emugpu_ioctl(fd, DRM_IOCTL_SYNCOBJ_WAIT, &w);
}

/*
 * SUBMIT's out-fence: a binary syncobj gets the job's fence (unsignalled
 * while a SPIN holds it), a timeline syncobj a point.
 */
static int test_syncobj_out(void)
{
	struct drm_emugpu_cmd spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_A, PAGE,
						0);
	struct drm_emugpu_cmd fill = emugpu_cmd(EMUGPU_OP_FILL, VA_A, 0, 8, 1);
	struct drm_emugpu_submit s = { .cmds = (uintptr_t)&spin, .count = 1 };
	uint32_t binary = emugpu_syncobj_create(fd);
	uint32_t timeline = emugpu_syncobj_create(fd);
	uint64_t point = 0;
	struct drm_syncobj_timeline_array q = {
		.handles = (uintptr_t)&timeline, .points = (uintptr_t)&point,
		.count_handles = 1,
	};
	struct drm_syncobj_destroy d = {};
	int ok;

	if (!CHECK(binary && timeline))
		return 0;
	s.out_syncobj = binary;
	ok = CHECK(!emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, &s)) &&
	     CHECK(emugpu_wait_running(fd, s.seqno)) &&
	     CHECK(syncobj_wait(binary, 0) == -ETIME) &&
	     CHECK(!emugpu_release(fd, s.seqno)) &&
	     CHECK(!syncobj_wait(binary, INT64_MAX));
	s = (struct drm_emugpu_submit){ .cmds = (uintptr_t)&fill, .count = 1,
					.out_syncobj = timeline,
					.out_point = 5 };
	ok = ok && CHECK(!emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, &s)) &&
	     CHECK(emugpu_wait(fd, s.seqno, INT64_MAX) == 0) &&
	     CHECK(!emugpu_ioctl(fd, DRM_IOCTL_SYNCOBJ_QUERY, &q)) &&
	     CHECK(point == 5);
	d.handle = binary;
	ok = CHECK(!emugpu_ioctl(fd, DRM_IOCTL_SYNCOBJ_DESTROY, &d)) && ok;
	d.handle = timeline;
	return CHECK(!emugpu_ioctl(fd, DRM_IOCTL_SYNCOBJ_DESTROY, &d)) && ok;
}

/*
 * VM_UNBIND of part of a mapping splits it (drm_gpuvm's remap): what is
 * left stays bound with its pages, the hole is not bound, and a job
 * running on the old mapping keeps it until it ends. A user pointer of 8
 * pages and a buffer object of 4, in a file of their own: closing it
 * frees everything, so the count of mappings can be checked after.
 */
static int test_partial_unbind(void)
{
	struct drm_emugpu_cmd spin = emugpu_cmd(EMUGPU_OP_SPIN, 0,
						VA_SPLIT + 3 * PAGE, PAGE, 0);
	long long mappings = emugpu_stat("mappings");
	unsigned char *mem = anon(8 * PAGE), *cpu;
	struct drm_emugpu_gem_mmap_offset o = {};
	int f = emugpu_open(), ok;
	uint32_t handle;
	uint64_t seqno;

	if (!CHECK(mem) || !CHECK(f >= 0) ||
	    !CHECK(!emugpu_userptr(f, mem, 8 * PAGE, 0, &handle)) ||
	    !CHECK(!emugpu_bind(f, handle, 0, VA_SPLIT, 8 * PAGE)) ||
	    !CHECK(!emugpu_bo(f, 4 * PAGE, &o.handle)) ||
	    !CHECK(!emugpu_bind(f, o.handle, 0, VA_SPLIT + 8 * PAGE,
				4 * PAGE)) ||
	    !CHECK(!emugpu_ioctl(f, DRM_IOCTL_EMUGPU_GEM_MMAP_OFFSET, &o)))
		return 0;
	cpu = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, f,
		   o.offset);
	if (!CHECK(cpu != MAP_FAILED))
		return 0;
	/* A job on page 3, in the part that goes. */
	ok = CHECK(!emugpu_submit(f, &spin, 1, &seqno)) &&
	     CHECK(emugpu_wait_running(f, seqno)) &&
	     /* Pages 2-5 of the user pointer: two parts are left. */
	     CHECK(!emugpu_unbind(f, VA_SPLIT + 2 * PAGE, 4 * PAGE)) &&
	     /* The two parts, and the old mapping the job holds. */
	     CHECK(emugpu_stat("mappings") == mappings + 4) &&
	     CHECK(emugpu_present(VA_SPLIT) >= 0) &&
	     CHECK(emugpu_present(VA_SPLIT + 6 * PAGE) >= 0) &&
	     CHECK(emugpu_wait(f, seqno, 0) == -ETIME) &&
	     CHECK(emugpu_run(f, EMUGPU_OP_FILL, VA_SPLIT + 2 * PAGE, 0, PAGE,
			      1) == -EINVAL) &&
	     /* A command may not span the two parts either. */
	     CHECK(emugpu_run(f, EMUGPU_OP_FILL, VA_SPLIT + PAGE, 0,
			      6 * PAGE, 1) == -EINVAL);
	ok = CHECK(!emugpu_release(f, seqno)) && ok;
	ok = ok && CHECK(emugpu_wait(f, seqno, INT64_MAX) == 0) &&
	     CHECK(emugpu_run(f, EMUGPU_OP_FILL, VA_SPLIT + PAGE, 0, PAGE,
			      0x31) == 0) &&
	     CHECK(emugpu_run(f, EMUGPU_OP_FILL, VA_SPLIT + 6 * PAGE, 0,
			      2 * PAGE, 0x32) == 0) &&
	     CHECK(all_bytes(mem + PAGE, PAGE, 0x31)) &&
	     CHECK(all_bytes(mem + 2 * PAGE, 4 * PAGE, 0)) &&
	     CHECK(all_bytes(mem + 6 * PAGE, 2 * PAGE, 0x32)) &&
	     /* The buffer object's first page: the rest keeps its pages. */
	     CHECK(!emugpu_unbind(f, VA_SPLIT + 8 * PAGE, PAGE)) &&
	     CHECK(emugpu_present(VA_SPLIT + 8 * PAGE) == -1) &&
	     CHECK(emugpu_present(VA_SPLIT + 9 * PAGE) == 3) &&
	     CHECK(emugpu_run(f, EMUGPU_OP_FILL, VA_SPLIT + 10 * PAGE, 0,
			      PAGE, 0x33) == 0) &&
	     CHECK(all_bytes(cpu + 2 * PAGE, PAGE, 0x33)) &&
	     /* One unbind over both objects' parts and the hole. */
	     CHECK(!emugpu_unbind(f, VA_SPLIT, 12 * PAGE)) &&
	     CHECK(emugpu_present(VA_SPLIT) == -1) &&
	     CHECK(emugpu_present(VA_SPLIT + 9 * PAGE) == -1);
	munmap(cpu, 4 * PAGE);
	/* Closing waits for the file's jobs to be freed. */
	ok = CHECK(!close(f)) && CHECK(emugpu_stat("mappings") == mappings) &&
	     ok;
	return CHECK(!munmap(mem, 8 * PAGE)) && ok;
}

/*
 * VM_OPS: in one call, a page of A's mapping goes and B's first page
 * takes its place; jobs see B there and A around it.
 */
static int test_vm_ops_swap(void)
{
	const struct drm_emugpu_vm_op ops[2] = {
		{ .op = EMUGPU_VM_OP_UNMAP, .va = VA_SWAP + PAGE, .size = PAGE },
		{ .op = EMUGPU_VM_OP_MAP, .handle = bo_b, .va = VA_SWAP + PAGE,
		  .size = PAGE },
	};

	return CHECK(!emugpu_bind(fd, bo_a, 0, VA_SWAP, 4 * PAGE)) &&
	       CHECK(!emugpu_vm_ops(fd, ops, 2)) &&
	       CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_SWAP, 0, PAGE, 0x41) ==
		     0) &&
	       CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_SWAP + PAGE, 0, PAGE,
				0x42) == 0) &&
	       CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_SWAP + 2 * PAGE, 0,
				2 * PAGE, 0x43) == 0) &&
	       CHECK(all_bytes(cpu_a, PAGE, 0x41)) &&
	       CHECK(all_bytes(cpu_b, PAGE, 0x42)) &&
	       CHECK(all_bytes(cpu_a + 2 * PAGE, 2 * PAGE, 0x43)) &&
	       CHECK(!emugpu_unbind(fd, VA_SWAP, 4 * PAGE));
}

static int test_teardown(void)
{
	return CHECK(!munmap(cpu_a, SZ)) && CHECK(!munmap(cpu_b, SZ)) &&
	       CHECK(!close(fd)) && CHECK(!munmap(user, SZ)) &&
	       CHECK(emugpu_idle());
}

/*
 * The victim of mrelease_cancels_queued_job: a FILL on its own user
 * pointer queued behind the parent's SPIN, and a thread asleep in
 * munmap() of it, in the notifier, waiting for that job. Never returns.
 */
static void queued_victim(int ready)
{
	struct drm_emugpu_cmd fill = emugpu_cmd(EMUGPU_OP_FILL, VA_VICTIM, 0,
						16 * PAGE, 0x77);
	long long waited = emugpu_stat("inval_waited");
	/* Well within the parent's SPIN, which the job timeout ends. */
	int seconds = (int)(read_number(EMUGPU_TIMEOUT) / 2000);
	unsigned char *mem = anon(32 * PAGE);
	struct munmap_trap trap = { .addr = mem, .size = PAGE };
	uint32_t handle;
	uint64_t seqno;
	pthread_t thread;
	char ok;
	int f = emugpu_open();

	ok = f >= 0 && mem &&
	     !emugpu_userptr(f, mem, 32 * PAGE, 0, &handle) &&
	     !emugpu_bind(f, handle, 0, VA_VICTIM, 32 * PAGE) &&
	     !emugpu_submit(f, &fill, 1, &seqno) &&
	     emugpu_wait(f, seqno, 0) == -ETIME &&
	     !pthread_create(&thread, NULL, munmap_trap_thread, &trap) &&
	     stat_passes("inval_waited", waited, seconds > 0 ? seconds : 1);
	if (write(ready, &ok, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

/*
 * Policy precise cancels an OOM victim's jobs on the range the reaper
 * asks for. A job the engine has not started never touches its pages
 * once cancelled, so it must stop holding them at once: the first
 * process_mrelease(2) reaps everything, though the job is queued behind
 * another process's job that runs until the job timeout.
 */
static int test_mrelease_cancels_queued_job(void)
{
	struct drm_emugpu_cmd spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_A, PAGE,
						0);
	long long cancels = emugpu_stat("oom_cancels");
	int ready[2], pidfd, status = 0, released;
	char old[16], ok = 0;
	uint64_t seqno;
	pid_t pid;

	if (!CHECK(!pipe(ready)) ||
	    !CHECK(!emugpu_submit(fd, &spin, 1, &seqno)) ||
	    !CHECK(emugpu_wait_running(fd, seqno)) ||
	    !set_policy("precise", old, sizeof(old)))
		return 0;
	pid = fork();
	if (pid == 0)
		queued_victim(ready[1]);
	pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	released = CHECK(pidfd >= 0) &&
		   CHECK(read(ready[0], &ok, 1) == 1 && ok) &&
		   CHECK(!syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL,
				  0)) &&
		   CHECK(!syscall(SYS_process_mrelease, pidfd, 0)) &&
		   CHECK(emugpu_stat("oom_cancels") == cancels + 1);
	/* Whatever failed: no victim, no SPIN left for the next cases. */
	if (pid > 0)
		kill(pid, SIGKILL);
	close(ready[0]);
	close(ready[1]);
	if (pidfd >= 0)
		close(pidfd);
	return CHECK(!write_text(POLICY, old)) &&
	       CHECK(!emugpu_release(fd, seqno)) &&
	       CHECK(emugpu_wait(fd, seqno, INT64_MAX) == 0) &&
	       CHECK(pid > 0 && waitpid(pid, &status, 0) == pid) &&
	       CHECK(WIFSIGNALED(status)) && released &&
	       CHECK(emugpu_jobs_reach(0) == 0) &&
	       CHECK(emugpu_stat("objects") == 3);
}

struct pin_submitter {
	pthread_barrier_t *start;
	int err;
};

static void *pin_submit(void *arg)
{
	struct pin_submitter *s = arg;

	pthread_barrier_wait(s->start);
	s->err = emugpu_run(fd, EMUGPU_OP_FILL, VA_PINNED, 0, PAGE, 0x12);
	return NULL;
}

/*
 * Policy pin: two SUBMITs that find an object unpinned both pin it;
 * one set of pins is kept, the other must be dropped, or the pages stay
 * pinned after the object is gone.
 */
static int test_pin_concurrent_submits(void)
{
	const size_t size = 8192 * PAGE;
	long long pinned = emugpu_stat("pinned_pages");
	struct pin_submitter s[2];
	pthread_barrier_t start;
	pthread_t thread[2];
	unsigned char *mem;
	uint32_t handle;
	int round, i, ok = 1;

	for (round = 0; ok && round < 4; round++) {
		mem = anon(size);
		if (!CHECK(mem) ||
		    !userptr_under("pin", mem, size, VA_PINNED, &handle) ||
		    !CHECK(!pthread_barrier_init(&start, NULL, 2)))
			return 0;
		for (i = 0; i < 2; i++) {
			s[i] = (struct pin_submitter){ .start = &start };
			if (!CHECK(!pthread_create(&thread[i], NULL, pin_submit,
						   &s[i])))
				return 0;
		}
		for (i = 0; i < 2; i++)
			ok &= CHECK(!pthread_join(thread[i], NULL)) &&
			      CHECK(!s[i].err);
		pthread_barrier_destroy(&start);
		ok = ok && CHECK(!emugpu_unbind(fd, VA_PINNED, size)) &&
		     CHECK(!gem_close(handle)) &&
		     CHECK(emugpu_jobs_reach(0) == 0) &&
		     CHECK(emugpu_stat("pinned_pages") == pinned) &&
		     CHECK(!munmap(mem, size));
	}
	return ok;
}

/*
 * munmap() of an idle user pointer while another object of the same VM is
 * busy: precise waits for nothing; xe waits for every job of the VM, as
 * xe_vma_userptr_do_inval() waits for all the fences of the VM's resv.
 */
static int munmap_idle_under(const char *policy, int waits)
{
	struct drm_emugpu_cmd spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_A, PAGE,
						0);
	long long waited = emugpu_stat("inval_waited");
	/* Well within the SPIN, which the job timeout ends. */
	int seconds = (int)(read_number(EMUGPU_TIMEOUT) / 2000);
	unsigned char *mem = anon(4 * PAGE);
	struct munmap_trap trap = { .addr = mem, .size = 4 * PAGE };
	struct timespec deadline;
	uint64_t seqno = 0;
	uint32_t handle = 0;
	pthread_t thread;
	int ok, started;
	char old[16];

	if (!CHECK(mem) || !set_policy(policy, old, sizeof(old)))
		return 0;
	ok = CHECK(!emugpu_userptr(fd, mem, 4 * PAGE, 0, &handle)) &&
	     CHECK(!emugpu_bind(fd, handle, 0, VA_IDLE, 4 * PAGE)) &&
	     CHECK(emugpu_run(fd, EMUGPU_OP_FILL, VA_IDLE, 0, 4 * PAGE, 9) ==
		   0) &&
	     CHECK(!emugpu_submit(fd, &spin, 1, &seqno)) &&
	     CHECK(emugpu_wait_running(fd, seqno));
	started = ok && CHECK(!pthread_create(&thread, NULL,
					      munmap_trap_thread, &trap));
	ok = started;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += seconds > 0 ? seconds : 1;
	if (ok && waits)
		/* munmap() waits in the notifier for the SPIN. */
		ok = CHECK(stat_passes("inval_waited", waited,
				       seconds > 0 ? seconds : 1)) &&
		     CHECK(pthread_tryjoin_np(thread, NULL) == EBUSY);
	else if (ok)
		/* munmap() returns while the SPIN still runs. */
		ok = CHECK(!pthread_timedjoin_np(thread, NULL, &deadline)) &&
		     CHECK(emugpu_wait(fd, seqno, 0) == -ETIME) &&
		     CHECK(emugpu_stat("inval_waited") == waited);
	/* Whatever failed: nothing left for the later cases. */
	if (seqno) {
		ok &= CHECK(!emugpu_release(fd, seqno));
		ok &= CHECK(emugpu_wait(fd, seqno, INT64_MAX) == 0);
	}
	if (started && waits) {
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += 10;
		ok &= CHECK(!pthread_timedjoin_np(thread, NULL, &deadline));
	}
	if (!started)
		munmap(mem, 4 * PAGE);
	ok &= CHECK(!write_text(POLICY, old));
	if (handle) {
		emugpu_unbind(fd, VA_IDLE, 4 * PAGE);
		ok &= CHECK(!gem_close(handle));
	}
	return CHECK(emugpu_jobs_reach(0) == 0) &&
	       CHECK(emugpu_stat("objects") == 3) && ok;
}

static int test_xe_blockable_waits_for_vm(void)
{
	return munmap_idle_under("precise", 0) && munmap_idle_under("xe", 1);
}

static const struct ktap_case tests[] = {
	{ "setup", test_setup },
	{ "fill_copy_checksum", test_fill_copy_checksum },
	{ "write_userptr", test_write_userptr },
	{ "refault_after_dontneed", test_refault_after_dontneed },
	{ "device_writes_survive_madv_free",
	  test_device_writes_survive_madv_free },
	{ "device_reads_do_not_dirty", test_device_reads_do_not_dirty },
	{ "fork_cow", test_fork_cow },
	{ "job_release", test_job_release },
	{ "job_timeout", test_job_timeout },
	{ "cpu_side_during_job", test_cpu_side_during_job },
	{ "munmap_during_job", test_munmap_during_job },
	{ "close_with_jobs", test_close_with_jobs },
	{ "close_behind_other_file", test_close_behind_other_file },
	{ "submit_faults_first", test_submit_faults_first },
	{ "sigkill_with_jobs", test_sigkill_with_jobs },
	{ "free_job_drops_last_userptr", test_free_job_drops_last_userptr },
	{ "pin_policy", test_pin_policy },
	{ "pin_concurrent_submits", test_pin_concurrent_submits },
	{ "mrelease_cancels_queued_job", test_mrelease_cancels_queued_job },
	{ "xe_blockable_waits_for_vm", test_xe_blockable_waits_for_vm },
	{ "fences_bounded", test_fences_bounded },
	{ "syncobj_out", test_syncobj_out },
	{ "syncobj_in", test_syncobj_in },
	{ "partial_unbind", test_partial_unbind },
	{ "vm_ops_swap", test_vm_ops_swap },
	{ "fdinfo", test_fdinfo },
	{ "bo_charged_to_memcg", test_bo_charged_to_memcg },
	{ "teardown", test_teardown },
};

int main(int argc, char **argv)
{
	return ktap_run(tests, ARRAY_SIZE(tests), argc - 1, argv + 1);
}
