// SPDX-License-Identifier: GPL-2.0-only
/*
 * Purgeable buffer objects. Userspace marks an object whose contents it
 * can recreate EMUGPU_MADV_DONTNEED (a buffer cache, as Mesa keeps); under
 * memory pressure the shrinker then drops its pages for good, as msm and
 * panfrost do, before the OOM killer has to kill anyone for them.
 *
 * Busy is tracked by fences, never by a pin: SUBMIT adds each job's fence
 * to the reservation object of every buffer object the job uses, under
 * the objects' resv locks and before the job can start; the shrinker,
 * holding an object's resv, purges it only once all its fences have
 * signalled. A job's pages therefore stay while it runs, and an object
 * marked DONTNEED while a job uses it goes once the job is done.
 *
 * Lock order: resv, then vm->notifier_lock (to clear a purged object's
 * entries from each VM's page table). The shrinker only try-locks the
 * resv (drm_gem_lru_scan()), so allocating under a resv stays legal.
 */
#include <linux/dma-resv.h>
#include <linux/gfp.h>
#include <linux/shrinker.h>

#include <drm/drm_gem.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/emugpu_drm.h>

#include "emugpu_drv.h"

/*
 * Puts a buffer object on the purgeable LRU if it is marked DONTNEED and
 * has pages to give back, takes it off otherwise. Under its resv.
 */
void emugpu_bo_update_lru(struct emugpu_bo *bo)
{
	struct drm_gem_object *obj = &bo->base.base;

	dma_resv_assert_held(obj->resv);
	if (bo->base.madv == EMUGPU_MADV_DONTNEED && bo->base.sgt)
		drm_gem_lru_move_tail(&to_emugpu(obj->dev)->purgeable, obj);
	else
		drm_gem_lru_remove(obj);
}

int emugpu_gem_madvise_ioctl(struct drm_device *drm, void *data,
			     struct drm_file *file)
{
	struct drm_emugpu_gem_madvise *args = data;
	struct drm_gem_object *obj;
	int ret;

	if (args->pad || (args->madv != EMUGPU_MADV_WILLNEED &&
			  args->madv != EMUGPU_MADV_DONTNEED))
		return -EINVAL;
	obj = drm_gem_object_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;
	/* A user pointer's memory is the process's: madvise(2) it; VRAM stays. */
	ret = -EINVAL;
	if (emugpu_is_userptr(obj) || emugpu_is_vram(obj))
		goto out_put;
	ret = dma_resv_lock_interruptible(obj->resv, NULL);
	if (ret)
		goto out_put;
	args->retained = drm_gem_shmem_madvise_locked(to_drm_gem_shmem_obj(obj),
						      args->madv);
	emugpu_bo_update_lru(to_emugpu_bo(obj));
	dma_resv_unlock(obj->resv);
out_put:
	drm_gem_object_put(obj);
	return ret;
}

/*
 * drm_gem_lru_scan() callback, the object's resv held: purge it unless a
 * job still uses it or it cannot be purged (exported, vmapped, pinned).
 */
static bool emugpu_bo_purge(struct drm_gem_object *obj,
			    struct ww_acquire_ctx *ticket)
{
	struct emugpu_device *edev = to_emugpu(obj->dev);
	struct emugpu_bo *bo = to_emugpu_bo(obj);
	struct emugpu_mapping *map;

	if (!drm_gem_shmem_is_purgeable(&bo->base))
		return false;
	if (!dma_resv_test_signaled(obj->resv, DMA_RESV_USAGE_BOOKKEEP)) {
		atomic64_inc(&edev->stats.purge_busy);
		return false;
	}
	/* No job uses these entries, and SUBMIT refuses DONTNEED objects. */
	list_for_each_entry(map, &bo->mappings, bo_link) {
		mutex_lock(&map->vm->notifier_lock);
		memset(map->pte, 0, map->npages * sizeof(*map->pte));
		mutex_unlock(&map->vm->notifier_lock);
	}
	drm_gem_shmem_purge_locked(&bo->base);
	drm_gem_lru_remove(obj);
	atomic64_inc(&edev->stats.purged);
	atomic64_add(obj->size, &edev->stats.purged_bytes);
	return true;
}

static unsigned long emugpu_shrinker_count(struct shrinker *shrinker,
					   struct shrink_control *sc)
{
	struct emugpu_device *edev = shrinker->private_data;
	unsigned long count = READ_ONCE(edev->purgeable.count);

	return count ?: SHRINK_EMPTY;
}

static unsigned long emugpu_shrinker_scan(struct shrinker *shrinker,
					  struct shrink_control *sc)
{
	struct emugpu_device *edev = shrinker->private_data;
	unsigned long freed, remaining = 0;

	/* Purging truncates a shmem file: not from inside a filesystem. */
	if (!(sc->gfp_mask & __GFP_FS))
		return SHRINK_STOP;
	freed = drm_gem_lru_scan(&edev->drm, &edev->purgeable, sc->nr_to_scan,
				 &remaining, emugpu_bo_purge, NULL);
	return freed ?: SHRINK_STOP;
}

int emugpu_shrinker_init(struct emugpu_device *edev)
{
	drm_gem_lru_init(&edev->purgeable);
	edev->shrinker = shrinker_alloc(0, "drm-emugpu");
	if (!edev->shrinker)
		return -ENOMEM;
	edev->shrinker->count_objects = emugpu_shrinker_count;
	edev->shrinker->scan_objects = emugpu_shrinker_scan;
	edev->shrinker->private_data = edev;
	shrinker_register(edev->shrinker);
	return 0;
}

void emugpu_shrinker_fini(struct emugpu_device *edev)
{
	shrinker_free(edev->shrinker);
}
