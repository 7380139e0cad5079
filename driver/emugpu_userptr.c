// SPDX-License-Identifier: GPL-2.0-only
/*
 * emugpu user pointer objects: process memory mirrored into the device.
 *
 * Nothing is pinned. Each object has an mmu interval notifier over its
 * range; a job faults the pages it needs with hmm_range_fault() in the
 * mmu_interval_read_begin() / vm->notifier_lock / mmu_interval_read_retry() loop of
 * Documentation/mm/hmm.rst, and the notifier clears the device page-table
 * entries again when the CPU side changes.
 *
 * The notifier refuses only what a published job really uses, and only
 * when it may not block: in a non-blockable call (the OOM reaper) it
 * neither sleeps nor allocates. For an OOM victim it also withdraws those
 * jobs: a queued one lets go of the range at once, a running one at its
 * next page, for the reaper's next pass.
 * The other answers of real drivers are the notifier_policy parameter:
 * xe refuses every non-blockable call; pin (i915) pins instead of
 * mirroring, see emugpu_userptr_pin().
 */
#include <linux/align.h>
#include <linux/fs.h>
#include <linux/hmm.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/sched/coredump.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <drm/emugpu_drm.h>

#include "emugpu_drv.h"
#include "emugpu_trace.h"

/**
 * emugpu_pte_span - the page-table entries of @map that mirror user
 *	addresses in [@start, @end)
 * @map: a mapping of @up
 * @up: the user pointer object
 * @start: first user address
 * @end: end of the user range, exclusive
 * @first: out: first entry
 * @last: out: last entry, inclusive
 *
 * Return: false if the ranges do not meet.
 */
bool emugpu_pte_span(const struct emugpu_mapping *map,
		     const struct emugpu_userptr *up,
		     unsigned long start, unsigned long end,
		     unsigned long *first, unsigned long *last)
{
	unsigned long map_start = up->addr + (map->obj_pgoff << PAGE_SHIFT);
	unsigned long map_end = map_start + (map->npages << PAGE_SHIFT);

	if (start >= map_end || end <= map_start || start >= end)
		return false;
	start = max(start, map_start);
	end = min(end, map_end);
	*first = (start - map_start) >> PAGE_SHIFT;
	*last = (end - 1 - map_start) >> PAGE_SHIFT;
	return true;
}

/*
 * May a job start on entry @i of @map? Not if it is empty, nor while an
 * invalidation of its object waits for the running job: that one clears
 * the entries only once the job has ended. Under vm->notifier_lock.
 */
bool emugpu_pte_valid(const struct emugpu_mapping *map, unsigned long i)
{
	struct emugpu_userptr *up;

	if (!map->pte[i])
		return false;
	if (!emugpu_is_userptr(map->obj))
		return true;
	up = to_userptr(map->obj);
	/* Pinned pages are stale once the CPU side changed: pin again. */
	if (up->pin)
		return !mmu_interval_check_retry(&up->notifier, up->pin_seq);
	return !up->invalidating;
}

/* Does @use touch user addresses [@start, @end) of @up? */
bool emugpu_use_overlaps(const struct emugpu_use *use,
			 const struct emugpu_userptr *up,
			 unsigned long start, unsigned long end)
{
	unsigned long first, last;

	if (use->map->obj != &up->base ||
	    !emugpu_pte_span(use->map, up, start, end, &first, &last))
		return false;
	return first <= use->last && last >= use->first;
}

/* Clears the entries that mirror [@start, @end). Under vm->notifier_lock. */
static void emugpu_userptr_zap(struct emugpu_userptr *up,
			       unsigned long start, unsigned long end)
{
	struct emugpu_mapping *map;
	unsigned long first, last, i;

	lockdep_assert_held(&up->vm->notifier_lock);
	list_for_each_entry(map, &up->mappings, userptr_link) {
		if (!emugpu_pte_span(map, up, start, end, &first, &last))
			continue;
		for (i = first; i <= last; i++) {
			if (map->pte[i]) {
				map->pte[i] = NULL;
				map->zapped = true;
			}
		}
	}
}

