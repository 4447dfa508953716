/* What the acceptor, the sender and the receiver share, and the module's entry point. */
#include "fdpass.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Bumped when the JS side must change with the native side (checked by src/native.ts). */
#define FP_ABI 1
/* Freed batches kept for reuse: a batch is ~2 KB, a busy primary needs a few per worker. */
#define FP_FREE_BATCHES 64

napi_value fp_throw(napi_env env, const char* code, const char* message) {
  napi_throw_error(env, code, message);
  return NULL;
}

napi_value fp_throw_errno(napi_env env, const char* syscall, int err) {
  char message[160];
  snprintf(message, sizeof message, "%s failed: %s", syscall, strerror(err));
  napi_throw_error(env, uv_err_name(-err), message);
  return NULL;
}

napi_value fp_uint(napi_env env, uint32_t v) {
  napi_value out;
  napi_create_uint32(env, v, &out);
  return out;
}

napi_value fp_num(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

/* A libuv error (negative errno) as its name ('ECONNRESET'), or undefined for 0. */
napi_value fp_errname(napi_env env, int err) {
  napi_value out;
  if (err == 0) napi_get_undefined(env, &out);
  else napi_create_string_utf8(env, uv_err_name(err), NAPI_AUTO_LENGTH, &out);
  return out;
}

int fp_get_int(napi_env env, napi_value v, int64_t* out) {
  return napi_get_value_int64(env, v, out) == napi_ok;
}

int fp_set_nonblock_cloexec(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) return -1;
  return 0;
}

/*
 * A typed array over memory the native side writes and JS reads, made once per object: handing
 * JS a count instead of a new array per wake-up allocates nothing per connection. `keep` holds the
 * ArrayBuffer so its backing store outlives any JS reference to it.
 */
napi_value fp_shared_array(napi_env env, size_t bytes, void** data, napi_typedarray_type type, size_t length, napi_ref* keep) {
  napi_value ab, ta;
  FP_CALL(env, napi_create_arraybuffer(env, bytes, data, &ab));
  FP_CALL(env, napi_create_typedarray(env, type, length, ab, 0, &ta));
  FP_CALL(env, napi_create_reference(env, ab, 1, keep));
  return ta;
}

/*
 * Calls `fn` on `self` from a libuv callback, as Node calls its own: napi_make_callback runs the
 * nextTick queue and microtasks after it, and an exception becomes 'uncaughtException', as one
 * thrown by a socket's 'data' listener does. The caller opened a handle scope.
 */
void fp_invoke(napi_env env, napi_ref self, napi_ref fn, napi_async_context ctx, size_t argc, napi_value* argv) {
  napi_value recv, func, result;
  if (napi_get_reference_value(env, self, &recv) != napi_ok || recv == NULL) return;
  if (napi_get_reference_value(env, fn, &func) != napi_ok || func == NULL) return;
  napi_status status = napi_make_callback(env, ctx, recv, func, argc, argv, &result);
  if (status == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
}

/* ---- batches ---- */

fp_batch* fp_batch_new(fp_env* e) {
  fp_batch* b = e->free_batches;
  if (b != NULL) {
    e->free_batches = b->next;
    e->free_count--;
  } else {
    b = malloc(sizeof *b);
    if (b == NULL) abort();
    b->payload = NULL;
  }
  b->next = NULL;
  b->seq = 0;
  b->count = 0;
  b->payload_bytes = 0;
  return b;
}

void fp_batch_free(fp_env* e, fp_batch* b) {
  if (e->free_count >= FP_FREE_BATCHES) {
    free(b->payload);
    free(b);
    return;
  }
  b->next = e->free_batches;
  e->free_batches = b;
  e->free_count++;
}

/* ---- the flush scheduler ---- */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void disarm_timer(fp_env* e) {
  if (!e->timer_armed) return;
  struct itimerspec off = {{0, 0}, {0, 0}};
  timerfd_settime(e->tfd, 0, &off, NULL);
  e->timer_armed = 0;
}

/* Flushes every sender with a batch waiting. A flush may make a sender dirty again only by
 * queueing, which JS cannot do from inside it, so one pass empties the list. */
static void flush_all(fp_env* e) {
  fp_sender* s = e->dirty;
  e->dirty = NULL;
  while (s != NULL) {
    fp_sender* next = fp_sender_next_dirty(s);
    fp_sender_flush(s);
    s = next;
  }
  if (e->turn_armed) {
    uv_check_stop(&e->check);
    uv_idle_stop(&e->idle);
    e->turn_armed = 0;
  }
  disarm_timer(e);
}

static void on_check(uv_check_t* h) { flush_all(h->data); }
static void on_idle(uv_idle_t* h) { (void)h; }

static void on_timer(uv_poll_t* h, int status, int events) {
  (void)status;
  (void)events;
  fp_env* e = h->data;
  uint64_t expirations;
  while (read(e->tfd, &expirations, sizeof expirations) < 0 && errno == EINTR) {
  }
  e->timer_armed = 0;
  flush_all(e);
}

/* A sender has a batch waiting: flush at the end of this turn (0) or within `delay_us`. */
void fp_env_schedule(fp_env* e, uint32_t delay_us) {
  if (delay_us == 0 || e->tfd < 0) {
    if (!e->turn_armed) {
      uv_check_start(&e->check, on_check);
      uv_idle_start(&e->idle, on_idle);
      e->turn_armed = 1;
    }
    return;
  }
  uint64_t deadline = now_ns() + (uint64_t)delay_us * 1000u;
  if (e->timer_armed && e->timer_deadline <= deadline) return;
  struct itimerspec at = {{0, 0}, {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)}};
  if (timerfd_settime(e->tfd, TFD_TIMER_ABSTIME, &at, NULL) == 0) {
    e->timer_armed = 1;
    e->timer_deadline = deadline;
  } else {
    fp_env_schedule(e, 0);
  }
}

