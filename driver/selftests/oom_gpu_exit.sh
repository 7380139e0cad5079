#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# SIGKILL and exit(0) of processes with jobs in flight: exit cancels the
# jobs; no OOM.
# See oom_gpu.c.
exec ./oom_gpu exit
