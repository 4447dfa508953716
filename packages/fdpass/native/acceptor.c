/*
 * Acceptor: accepts on a duplicate of a listening socket that Node bound and listened on, so Node
 * keeps listen()'s semantics (addresses, IPv6, backlog, errors) and the addon pays no TCPWrap per
 * connection. Each wake-up takes everything the backlog holds (up to `max` per call into JS) and
 * hands JS a count; the fds and, when asked, the peers' addresses are in arrays JS was given once.
 *
 *   new Acceptor(listenFd, onAccept(count, error), max, wantPeer)
 *     .fds    Int32Array(max)      accepted fds, non-blocking, close-on-exec; JS owns them
 *     .peers  Uint8Array(max * 64) per fd: family (4, 6, 1 unix, 0), text length, port (u16 LE),
 *                                  address text (latin1), only when wantPeer
 *     .pause() .resume() .close() .ref() .unref() .stats()
 */
#include "fdpass.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#define PEER_BYTES 64
/* After EMFILE/ENFILE the backlog stays readable: wait this long before trying again, instead
 * of spinning on a level-triggered poll. */
#define RETRY_MS 20

typedef struct {
  napi_env env;
  napi_ref self, on_accept, fds_ref, peers_ref;
  napi_async_context actx;
  uv_poll_t poll;
  uv_timer_t retry;
  int fd;
  int open;
  int polling;
  int paused;
  int handles;
  int finalized;
  uint32_t max;
  int want_peer;
  int32_t* fds;
  uint8_t* peers;
  double accepted, wakeups, calls, most;
} acceptor;

static void maybe_free(acceptor* a) {
  if (a->handles == 0 && a->finalized) free(a);
}

static void on_handle_closed(uv_handle_t* h) {
  acceptor* a = h->data;
  a->handles--;
  maybe_free(a);
}

static void set_polling(acceptor* a, int on);

static void record_peer(acceptor* a, uint32_t i, const struct sockaddr_storage* ss) {
  uint8_t* p = a->peers + (size_t)i * PEER_BYTES;
  char* text = (char*)p + 4;
  p[0] = 0;
  p[1] = 0;
  p[2] = 0;
  p[3] = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in* in = (const struct sockaddr_in*)ss;
    inet_ntop(AF_INET, &in->sin_addr, text, PEER_BYTES - 4);
    uint16_t port = ntohs(in->sin_port);
    p[0] = 4;
    p[2] = port & 0xff;
    p[3] = port >> 8;
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6* in6 = (const struct sockaddr_in6*)ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, text, PEER_BYTES - 4);
    uint16_t port = ntohs(in6->sin6_port);
    p[0] = 6;
    p[2] = port & 0xff;
    p[3] = port >> 8;
  } else if (ss->ss_family == AF_UNIX) {
    p[0] = 1;
    return;
  } else {
    return;
  }
  p[1] = (uint8_t)strlen(text);
}

/* accept4() errors that are about one connection, not the socket: skip it and go on (the
 * connection is gone; Linux passes pending network errors to accept, see accept(2)). */
static int transient(int err) {
  return err == ECONNABORTED || err == EPROTO || err == ENETDOWN || err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET ||
         err == EHOSTUNREACH || err == EOPNOTSUPP || err == ENETUNREACH || err == EPERM;
}

static void on_retry(uv_timer_t* h) {
  acceptor* a = h->data;
  if (a->open && !a->paused) set_polling(a, 1);
}

static void on_readable(uv_poll_t* h, int status, int events) {
  (void)events;
  acceptor* a = h->data;
  uint32_t n = 0;
  int err = 0;
  if (status < 0) {
    err = status;
  } else {
    while (n < a->max) {
      struct sockaddr_storage ss;
      socklen_t len = sizeof ss;
      int c = accept4(a->fd, a->want_peer ? (struct sockaddr*)&ss : NULL, a->want_peer ? &len : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EINTR || transient(errno)) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        err = -errno;
        break;
      }
      a->fds[n] = c;
      if (a->want_peer) record_peer(a, n, &ss);
      n++;
    }
  }
  a->wakeups++;
  a->accepted += n;
  if (n > a->most) a->most = n;
  if (err != 0) {
    /* Out of fds (or worse): rest, then try again; JS hears of it once per occurrence. */
    set_polling(a, 0);
    if (err == UV_EMFILE || err == UV_ENFILE || err == UV_ENOBUFS || err == UV_ENOMEM) uv_timer_start(&a->retry, on_retry, RETRY_MS, 0);
  }
  if (n == 0 && err == 0) return;
  a->calls++;
  napi_handle_scope scope;
  napi_open_handle_scope(a->env, &scope);
  napi_value argv[2] = {fp_uint(a->env, n), fp_errname(a->env, err)};
  fp_invoke(a->env, a->self, a->on_accept, a->actx, 2, argv);
  napi_close_handle_scope(a->env, scope);
}

static void set_polling(acceptor* a, int on) {
  if (on && !a->polling) {
    uv_poll_start(&a->poll, UV_READABLE, on_readable);
    a->polling = 1;
  } else if (!on && a->polling) {
    uv_poll_stop(&a->poll);
    a->polling = 0;
  }
}

static void do_close(acceptor* a) {
  if (!a->open) return;
  a->open = 0;
  set_polling(a, 0);
  uv_close((uv_handle_t*)&a->poll, on_handle_closed);
  uv_close((uv_handle_t*)&a->retry, on_handle_closed);
  close(a->fd);
  a->fd = -1;
}

