/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * emugpu tracepoints: what the notifier decided, faults, and job states.
 * They mirror the debugfs counters event by event, with the ranges.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM emugpu

#if !defined(_EMUGPU_TRACE_H_) || defined(TRACE_HEADER_MULTI_READ)
#define _EMUGPU_TRACE_H_

#include <linux/mmu_notifier.h>
#include <linux/tracepoint.h>

TRACE_EVENT(emugpu_invalidate,
	    TP_PROTO(const struct mmu_notifier_range *range, bool blockable,
		     u64 busy_seqno, bool refused, bool cancelled),
	    TP_ARGS(range, blockable, busy_seqno, refused, cancelled),
	    TP_STRUCT__entry(__field(unsigned long, start)
			     __field(unsigned long, end)
			     __field(u64, busy_seqno)
			     __field(u8, event)
			     __field(bool, blockable)
			     __field(bool, refused)
			     __field(bool, cancelled)),
	    TP_fast_assign(__entry->start = range->start;
			   __entry->end = range->end;
			   __entry->busy_seqno = busy_seqno;
			   __entry->event = range->event;
			   __entry->blockable = blockable;
			   __entry->refused = refused;
			   __entry->cancelled = cancelled;),
	    TP_printk("range=[0x%lx-0x%lx) event=%u blockable=%d busy_job=%llu refused=%d cancelled=%d",
		      __entry->start, __entry->end, __entry->event,
		      __entry->blockable, __entry->busy_seqno,
		      __entry->refused, __entry->cancelled)
);

TRACE_EVENT(emugpu_fault,
	    TP_PROTO(u64 seqno, unsigned long start, unsigned long npages,
		     int ret),
	    TP_ARGS(seqno, start, npages, ret),
	    TP_STRUCT__entry(__field(u64, seqno)
			     __field(unsigned long, start)
			     __field(unsigned long, npages)
			     __field(int, ret)),
	    TP_fast_assign(__entry->seqno = seqno;
			   __entry->start = start;
			   __entry->npages = npages;
			   __entry->ret = ret;),
	    TP_printk("job=%llu start=0x%lx npages=%lu ret=%d", __entry->seqno,
		      __entry->start, __entry->npages, __entry->ret)
);

TRACE_EVENT(emugpu_job,
	    TP_PROTO(u64 seqno, int state, int err),
	    TP_ARGS(seqno, state, err),
	    TP_STRUCT__entry(__field(u64, seqno)
			     __field(int, state)
			     __field(int, err)),
	    TP_fast_assign(__entry->seqno = seqno;
			   __entry->state = state;
			   __entry->err = err;),
	    TP_printk("job=%llu state=%s err=%d", __entry->seqno,
		      __print_symbolic(__entry->state, { 0, "queued" },
				       { 1, "running" }, { 2, "done" }),
		      __entry->err)
);

#endif /* _EMUGPU_TRACE_H_ */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE emugpu_trace
#include <trace/define_trace.h>
