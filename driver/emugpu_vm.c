// SPDX-License-Identifier: GPL-2.0-only
/*
 * emugpu device VM: per-file device address space, and its page table.
 *
 * A mapping binds pages of an object at a device address. Its slice of
 * the page table is an array of struct page pointers: a buffer object's
 * pages are filled in at bind time (they are the device's own memory;
 * not pinned: the shrinker clears them when it purges the object, which
 * it does only once no job uses it); a user pointer's entries stay empty
 * until a job faults them in and are cleared by the object's mmu
 * interval notifier. The address space is a drm_gpuvm, its mappings
 * drm_gpuvas: vm->lock guards the tree, vm->notifier_lock the entries and
 * each user pointer's list of mappings, the object's resv each buffer
 * object's list (emugpu_drv.h).
 *
 * Jobs hold references on the mappings they use, so unbinding removes the
 * address range at once and the mapping itself goes with its last job.
 * Unbinding part of a mapping splits it (drm_gpuvm's remap): the parts
 * left are new mappings with the old one's entries, and jobs already
 * submitted keep the old one.
 */
#include <linux/align.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include <drm/drm_gem_shmem_helper.h>
#include <drm/drm_gpuvm.h>
#include <drm/emugpu_drm.h>

#include "emugpu_drv.h"

/*
 * Every VM's notifier lock is initialised here, so lockdep sees one class
 * and the order primed by emugpu_prime_lockdep() applies to all of them.
 */
void emugpu_vm_notifier_lock_init(struct mutex *lock)
{
	static struct lock_class_key key;

	__mutex_init(lock, "&vm->notifier_lock", &key);
}

/* The last reference is gone: drm_gpuvm_fini() has checked the tree. */
static void emugpu_vm_free(struct drm_gpuvm *gpuvm)
{
	struct emugpu_vm *vm = container_of(gpuvm, struct emugpu_vm, gpuvm);

	WARN_ON(vm->active_job);
	WARN_ON(!list_empty(&vm->jobs));
	mutex_destroy(&vm->notifier_lock);
	mutex_destroy(&vm->lock);
	kfree(vm);
}

static const struct drm_gpuvm_ops emugpu_gpuvm_ops = {
	.vm_free = emugpu_vm_free,
};

struct emugpu_vm *emugpu_vm_create(struct emugpu_device *edev)
{
	struct drm_gem_object *r_obj;
	struct emugpu_vm *vm;

	vm = kzalloc_obj(*vm, GFP_KERNEL_ACCOUNT);
	if (!vm)
		return NULL;
	/* The VM's own resv: emugpu has no VM-wide objects to lock with it. */
	r_obj = drm_gpuvm_resv_object_alloc(&edev->drm);
	if (!r_obj) {
		kfree(vm);
		return NULL;
	}
	vm->edev = edev;
	mutex_init(&vm->lock);
	emugpu_vm_notifier_lock_init(&vm->notifier_lock);
	INIT_LIST_HEAD(&vm->jobs);
	drm_gpuvm_init(&vm->gpuvm, "emugpu", 0, &edev->drm, r_obj,
		       EMUGPU_VA_START, EMUGPU_VA_END - EMUGPU_VA_START, 0, 0,
		       &emugpu_gpuvm_ops);
	drm_gem_object_put(r_obj);
	return vm;
}

void emugpu_vm_get(struct emugpu_vm *vm)
{
	drm_gpuvm_get(&vm->gpuvm);
}

void emugpu_vm_put(struct emugpu_vm *vm)
{
	drm_gpuvm_put(&vm->gpuvm);
}

