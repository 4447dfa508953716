/* The sender's state, shared by sender.c (the link) and sender_js.c (its JS class). */
#ifndef HANDOFF_FDPASS_SENDER_H
#define HANDOFF_FDPASS_SENDER_H

#include "fdpass.h"

/* Acks read per recvmmsg call: a worker acks once per wake-up, so a few are queued at most. */
#define ACK_VLEN 16

struct fp_sender {
  fp_env* e;
  napi_env env;
  napi_ref self, on_ack, on_close;
  napi_async_context actx;
  uv_poll_t poll;
  int fd;
  int open;
  int closing_handle;
  int finalized;
  int events;
  int broken;
  int blocked_now; /* the last write met EAGAIN; the socket has not been writable since */
  uint32_t max_batch, cap, delay_us;
  uint32_t unacked, next_seq;
  /* Oldest first: sent batches, then sealed unsent ones, then at most one still taking fds. */
  fp_batch *head, *tail, *unsent;
  int dirty;
  fp_sender* dirty_next;
  double batches, fds, sends, blocked, acks, most, send_errors;
  int last_error;
};

int fp_sender_queue(fp_sender* s, int fd, uint32_t tag, const uint8_t* bytes, size_t length);
void fp_sender_close(fp_sender* s);
void fp_sender_abandon(fp_sender* s);
void fp_sender_start(fp_sender* s);
void fp_sender_undirty(fp_sender* s);
void fp_sender_finalized(fp_sender* s);

#endif
