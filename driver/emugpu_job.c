// SPDX-License-Identifier: GPL-2.0-only
/*
 * emugpu engine: jobs, their fences, and the CPU that plays the GPU.
 *
 * Jobs go through the DRM GPU scheduler: each file has an entity (its
 * queue and fence timeline), and the device one scheduler for its single
 * hardware queue, with a credit limit of one, so jobs run one at a time.
 * The scheduler waits for a job's in-fences (a syncobj, the buffer
 * objects' reservations), hands it to run_job(), which queues it on the
 * engine, an ordered workqueue that plays the GPU, and times it out.
 *
 * SUBMIT faults in every user page the job uses, in the submitting
 * process (a slow or blocking mapping stalls only that process), and
 * publishes the job under vm->notifier_lock once they are all present,
 * in the same critical section as it arms and pushes it: from then on its
 * pages are "on the hardware", and the notifier waits for (blockable) or
 * refuses (not blockable) every published job that uses them. A job goes
 *
 *   QUEUED -> RUNNING -> DONE
 *
 * and nothing after publication allocates, takes mmap_lock or faults:
 * run_job() only numbers a fence and queues work, and the engine runs the
 * job inside dma_fence_begin_signalling(), because reclaim can wait for
 * any published job through the notifier; lockdep checks it. RUNNING
 * sleeps only on its own cancellation, release and timeout.
 *
 * Every job ends within the job timeout of starting to run: the
 * scheduler's timeout handler asks the engine to stop it, a cancelled or
 * timed-out job stops at its next page, and SPIN sleeps on a wait queue,
 * never spinning, so UML's time-travel mode works.
 */
#include <linux/dma-fence-chain.h>
#include <linux/dma-resv.h>
#include <linux/highmem.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait_bit.h>

#include <drm/drm_exec.h>
#include <drm/drm_syncobj.h>
#include <drm/emugpu_drm.h>

#include "emugpu_drv.h"
#include "emugpu_trace.h"

static const char *emugpu_fence_driver_name(struct dma_fence *fence)
{
	return "emugpu";
}

static const char *emugpu_fence_timeline_name(struct dma_fence *fence)
{
	return "engine";
}

/* A job's hardware fence, counted while it lives. */
struct emugpu_fence {
	struct dma_fence base;		/* first: dma_fence_free() frees it */
	struct emugpu_device *edev;
};

/* The tests check that a file keeps a bounded number of fences. */
static void emugpu_fence_release(struct dma_fence *fence)
{
	struct emugpu_fence *ef = container_of(fence, struct emugpu_fence,
					       base);

	atomic_dec(&ef->edev->stats.fences);
	dma_fence_free(fence);
}

static const struct dma_fence_ops emugpu_fence_ops = {
	.get_driver_name = emugpu_fence_driver_name,
	.get_timeline_name = emugpu_fence_timeline_name,
	.release = emugpu_fence_release,
};

static bool emugpu_range_ok(u64 va, u64 size)
{
	return size && size <= EMUGPU_MAX_OBJECT_SIZE && va <= U64_MAX - size;
}

/**
 * emugpu_cmd_check - validate one user command on its own
 * @cmd: the command as copied from user space
 *
 * Whether its addresses are bound is checked later, under vm->lock (the
 * VM's mappings).
 *
 * Return: 0 or -EINVAL.
 */