/*
 * A blockable invalidation of pages a published job uses: wait for the
 * job, with vm->notifier_lock dropped (the engine takes it to end the
 * job), until @deadline, one job timeout after the invalidation started.
 * Then, or at once if the address space is exiting (nobody can see the
 * job's results any more), the job is withdrawn: a queued one is
 * unpublished, a running one ends at its next page or wakeup. So the
 * whole invalidation waits at most the job timeout plus one page of
 * work, however many jobs use the range and whatever they wait for. The
 * caller looks for the next busy job.
 */
static void emugpu_userptr_wait_job(struct emugpu_userptr *up,
				    struct emugpu_job *job,
				    const struct mmu_notifier_range *range,
				    unsigned long deadline)
{
	struct emugpu_vm *vm = up->vm;
	struct emugpu_stats *stats = &vm->edev->stats;
	unsigned long now;
	long left = 0, timeout = 0;
	struct dma_fence *fence;
	bool cancelled;

	lockdep_assert_held(&vm->notifier_lock);
	if (!atomic_read(&range->mm->mm_users)) {
		if (!test_bit(EMUGPU_JOB_CANCEL, &job->flags))
			atomic64_inc(&stats->exit_cancels);
		if (!emugpu_job_withdraw(job))
			return;
	}
	atomic64_inc(&stats->inval_waited);
	fence = dma_fence_get(job->fence);
	/* Read under the lock: without it only the fence is ours. */
	cancelled = test_bit(EMUGPU_JOB_CANCEL, &job->flags);
	/* The entries stay for published jobs; no new job may use them. */
	up->invalidating++;
	mutex_unlock(&vm->notifier_lock);

	now = jiffies;
	if (time_before(now, deadline))
		timeout = deadline - now;
	if (!cancelled && timeout)
		left = dma_fence_wait_timeout(fence, false, timeout);

	mutex_lock(&vm->notifier_lock);
	/*
	 * Still published, hence not freed (it leaves vm->jobs under this
	 * lock first), and still that job: our fence reference keeps its
	 * fence's address from being reused by a new job's.
	 */
	if (!left && emugpu_vm_has_job(vm, job, fence) &&
	    emugpu_job_withdraw(job)) {
		mutex_unlock(&vm->notifier_lock);
		/* Running and cancelled: it stops at its next page or wakeup. */
		dma_fence_wait(fence, false);
		mutex_lock(&vm->notifier_lock);
	}
	up->invalidating--;
	dma_fence_put(fence);
}

/*
 * Policy xe, blockable: xe waits for every fence of the VM, not only
 * those of jobs on the range (xe_vma_userptr_do_inval(): the VM's resv,
 * DMA_RESV_USAGE_BOOKKEEP, MAX_SCHEDULE_TIMEOUT; for VMs not in
 * long-running mode, and only for bound user pointers). So does emugpu,
 * for the jobs of the VM published up to @last, until @deadline, the
 * invalidation's: xe's wait has no bound of its own, but a job that
 * times out bans its queue (xe_guc_submit.c), so it ends after about one
 * job timeout per queue; emugpu's one queue per file ends after the
 * deadline, when the rest are withdrawn. No job may start on the range
 * meanwhile. Under vm->notifier_lock, dropped while waiting.
 */
