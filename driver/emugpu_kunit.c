// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for emugpu's internals: command checks, the device VM's
 * range lookup, which page-table entries a user range covers, which jobs
 * use which pages, and the notifier's decisions (refuse only what the
 * running job uses, cancel only for an OOM victim, never when the knob
 * says not to). The notifier is called as the mmu notifier core calls it
 * for the OOM reaper (a non-blockable range), on the test's own mm.
 */
#include <kunit/test.h>
#include <linux/mman.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/coredump.h>
#include <linux/sched/mm.h>

#include <drm/drm_kunit_helpers.h>
#include <drm/emugpu_drm.h>

#include "emugpu_drv.h"

static void emugpu_test_cmd_check(struct kunit *test)
{
	const u64 big = EMUGPU_MAX_OBJECT_SIZE;
	const struct {
		struct drm_emugpu_cmd cmd;
		int want;
	} cases[] = {
		{ { .op = EMUGPU_OP_FILL, .dst = 0x100000, .size = 4096,
		    .value = 0xff }, 0 },
		{ { .op = EMUGPU_OP_FILL, .dst = 0x100000, .size = 4096,
		    .value = 0x100 }, -EINVAL },
		{ { .op = EMUGPU_OP_FILL, .dst = 0x100000, .size = 4096,
		    .src = 1 }, -EINVAL },
		{ { .op = EMUGPU_OP_FILL, .dst = 0x100000, .size = 0 },
		  -EINVAL },
		{ { .op = EMUGPU_OP_FILL, .dst = 0x100000, .size = big + 1 },
		  -EINVAL },
		{ { .op = EMUGPU_OP_FILL, .dst = U64_MAX - 10, .size = 4096 },
		  -EINVAL },
		{ { .op = EMUGPU_OP_FILL, .pad = 1, .dst = 0x100000,
		    .size = 1 }, -EINVAL },
		{ { .op = EMUGPU_OP_COPY, .dst = 0x200000, .src = 0x100000,
		    .size = 0x100000 }, 0 },
		{ { .op = EMUGPU_OP_COPY, .dst = 0x100800, .src = 0x100000,
		    .size = 0x1000 }, -EINVAL },
		{ { .op = EMUGPU_OP_COPY, .dst = 0x100000, .src = 0x100800,
		    .size = 0x1000 }, -EINVAL },
		{ { .op = EMUGPU_OP_COPY, .dst = 0x200000, .src = 0x100000,
		    .size = 16, .value = 1 }, -EINVAL },
		{ { .op = EMUGPU_OP_CHECKSUM, .dst = 0x200008, .src = 0x100000,
		    .size = 100 }, 0 },
		{ { .op = EMUGPU_OP_CHECKSUM, .dst = 0x200004, .src = 0x100000,
		    .size = 100 }, -EINVAL },
		{ { .op = EMUGPU_OP_SPIN, .src = 0x100000, .size = 4096,
		    .value = 1000 }, 0 },
		{ { .op = EMUGPU_OP_SPIN, .dst = 8, .src = 0x100000,
		    .size = 4096 }, -EINVAL },
		{ { .op = 0, .dst = 0x100000, .size = 1 }, -EINVAL },
		{ { .op = 5, .dst = 0x100000, .size = 1 }, -EINVAL },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++)
		KUNIT_EXPECT_EQ_MSG(test, emugpu_cmd_check(&cases[i].cmd),
				    cases[i].want, "case %u", i);
}

/*
 * A device of the test's own, not the driver's: its counters start at
 * zero, and a VM needs a DRM device for drm_gpuvm.
 */
static struct emugpu_device *emugpu_test_device(struct kunit *test)
{
	struct emugpu_device *edev;
	struct device *dev;

	dev = drm_kunit_helper_alloc_device(test);
	if (IS_ERR(dev))
		return NULL;
	/* DRIVER_GEM: the VM's resv object is a GEM object. */
	edev = drm_kunit_helper_alloc_drm_device(test, dev,
						 struct emugpu_device, drm,
						 DRIVER_GEM);
	if (IS_ERR(edev))
		return NULL;
	init_waitqueue_head(&edev->engine_wait);
	return edev;
}

static void emugpu_test_map_init(struct emugpu_mapping *map,
				 struct drm_gem_object *obj, u64 va,
				 unsigned long npages, pgoff_t pgoff)
{
	memset(map, 0, sizeof(*map));
	kref_init(&map->ref);
	INIT_LIST_HEAD(&map->userptr_link);
	map->obj = obj;
	map->npages = npages;
	map->obj_pgoff = pgoff;
	map->va.va.addr = va;
	map->va.va.range = npages * PAGE_SIZE;
}

