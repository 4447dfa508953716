/*
 * @handoff/fdpass: the native side of the batched, acknowledged fd transport.
 *
 * N-API and libuv only (no V8 API), so one binary loads in every Node.js from 20 on. Three
 * objects, each in its own file:
 *   acceptor.c  accepts on a duplicate of a listening socket Node bound, all the backlog holds
 *               per wake-up, with the peer's address from accept4() itself;
 *   sender.c    the primary's end of one worker's SOCK_SEQPACKET socketpair: coalesces fds into
 *               numbered batches (SCM_RIGHTS, many fds per sendmsg), keeps its copies until the
 *               worker's cumulative ack, caps what a worker holds unacknowledged, gives the
 *               unacknowledged back on EOF (sender_js.c is its JS class, sender.h its state);
 *   receiver.c  the worker's end: recvmmsg(), acks the highest batch number before any JS runs,
 *               then hands the fds to JS.
 * module.c holds what they share: errors, callbacks into JS, the per-environment flush scheduler.
 *
 * The wire, one SOCK_SEQPACKET message each (so no framing):
 *   primary -> worker  batch  { u32 FP_MAGIC_BATCH, u32 seq, u32 count, u32 payloadBytes,
 *                               u32 tag[count],
 *                               only when payloadBytes > 0: u32 length[count], u8 payload[payloadBytes] }
 *                             + count fds (SCM_RIGHTS)
 *   worker -> primary  ack    { u32 FP_MAGIC_ACK, u32 seq }  (every batch numbered <= seq arrived)
 * A payload is what the JS side wants to travel with one fd (bytes read before the handoff, a
 * PROXY header), opaque here; connections without one cost nothing for it.
 */
#ifndef HANDOFF_FDPASS_H
#define HANDOFF_FDPASS_H

#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <stdint.h>
#include <sys/socket.h>

/* The kernel's limit of fds in one SCM_RIGHTS message (SCM_MAX_FD, include/net/scm.h). */
#define FP_MAX_FDS 253
#define FP_MAGIC_BATCH 0x31444648u /* "HFD1" */
#define FP_MAGIC_ACK 0x4b434148u   /* "HACK" */
#define FP_HEADER_BYTES 16
/* The most payload bytes one fd may carry, and one batch: a batch with payloads stays one
 * message well under the socket's default send buffer (net.core.wmem_default, 208 KiB). */
#define FP_MAX_PAYLOAD 65536
/* The largest batch message. */
#define FP_MAX_MESSAGE (FP_HEADER_BYTES + 8 * FP_MAX_FDS + FP_MAX_PAYLOAD)

typedef struct fp_batch {
  struct fp_batch* next;
  uint32_t seq; /* 0 while it still takes fds; numbered when sealed */
  uint32_t count;
  uint32_t payload_bytes; /* used of `payload` */
  int fds[FP_MAX_FDS];
  uint32_t tags[FP_MAX_FDS];
  uint32_t lengths[FP_MAX_FDS];
  uint8_t* payload; /* FP_MAX_PAYLOAD bytes, allocated at the batch's first payload and kept */
} fp_batch;

typedef struct fp_sender fp_sender;

/* Per-environment state (napi_set_instance_data): flushes coalesced batches. */
typedef struct fp_env {
  uv_loop_t* loop;
  /* Delay 0: flush at the end of this loop turn (a check handle; the idle handle keeps the poll
   * phase from blocking while something waits). */
  uv_check_t check;
  uv_idle_t idle;
  int turn_armed;
  /* Delay > 0: a timerfd, so the bound is in microseconds (uv timers count milliseconds). */
  int tfd;
  uv_poll_t tpoll;
  int timer_armed;
  uint64_t timer_deadline;
  fp_sender* dirty;
  fp_batch* free_batches;
  unsigned free_count;
} fp_env;

/* module.c */
fp_env* fp_env_get(napi_env env);
void fp_env_schedule(fp_env* e, uint32_t delay_us);
fp_batch* fp_batch_new(fp_env* e);
void fp_batch_free(fp_env* e, fp_batch* b);
napi_value fp_throw_errno(napi_env env, const char* syscall, int err);
napi_value fp_throw(napi_env env, const char* code, const char* message);
void fp_invoke(napi_env env, napi_ref self, napi_ref fn, napi_async_context ctx, size_t argc, napi_value* argv);
int fp_get_int(napi_env env, napi_value v, int64_t* out);
napi_value fp_uint(napi_env env, uint32_t v);
napi_value fp_num(napi_env env, double v);
napi_value fp_errname(napi_env env, int err);
napi_value fp_shared_array(napi_env env, size_t bytes, void** data, napi_typedarray_type type, size_t length, napi_ref* keep);
int fp_set_nonblock_cloexec(int fd);

/* sender.c (the env scheduler calls into it) */
void fp_sender_flush(fp_sender* s);
fp_sender* fp_sender_next_dirty(fp_sender* s);

napi_value fp_acceptor_class(napi_env env);
napi_value fp_sender_class(napi_env env);
napi_value fp_receiver_class(napi_env env);

#define FP_CALL(env, call)                               \
  do {                                                   \
    if ((call) != napi_ok) {                             \
      fp_throw((env), "ERR_FDPASS_NAPI", #call " failed"); \
      return NULL;                                       \
    }                                                    \
  } while (0)

#endif
