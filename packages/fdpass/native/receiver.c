/*
 * Receiver: the worker's end of its socketpair.
 *
 *   new Receiver(fd, onBatch(count), onClose(error))
 *     .fds      Int32Array   the fds of one wake-up (close-on-exec; JS owns them)
 *     .tags     Uint32Array  the tag the primary queued with each
 *     .offsets  Uint32Array  where each one's payload starts in .data (valid until onBatch returns)
 *     .lengths  Uint32Array  its length (0: none)
 *     .data     Uint8Array   the messages as read
 *     .close() .ref() .stats()
 *
 * One wake-up reads every batch queued (recvmmsg, up to 16 messages a call), acknowledges the
 * highest batch number with one 8-byte message *before* any JS runs, then calls onBatch once. From
 * the ack on, the primary has let go of its copies: these fds are the worker's, served or lost
 * with it, as a connection a single process accepted is.
 */
#include "fdpass.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VLEN 16
#define CAPACITY (2 * VLEN * FP_MAX_FDS)
/* One message buffer per recvmmsg slot, in one ArrayBuffer JS reads payloads from. 1 MiB of
 * address space; only the pages messages touch become resident (small batches touch one). */
#define DATA_BYTES ((size_t)VLEN * FP_MAX_MESSAGE)

typedef union {
  struct cmsghdr align;
  char buf[CMSG_SPACE(sizeof(int) * FP_MAX_FDS)];
} control_t;

typedef struct {
  napi_env env;
  napi_ref self, on_batch, on_close, fds_ref, tags_ref, offsets_ref, lengths_ref, data_ref;
  napi_async_context actx;
  uv_poll_t poll;
  int fd;
  int open;
  int closing_handle;
  int finalized;
  int events;
  /* A batch came with fewer fds than it names (MSG_CTRUNC: this process is out of descriptors). */
  int truncated;
  int32_t* fds;
  uint32_t* tags;
  uint32_t* offsets;
  uint32_t* lengths;
  uint8_t* data;
  uint32_t highest, acked;
  struct mmsghdr msgs[VLEN];
  struct iovec iov[VLEN];
  control_t control[VLEN];
  double wakeups, recv_calls, messages, received, acks, dropped, most;
} receiver;

static void on_poll(uv_poll_t* h, int status, int events);

static void want(receiver* r, int events) {
  if (!r->open || events == r->events) return;
  r->events = events;
  uv_poll_start(&r->poll, events, on_poll);
}

static void send_ack(receiver* r) {
  uint32_t ack[2] = {FP_MAGIC_ACK, r->highest};
  ssize_t n;
  do n = send(r->fd, ack, sizeof ack, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n == (ssize_t)sizeof ack) {
    r->acked = r->highest;
    r->acks++;
    want(r, UV_READABLE | UV_DISCONNECT);
  } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    /* The primary's queue is full of acks it has not read: send the newest once it drains. */
    want(r, UV_READABLE | UV_DISCONNECT | UV_WRITABLE);
  }
  /* Any other error: the primary is gone; EOF follows. */
}

/* Takes one message's fds into the arrays; returns how many, or closes them all and returns 0
 * when the message is not a well-formed batch. Sets *payload when it carried payload bytes. */