static void emugpu_mapping_release(struct kref *ref)
{
	struct emugpu_mapping *map = container_of(ref, struct emugpu_mapping,
						  ref);
	struct emugpu_vm *vm = map->vm;

	if (emugpu_is_userptr(map->obj)) {
		mutex_lock(&vm->notifier_lock);
		list_del(&map->userptr_link);
		mutex_unlock(&vm->notifier_lock);
	} else if (!list_empty(&map->bo_link)) {
		dma_resv_lock(map->obj->resv, NULL);
		list_del(&map->bo_link);
		dma_resv_unlock(map->obj->resv);
	}
	kvfree(map->pte);
	drm_gem_object_put(map->obj);
	atomic_dec(&vm->edev->stats.mappings);
	emugpu_vm_put(vm);
	kfree(map);
}

void emugpu_mapping_put(struct emugpu_mapping *map)
{
	kref_put(&map->ref, emugpu_mapping_release);
}

/**
 * emugpu_vm_find - the mapping that holds all of [@va, @va + @size)
 * @vm: the VM, its lock held
 * @va: device address
 * @size: bytes, non-zero; @va + @size does not wrap
 *
 * A range that spans two mappings, even adjacent ones, is not found:
 * a command works on one object.
 */
struct emugpu_mapping *emugpu_vm_find(struct emugpu_vm *vm, u64 va, u64 size)
{
	struct drm_gpuva *gpuva;

	lockdep_assert_held(&vm->lock);
	gpuva = drm_gpuva_find_first(&vm->gpuvm, va, size);
	if (!gpuva || gpuva->va.addr > va ||
	    gpuva->va.addr + gpuva->va.range < va + size)
		return NULL;
	return to_emugpu_mapping(gpuva);
}

/* Unbinds every mapping of a VM whose file is being closed. */
void emugpu_vm_teardown(struct emugpu_vm *vm)
{
	struct drm_gpuva *gpuva;

	for (;;) {
		mutex_lock(&vm->lock);
		gpuva = drm_gpuva_find_first(&vm->gpuvm, EMUGPU_VA_START,
					     EMUGPU_VA_END - EMUGPU_VA_START);
		if (gpuva)
			drm_gpuva_remove(gpuva);
		mutex_unlock(&vm->lock);
		if (!gpuva)
			return;
		emugpu_mapping_put(to_emugpu_mapping(gpuva));
	}
}

/*
 * Fills a buffer object's mapping with its pages, getting them if it has
 * none: -EFAULT if the object was purged. Under the object's resv, where
 * the shrinker finds the mapping to clear it again.
 */
static int emugpu_mapping_fill_bo(struct emugpu_mapping *map)
{
	struct emugpu_bo *bo = to_emugpu_bo(map->obj);
	struct sg_table *sgt;
	unsigned long i;
	int ret;

	/* Getting pages would give a purged object new ones: refuse first. */
	if (READ_ONCE(bo->base.madv) < 0)
		return -EFAULT;
	sgt = drm_gem_shmem_get_pages_sgt(&bo->base);
	if (IS_ERR(sgt))
		return PTR_ERR(sgt);
	ret = dma_resv_lock_interruptible(map->obj->resv, NULL);
	if (ret)
		return ret;
	/* Purged since: bo->base.sgt is gone, and the madv says so. */
	ret = -EFAULT;
	if (bo->base.madv < 0 || !bo->base.sgt)
		goto out_unlock;
	for (i = 0; i < map->npages; i++)
		map->pte[i] = bo->base.pages[map->obj_pgoff + i];
	list_add(&map->bo_link, &bo->mappings);
	emugpu_bo_update_lru(bo);
	ret = 0;
out_unlock:
	dma_resv_unlock(map->obj->resv);
	return ret;
}

/* A VRAM object's pages: its own for its life, nothing can take them. */
static void emugpu_mapping_fill_vram(struct emugpu_mapping *map)
{
	unsigned long i;

	for (i = 0; i < map->npages; i++)
		map->pte[i] = emugpu_vram_page(map->obj, map->obj_pgoff + i);
}

/*
 * A mapping of @size bytes of @obj from byte @offset at device address
 * @va, with an empty page table, not yet in the VM: it holds references
 * on @obj and @vm.
 */