static void emugpu_test_vm_find(struct kunit *test)
{
	struct emugpu_device *edev = emugpu_test_device(test);
	struct emugpu_mapping a, b;
	struct emugpu_vm *vm;

	KUNIT_ASSERT_NOT_NULL(test, edev);
	vm = emugpu_vm_create(edev);
	KUNIT_ASSERT_NOT_NULL(test, vm);
	emugpu_test_map_init(&a, NULL, 0x100000, 4, 0);
	emugpu_test_map_init(&b, NULL, 0x104000, 4, 0);

	mutex_lock(&vm->lock);
	KUNIT_EXPECT_EQ(test, drm_gpuva_insert(&vm->gpuvm, &a.va), 0);
	KUNIT_EXPECT_EQ(test, drm_gpuva_insert(&vm->gpuvm, &b.va), 0);
	KUNIT_EXPECT_PTR_EQ(test, emugpu_vm_find(vm, 0x100000, 0x4000), &a);
	KUNIT_EXPECT_PTR_EQ(test, emugpu_vm_find(vm, 0x103fff, 1), &a);
	KUNIT_EXPECT_PTR_EQ(test, emugpu_vm_find(vm, 0x104000, 1), &b);
	/* Adjacent mappings are still two objects: no command spans them. */
	KUNIT_EXPECT_NULL(test, emugpu_vm_find(vm, 0x103000, 0x2000));
	KUNIT_EXPECT_NULL(test, emugpu_vm_find(vm, 0x0ff000, 0x2000));
	KUNIT_EXPECT_NULL(test, emugpu_vm_find(vm, 0x108000, 1));
	drm_gpuva_remove(&a.va);
	drm_gpuva_remove(&b.va);
	mutex_unlock(&vm->lock);
	emugpu_vm_put(vm);
}

static void emugpu_test_pte_span(struct kunit *test)
{
	struct emugpu_userptr up = { .addr = 0x10000000 };
	struct emugpu_mapping map;
	unsigned long first, last;

	/* Object pages 2..5 mapped: user [0x10002000, 0x10006000). */
	emugpu_test_map_init(&map, &up.base, 0x100000, 4, 2);

	KUNIT_EXPECT_FALSE(test, emugpu_pte_span(&map, &up, 0x10000000,
						 0x10002000, &first, &last));
	KUNIT_EXPECT_FALSE(test, emugpu_pte_span(&map, &up, 0x10006000,
						 0x10008000, &first, &last));
	KUNIT_EXPECT_TRUE(test, emugpu_pte_span(&map, &up, 0x10000000,
						0x20000000, &first, &last));
	KUNIT_EXPECT_EQ(test, first, 0UL);
	KUNIT_EXPECT_EQ(test, last, 3UL);
	KUNIT_EXPECT_TRUE(test, emugpu_pte_span(&map, &up, 0x10003800,
						0x10004001, &first, &last));
	KUNIT_EXPECT_EQ(test, first, 1UL);
	KUNIT_EXPECT_EQ(test, last, 2UL);
	KUNIT_EXPECT_FALSE(test, emugpu_pte_span(&map, &up, 0x10004000,
						 0x10004000, &first, &last));
}

static void emugpu_test_job_uses(struct kunit *test)
{
	struct emugpu_userptr up = { .addr = 0x10000000 };
	struct emugpu_userptr other = { .addr = 0x10000000 };
	struct emugpu_mapping map;
	struct emugpu_job *job;

	job = kunit_kzalloc(test, struct_size(job, uses, 1), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, job);
	emugpu_test_map_init(&map, &up.base, 0x100000, 16, 0);
	/* The job uses pages 4..5 of the object. */
	job->uses[0] = (struct emugpu_use){ .map = &map, .first = 4,
					    .last = 5 };
	job->nuses = 1;

	KUNIT_EXPECT_TRUE(test, emugpu_job_uses(job, &up, 0x10000000,
						0x10010000));
	KUNIT_EXPECT_TRUE(test, emugpu_job_uses(job, &up, 0x10005fff,
						0x10006000));
	KUNIT_EXPECT_FALSE(test, emugpu_job_uses(job, &up, 0x10000000,
						 0x10004000));
	KUNIT_EXPECT_FALSE(test, emugpu_job_uses(job, &up, 0x10006000,
						 0x10010000));
	/* Same addresses, another object: not this job's pages. */
	KUNIT_EXPECT_FALSE(test, emugpu_job_uses(job, &other, 0x10000000,
						 0x10010000));
}