static uint32_t take(receiver* r, unsigned i, uint32_t at, int* payload) {
  struct msghdr* m = &r->msgs[i].msg_hdr;
  uint32_t len = r->msgs[i].msg_len;
  int* fds = NULL;
  uint32_t nfds = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      fds = (int*)CMSG_DATA(c);
      nfds = (uint32_t)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      break;
    }
  }
  size_t base = (size_t)i * FP_MAX_MESSAGE;
  const uint32_t* d = (const uint32_t*)(r->data + base);
  int ok = len >= FP_HEADER_BYTES && d[0] == FP_MAGIC_BATCH && d[2] == nfds && nfds <= FP_MAX_FDS && !(m->msg_flags & (MSG_CTRUNC | MSG_TRUNC));
  uint32_t payload_bytes = ok ? d[3] : 0;
  const uint32_t* lengths = d + 4 + nfds;
  if (ok) {
    uint64_t want = FP_HEADER_BYTES + 4ull * nfds + (payload_bytes > 0 ? 4ull * nfds + payload_bytes : 0);
    ok = len == want && payload_bytes <= FP_MAX_PAYLOAD;
  }
  if (ok && payload_bytes > 0) {
    uint64_t sum = 0;
    for (uint32_t j = 0; j < nfds; j++) sum += lengths[j];
    ok = sum == payload_bytes;
  }
  if (!ok) {
    if (m->msg_flags & MSG_CTRUNC) r->truncated = 1;
    for (uint32_t j = 0; j < nfds; j++) {
      int fd;
      memcpy(&fd, fds + j, sizeof fd);
      close(fd);
    }
    r->dropped++;
    return 0;
  }
  if (d[1] > r->highest) r->highest = d[1];
  uint32_t offset = (uint32_t)(base + FP_HEADER_BYTES + 8u * nfds);
  for (uint32_t j = 0; j < nfds; j++) {
    int fd;
    memcpy(&fd, fds + j, sizeof fd);
    r->fds[at + j] = fd;
    r->tags[at + j] = d[4 + j];
    uint32_t n = payload_bytes > 0 ? lengths[j] : 0;
    r->offsets[at + j] = offset;
    r->lengths[at + j] = n;
    offset += n;
  }
  if (payload_bytes > 0) *payload = 1;
  return nfds;
}

static void end(receiver* r, int err);

/* Closes the fds message i brought, unread (a batch behind a truncated one, which the primary gives
 * back with it). */
static void discard(receiver* r, unsigned i) {
  struct msghdr* m = &r->msgs[i].msg_hdr;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    uint32_t nfds = (uint32_t)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (uint32_t j = 0; j < nfds; j++) {
      int fd;
      memcpy(&fd, (int*)CMSG_DATA(c) + j, sizeof fd);
      close(fd);
    }
  }
}

static void on_poll(uv_poll_t* h, int status, int events) {
  receiver* r = h->data;
  uint32_t count = 0;
  int eof = 0, err = 0, payload = 0;
  r->wakeups++;
  /* libuv reports POLLERR (a reset) as status UV_EBADF: what is queued is still to read. */
  if (status < 0 || (events & (UV_READABLE | UV_DISCONNECT))) {
    while (CAPACITY - count >= VLEN * FP_MAX_FDS) {
      for (unsigned i = 0; i < VLEN; i++) {
        struct msghdr* m = &r->msgs[i].msg_hdr;
        r->iov[i].iov_base = r->data + (size_t)i * FP_MAX_MESSAGE;
        r->iov[i].iov_len = FP_MAX_MESSAGE;
        m->msg_name = NULL;
        m->msg_namelen = 0;
        m->msg_iov = &r->iov[i];
        m->msg_iovlen = 1;
        m->msg_control = r->control[i].buf;
        m->msg_controllen = sizeof r->control[i].buf;
        m->msg_flags = 0;
      }
      int n = recvmmsg(r->fd, r->msgs, VLEN, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, NULL);
      r->recv_calls++;
      if (n < 0) {
        if (errno == EINTR) continue;
        /* A primary that closes with acks unread makes Linux report ECONNRESET here once, before
         * the batches still queued (unix_release_sock): they are this worker's, read on to EOF. */
        if (errno == ECONNRESET && err == 0) {
          err = -errno;
          continue;
        }
        /* After a reset the primary's end is gone: once the queue is empty, nothing more comes. */
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          eof = 1;
          if (err == 0) err = -errno;
        } else if (err != 0) {
          eof = 1;
        }
        break;
      }
      if (n == 0) {
        eof = 1;
        break;
      }
      for (int i = 0; i < n; i++) {
        /* SEQPACKET: a zero-length read is the peer's close (the primary never sends one). */
        if (r->msgs[i].msg_len == 0 && r->msgs[i].msg_hdr.msg_controllen == 0) {
          eof = 1;
          break;
        }
        r->messages++;
        count += take(r, (unsigned)i, count, &payload);
        if (r->truncated) {
          /* Out of descriptors: the fds of this batch are gone, and the kernel keeps the primary's
           * copies only until acked. Ack what came before it, give the rest back by ending the
           * link (the primary reads the ack, then EOF, and places what it held again; its worker
           * goes on over IPC, where Node answers NODE_HANDLE_NACK). */
          for (int j = i + 1; j < n; j++) discard(r, (unsigned)j);
          eof = 1;
          err = -EMFILE;
          break;
        }
      }
      /* Fewer than asked: the queue is empty now, no need to hear EAGAIN from another call.
       * Payloads live in the message buffers: JS reads them before the next call reuses those. */
      if (eof || n < VLEN || payload) break;
    }
  }
  /* A reset stopped libuv's watcher (POLLERR): what the loop left queued is read next turn. */
  if (status < 0 && !eof && r->open) {
    r->events = 0;
    want(r, UV_READABLE | UV_DISCONNECT);
  }
  if (r->highest != r->acked && r->open) send_ack(r);
  /* An ack that could not be sent would make the primary give back batches read here: keep the link. */
  if (r->truncated && r->highest != r->acked) {
    eof = 0;
    r->truncated = 0;
  }
  else if ((events & UV_WRITABLE) && r->open) want(r, UV_READABLE | UV_DISCONNECT);
  r->received += count;
  if (count > r->most) r->most = count;
  if (count > 0) {
    napi_handle_scope scope;
    napi_open_handle_scope(r->env, &scope);
    napi_value argv[1] = {fp_uint(r->env, count)};
    fp_invoke(r->env, r->self, r->on_batch, r->actx, 1, argv);
    napi_close_handle_scope(r->env, scope);
  }
  if (eof && r->open) end(r, err);
}

