// SPDX-License-Identifier: GPL-2.0
/*
 * emugpu_badinput - every ioctl, with each field wrong in turn.
 *
 * One valid call per ioctl is the template; each case changes one field
 * and expects the documented errno, with the driver's live counters
 * (objects, device memory, mappings, jobs) unchanged afterwards. Then a
 * wait interrupted by a signal, and a fail-nth sweep: the Nth slab
 * allocation of a valid call fails, for N = 1, 2, ... until the call no longer
 * allocates; every such call returns 0 or -ENOMEM and leaks nothing.
 * The device still works at the end, and the runner fails the scenario
 * on any kernel splat, so "a clean dmesg" is checked too.
 */
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "emugpu_lib.h"

#define SZ		(16 * PAGE)
#define VA		0x100000ULL
#define VA_U		0x200000ULL
#define VA_RO		0x300000ULL
#define MAX_SIZE	EMUGPU_MAX_OBJECT_SIZE

static int fd, other_fd;
static uint32_t bo, up, ro_up, stale, foreign;
/* edge: a mapped page just below hole, an unmapped range */
static unsigned char *mem, *ro_mem, *edge, *hole, *none;
static int checks, failures;

/*
 * What a failed call must not change. Jobs are not here: a job that ran
 * is freed by the engine just after its fence signals; the last test
 * checks that none is left.
 */
struct counters {
	long long objects, shmem_bytes, userptrs, mappings, vram_bytes;
};

static struct counters counters(void)
{
	struct counters c = {
		emugpu_stat("objects"), emugpu_stat("shmem_bytes"),
		emugpu_stat("userptrs"), emugpu_stat("mappings"),
		emugpu_stat("vram_bytes"),
	};

	return c;
}

/* A test of many cases starts counting afresh. */
static void begin_case(void)
{
	checks = 0;
	failures = 0;
}

/* One case: the call's result, and nothing changed behind it. */
static void expect(const char *what, int ret, int want)
{
	static struct counters before;
	struct counters now = counters();

	if (!checks++)
		before = now;
	if (ret != want || memcmp(&now, &before, sizeof(now))) {
		diag("%s: got %d (%s), want %d", what, ret, strerror(-ret),
		     want);
		diag("%s: objects %lld->%lld, shmem %lld->%lld", what,
		     before.objects, now.objects, before.shmem_bytes,
		     now.shmem_bytes);
		diag("%s: userptrs %lld->%lld, mappings %lld->%lld", what,
		     before.userptrs, now.userptrs, before.mappings,
		     now.mappings);
		failures++;
	}
	before = now;
}

static int test_setup(void)
{
	struct drm_gem_close gc = {};

	fd = emugpu_open();
	other_fd = emugpu_open();
	mem = anon(SZ);
	ro_mem = anon(SZ);
	edge = anon(2 * SZ);
	hole = edge + SZ;
	none = anon(SZ);
	if (!CHECK(fd >= 0 && other_fd >= 0 && mem && ro_mem && edge && none))
		return 0;
	/* A hole in the address space, and memory nobody may touch. */
	if (!CHECK(!munmap(hole, SZ)) ||
	    !CHECK(!mprotect(none, SZ, PROT_NONE)) ||
	    !CHECK(!mprotect(ro_mem, SZ, PROT_READ)))
		return 0;
	if (!CHECK(!emugpu_bo(fd, SZ, &bo)) ||
	    !CHECK(!emugpu_userptr(fd, mem, SZ, 0, &up)) ||
	    !CHECK(!emugpu_userptr(fd, ro_mem, SZ, EMUGPU_USERPTR_READ_ONLY,
				   &ro_up)) ||
	    !CHECK(!emugpu_bind(fd, bo, 0, VA, SZ)) ||
	    !CHECK(!emugpu_bind(fd, up, 0, VA_U, SZ)) ||
	    !CHECK(!emugpu_bind(fd, ro_up, 0, VA_RO, SZ)))
		return 0;
	/* Handles are small integers, reused: the next one, closed. */
	if (!CHECK(!emugpu_bo(fd, SZ, &stale)))
		return 0;
	gc.handle = stale;
	if (!CHECK(!emugpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE, &gc)))
		return 0;
	/* A handle valid in the other file only. */
	for (int i = 0; i < 8; i++)
		if (!CHECK(!emugpu_bo(other_fd, PAGE, &foreign)))
			return 0;
	return CHECK(foreign > stale);
}

static int test_generic(void)
{
	unsigned long unknown = DRM_IOWR(DRM_COMMAND_BASE + 0x20,
					 struct drm_emugpu_gem_create);
	char arg[32] = { 0 };

	begin_case();
	expect("unknown driver ioctl", emugpu_ioctl(fd, unknown, arg), -EINVAL);
	expect("NULL argument", emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_GEM_CREATE,
					     NULL), -EFAULT);
	expect("unmapped argument",
	       emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, hole), -EFAULT);
	return !failures;
}