static void emugpu_userptr_wait_vm(struct emugpu_userptr *up, u64 last,
				   unsigned long deadline)
{
	struct emugpu_vm *vm = up->vm;
	struct emugpu_stats *stats = &vm->edev->stats;
	struct dma_fence *fence;
	struct emugpu_job *job;
	unsigned int waited = 0;
	unsigned long now;
	long timeout;

	lockdep_assert_held(&vm->notifier_lock);
	up->invalidating++;
	/* In publication order; a job leaves the list before it signals. */
	while ((job = list_first_entry_or_null(&vm->jobs, struct emugpu_job,
					       vm_link)) &&
	       job->vm_seq <= last) {
		fence = dma_fence_get(job->fence);
		if (WARN_ON_ONCE(dma_fence_is_signaled(fence))) {
			dma_fence_put(fence);
			break;
		}
		now = jiffies;
		timeout = time_before(now, deadline) ? deadline - now : 0;
		/* Past the deadline: a queued job goes, a running one stops. */
		if (!timeout && !emugpu_job_withdraw(job)) {
			dma_fence_put(fence);
			continue;
		}
		if (!waited++)
			atomic64_inc(&stats->inval_waited);
		mutex_unlock(&vm->notifier_lock);
		/* Withdrawn and running, it ends at its next page or wakeup. */
		if (timeout)
			dma_fence_wait_timeout(fence, false, timeout);
		else
			dma_fence_wait(fence, false);
		dma_fence_put(fence);
		mutex_lock(&vm->notifier_lock);
	}
	up->invalidating--;
}

/*
 * An OOM victim's jobs on the range: withdraw them, so that the reaper
 * finds the range free now if no job runs on it, or at its next pass once
 * the running one has stopped. A job already cancelled (by its file's
 * close, or an in-fence that failed) is withdrawn too, but not counted.
 * Neither sleeps nor allocates. Returns whether it cancelled one that was
 * not cancelled yet.
 */
static bool emugpu_userptr_cancel_jobs(struct emugpu_userptr *up,
				       const struct mmu_notifier_range *range)
{
	struct emugpu_vm *vm = up->vm;
	struct emugpu_job *job, *next;
	bool cancelled = false;

	lockdep_assert_held(&vm->notifier_lock);
	list_for_each_entry_safe(job, next, &vm->jobs, vm_link) {
		if (!emugpu_job_uses(job, up, range->start, range->end))
			continue;
		if (!test_bit(EMUGPU_JOB_CANCEL, &job->flags)) {
			atomic64_inc(&vm->edev->stats.oom_cancels);
			cancelled = true;
		}
		emugpu_job_withdraw(job);
	}
	return cancelled;
}

/*
 * xe-kick: an OOM victim's jobs on the range are cancelled before the
 * refusal, if the lock can be had without waiting, so that the victim's
 * threads waiting for them can exit. Neither sleeps nor allocates.
 */
static bool emugpu_userptr_kick(struct emugpu_userptr *up,
				const struct mmu_notifier_range *range)
{
	struct emugpu_vm *vm = up->vm;
	bool cancelled;

	non_block_start();
	if (!mutex_trylock(&vm->notifier_lock)) {
		non_block_end();
		return false;
	}
	cancelled = emugpu_userptr_cancel_jobs(up, range);
	mutex_unlock(&vm->notifier_lock);
	non_block_end();
	return cancelled;
}