static struct emugpu_mapping *emugpu_mapping_alloc(struct emugpu_vm *vm,
						   struct drm_gem_object *obj,
						   u64 va, u64 size, u64 offset)
{
	struct emugpu_mapping *map;

	map = kzalloc_obj(*map, GFP_KERNEL_ACCOUNT);
	if (!map)
		return NULL;
	map->npages = size >> PAGE_SHIFT;
	map->pte = kvcalloc(map->npages, sizeof(*map->pte), GFP_KERNEL_ACCOUNT);
	if (!map->pte) {
		kfree(map);
		return NULL;
	}
	kref_init(&map->ref);
	INIT_LIST_HEAD(&map->userptr_link);
	INIT_LIST_HEAD(&map->bo_link);
	drm_gem_object_get(obj);
	map->obj = obj;
	map->obj_pgoff = offset >> PAGE_SHIFT;
	map->va.va.addr = va;
	map->va.va.range = size;
	map->va.gem.obj = obj;
	map->va.gem.offset = offset;
	emugpu_vm_get(vm);
	map->vm = vm;
	atomic_inc(&vm->edev->stats.mappings);
	return map;
}

/*
 * Fills @part, a part of @old that stays bound when the rest is unbound,
 * with @old's entries, and puts it where the notifier (user pointers) or
 * the shrinker (buffer objects) clears them. Under vm->lock.
 */
static void emugpu_mapping_split(struct emugpu_mapping *old,
				 struct emugpu_mapping *part)
{
	struct emugpu_vm *vm = old->vm;
	struct drm_gem_object *obj = old->obj;
	unsigned long first = part->obj_pgoff - old->obj_pgoff;
	bool is_bo = !emugpu_is_userptr(obj) && !emugpu_is_vram(obj);

	if (is_bo)
		dma_resv_lock(obj->resv, NULL);
	mutex_lock(&vm->notifier_lock);
	memcpy(part->pte, old->pte + first, part->npages * sizeof(*part->pte));
	part->zapped = old->zapped;
	if (emugpu_is_userptr(obj))
		list_add(&part->userptr_link, &to_userptr(obj)->mappings);
	else if (is_bo)
		list_add(&part->bo_link, &to_emugpu_bo(obj)->mappings);
	mutex_unlock(&vm->notifier_lock);
	if (is_bo)
		dma_resv_unlock(obj->resv);
}

/* The parts of split mappings an unbind leaves: at most one at each end. */
#define EMUGPU_UNBIND_PARTS	2

/*
 * Allocates, before anything changes, the mappings for the parts of
 * mappings that @ops split: applying them then cannot fail.
 */
static int emugpu_vm_alloc_parts(struct emugpu_vm *vm,
				 struct drm_gpuva_ops *ops,
				 struct emugpu_mapping **parts)
{
	const struct drm_gpuva_op_map *pieces[2];
	struct emugpu_mapping *old;
	struct drm_gpuva_op *op;
	unsigned int n = 0, i;

	drm_gpuva_for_each_op(op, ops) {
		if (op->op != DRM_GPUVA_OP_REMAP)
			continue;
		old = to_emugpu_mapping(op->remap.unmap->va);
		pieces[0] = op->remap.prev;
		pieces[1] = op->remap.next;
		for (i = 0; i < ARRAY_SIZE(pieces); i++) {
			if (!pieces[i])
				continue;
			if (WARN_ON_ONCE(n == EMUGPU_UNBIND_PARTS))
				return -EINVAL;
			parts[n] = emugpu_mapping_alloc(vm, old->obj,
							pieces[i]->va.addr,
							pieces[i]->va.range,
							pieces[i]->gem.offset);
			if (!parts[n])
				return -ENOMEM;
			n++;
		}
	}
	return 0;
}

