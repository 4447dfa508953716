/*
 * Sender: the primary's end of one worker's SOCK_SEQPACKET socketpair.
 *
 *   new Sender(fd, onAck(released), onClose(returned, error), maxBatch, cap, delayUs)
 *     .queue(fd, tag)  1 queued (the sender owns fd now), 0 the worker holds `cap` unacknowledged,
 *                      -1 closed
 *     .flush() .close() .abandon() .ref() .unacked() .stats()      (sender_js.c)
 *
 * Queued fds coalesce into a batch, sent when it holds `maxBatch` fds or at the scheduler's flush
 * (end of this loop turn, or `delayUs` later): one sendmsg, many fds. Every batch is numbered.
 * The sender keeps its copy of each fd until the worker acknowledges a batch at least that
 * number (acks are cumulative: SEQPACKET keeps order), then closes it and tells JS how many went
 * (oldest first). On EOF the worker is gone, and so is whatever sat in its receive queue: every
 * unacknowledged fd goes back to JS (onClose), which places it again. close() by JS closes the
 * copies of what was sent (the worker still reads what is queued to it) and gives back what
 * never left. JS mirrors the order, so counts are all it needs.
 */
#include "sender.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

fp_sender* fp_sender_next_dirty(fp_sender* s) {
  fp_sender* next = s->dirty_next;
  s->dirty_next = NULL;
  s->dirty = 0;
  return next;
}

static void undirty(fp_sender* s) {
  if (!s->dirty) return;
  fp_sender** p = &s->e->dirty;
  while (*p != NULL && *p != s) p = &(*p)->dirty_next;
  if (*p == s) *p = s->dirty_next;
  s->dirty = 0;
  s->dirty_next = NULL;
}

static void on_poll(uv_poll_t* h, int status, int events);

static void want(fp_sender* s, int events) {
  if (!s->open || events == s->events) return;
  s->events = events;
  uv_poll_start(&s->poll, events, on_poll);
}

/* 0 written; EAGAIN; or another errno. */
static int send_batch(fp_sender* s, fp_batch* b) {
  uint32_t header[4] = {FP_MAGIC_BATCH, b->seq, b->count, b->payload_bytes};
  struct iovec iov[4] = {{header, sizeof header}, {b->tags, (size_t)b->count * 4}, {b->lengths, (size_t)b->count * 4}, {b->payload, b->payload_bytes}};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * FP_MAX_FDS)];
  } control;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = iov;
  msg.msg_iovlen = b->payload_bytes > 0 ? 4 : 2;
  msg.msg_control = control.buf;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * b->count);
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * b->count);
  memcpy(CMSG_DATA(c), b->fds, sizeof(int) * b->count);
  ssize_t r;
  do r = sendmsg(s->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  s->sends++;
  if (r < 0) return errno == EWOULDBLOCK ? EAGAIN : errno;
  s->batches++;
  s->fds += b->count;
  if (b->count > s->most) s->most = b->count;
  return 0;
}

/* Numbers the batch still taking fds, if any: from now on it only waits to be written. */
static void seal(fp_sender* s) {
  if (s->tail != NULL && s->tail->seq == 0 && s->tail->count > 0) s->tail->seq = ++s->next_seq;
}

/*
 * Seals the open batch and writes every sealed one not yet written. While the worker's queue is
 * full (EAGAIN; Linux holds net.unix.max_dgram_qlen messages, 10 by default), a flush that is
 * not the socket becoming writable leaves the open batch open: what arrives meanwhile joins it
 * (up to maxBatch) and leaves in one message once the worker reads, not in one message each.
 */
static void flush(fp_sender* s, int writable) {
  if (!s->open) return;
  if (s->blocked_now && !writable) {
    if (s->tail != NULL && s->tail->seq == 0 && s->tail->count >= s->max_batch) seal(s);
    return;
  }
  seal(s);
  if (s->broken) return;
  while (s->unsent != NULL && s->unsent->seq != 0) {
    int err = send_batch(s, s->unsent);
    if (err == 0) {
      s->unsent = s->unsent->next;
      continue;
    }
    if (err == EAGAIN) {
      /* The worker's receive queue is full (it is busy or stopped): write the rest when it drains. */
      s->blocked++;
      s->blocked_now = 1;
      want(s, UV_READABLE | UV_DISCONNECT | UV_WRITABLE);
      return;
    }
    /* EPIPE, ECONNRESET: the worker is going; EOF on the read side gives everything back.
     * Anything else (ETOOMANYREFS, ENOBUFS) is counted in stats(). */
    s->send_errors++;
    s->last_error = err;
    if (err == EPIPE || err == ECONNRESET) s->broken = 1;
    return;
  }
  s->blocked_now = 0;
  want(s, UV_READABLE | UV_DISCONNECT);
}

