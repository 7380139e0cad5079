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
 * interval notifier. vm->lock guards the tree, vm->notifier_lock the
 * entries and each user pointer's list of mappings, the object's resv
 * each buffer object's list (emugpu_drv.h).
 *
 * Jobs hold references on the mappings they use, so unbinding removes the
 * address range at once and the mapping itself goes with its last job.
 */
#include <linux/align.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include <drm/drm_gem_shmem_helper.h>
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

struct emugpu_vm *emugpu_vm_create(struct emugpu_device *edev)
{
	struct emugpu_vm *vm;

	vm = kzalloc_obj(*vm, GFP_KERNEL_ACCOUNT);
	if (!vm)
		return NULL;
	kref_init(&vm->ref);
	vm->edev = edev;
	mutex_init(&vm->lock);
	emugpu_vm_notifier_lock_init(&vm->notifier_lock);
	vm->mappings = RB_ROOT_CACHED;
	INIT_LIST_HEAD(&vm->jobs);
	return vm;
}

static void emugpu_vm_release(struct kref *ref)
{
	struct emugpu_vm *vm = container_of(ref, struct emugpu_vm, ref);

	WARN_ON(!RB_EMPTY_ROOT(&vm->mappings.rb_root));
	WARN_ON(vm->active_job);
	WARN_ON(!list_empty(&vm->jobs));
	mutex_destroy(&vm->notifier_lock);
	mutex_destroy(&vm->lock);
	kfree(vm);
}

void emugpu_vm_put(struct emugpu_vm *vm)
{
	kref_put(&vm->ref, emugpu_vm_release);
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
	struct interval_tree_node *it;

	lockdep_assert_held(&vm->lock);
	it = interval_tree_iter_first(&vm->mappings, va, va + size - 1);
	if (!it || it->start > va || it->last < va + size - 1)
		return NULL;
	return container_of(it, struct emugpu_mapping, it);
}

/* Unbinds every mapping of a VM whose file is being closed. */
void emugpu_vm_teardown(struct emugpu_vm *vm)
{
	struct interval_tree_node *it;

	for (;;) {
		mutex_lock(&vm->lock);
		it = interval_tree_iter_first(&vm->mappings, 0, ULONG_MAX);
		if (it)
			interval_tree_remove(it, &vm->mappings);
		mutex_unlock(&vm->lock);
		if (!it)
			return;
		emugpu_mapping_put(container_of(it, struct emugpu_mapping, it));
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

int emugpu_vm_bind_ioctl(struct drm_device *drm, void *data,
			 struct drm_file *file)
{
	struct drm_emugpu_vm_bind *args = data;
	struct emugpu_file *efile = file->driver_priv;
	struct emugpu_vm *vm = efile->vm;
	struct emugpu_mapping *map;
	struct drm_gem_object *obj;
	int ret;

	if (args->flags)
		return -EINVAL;
	if (!args->size || !IS_ALIGNED(args->size, EMUGPU_PAGE_SIZE) ||
	    !IS_ALIGNED(args->va, EMUGPU_PAGE_SIZE) ||
	    !IS_ALIGNED(args->offset, EMUGPU_PAGE_SIZE))
		return -EINVAL;
	if (args->va < EMUGPU_VA_START || args->va >= EMUGPU_VA_END ||
	    args->size > EMUGPU_VA_END - args->va)
		return -EINVAL;

	obj = drm_gem_object_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;
	ret = -EINVAL;
	if (args->offset >= obj->size || args->size > obj->size - args->offset)
		goto err_put_obj;
	/* A user pointer object shared through dma-buf stays with its VM. */
	if (emugpu_is_userptr(obj) && to_userptr(obj)->vm != vm)
		goto err_put_obj;

	ret = -ENOMEM;
	map = kzalloc_obj(*map, GFP_KERNEL_ACCOUNT);
	if (!map)
		goto err_put_obj;
	map->npages = args->size >> PAGE_SHIFT;
	map->pte = kvcalloc(map->npages, sizeof(*map->pte), GFP_KERNEL_ACCOUNT);
	if (!map->pte)
		goto err_free_map;
	kref_init(&map->ref);
	INIT_LIST_HEAD(&map->userptr_link);
	INIT_LIST_HEAD(&map->bo_link);
	map->obj = obj;
	map->obj_pgoff = args->offset >> PAGE_SHIFT;
	map->it.start = args->va;
	map->it.last = args->va + args->size - 1;
	kref_get(&vm->ref);
	map->vm = vm;
	atomic_inc(&vm->edev->stats.mappings);
	if (emugpu_is_vram(obj)) {
		emugpu_mapping_fill_vram(map);
	} else if (!emugpu_is_userptr(obj)) {
		ret = emugpu_mapping_fill_bo(map);
		if (ret) {
			/* Undoes everything above, including the object ref. */
			emugpu_mapping_put(map);
			return ret;
		}
	}

	mutex_lock(&vm->lock);
	if (interval_tree_iter_first(&vm->mappings, map->it.start,
				     map->it.last)) {
		mutex_unlock(&vm->lock);
		/* Undoes everything above, including the object reference. */
		emugpu_mapping_put(map);
		return -EBUSY;
	}
	interval_tree_insert(&map->it, &vm->mappings);
	map->in_tree = true;
	if (emugpu_is_userptr(obj)) {
		/* From here the notifier clears its entries. */
		mutex_lock(&vm->notifier_lock);
		list_add(&map->userptr_link, &to_userptr(obj)->mappings);
		mutex_unlock(&vm->notifier_lock);
	}
	mutex_unlock(&vm->lock);
	return 0;

err_free_map:
	kfree(map);
err_put_obj:
	drm_gem_object_put(obj);
	return ret;
}

int emugpu_vm_unbind_ioctl(struct drm_device *drm, void *data,
			   struct drm_file *file)
{
	struct drm_emugpu_vm_unbind *args = data;
	struct emugpu_file *efile = file->driver_priv;
	struct emugpu_vm *vm = efile->vm;
	struct emugpu_mapping *map;

	if (args->flags || args->pad)
		return -EINVAL;
	if (!args->size || args->va > U64_MAX - args->size)
		return -EINVAL;

	mutex_lock(&vm->lock);
	map = emugpu_vm_find(vm, args->va, args->size);
	if (!map || map->it.start != args->va ||
	    map->it.last != args->va + args->size - 1) {
		mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	interval_tree_remove(&map->it, &vm->mappings);
	map->in_tree = false;
	mutex_unlock(&vm->lock);

	emugpu_mapping_put(map);
	return 0;
}
