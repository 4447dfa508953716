/*
 * Sender: the primary's end of one worker's SOCK_SEQPACKET socketpair.
 *
 *   new Sender(fd, onAck(released), onClose(returned, error), maxBatch, cap, delayUs)
 *     .queue(fd, tag)  1 queued (the sender owns fd now), 0 the worker holds `cap` unacknowledged,
 *                      -1 closed
 *     .flush() .close() .abandon() .ref() .unacked() .stats()
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
#include "fdpass.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
  uint32_t max_batch, cap, delay_us;
  uint32_t unacked, next_seq;
  /* Oldest first: sent batches, then sealed unsent ones, then at most one still taking fds. */
  fp_batch *head, *tail, *unsent;
  int dirty;
  fp_sender* dirty_next;
  double batches, fds, sends, blocked, acks, most, send_errors;
  int last_error;
};

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

/* Numbers the batch still taking fds, if any, and writes every numbered one not yet written. */
void fp_sender_flush(fp_sender* s) {
  if (!s->open || s->broken) return;
  if (s->tail != NULL && s->tail->seq == 0 && s->tail->count > 0) s->tail->seq = ++s->next_seq;
  while (s->unsent != NULL && s->unsent->seq != 0) {
    int err = send_batch(s, s->unsent);
    if (err == 0) {
      s->unsent = s->unsent->next;
      continue;
    }
    if (err == EAGAIN) {
      /* The worker's receive queue is full (it is busy or stopped): write the rest when it drains. */
      s->blocked++;
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
  want(s, UV_READABLE | UV_DISCONNECT);
}

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
 * no extra call to hear EAGAIN. */
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
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        *eof = 1;
        *err = -errno;
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
  if (status < 0) {
    eof = 1;
    err = status;
  } else if (events & (UV_READABLE | UV_DISCONNECT)) {
    acked = read_acks(s, &eof, &err);
  }
  uint32_t released = acked > 0 ? release(s, acked) : 0;
  if (!eof && (events & UV_WRITABLE)) fp_sender_flush(s);
  if (released > 0) call_ack(s, released);
  /* onAck may have closed it. */
  if (eof && s->open) gone(s, err);
}

static void finalize(napi_env env, void* data, void* hint) {
  (void)hint;
  fp_sender* s = data;
  if (s->open) {
    end(s, NULL);
    close_handle(s);
  }
  napi_delete_reference(env, s->on_ack);
  napi_delete_reference(env, s->on_close);
  napi_delete_reference(env, s->self);
  napi_async_destroy(env, s->actx);
  s->finalized = 1;
  if (!s->closing_handle) free(s);
}

static fp_sender* unwrap(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  napi_value self;
  void* data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok || napi_unwrap(env, self, &data) != napi_ok) {
    fp_throw(env, "ERR_INVALID_THIS", "not a Sender");
    return NULL;
  }
  return data;
}

static napi_value construct(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], self;
  FP_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  int64_t fd, max_batch, cap, delay_us;
  napi_valuetype t1, t2;
  if (argc < 6 || !fp_get_int(env, argv[0], &fd) || napi_typeof(env, argv[1], &t1) != napi_ok || napi_typeof(env, argv[2], &t2) != napi_ok || t1 != napi_function ||
      t2 != napi_function || !fp_get_int(env, argv[3], &max_batch) || !fp_get_int(env, argv[4], &cap) || !fp_get_int(env, argv[5], &delay_us) || fd < 0 ||
      max_batch < 1 || max_batch > FP_MAX_FDS || cap < 1 || cap > 1 << 20 || delay_us < 0 || delay_us > 1000000)
    return fp_throw(env, "ERR_INVALID_ARG_TYPE", "Sender(fd, onAck, onClose, maxBatch 1..253, cap >= 1, delayUs 0..1e6)");
  if (fp_set_nonblock_cloexec((int)fd) < 0) return fp_throw_errno(env, "fcntl", errno);
  fp_sender* s = calloc(1, sizeof *s);
  if (s == NULL) return fp_throw(env, "ERR_FDPASS_NOMEM", "out of memory");
  s->e = fp_env_get(env);
  s->env = env;
  s->fd = (int)fd;
  s->max_batch = (uint32_t)max_batch;
  s->cap = (uint32_t)cap;
  s->delay_us = (uint32_t)delay_us;
  napi_create_reference(env, argv[1], 1, &s->on_ack);
  napi_create_reference(env, argv[2], 1, &s->on_close);
  napi_value name;
  napi_create_string_utf8(env, "HandoffFdpassSender", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, self, name, &s->actx);
  uv_poll_init(s->e->loop, &s->poll, s->fd);
  s->poll.data = s;
  s->open = 1;
  napi_wrap(env, self, s, finalize, NULL, &s->self);
  napi_reference_ref(env, s->self, NULL);
  want(s, UV_READABLE | UV_DISCONNECT);
  return self;
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