static void on_handle_closed(uv_handle_t* h) {
  receiver* r = h->data;
  r->closing_handle = 0;
  if (r->finalized) free(r);
}

static void shut(receiver* r) {
  r->open = 0;
  uv_poll_stop(&r->poll);
  r->closing_handle = 1;
  uv_close((uv_handle_t*)&r->poll, on_handle_closed);
  close(r->fd);
  r->fd = -1;
}

static void end(receiver* r, int err) {
  shut(r);
  napi_handle_scope scope;
  napi_open_handle_scope(r->env, &scope);
  napi_value argv[1] = {fp_errname(r->env, err)};
  fp_invoke(r->env, r->self, r->on_close, r->actx, 1, argv);
  napi_close_handle_scope(r->env, scope);
  napi_reference_unref(r->env, r->self, NULL);
}

static void finalize(napi_env env, void* data, void* hint) {
  (void)hint;
  receiver* r = data;
  if (r->open) shut(r);
  napi_delete_reference(env, r->on_batch);
  napi_delete_reference(env, r->on_close);
  napi_delete_reference(env, r->fds_ref);
  napi_delete_reference(env, r->tags_ref);
  napi_delete_reference(env, r->offsets_ref);
  napi_delete_reference(env, r->lengths_ref);
  napi_delete_reference(env, r->data_ref);
  napi_delete_reference(env, r->self);
  napi_async_destroy(env, r->actx);
  r->finalized = 1;
  if (!r->closing_handle) free(r);
}

static receiver* unwrap(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  napi_value self;
  void* data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok || napi_unwrap(env, self, &data) != napi_ok) {
    fp_throw(env, "ERR_INVALID_THIS", "not a Receiver");
    return NULL;
  }
  return data;
}

