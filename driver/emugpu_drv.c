// SPDX-License-Identifier: GPL-2.0-only
/*
 * emugpu: a DRM render-node driver for a GPU emulated on the CPU.
 *
 * Like vgem, the device hangs off a faux device created at module load,
 * so it needs no hardware and exists once per system.
 */
#include <linux/device/faux.h>
#include <linux/dma-mapping.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/drm_ioctl.h>
#include <drm/emugpu_drm.h>

#include "emugpu_drv.h"

#define CREATE_TRACE_POINTS
#include "emugpu_trace.h"

#define DRIVER_NAME	"emugpu"
#define DRIVER_DESC	"Emulated GPU with user pointers"
#define DRIVER_MAJOR	0
#define DRIVER_MINOR	1

unsigned int emugpu_job_timeout_ms = 10000;
/* The scheduler's timeout is fixed when it is created: read-only. */
module_param_named(job_timeout_ms, emugpu_job_timeout_ms, uint, 0444);
MODULE_PARM_DESC(job_timeout_ms,
		 "A running job is stopped with -ETIMEDOUT after this long (default and at most 10000; set when the module loads)");

static const char * const emugpu_policy_names[] = {
	[EMUGPU_POLICY_PRECISE] = "precise",
	[EMUGPU_POLICY_NOCANCEL] = "nocancel",
	[EMUGPU_POLICY_XE] = "xe",
	[EMUGPU_POLICY_XE_KICK] = "xe-kick",
	[EMUGPU_POLICY_PIN] = "pin",
};

int emugpu_notifier_policy = EMUGPU_POLICY_PRECISE;

static int emugpu_policy_set(const char *val, const struct kernel_param *kp)
{
	int policy = sysfs_match_string(emugpu_policy_names, val);

	if (policy < 0)
		return -EINVAL;
	WRITE_ONCE(emugpu_notifier_policy, policy);
	return 0;
}

static int emugpu_policy_get(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%s\n",
			 emugpu_policy_names[READ_ONCE(emugpu_notifier_policy)]);
}

static const struct kernel_param_ops emugpu_policy_ops = {
	.set = emugpu_policy_set,
	.get = emugpu_policy_get,
};

module_param_cb(notifier_policy, &emugpu_policy_ops, NULL, 0644);
MODULE_PARM_DESC(notifier_policy,
		 "How a non-blockable invalidation of a user pointer is answered: precise (refuse only pages a published job uses; withdraw an OOM victim's jobs, so only a running one keeps its pages; default), nocancel (precise without the cancel), xe (refuse every one, as xe, drm_gpusvm, amdgpu and radeon do), xe-kick (xe, but cancel an OOM victim's jobs first), pin (pin the pages of user pointers created from now on and always agree, as i915 does)");

static struct emugpu_device *emugpu;

static int emugpu_open(struct drm_device *drm, struct drm_file *file)
{
	struct emugpu_device *edev = to_emugpu(drm);
	struct emugpu_file *efile;

	efile = kzalloc_obj(*efile, GFP_KERNEL_ACCOUNT);
	if (!efile)
		return -ENOMEM;
	efile->vm = emugpu_vm_create(edev);
	if (!efile->vm) {
		kfree(efile);
		return -ENOMEM;
	}
	efile->edev = edev;
	if (emugpu_file_jobs_init(efile)) {
		emugpu_vm_put(efile->vm);
		kfree(efile);
		return -ENOMEM;
	}

	mutex_lock(&edev->files_lock);
	list_add_tail(&efile->link, &edev->files);
	mutex_unlock(&edev->files_lock);
	file->driver_priv = efile;
	return 0;
}

/*
 * Called after the file's handles are gone. Jobs still hold the mappings
 * and objects they use: cancel them, wait (bounded by the job timeout),
 * then unbind what is left.
 */
static void emugpu_postclose(struct drm_device *drm, struct drm_file *file)
{
	struct emugpu_file *efile = file->driver_priv;
	struct emugpu_device *edev = efile->edev;

	emugpu_file_jobs_fini(efile);
	emugpu_vm_teardown(efile->vm);

	mutex_lock(&edev->files_lock);
	list_del(&efile->link);
	mutex_unlock(&edev->files_lock);
	/* User pointer objects in other files' hands may keep the VM. */
	emugpu_vm_put(efile->vm);
	kfree(efile);
}

