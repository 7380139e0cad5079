/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * emugpu: a DRM render-node driver for a GPU emulated on the CPU.
 *
 * Objects and the lock that protects them:
 *
 *  emugpu_device   one per system; the DRM GPU scheduler of its one
 *                  hardware queue, the engine that plays that queue (an
 *                  ordered workqueue), the counters.
 *  emugpu_file     one per open file; a scheduler entity (its queue of
 *                  jobs and its fence timeline), a VM, its live jobs and
 *                  their fences.
 *  emugpu_vm       the device address space of a file, a drm_gpuvm: its
 *                  mappings by device address under vm->lock (VM
 *                  operations and submit's lookups). vm->notifier_lock is
 *                  the driver lock of Documentation/mm/hmm.rst: it protects
 *                  every device page-table entry of user pointers, each
 *                  user pointer's list of mappings, and which job the
 *                  engine runs for this VM. Two locks, as
 *                  Documentation/gpu/drm-vm-bind-locking.rst has them, so
 *                  that a VM operation never makes the OOM reaper's
 *                  trylock fail. Order: vm->lock, then vm->notifier_lock;
 *                  reclaim takes vm->notifier_lock, so nothing allocates
 *                  under it.
 *  emugpu_mapping  an object bound at a device address, a drm_gpuva, with
 *                  its slice of the device page table (one struct page *
 *                  per page).
 *  emugpu_userptr  a GEM object mirroring process memory through an mmu
 *                  interval notifier; never pinned.
 *  emugpu_job      commands over device addresses: a drm_sched_job, whose
 *                  finished fence is the one users and the notifier see.
 *
 * See docs/emugpu.md in the oomgpu project for the design.
 */
#ifndef _EMUGPU_DRV_H_
#define _EMUGPU_DRV_H_

#include <linux/atomic.h>
#include <linux/dma-fence.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <drm/drm_device.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/drm_gpuvm.h>
#include <drm/gpu_scheduler.h>

struct dentry;
struct dmem_cgroup_region;
struct drm_emugpu_cmd;
struct faux_device;

/* Attempts to fault a job's user pages before it fails with -EAGAIN. */
#define EMUGPU_FAULT_RETRIES	16
/* Pages faulted per hmm_range_fault() call; the pfn buffer is per job. */
#define EMUGPU_FAULT_CHUNK	64

/*
 * Counters, shown in debugfs. The live ones (objects, bytes, jobs,
 * mappings) return to zero when every file is closed; the tests check it.
 */
struct emugpu_stats {
	atomic_t objects;		/* live GEM and user pointer objects */
	atomic64_t shmem_bytes;		/* device memory: live shmem objects */
	atomic_t userptrs;		/* live user pointer objects */
	atomic_t mappings;		/* live VM mappings */
	atomic_t jobs;			/* jobs submitted and not freed */
	atomic64_t inval_blockable;
	atomic64_t inval_nonblock;
	atomic64_t inval_refused;	/* non-blockable, and refused */
	atomic64_t inval_waited;	/* blockable, waited for a running job */
	atomic64_t oom_cancels;		/* jobs cancelled for an OOM victim */
	atomic64_t exit_cancels;	/* jobs cancelled because the mm exits */
	atomic64_t faults;		/* hmm_range_fault() calls */
	atomic64_t refaults;		/* faults of pages a notifier zapped */
	atomic64_t jobs_done;
	atomic64_t jobs_failed;		/* fence signalled with an error */
	atomic64_t jobs_timedout;
	atomic_long_t pinned_pages;	/* live: user pages pinned (policy pin) */
	atomic_t fences;		/* live job fences, kept or not */
	atomic64_t purged;		/* objects the shrinker purged */
	atomic64_t purged_bytes;
	atomic64_t purge_busy;		/* purgeable, but a job used it */
	atomic64_t vram_bytes;		/* live: the VRAM pool in use */
};

struct emugpu_device {
	struct drm_device drm;
	struct faux_device *fdev;

	/*
	 * The one hardware queue: the scheduler hands it one job at a time
	 * (credit limit 1), and the engine, an ordered workqueue, runs it.
	 */
	struct drm_gpu_scheduler sched;
	struct workqueue_struct *engine;
	/*
	 * What a job's end releases (mappings, objects, the VM): their last
	 * reference may remove a notifier or take a resv, which waits for
	 * memory management, so never on the scheduler's queues.
	 */
	struct workqueue_struct *cleanup;
	/* Woken when a job is cancelled, released or timed out. */
	wait_queue_head_t engine_wait;
	/*
	 * The hardware fences, one timeline: numbered when the scheduler
	 * hands a job to the engine (only the scheduler's ordered submit
	 * queue does), so they signal in order. A fence may outlive its file
	 * (a finished fence holds its hardware fence), so not the file's.
	 */
	spinlock_t fence_lock;
	u64 fence_context;
	u64 fence_seqno;

	/* Open files, for debugfs. */
	struct mutex files_lock;
	struct list_head files;

	/*
	 * Objects marked EMUGPU_MADV_DONTNEED that have pages, for the
	 * shrinker (emugpu_shrinker.c).
	 */
	struct drm_gem_lru purgeable;
	struct shrinker *shrinker;

	/* Emulated VRAM (emugpu_vram.c): its size, its dmem cgroup region. */
	u64 vram_size;
	struct dmem_cgroup_region *vram_region;

	struct emugpu_stats stats;
	struct dentry *debugfs;
};

struct emugpu_vm {
	/* The mappings, and the VM's reference count */
	struct drm_gpuvm gpuvm;
	struct emugpu_device *edev;
	/* Of the mappings; see the comment at the top. */
	struct mutex lock;
	/* The device page table and the running job. */
	struct mutex notifier_lock;
	/*
	 * Published jobs not yet ended, in submission order: their pages
	 * are in use. The one the engine runs, or NULL.
	 */
	struct list_head jobs;
	struct emugpu_job *active_job;
	/* Jobs published so far: each job's vm_seq is its number */
	u64 published;
};

struct emugpu_file {
	struct emugpu_device *edev;
	struct emugpu_vm *vm;
	struct list_head link;		/* in edev->files */

	/*
	 * The file's queue: its jobs run in the order they were pushed, and
	 * their finished fences are the entity's timeline, numbered by the
	 * seqno the user gets (from 1, never reused).
	 */
	struct drm_sched_entity entity;
	/*
	 * The last EMUGPU_FILE_FENCES finished fences are kept, at seqno %
	 * EMUGPU_FILE_FENCES, for WAIT: older ones are dropped, and a SUBMIT
	 * that would drop an unsignalled one fails with -EBUSY. Under
	 * fences_lock, the lock drm_sched_job_arm() and
	 * drm_sched_entity_push_job() need around them.
	 */
	spinlock_t fences_lock;
	u64 last_seqno;
	struct dma_fence **fences;
	/* Jobs not yet ended, for JOB_RELEASE and for release. */
	spinlock_t jobs_lock;
	struct list_head jobs;
	/* Jobs not yet freed: they use the VM; release waits for them. */
	atomic_t unfreed_jobs;
	/* How long the engine ran this file's jobs, for fdinfo. */
	atomic64_t engine_ns;
};

/*
 * A buffer object: shmem, its pages the device's own memory. The pages
 * stay (they are not pinned) until the object is freed or, marked
 * EMUGPU_MADV_DONTNEED and idle, purged by the shrinker.
 */
struct emugpu_bo {
	struct drm_gem_shmem_object base;
	/* Its mappings (emugpu_mapping.bo_link), under the object's resv. */
	struct list_head mappings;
};

static inline struct emugpu_bo *to_emugpu_bo(struct drm_gem_object *obj)
{
	return container_of(to_drm_gem_shmem_obj(obj), struct emugpu_bo, base);
}

struct emugpu_mapping {
	/* Its device addresses; in the VM's tree while bound (vm->lock) */
	struct drm_gpuva va;
	struct kref ref;
	struct emugpu_vm *vm;		/* holds a reference */
	struct drm_gem_object *obj;	/* holds a reference */
	pgoff_t obj_pgoff;		/* first object page mapped */
	unsigned long npages;
	bool zapped;			/* a notifier cleared some entries */
	struct list_head userptr_link;	/* in userptr->mappings */
	struct list_head bo_link;	/* in emugpu_bo.mappings */
	/*
	 * The device page table of this mapping: a buffer object's pages
	 * are filled in at bind time and cleared when the shrinker purges
	 * it; user pointer entries are NULL until faulted and cleared again
	 * by the notifier. Under vm->notifier_lock.
	 */
	struct page **pte;
};

struct emugpu_userptr {
	struct drm_gem_object base;
	struct emugpu_vm *vm;		/* its notifier_lock: our mappings */
	struct mmu_interval_notifier notifier;
	unsigned long addr;
	bool read_only;
	struct list_head mappings;	/* under vm->notifier_lock */
	/*
	 * Blockable invalidations waiting for jobs before they
	 * clear our entries (under vm->notifier_lock): until they have, the
	 * entries are stale, and no other job may start on them.
	 */
	unsigned int invalidating;
	/*
	 * Policy pin (fixed when the object is created): every page of the
	 * object pinned, or NULL; the notifier sequence they were pinned at.
	 * Under vm->notifier_lock.
	 */
	bool pin;
	struct page **pages;
	unsigned long pin_seq;
};

enum emugpu_job_state {
	EMUGPU_JOB_QUEUED,
	EMUGPU_JOB_RUNNING,
	EMUGPU_JOB_DONE,
};

/* job->flags */
#define EMUGPU_JOB_CANCEL	0	/* end as soon as possible */
#define EMUGPU_JOB_RELEASE	1	/* end the SPIN command */
#define EMUGPU_JOB_TIMEDOUT	2	/* the scheduler's timeout: end */
#define EMUGPU_JOB_HW_FENCE	3	/* hw_fence is initialised */

/* Pages [first, last] of a mapping that a command reads or writes. */
struct emugpu_use {
	struct emugpu_mapping *map;	/* holds a reference */
	unsigned long first;
	unsigned long last;
	bool write;
};

struct emugpu_cmd {
	u32 op;
	u64 size;
	u64 value;
	u64 dst_off;			/* byte offset into uses[dst] */
	u64 src_off;
	int dst;			/* index into job->uses, or -1 */
	int src;
};

struct emugpu_job {
	struct drm_sched_job base;
	struct work_struct work;	/* on the engine */
	struct work_struct free_work;	/* on edev->cleanup, from free_job */
	struct emugpu_file *efile;
	struct emugpu_vm *vm;		/* holds a reference */
	struct list_head link;		/* in efile->jobs */
	struct list_head vm_link;	/* in vm->jobs, while published */
	/* The scheduler's finished fence, once armed; holds a reference */
	struct dma_fence *fence;
	/* What the engine signals; the scheduler's "parent" fence */
	struct dma_fence *hw_fence;
	u64 seqno;			/* what the user waits for */
	u64 vm_seq;			/* its place in vm->jobs */
	/* enum emugpu_job_state; written under vm->notifier_lock once queued */
	int state;
	unsigned long flags;
	u64 started_ns;			/* ktime, when it started; or 0 */
	unsigned long *pfns;		/* EMUGPU_FAULT_CHUNK entries, for SUBMIT */
	unsigned int ncmds;
	unsigned int nuses;
	struct emugpu_cmd *cmds;
	struct emugpu_use uses[];
};

static inline struct emugpu_device *to_emugpu(struct drm_device *drm)
{
	return container_of(drm, struct emugpu_device, drm);
}

static inline struct emugpu_mapping *to_emugpu_mapping(struct drm_gpuva *va)
{
	return container_of(va, struct emugpu_mapping, va);
}

static inline struct emugpu_userptr *to_userptr(struct drm_gem_object *obj)
{
	return container_of(obj, struct emugpu_userptr, base);
}

extern unsigned int emugpu_job_timeout_ms;

/*
 * How the user pointer notifier answers a non-blockable invalidation (the
 * OOM reaper's), to measure the OOM reaper against drivers that answer
 * the way real ones do. Blockable invalidations wait for the jobs on the
 * range in all but pin, and xe and xe-kick for every job of the VM.
 */
enum emugpu_notifier_policy {
	/* Refuse only pages a published job uses; withdraw a victim's jobs */
	EMUGPU_POLICY_PRECISE,
	/* As precise, without the cancel */
	EMUGPU_POLICY_NOCANCEL,
	/*
	 * Refuse every one, busy or idle, without looking: xe userptrs,
	 * drm_gpusvm, amdgpu and radeon in Linux 7.3
	 */
	EMUGPU_POLICY_XE,
	/*
	 * As xe, but first kick (cancel) an OOM victim's jobs on the range:
	 * a driver-side improvement to measure, not what xe does in 7.3
	 */
	EMUGPU_POLICY_XE_KICK,
	/*
	 * Pin a user pointer's pages while it lives and always agree, as i915
	 * does; applies to user pointers created while it is set
	 */
	EMUGPU_POLICY_PIN,
};

extern int emugpu_notifier_policy;

/*
 * The most a job may run, in ms: the scheduler's job timeout, fixed when
 * the module loads. A SPIN ends when userspace says so, so its fence is
 * one that userspace controls: cap it as vgem caps its fences (10 s),
 * whatever the parameter says, so that no dma_fence stays unsignalled for
 * long.
 */
#define EMUGPU_JOB_TIMEOUT_MAX_MS	10000U

/* The job timeout in ms: the module parameter, within the cap. */
static inline unsigned int emugpu_job_timeout(void)
{
	return clamp(READ_ONCE(emugpu_job_timeout_ms), 1U,
		     EMUGPU_JOB_TIMEOUT_MAX_MS);
}

/* emugpu_gem.c */
bool emugpu_is_userptr(const struct drm_gem_object *obj);
int emugpu_gem_create_ioctl(struct drm_device *drm, void *data,
			    struct drm_file *file);
int emugpu_gem_mmap_offset_ioctl(struct drm_device *drm, void *data,
				 struct drm_file *file);
struct drm_gem_object *emugpu_gem_create_object(struct drm_device *drm,
						size_t size);

/* emugpu_vram.c */
bool emugpu_is_vram(const struct drm_gem_object *obj);
struct page *emugpu_vram_page(struct drm_gem_object *obj, pgoff_t i);
struct drm_gem_object *emugpu_vram_create(struct drm_device *drm, u64 size);
int emugpu_vram_init(struct emugpu_device *edev);

/* emugpu_shrinker.c */
int emugpu_gem_madvise_ioctl(struct drm_device *drm, void *data,
			     struct drm_file *file);
void emugpu_bo_update_lru(struct emugpu_bo *bo);
int emugpu_shrinker_init(struct emugpu_device *edev);
void emugpu_shrinker_fini(struct emugpu_device *edev);

/* emugpu_userptr.c */
extern const struct mmu_interval_notifier_ops emugpu_userptr_notifier_ops;
extern const struct drm_gem_object_funcs emugpu_userptr_funcs;
bool emugpu_pte_valid(const struct emugpu_mapping *map, unsigned long i);
int emugpu_userptr_ioctl(struct drm_device *drm, void *data,
			 struct drm_file *file);
int emugpu_userptr_fault(struct emugpu_job *job, struct emugpu_use *use);
void emugpu_userptr_dirty_use(const struct emugpu_use *use);
bool emugpu_use_overlaps(const struct emugpu_use *use,
			 const struct emugpu_userptr *up,
			 unsigned long start, unsigned long end);
bool emugpu_pte_span(const struct emugpu_mapping *map,
		     const struct emugpu_userptr *up,
		     unsigned long start, unsigned long end,
		     unsigned long *first, unsigned long *last);

/* emugpu_vm.c */
struct emugpu_vm *emugpu_vm_create(struct emugpu_device *edev);
void emugpu_vm_get(struct emugpu_vm *vm);
void emugpu_vm_put(struct emugpu_vm *vm);
void emugpu_vm_notifier_lock_init(struct mutex *lock);
void emugpu_vm_teardown(struct emugpu_vm *vm);
struct emugpu_mapping *emugpu_vm_find(struct emugpu_vm *vm, u64 va,
				      u64 size);
void emugpu_mapping_put(struct emugpu_mapping *map);
int emugpu_vm_bind_ioctl(struct drm_device *drm, void *data,
			 struct drm_file *file);
int emugpu_vm_unbind_ioctl(struct drm_device *drm, void *data,
			   struct drm_file *file);
int emugpu_vm_ops_ioctl(struct drm_device *drm, void *data,
			struct drm_file *file);

/* emugpu_job.c */
int emugpu_engine_init(struct emugpu_device *edev);
void emugpu_engine_fini(struct emugpu_device *edev);
int emugpu_cmd_check(const struct drm_emugpu_cmd *cmd);
int emugpu_submit_ioctl(struct drm_device *drm, void *data,
			struct drm_file *file);
int emugpu_wait_ioctl(struct drm_device *drm, void *data,
		      struct drm_file *file);
int emugpu_job_release_ioctl(struct drm_device *drm, void *data,
			     struct drm_file *file);
void emugpu_job_cancel(struct emugpu_job *job);
bool emugpu_job_withdraw(struct emugpu_job *job);
bool emugpu_vm_has_job(struct emugpu_vm *vm, const struct emugpu_job *job,
		       const struct dma_fence *fence);
bool emugpu_job_uses(const struct emugpu_job *job,
		     const struct emugpu_userptr *up,
		     unsigned long start, unsigned long end);
struct emugpu_job *emugpu_vm_busy_job(struct emugpu_vm *vm,
				      const struct emugpu_userptr *up,
				      unsigned long start, unsigned long end);
int emugpu_file_jobs_init(struct emugpu_file *efile);
void emugpu_file_jobs_fini(struct emugpu_file *efile);

/* emugpu_fdinfo.c */
struct drm_printer;
void emugpu_show_fdinfo(struct drm_printer *p, struct drm_file *file);

/* emugpu_debugfs.c */
void emugpu_debugfs_init(struct emugpu_device *edev);
void emugpu_debugfs_fini(struct emugpu_device *edev);

#endif /* _EMUGPU_DRV_H_ */
