#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# An OOM in a memory cgroup (memory.max = 160 MiB) while a job of emugpu
# uses part of the victim's memory: the reaper must take back the rest, and
# nobody but the victim may be killed.
# See oom_gpu.c.
exec ./oom_gpu memcg
