// SPDX-License-Identifier: GPL-2.0-only
/*
 * Emulated VRAM: buffer objects in the device's own memory, a pool of
 * fixed size (the vram_mb module parameter) that a discrete GPU would
 * have on its board. As TTM does for real VRAM, objects are charged to
 * the dmem cgroup controller (region "drm/emugpu/vram", with dmem.max
 * per cgroup) and not to the memory cgroup: it is not system memory.
 *
 * The emulation backs each object with kernel pages allocated when it is
 * created and charged to no memcg. The CPU cannot map them (VRAM that is
 * not CPU-visible), they cannot be exported, and the shrinker does not
 * take them: only the pool and dmem.max bound them.
 */
#include <linux/cgroup_dmem.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

#include <drm/drm_drv.h>
#include <drm/drm_gem.h>

#include "emugpu_drv.h"

static unsigned int emugpu_vram_mb = 64;
module_param_named(vram_mb, emugpu_vram_mb, uint, 0444);
MODULE_PARM_DESC(vram_mb, "Size of the emulated VRAM in MiB (default 64)");

struct emugpu_vram_bo {
	struct drm_gem_object base;
	struct page **pages;
	/* The dmem cgroup pool charged, NULL without the controller. */
	struct dmem_cgroup_pool_state *pool;
};

static struct emugpu_vram_bo *to_vram_bo(struct drm_gem_object *obj)
{
	return container_of(obj, struct emugpu_vram_bo, base);
}

/* Gives @size back to the device pool and to the cgroup. */
static void emugpu_vram_unreserve(struct emugpu_device *edev,
				  struct dmem_cgroup_pool_state *pool, u64 size)
{
	dmem_cgroup_uncharge(pool, size);
	atomic64_sub(size, &edev->stats.vram_bytes);
}

static void emugpu_vram_free_pages(struct page **pages, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n && pages[i]; i++)
		__free_page(pages[i]);
	kvfree(pages);
}

static void emugpu_vram_free(struct drm_gem_object *obj)
{
	struct emugpu_device *edev = to_emugpu(obj->dev);
	struct emugpu_vram_bo *vbo = to_vram_bo(obj);

	emugpu_vram_free_pages(vbo->pages, obj->size >> PAGE_SHIFT);
	emugpu_vram_unreserve(edev, vbo->pool, obj->size);
	atomic_dec(&edev->stats.objects);
	drm_gem_object_release(obj);
	kfree(vbo);
}

/* Nothing outside the device can reach VRAM that is not CPU-visible. */
static struct dma_buf *emugpu_vram_export(struct drm_gem_object *obj,
					  int flags)
{
	return ERR_PTR(-EPERM);
}

static const struct drm_gem_object_funcs emugpu_vram_funcs = {
	.free = emugpu_vram_free,
	.export = emugpu_vram_export,
};

bool emugpu_is_vram(const struct drm_gem_object *obj)
{
	return obj->funcs == &emugpu_vram_funcs;
}

/* Page @i of a VRAM object, for the device page table. */
struct page *emugpu_vram_page(struct drm_gem_object *obj, pgoff_t i)
{
	return to_vram_bo(obj)->pages[i];
}

/*
 * Takes @size from the device pool, then from the cgroup's dmem.max:
 * -ENOSPC if either is exhausted.
 */
static int emugpu_vram_reserve(struct emugpu_device *edev, u64 size,
			       struct dmem_cgroup_pool_state **pool)
{
	struct dmem_cgroup_pool_state *limit_pool;
	s64 used = atomic64_read(&edev->stats.vram_bytes);
	int ret;

	do {
		if (size > edev->vram_size - used)
			return -ENOSPC;
	} while (!atomic64_try_cmpxchg(&edev->stats.vram_bytes, &used,
				       used + size));

	ret = dmem_cgroup_try_charge(edev->vram_region, size, pool,
				     &limit_pool);
	if (limit_pool)
		dmem_cgroup_pool_state_put(limit_pool);
	if (ret) {
		atomic64_sub(size, &edev->stats.vram_bytes);
		/* -EAGAIN: over a dmem.max; the caller cannot evict. */
		return ret == -EAGAIN ? -ENOSPC : ret;
	}
	return 0;
}

struct drm_gem_object *emugpu_vram_create(struct drm_device *drm, u64 size)
{
	struct emugpu_device *edev = to_emugpu(drm);
	unsigned long i, n = size >> PAGE_SHIFT;
	struct dmem_cgroup_pool_state *pool;
	struct emugpu_vram_bo *vbo;
	int ret;

	ret = emugpu_vram_reserve(edev, size, &pool);
	if (ret)
		return ERR_PTR(ret);
	ret = -ENOMEM;
	vbo = kzalloc_obj(*vbo, GFP_KERNEL_ACCOUNT);
	if (!vbo)
		goto err_unreserve;
	vbo->pages = kvcalloc(n, sizeof(*vbo->pages), GFP_KERNEL_ACCOUNT);
	if (!vbo->pages)
		goto err_free_vbo;
	/* The board's memory: zeroed, and charged to no memcg. */
	for (i = 0; i < n; i++) {
		vbo->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO |
					   __GFP_NOWARN);
		if (!vbo->pages[i])
			goto err_free_pages;
	}
	drm_gem_private_object_init(drm, &vbo->base, size);
	vbo->base.funcs = &emugpu_vram_funcs;
	vbo->pool = pool;
	atomic_inc(&edev->stats.objects);
	return &vbo->base;

err_free_pages:
	emugpu_vram_free_pages(vbo->pages, n);
err_free_vbo:
	kfree(vbo);
err_unreserve:
	emugpu_vram_unreserve(edev, pool, size);
	return ERR_PTR(ret);
}

/* The pool, and its dmem cgroup region (NULL without the controller). */
int emugpu_vram_init(struct emugpu_device *edev)
{
	struct dmem_cgroup_region *region;

	edev->vram_size = (u64)emugpu_vram_mb << 20;
	region = drmm_cgroup_register_region(&edev->drm, "vram",
					     &(struct dmem_cgroup_init){
						.size = edev->vram_size,
					     });
	if (IS_ERR(region))
		return PTR_ERR(region);
	edev->vram_region = region;
	return 0;
}
