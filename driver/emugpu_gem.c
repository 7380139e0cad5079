// SPDX-License-Identifier: GPL-2.0-only
/*
 * emugpu GEM buffer objects: shmem-backed, created by size, mapped into
 * the CPU through the render node's fake mmap offsets.
 */
#include <linux/align.h>

#include <drm/drm_gem.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/emugpu_drm.h>

#include "emugpu_drv.h"

int emugpu_gem_create_ioctl(struct drm_device *drm, void *data,
			    struct drm_file *file)
{
	struct drm_emugpu_gem_create *args = data;
	struct drm_gem_shmem_object *shmem;
	u32 handle;
	int ret;

	if (args->flags || args->pad || args->pad2)
		return -EINVAL;
	if (!args->size || args->size > EMUGPU_MAX_OBJECT_SIZE ||
	    !IS_ALIGNED(args->size, EMUGPU_PAGE_SIZE))
		return -EINVAL;

	shmem = drm_gem_shmem_create(drm, args->size);
	if (IS_ERR(shmem))
		return PTR_ERR(shmem);

	ret = drm_gem_handle_create(file, &shmem->base, &handle);
	/* The handle holds the object now, or nothing does. */
	drm_gem_object_put(&shmem->base);
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

	ret = drm_gem_create_mmap_offset(obj);
	if (!ret)
		args->offset = drm_vma_node_offset_addr(&obj->vma_node);
	drm_gem_object_put(obj);
	return ret;
}