static void env_cleanup(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  fp_env* e = data;
  /* The handles are unref'd and the loop is ending: close them so libuv does not walk freed
   * memory; the environment's memory goes with the process. */
  if (!uv_is_closing((uv_handle_t*)&e->check)) uv_close((uv_handle_t*)&e->check, NULL);
  if (!uv_is_closing((uv_handle_t*)&e->idle)) uv_close((uv_handle_t*)&e->idle, NULL);
  if (e->tfd >= 0 && !uv_is_closing((uv_handle_t*)&e->tpoll)) uv_close((uv_handle_t*)&e->tpoll, NULL);
}

static fp_env* env_create(napi_env env) {
  fp_env* e = calloc(1, sizeof *e);
  if (e == NULL) return NULL;
  napi_get_uv_event_loop(env, &e->loop);
  uv_check_init(e->loop, &e->check);
  uv_idle_init(e->loop, &e->idle);
  e->check.data = e;
  e->idle.data = e;
  uv_unref((uv_handle_t*)&e->check);
  uv_unref((uv_handle_t*)&e->idle);
  e->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (e->tfd >= 0) {
    uv_poll_init(e->loop, &e->tpoll, e->tfd);
    e->tpoll.data = e;
    uv_poll_start(&e->tpoll, UV_READABLE, on_timer);
    uv_unref((uv_handle_t*)&e->tpoll);
  }
  napi_set_instance_data(env, e, env_cleanup, NULL);
  return e;
}

fp_env* fp_env_get(napi_env env) {
  void* data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

/* ---- plain functions ---- */

/* socketpair(): [primaryEnd, workerEnd], SOCK_SEQPACKET, both close-on-exec, the primary's
 * non-blocking. The worker's end reaches the child through spawn's stdio (dup2 clears
 * close-on-exec on the copy there); no other child inherits either. */
static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  (void)info;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return fp_throw_errno(env, "socketpair", errno);
  if (fp_set_nonblock_cloexec(sv[0]) < 0) {
    int err = errno;
    close(sv[0]);
    close(sv[1]);
    return fp_throw_errno(env, "fcntl", err);
  }
  napi_value out;
  FP_CALL(env, napi_create_array_with_length(env, 2, &out));
  napi_set_element(env, out, 0, fp_uint(env, (uint32_t)sv[0]));
  napi_set_element(env, out, 1, fp_uint(env, (uint32_t)sv[1]));
  return out;
}

static int arg_fd(napi_env env, napi_callback_info info, int* fd) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t v;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !fp_get_int(env, argv[0], &v) || v < 0 || v > INT32_MAX) {
    fp_throw(env, "ERR_INVALID_ARG_TYPE", "expected a file descriptor");
    return 0;
  }
  *fd = (int)v;
  return 1;
}

/* close(fd): closes an fd the JS side owns (a connection it gives up on). */
static napi_value js_close(napi_env env, napi_callback_info info) {
  int fd;
  if (!arg_fd(env, info, &fd)) return NULL;
  if (close(fd) < 0 && errno != EINTR) return fp_throw_errno(env, "close", errno);
  return NULL;
}

/* dup(fd): a close-on-exec duplicate, for fds a Node handle owns and is about to close. */
static napi_value js_dup(napi_env env, napi_callback_info info) {
  int fd;
  if (!arg_fd(env, info, &fd)) return NULL;
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) return fp_throw_errno(env, "dup", errno);
  return fp_uint(env, (uint32_t)copy);
}

NAPI_MODULE_INIT() {
  if (fp_env_get(env) == NULL && env_create(env) == NULL) return fp_throw(env, "ERR_FDPASS_NOMEM", "out of memory");
  napi_property_descriptor props[] = {
      {"abi", NULL, NULL, NULL, NULL, fp_uint(env, FP_ABI), napi_enumerable, NULL},
      {"maxBatch", NULL, NULL, NULL, NULL, fp_uint(env, FP_MAX_FDS), napi_enumerable, NULL},
      {"socketpair", NULL, js_socketpair, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dup", NULL, js_dup, NULL, NULL, NULL, napi_enumerable, NULL},
      {"Acceptor", NULL, NULL, NULL, NULL, fp_acceptor_class(env), napi_enumerable, NULL},
      {"Sender", NULL, NULL, NULL, NULL, fp_sender_class(env), napi_enumerable, NULL},
      {"Receiver", NULL, NULL, NULL, NULL, fp_receiver_class(env), napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