static napi_value construct(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], self;
  FP_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  int64_t fd;
  napi_valuetype t1, t2;
  if (argc < 3 || !fp_get_int(env, argv[0], &fd) || napi_typeof(env, argv[1], &t1) != napi_ok || napi_typeof(env, argv[2], &t2) != napi_ok || t1 != napi_function ||
      t2 != napi_function || fd < 0 || fd > INT32_MAX)
    return fp_throw(env, "ERR_INVALID_ARG_TYPE", "Receiver(fd, onBatch, onClose)");
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return fp_throw_errno(env, "getsockopt", errno);
  if (type != SOCK_SEQPACKET) return fp_throw(env, "ERR_FDPASS_NOT_SEQPACKET", "the fd is not a SOCK_SEQPACKET socket");
  /* Close-on-exec: a process this worker spawns must not hold the link open past its death. */
  if (fp_set_nonblock_cloexec((int)fd) < 0) return fp_throw_errno(env, "fcntl", errno);
  receiver* r = calloc(1, sizeof *r);
  if (r == NULL) return fp_throw(env, "ERR_FDPASS_NOMEM", "out of memory");
  r->env = env;
  r->fd = (int)fd;
  napi_value fds = fp_shared_array(env, CAPACITY * 4, (void**)&r->fds, napi_int32_array, CAPACITY, &r->fds_ref);
  napi_value tags = fp_shared_array(env, CAPACITY * 4, (void**)&r->tags, napi_uint32_array, CAPACITY, &r->tags_ref);
  napi_value offsets = fp_shared_array(env, CAPACITY * 4, (void**)&r->offsets, napi_uint32_array, CAPACITY, &r->offsets_ref);
  napi_value lengths = fp_shared_array(env, CAPACITY * 4, (void**)&r->lengths, napi_uint32_array, CAPACITY, &r->lengths_ref);
  napi_value data = fp_shared_array(env, DATA_BYTES, (void**)&r->data, napi_uint8_array, DATA_BYTES, &r->data_ref);
  if (fds == NULL || tags == NULL || offsets == NULL || lengths == NULL || data == NULL) {
    free(r);
    return NULL;
  }
  napi_set_named_property(env, self, "fds", fds);
  napi_set_named_property(env, self, "tags", tags);
  napi_set_named_property(env, self, "offsets", offsets);
  napi_set_named_property(env, self, "lengths", lengths);
  napi_set_named_property(env, self, "data", data);
  napi_create_reference(env, argv[1], 1, &r->on_batch);
  napi_create_reference(env, argv[2], 1, &r->on_close);
  napi_value name;
  napi_create_string_utf8(env, "HandoffFdpassReceiver", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, self, name, &r->actx);
  uv_poll_init(fp_env_get(env)->loop, &r->poll, r->fd);
  r->poll.data = r;
  r->open = 1;
  napi_wrap(env, self, r, finalize, NULL, &r->self);
  napi_reference_ref(env, r->self, NULL);
  want(r, UV_READABLE | UV_DISCONNECT);
  return self;
}

static napi_value m_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  receiver* r = unwrap(env, info, &argc, NULL);
  if (r == NULL || !r->open) return NULL;
  shut(r);
  napi_reference_unref(env, r->self, NULL);
  return NULL;
}

static napi_value m_ref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  receiver* r = unwrap(env, info, &argc, argv);
  if (r == NULL || !r->open) return NULL;
  bool on = true;
  if (argc > 0) napi_get_value_bool(env, argv[0], &on);
  if (on) uv_ref((uv_handle_t*)&r->poll);
  else uv_unref((uv_handle_t*)&r->poll);
  return NULL;
}

static napi_value m_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  receiver* r = unwrap(env, info, &argc, NULL);
  if (r == NULL) return NULL;
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "wakeups", fp_num(env, r->wakeups));
  napi_set_named_property(env, out, "recvCalls", fp_num(env, r->recv_calls));
  napi_set_named_property(env, out, "batches", fp_num(env, r->messages));
  napi_set_named_property(env, out, "fds", fp_num(env, r->received));
  napi_set_named_property(env, out, "acks", fp_num(env, r->acks));
  napi_set_named_property(env, out, "dropped", fp_num(env, r->dropped));
  napi_set_named_property(env, out, "mostPerWakeup", fp_num(env, r->most));
  napi_set_named_property(env, out, "highest", fp_uint(env, r->highest));
  return out;
}

napi_value fp_receiver_class(napi_env env) {
  napi_property_descriptor methods[] = {
      {"close", NULL, m_close, NULL, NULL, NULL, napi_default, NULL},
      {"ref", NULL, m_ref, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, m_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  FP_CALL(env, napi_define_class(env, "Receiver", NAPI_AUTO_LENGTH, construct, NULL, sizeof methods / sizeof methods[0], methods, &cls));
  return cls;
}
