// SPDX-License-Identifier: GPL-2.0-only
/*
 * emugpu fdinfo: what a file holds and how long the engine ran for it, in
 * the keys of Documentation/gpu/drm-usage-stats.rst, so gputop and
 * nvtop-style tools read emugpu as they read other drivers.
 *
 * Two memory regions: "system", the shmem objects (device memory; resident
 * while they have pages), and "userptr", user pointer objects, which are
 * the process's own memory and must not be counted as the device's.
 */
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/drm_print.h>
#include <drm/emugpu_drm.h>

#include "emugpu_drv.h"

static void emugpu_fdinfo_memory(struct drm_printer *p, struct drm_file *file)
{
	struct drm_memory_stats shmem = {}, userptr = {}, vram = {};
	struct drm_memory_stats *s;
	struct drm_gem_object *obj;
	int id;

	spin_lock(&file->table_lock);
	idr_for_each_entry(&file->object_idr, obj, id) {
		s = emugpu_is_userptr(obj) ? &userptr :
		    emugpu_is_vram(obj) ? &vram : &shmem;
		if (drm_gem_object_is_shared_for_memory_stats(obj))
			s->shared += obj->size;
		else
			s->private += obj->size;
		/* Unlocked, as panfrost's: a snapshot is all fdinfo gives. */
		if (s == &vram ||
		    (s == &shmem && READ_ONCE(to_drm_gem_shmem_obj(obj)->pages)))
			s->resident += obj->size;
		if (s == &shmem &&
		    READ_ONCE(to_drm_gem_shmem_obj(obj)->madv) ==
		    EMUGPU_MADV_DONTNEED)
			s->purgeable += obj->size;
	}
	spin_unlock(&file->table_lock);

	drm_print_memory_stats(p, &shmem, DRM_GEM_OBJECT_RESIDENT |
			       DRM_GEM_OBJECT_PURGEABLE, "system");
	drm_print_memory_stats(p, &vram, DRM_GEM_OBJECT_RESIDENT, "vram");
	drm_print_memory_stats(p, &userptr, 0, "userptr");
}

/* drm_driver.show_fdinfo */
void emugpu_show_fdinfo(struct drm_printer *p, struct drm_file *file)
{
	struct emugpu_file *efile = file->driver_priv;

	/* One engine, the time it ran this file's jobs. */
	drm_printf(p, "drm-engine-render:\t%llu ns\n",
		   (unsigned long long)atomic64_read(&efile->engine_ns));
	emugpu_fdinfo_memory(p, file);
}
