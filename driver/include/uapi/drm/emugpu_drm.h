/* SPDX-License-Identifier: MIT */
/*
 * emugpu: a DRM render-node driver for a software-emulated GPU.
 *
 * The device has one engine that runs jobs: lists of commands over device
 * virtual addresses. Addresses are bound, per open file, to GEM buffer
 * objects (shmem) or to user pointer objects that mirror process memory
 * through an mmu interval notifier. Each job has a fence; a job's sequence
 * number is what DRM_IOCTL_EMUGPU_WAIT waits for.
 *
 * Every struct has fixed-size fields and explicit padding. Padding,
 * reserved fields and unknown flag bits must be zero (-EINVAL otherwise),
 * so they can be given a meaning later.
 */
#ifndef _UAPI_EMUGPU_DRM_H_
#define _UAPI_EMUGPU_DRM_H_

#include "drm.h"

#if defined(__cplusplus)
extern "C" {
#endif

#define DRM_EMUGPU_GEM_CREATE		0x00
#define DRM_EMUGPU_USERPTR		0x01
#define DRM_EMUGPU_VM_BIND		0x02
#define DRM_EMUGPU_VM_UNBIND		0x03
#define DRM_EMUGPU_SUBMIT		0x04
#define DRM_EMUGPU_WAIT			0x05
#define DRM_EMUGPU_GEM_MMAP_OFFSET	0x06
#define DRM_EMUGPU_JOB_RELEASE		0x07
#define DRM_EMUGPU_GEM_MADVISE		0x08
#define DRM_EMUGPU_VM_OPS		0x09

/* Device pages are CPU pages: the driver needs 4 KiB pages (Kconfig). */
#define EMUGPU_PAGE_SIZE		4096ULL
/* Device virtual addresses: [EMUGPU_VA_START, EMUGPU_VA_END) */
#define EMUGPU_VA_START			0x100000ULL
#define EMUGPU_VA_END			0x10000000000ULL	/* 1 TiB */
/* Largest object, and most commands in one job */
#define EMUGPU_MAX_OBJECT_SIZE		0x100000000ULL	/* 4 GiB */
#define EMUGPU_MAX_CMDS			64
/* Operations in one DRM_IOCTL_EMUGPU_VM_OPS */
#define EMUGPU_MAX_VM_OPS		64
/*
 * A file keeps the status of its last EMUGPU_FILE_FENCES jobs for WAIT,
 * and has at most that many jobs not yet done.
 */
#define EMUGPU_FILE_FENCES		1024

/**
 * struct drm_emugpu_gem_create - create a buffer object
 * @size: bytes, a non-zero multiple of EMUGPU_PAGE_SIZE, at most
 *	EMUGPU_MAX_OBJECT_SIZE
 * @flags: 0 for system memory (shmem, charged to the memory cgroup of the
 *	task that first touches its pages), or EMUGPU_GEM_CREATE_VRAM for
 *	the device's own memory: a pool of emugpu.vram_mb MiB, charged to
 *	the dmem cgroup controller (region "drm/emugpu/vram"); not
 *	CPU-visible (no mmap offset), not purgeable, not exportable
 * @handle: out: the new object's handle
 * @pad: must be 0
 *
 * Errors: -EINVAL (size, flags, pad), -ENOMEM or -ENOSPC (no memory for
 * the object or its shmem file; for VRAM: the pool is full, or the
 * cgroup's dmem.max would be exceeded).
 */
#define EMUGPU_GEM_CREATE_VRAM		0x1u
#define EMUGPU_GEM_CREATE_FLAGS		EMUGPU_GEM_CREATE_VRAM

struct drm_emugpu_gem_create {
	__u64 size;
	__u32 flags;
	__u32 handle;
	__u32 pad;
	__u32 pad2;
};

#define EMUGPU_USERPTR_READ_ONLY	0x1u
#define EMUGPU_USERPTR_FLAGS		EMUGPU_USERPTR_READ_ONLY

/**
 * struct drm_emugpu_userptr - mirror process memory as an object
 * @addr: start, page aligned
 * @size: bytes, a non-zero multiple of EMUGPU_PAGE_SIZE, at most
 *	EMUGPU_MAX_OBJECT_SIZE; @addr + @size must not wrap
 * @flags: EMUGPU_USERPTR_READ_ONLY: the device only reads it
 * @handle: out: the new object's handle
 *
 * Nothing is pinned: the driver watches the range with an mmu interval
 * notifier and faults pages in with hmm_range_fault() before a job uses
 * them. The range must be mapped, readable, and writable unless
 * READ_ONLY; VM_IO and VM_PFNMAP mappings and secret memory
 * (memfd_secret(2)) are refused, and a job fails with -EFAULT if secret
 * memory has been mapped in the range since.
 *
 * User pointer objects cannot be exported (DRM_IOCTL_PRIME_HANDLE_TO_FD
 * fails with -EPERM), and only the process that created one may submit
 * jobs that use it.
 *
 * Errors: -EINVAL (alignment, size, wrap, flags), -EFAULT (the range is
 * not mapped, or not with the access asked for), -ENOMEM.
 */
struct drm_emugpu_userptr {
	__u64 addr;
	__u64 size;
	__u32 flags;
	__u32 handle;
};

/**
 * struct drm_emugpu_vm_bind - map an object at a device address
 * @handle: object to map
 * @flags: must be 0
 * @offset: page-aligned offset into the object
 * @va: page-aligned device address, in [EMUGPU_VA_START, EMUGPU_VA_END)
 * @size: bytes, page-aligned, non-zero, within the object and the VA space
 *
 * Errors: -ENOENT (handle), -EINVAL (alignment, range, flags, a user
 * pointer object another file created), -EBUSY (overlaps an existing
 * mapping), -EFAULT (a purged object, see DRM_IOCTL_EMUGPU_GEM_MADVISE),
 * -ENOMEM.
 */
struct drm_emugpu_vm_bind {
	__u32 handle;
	__u32 flags;
	__u64 offset;
	__u64 va;
	__u64 size;
};

/**
 * struct drm_emugpu_vm_unbind - unmap [@va, @va + @size)
 * @va: page-aligned device address, in [EMUGPU_VA_START, EMUGPU_VA_END)
 * @size: bytes, page-aligned, non-zero, within the VA space
 * @flags: must be 0
 * @pad: must be 0
 *
 * Every mapping inside the range goes; a mapping that crosses an end of
 * the range is split, and its part outside stays bound with its pages.
 * The address range is free again at once; jobs already submitted keep
 * the mappings they use until they end. Errors: -EINVAL (alignment, the
 * range, flags, pad, nothing mapped in the range), -ENOMEM (nothing
 * changed).
 */
struct drm_emugpu_vm_unbind {
	__u64 va;
	__u64 size;
	__u32 flags;
	__u32 pad;
};

enum drm_emugpu_vm_op_kind {
	/* As DRM_IOCTL_EMUGPU_VM_BIND: @handle, @offset, @va, @size */
	EMUGPU_VM_OP_MAP = 1,
	/* As DRM_IOCTL_EMUGPU_VM_UNBIND: @va, @size; @handle, @offset 0 */
	EMUGPU_VM_OP_UNMAP = 2,
};

/**
 * struct drm_emugpu_vm_op - one operation of DRM_IOCTL_EMUGPU_VM_OPS
 * @op: enum drm_emugpu_vm_op_kind
 * @handle: the object to map (MAP); must be 0 for UNMAP
 * @offset: page-aligned offset into the object (MAP); must be 0 for UNMAP
 * @va: page-aligned device address, in [EMUGPU_VA_START, EMUGPU_VA_END)
 * @size: bytes, page-aligned, non-zero, within the VA space (and for MAP
 *	the object)
 */
struct drm_emugpu_vm_op {
	__u32 op;
	__u32 handle;
	__u64 offset;
	__u64 va;
	__u64 size;
};

/**
 * struct drm_emugpu_vm_ops - map and unmap, all or nothing
 * @ops: user pointer to an array of struct drm_emugpu_vm_op
 * @count: number of operations, 1 to EMUGPU_MAX_VM_OPS
 * @flags: must be 0
 *
 * The operations apply in order, each to the VM the ones before it left:
 * an UNMAP may split mappings (see DRM_IOCTL_EMUGPU_VM_UNBIND) and a MAP
 * may then use the address range it freed. If one fails, the VM is as it
 * was before the call. Errors: those of VM_BIND and VM_UNBIND for the
 * first operation that fails; -EINVAL also for @count, @flags, an unknown
 * @op, or a non-zero @handle or @offset in an UNMAP; -EFAULT (@ops).
 */
struct drm_emugpu_vm_ops {
	__u64 ops;
	__u32 count;
	__u32 flags;
};

enum drm_emugpu_op {
	/* Write @value (its low byte repeated) over [dst, dst + size) */
	EMUGPU_OP_FILL = 1,
	/* Copy [src, src + size) to [dst, dst + size); may not overlap */
	EMUGPU_OP_COPY = 2,
	/* Write the 64-bit FNV-1a hash of [src, src + size) at dst */
	EMUGPU_OP_CHECKSUM = 3,
	/*
	 * Hold [src, src + size) busy, as a long-running shader would: the
	 * job ends when DRM_IOCTL_EMUGPU_JOB_RELEASE releases it, after
	 * @value nanoseconds (0: only on release), or when it is cancelled.
	 */
	EMUGPU_OP_SPIN = 4,
};

/**
 * struct drm_emugpu_cmd - one command of a job
 * @op: enum drm_emugpu_op
 * @pad: must be 0
 * @dst: destination device address (FILL, COPY, CHECKSUM: 8-byte
 *	aligned); must be 0 for SPIN
 * @src: source device address (COPY, CHECKSUM, SPIN); must be 0 for FILL
 * @size: bytes, non-zero, at most EMUGPU_MAX_OBJECT_SIZE; 8 for the
 *	CHECKSUM destination is implied
 * @value: FILL: the byte to write; SPIN: its time limit in nanoseconds;
 *	otherwise must be 0
 */
struct drm_emugpu_cmd {
	__u32 op;
	__u32 pad;
	__u64 dst;
	__u64 src;
	__u64 size;
	__u64 value;
};

/**
 * struct drm_emugpu_submit - queue a job
 * @cmds: user pointer to an array of struct drm_emugpu_cmd
 * @count: number of commands, 1 to EMUGPU_MAX_CMDS
 * @flags: must be 0
 * @seqno: out: the job's sequence number, for DRM_IOCTL_EMUGPU_WAIT
 * @out_syncobj: 0, or a syncobj of this file that gets the job's fence:
 *               the syncobj's fence is replaced, or, with @out_point, the
 *               fence is added to the timeline at that point
 * @in_syncobj: 0, or a syncobj of this file whose fence the job waits for
 *              before it starts (was a pad: 0 is none)
 * @out_point: 0 (binary syncobj), or a timeline point for @out_syncobj
 * @in_point: 0 (binary syncobj), or the timeline point of @in_syncobj
 *            to wait for
 *
 * The job's fence is that of DRM_IOCTL_EMUGPU_WAIT; with @out_syncobj it
 * can also be waited for, exported as a sync_file or imported into
 * another driver through the syncobj ioctls (DRIVER_SYNCOBJ_TIMELINE).
 * A job also waits, before it starts, for the fences in the reservation
 * objects of the buffer objects it uses (a write for all of them, a read
 * for writes), and adds its own. Jobs of one file start in the order
 * they were submitted.
 *
 * Every address range a command names must lie within one mapping when
 * the job is submitted; the job keeps those mappings until it ends. User
 * pages are faulted in here, in the calling process, before the job is
 * queued; from then until the job ends, a change of them (munmap,
 * mprotect, madvise, reclaim) waits for the job. Errors: -EINVAL (count, flags, an unknown op, a
 * non-zero pad, a range that is not bound, spans two mappings or wraps,
 * a write to a read-only user pointer, a value or field the op does not
 * take, overlapping COPY ranges, an unaligned CHECKSUM destination),
 * -ENOENT (@out_syncobj or @in_syncobj is not a syncobj of this file),
 * -EPERM (a user pointer object of another process: after fork() or
 * SCM_RIGHTS only its creator may use it), -EBUSY (EMUGPU_FILE_FENCES
 * jobs of this file are not done yet), -EFAULT (@cmds; or user memory a
 * command uses is not mapped, not writable for a write, or secret; a
 * buffer object marked DONTNEED or purged),
 * -EAGAIN (that memory kept changing while it was faulted in), -EINTR
 * (fatal signal while faulting), -ENOMEM; -EINVAL also for an
 * @out_point without @out_syncobj, an @in_point without @in_syncobj, or an
 * @in_syncobj without a fence (at @in_point).
 * Sequence numbers count from 1 per file and are never reused.
 */
struct drm_emugpu_submit {
	__u64 cmds;
	__u32 count;
	__u32 flags;
	__u64 seqno;
	__u32 out_syncobj;
	__u32 in_syncobj;
	__u64 out_point;
	__u64 in_point;
};

/**
 * struct drm_emugpu_wait - wait for a job of this file
 * @seqno: from DRM_IOCTL_EMUGPU_SUBMIT
 * @timeout_ns: relative; 0 polls; must not be negative
 * @flags: must be 0
 * @status: out: 0 if the job completed, else its negative error
 *	(-ECANCELED: cancelled: its file was closed, its process exited or
 *	 was chosen by the OOM killer; -ETIMEDOUT: it ran longer than the
 *	 job timeout, module parameter emugpu.job_timeout_ms)
 *
 * Errors: -EINVAL (seqno never issued, timeout, flags), -ENOENT (the job
 * is done and more than EMUGPU_FILE_FENCES jobs of the file came after
 * it: its status is no longer kept), -ETIME (not done within
 * @timeout_ns), -EINTR / -ERESTARTSYS (signal).
 */
struct drm_emugpu_wait {
	__u64 seqno;
	__s64 timeout_ns;
	__u32 flags;
	__s32 status;
};

/**
 * struct drm_emugpu_gem_mmap_offset - fake offset for mmap() of a GEM BO
 * @handle: a GEM object (not a user pointer object)
 * @pad: must be 0
 * @offset: out: pass to mmap() on the render node
 *
 * Errors: -ENOENT (handle), -EINVAL (pad, a user pointer object).
 */
struct drm_emugpu_gem_mmap_offset {
	__u32 handle;
	__u32 pad;
	__u64 offset;
};

/**
 * struct drm_emugpu_job_release - end the SPIN command of a running job
 * @seqno: the job
 * @flags: must be 0
 * @pad: must be 0
 *
 * Errors: -EINVAL (seqno never issued, flags, pad). Releasing a job that
 * has ended (however long ago), or has no SPIN command, does nothing.
 */
struct drm_emugpu_job_release {
	__u64 seqno;
	__u32 flags;
	__u32 pad;
};

#define EMUGPU_MADV_WILLNEED		0
#define EMUGPU_MADV_DONTNEED		1

/**
 * struct drm_emugpu_gem_madvise - may the kernel drop an object's contents
 * @handle: a buffer object in system memory (not VRAM; not a user
 *          pointer: its memory is the process's, madvise(2) it instead)
 * @madv: EMUGPU_MADV_DONTNEED: under memory pressure the kernel may drop
 *        the object's pages (purge it) once no job uses it;
 *        EMUGPU_MADV_WILLNEED: keep them again
 * @retained: out: 1 if the object still has its contents, 0 if they were
 *            purged (for good: the object then stays purged)
 * @pad: must be 0
 *
 * CPU mappings of a purged object fault SIGBUS. SUBMIT fails with -EFAULT
 * for a job that uses a purged object or one marked DONTNEED (as i915:
 * the device does not start on memory the kernel may take away); a job
 * submitted before DONTNEED keeps the object until it ends. A purged
 * object's bindings stay until unbound; VM_BIND of it fails with -EFAULT.
 *
 * Errors: -ENOENT (handle), -EINVAL (a user pointer or VRAM, madv, pad).
 */
struct drm_emugpu_gem_madvise {
	__u32 handle;
	__u32 madv;
	__u32 retained;
	__u32 pad;
};

#define DRM_IOCTL_EMUGPU_GEM_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_EMUGPU_GEM_CREATE, \
		 struct drm_emugpu_gem_create)