/* Is @op well formed, on its own? (Objects are looked up later.) */
static int emugpu_vm_op_check(const struct drm_emugpu_vm_op *op)
{
	if (op->op != EMUGPU_VM_OP_MAP && op->op != EMUGPU_VM_OP_UNMAP)
		return -EINVAL;
	if (op->op == EMUGPU_VM_OP_UNMAP && (op->handle || op->offset))
		return -EINVAL;
	if (!op->size || !IS_ALIGNED(op->size, EMUGPU_PAGE_SIZE) ||
	    !IS_ALIGNED(op->va, EMUGPU_PAGE_SIZE) ||
	    !IS_ALIGNED(op->offset, EMUGPU_PAGE_SIZE))
		return -EINVAL;
	if (op->va < EMUGPU_VA_START || op->va >= EMUGPU_VA_END ||
	    op->size > EMUGPU_VA_END - op->va)
		return -EINVAL;
	return 0;
}

/*
 * The mapping a MAP makes, with its page table filled for buffer
 * objects and VRAM, before vm->lock is taken: getting pages may reclaim.
 */
static struct emugpu_mapping *emugpu_vm_op_mapping(struct drm_file *file,
						   const struct drm_emugpu_vm_op *op)
{
	struct emugpu_file *efile = file->driver_priv;
	struct emugpu_vm *vm = efile->vm;
	struct emugpu_mapping *map = NULL;
	struct drm_gem_object *obj;
	int ret;

	obj = drm_gem_object_lookup(file, op->handle);
	if (!obj)
		return ERR_PTR(-ENOENT);
	ret = -EINVAL;
	if (op->offset >= obj->size || op->size > obj->size - op->offset)
		goto out_put_obj;
	/* A user pointer object shared through dma-buf stays with its VM. */
	if (emugpu_is_userptr(obj) && to_userptr(obj)->vm != vm)
		goto out_put_obj;

	ret = -ENOMEM;
	map = emugpu_mapping_alloc(vm, obj, op->va, op->size, op->offset);
	if (!map)
		goto out_put_obj;
	ret = 0;
	if (emugpu_is_vram(obj))
		emugpu_mapping_fill_vram(map);
	else if (!emugpu_is_userptr(obj))
		ret = emugpu_mapping_fill_bo(map);
	if (ret) {
		/* Undoes everything emugpu_mapping_alloc() and the fill did. */
		emugpu_mapping_put(map);
		map = NULL;
	}
out_put_obj:
	drm_gem_object_put(obj);
	return map ? map : ERR_PTR(ret);
}

/* What one applied operation changed, to undo it if a later one fails. */
struct emugpu_vm_undo {
	struct emugpu_mapping *mapped;		/* MAP: in the tree */
	struct drm_gpuva_ops *unmapped;		/* UNMAP: what it did */
	struct emugpu_mapping *parts[EMUGPU_UNBIND_PARTS];
};

static int emugpu_vm_map_locked(struct emugpu_vm *vm,
				struct emugpu_mapping *map,
				struct emugpu_vm_undo *undo)
{
	int ret;

	lockdep_assert_held(&vm->lock);
	if (!drm_gpuvm_interval_empty(&vm->gpuvm, map->va.va.addr,
				      map->va.va.range))
		return -EBUSY;
	ret = drm_gpuva_insert(&vm->gpuvm, &map->va);
	if (WARN_ON_ONCE(ret))
		return ret;
	if (emugpu_is_userptr(map->obj)) {
		/* From here the notifier clears its entries. */
		mutex_lock(&vm->notifier_lock);
		list_add(&map->userptr_link, &to_userptr(map->obj)->mappings);
		mutex_unlock(&vm->notifier_lock);
	}
	undo->mapped = map;
	return 0;
}

/*
 * Unmaps [@va, @va + @size), splitting the mappings across its ends.
 * Everything that can fail comes before the tree changes.
 */