static int gem_create(struct drm_emugpu_gem_create c)
{
	int ret = emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_GEM_CREATE, &c);

	if (!ret)
		emugpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE,
			     &(struct drm_gem_close){ .handle = c.handle });
	return ret;
}

static int test_gem_create(void)
{
	struct drm_emugpu_gem_create ok = { .size = SZ }, c;

	begin_case();
	expect("valid", gem_create(ok), 0);
	c = ok; c.size = 0;
	expect("size 0", gem_create(c), -EINVAL);
	c = ok; c.size = PAGE + 1;
	expect("size unaligned", gem_create(c), -EINVAL);
	c = ok; c.size = MAX_SIZE + PAGE;
	expect("size too big", gem_create(c), -EINVAL);
	c = ok; c.size = ~0ULL & ~(PAGE - 1);
	expect("size huge", gem_create(c), -EINVAL);
	c = ok; c.flags = 2;
	expect("flags", gem_create(c), -EINVAL);
	c = ok; c.flags = ~EMUGPU_GEM_CREATE_VRAM;
	expect("flags but VRAM", gem_create(c), -EINVAL);
	c = ok; c.flags = EMUGPU_GEM_CREATE_VRAM; c.size = 0;
	expect("VRAM size 0", gem_create(c), -EINVAL);
	c = ok; c.pad = 1;
	expect("pad", gem_create(c), -EINVAL);
	c = ok; c.pad2 = 0x80000000;
	expect("pad2", gem_create(c), -EINVAL);
	return !failures;
}

static int userptr(void *addr, uint64_t size, uint32_t flags)
{
	uint32_t handle;
	int ret = emugpu_userptr(fd, addr, size, flags, &handle);

	if (!ret)
		emugpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE,
			     &(struct drm_gem_close){ .handle = handle });
	return ret;
}

static int test_userptr(void)
{
	begin_case();
	expect("valid", userptr(mem, SZ, 0), 0);
	expect("read-only, valid", userptr(ro_mem, SZ,
					   EMUGPU_USERPTR_READ_ONLY), 0);
	expect("addr unaligned", userptr(mem + 1, PAGE, 0), -EINVAL);
	expect("size 0", userptr(mem, 0, 0), -EINVAL);
	expect("size unaligned", userptr(mem, PAGE - 1, 0), -EINVAL);
	expect("size too big", userptr(mem, MAX_SIZE + PAGE, 0), -EINVAL);
	expect("unknown flag", userptr(mem, SZ, 2), -EINVAL);
	expect("addr + size wraps", userptr((void *)(~0UL & ~(PAGE - 1)),
					    2 * PAGE, 0), -EINVAL);
	expect("kernel address", userptr((void *)0xffff800000000000UL, PAGE,
					 0), -EFAULT);
	expect("over a hole", userptr(hole, SZ, 0), -EFAULT);
	expect("runs into a hole", userptr(hole - PAGE, 2 * PAGE, 0), -EFAULT);
	expect("PROT_NONE", userptr(none, SZ, 0), -EFAULT);
	expect("PROT_NONE, read-only", userptr(none, SZ,
					       EMUGPU_USERPTR_READ_ONLY),
	       -EFAULT);
	expect("read-only memory asked writable", userptr(ro_mem, SZ, 0),
	       -EFAULT);
	return !failures;
}

static int test_userptr_pfnmap(void)
{
	struct drm_emugpu_gem_mmap_offset o = { .handle = bo };
	void *p;

	begin_case();
	/* A GEM object's CPU mapping is VM_PFNMAP: not process memory. */
	if (!CHECK(!emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_GEM_MMAP_OFFSET, &o)))
		return 0;
	p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, o.offset);
	if (!CHECK(p != MAP_FAILED))
		return 0;
	expect("VM_PFNMAP mapping", userptr(p, SZ, 0), -EFAULT);
	munmap(p, SZ);
	return !failures;
}

#ifndef SYS_memfd_secret
#define SYS_memfd_secret	447
#endif

/*
 * Secret memory is not in the kernel's direct map: refused as a user
 * pointer, and a job fails cleanly when it replaces one's memory. UML has
 * no secretmem: the case is skipped there (x86_64 runs it).
 */
static int test_userptr_secretmem(void)
{
	int sfd = (int)syscall(SYS_memfd_secret, 0);
	unsigned char *p, *q;
	uint32_t handle;
	int ok;

	if (sfd < 0) {
		ktap_skip = "no memfd_secret(2) here";
		return KTAP_SKIP;
	}
	begin_case();
	p = ftruncate(sfd, 4 * PAGE) ? MAP_FAILED :
	    mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	q = anon(4 * PAGE);
	if (!CHECK(p != MAP_FAILED) || !CHECK(q))
		return 0;
	expect("secret memory", userptr(p, 4 * PAGE, 0), -EFAULT);
	ok = CHECK(!emugpu_userptr(fd, q, 4 * PAGE, 0, &handle)) &&
	     CHECK(!emugpu_bind(fd, handle, 0, 0x1000000, 4 * PAGE)) &&
	     CHECK(mmap(q, 4 * PAGE, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_FIXED, sfd, 0) == q) &&
	     CHECK(emugpu_run(fd, EMUGPU_OP_FILL, 0x1000000, 0, PAGE, 1) ==
		   -EFAULT) &&
	     CHECK(!emugpu_unbind(fd, 0x1000000, 4 * PAGE)) &&
	     CHECK(!emugpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE,
				 &(struct drm_gem_close){ .handle = handle }));
	munmap(p, 4 * PAGE);
	munmap(q, 4 * PAGE);
	close(sfd);
	return ok && !failures;
}