/* A user pointer over the test's own memory, with a fake running job. */
struct emugpu_test_ctx {
	struct emugpu_device *edev;
	struct emugpu_vm *vm;
	struct emugpu_userptr up;
	struct emugpu_mapping map;
	struct page *pages[8];
	struct emugpu_job *job;
	unsigned long addr;
};

static int emugpu_test_ctx_init(struct kunit *test,
				struct emugpu_test_ctx *ctx)
{
	unsigned long i;

	ctx->edev = emugpu_test_device(test);
	if (!ctx->edev)
		return -ENOMEM;
	ctx->vm = emugpu_vm_create(ctx->edev);
	if (!ctx->vm)
		return -ENOMEM;
	ctx->addr = kunit_vm_mmap(test, NULL, 0, 8 * PAGE_SIZE,
				  PROT_READ | PROT_WRITE,
				  MAP_ANONYMOUS | MAP_PRIVATE, 0);
	if (!ctx->addr)
		return -ENOMEM;

	ctx->up.base.funcs = &emugpu_userptr_funcs;
	ctx->up.addr = ctx->addr;
	ctx->up.vm = ctx->vm;
	INIT_LIST_HEAD(&ctx->up.mappings);
	emugpu_test_map_init(&ctx->map, &ctx->up.base, 0x100000, 8, 0);
	/* Stand-ins for faulted pages: only NULL or not matters here. */
	for (i = 0; i < 8; i++)
		ctx->pages[i] = ZERO_PAGE(0);
	ctx->map.pte = ctx->pages;
	list_add(&ctx->map.userptr_link, &ctx->up.mappings);

	ctx->job = kunit_kzalloc(test, struct_size(ctx->job, uses, 1),
				 GFP_KERNEL);
	if (!ctx->job)
		return -ENOMEM;
	ctx->job->vm = ctx->vm;
	ctx->job->seqno = 1;
	/* The running job uses pages 2..3. */
	ctx->job->uses[0] = (struct emugpu_use){ .map = &ctx->map,
						 .first = 2, .last = 3 };
	ctx->job->nuses = 1;
	/* Published and running. */
	ctx->job->state = EMUGPU_JOB_RUNNING;
	INIT_LIST_HEAD(&ctx->job->vm_link);
	list_add(&ctx->job->vm_link, &ctx->vm->jobs);
	ctx->vm->active_job = ctx->job;
	return 0;
}

/* The engine ends the job: it is no longer published. */
static void emugpu_test_job_done(struct emugpu_test_ctx *ctx)
{
	list_del_init(&ctx->job->vm_link);
	ctx->vm->active_job = NULL;
}

static void emugpu_test_ctx_fini(struct emugpu_test_ctx *ctx)
{
	emugpu_test_job_done(ctx);
	emugpu_vm_put(ctx->vm);
}

/*
 * Non-blockable invalidation of pages [first, last] of the test range, as
 * mn_itree_invalidate() makes it for the reaper: -EAGAIN if refused.
 */
static int emugpu_test_invalidate(struct emugpu_test_ctx *ctx,
				  unsigned long first, unsigned long last)
{
	struct mmu_notifier_range range;
	bool ok;

	mmu_notifier_range_init(&range, MMU_NOTIFY_UNMAP, 0, current->mm,
				ctx->addr + first * PAGE_SIZE,
				ctx->addr + (last + 1) * PAGE_SIZE);
	/* Any odd sequence number marks "invalidation in progress". */
	ok = emugpu_userptr_notifier_ops.invalidate(&ctx->up.notifier, &range,
						    1);
	return ok ? 0 : -EAGAIN;
}

/* The same, blockable, with no job running: it never waits. */
static int emugpu_test_invalidate_blockable(struct emugpu_test_ctx *ctx,
					    unsigned long first,
					    unsigned long last)
{
	struct mmu_notifier_range range;

	mmu_notifier_range_init(&range, MMU_NOTIFY_UNMAP,
				MMU_NOTIFIER_RANGE_BLOCKABLE, current->mm,
				ctx->addr + first * PAGE_SIZE,
				ctx->addr + (last + 1) * PAGE_SIZE);
	return emugpu_userptr_notifier_ops.invalidate(&ctx->up.notifier,
						      &range, 1) ? 0 : -EAGAIN;
}