void fp_sender_flush(fp_sender* s) { flush(s, 0); }

/* Closes the copies of every fd in batches numbered <= seq; returns how many. */
static uint32_t release(fp_sender* s, uint32_t seq) {
  uint32_t released = 0;
  while (s->head != NULL && s->head != s->unsent && s->head->seq != 0 && s->head->seq <= seq) {
    fp_batch* b = s->head;
    for (uint32_t i = 0; i < b->count; i++) close(b->fds[i]);
    released += b->count;
    s->head = b->next;
    if (s->head == NULL) s->tail = NULL;
    fp_batch_free(s->e, b);
  }
  s->unacked -= released;
  return released;
}

/* Ends the link: frees the batches from `from` on without closing their fds (JS owns them
 * again) and returns how many fds they held; closes the copies of those before it. */
static uint32_t end(fp_sender* s, fp_batch* from) {
  uint32_t returned = 0;
  int giving = 0;
  fp_batch* b = s->head;
  while (b != NULL) {
    fp_batch* next = b->next;
    if (b == from) giving = 1;
    if (giving) returned += b->count;
    else
      for (uint32_t i = 0; i < b->count; i++) close(b->fds[i]);
    fp_batch_free(s->e, b);
    b = next;
  }
  s->head = s->tail = s->unsent = NULL;
  s->unacked = 0;
  s->open = 0;
  undirty(s);
  uv_poll_stop(&s->poll);
  return returned;
}

static void on_handle_closed(uv_handle_t* h) {
  fp_sender* s = h->data;
  s->closing_handle = 0;
  if (s->finalized) free(s);
}

/* After end(): the handle first, then the fd, so libuv never touches a number reused since. */
static void close_handle(fp_sender* s) {
  s->closing_handle = 1;
  uv_close((uv_handle_t*)&s->poll, on_handle_closed);
  close(s->fd);
  s->fd = -1;
}

static void call_close(fp_sender* s, uint32_t returned, int err) {
  napi_handle_scope scope;
  napi_open_handle_scope(s->env, &scope);
  napi_value argv[2] = {fp_uint(s->env, returned), fp_errname(s->env, err)};
  fp_invoke(s->env, s->self, s->on_close, s->actx, 2, argv);
  napi_close_handle_scope(s->env, scope);
  napi_reference_unref(s->env, s->self, NULL);
}

/* Reads every ack queued (before EOF: an ack still in the queue is never mistaken for a
 * connection to place again) and returns the highest; sets *eof and *err at the end of the
 * stream. recvmmsg takes them all in one call; fewer than asked means the queue is empty, with
 * no extra call to hear EAGAIN.
 *
 * A worker that dies with batches unread makes Linux set ECONNRESET on this end
 * (unix_release_sock), which the next recv reports once, *before* the acks still queued: so it
 * is noted and reading goes on, to EOF. */
static uint32_t read_acks(fp_sender* s, int* eof, int* err) {
  uint32_t acked = 0;
  for (;;) {
    uint32_t acks[ACK_VLEN][4];
    struct iovec iov[ACK_VLEN];
    struct mmsghdr msgs[ACK_VLEN];
    memset(msgs, 0, sizeof msgs);
    for (unsigned i = 0; i < ACK_VLEN; i++) {
      iov[i].iov_base = acks[i];
      iov[i].iov_len = sizeof acks[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(s->fd, msgs, ACK_VLEN, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNRESET && *err == 0) {
        *err = -errno;
        continue;
      }
      /* After a reset the worker's end is gone: nothing more will come. */
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        *eof = 1;
        if (*err == 0) *err = -errno;
      } else if (*err != 0) {
        *eof = 1;
      }
      break;
    }
    if (n == 0) {
      *eof = 1;
      break;
    }
    for (int i = 0; i < n; i++) {
      /* SEQPACKET: a zero-length read is the worker's close (it never sends one). */
      if (msgs[i].msg_len == 0) {
        *eof = 1;
        break;
      }
      if (msgs[i].msg_len >= 8 && acks[i][0] == FP_MAGIC_ACK && acks[i][1] > acked) acked = acks[i][1];
      s->acks++;
    }
    if (*eof || n < ACK_VLEN) break;
  }
  if (*err != 0) *eof = 1;
  return acked;
}