static int bind(struct drm_emugpu_vm_bind b)
{
	int ret = emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_VM_BIND, &b);

	if (!ret)
		emugpu_unbind(fd, b.va, b.size);
	return ret;
}

static int test_vm_bind(void)
{
	struct drm_emugpu_vm_bind ok = {
		.handle = bo, .va = 0x1000000, .size = SZ,
	}, b;

	begin_case();
	expect("valid", bind(ok), 0);
	b = ok; b.handle = 0;
	expect("handle 0", bind(b), -ENOENT);
	b = ok; b.handle = stale;
	expect("stale handle", bind(b), -ENOENT);
	b = ok; b.handle = 0xdeadbeef;
	expect("unknown handle", bind(b), -ENOENT);
	b = ok; b.handle = foreign;
	expect("another file's handle", bind(b), -ENOENT);
	b = ok; b.flags = 1;
	expect("flags", bind(b), -EINVAL);
	b = ok; b.va += 1;
	expect("va unaligned", bind(b), -EINVAL);
	b = ok; b.size = 0;
	expect("size 0", bind(b), -EINVAL);
	b = ok; b.size = PAGE + 8;
	expect("size unaligned", bind(b), -EINVAL);
	b = ok; b.offset = 8;
	expect("offset unaligned", bind(b), -EINVAL);
	b = ok; b.va = EMUGPU_VA_START - PAGE;
	expect("va below the VA space", bind(b), -EINVAL);
	b = ok; b.va = EMUGPU_VA_END;
	expect("va above the VA space", bind(b), -EINVAL);
	b = ok; b.va = EMUGPU_VA_END - PAGE;
	expect("va + size past the VA space", bind(b), -EINVAL);
	b = ok; b.va = ~0ULL & ~(PAGE - 1);
	expect("va + size wraps", bind(b), -EINVAL);
	b = ok; b.offset = PAGE;
	expect("offset + size past the object", bind(b), -EINVAL);
	b = ok; b.offset = SZ;
	expect("offset at the end", bind(b), -EINVAL);
	b = ok; b.size = ~0ULL & ~(PAGE - 1);
	expect("size huge", bind(b), -EINVAL);
	b = ok; b.va = VA + PAGE;
	expect("overlaps a mapping", bind(b), -EBUSY);
	b = ok; b.va = VA_U - PAGE;
	expect("overlaps a mapping's start", bind(b), -EBUSY);
	return !failures;
}

/*
 * VM_OPS: the fields of the call and of each operation; and all or
 * nothing: a MAP that succeeds followed by one that fails leaves the VM
 * as it was.
 */
static int test_vm_ops(void)
{
	struct drm_emugpu_vm_op map = { .op = EMUGPU_VM_OP_MAP, .handle = bo,
					.va = 0x6000000, .size = SZ };
	struct drm_emugpu_vm_op ops[EMUGPU_MAX_VM_OPS + 1], o;
	struct drm_emugpu_vm_ops v;
	long long mappings = emugpu_stat("mappings");

	begin_case();
	for (int i = 0; i <= EMUGPU_MAX_VM_OPS; i++)
		ops[i] = map;
	expect("count 0", emugpu_vm_ops(fd, ops, 0), -EINVAL);
	expect("count too big", emugpu_vm_ops(fd, ops, EMUGPU_MAX_VM_OPS + 1),
	       -EINVAL);
	v = (struct drm_emugpu_vm_ops){ .ops = (uintptr_t)ops, .count = 1,
					.flags = 1 };
	expect("flags", emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_VM_OPS, &v), -EINVAL);
	expect("ops NULL", emugpu_vm_ops(fd, NULL, 1), -EFAULT);
	expect("ops over a hole", emugpu_vm_ops(fd, (void *)hole, 1), -EFAULT);
	o = map; o.op = 0;
	expect("op 0", emugpu_vm_ops(fd, &o, 1), -EINVAL);
	o = map; o.op = EMUGPU_VM_OP_UNMAP + 1;
	expect("unknown op", emugpu_vm_ops(fd, &o, 1), -EINVAL);
	o = (struct drm_emugpu_vm_op){ .op = EMUGPU_VM_OP_UNMAP, .handle = bo,
				       .va = VA, .size = PAGE };
	expect("unmap with a handle", emugpu_vm_ops(fd, &o, 1), -EINVAL);
	o.handle = 0; o.offset = PAGE;
	expect("unmap with an offset", emugpu_vm_ops(fd, &o, 1), -EINVAL);
	o = map; o.handle = 0;
	expect("map handle 0", emugpu_vm_ops(fd, &o, 1), -ENOENT);
	o = map; o.va += 1;
	expect("map va unaligned", emugpu_vm_ops(fd, &o, 1), -EINVAL);
	/* The first maps, the second finds it there: neither stays. */
	expect("map twice", emugpu_vm_ops(fd, ops, 2), -EBUSY);
	expect("nothing of it left", emugpu_present(map.va), -1);
	/* A later op that fails undoes a split too. */
	ops[1] = (struct drm_emugpu_vm_op){ .op = EMUGPU_VM_OP_UNMAP,
					    .va = map.va + PAGE, .size = PAGE };
	ops[2] = (struct drm_emugpu_vm_op){ .op = EMUGPU_VM_OP_UNMAP,
					    .va = 0x5000000, .size = PAGE };
	expect("map, split, unmap nothing", emugpu_vm_ops(fd, ops, 3),
	       -EINVAL);
	expect("nothing of them left", emugpu_present(map.va), -1);
	expect("mappings unchanged", emugpu_stat("mappings") == mappings, 1);
	ops[2] = (struct drm_emugpu_vm_op){ .op = EMUGPU_VM_OP_UNMAP,
					    .va = map.va, .size = SZ };
	expect("map, split, unmap all", emugpu_vm_ops(fd, ops, 3), 0);
	expect("mappings back", emugpu_stat("mappings") == mappings, 1);
	return !failures;
}