static void finalize(napi_env env, void* data, void* hint) {
  (void)hint;
  acceptor* a = data;
  do_close(a);
  napi_delete_reference(env, a->on_accept);
  napi_delete_reference(env, a->fds_ref);
  if (a->peers_ref != NULL) napi_delete_reference(env, a->peers_ref);
  napi_delete_reference(env, a->self);
  napi_async_destroy(env, a->actx);
  a->finalized = 1;
  maybe_free(a);
}

static acceptor* unwrap(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  napi_value self;
  void* data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok || napi_unwrap(env, self, &data) != napi_ok) {
    fp_throw(env, "ERR_INVALID_THIS", "not an Acceptor");
    return NULL;
  }
  return data;
}

static napi_value construct(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], self;
  FP_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  int64_t listen_fd, max;
  bool want_peer = false;
  napi_valuetype t;
  if (argc < 4 || !fp_get_int(env, argv[0], &listen_fd) || napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function || !fp_get_int(env, argv[2], &max) ||
      napi_get_value_bool(env, argv[3], &want_peer) != napi_ok || listen_fd < 0 || max < 1 || max > 65536)
    return fp_throw(env, "ERR_INVALID_ARG_TYPE", "Acceptor(listenFd, onAccept, max, wantPeer)");
  int fd = fcntl((int)listen_fd, F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return fp_throw_errno(env, "dup", errno);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    int e = errno;
    close(fd);
    return fp_throw_errno(env, "fcntl", e);
  }
  acceptor* a = calloc(1, sizeof *a);
  if (a == NULL) {
    close(fd);
    return fp_throw(env, "ERR_FDPASS_NOMEM", "out of memory");
  }
  a->env = env;
  a->fd = fd;
  a->max = (uint32_t)max;
  a->want_peer = want_peer;
  napi_value fds = fp_shared_array(env, (size_t)max * 4, (void**)&a->fds, napi_int32_array, (size_t)max, &a->fds_ref);
  napi_set_named_property(env, self, "fds", fds);
  // Its copy of the listening socket: what an upgrade hands a new primary (Node's own was closed).
  napi_value js_fd;
  napi_create_int32(env, fd, &js_fd);
  napi_set_named_property(env, self, "fd", js_fd);
  if (want_peer) {
    napi_value peers = fp_shared_array(env, (size_t)max * PEER_BYTES, (void**)&a->peers, napi_uint8_array, (size_t)max * PEER_BYTES, &a->peers_ref);
    napi_set_named_property(env, self, "peers", peers);
  }
  napi_create_reference(env, argv[1], 1, &a->on_accept);
  napi_value name;
  napi_create_string_utf8(env, "HandoffFdpassAcceptor", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, self, name, &a->actx);
  fp_env* e = fp_env_get(env);
  uv_poll_init(e->loop, &a->poll, fd);
  uv_timer_init(e->loop, &a->retry);
  uv_unref((uv_handle_t*)&a->retry);
  a->poll.data = a;
  a->retry.data = a;
  a->handles = 2;
  a->open = 1;
  /* Strong while open, like a listening net.Server: the loop holds it, GC cannot take it. */
  napi_wrap(env, self, a, finalize, NULL, &a->self);
  napi_reference_ref(env, a->self, NULL);
  set_polling(a, 1);
  return self;
}

static napi_value m_pause(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  acceptor* a = unwrap(env, info, &argc, NULL);
  if (a == NULL || !a->open) return NULL;
  a->paused = 1;
  uv_timer_stop(&a->retry);
  set_polling(a, 0);
  return NULL;
}

static napi_value m_resume(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  acceptor* a = unwrap(env, info, &argc, NULL);
  if (a == NULL || !a->open) return NULL;
  a->paused = 0;
  set_polling(a, 1);
  return NULL;
}

static napi_value m_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  acceptor* a = unwrap(env, info, &argc, NULL);
  if (a == NULL || !a->open) return NULL;
  do_close(a);
  napi_reference_unref(env, a->self, NULL);
  return NULL;
}

static napi_value m_ref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  acceptor* a = unwrap(env, info, &argc, argv);
  if (a == NULL || !a->open) return NULL;
  bool on = true;
  if (argc > 0) napi_get_value_bool(env, argv[0], &on);
  if (on) uv_ref((uv_handle_t*)&a->poll);
  else uv_unref((uv_handle_t*)&a->poll);
  return NULL;
}

static napi_value m_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  acceptor* a = unwrap(env, info, &argc, NULL);
  if (a == NULL) return NULL;
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "accepted", fp_num(env, a->accepted));
  napi_set_named_property(env, out, "wakeups", fp_num(env, a->wakeups));
  napi_set_named_property(env, out, "calls", fp_num(env, a->calls));
  napi_set_named_property(env, out, "mostPerWakeup", fp_num(env, a->most));
  return out;
}

napi_value fp_acceptor_class(napi_env env) {
  napi_property_descriptor methods[] = {
      {"pause", NULL, m_pause, NULL, NULL, NULL, napi_default, NULL},
      {"resume", NULL, m_resume, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, m_close, NULL, NULL, NULL, napi_default, NULL},
      {"ref", NULL, m_ref, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, m_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  FP_CALL(env, napi_define_class(env, "Acceptor", NAPI_AUTO_LENGTH, construct, NULL, sizeof methods / sizeof methods[0], methods, &cls));
  return cls;
}