static void call_ack(fp_sender* s, uint32_t released) {
  napi_handle_scope scope;
  napi_open_handle_scope(s->env, &scope);
  napi_value argv[1] = {fp_uint(s->env, released)};
  fp_invoke(s->env, s->self, s->on_ack, s->actx, 1, argv);
  napi_close_handle_scope(s->env, scope);
}

/* The worker is gone: what it acknowledged is released, everything else comes back. */
static void gone(fp_sender* s, int err) {
  uint32_t returned = end(s, s->head);
  close_handle(s);
  call_close(s, returned, err);
}

static void on_poll(uv_poll_t* h, int status, int events) {
  fp_sender* s = h->data;
  int eof = 0, err = 0;
  uint32_t acked = 0;
  /* libuv reports POLLERR (a reset) as status UV_EBADF: the acks before it are still to read. */
  if (status < 0 || (events & (UV_READABLE | UV_DISCONNECT))) acked = read_acks(s, &eof, &err);
  if (status < 0 && !eof) {
    eof = 1;
    err = status;
  }
  uint32_t released = acked > 0 ? release(s, acked) : 0;
  if (!eof && (events & UV_WRITABLE)) flush(s, 1);
  if (released > 0) call_ack(s, released);
  /* onAck may have closed it. */
  if (eof && s->open) gone(s, err);
}

static fp_batch* open_batch(fp_sender* s) {
  fp_batch* b = s->tail;
  if (b != NULL && b->seq == 0) return b;
  b = fp_batch_new(s->e);
  if (s->tail != NULL) s->tail->next = b;
  else s->head = b;
  s->tail = b;
  if (s->unsent == NULL) s->unsent = b;
  return b;
}

/* Queues fd (and its payload, length <= FP_MAX_PAYLOAD): 1 queued (the sender owns fd now), 0 at
 * the cap, -1 closed, -2 out of memory. */
int fp_sender_queue(fp_sender* s, int fd, uint32_t tag, const uint8_t* bytes, size_t length) {
  if (!s->open) return -1;
  if (s->unacked >= s->cap) return 0;
  fp_batch* b = open_batch(s);
  if (length > 0 && b->payload_bytes + length > FP_MAX_PAYLOAD && b->count > 0) {
    /* This payload would not fit in the batch's message: it starts the next one. */
    seal(s);
    fp_sender_flush(s);
    b = open_batch(s);
  }
  if (length > 0) {
    if (b->payload == NULL && (b->payload = malloc(FP_MAX_PAYLOAD)) == NULL) return -2;
    memcpy(b->payload + b->payload_bytes, bytes, length);
    b->payload_bytes += (uint32_t)length;
  }
  b->fds[b->count] = fd;
  b->tags[b->count] = tag;
  b->lengths[b->count] = (uint32_t)length;
  b->count++;
  s->unacked++;
  if (b->count >= s->max_batch) {
    /* Full: sealed now, whatever happens to the write, so the next fd opens another batch. */
    seal(s);
    fp_sender_flush(s);
  } else if (!s->dirty) {
    s->dirty = 1;
    s->dirty_next = s->e->dirty;
    s->e->dirty = s;
    fp_env_schedule(s->e, s->delay_us);
  }
  return 1;
}

/* close() by JS: what was sent stays the worker's (it reads what is queued to it); what never left
 * comes back through onClose. */
void fp_sender_close(fp_sender* s) {
  if (!s->open) return;
  fp_sender_flush(s);
  uint32_t returned = end(s, s->unsent);
  close_handle(s);
  call_close(s, returned, 0);
}

/* abandon(): the worker's process is gone, though its end may still be open (a process it spawned
 * before it set close-on-exec holds it): read its last acks, then give back the rest, as on EOF. */
void fp_sender_abandon(fp_sender* s) {
  if (!s->open) return;
  int eof = 0, err = 0;
  uint32_t acked = read_acks(s, &eof, &err);
  uint32_t released = acked > 0 ? release(s, acked) : 0;
  if (released > 0) call_ack(s, released);
  if (s->open) gone(s, 0);
}

void fp_sender_start(fp_sender* s) { want(s, UV_READABLE | UV_DISCONNECT); }

void fp_sender_undirty(fp_sender* s) { undirty(s); }

/* The JS object is gone: close what is still open (nobody takes the fds back) and free the
 * memory once libuv is done with the handle. */
void fp_sender_finalized(fp_sender* s) {
  if (s->open) {
    end(s, NULL);
    close_handle(s);
  }
  s->finalized = 1;
  if (!s->closing_handle) free(s);
}