static int test_vm_unbind(void)
{
	struct drm_emugpu_vm_unbind u;

	begin_case();
	u = (struct drm_emugpu_vm_unbind){ .va = VA, .size = SZ, .flags = 1 };
	expect("flags", emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_VM_UNBIND, &u),
	       -EINVAL);
	u = (struct drm_emugpu_vm_unbind){ .va = VA, .size = SZ, .pad = 1 };
	expect("pad", emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_VM_UNBIND, &u),
	       -EINVAL);
	/* Part of a mapping is a valid unbind (a split): see emugpu_basic. */
	expect("va unaligned", emugpu_unbind(fd, VA + 1, PAGE), -EINVAL);
	expect("size unaligned", emugpu_unbind(fd, VA, PAGE + 1), -EINVAL);
	expect("size 0", emugpu_unbind(fd, VA, 0), -EINVAL);
	expect("below the VA space", emugpu_unbind(fd, 0, PAGE), -EINVAL);
	expect("past the VA space",
	       emugpu_unbind(fd, EMUGPU_VA_END - PAGE, 2 * PAGE), -EINVAL);
	expect("nothing there", emugpu_unbind(fd, 0x5000000, PAGE), -EINVAL);
	expect("wraps", emugpu_unbind(fd, ~0ULL & ~(PAGE - 1), 2 * PAGE),
	       -EINVAL);
	return !failures;
}

static int submit(struct drm_emugpu_cmd c)
{
	uint64_t seqno;
	int ret = emugpu_submit(fd, &c, 1, &seqno);

	if (!ret)
		ret = emugpu_wait(fd, seqno, INT64_MAX);
	return ret;
}