static bool emugpu_userptr_invalidate(struct mmu_interval_notifier *mni,
				      const struct mmu_notifier_range *range,
				      unsigned long cur_seq)
{
	struct emugpu_userptr *up = container_of(mni, struct emugpu_userptr,
						 notifier);
	struct emugpu_vm *vm = up->vm;
	struct emugpu_device *edev = vm->edev;
	bool blockable = mmu_notifier_range_blockable(range);
	int policy = READ_ONCE(emugpu_notifier_policy);
	unsigned long deadline;
	u64 last;
	bool cancel = false;
	struct emugpu_job *job;

	atomic64_inc(blockable ? &edev->stats.inval_blockable :
		     &edev->stats.inval_nonblock);
	/*
	 * Pinned pages (policy pin): the device keeps them whatever the CPU
	 * side does, so there is nothing to wait for or refuse. Only the
	 * sequence moves on: the next job drops them and pins again. This is
	 * all i915_gem_userptr_invalidate() does.
	 */
	if (up->pin) {
		mmu_interval_set_seq(mni, cur_seq);
		trace_emugpu_invalidate(range, blockable, 0, false, false);
		return true;
	}

	if (blockable) {
		mutex_lock(&vm->notifier_lock);
	} else {
		/* Refuse without looking, as xe_userptr.c does */
		if (policy == EMUGPU_POLICY_XE ||
		    policy == EMUGPU_POLICY_XE_KICK) {
			if (policy == EMUGPU_POLICY_XE_KICK &&
			    mm_flags_test(MMF_UNSTABLE, range->mm))
				cancel = emugpu_userptr_kick(up, range);
			atomic64_inc(&edev->stats.inval_refused);
			trace_emugpu_invalidate(range, false, 0, true, cancel);
			return false;
		}
		/* The core does not catch a sleep here for interval notifiers. */
		non_block_start();
		if (!mutex_trylock(&vm->notifier_lock)) {
			atomic64_inc(&edev->stats.inval_refused);
			trace_emugpu_invalidate(range, false, 0, true, false);
			non_block_end();
			return false;
		}
	}

	job = emugpu_vm_busy_job(vm, up, range->start, range->end);
	/*
	 * Both reapers (the OOM reaper, process_mrelease()) set MMF_UNSTABLE
	 * before they unmap anything; another non-blockable caller would not.
	 */
	if (job && !blockable && policy == EMUGPU_POLICY_PRECISE &&
	    mm_flags_test(MMF_UNSTABLE, range->mm)) {
		cancel = emugpu_userptr_cancel_jobs(up, range);
		job = emugpu_vm_busy_job(vm, up, range->start, range->end);
	}
	if (job && !blockable) {
		atomic64_inc(&edev->stats.inval_refused);
		trace_emugpu_invalidate(range, false, job->seqno, true, cancel);
		mutex_unlock(&vm->notifier_lock);
		non_block_end();
		return false;
	}

	/* From here no fault of this range can complete: read_retry fails. */
	mmu_interval_set_seq(mni, cur_seq);
	last = vm->published;
	trace_emugpu_invalidate(range, blockable, job ? job->seqno : 0, false,
				cancel);
	/*
	 * Bounded by one job timeout: no job can be published on the range
	 * meanwhile, and those left at the deadline are withdrawn.
	 */
	deadline = jiffies + msecs_to_jiffies(emugpu_job_timeout());
	for (; job; job = emugpu_vm_busy_job(vm, up, range->start, range->end))
		emugpu_userptr_wait_job(up, job, range, deadline);
	/*
	 * Not at exit, unlike xe: nobody sees those jobs' results, and the
	 * range's own jobs are already withdrawn.
	 */
	if (blockable && atomic_read(&range->mm->mm_users) &&
	    !list_empty(&up->mappings) &&
	    (policy == EMUGPU_POLICY_XE || policy == EMUGPU_POLICY_XE_KICK))
		emugpu_userptr_wait_vm(up, last, deadline);
	emugpu_userptr_zap(up, range->start, range->end);
	mutex_unlock(&vm->notifier_lock);
	if (!blockable)
		non_block_end();
	return true;
}

const struct mmu_interval_notifier_ops emugpu_userptr_notifier_ops = {
	.invalidate = emugpu_userptr_invalidate,
};

/*
 * The device may write @folio from now on, and hmm_range_fault() does not
 * fault a present writable PTE at all, so a clean one (after MADV_FREE,
 * say) stays clean: reclaim would drop what the device wrote. Only
 * anonymous and shmem folios, whose dirty_folio only sets the flag (a
 * lazily freed anonymous folio is not swap-backed, hence both tests): a
 * file system's may sleep or allocate, which the lock order fs_reclaim ->
 * vm->notifier_lock forbids here. Device writes to other file pages are
 * not written back (docs/emugpu.md).
 */
