/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * emugpu: a DRM render-node driver for a GPU emulated on the CPU.
 * See docs/emugpu.md in the oomgpu project for the design.
 */
#ifndef _EMUGPU_DRV_H_
#define _EMUGPU_DRV_H_

#include <drm/drm_device.h>
#include <drm/drm_file.h>

struct platform_device;

struct emugpu_device {
	struct drm_device drm;
	struct platform_device *pdev;
};

/* Per open file: the device VM and jobs will live here. */
struct emugpu_file {
	struct emugpu_device *edev;
};

static inline struct emugpu_device *to_emugpu(struct drm_device *drm)
{
	return container_of(drm, struct emugpu_device, drm);
}

int emugpu_gem_create_ioctl(struct drm_device *drm, void *data,
			    struct drm_file *file);
int emugpu_gem_mmap_offset_ioctl(struct drm_device *drm, void *data,
				 struct drm_file *file);

#endif /* _EMUGPU_DRV_H_ */