static int test_submit(void)
{
	struct drm_emugpu_cmd ok = emugpu_cmd(EMUGPU_OP_FILL, VA, 0, SZ, 1), c;
	struct drm_emugpu_cmd many[EMUGPU_MAX_CMDS + 1];
	struct drm_syncobj_create signalled = {};
	struct drm_emugpu_submit s;
	uint64_t seqno;

	begin_case();
	expect("valid", submit(ok), 0);
	for (int i = 0; i <= EMUGPU_MAX_CMDS; i++)
		many[i] = ok;
	expect("EMUGPU_MAX_CMDS commands",
	       emugpu_submit(fd, many, EMUGPU_MAX_CMDS, &seqno) ? -1 :
	       emugpu_wait(fd, seqno, INT64_MAX), 0);
	expect("count 0", emugpu_submit(fd, many, 0, &seqno), -EINVAL);
	expect("count too big", emugpu_submit(fd, many, EMUGPU_MAX_CMDS + 1,
					      &seqno), -EINVAL);
	expect("count huge", emugpu_submit(fd, many, 0xffffffff, &seqno),
	       -EINVAL);
	s = (struct drm_emugpu_submit){ .cmds = (uintptr_t)many, .count = 1,
					.flags = 1 };
	expect("flags", emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, &s),
	       -EINVAL);
	s = (struct drm_emugpu_submit){ .cmds = (uintptr_t)many, .count = 1,
					.in_point = 1 };
	expect("in_point without in_syncobj",
	       emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, &s), -EINVAL);
	s = (struct drm_emugpu_submit){ .cmds = (uintptr_t)many, .count = 1,
					.in_syncobj = 1000 };
	expect("no such in_syncobj",
	       emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, &s), -ENOENT);
	s = (struct drm_emugpu_submit){ .cmds = (uintptr_t)many, .count = 1,
					.in_syncobj = emugpu_syncobj_create(fd) };
	expect("in_syncobj without a fence",
	       emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, &s), -EINVAL);
	signalled.flags = DRM_SYNCOBJ_CREATE_SIGNALED;
	expect("signalled syncobj",
	       emugpu_ioctl(fd, DRM_IOCTL_SYNCOBJ_CREATE, &signalled), 0);
	s.in_syncobj = signalled.handle;
	s.in_point = 5;
	expect("in_point past the syncobj's timeline",
	       emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, &s), -EINVAL);
	s.in_point = 0;
	expect("in_syncobj signalled",
	       emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, &s) ? -1 :
	       emugpu_wait(fd, s.seqno, INT64_MAX), 0);
	s = (struct drm_emugpu_submit){ .cmds = (uintptr_t)many, .count = 1,
					.out_point = 1 };
	expect("out_point without out_syncobj",
	       emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, &s), -EINVAL);
	s = (struct drm_emugpu_submit){ .cmds = (uintptr_t)many, .count = 1,
					.out_syncobj = 1000 };
	expect("no such syncobj",
	       emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, &s), -ENOENT);
	expect("cmds NULL", emugpu_submit(fd, NULL, 1, &seqno), -EFAULT);
	expect("cmds over a hole", emugpu_submit(fd, (void *)hole, 1, &seqno),
	       -EFAULT);
	c = ok; c.op = 0;
	expect("op 0", submit(c), -EINVAL);
	c = ok; c.op = EMUGPU_OP_SPIN + 1;
	expect("unknown op", submit(c), -EINVAL);
	c = ok; c.pad = 1;
	expect("pad", submit(c), -EINVAL);
	c = ok; c.value = 0x100;
	expect("fill value", submit(c), -EINVAL);
	c = ok; c.src = VA_U;
	expect("fill with a source", submit(c), -EINVAL);
	c = ok; c.size = 0;
	expect("size 0", submit(c), -EINVAL);
	c = ok; c.size = MAX_SIZE + 1;
	expect("size too big", submit(c), -EINVAL);
	c = ok; c.dst = ~0ULL - 8;
	expect("dst + size wraps", submit(c), -EINVAL);
	c = ok; c.dst = 0x5000000;
	expect("dst not bound", submit(c), -EINVAL);
	c = ok; c.dst = VA + PAGE;
	expect("dst runs past its mapping", submit(c), -EINVAL);
	c = ok; c.dst = VA_U - PAGE;
	expect("dst starts before a mapping", submit(c), -EINVAL);
	c = emugpu_cmd(EMUGPU_OP_COPY, VA, VA + PAGE, 2 * PAGE, 0);
	expect("copy overlapping", submit(c), -EINVAL);
	c = emugpu_cmd(EMUGPU_OP_COPY, VA, VA_U, PAGE, 1);
	expect("copy with a value", submit(c), -EINVAL);
	c = emugpu_cmd(EMUGPU_OP_COPY, VA, 0x5000000, PAGE, 0);
	expect("copy source not bound", submit(c), -EINVAL);
	c = emugpu_cmd(EMUGPU_OP_CHECKSUM, VA + 4, VA_U, PAGE, 0);
	expect("checksum dst unaligned", submit(c), -EINVAL);
	c = emugpu_cmd(EMUGPU_OP_SPIN, VA, VA_U, PAGE, 0);
	expect("spin with a dst", submit(c), -EINVAL);
	c = emugpu_cmd(EMUGPU_OP_FILL, VA_RO, 0, PAGE, 1);
	expect("write a read-only userptr", submit(c), -EINVAL);
	c = emugpu_cmd(EMUGPU_OP_COPY, VA, VA_RO, PAGE, 0);
	expect("read a read-only userptr", submit(c), 0);
	return !failures;
}