static const struct drm_ioctl_desc emugpu_ioctls[] = {
	DRM_IOCTL_DEF_DRV(EMUGPU_GEM_CREATE, emugpu_gem_create_ioctl,
			  DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(EMUGPU_USERPTR, emugpu_userptr_ioctl,
			  DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(EMUGPU_VM_BIND, emugpu_vm_bind_ioctl,
			  DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(EMUGPU_VM_UNBIND, emugpu_vm_unbind_ioctl,
			  DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(EMUGPU_VM_OPS, emugpu_vm_ops_ioctl,
			  DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(EMUGPU_SUBMIT, emugpu_submit_ioctl,
			  DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(EMUGPU_WAIT, emugpu_wait_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(EMUGPU_GEM_MMAP_OFFSET, emugpu_gem_mmap_offset_ioctl,
			  DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(EMUGPU_JOB_RELEASE, emugpu_job_release_ioctl,
			  DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(EMUGPU_GEM_MADVISE, emugpu_gem_madvise_ioctl,
			  DRM_RENDER_ALLOW),
};

static const struct file_operations emugpu_fops = {
	.owner		= THIS_MODULE,
	DRM_GEM_FOPS,
	.show_fdinfo	= drm_show_fdinfo,
};

static const struct drm_driver emugpu_driver = {
	.driver_features	= DRIVER_GEM | DRIVER_RENDER | DRIVER_SYNCOBJ |
				  DRIVER_SYNCOBJ_TIMELINE,
	.open			= emugpu_open,
	.postclose		= emugpu_postclose,
	.ioctls			= emugpu_ioctls,
	.num_ioctls		= ARRAY_SIZE(emugpu_ioctls),
	.fops			= &emugpu_fops,
	.show_fdinfo		= emugpu_show_fdinfo,
	/*
	 * Objects come only from our ioctls: no dumb buffers (there is no
	 * display) and no import of foreign dma-bufs.
	 */
	.gem_create_object	= emugpu_gem_create_object,
	.name			= DRIVER_NAME,
	.desc			= DRIVER_DESC,
	.major			= DRIVER_MAJOR,
	.minor			= DRIVER_MINOR,
};

/*
 * The notifier takes vm->notifier_lock from reclaim. Teach lockdep that
 * order once, at load, as i915 and xe do, so that an allocation under it
 * is reported the first time any path makes it, not only when reclaim
 * happens to recurse.
 */
static void emugpu_prime_lockdep(void)
{
	struct mutex lock;	/* a stand-in of vm->notifier_lock's class */

	if (!IS_ENABLED(CONFIG_LOCKDEP))
		return;
	emugpu_vm_notifier_lock_init(&lock);
	fs_reclaim_acquire(GFP_KERNEL);
	mutex_lock(&lock);
	mutex_unlock(&lock);
	fs_reclaim_release(GFP_KERNEL);
	mutex_destroy(&lock);
}

static int __init emugpu_init(void)
{
	struct faux_device *fdev;
	int ret;

	emugpu_prime_lockdep();

	fdev = faux_device_create(DRIVER_NAME, NULL, NULL);
	if (!fdev)
		return -ENODEV;

	if (!devres_open_group(&fdev->dev, NULL, GFP_KERNEL)) {
		ret = -ENOMEM;
		goto out_unregister;
	}

	dma_coerce_mask_and_coherent(&fdev->dev, DMA_BIT_MASK(64));

	emugpu = devm_drm_dev_alloc(&fdev->dev, &emugpu_driver,
				    struct emugpu_device, drm);
	if (IS_ERR(emugpu)) {
		ret = PTR_ERR(emugpu);
		goto out_devres;
	}
	emugpu->fdev = fdev;
	mutex_init(&emugpu->files_lock);
	INIT_LIST_HEAD(&emugpu->files);

	ret = emugpu_engine_init(emugpu);
	if (ret)
		goto out_devres;
	ret = emugpu_shrinker_init(emugpu);
	if (ret)
		goto out_engine;
	ret = emugpu_vram_init(emugpu);
	if (ret)
		goto out_shrinker;

	ret = drm_dev_register(&emugpu->drm, 0);
	if (ret)
		goto out_shrinker;
	emugpu_debugfs_init(emugpu);
	return 0;

out_shrinker:
	emugpu_shrinker_fini(emugpu);
out_engine:
	emugpu_engine_fini(emugpu);
out_devres:
	devres_release_group(&fdev->dev, NULL);
out_unregister:
	faux_device_destroy(fdev);
	return ret;
}

static void __exit emugpu_exit(void)
{
	struct faux_device *fdev = emugpu->fdev;

	emugpu_debugfs_fini(emugpu);
	drm_dev_unregister(&emugpu->drm);
	emugpu_shrinker_fini(emugpu);
	emugpu_engine_fini(emugpu);
	devres_release_group(&fdev->dev, NULL);
	faux_device_destroy(fdev);
}

module_init(emugpu_init);
module_exit(emugpu_exit);

MODULE_DESCRIPTION(DRIVER_DESC);
MODULE_LICENSE("GPL");