static napi_value m_queue(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  fp_sender* s = unwrap(env, info, &argc, argv);
  if (s == NULL) return NULL;
  int64_t fd, tag;
  if (argc < 2 || !fp_get_int(env, argv[0], &fd) || !fp_get_int(env, argv[1], &tag) || fd < 0 || fd > INT32_MAX)
    return fp_throw(env, "ERR_INVALID_ARG_TYPE", "queue(fd, tag, payload?)");
  /* The payload, if any: a Uint8Array (a Buffer is one) of at most FP_MAX_PAYLOAD bytes. */
  uint8_t* bytes = NULL;
  size_t length = 0;
  if (argc > 2) {
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    if (t != napi_undefined) {
      bool is_typed = false;
      napi_typedarray_type type;
      napi_is_typedarray(env, argv[2], &is_typed);
      if (!is_typed || napi_get_typedarray_info(env, argv[2], &type, &length, (void**)&bytes, NULL, NULL) != napi_ok || type != napi_uint8_array)
        return fp_throw(env, "ERR_INVALID_ARG_TYPE", "queue(): the payload must be a Uint8Array");
      if (length > FP_MAX_PAYLOAD) return fp_throw(env, "ERR_OUT_OF_RANGE", "queue(): a payload holds at most 65536 bytes");
    }
  }
  if (!s->open) return fp_num(env, -1);
  if (s->unacked >= s->cap) return fp_uint(env, 0);
  fp_batch* b = open_batch(s);
  if (length > 0 && b->payload_bytes + length > FP_MAX_PAYLOAD && b->count > 0) {
    /* This payload would not fit in the batch's message: it starts the next one. */
    b->seq = ++s->next_seq;
    fp_sender_flush(s);
    b = open_batch(s);
  }
  if (length > 0) {
    if (b->payload == NULL && (b->payload = malloc(FP_MAX_PAYLOAD)) == NULL) return fp_throw(env, "ERR_FDPASS_NOMEM", "out of memory");
    memcpy(b->payload + b->payload_bytes, bytes, length);
    b->payload_bytes += (uint32_t)length;
  }
  b->fds[b->count] = (int)fd;
  b->tags[b->count] = (uint32_t)tag;
  b->lengths[b->count] = (uint32_t)length;
  b->count++;
  s->unacked++;
  if (b->count >= s->max_batch) {
    fp_sender_flush(s);
  } else if (!s->dirty) {
    s->dirty = 1;
    s->dirty_next = s->e->dirty;
    s->e->dirty = s;
    fp_env_schedule(s->e, s->delay_us);
  }
  return fp_uint(env, 1);
}

static napi_value m_flush(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  fp_sender* s = unwrap(env, info, &argc, NULL);
  if (s == NULL) return NULL;
  undirty(s);
  fp_sender_flush(s);
  return NULL;
}

static napi_value m_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  fp_sender* s = unwrap(env, info, &argc, NULL);
  if (s == NULL || !s->open) return NULL;
  fp_sender_flush(s);
  uint32_t returned = end(s, s->unsent);
  close_handle(s);
  call_close(s, returned, 0);
  return NULL;
}

/* abandon(): the worker's process is gone, though its end may still be open (a process it spawned
 * before it set close-on-exec holds it): read its last acks, then give back the rest, as on EOF. */
static napi_value m_abandon(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  fp_sender* s = unwrap(env, info, &argc, NULL);
  if (s == NULL || !s->open) return NULL;
  int eof = 0, err = 0;
  uint32_t acked = read_acks(s, &eof, &err);
  uint32_t released = acked > 0 ? release(s, acked) : 0;
  if (released > 0) call_ack(s, released);
  if (s->open) gone(s, 0);
  return NULL;
}

static napi_value m_ref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  fp_sender* s = unwrap(env, info, &argc, argv);
  if (s == NULL || !s->open) return NULL;
  bool on = true;
  if (argc > 0) napi_get_value_bool(env, argv[0], &on);
  if (on) uv_ref((uv_handle_t*)&s->poll);
  else uv_unref((uv_handle_t*)&s->poll);
  return NULL;
}

static napi_value m_unacked(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  fp_sender* s = unwrap(env, info, &argc, NULL);
  if (s == NULL) return NULL;
  return fp_uint(env, s->unacked);
}

static napi_value m_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  fp_sender* s = unwrap(env, info, &argc, NULL);
  if (s == NULL) return NULL;
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "batches", fp_num(env, s->batches));
  napi_set_named_property(env, out, "fds", fp_num(env, s->fds));
  napi_set_named_property(env, out, "sendCalls", fp_num(env, s->sends));
  napi_set_named_property(env, out, "blocked", fp_num(env, s->blocked));
  napi_set_named_property(env, out, "acks", fp_num(env, s->acks));
  napi_set_named_property(env, out, "largestBatch", fp_num(env, s->most));
  napi_set_named_property(env, out, "unacked", fp_uint(env, s->unacked));
  napi_set_named_property(env, out, "sendErrors", fp_num(env, s->send_errors));
  napi_set_named_property(env, out, "lastError", fp_errname(env, -s->last_error));
  return out;
}

napi_value fp_sender_class(napi_env env) {
  napi_property_descriptor methods[] = {
      {"queue", NULL, m_queue, NULL, NULL, NULL, napi_default, NULL},
      {"flush", NULL, m_flush, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, m_close, NULL, NULL, NULL, napi_default, NULL},
      {"abandon", NULL, m_abandon, NULL, NULL, NULL, napi_default, NULL},
      {"ref", NULL, m_ref, NULL, NULL, NULL, napi_default, NULL},
      {"unacked", NULL, m_unacked, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, m_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  FP_CALL(env, napi_define_class(env, "Sender", NAPI_AUTO_LENGTH, construct, NULL, sizeof methods / sizeof methods[0], methods, &cls));
  return cls;
}