static int test_wait(void)
{
	struct drm_emugpu_cmd fill = {
		.op = EMUGPU_OP_FILL, .dst = VA, .size = PAGE,
	};
	struct drm_emugpu_wait w;
	uint64_t seqno;

	begin_case();
	if (!CHECK(!emugpu_submit(fd, &fill, 1, &seqno)))
		return 0;
	expect("valid", emugpu_wait(fd, seqno, INT64_MAX), 0);
	expect("poll a finished job", emugpu_wait(fd, seqno, 0), 0);
	w = (struct drm_emugpu_wait){ .seqno = seqno, .flags = 1 };
	expect("flags", emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_WAIT, &w), -EINVAL);
	expect("negative timeout", emugpu_wait(fd, seqno, -1), -EINVAL);
	expect("seqno 0", emugpu_wait(fd, 0, 0), -EINVAL);
	expect("seqno never issued", emugpu_wait(fd, seqno + 1000, 0), -EINVAL);
	expect("seqno past 32 bits", emugpu_wait(fd, seqno | 1ULL << 32, 0),
	       -EINVAL);
	expect("another file's seqno", emugpu_wait(other_fd, seqno, 0),
	       -EINVAL);
	return !failures;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static int test_wait_interrupted(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct itimerval it = { .it_value = { .tv_usec = 50000 } };
	struct drm_emugpu_cmd spin = emugpu_cmd(EMUGPU_OP_SPIN, 0, VA_U, SZ, 0);
	struct drm_emugpu_wait w = { .timeout_ns = INT64_MAX };
	uint64_t seqno;
	int ret;

	begin_case();
	if (!CHECK(!emugpu_submit(fd, &spin, 1, &seqno)) ||
	    !CHECK(!sigaction(SIGALRM, &sa, NULL)) ||
	    !CHECK(!setitimer(ITIMER_REAL, &it, NULL)))
		return 0;
	/* The raw ioctl: the library wrapper would restart it. */
	w.seqno = seqno;
	ret = ioctl(fd, DRM_IOCTL_EMUGPU_WAIT, &w) ? -errno : 0;
	expect("signal during wait", ret, -EINTR);
	expect("release", emugpu_release(fd, w.seqno), 0);
	expect("restarted wait", emugpu_wait(fd, w.seqno, INT64_MAX), 0);
	signal(SIGALRM, SIG_DFL);
	return !failures;
}

static int test_gem_mmap_offset(void)
{
	struct drm_emugpu_gem_mmap_offset o;

	begin_case();
	o = (struct drm_emugpu_gem_mmap_offset){ .handle = bo };
	expect("valid", emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_GEM_MMAP_OFFSET, &o),
	       0);
	o = (struct drm_emugpu_gem_mmap_offset){ .handle = bo, .pad = 1 };
	expect("pad", emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_GEM_MMAP_OFFSET, &o),
	       -EINVAL);
	o = (struct drm_emugpu_gem_mmap_offset){ .handle = up };
	expect("a user pointer", emugpu_ioctl(fd,
					      DRM_IOCTL_EMUGPU_GEM_MMAP_OFFSET,
					      &o), -EINVAL);
	o = (struct drm_emugpu_gem_mmap_offset){ .handle = stale };
	expect("stale handle", emugpu_ioctl(fd,
					    DRM_IOCTL_EMUGPU_GEM_MMAP_OFFSET,
					    &o), -ENOENT);
	return !failures;
}

static int test_job_release(void)
{
	struct drm_emugpu_job_release r;

	begin_case();
	r = (struct drm_emugpu_job_release){ .seqno = 1, .flags = 1 };
	expect("flags", emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_JOB_RELEASE, &r),
	       -EINVAL);
	r = (struct drm_emugpu_job_release){ .seqno = 1, .pad = 1 };
	expect("pad", emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_JOB_RELEASE, &r),
	       -EINVAL);
	expect("seqno 0", emugpu_release(fd, 0), -EINVAL);
	expect("seqno never issued", emugpu_release(fd, 1000000), -EINVAL);
	expect("an ended job", emugpu_release(fd, 1), 0);
	return !failures;
}

static int madvise_bo(uint32_t handle, uint32_t madv, uint32_t pad)
{
	struct drm_emugpu_gem_madvise m = {
		.handle = handle, .madv = madv, .pad = pad,
	};
	int ret = emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_GEM_MADVISE, &m);

	return ret ? ret : m.retained == 1 ? 0 : -EIO;
}

static int test_gem_madvise(void)
{
	begin_case();
	expect("valid", madvise_bo(bo, EMUGPU_MADV_WILLNEED, 0), 0);
	expect("madv", madvise_bo(bo, EMUGPU_MADV_DONTNEED + 1, 0), -EINVAL);
	expect("madv ~0", madvise_bo(bo, ~0u, 0), -EINVAL);
	expect("pad", madvise_bo(bo, EMUGPU_MADV_DONTNEED, 1), -EINVAL);
	expect("a user pointer", madvise_bo(up, EMUGPU_MADV_DONTNEED, 0),
	       -EINVAL);
	expect("stale handle", madvise_bo(stale, EMUGPU_MADV_DONTNEED, 0),
	       -ENOENT);
	expect("another file's handle",
	       madvise_bo(foreign, EMUGPU_MADV_DONTNEED, 0), -ENOENT);
	expect("still WILLNEED", madvise_bo(bo, EMUGPU_MADV_WILLNEED, 0), 0);
	return !failures && CHECK(emugpu_stat("purgeable_bytes") == 0);
}

/*
 * fail-nth: make the Nth fault-injectable allocation of this thread fail.
 * Reading the file back gives 0 if the failure was injected.
 */
static int fail_nth_fd = -1;

static int fail_nth_set(unsigned int n)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", n);
	return pwrite(fail_nth_fd, buf, strlen(buf), 0) > 0 ? 0 : -errno;
}