/*
 * emugpu_pte_valid() under the notifier lock, as the driver calls it; the
 * lock is dropped before the caller's expectation, which allocates when it
 * fails (lockdep: reclaim takes the notifier lock).
 */
static bool emugpu_test_pte_valid(struct emugpu_test_ctx *ctx,
				  unsigned long i)
{
	bool valid;

	mutex_lock(&ctx->vm->notifier_lock);
	valid = emugpu_pte_valid(&ctx->map, i);
	mutex_unlock(&ctx->vm->notifier_lock);
	return valid;
}

static void emugpu_test_restore_policy(void *policy)
{
	WRITE_ONCE(emugpu_notifier_policy, (int)(uintptr_t)policy);
}

/* Sets the notifier policy for the rest of the test. */
static void emugpu_test_set_policy(struct kunit *test, int policy)
{
	int old = READ_ONCE(emugpu_notifier_policy);

	KUNIT_ASSERT_EQ(test,
			kunit_add_action_or_reset(test,
						  emugpu_test_restore_policy,
						  (void *)(uintptr_t)old), 0);
	WRITE_ONCE(emugpu_notifier_policy, policy);
}

static void emugpu_test_refuse_only_busy(struct kunit *test)
{
	struct emugpu_test_ctx ctx = {};

	KUNIT_ASSERT_EQ(test, emugpu_test_ctx_init(test, &ctx), 0);

	/* Pages the job does not use are zapped, even when not blockable. */
	KUNIT_EXPECT_EQ(test, emugpu_test_invalidate(&ctx, 0, 1), 0);
	KUNIT_EXPECT_NULL(test, ctx.pages[0]);
	KUNIT_EXPECT_NULL(test, ctx.pages[1]);
	KUNIT_EXPECT_NOT_NULL(test, ctx.pages[2]);
	KUNIT_EXPECT_EQ(test, emugpu_test_invalidate(&ctx, 4, 7), 0);
	KUNIT_EXPECT_NULL(test, ctx.pages[4]);

	/* One page the job uses is enough to refuse, and nothing changes. */
	KUNIT_EXPECT_EQ(test, emugpu_test_invalidate(&ctx, 3, 5), -EAGAIN);
	KUNIT_EXPECT_NOT_NULL(test, ctx.pages[2]);
	KUNIT_EXPECT_NOT_NULL(test, ctx.pages[3]);
	KUNIT_EXPECT_EQ(test, atomic64_read(&ctx.edev->stats.inval_refused),
			1LL);
	/* Not an OOM victim: the job keeps running. */
	KUNIT_EXPECT_FALSE(test, test_bit(EMUGPU_JOB_CANCEL,
					  &ctx.job->flags));

	/* No job running: everything goes. */
	emugpu_test_job_done(&ctx);
	KUNIT_EXPECT_EQ(test, emugpu_test_invalidate(&ctx, 0, 7), 0);
	KUNIT_EXPECT_NULL(test, ctx.pages[2]);
	KUNIT_EXPECT_NULL(test, ctx.pages[3]);
	emugpu_test_ctx_fini(&ctx);
}

/*
 * The xe policy refuses every non-blockable invalidation, even of pages no
 * job uses and with no job at all; blockable ones still zap.
 */
static void emugpu_test_policy_xe(struct kunit *test)
{
	struct emugpu_test_ctx ctx = {};

	KUNIT_ASSERT_EQ(test, emugpu_test_ctx_init(test, &ctx), 0);
	emugpu_test_set_policy(test, EMUGPU_POLICY_XE);
	KUNIT_EXPECT_EQ(test, emugpu_test_invalidate(&ctx, 0, 1), -EAGAIN);
	KUNIT_EXPECT_NOT_NULL(test, ctx.pages[0]);
	emugpu_test_job_done(&ctx);
	KUNIT_EXPECT_EQ(test, emugpu_test_invalidate(&ctx, 0, 7), -EAGAIN);
	KUNIT_EXPECT_NOT_NULL(test, ctx.pages[0]);
	KUNIT_EXPECT_EQ(test, atomic64_read(&ctx.edev->stats.inval_refused),
			2LL);
	KUNIT_EXPECT_EQ(test, emugpu_test_invalidate_blockable(&ctx, 0, 7), 0);
	KUNIT_EXPECT_NULL(test, ctx.pages[0]);
	emugpu_test_ctx_fini(&ctx);
}