static void emugpu_userptr_dirty(struct folio *folio)
{
	if (folio_test_anon(folio) || folio_test_swapbacked(folio))
		folio_mark_dirty(folio);
}

/*
 * A job that writes pages of @use is being published: mark them dirty,
 * and only them, so that pages the device only reads stay clean (after
 * MADV_FREE reclaim may still drop them). Under vm->notifier_lock, with
 * the entries just validated: the pages are mapped and stay so until the
 * job ends, since the notifier must take the lock and wait for the job
 * before it clears them. Pinned pages are dirtied when they are unpinned.
 */
void emugpu_userptr_dirty_use(const struct emugpu_use *use)
{
	const struct emugpu_userptr *up = to_userptr(use->map->obj);
	unsigned long p;

	lockdep_assert_held(&up->vm->notifier_lock);
	if (!use->write || up->pin)
		return;
	for (p = use->first; p <= use->last; p++)
		emugpu_userptr_dirty(page_folio(use->map->pte[p]));
}

/*
 * Takes the pinned pages away from the object and clears every entry of
 * its mappings. Under vm->notifier_lock; the caller unpins them after dropping it.
 */
static struct page **emugpu_userptr_take_pinned(struct emugpu_userptr *up)
{
	struct page **pages = up->pages;
	struct emugpu_mapping *map;

	lockdep_assert_held(&up->vm->notifier_lock);
	list_for_each_entry(map, &up->mappings, userptr_link)
		memset(map->pte, 0, map->npages * sizeof(*map->pte));
	up->pages = NULL;
	return pages;
}

/*
 * Unpins what emugpu_userptr_take_pinned() took, dirtying the pages the
 * device may have written as i915's put_pages does. It locks folios, so
 * never under vm->notifier_lock: a migration holds the folio lock when it calls
 * the notifier.
 */
static void emugpu_userptr_unpin(struct emugpu_userptr *up,
				 struct page **pages)
{
	unsigned long npages = up->base.size >> PAGE_SHIFT;

	if (!pages)
		return;
	unpin_user_pages_dirty_lock(pages, npages, !up->read_only);
	kvfree(pages);
	atomic_long_sub(npages, &up->vm->edev->stats.pinned_pages);
}

/* Points every entry of the object's mappings at its pinned pages. */
static void emugpu_userptr_map_pinned(struct emugpu_userptr *up)
{
	struct emugpu_mapping *map;
	unsigned long i;

	lockdep_assert_held(&up->vm->notifier_lock);
	list_for_each_entry(map, &up->mappings, userptr_link)
		for (i = 0; i < map->npages; i++)
			map->pte[i] = up->pages[map->obj_pgoff + i];
}

/*
 * Policy pin, as i915 does it (i915_gem_object_userptr_submit_init()):
 * the first job that needs the object pins all of its pages, FOLL_WRITE
 * unless read-only and without FOLL_LONGTERM, as i915 does, and they stay
 * pinned while the object lives. The notifier always agrees, so the OOM
 * reaper unmaps them from the victim, but their memory comes back only
 * when the object is freed (file close, or exit). A job that finds the
 * notifier sequence moved on drops them, once no published job uses
 * them, and pins again. Runs in SUBMIT, before the job is published.
 */
static int emugpu_userptr_pin(struct emugpu_userptr *up,
			      struct mm_struct *mm)
{
	unsigned long npages = up->base.size >> PAGE_SHIFT, pinned, seq;
	unsigned int gup_flags = up->read_only ? 0 : FOLL_WRITE;
	struct emugpu_vm *vm = up->vm;
	struct emugpu_stats *stats = &vm->edev->stats;
	struct dma_fence *fence;
	struct emugpu_job *job;
	struct page **pages;
	unsigned int attempt;
	long ret = 0;