static int fail_nth_injected(void)
{
	char buf[16] = "";

	if (pread(fail_nth_fd, buf, sizeof(buf) - 1, 0) <= 0)
		return 0;
	fail_nth_set(0);
	return atoi(buf) == 0;
}

static int op_gem_create(void)
{
	struct drm_emugpu_gem_create c = { .size = SZ };

	return gem_create(c);
}

static int op_gem_create_vram(void)
{
	struct drm_emugpu_gem_create c = {
		.size = SZ, .flags = EMUGPU_GEM_CREATE_VRAM,
	};

	return gem_create(c);
}

static int op_userptr(void)
{
	return userptr(mem, SZ, 0);
}

/*
 * Unbinds, and if that failed for the one allocation fail-nth fails,
 * again, so that nothing stays bound; returns the first answer.
 */
static int unbind_twice(uint64_t va, uint64_t size)
{
	int ret = emugpu_unbind(fd, va, size);

	if (ret == -ENOMEM)
		CHECK(!emugpu_unbind(fd, va, size));
	return ret;
}

/* Binds and unbinds: both allocate. */
static int op_bind(void)
{
	struct drm_emugpu_vm_bind b = { .handle = bo, .va = 0x4000000,
					.size = SZ };
	int ret = emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_VM_BIND, &b);

	return ret ? ret : unbind_twice(b.va, b.size);
}

/* One VM_OPS call: map, split, unmap; on failure nothing stays. */
static int op_vm_ops(void)
{
	const struct drm_emugpu_vm_op ops[3] = {
		{ .op = EMUGPU_VM_OP_MAP, .handle = bo, .va = 0x4000000,
		  .size = SZ },
		{ .op = EMUGPU_VM_OP_UNMAP, .va = 0x4000000 + PAGE,
		  .size = PAGE },
		{ .op = EMUGPU_VM_OP_UNMAP, .va = 0x4000000, .size = SZ },
	};

	return emugpu_vm_ops(fd, ops, 3);
}

/* Unbinding the middle of a mapping splits it: two new mappings. */
static int op_unbind_split(void)
{
	struct drm_emugpu_vm_bind b = { .handle = bo, .va = 0x4000000,
					.size = SZ };
	int ret = emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_VM_BIND, &b);

	if (ret)
		return ret;
	ret = emugpu_unbind(fd, b.va + PAGE, PAGE);
	/* Whatever happened, nothing stays bound. */
	return unbind_twice(b.va, b.size) ?: ret;
}

static int op_submit(void)
{
	struct drm_emugpu_cmd c[2] = {
		emugpu_cmd(EMUGPU_OP_FILL, VA_U, 0, SZ, 9),
		emugpu_cmd(EMUGPU_OP_COPY, VA, VA_U, SZ, 0),
	};
	uint64_t seqno;
	int ret = emugpu_submit(fd, c, 2, &seqno);

	return ret ? ret : emugpu_wait(fd, seqno, INT64_MAX);
}

/* A job whose fence goes to a timeline syncobj: the chain link too. */
static int op_submit_timeline(void)
{
	static uint32_t timeline;
	static uint64_t point;
	struct drm_emugpu_cmd c = emugpu_cmd(EMUGPU_OP_FILL, VA, 0, SZ, 3);
	struct drm_syncobj_create create = {};
	struct drm_emugpu_submit s = {
		.cmds = (uintptr_t)&c, .count = 1,
	};
	int ret;

	if (!timeline) {
		ret = emugpu_ioctl(fd, DRM_IOCTL_SYNCOBJ_CREATE, &create);
		if (ret)
			return ret;
		timeline = create.handle;
	}
	s.out_syncobj = timeline;
	s.out_point = ++point;
	ret = emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, &s);
	return ret ? ret : emugpu_wait(fd, s.seqno, INT64_MAX);
}

/* A job that waits for a syncobj's fence: the dependency is stored. */
static int op_submit_in_fence(void)
{
	static struct drm_syncobj_create in = {
		.flags = DRM_SYNCOBJ_CREATE_SIGNALED,
	};
	struct drm_emugpu_cmd c = emugpu_cmd(EMUGPU_OP_FILL, VA, 0, SZ, 4);
	struct drm_emugpu_submit s = { .cmds = (uintptr_t)&c, .count = 1 };
	int ret;

	if (!in.handle) {
		ret = emugpu_ioctl(fd, DRM_IOCTL_SYNCOBJ_CREATE, &in);
		if (ret)
			return ret;
	}
	s.in_syncobj = in.handle;
	ret = emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_SUBMIT, &s);
	return ret ? ret : emugpu_wait(fd, s.seqno, INT64_MAX);
}