/*
 * A pinned user pointer (policy pin, as i915) agrees to every
 * invalidation, even of pages the running job uses, and keeps its entries:
 * the pages are pinned. No job may start on them until they are pinned
 * again.
 */
static void emugpu_test_policy_pin(struct kunit *test)
{
	struct emugpu_test_ctx ctx = {};

	KUNIT_ASSERT_EQ(test, emugpu_test_ctx_init(test, &ctx), 0);
	ctx.up.pin = true;
	KUNIT_EXPECT_TRUE(test, emugpu_test_pte_valid(&ctx, 2));

	KUNIT_EXPECT_EQ(test, emugpu_test_invalidate(&ctx, 0, 7), 0);
	KUNIT_EXPECT_NOT_NULL(test, ctx.pages[2]);
	KUNIT_EXPECT_EQ(test, atomic64_read(&ctx.edev->stats.inval_refused),
			0LL);
	KUNIT_EXPECT_FALSE(test, test_bit(EMUGPU_JOB_CANCEL,
					  &ctx.job->flags));
	KUNIT_EXPECT_FALSE(test, emugpu_test_pte_valid(&ctx, 2));
	emugpu_test_ctx_fini(&ctx);
}

/*
 * A job that is published but still queued holds its pages as a running
 * one does: its fence is out, and it will not fault them again.
 */
static void emugpu_test_refuse_queued_job(struct kunit *test)
{
	struct emugpu_test_ctx ctx = {};

	KUNIT_ASSERT_EQ(test, emugpu_test_ctx_init(test, &ctx), 0);
	ctx.vm->active_job = NULL;
	ctx.job->state = EMUGPU_JOB_QUEUED;
	KUNIT_EXPECT_EQ(test, emugpu_test_invalidate(&ctx, 3, 3), -EAGAIN);
	KUNIT_EXPECT_NOT_NULL(test, ctx.pages[3]);
	KUNIT_EXPECT_EQ(test, emugpu_test_invalidate(&ctx, 0, 1), 0);
	KUNIT_EXPECT_NULL(test, ctx.pages[1]);
	emugpu_test_ctx_fini(&ctx);
}

static void emugpu_test_trylock_fails(struct kunit *test)
{
	struct emugpu_test_ctx ctx = {};
	int ret;

	KUNIT_ASSERT_EQ(test, emugpu_test_ctx_init(test, &ctx), 0);
	emugpu_test_job_done(&ctx);
	/* Somebody holds the driver lock: back off, never wait. */
	mutex_lock(&ctx.vm->notifier_lock);
	ret = emugpu_test_invalidate(&ctx, 0, 0);
	mutex_unlock(&ctx.vm->notifier_lock);
	KUNIT_EXPECT_EQ(test, ret, -EAGAIN);
	KUNIT_EXPECT_NOT_NULL(test, ctx.pages[0]);
	emugpu_test_ctx_fini(&ctx);
}

/*
 * A VM operation or a submit holds vm->lock, not the notifier's lock: the
 * reaper's non-blockable call still zaps what no job uses, and refuses
 * only what the running job uses.
 */
static void emugpu_test_vm_lock_does_not_block_notifier(struct kunit *test)
{
	struct emugpu_test_ctx ctx = {};
	int idle, busy;

	KUNIT_ASSERT_EQ(test, emugpu_test_ctx_init(test, &ctx), 0);
	mutex_lock(&ctx.vm->lock);
	idle = emugpu_test_invalidate(&ctx, 0, 1);
	busy = emugpu_test_invalidate(&ctx, 2, 2);
	mutex_unlock(&ctx.vm->lock);
	KUNIT_EXPECT_EQ(test, idle, 0);
	KUNIT_EXPECT_NULL(test, ctx.pages[0]);
	KUNIT_EXPECT_EQ(test, busy, -EAGAIN);
	KUNIT_EXPECT_NOT_NULL(test, ctx.pages[2]);
	emugpu_test_ctx_fini(&ctx);
}

/*
 * A non-blockable call on pages [@first, @last] is refused; then whether
 * the job is cancelled, and how many OOM cancels have been counted.
 */
static void emugpu_test_expect_refusal(struct kunit *test,
				       struct emugpu_test_ctx *ctx,
				       unsigned long first, unsigned long last,
				       bool cancelled, long long cancels)
{
	KUNIT_EXPECT_EQ(test, emugpu_test_invalidate(ctx, first, last),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, test_bit(EMUGPU_JOB_CANCEL, &ctx->job->flags),
			cancelled);
	KUNIT_EXPECT_EQ(test, atomic64_read(&ctx->edev->stats.oom_cancels),
			cancels);
}

