// SPDX-License-Identifier: GPL-2.0-only
/*
 * emugpu: a DRM render-node driver for a GPU emulated on the CPU.
 *
 * Like vgem, the device hangs off a platform device created at module load,
 * so it needs no hardware and exists once per system.
 */
#include <linux/dma-mapping.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/drm_ioctl.h>
#include <drm/emugpu_drm.h>

#include "emugpu_drv.h"

#define DRIVER_NAME	"emugpu"
#define DRIVER_DESC	"Emulated GPU with user pointers"
#define DRIVER_DATE	"20261121"
#define DRIVER_MAJOR	0
#define DRIVER_MINOR	1

static struct emugpu_device *emugpu;

static int emugpu_open(struct drm_device *drm, struct drm_file *file)
{
	struct emugpu_file *efile;

	efile = kzalloc(sizeof(*efile), GFP_KERNEL);
	if (!efile)
		return -ENOMEM;
	efile->edev = to_emugpu(drm);
	file->driver_priv = efile;
	return 0;
}

static void emugpu_postclose(struct drm_device *drm, struct drm_file *file)
{
	kfree(file->driver_priv);
}

static const struct drm_ioctl_desc emugpu_ioctls[] = {
	DRM_IOCTL_DEF_DRV(EMUGPU_GEM_CREATE, emugpu_gem_create_ioctl,
			  DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(EMUGPU_GEM_MMAP_OFFSET, emugpu_gem_mmap_offset_ioctl,
			  DRM_RENDER_ALLOW),
};

DEFINE_DRM_GEM_FOPS(emugpu_fops);

static const struct drm_driver emugpu_driver = {
	.driver_features	= DRIVER_GEM | DRIVER_RENDER,
	.open			= emugpu_open,
	.postclose		= emugpu_postclose,
	.ioctls			= emugpu_ioctls,
	.num_ioctls		= ARRAY_SIZE(emugpu_ioctls),
	.fops			= &emugpu_fops,
	DRM_GEM_SHMEM_DRIVER_OPS,
	.name			= DRIVER_NAME,
	.desc			= DRIVER_DESC,
	.date			= DRIVER_DATE,
	.major			= DRIVER_MAJOR,
	.minor			= DRIVER_MINOR,
};

static int __init emugpu_init(void)
{
	struct platform_device *pdev;
	int ret;

	pdev = platform_device_register_simple(DRIVER_NAME, -1, NULL, 0);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);

	if (!devres_open_group(&pdev->dev, NULL, GFP_KERNEL)) {
		ret = -ENOMEM;
		goto out_unregister;
	}

	dma_coerce_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));

	emugpu = devm_drm_dev_alloc(&pdev->dev, &emugpu_driver,
				    struct emugpu_device, drm);
	if (IS_ERR(emugpu)) {
		ret = PTR_ERR(emugpu);
		goto out_devres;
	}
	emugpu->pdev = pdev;

	ret = drm_dev_register(&emugpu->drm, 0);
	if (ret)
		goto out_devres;
	return 0;

out_devres:
	devres_release_group(&pdev->dev, NULL);
out_unregister:
	platform_device_unregister(pdev);
	return ret;
}

static void __exit emugpu_exit(void)
{
	struct platform_device *pdev = emugpu->pdev;

	drm_dev_unregister(&emugpu->drm);
	devres_release_group(&pdev->dev, NULL);
	platform_device_unregister(pdev);
}

module_init(emugpu_init);
module_exit(emugpu_exit);

MODULE_DESCRIPTION(DRIVER_DESC);
MODULE_LICENSE("GPL");
