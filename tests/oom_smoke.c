// SPDX-License-Identifier: GPL-2.0
/*
 * oom_smoke - a child touches anonymous memory until the OOM killer kills it.
 *
 * The parent protects itself (oom_score_adj -1000), makes the child the
 * preferred victim (+1000) and checks that the child, and only the child,
 * was killed: it died of SIGKILL and /proc/vmstat's oom_kill went up by
 * exactly one. What the reaper freed is read from the kernel log by the
 * runner; "# victim_pid=" tells it which process to look for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK (16UL << 20)

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t len = (ssize_t)strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, len) != len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static long vmstat(const char *key)
{
	char name[64];
	long value;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", name, &value) == 2) {
		if (!strcmp(name, key)) {
			fclose(f);
			return value;
		}
	}
	fclose(f);
	return -1;
}

static void __attribute__((noreturn)) hog(void)
{
	if (write_file("/proc/self/oom_score_adj", "1000"))
		_exit(2);
	for (;;) {
		char *p = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			_exit(3);	/* overcommit refused: no OOM happened */
		for (size_t off = 0; off < CHUNK; off += 4096)
			p[off] = 1;
	}
}

int main(void)
{
	long kills_before, kills_after;
	int status;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("KTAP version 1\n1..2\n");

	if (write_file("/proc/self/oom_score_adj", "-1000")) {
		printf("# oom_score_adj: %s\n", strerror(errno));
		printf("not ok 1 hog_is_oom_killed\nnot ok 2 one_oom_kill\n");
		return 1;
	}
	kills_before = vmstat("oom_kill");

	pid = fork();
	if (pid < 0) {
		printf("# fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0)
		hog();

	printf("# victim_pid=%d\n", pid);
	if (waitpid(pid, &status, 0) != pid) {
		printf("# waitpid: %s\n", strerror(errno));
		return 1;
	}
	kills_after = vmstat("oom_kill");

	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
		printf("ok 1 hog_is_oom_killed\n");
	} else {
		printf("# hog status 0x%x\n", status);
		printf("not ok 1 hog_is_oom_killed\n");
	}
	printf("# oom_kill before=%ld after=%ld\n", kills_before, kills_after);
	if (kills_after - kills_before == 1) {
		printf("ok 2 one_oom_kill\n");
	} else {
		printf("not ok 2 one_oom_kill\n");
	}
	return (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
		kills_after - kills_before == 1) ? 0 : 1;
}