static int emugpu_vm_unmap_locked(struct emugpu_vm *vm, u64 va, u64 size,
				  struct emugpu_vm_undo *undo)
{
	struct emugpu_mapping *old, *prev, *next;
	struct drm_gpuva_ops *ops;
	struct drm_gpuva_op *op;
	unsigned int i, n = 0;
	int ret;

	lockdep_assert_held(&vm->lock);
	ops = drm_gpuvm_sm_unmap_ops_create(&vm->gpuvm, va, size);
	if (IS_ERR(ops))
		return PTR_ERR(ops);
	ret = -EINVAL;
	if (list_empty(&ops->list))
		goto out_free;
	ret = emugpu_vm_alloc_parts(vm, ops, undo->parts);
	if (ret)
		goto out_free;

	drm_gpuva_for_each_op(op, ops) {
		if (op->op == DRM_GPUVA_OP_UNMAP) {
			drm_gpuva_unmap(&op->unmap);
			continue;
		}
		old = to_emugpu_mapping(op->remap.unmap->va);
		prev = op->remap.prev ? undo->parts[n++] : NULL;
		next = op->remap.next ? undo->parts[n++] : NULL;
		drm_gpuva_remap(prev ? &prev->va : NULL,
				next ? &next->va : NULL, &op->remap);
		if (prev)
			emugpu_mapping_split(old, prev);
		if (next)
			emugpu_mapping_split(old, next);
	}
	undo->unmapped = ops;
	return 0;

out_free:
	drm_gpuva_ops_free(&vm->gpuvm, ops);
	for (i = 0; i < EMUGPU_UNBIND_PARTS; i++) {
		if (undo->parts[i])
			emugpu_mapping_put(undo->parts[i]);
		undo->parts[i] = NULL;
	}
	return ret;
}

/* The mapping an operation of @ops took out of the tree. */
static struct emugpu_mapping *emugpu_vm_op_old(struct drm_gpuva_op *op)
{
	return to_emugpu_mapping(op->op == DRM_GPUVA_OP_UNMAP ? op->unmap.va :
				 op->remap.unmap->va);
}

/*
 * Puts the VM back as it was before @undo's operation: allocates
 * nothing, so it cannot fail. Undone in reverse order, each finds the
 * tree as its operation left it. Under vm->lock; emugpu_vm_undo_put()
 * drops the references afterwards.
 */
static void emugpu_vm_undo_locked(struct emugpu_vm *vm,
				  struct emugpu_vm_undo *undo)
{
	struct drm_gpuva_op *op;
	unsigned int i;

	if (undo->mapped) {
		drm_gpuva_remove(&undo->mapped->va);
		return;
	}
	for (i = 0; i < EMUGPU_UNBIND_PARTS; i++)
		if (undo->parts[i])
			drm_gpuva_remove(&undo->parts[i]->va);
	drm_gpuva_for_each_op(op, undo->unmapped)
		WARN_ON(drm_gpuva_insert(&vm->gpuvm,
					 &emugpu_vm_op_old(op)->va));
}

/*
 * After vm->lock: the references the operation no longer needs. Done, an
 * UNMAP drops the tree's references of the mappings it took out (jobs may
 * hold them longer); undone, the mappings that were put back keep theirs
 * and the ones it made go.
 */
static void emugpu_vm_undo_put(struct emugpu_vm *vm,
			       struct emugpu_vm_undo *undo, bool undone)
{
	struct drm_gpuva_op *op;
	unsigned int i;

	if (undo->mapped) {
		if (undone)
			emugpu_mapping_put(undo->mapped);
		return;
	}
	if (!undo->unmapped)
		return;
	if (undone) {
		for (i = 0; i < EMUGPU_UNBIND_PARTS; i++)
			if (undo->parts[i])
				emugpu_mapping_put(undo->parts[i]);
	} else {
		drm_gpuva_for_each_op(op, undo->unmapped)
			emugpu_mapping_put(emugpu_vm_op_old(op));
	}
	drm_gpuva_ops_free(&vm->gpuvm, undo->unmapped);
}

