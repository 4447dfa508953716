/* The Sender's JS class (native/sender.c has what it does). */
#include "sender.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void finalize(napi_env env, void* data, void* hint) {
  (void)hint;
  fp_sender* s = data;
  napi_delete_reference(env, s->on_ack);
  napi_delete_reference(env, s->on_close);
  napi_delete_reference(env, s->self);
  napi_async_destroy(env, s->actx);
  fp_sender_finalized(s);
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
  fp_sender_start(s);
  return self;
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
  int r = fp_sender_queue(s, (int)fd, (uint32_t)tag, bytes, length);
  if (r == -2) return fp_throw(env, "ERR_FDPASS_NOMEM", "out of memory");
  return r < 0 ? fp_num(env, r) : fp_uint(env, (uint32_t)r);
}

static napi_value m_flush(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  fp_sender* s = unwrap(env, info, &argc, NULL);
  if (s == NULL) return NULL;
  fp_sender_undirty(s);
  fp_sender_flush(s);
  return NULL;
}

static napi_value m_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  fp_sender* s = unwrap(env, info, &argc, NULL);
  if (s != NULL) fp_sender_close(s);
  return NULL;
}

static napi_value m_abandon(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  fp_sender* s = unwrap(env, info, &argc, NULL);
  if (s != NULL) fp_sender_abandon(s);
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