static void emugpu_test_oom_victim_cancel(struct kunit *test)
{
	struct emugpu_test_ctx ctx = {};
	struct mm_struct *mm;

	KUNIT_ASSERT_EQ(test, emugpu_test_ctx_init(test, &ctx), 0);
	/* kunit_vm_mmap() gave the test an mm of its own. */
	mm = current->mm;

	/* What the reaper does first; the test's mm is private to it. */
	mm_flags_set(MMF_UNSTABLE, mm);
	emugpu_test_set_policy(test, EMUGPU_POLICY_NOCANCEL);
	emugpu_test_expect_refusal(test, &ctx, 2, 2, false, 0);

	emugpu_test_set_policy(test, EMUGPU_POLICY_PRECISE);
	emugpu_test_expect_refusal(test, &ctx, 0, 7, true, 1);
	/* A second pass while the job winds down does not count twice. */
	emugpu_test_expect_refusal(test, &ctx, 0, 7, true, 1);

	/* xe-kick refuses as xe does, but ends the victim's job first. */
	emugpu_test_set_policy(test, EMUGPU_POLICY_XE_KICK);
	clear_bit(EMUGPU_JOB_CANCEL, &ctx.job->flags);
	emugpu_test_expect_refusal(test, &ctx, 0, 1, false, 1);
	emugpu_test_expect_refusal(test, &ctx, 2, 2, true, 2);
	emugpu_test_set_policy(test, EMUGPU_POLICY_PRECISE);

	/* The engine ends the job: the reaper's next pass succeeds. */
	emugpu_test_job_done(&ctx);
	KUNIT_EXPECT_EQ(test, emugpu_test_invalidate(&ctx, 0, 7), 0);
	mm_flags_clear(MMF_UNSTABLE, mm);
	emugpu_test_ctx_fini(&ctx);
}

/*
 * An OOM victim's job that the engine has not started never will:
 * precise cancels it and unpublishes it at once, so the reaper's first
 * pass takes the pages, however long the queue ahead of the job is.
 */
static void emugpu_test_oom_victim_queued_job(struct kunit *test)
{
	struct emugpu_test_ctx ctx = {};
	struct mm_struct *mm;

	KUNIT_ASSERT_EQ(test, emugpu_test_ctx_init(test, &ctx), 0);
	mm = current->mm;
	ctx.vm->active_job = NULL;
	ctx.job->state = EMUGPU_JOB_QUEUED;
	mm_flags_set(MMF_UNSTABLE, mm);
	emugpu_test_set_policy(test, EMUGPU_POLICY_PRECISE);
	KUNIT_EXPECT_EQ(test, emugpu_test_invalidate(&ctx, 0, 7), 0);
	KUNIT_EXPECT_TRUE(test, test_bit(EMUGPU_JOB_CANCEL, &ctx.job->flags));
	KUNIT_EXPECT_TRUE(test, list_empty(&ctx.job->vm_link));
	KUNIT_EXPECT_NULL(test, ctx.pages[2]);
	KUNIT_EXPECT_EQ(test, atomic64_read(&ctx.edev->stats.oom_cancels), 1);
	mm_flags_clear(MMF_UNSTABLE, mm);
	emugpu_test_ctx_fini(&ctx);
}

static struct kunit_case emugpu_test_cases[] = {
	KUNIT_CASE(emugpu_test_cmd_check),
	KUNIT_CASE(emugpu_test_vm_find),
	KUNIT_CASE(emugpu_test_pte_span),
	KUNIT_CASE(emugpu_test_job_uses),
	KUNIT_CASE(emugpu_test_refuse_only_busy),
	KUNIT_CASE(emugpu_test_policy_xe),
	KUNIT_CASE(emugpu_test_policy_pin),
	KUNIT_CASE(emugpu_test_refuse_queued_job),
	KUNIT_CASE(emugpu_test_trylock_fails),
	KUNIT_CASE(emugpu_test_vm_lock_does_not_block_notifier),
	KUNIT_CASE(emugpu_test_oom_victim_cancel),
	KUNIT_CASE(emugpu_test_oom_victim_queued_job),
	{}
};

static struct kunit_suite emugpu_test_suite = {
	.name = "emugpu",
	.test_cases = emugpu_test_cases,
};

kunit_test_suite(emugpu_test_suite);
