#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# SIGKILL and process_mrelease(2) of a process whose job still uses part
# of its memory: everything else comes back; no OOM.
# See oom_gpu.c.
exec ./oom_gpu mrelease