#define DRM_IOCTL_EMUGPU_USERPTR \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_EMUGPU_USERPTR, \
		 struct drm_emugpu_userptr)
#define DRM_IOCTL_EMUGPU_VM_BIND \
	DRM_IOW(DRM_COMMAND_BASE + DRM_EMUGPU_VM_BIND, \
		struct drm_emugpu_vm_bind)
#define DRM_IOCTL_EMUGPU_VM_UNBIND \
	DRM_IOW(DRM_COMMAND_BASE + DRM_EMUGPU_VM_UNBIND, \
		struct drm_emugpu_vm_unbind)
#define DRM_IOCTL_EMUGPU_VM_OPS \
	DRM_IOW(DRM_COMMAND_BASE + DRM_EMUGPU_VM_OPS, \
		struct drm_emugpu_vm_ops)
#define DRM_IOCTL_EMUGPU_SUBMIT \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_EMUGPU_SUBMIT, \
		 struct drm_emugpu_submit)
#define DRM_IOCTL_EMUGPU_WAIT \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_EMUGPU_WAIT, \
		 struct drm_emugpu_wait)
#define DRM_IOCTL_EMUGPU_GEM_MMAP_OFFSET \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_EMUGPU_GEM_MMAP_OFFSET, \
		 struct drm_emugpu_gem_mmap_offset)
#define DRM_IOCTL_EMUGPU_JOB_RELEASE \
	DRM_IOW(DRM_COMMAND_BASE + DRM_EMUGPU_JOB_RELEASE, \
		struct drm_emugpu_job_release)
#define DRM_IOCTL_EMUGPU_GEM_MADVISE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_EMUGPU_GEM_MADVISE, \
		struct drm_emugpu_gem_madvise)

#if defined(__cplusplus)
}
#endif

#endif /* _UAPI_EMUGPU_DRM_H_ */