	for (attempt = 0; attempt < EMUGPU_FAULT_RETRIES; attempt++) {
		mutex_lock(&vm->notifier_lock);
		if (up->pages &&
		    !mmu_interval_check_retry(&up->notifier, up->pin_seq)) {
			/* A mapping bound since the pin has no entries yet. */
			emugpu_userptr_map_pinned(up);
			mutex_unlock(&vm->notifier_lock);
			return 0;
		}
		/*
		 * Published jobs use the stale pages: let them end first, as
		 * i915 waits for an object to idle before it unpins.
		 */
		job = emugpu_vm_busy_job(vm, up, up->addr,
					 up->addr + up->base.size);
		if (job) {
			fence = dma_fence_get(job->fence);
			mutex_unlock(&vm->notifier_lock);
			ret = dma_fence_wait(fence, true);
			dma_fence_put(fence);
			if (ret)
				return ret;
			continue;
		}
		pages = emugpu_userptr_take_pinned(up);
		mutex_unlock(&vm->notifier_lock);
		emugpu_userptr_unpin(up, pages);

		pages = kvmalloc_array(npages, sizeof(*pages),
				       GFP_KERNEL_ACCOUNT);
		if (!pages)
			return -ENOMEM;
		seq = mmu_interval_read_begin(&up->notifier);
		if (mmap_read_lock_killable(mm)) {
			kvfree(pages);
			return -EINTR;
		}
		for (pinned = 0; pinned < npages; pinned += ret) {
			ret = pin_user_pages_remote(mm,
						    up->addr + pinned * PAGE_SIZE,
						    npages - pinned, gup_flags,
						    pages + pinned, NULL);
			if (ret <= 0)
				break;
		}
		mmap_read_unlock(mm);
		atomic64_inc(&stats->faults);
		if (pinned < npages) {
			unpin_user_pages(pages, pinned);
			kvfree(pages);
			return ret < 0 ? ret : -EFAULT;
		}

		mutex_lock(&vm->notifier_lock);
		/*
		 * Another SUBMIT of the object pinned it meanwhile: keep its
		 * pins, whether current or not (the next turn decides), and
		 * drop ours.
		 */
		if (mmu_interval_read_retry(&up->notifier, seq) || up->pages) {
			mutex_unlock(&vm->notifier_lock);
			unpin_user_pages(pages, npages);
			kvfree(pages);
			continue;
		}
		up->pages = pages;
		up->pin_seq = seq;
		atomic_long_add(npages, &stats->pinned_pages);
		emugpu_userptr_map_pinned(up);
		mutex_unlock(&vm->notifier_lock);
		return 0;
	}
	return -EAGAIN;
}

/*
 * Secret memory is not in the kernel's direct map, so the engine cannot
 * kmap it. GUP refuses it (check_vma_flags()), hmm_range_fault() does not,
 * and vma_is_secretmem() is not exported: recognise its file system.
 */
static bool emugpu_vma_is_secretmem(struct vm_area_struct *vma)
{
	return vma->vm_file &&
	       file_inode(vma->vm_file)->i_sb->s_magic == SECRETMEM_MAGIC;
}

/* Does [@start, @end) meet secret memory? Under mmap_lock. */
static bool emugpu_range_is_secret(struct mm_struct *mm, unsigned long start,
				   unsigned long end)
{
	VMA_ITERATOR(vmi, mm, start);
	struct vm_area_struct *vma;

	mmap_assert_locked(mm);
	for_each_vma_range(vmi, vma, end)
		if (emugpu_vma_is_secretmem(vma))
			return true;
	return false;
}

/**
 * emugpu_userptr_fault - fault in the user pages a job is going to use
 * @job: the job, in SUBMIT, not yet published: no notifier waits for it
 * @use: pages of a user pointer mapping
 *
 * Fills the missing page-table entries of @use in chunks, each in the
 * read_begin / fault / lock / read_retry loop, in the submitting process.
 * A chunk that is retried counts against EMUGPU_FAULT_RETRIES, so a range
 * that keeps changing fails the SUBMIT instead of livelocking. Entries
 * filled here may be cleared again before the caller publishes the job;
 * the caller checks, under vm->notifier_lock, and calls again.
 *
 * Return: 0, -EAGAIN (too many retries), -EFAULT (the range is gone or
 * no longer writable, or secret memory), -EINTR (fatal signal), or
 * another error of hmm_range_fault().
 */