int emugpu_cmd_check(const struct drm_emugpu_cmd *cmd)
{
	if (cmd->pad)
		return -EINVAL;
	switch (cmd->op) {
	case EMUGPU_OP_FILL:
		if (cmd->src || cmd->value > 0xff ||
		    !emugpu_range_ok(cmd->dst, cmd->size))
			return -EINVAL;
		return 0;
	case EMUGPU_OP_COPY:
		if (cmd->value || !emugpu_range_ok(cmd->dst, cmd->size) ||
		    !emugpu_range_ok(cmd->src, cmd->size))
			return -EINVAL;
		/* Device addresses must not overlap. */
		if (cmd->dst < cmd->src + cmd->size &&
		    cmd->src < cmd->dst + cmd->size)
			return -EINVAL;
		return 0;
	case EMUGPU_OP_CHECKSUM:
		/* The 8-byte result never straddles a page. */
		if (cmd->value || !IS_ALIGNED(cmd->dst, sizeof(u64)) ||
		    !emugpu_range_ok(cmd->dst, sizeof(u64)) ||
		    !emugpu_range_ok(cmd->src, cmd->size))
			return -EINVAL;
		return 0;
	case EMUGPU_OP_SPIN:
		if (cmd->dst || !emugpu_range_ok(cmd->src, cmd->size))
			return -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

static struct emugpu_job *to_emugpu_job(struct drm_sched_job *sched_job)
{
	return container_of(sched_job, struct emugpu_job, base);
}

/* Does the job use user addresses [@start, @end) of @up? */
bool emugpu_job_uses(const struct emugpu_job *job,
		     const struct emugpu_userptr *up,
		     unsigned long start, unsigned long end)
{
	unsigned int i;

	for (i = 0; i < job->nuses; i++)
		if (emugpu_use_overlaps(&job->uses[i], up, start, end))
			return true;
	return false;
}

/**
 * emugpu_vm_busy_job - the first published job that uses [@start, @end)
 *	of @up
 * @vm: the VM, its notifier_lock held
 * @up: a user pointer object of @vm
 * @start: first user address
 * @end: end of the user range, exclusive
 *
 * Return: the job, or NULL. It stays published, hence alive, while the
 * lock is held.
 */
struct emugpu_job *emugpu_vm_busy_job(struct emugpu_vm *vm,
				      const struct emugpu_userptr *up,
				      unsigned long start, unsigned long end)
{
	struct emugpu_job *job;

	lockdep_assert_held(&vm->notifier_lock);
	list_for_each_entry(job, &vm->jobs, vm_link)
		if (emugpu_job_uses(job, up, start, end))
			return job;
	return NULL;
}

/*
 * Is @job, whose finished fence is @fence, still published? Under
 * vm->notifier_lock: a job leaves vm->jobs under it before it can end and
 * be freed. @fence is held by the caller, so no new job can have it.
 */
bool emugpu_vm_has_job(struct emugpu_vm *vm, const struct emugpu_job *job,
		       const struct dma_fence *fence)
{
	const struct emugpu_job *pos;

	lockdep_assert_held(&vm->notifier_lock);
	list_for_each_entry(pos, &vm->jobs, vm_link)
		if (pos == job && pos->fence == fence)
			return true;
	return false;
}

/*
 * Asks the job to end; it does at its next page or wakeup, or as soon as
 * the engine reaches it. Neither sleeps nor allocates: the notifier calls
 * it when it may not block.
 */
void emugpu_job_cancel(struct emugpu_job *job)
{
	set_bit(EMUGPU_JOB_CANCEL, &job->flags);
	wake_up_all(&job->vm->edev->engine_wait);
}

/*
 * Cancels a published job and, if the engine has not started it,
 * unpublishes it at once: emugpu_job_start() checks the cancel bit under
 * vm->notifier_lock before it touches a page, so the job never uses its
 * pages and no notifier need wait or refuse for it. Only a running job
 * still holds them, until its next page or wakeup. Returns false if it
 * unpublished the job, true if the job is running (still published) or
 * has ended (already gone from vm->jobs). Under vm->notifier_lock;
 * neither sleeps nor allocates.
 */
bool emugpu_job_withdraw(struct emugpu_job *job)
{
	lockdep_assert_held(&job->vm->notifier_lock);
	emugpu_job_cancel(job);
	if (job->state != EMUGPU_JOB_QUEUED)
		return true;
	list_del_init(&job->vm_link);
	return false;
}

/*
 * Records the pages a command uses; returns the use's index, -EINVAL, or
 * -EPERM for a user pointer of another process: the file may have been
 * inherited by fork() or passed with SCM_RIGHTS, and that process's jobs
 * must not hold up the creator's munmap() (amdgpu refuses the same).
 */
static int emugpu_job_add_use(struct emugpu_job *job, u64 va, u64 size,
			      bool write, u64 *offset)
{
	struct emugpu_use *use = &job->uses[job->nuses];
	struct emugpu_mapping *map;

	map = emugpu_vm_find(job->vm, va, size);
	if (!map)
		return -EINVAL;
	if (emugpu_is_userptr(map->obj) &&
	    to_userptr(map->obj)->notifier.mm != current->mm)
		return -EPERM;
	if (write && emugpu_is_userptr(map->obj) &&
	    to_userptr(map->obj)->read_only)
		return -EINVAL;
	*offset = va - map->va.va.addr;
	kref_get(&map->ref);
	use->map = map;
	use->first = *offset >> PAGE_SHIFT;
	use->last = (*offset + size - 1) >> PAGE_SHIFT;
	use->write = write;
	return job->nuses++;
}

static int emugpu_job_add_cmd(struct emugpu_job *job,
			      const struct drm_emugpu_cmd *ucmd)
{
	struct emugpu_cmd *cmd = &job->cmds[job->ncmds];
	bool has_src = ucmd->op != EMUGPU_OP_FILL;
	bool has_dst = ucmd->op != EMUGPU_OP_SPIN;
	u64 dst_size = ucmd->op == EMUGPU_OP_CHECKSUM ? sizeof(u64) :
			ucmd->size;

	cmd->op = ucmd->op;
	cmd->size = ucmd->size;
	cmd->value = ucmd->value;
	cmd->dst = -1;
	cmd->src = -1;
	if (has_dst) {
		cmd->dst = emugpu_job_add_use(job, ucmd->dst, dst_size, true,
					      &cmd->dst_off);
		if (cmd->dst < 0)
			return cmd->dst;
	}
	if (has_src) {
		cmd->src = emugpu_job_add_use(job, ucmd->src, ucmd->size,
					      false, &cmd->src_off);
		if (cmd->src < 0)
			return cmd->src;
	}
	job->ncmds++;
	return 0;
}

/*
 * After the job's finished fence has signalled (from edev->cleanup), or
 * when SUBMIT fails before it armed the job. May sleep, take resvs and
 * remove notifiers: never in a signalling section.
 */
static void emugpu_job_free(struct emugpu_job *job)
{
	struct emugpu_device *edev = job->vm->edev;
	struct emugpu_file *efile = job->efile;
	unsigned int i;

	/* A job the scheduler killed never reached the engine's end. */
	spin_lock(&efile->jobs_lock);
	list_del(&job->link);
	spin_unlock(&efile->jobs_lock);
	for (i = 0; i < job->nuses; i++)
		emugpu_mapping_put(job->uses[i].map);
	if (job->base.s_fence)
		drm_sched_job_cleanup(&job->base);
	dma_fence_put(job->fence);
	/* The hardware fence is initialised when the engine gets the job. */
	if (test_bit(EMUGPU_JOB_HW_FENCE, &job->flags))
		dma_fence_put(job->hw_fence);
	else
		kfree(job->hw_fence);
	kfree(job->pfns);
	kfree(job->cmds);
	emugpu_vm_put(job->vm);
	kfree(job);
	atomic_dec(&edev->stats.jobs);
	if (atomic_dec_and_test(&efile->unfreed_jobs))
		wake_up_var(&efile->unfreed_jobs);
}

static void emugpu_job_run(struct work_struct *work);

static void emugpu_job_free_work(struct work_struct *work)
{
	emugpu_job_free(container_of(work, struct emugpu_job, free_work));
}

static struct emugpu_job *emugpu_job_alloc(struct drm_file *file,
					   unsigned int count)
{
	struct emugpu_file *efile = file->driver_priv;
	struct emugpu_fence *ef;
	struct emugpu_job *job;

	job = kzalloc(struct_size(job, uses, 2 * count), GFP_KERNEL_ACCOUNT);
	if (!job)
		return NULL;
	INIT_WORK(&job->work, emugpu_job_run);
	INIT_WORK(&job->free_work, emugpu_job_free_work);
	INIT_LIST_HEAD(&job->link);
	INIT_LIST_HEAD(&job->vm_link);
	job->efile = efile;
	emugpu_vm_get(efile->vm);
	job->vm = efile->vm;
	atomic_inc(&efile->edev->stats.jobs);
	atomic_inc(&efile->unfreed_jobs);
	job->cmds = kcalloc(count, sizeof(*job->cmds), GFP_KERNEL_ACCOUNT);
	job->pfns = kcalloc(EMUGPU_FAULT_CHUNK, sizeof(*job->pfns),
			    GFP_KERNEL_ACCOUNT);
	ef = kzalloc_obj(*ef, GFP_KERNEL_ACCOUNT);
	if (ef) {
		ef->edev = efile->edev;
		job->hw_fence = &ef->base;
	}
	if (!job->cmds || !job->pfns || !job->hw_fence ||
	    drm_sched_job_init(&job->base, &efile->entity, 1, efile,
			       file->client_id)) {
		/* drm_sched_job_init() leaves s_fence NULL when it fails. */
		emugpu_job_free(job);
		return NULL;
	}
	return job;
}

/*
 * May the job be published: are all pages it uses in the device page
 * table, and valid (no invalidation waiting, not stale)? Under
 * vm->notifier_lock.
 */
static bool emugpu_job_present(struct emugpu_job *job)
{
	unsigned int i;
	unsigned long p;

	lockdep_assert_held(&job->vm->notifier_lock);
	for (i = 0; i < job->nuses; i++) {
		struct emugpu_use *use = &job->uses[i];

		for (p = use->first; p <= use->last; p++)
			if (!emugpu_pte_valid(use->map, p))
				return false;
	}
	return true;
}

/*
 * Are the job's entries all there? A published job's must be: the
 * notifier clears none of them before the job has ended.
 */
static bool emugpu_job_mapped(struct emugpu_job *job)
{
	unsigned int i;
	unsigned long p;

	for (i = 0; i < job->nuses; i++)
		for (p = job->uses[i].first; p <= job->uses[i].last; p++)
			if (!job->uses[i].map->pte[p])
				return false;
	return true;
}

/*
 * Before publication, in SUBMIT: fault in every user page the job uses,
 * in the submitting process, so a slow or blocking mapping stalls only it.
 */
static int emugpu_job_fault(struct emugpu_job *job)
{
	unsigned int i;
	int ret;

	for (i = 0; i < job->nuses; i++) {
		if (!emugpu_is_userptr(job->uses[i].map->obj))
			continue;
		ret = emugpu_userptr_fault(job, &job->uses[i]);
		if (ret)
			return ret;
	}
	return 0;
}

/* Does the job write to buffer object @obj through any of its uses? */
static bool emugpu_job_writes(struct emugpu_job *job,
			      struct drm_gem_object *obj)
{
	unsigned int i;

	for (i = 0; i < job->nuses; i++)
		if (job->uses[i].map->obj == obj && job->uses[i].write)
			return true;
	return false;
}

/*
 * Locks the reservation objects of the buffer objects the job uses, with
 * a fence slot each, for emugpu_job_fence_bos(), and makes the job wait
 * for the fences in them that it must (implicit sync: a write waits for
 * all, a read for writers). -EFAULT if one of them was purged or may be
 * (DONTNEED): the device does not start on memory the kernel may take
 * away.
 */
static int emugpu_job_lock_bos(struct emugpu_job *job, struct drm_exec *exec)
{
	struct drm_gem_object *obj;
	unsigned int i;
	bool write;
	int ret;

	drm_exec_until_all_locked(exec) {
		for (i = 0; i < job->nuses; i++) {
			obj = job->uses[i].map->obj;
			if (emugpu_is_userptr(obj))
				continue;
			ret = drm_exec_prepare_obj(exec, obj, 1);
			drm_exec_retry_on_contention(exec);
			if (ret)
				return ret;
		}
	}
	drm_exec_for_each_locked_object(exec, obj) {
		if (!emugpu_is_vram(obj) &&
		    to_drm_gem_shmem_obj(obj)->madv != EMUGPU_MADV_WILLNEED)
			return -EFAULT;
		write = emugpu_job_writes(job, obj);
		ret = drm_sched_job_add_implicit_dependencies(&job->base, obj,
							      write);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Adds the job's fence to each buffer object it uses, before the job can
 * start: from here the shrinker sees them busy until the job is done.
 * Under their resv locks, into the slots emugpu_job_lock_bos() reserved.
 */
static void emugpu_job_fence_bos(struct emugpu_job *job,
				 struct drm_exec *exec)
{
	struct drm_gem_object *obj;

	drm_exec_for_each_locked_object(exec, obj)
		dma_resv_add_fence(obj->resv, job->fence,
				   emugpu_job_writes(job, obj) ?
				   DMA_RESV_USAGE_WRITE : DMA_RESV_USAGE_READ);
}

/*
 * The job waits for the fence of @handle (at timeline @point, or the
 * binary syncobj's fence if 0) before the engine gets it. Not
 * drm_sched_job_add_syncobj_dependency(): its point is 32 bits.
 */
static int emugpu_job_add_in_syncobj(struct emugpu_job *job,
				     struct drm_file *file, u32 handle,
				     u64 point)
{
	struct dma_fence *fence;
	int ret;

	ret = drm_syncobj_find_fence(file, handle, point, 0, &fence);
	if (ret)
		return ret;
	/* Takes the reference, also when it fails. */
	return drm_sched_job_add_dependency(&job->base, fence);
}

/*
 * The syncobj that gets the job's fence, and for a timeline point the
 * chain link, taken before the job is published: putting the fence in
 * then allocates nothing. NULL if the user asked for none.
 */
static struct drm_syncobj *emugpu_out_syncobj(struct drm_file *file,
					      const struct drm_emugpu_submit *args,
					      struct dma_fence_chain **chain)
{
	struct drm_syncobj *syncobj;

	*chain = NULL;
	if (!args->out_syncobj)
		return NULL;
	syncobj = drm_syncobj_find(file, args->out_syncobj);
	if (!syncobj)
		return ERR_PTR(-ENOENT);
	if (args->out_point) {
		*chain = dma_fence_chain_alloc();
		if (!*chain) {
			drm_syncobj_put(syncobj);
			return ERR_PTR(-ENOMEM);
		}
	}
	return syncobj;
}

int emugpu_submit_ioctl(struct drm_device *drm, void *data,
			struct drm_file *file)
{
	struct drm_emugpu_submit *args = data;
	struct emugpu_file *efile = file->driver_priv;
	struct emugpu_vm *vm = efile->vm;
	struct dma_fence **slot, *dropped;
	struct drm_emugpu_cmd *ucmds;
	struct dma_fence *out_fence = NULL;
	struct dma_fence_chain *chain;
	struct drm_syncobj *syncobj;
	struct drm_exec exec;
	unsigned int i, attempt;
	struct emugpu_job *job;
	u64 seqno;
	int ret;

	if (args->flags || (args->out_point && !args->out_syncobj) ||
	    (args->in_point && !args->in_syncobj))
		return -EINVAL;
	if (!args->count || args->count > EMUGPU_MAX_CMDS)
		return -EINVAL;

	syncobj = emugpu_out_syncobj(file, args, &chain);
	if (IS_ERR(syncobj))
		return PTR_ERR(syncobj);
	ucmds = memdup_array_user(u64_to_user_ptr(args->cmds), args->count,
				  sizeof(*ucmds));
	if (IS_ERR(ucmds)) {
		ret = PTR_ERR(ucmds);
		goto out_put_syncobj;
	}
	for (i = 0; i < args->count; i++) {
		ret = emugpu_cmd_check(&ucmds[i]);
		if (ret)
			goto out_free_ucmds;
	}

	ret = -ENOMEM;
	job = emugpu_job_alloc(file, args->count);
	if (!job)
		goto out_free_ucmds;
	if (args->in_syncobj) {
		ret = emugpu_job_add_in_syncobj(job, file, args->in_syncobj,
						args->in_point);
		if (ret)
			goto out_free_job;
	}

	ret = 0;
	mutex_lock(&vm->lock);
	for (i = 0; i < args->count && !ret; i++)
		ret = emugpu_job_add_cmd(job, &ucmds[i]);
	mutex_unlock(&vm->lock);
	if (ret)
		goto out_free_job;

	/*
	 * Fault (mmap_lock, which ranks above a resv), lock the buffer
	 * objects, then publish atomically with the check that all is there.
	 */
	for (attempt = 0;; attempt++) {
		ret = -EAGAIN;
		if (attempt == EMUGPU_FAULT_RETRIES)
			goto out_free_job;
		ret = emugpu_job_fault(job);
		if (ret)
			goto out_free_job;
		drm_exec_init(&exec, DRM_EXEC_INTERRUPTIBLE_WAIT |
			      DRM_EXEC_IGNORE_DUPLICATES, job->nuses);
		ret = emugpu_job_lock_bos(job, &exec);
		if (ret)
			goto out_exec_fini;
		mutex_lock(&vm->notifier_lock);
		if (emugpu_job_present(job))
			break;
		mutex_unlock(&vm->notifier_lock);
		drm_exec_fini(&exec);
	}

	/* What it will write; a full ring below fails it all the same. */
	for (i = 0; i < job->nuses; i++)
		if (emugpu_is_userptr(job->uses[i].map->obj))
			emugpu_userptr_dirty_use(&job->uses[i]);

	/*
	 * Arm and push under one lock, so that the entity's fences are
	 * numbered in the order its jobs queue. The job's slot holds the
	 * fence of the job EMUGPU_FILE_FENCES before; that one is dropped,
	 * if it is done.
	 */
	spin_lock(&efile->fences_lock);
	seqno = efile->last_seqno + 1;
	slot = &efile->fences[seqno % EMUGPU_FILE_FENCES];
	dropped = *slot;
	if (dropped && !dma_fence_is_signaled(dropped)) {
		spin_unlock(&efile->fences_lock);
		mutex_unlock(&vm->notifier_lock);
		ret = -EBUSY;
		goto out_exec_fini;
	}
	drm_sched_job_arm(&job->base);
	job->fence = dma_fence_get(&job->base.s_fence->finished);
	/* The entity numbers its fences from 1, as the file does. */
	WARN_ON_ONCE(job->fence->seqno != lower_32_bits(seqno));
	efile->last_seqno = seqno;
	job->seqno = seqno;
	job->state = EMUGPU_JOB_QUEUED;
	*slot = dma_fence_get(job->fence);
	/* The job may end and be freed once it is pushed. */
	if (syncobj)
		out_fence = dma_fence_get(job->fence);
	emugpu_job_fence_bos(job, &exec);
	/* Published: the notifier waits for it or refuses from now on. */
	job->vm_seq = ++vm->published;
	list_add_tail(&job->vm_link, &vm->jobs);
	spin_lock(&efile->jobs_lock);
	list_add_tail(&job->link, &efile->jobs);
	spin_unlock(&efile->jobs_lock);
	drm_sched_entity_push_job(&job->base);
	spin_unlock(&efile->fences_lock);
	mutex_unlock(&vm->notifier_lock);
	drm_exec_fini(&exec);
	dma_fence_put(dropped);
	trace_emugpu_job(seqno, EMUGPU_JOB_QUEUED, 0);

	if (chain)
		drm_syncobj_add_point(syncobj, chain, out_fence,
				      args->out_point);
	else if (syncobj)
		drm_syncobj_replace_fence(syncobj, out_fence);
	dma_fence_put(out_fence);
	if (syncobj)
		drm_syncobj_put(syncobj);
	args->seqno = seqno;
	kfree(ucmds);
	return 0;

out_exec_fini:
	drm_exec_fini(&exec);
out_free_job:
	emugpu_job_free(job);
out_free_ucmds:
	kfree(ucmds);
out_put_syncobj:
	dma_fence_chain_free(chain);
	if (syncobj)
		drm_syncobj_put(syncobj);
	return ret;
}

static void emugpu_job_set_state(struct emugpu_job *job, int state)
{
	lockdep_assert_held(&job->vm->notifier_lock);
	WRITE_ONCE(job->state, state);
	trace_emugpu_job(job->seqno, state, 0);
}

/* QUEUED -> RUNNING, unless the job was cancelled while it queued. */
static int emugpu_job_start(struct emugpu_job *job)
{
	struct emugpu_vm *vm = job->vm;

	mutex_lock(&vm->notifier_lock);
	if (test_bit(EMUGPU_JOB_CANCEL, &job->flags)) {
		mutex_unlock(&vm->notifier_lock);
		return -ECANCELED;
	}
	if (WARN_ON_ONCE(!emugpu_job_mapped(job))) {
		mutex_unlock(&vm->notifier_lock);
		return -EFAULT;
	}
	WARN_ON(vm->active_job);
	vm->active_job = job;
	job->started_ns = ktime_get_ns();
	emugpu_job_set_state(job, EMUGPU_JOB_RUNNING);
	mutex_unlock(&vm->notifier_lock);
	return 0;
}

/* Why a running job must end now, or 0. */
static int emugpu_job_stop_reason(struct emugpu_job *job)
{
	if (test_bit(EMUGPU_JOB_TIMEDOUT, &job->flags))
		return -ETIMEDOUT;
	if (test_bit(EMUGPU_JOB_CANCEL, &job->flags))
		return -ECANCELED;
	return 0;
}

/* Stops a running job at a page boundary when it must end. */
static int emugpu_job_should_stop(struct emugpu_job *job)
{
	int ret = emugpu_job_stop_reason(job);

	if (!ret)
		cond_resched();
	return ret;
}

/*
 * The page behind byte @off of a use. The entry cannot change while the
 * job runs: the notifier waits for or refuses a running job's pages.
 */
static struct page *emugpu_job_page(struct emugpu_job *job, int use, u64 off)
{
	return READ_ONCE(job->uses[use].map->pte[off >> PAGE_SHIFT]);
}

static size_t emugpu_chunk(u64 off, u64 left)
{
	return min_t(u64, left, PAGE_SIZE - offset_in_page(off));
}

static int emugpu_exec_fill(struct emugpu_job *job, struct emugpu_cmd *cmd)
{
	u64 off = cmd->dst_off, end = cmd->dst_off + cmd->size;
	size_t n;
	void *va;
	int ret;

	for (; off < end; off += n) {
		ret = emugpu_job_should_stop(job);
		if (ret)
			return ret;
		n = emugpu_chunk(off, end - off);
		va = kmap_local_page(emugpu_job_page(job, cmd->dst, off));
		memset(va + offset_in_page(off), cmd->value, n);
		kunmap_local(va);
	}
	return 0;
}

static int emugpu_exec_copy(struct emugpu_job *job, struct emugpu_cmd *cmd)
{
	u64 done, src, dst;
	void *s, *d;
	size_t n;
	int ret;

	for (done = 0; done < cmd->size; done += n) {
		ret = emugpu_job_should_stop(job);
		if (ret)
			return ret;
		src = cmd->src_off + done;
		dst = cmd->dst_off + done;
		n = min(emugpu_chunk(src, cmd->size - done),
			emugpu_chunk(dst, cmd->size - done));
		s = kmap_local_page(emugpu_job_page(job, cmd->src, src));
		d = kmap_local_page(emugpu_job_page(job, cmd->dst, dst));
		memcpy(d + offset_in_page(dst), s + offset_in_page(src), n);
		kunmap_local(d);
		kunmap_local(s);
	}
	return 0;
}

#define EMUGPU_FNV1A_BASIS	0xcbf29ce484222325ULL
#define EMUGPU_FNV1A_PRIME	0x100000001b3ULL

static int emugpu_exec_checksum(struct emugpu_job *job,
				struct emugpu_cmd *cmd)
{
	u64 off = cmd->src_off, end = cmd->src_off + cmd->size;
	u64 hash = EMUGPU_FNV1A_BASIS;
	const u8 *s;
	size_t n, i;
	void *d;
	int ret;

	for (; off < end; off += n) {
		ret = emugpu_job_should_stop(job);
		if (ret)
			return ret;
		n = emugpu_chunk(off, end - off);
		s = kmap_local_page(emugpu_job_page(job, cmd->src, off));
		for (i = 0; i < n; i++)
			hash = (hash ^ s[offset_in_page(off) + i]) *
			       EMUGPU_FNV1A_PRIME;
		kunmap_local(s);
	}
	d = kmap_local_page(emugpu_job_page(job, cmd->dst, cmd->dst_off));
	memcpy(d + offset_in_page(cmd->dst_off), &hash, sizeof(hash));
	kunmap_local(d);
	return 0;
}

static bool emugpu_spin_over(struct emugpu_job *job)
{
	return emugpu_job_stop_reason(job) ||
	       test_bit(EMUGPU_JOB_RELEASE, &job->flags);
}

/*
 * Holds the source range busy, sleeping, until an event ends it: a
 * release, a cancellation, its own time limit, or the scheduler's timeout
 * (a limit beyond the timeout is none).
 */
static int emugpu_exec_spin(struct emugpu_job *job, struct emugpu_cmd *cmd)
{
	struct emugpu_device *edev = job->vm->edev;
	u64 limit_ns = (u64)emugpu_job_timeout() * NSEC_PER_MSEC;
	bool timed = cmd->value && cmd->value <= limit_ns;
	unsigned long until = jiffies + nsecs_to_jiffies(cmd->value), now;
	int ret;

	for (;;) {
		ret = emugpu_job_stop_reason(job);
		if (ret)
			return ret;
		if (test_bit(EMUGPU_JOB_RELEASE, &job->flags))
			return 0;
		if (!timed) {
			wait_event(edev->engine_wait, emugpu_spin_over(job));
			continue;
		}
		now = jiffies;
		if (time_after_eq(now, until))
			return 0;
		wait_event_timeout(edev->engine_wait, emugpu_spin_over(job),
				   until - now);
	}
}

static int emugpu_job_execute(struct emugpu_job *job)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < job->ncmds && !ret; i++) {
		struct emugpu_cmd *cmd = &job->cmds[i];

		switch (cmd->op) {
		case EMUGPU_OP_FILL:
			ret = emugpu_exec_fill(job, cmd);
			break;
		case EMUGPU_OP_COPY:
			ret = emugpu_exec_copy(job, cmd);
			break;
		case EMUGPU_OP_CHECKSUM:
			ret = emugpu_exec_checksum(job, cmd);
			break;
		case EMUGPU_OP_SPIN:
			ret = emugpu_exec_spin(job, cmd);
			break;
		}
	}
	return ret;
}

/* The counters and the trace of a job that ended with @err. */
static void emugpu_job_count(struct emugpu_job *job, int err)
{
	struct emugpu_stats *stats = &job->vm->edev->stats;

	trace_emugpu_job(job->seqno, EMUGPU_JOB_DONE, err);
	atomic64_inc(&stats->jobs_done);
	if (err) {
		atomic64_inc(&stats->jobs_failed);
		if (err == -ETIMEDOUT)
			atomic64_inc(&stats->jobs_timedout);
	}
}

/*
 * DONE: the job leaves its file and the VM, then its hardware fence
 * signals, and with it the scheduler's finished fence. The scheduler may
 * free the job from then on.
 */
static void emugpu_job_end(struct emugpu_job *job, int err)
{
	struct emugpu_file *efile = job->efile;

	mutex_lock(&job->vm->notifier_lock);
	if (job->vm->active_job == job)
		job->vm->active_job = NULL;
	/* No notifier waits for it or refuses for it any more. */
	list_del_init(&job->vm_link);
	WRITE_ONCE(job->state, EMUGPU_JOB_DONE);
	mutex_unlock(&job->vm->notifier_lock);

	/* The file may go once the fence signals: leave its list first. */
	spin_lock(&efile->jobs_lock);
	list_del_init(&job->link);
	spin_unlock(&efile->jobs_lock);

	if (job->started_ns)
		atomic64_add(ktime_get_ns() - job->started_ns,
			     &efile->engine_ns);
	emugpu_job_count(job, err);
	if (err)
		dma_fence_set_error(job->hw_fence, err);
	dma_fence_signal(job->hw_fence);
}

/* The engine: runs one job the scheduler handed to it. */
static void emugpu_job_run(struct work_struct *work)
{
	struct emugpu_job *job = container_of(work, struct emugpu_job, work);
	bool cookie;
	int err;

	/* Published: reclaim may be waiting for this fence. */
	cookie = dma_fence_begin_signalling();
	err = emugpu_job_start(job);
	if (!err)
		err = emugpu_job_execute(job);
	/* The job may be freed from here on (free_job, then edev->cleanup). */
	emugpu_job_end(job, err);
	dma_fence_end_signalling(cookie);
}

/*
 * The scheduler hands the engine a job whose in-fences have signalled.
 * Allocates nothing: the hardware fence was allocated by SUBMIT.
 */
static struct dma_fence *emugpu_sched_run_job(struct drm_sched_job *sched_job)
{
	struct emugpu_job *job = to_emugpu_job(sched_job);
	struct emugpu_device *edev = job->vm->edev;
	struct dma_fence *fence = job->hw_fence;

	/* An in-fence failed, or the entity was found guilty: do nothing. */
	if (sched_job->s_fence->finished.error)
		set_bit(EMUGPU_JOB_CANCEL, &job->flags);
	/* Only the scheduler's ordered submit queue runs this. */
	dma_fence_init(fence, &emugpu_fence_ops, &edev->fence_lock,
		       edev->fence_context, ++edev->fence_seqno);
	atomic_inc(&edev->stats.fences);
	set_bit(EMUGPU_JOB_HW_FENCE, &job->flags);
	/* One reference for the scheduler, the job's own for free_job(). */
	dma_fence_get(fence);
	queue_work(edev->engine, &job->work);
	return fence;
}

/*
 * The job ran longer than the job timeout. The engine stops it at its
 * next page or wakeup and signals its fence with -ETIMEDOUT: there is no
 * hardware to reset, and the job is still the engine's until then, so the
 * scheduler keeps it (NO_HANG) and frees it once its fence signals.
 */
static enum drm_gpu_sched_stat
emugpu_sched_timedout_job(struct drm_sched_job *sched_job)
{
	struct emugpu_job *job = to_emugpu_job(sched_job);

	set_bit(EMUGPU_JOB_TIMEDOUT, &job->flags);
	wake_up_all(&job->vm->edev->engine_wait);
	return DRM_GPU_SCHED_STAT_NO_HANG;
}

/*
 * drm_sched runs this on its ordered submit queue, and the next job's
 * run_job() only after it: it is in the signalling path of every later
 * job, which reclaim and the notifier may be waiting for. (A job killed
 * with its entity comes here from system_wq instead.) The annotation
 * makes lockdep report any lock taken here that they take too. What the
 * job holds goes on edev->cleanup: dropping the last reference of a user
 * pointer removes its notifier, which waits for an invalidation in
 * progress, and that one may be waiting for the next job (as xe's
 * vma_destroy_cb() and panthor's cleanup queue do).
 */
static void emugpu_sched_free_job(struct drm_sched_job *sched_job)
{
	struct emugpu_job *job = to_emugpu_job(sched_job);
	bool cookie;

	cookie = dma_fence_begin_signalling();
	/* Killed with its file's entity: the engine never had it. */
	if (READ_ONCE(job->state) != EMUGPU_JOB_DONE)
		emugpu_job_count(job, job->fence->error);
	drm_sched_job_cleanup(sched_job);
	queue_work(job->vm->edev->cleanup, &job->free_work);
	dma_fence_end_signalling(cookie);
}

/*
 * No cancel_job: drm_sched_fini() runs only when the module unloads, and
 * by then every file is closed, and closing waited for its jobs to be
 * freed (edev->cleanup included).
 */
static const struct drm_sched_backend_ops emugpu_sched_ops = {
	.run_job = emugpu_sched_run_job,
	.timedout_job = emugpu_sched_timedout_job,
	.free_job = emugpu_sched_free_job,
};

/*
 * The fence of job @seqno of the file, with a reference; ERR_PTR(-EINVAL)
 * if it was never issued, ERR_PTR(-ENOENT) if it has been dropped (the job
 * is done: a SUBMIT drops only signalled fences).
 */
static struct dma_fence *emugpu_file_fence(struct emugpu_file *efile,
					   u64 seqno)
{
	struct dma_fence *fence;

	spin_lock(&efile->fences_lock);
	if (!seqno || seqno > efile->last_seqno)
		fence = ERR_PTR(-EINVAL);
	else if (efile->last_seqno - seqno >= EMUGPU_FILE_FENCES)
		fence = ERR_PTR(-ENOENT);
	else
		fence = dma_fence_get(efile->fences[seqno %
						    EMUGPU_FILE_FENCES]);
	spin_unlock(&efile->fences_lock);
	return fence;
}

int emugpu_wait_ioctl(struct drm_device *drm, void *data,
		      struct drm_file *file)
{
	struct drm_emugpu_wait *args = data;
	struct emugpu_file *efile = file->driver_priv;
	struct dma_fence *fence;
	long timeout, ret;

	if (args->flags || args->timeout_ns < 0)
		return -EINVAL;
	fence = emugpu_file_fence(efile, args->seqno);
	if (IS_ERR(fence))
		return PTR_ERR(fence);

	if (!args->timeout_ns) {
		ret = dma_fence_is_signaled(fence);
	} else {
		timeout = min_t(u64, nsecs_to_jiffies64(args->timeout_ns),
				MAX_SCHEDULE_TIMEOUT - 1);
		ret = dma_fence_wait_timeout(fence, true, max(timeout, 1L));
	}
	if (ret > 0) {
		args->status = fence->error;
		ret = 0;
	} else if (!ret) {
		ret = -ETIME;
	}
	dma_fence_put(fence);
	return ret;
}

int emugpu_job_release_ioctl(struct drm_device *drm, void *data,
			     struct drm_file *file)
{
	struct drm_emugpu_job_release *args = data;
	struct emugpu_file *efile = file->driver_priv;
	struct dma_fence *fence;
	struct emugpu_job *job;

	if (args->flags || args->pad)
		return -EINVAL;
	fence = emugpu_file_fence(efile, args->seqno);
	/* A dropped fence is a job that is done: nothing to release. */
	if (fence == ERR_PTR(-ENOENT))
		return 0;
	if (IS_ERR(fence))
		return PTR_ERR(fence);
	dma_fence_put(fence);

	spin_lock(&efile->jobs_lock);
	list_for_each_entry(job, &efile->jobs, link) {
		if (job->seqno == args->seqno) {
			set_bit(EMUGPU_JOB_RELEASE, &job->flags);
			wake_up_all(&efile->edev->engine_wait);
			break;
		}
	}
	spin_unlock(&efile->jobs_lock);
	return 0;
}

int emugpu_file_jobs_init(struct emugpu_file *efile)
{
	struct drm_gpu_scheduler *sched = &efile->edev->sched;
	int ret;

	efile->fences = kvcalloc(EMUGPU_FILE_FENCES, sizeof(*efile->fences),
				 GFP_KERNEL_ACCOUNT);
	if (!efile->fences)
		return -ENOMEM;
	ret = drm_sched_entity_init(&efile->entity, DRM_SCHED_PRIORITY_NORMAL,
				    &sched, 1, NULL);
	if (ret) {
		kvfree(efile->fences);
		return ret;
	}
	spin_lock_init(&efile->fences_lock);
	spin_lock_init(&efile->jobs_lock);
	INIT_LIST_HEAD(&efile->jobs);
	return 0;
}

/*
 * The file is closing: cancel its jobs. Those the engine has not started
 * never will: they leave the VM at once, so no notifier waits for them,
 * and the scheduler kills those it still holds (drm_sched_entity_fini(),
 * their fences signal -ESRCH after the running job's) instead of running
 * them behind other files' jobs. Closing waits only for this file's job
 * the engine is running, which is cancelled and stops at its next page or
 * wakeup.
 */
void emugpu_file_jobs_fini(struct emugpu_file *efile)
{
	struct emugpu_vm *vm = efile->vm;
	struct dma_fence *fence;
	struct emugpu_job *job;
	unsigned int i;

	mutex_lock(&vm->notifier_lock);
	spin_lock(&efile->jobs_lock);
	list_for_each_entry(job, &efile->jobs, link)
		emugpu_job_withdraw(job);
	spin_unlock(&efile->jobs_lock);
	mutex_unlock(&vm->notifier_lock);

	drm_sched_entity_fini(&efile->entity);

	/* All signal now, in order. No SUBMIT can race: the file is released. */
	for (i = 0; i < EMUGPU_FILE_FENCES; i++) {
		fence = efile->fences[i];
		if (!fence)
			continue;
		dma_fence_wait(fence, false);
		dma_fence_put(fence);
	}
	kvfree(efile->fences);

	/* Freed from edev->cleanup just after its fence signals. */
	wait_var_event(&efile->unfreed_jobs,
		       !atomic_read(&efile->unfreed_jobs));
	WARN_ON(!list_empty(&efile->jobs));
}

int emugpu_engine_init(struct emugpu_device *edev)
{
	const struct drm_sched_init_args args = {
		.ops = &emugpu_sched_ops,
		.num_rqs = DRM_SCHED_PRIORITY_COUNT,
		/* One hardware queue, one job on it at a time. */
		.credit_limit = 1,
		.timeout = msecs_to_jiffies(emugpu_job_timeout()),
		.name = "emugpu",
		.dev = edev->drm.dev,
	};
	int ret;

	/* Reclaim may wait for a running job: the queue must progress. */
	edev->engine = alloc_ordered_workqueue("emugpu-engine",
					       WQ_MEM_RECLAIM);
	if (!edev->engine)
		return -ENOMEM;
	/* Nothing reclaim waits for runs here: no WQ_MEM_RECLAIM. */
	edev->cleanup = alloc_workqueue("emugpu-cleanup", WQ_UNBOUND, 0);
	if (!edev->cleanup) {
		destroy_workqueue(edev->engine);
		return -ENOMEM;
	}
	init_waitqueue_head(&edev->engine_wait);
	spin_lock_init(&edev->fence_lock);
	edev->fence_context = dma_fence_context_alloc(1);
	/* Its own submit queue is ordered and WQ_MEM_RECLAIM. */
	ret = drm_sched_init(&edev->sched, &args);
	if (ret) {
		destroy_workqueue(edev->cleanup);
		destroy_workqueue(edev->engine);
		return ret;
	}
	return 0;
}

void emugpu_engine_fini(struct emugpu_device *edev)
{
	drm_sched_fini(&edev->sched);
	/* Every file is closed: flushes only the tail of the last frees. */
	destroy_workqueue(edev->cleanup);
	destroy_workqueue(edev->engine);
}
