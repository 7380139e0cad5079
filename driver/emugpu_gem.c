// SPDX-License-Identifier: GPL-2.0-only
/*
 * emugpu GEM buffer objects: shmem-backed, created by size, mapped into
 * the CPU through the render node's fake mmap offsets. They are the
 * device's own memory: their pages are charged to the memory cgroup of
 * the task that first touches them (the binder, or a CPU fault), and stay
 * until the object is freed or purged (emugpu_shrinker.c).
 */
#include <linux/align.h>
#include <linux/slab.h>
#include <linux/stddef.h>

#include <drm/drm_gem.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/emugpu_drm.h>

#include "emugpu_drv.h"

static void emugpu_gem_free(struct drm_gem_object *obj)
{
	struct emugpu_device *edev = to_emugpu(obj->dev);

	atomic64_sub(obj->size, &edev->stats.shmem_bytes);
	atomic_dec(&edev->stats.objects);
	drm_gem_shmem_free(to_drm_gem_shmem_obj(obj));
}

/* drm_gem_shmem_funcs, but counting what is freed. */
static const struct drm_gem_object_funcs emugpu_gem_funcs = {
	.free = emugpu_gem_free,
	.print_info = drm_gem_shmem_object_print_info,
	.pin = drm_gem_shmem_object_pin,
	.unpin = drm_gem_shmem_object_unpin,
	.get_sg_table = drm_gem_shmem_object_get_sg_table,
	.vmap = drm_gem_shmem_object_vmap,
	.vunmap = drm_gem_shmem_object_vunmap,
	.mmap = drm_gem_shmem_object_mmap,
	.vm_ops = &drm_gem_shmem_vm_ops,
};

static_assert(offsetof(struct emugpu_bo, base.base) == 0);

/*
 * drm_driver.gem_create_object: the shmem helper allocates our objects
 * here, so they carry emugpu_gem_funcs; they are counted only once fully
 * created, since the helper kfree()s an object it failed to set up.
 */
struct drm_gem_object *emugpu_gem_create_object(struct drm_device *drm,
						size_t size)
{
	struct emugpu_bo *bo;

	/* The helper kfree()s &bo->base.base on error: it comes first. */
	bo = kzalloc_obj(*bo, GFP_KERNEL_ACCOUNT);
	if (!bo)
		return ERR_PTR(-ENOMEM);
	INIT_LIST_HEAD(&bo->mappings);
	bo->base.base.funcs = &emugpu_gem_funcs;
	return &bo->base.base;
}

int emugpu_gem_create_ioctl(struct drm_device *drm, void *data,
			    struct drm_file *file)
{
	struct drm_emugpu_gem_create *args = data;
	struct emugpu_device *edev = to_emugpu(drm);
	struct drm_gem_shmem_object *shmem;
	struct drm_gem_object *obj;
	u32 handle;
	int ret;

	if ((args->flags & ~EMUGPU_GEM_CREATE_FLAGS) || args->pad || args->pad2)
		return -EINVAL;
	if (!args->size || args->size > EMUGPU_MAX_OBJECT_SIZE ||
	    !IS_ALIGNED(args->size, EMUGPU_PAGE_SIZE))
		return -EINVAL;

	if (args->flags & EMUGPU_GEM_CREATE_VRAM) {
		obj = emugpu_vram_create(drm, args->size);
		if (IS_ERR(obj))
			return PTR_ERR(obj);
	} else {
		shmem = drm_gem_shmem_create(drm, args->size);
		if (IS_ERR(shmem))
			return PTR_ERR(shmem);
		obj = &shmem->base;
		atomic_inc(&edev->stats.objects);
		atomic64_add(obj->size, &edev->stats.shmem_bytes);
	}

	ret = drm_gem_handle_create(file, obj, &handle);
	/* The handle holds the object now, or nothing does. */
	drm_gem_object_put(obj);
	if (ret)
		return ret;

	args->handle = handle;
	return 0;
}

int emugpu_gem_mmap_offset_ioctl(struct drm_device *drm, void *data,
				 struct drm_file *file)
{
	struct drm_emugpu_gem_mmap_offset *args = data;
	struct drm_gem_object *obj;
	int ret;

	if (args->pad)
		return -EINVAL;

	obj = drm_gem_object_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;

	if (emugpu_is_userptr(obj) || emugpu_is_vram(obj)) {
		/* The process's own pages, or memory the CPU cannot see. */
		ret = -EINVAL;
	} else {
		ret = drm_gem_create_mmap_offset(obj);
		if (!ret)
			args->offset = drm_vma_node_offset_addr(&obj->vma_node);
	}
	drm_gem_object_put(obj);
	return ret;
}