/*
 * Applies @ops in order, all or none: the mappings of the MAPs are made
 * first, then each operation is applied under vm->lock, and if one fails
 * those before it are undone.
 */
static int emugpu_vm_apply(struct drm_file *file,
			   const struct drm_emugpu_vm_op *ops, unsigned int count)
{
	struct emugpu_file *efile = file->driver_priv;
	struct emugpu_vm *vm = efile->vm;
	struct emugpu_mapping **maps;
	struct emugpu_vm_undo *undo;
	unsigned int i, done = 0;
	int ret = 0;

	for (i = 0; i < count; i++) {
		ret = emugpu_vm_op_check(&ops[i]);
		if (ret)
			return ret;
	}
	maps = kcalloc(count, sizeof(*maps), GFP_KERNEL_ACCOUNT);
	undo = kcalloc(count, sizeof(*undo), GFP_KERNEL_ACCOUNT);
	if (!maps || !undo) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < count && !ret; i++) {
		if (ops[i].op != EMUGPU_VM_OP_MAP)
			continue;
		maps[i] = emugpu_vm_op_mapping(file, &ops[i]);
		if (IS_ERR(maps[i])) {
			ret = PTR_ERR(maps[i]);
			maps[i] = NULL;
		}
	}
	if (ret)
		goto out_put_maps;

	mutex_lock(&vm->lock);
	for (; done < count; done++) {
		if (ops[done].op == EMUGPU_VM_OP_MAP)
			ret = emugpu_vm_map_locked(vm, maps[done], &undo[done]);
		else
			ret = emugpu_vm_unmap_locked(vm, ops[done].va,
						     ops[done].size,
						     &undo[done]);
		if (ret)
			break;
		/* In the tree now: the tree's reference, undone or not. */
		maps[done] = NULL;
	}
	if (ret)
		for (i = done; i-- > 0;)
			emugpu_vm_undo_locked(vm, &undo[i]);
	mutex_unlock(&vm->lock);
	for (i = 0; i < done; i++)
		emugpu_vm_undo_put(vm, &undo[i], ret);

out_put_maps:
	for (i = 0; i < count; i++)
		if (maps[i])
			emugpu_mapping_put(maps[i]);
out_free:
	kfree(undo);
	kfree(maps);
	return ret;
}

int emugpu_vm_bind_ioctl(struct drm_device *drm, void *data,
			 struct drm_file *file)
{
	struct drm_emugpu_vm_bind *args = data;
	const struct drm_emugpu_vm_op op = {
		.op = EMUGPU_VM_OP_MAP, .handle = args->handle,
		.offset = args->offset, .va = args->va, .size = args->size,
	};

	if (args->flags)
		return -EINVAL;
	return emugpu_vm_apply(file, &op, 1);
}

int emugpu_vm_unbind_ioctl(struct drm_device *drm, void *data,
			   struct drm_file *file)
{
	struct drm_emugpu_vm_unbind *args = data;
	const struct drm_emugpu_vm_op op = {
		.op = EMUGPU_VM_OP_UNMAP, .va = args->va, .size = args->size,
	};

	if (args->flags || args->pad)
		return -EINVAL;
	return emugpu_vm_apply(file, &op, 1);
}

int emugpu_vm_ops_ioctl(struct drm_device *drm, void *data,
			struct drm_file *file)
{
	struct drm_emugpu_vm_ops *args = data;
	struct drm_emugpu_vm_op *ops;
	int ret;

	if (args->flags || !args->count || args->count > EMUGPU_MAX_VM_OPS)
		return -EINVAL;
	ops = memdup_array_user(u64_to_user_ptr(args->ops), args->count,
				sizeof(*ops));
	if (IS_ERR(ops))
		return PTR_ERR(ops);
	ret = emugpu_vm_apply(file, ops, args->count);
	kfree(ops);
	return ret;
}