int emugpu_userptr_fault(struct emugpu_job *job, struct emugpu_use *use)
{
	struct emugpu_mapping *map = use->map;
	struct emugpu_userptr *up = to_userptr(map->obj);
	struct emugpu_vm *vm = up->vm;
	struct emugpu_stats *stats = &vm->edev->stats;
	struct mm_struct *mm = up->notifier.mm;
	struct hmm_range range = {
		.notifier = &up->notifier,
		.hmm_pfns = job->pfns,
		/*
		 * Writable objects are always faulted for write: a read fault
		 * could give the shared zero page, which a later job must
		 * never write through.
		 */
		.default_flags = HMM_PFN_REQ_FAULT |
				 (up->read_only ? 0 : HMM_PFN_REQ_WRITE),
	};
	unsigned int retries = 0;
	unsigned long i = use->first, n, k;
	bool present;
	int ret = 0;

	if (!mmget_not_zero(mm))
		return -EFAULT;
	if (up->pin) {
		ret = emugpu_userptr_pin(up, mm);
		goto out;
	}

	while (i <= use->last) {
		n = min_t(unsigned long, EMUGPU_FAULT_CHUNK, use->last - i + 1);

		mutex_lock(&vm->notifier_lock);
		present = true;
		for (k = 0; k < n && present; k++)
			present = emugpu_pte_valid(map, i + k);
		mutex_unlock(&vm->notifier_lock);
		if (present) {
			i += n;
			continue;
		}

		range.start = up->addr + ((map->obj_pgoff + i) << PAGE_SHIFT);
		range.end = range.start + (n << PAGE_SHIFT);
		range.notifier_seq = mmu_interval_read_begin(&up->notifier);
		if (mmap_read_lock_killable(mm)) {
			ret = -EINTR;
			break;
		}
		if (emugpu_range_is_secret(mm, range.start, range.end))
			ret = -EFAULT;
		else
			ret = hmm_range_fault(&range);
		mmap_read_unlock(mm);
		atomic64_inc(&stats->faults);
		trace_emugpu_fault(job->seqno, range.start, n, ret);
		if (ret == -EBUSY)
			goto retry;
		/* -EPERM: a write fault on memory that is no longer writable. */
		if (ret == -EPERM)
			ret = -EFAULT;
		if (ret)
			break;

		mutex_lock(&vm->notifier_lock);
		if (mmu_interval_read_retry(&up->notifier, range.notifier_seq)) {
			mutex_unlock(&vm->notifier_lock);
			goto retry;
		}
		for (k = 0; k < n; k++)
			map->pte[i + k] = hmm_pfn_to_page(job->pfns[k]);
		if (map->zapped) {
			map->zapped = false;
			atomic64_inc(&stats->refaults);
		}
		mutex_unlock(&vm->notifier_lock);
		i += n;
		continue;
retry:
		if (++retries > EMUGPU_FAULT_RETRIES) {
			ret = -EAGAIN;
			break;
		}
	}
out:
	/* Not mmput(): the engine must not tear down an address space. */
	mmput_async(mm);
	return ret;
}

/* Is all of [start, end) mapped, with the access the device needs? */
static int emugpu_userptr_check_vmas(struct mm_struct *mm,
				     unsigned long start, unsigned long end,
				     bool read_only)
{
	struct vm_area_struct *vma;
	unsigned long addr = start;
	int ret = 0;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	while (addr < end) {
		vma = vma_lookup(mm, addr);
		if (!vma || (vma->vm_flags & (VM_IO | VM_PFNMAP)) ||
		    emugpu_vma_is_secretmem(vma) ||
		    !(vma->vm_flags & VM_READ) ||
		    (!read_only && !(vma->vm_flags & VM_WRITE))) {
			ret = -EFAULT;
			break;
		}
		addr = vma->vm_end;
	}
	mmap_read_unlock(mm);
	return ret;
}