static int test_fail_nth(void)
{
	static const struct {
		const char *name;
		int (*op)(void);
	} ops[] = {
		{ "gem_create", op_gem_create },
		{ "gem_create_vram", op_gem_create_vram },
		{ "userptr", op_userptr },
		{ "vm_bind", op_bind },
		{ "vm_unbind_split", op_unbind_split },
		{ "vm_ops", op_vm_ops },
		{ "submit", op_submit },
		{ "submit_timeline", op_submit_timeline },
		{ "submit_in_fence", op_submit_in_fence },
	};
	static const char *const knobs[][2] = {
		{ "/sys/kernel/debug/failslab/ignore-gfp-wait", "N" },
		{ "/sys/kernel/debug/failslab/verbose", "0" },
	};
	char path[64];

	begin_case();
	for (size_t i = 0; i < ARRAY_SIZE(knobs); i++)
		if (!CHECK(!write_text(knobs[i][0], knobs[i][1])))
			return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	fail_nth_fd = open(path, O_RDWR);
	if (!CHECK(fail_nth_fd >= 0))
		return 0;

	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		unsigned int n, injected = 0;
		char what[64];
		int ret = -EIO;

		expect(ops[i].name, ops[i].op(), 0);
		for (n = 1; n < 1000; n++) {
			if (!CHECK(!fail_nth_set(n)))
				break;
			ret = ops[i].op();
			if (!fail_nth_injected())
				break;
			injected++;
			snprintf(what, sizeof(what), "%s, allocation %u fails",
				 ops[i].name, n);
			/* shmem_file_setup() says -ENOSPC for no memory. */
			expect(what, ret == -ENOMEM || ret == -ENOSPC ? 0 : ret,
			       0);
		}
		diag("%s: %u allocations failed in turn", ops[i].name, injected);
		if (!injected || n == 1000) {
			diag("%s: the sweep did not run to completion",
			     ops[i].name);
			failures++;
		}
		/* The sweep ends with a call that allocated nothing new. */
		expect(ops[i].name, ret, 0);
	}
	close(fail_nth_fd);
	return !failures;
}

/*
 * A forked child shares the file, so the VM and its user pointers, but not
 * the mm: its jobs may use the shmem object, not the parent's user
 * pointers. No user pointer object can be exported as a dma-buf.
 */
static int test_foreign_process(void)
{
	struct drm_prime_handle prime = { .handle = up, .flags = DRM_CLOEXEC };
	int status;
	pid_t pid;

	begin_case();
	expect("export a user pointer",
	       emugpu_ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &prime), -EPERM);
	pid = fork();
	if (pid == 0) {
		int theirs = emugpu_run(fd, EMUGPU_OP_FILL, VA_U, 0, SZ, 1);
		int shared = emugpu_run(fd, EMUGPU_OP_FILL, VA, 0, SZ, 1);

		if (theirs != -EPERM)
			diag("child: fill of the parent's user pointer: %d, want %d",
			     theirs, -EPERM);
		if (shared)
			diag("child: fill of the shared shmem object: %d",
			     shared);
		_exit(theirs == -EPERM && !shared ? 0 : 1);
	}
	return CHECK(pid > 0) && CHECK(waitpid(pid, &status, 0) == pid) &&
	       CHECK(WIFEXITED(status) && !WEXITSTATUS(status)) && !failures;
}

static int test_still_works(void)
{
	uint64_t sum;
	unsigned char *cpu;
	struct drm_emugpu_gem_mmap_offset o = { .handle = bo };

	memset(mem, 0x61, SZ);
	if (!CHECK(emugpu_run(fd, EMUGPU_OP_CHECKSUM, VA, VA_U, SZ, 0) == 0) ||
	    !CHECK(!emugpu_ioctl(fd, DRM_IOCTL_EMUGPU_GEM_MMAP_OFFSET, &o)))
		return 0;
	cpu = mmap(NULL, SZ, PROT_READ, MAP_SHARED, fd, o.offset);
	if (!CHECK(cpu != MAP_FAILED))
		return 0;
	memcpy(&sum, cpu, 8);
	munmap(cpu, SZ);
	return CHECK(sum == fnv1a(mem, SZ)) && CHECK(!close(fd)) &&
	       CHECK(!close(other_fd)) && CHECK(emugpu_idle());
}

static const struct ktap_case tests[] = {
	{ "setup", test_setup },
	{ "generic", test_generic },
	{ "gem_create", test_gem_create },
	{ "userptr", test_userptr },
	{ "userptr_pfnmap", test_userptr_pfnmap },
	{ "userptr_secretmem", test_userptr_secretmem },
	{ "vm_bind", test_vm_bind },
	{ "vm_unbind", test_vm_unbind },
	{ "vm_ops", test_vm_ops },
	{ "submit", test_submit },
	{ "wait", test_wait },
	{ "wait_interrupted", test_wait_interrupted },
	{ "gem_mmap_offset", test_gem_mmap_offset },
	{ "job_release", test_job_release },
	{ "gem_madvise", test_gem_madvise },
	{ "fail_nth", test_fail_nth },
	{ "foreign_process", test_foreign_process },
	{ "still_works", test_still_works },
};

int main(int argc, char **argv)
{
	return ktap_run(tests, ARRAY_SIZE(tests), argc - 1, argv + 1);
}
