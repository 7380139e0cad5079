// SPDX-License-Identifier: GPL-2.0-only
/*
 * emugpu debugfs, under <debugfs>/emugpu/:
 *
 *  stats          counters: live objects and device memory (zero when
 *                 every file is closed), and what the notifier and the
 *                 engine did since boot
 *  state          per open file: mappings with their present pages, user
 *                 pointers, the running job, and live jobs
 *
 * How the notifier answers the OOM reaper is the module parameter
 * notifier_policy (emugpu_drv.c), also on the kernel command line.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "emugpu_drv.h"

static void emugpu_show64(struct seq_file *m, const char *name,
			  atomic64_t *counter)
{
	seq_printf(m, "%s: %lld\n", name, (long long)atomic64_read(counter));
}

static int emugpu_stats_show(struct seq_file *m, void *unused)
{
	struct emugpu_device *edev = m->private;
	struct emugpu_stats *s = &edev->stats;

	seq_printf(m, "objects: %d\n", atomic_read(&s->objects));
	seq_printf(m, "shmem_bytes: %lld\n",
		   (long long)atomic64_read(&s->shmem_bytes));
	seq_printf(m, "userptrs: %d\n", atomic_read(&s->userptrs));
	seq_printf(m, "mappings: %d\n", atomic_read(&s->mappings));
	seq_printf(m, "jobs: %d\n", atomic_read(&s->jobs));
	emugpu_show64(m, "inval_blockable", &s->inval_blockable);
	emugpu_show64(m, "inval_nonblock", &s->inval_nonblock);
	emugpu_show64(m, "inval_refused", &s->inval_refused);
	emugpu_show64(m, "inval_waited", &s->inval_waited);
	emugpu_show64(m, "oom_cancels", &s->oom_cancels);
	emugpu_show64(m, "exit_cancels", &s->exit_cancels);
	emugpu_show64(m, "faults", &s->faults);
	emugpu_show64(m, "refaults", &s->refaults);
	emugpu_show64(m, "jobs_done", &s->jobs_done);
	emugpu_show64(m, "jobs_failed", &s->jobs_failed);
	emugpu_show64(m, "jobs_timedout", &s->jobs_timedout);
	seq_printf(m, "pinned_pages: %ld\n",
		   atomic_long_read(&s->pinned_pages));
	seq_printf(m, "fences: %d\n", atomic_read(&s->fences));
	/* Pages on the purgeable LRU: racy, as the shrinker reads it. */
	seq_printf(m, "purgeable_bytes: %lld\n",
		   (long long)READ_ONCE(edev->purgeable.count) << PAGE_SHIFT);
	emugpu_show64(m, "purged", &s->purged);
	emugpu_show64(m, "purged_bytes", &s->purged_bytes);
	emugpu_show64(m, "purge_busy", &s->purge_busy);
	emugpu_show64(m, "vram_bytes", &s->vram_bytes);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(emugpu_stats);

static const char *const emugpu_state_names[] = {
	[EMUGPU_JOB_QUEUED] = "queued",
	[EMUGPU_JOB_RUNNING] = "running",
	[EMUGPU_JOB_DONE] = "done",
};

static void emugpu_show_vm(struct seq_file *m, struct emugpu_vm *vm)
{
	struct emugpu_mapping *map;
	struct drm_gpuva *va;
	unsigned long i, present;
	struct emugpu_job *job;
	u64 running = 0;

	/* The notifier lock only briefly: the OOM reaper only trylocks it. */
	mutex_lock(&vm->lock);
	drm_gpuvm_for_each_va(va, &vm->gpuvm) {
		map = to_emugpu_mapping(va);
		present = 0;
		mutex_lock(&vm->notifier_lock);
		for (i = 0; i < map->npages; i++)
			present += !!map->pte[i];
		mutex_unlock(&vm->notifier_lock);
		seq_printf(m, "  map va=[0x%llx-0x%llx] %s pgoff=%lu present=%lu/%lu",
			   va->va.addr, va->va.addr + va->va.range - 1,
			   emugpu_is_userptr(map->obj) ? "userptr" : "shmem",
			   (unsigned long)map->obj_pgoff, present, map->npages);
		if (emugpu_is_userptr(map->obj))
			seq_printf(m, " user=0x%lx",
				   to_userptr(map->obj)->addr +
				   (map->obj_pgoff << PAGE_SHIFT));
		seq_puts(m, "\n");
	}
	mutex_unlock(&vm->lock);
	mutex_lock(&vm->notifier_lock);
	job = vm->active_job;
	if (job)
		running = job->seqno;
	mutex_unlock(&vm->notifier_lock);
	if (running)
		seq_printf(m, "  running job=%llu\n", running);
}

static int emugpu_state_show(struct seq_file *m, void *unused)
{
	struct emugpu_device *edev = m->private;
	struct emugpu_file *efile;
	struct emugpu_job *job;

	mutex_lock(&edev->files_lock);
	list_for_each_entry(efile, &edev->files, link) {
		seq_printf(m, "file %p\n", efile);
		emugpu_show_vm(m, efile->vm);
		spin_lock(&efile->jobs_lock);
		list_for_each_entry(job, &efile->jobs, link)
			seq_printf(m, "  job=%llu state=%s cancel=%d release=%d\n",
				   job->seqno,
				   emugpu_state_names[READ_ONCE(job->state)],
				   test_bit(EMUGPU_JOB_CANCEL, &job->flags),
				   test_bit(EMUGPU_JOB_RELEASE, &job->flags));
		spin_unlock(&efile->jobs_lock);
	}
	mutex_unlock(&edev->files_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(emugpu_state);

void emugpu_debugfs_init(struct emugpu_device *edev)
{
	edev->debugfs = debugfs_create_dir("emugpu", NULL);
	debugfs_create_file("stats", 0444, edev->debugfs, edev,
			    &emugpu_stats_fops);
	debugfs_create_file("state", 0444, edev->debugfs, edev,
			    &emugpu_state_fops);
}

void emugpu_debugfs_fini(struct emugpu_device *edev)
{
	debugfs_remove_recursive(edev->debugfs);
}