static void emugpu_userptr_free(struct drm_gem_object *obj)
{
	struct emugpu_userptr *up = to_userptr(obj);
	struct emugpu_device *edev = to_emugpu(obj->dev);

	/* Waits for an invalidation in progress; none can start after. */
	mmu_interval_notifier_remove(&up->notifier);
	WARN_ON(!list_empty(&up->mappings));
	emugpu_userptr_unpin(up, up->pages);
	drm_gem_object_release(obj);
	emugpu_vm_put(up->vm);
	kfree(up);
	atomic_dec(&edev->stats.userptrs);
	atomic_dec(&edev->stats.objects);
}

/*
 * No dma-buf of process memory: an importer could not follow the
 * notifier, and the export would keep the creator's mm alive. amdgpu and
 * i915 refuse it too.
 */
static struct dma_buf *emugpu_userptr_export(struct drm_gem_object *obj,
					     int flags)
{
	return ERR_PTR(-EPERM);
}

const struct drm_gem_object_funcs emugpu_userptr_funcs = {
	.free = emugpu_userptr_free,
	.export = emugpu_userptr_export,
};

bool emugpu_is_userptr(const struct drm_gem_object *obj)
{
	return obj->funcs == &emugpu_userptr_funcs;
}

int emugpu_userptr_ioctl(struct drm_device *drm, void *data,
			 struct drm_file *file)
{
	struct drm_emugpu_userptr *args = data;
	struct emugpu_file *efile = file->driver_priv;
	struct emugpu_device *edev = efile->edev;
	struct emugpu_userptr *up;
	u32 handle;
	int ret;

	if (args->flags & ~EMUGPU_USERPTR_FLAGS)
		return -EINVAL;
	if (!args->size || args->size > EMUGPU_MAX_OBJECT_SIZE ||
	    !IS_ALIGNED(args->size, EMUGPU_PAGE_SIZE) ||
	    !IS_ALIGNED(args->addr, EMUGPU_PAGE_SIZE) ||
	    args->addr > U64_MAX - args->size)
		return -EINVAL;
	if (!access_ok(u64_to_user_ptr(args->addr), args->size))
		return -EFAULT;

	ret = emugpu_userptr_check_vmas(current->mm, args->addr,
					args->addr + args->size,
					args->flags & EMUGPU_USERPTR_READ_ONLY);
	if (ret)
		return ret;

	up = kzalloc_obj(*up, GFP_KERNEL_ACCOUNT);
	if (!up)
		return -ENOMEM;
	up->base.funcs = &emugpu_userptr_funcs;
	drm_gem_private_object_init(drm, &up->base, args->size);
	up->addr = args->addr;
	up->read_only = args->flags & EMUGPU_USERPTR_READ_ONLY;
	up->pin = READ_ONCE(emugpu_notifier_policy) == EMUGPU_POLICY_PIN;
	INIT_LIST_HEAD(&up->mappings);
	emugpu_vm_get(efile->vm);
	up->vm = efile->vm;

	ret = mmu_interval_notifier_insert(&up->notifier, current->mm,
					   args->addr, args->size,
					   &emugpu_userptr_notifier_ops);
	if (ret) {
		drm_gem_object_release(&up->base);
		emugpu_vm_put(up->vm);
		kfree(up);
		return ret;
	}
	atomic_inc(&edev->stats.objects);
	atomic_inc(&edev->stats.userptrs);

	ret = drm_gem_handle_create(file, &up->base, &handle);
	/* The handle holds the object now, or nothing does. */
	drm_gem_object_put(&up->base);
	if (ret)
		return ret;
	args->handle = handle;
	return 0;
}
