/*
 * resmon.h: the resmon WebAssembly ABI, version 1, for C resource types.
 *
 * ABI.md (next to this file) is the normative description; this header
 * declares the same exports, imports and constants, and adds small inline
 * decoders for the payloads the host sends. Build a resource type with
 *
 *   clang --target=wasm32-wasi --sysroot=<wasi-libc> -mexec-model=reactor \
 *         -O2 -o mytype.wasm mytype.c
 *
 * (Debian: clang-14, lld-14, wasi-libc, libclang-rt-14-dev-wasm32, sysroot /usr.)
 * Define every RESMON_EXPORT function below except resmon_control, which is
 * optional. All functions run on one thread, one call at a time.
 */
#ifndef RESMON_H
#define RESMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RESMON_ABI_VERSION 1

/* Statuses: 0 is success, errors are Win32 error codes negated. */
#define RESMON_OK 0
#define RESMON_ERROR_INVALID_FUNCTION (-1)    /* control code not handled */
#define RESMON_ERROR_NOT_FOUND (-2)           /* ERROR_FILE_NOT_FOUND */
#define RESMON_ERROR_ACCESS_DENIED (-5)       /* capability not granted */
#define RESMON_ERROR_INVALID_HANDLE (-6)      /* unknown resource or process handle */
#define RESMON_ERROR_NOT_ENOUGH_MEMORY (-8)   /* buffer over the limit, allocation failed */
#define RESMON_ERROR_GEN_FAILURE (-31)        /* any other error; see the message */
#define RESMON_ERROR_NOT_SUPPORTED (-50)      /* import unusable here */
#define RESMON_ERROR_INVALID_PARAMETER (-87)
#define RESMON_ERROR_ALREADY_EXISTS (-183)
#define RESMON_ERROR_MORE_DATA (-234)         /* buffer too small; *out_len says how big */
#define RESMON_ERROR_NOACCESS (-998)          /* pointer/length outside the guest's memory */
#define RESMON_ERROR_CANCELLED (-1223)
#define RESMON_ERROR_TIMEOUT (-1460)
#define RESMON_ERROR_FENCED (-5016)           /* ERROR_HOST_NODE_NOT_GROUP_OWNER */

/* Log levels. */
#define RESMON_LOG_TRACE 0
#define RESMON_LOG_DEBUG 1
#define RESMON_LOG_INFO 2
#define RESMON_LOG_WARN 3
#define RESMON_LOG_ERROR 4

/* Registry value types (Windows numbers). */
#define RESMON_REG_NONE 0
#define RESMON_REG_SZ 1
#define RESMON_REG_EXPAND_SZ 2
#define RESMON_REG_BINARY 3
#define RESMON_REG_DWORD 4
#define RESMON_REG_MULTI_SZ 7
#define RESMON_REG_QWORD 11

/* Checkpoint control codes (Windows numbers), answered by the host. */
#define RESMON_ADD_REGISTRY_CHECKPOINT 0x014000A2u
#define RESMON_DELETE_REGISTRY_CHECKPOINT 0x014000A6u
#define RESMON_GET_REGISTRY_CHECKPOINTS 0x010000A9u
#define RESMON_ADD_CRYPTO_CHECKPOINT 0x014000AEu
#define RESMON_DELETE_CRYPTO_CHECKPOINT 0x014000B2u
#define RESMON_GET_CRYPTO_CHECKPOINTS 0x010000B5u
/* resmon's own: returns once earlier checkpointed changes are in the quorum. */
#define RESMON_FLUSH_CHECKPOINTS 0x01100401u

/* Signals a guest may send to its child processes (Linux numbers). */
#define RESMON_SIGHUP 1
#define RESMON_SIGINT 2
#define RESMON_SIGQUIT 3
#define RESMON_SIGKILL 9
#define RESMON_SIGUSR1 10
#define RESMON_SIGUSR2 12
#define RESMON_SIGTERM 15
#define RESMON_SIGCONT 18
#define RESMON_SIGSTOP 19

/* Kinds of a property value in the open payload. */
#define RESMON_KIND_NULL 'n'
#define RESMON_KIND_STRING 's'
#define RESMON_KIND_INT 'i'
#define RESMON_KIND_FLOAT 'f'
#define RESMON_KIND_BOOL 'b'
#define RESMON_KIND_LIST 'l'
#define RESMON_KIND_TABLE 'm'

#define RESMON_IMPORT(name) __attribute__((import_module("resmon_v1"), import_name(#name)))
#define RESMON_EXPORT(name) __attribute__((export_name(#name)))

/* ---- Exports: what the resource type implements. ------------------------ */

/* Returns RESMON_ABI_VERSION. */
RESMON_EXPORT(resmon_abi_version) int32_t resmon_abi_version(void);
/* Opens a resource from the open payload (in_len bytes, read with
 * resmon_input_read). Returns a handle > 0, or a status < 0. */
RESMON_EXPORT(resmon_open) int32_t resmon_open(int32_t in_len);
RESMON_EXPORT(resmon_online) int32_t resmon_online(int32_t handle);
RESMON_EXPORT(resmon_offline) int32_t resmon_offline(int32_t handle);
RESMON_EXPORT(resmon_terminate) int32_t resmon_terminate(int32_t handle);
/* Return 1 alive, 0 not alive, or a status < 0. */
RESMON_EXPORT(resmon_looks_alive) int32_t resmon_looks_alive(int32_t handle);
RESMON_EXPORT(resmon_is_alive) int32_t resmon_is_alive(int32_t handle);
/* Optional. Input via resmon_input_read, output via resmon_output_write. */
RESMON_EXPORT(resmon_control) int32_t resmon_control(int32_t handle, uint32_t code, int32_t in_len);
/* Releases the handle, whatever the status. */
RESMON_EXPORT(resmon_close) int32_t resmon_close(int32_t handle);

/* ---- Imports: what the host provides (module "resmon_v1"). -------------- */

/* The current call's input: copies up to cap bytes from where the last read
 * stopped; returns the count, 0 at the end. */
RESMON_IMPORT(input_read) int32_t resmon_input_read(void *buf, uint32_t cap);
/* Appends len bytes to the current call's output (resmon_control). */
RESMON_IMPORT(output_write) int32_t resmon_output_write(const void *buf, uint32_t len);
/* Attaches a message to the error status the current export returns. */
RESMON_IMPORT(set_error_message) int32_t resmon_set_error_message(const char *msg, uint32_t len);
/* With RESMON_ERROR_MORE_DATA from resmon_control: the size needed. */
RESMON_IMPORT(set_needed) int32_t resmon_set_needed(uint32_t needed);
/* The message of the last failed import in this call; copies up to cap
 * bytes and returns the full length. */
RESMON_IMPORT(last_error) int32_t resmon_last_error(char *buf, uint32_t cap);
/* The current call's deadline in Unix nanoseconds, 0 if none. */
RESMON_IMPORT(deadline) int64_t resmon_deadline(void);
/* kv: alternating keys and values, each NUL-terminated ("port\0" "7000"). */
RESMON_IMPORT(log) int32_t resmon_log(int32_t level, const char *msg, uint32_t msg_len, const char *kv, uint32_t kv_len);
/* Restarts the PendingTimeout clock of a long Online/Offline. */
RESMON_IMPORT(progress) int32_t resmon_progress(const char *msg, uint32_t len);
/* Issues a cluster control code (the checkpoint codes). *out_len gets the
 * result size; with RESMON_ERROR_MORE_DATA, the size needed. */
RESMON_IMPORT(control) int32_t resmon_host_control(uint32_t code, const void *in, uint32_t in_len, void *out, uint32_t out_cap, uint32_t *out_len);
/* The fencing token (≥ 0), or a status < 0. */
RESMON_IMPORT(fencing_token) int64_t resmon_fencing_token(void);

/* Node-local registry. Keys are backslash paths ("SOFTWARE\\Onyone").
 * Value data: REG_SZ UTF-8 without NUL; REG_MULTI_SZ strings each
 * NUL-terminated plus a final NUL; REG_DWORD 4 bytes and REG_QWORD 8 bytes
 * little-endian; REG_BINARY/REG_NONE raw. */
RESMON_IMPORT(reg_get_value) int32_t resmon_reg_get_value(const char *key, uint32_t key_len, const char *name, uint32_t name_len, uint32_t *type, void *out, uint32_t out_cap, uint32_t *out_len);
RESMON_IMPORT(reg_set_value) int32_t resmon_reg_set_value(const char *key, uint32_t key_len, const char *name, uint32_t name_len, uint32_t type, const void *data, uint32_t data_len);
RESMON_IMPORT(reg_delete_value) int32_t resmon_reg_delete_value(const char *key, uint32_t key_len, const char *name, uint32_t name_len);
RESMON_IMPORT(reg_create_key) int32_t resmon_reg_create_key(const char *key, uint32_t key_len);
RESMON_IMPORT(reg_delete_key) int32_t resmon_reg_delete_key(const char *key, uint32_t key_len);
/* Sub key names, each NUL-terminated. */
RESMON_IMPORT(reg_sub_keys) int32_t resmon_reg_sub_keys(const char *key, uint32_t key_len, void *out, uint32_t out_cap, uint32_t *out_len);
/* Values: per value u32 name_len, name, u32 type, u32 data_len, data. */
RESMON_IMPORT(reg_values) int32_t resmon_reg_values(const char *key, uint32_t key_len, void *out, uint32_t out_cap, uint32_t *out_len);

/* Child processes from the type's allowed commands. args: each argument
 * NUL-terminated. Returns a process handle > 0, or a status < 0. */
RESMON_IMPORT(proc_start) int32_t resmon_proc_start(const char *cmd, uint32_t cmd_len, const char *args, uint32_t args_len);
RESMON_IMPORT(proc_signal) int32_t resmon_proc_signal(int32_t proc, int32_t sig);
/* 1 running, 0 exited (*exit_code set; -1 if a signal ended it), or a status < 0. */
RESMON_IMPORT(proc_status) int32_t resmon_proc_status(int32_t proc, int32_t *exit_code);
/* Kills the process group, waits, and releases the handle. */
RESMON_IMPORT(proc_stop) int32_t resmon_proc_stop(int32_t proc);

/* ---- Helpers. ------------------------------------------------------------ */

/* Returns status after attaching msg (a C string) to it. */
static inline int32_t resmon_fail(int32_t status, const char *msg) {
    resmon_set_error_message(msg, (uint32_t)strlen(msg));
    return status;
}

/* A bounded reader over a payload. err is set on the first overrun. */
typedef struct {
    const uint8_t *p, *end;
    int err;
} resmon_reader;

typedef struct {
    const char *p; /* not NUL-terminated */
    uint32_t n;
} resmon_str;

static inline uint32_t resmon_read_u32(resmon_reader *r) {
    if (r->err || r->end - r->p < 4) { r->err = 1; return 0; }
    uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    return v;
}

static inline uint64_t resmon_read_u64(resmon_reader *r) {
    uint64_t lo = resmon_read_u32(r);
    uint64_t hi = resmon_read_u32(r);
    return lo | hi << 32;
}

static inline uint8_t resmon_read_u8(resmon_reader *r) {
    if (r->err || r->end - r->p < 1) { r->err = 1; return 0; }
    return *r->p++;
}

static inline resmon_str resmon_read_str(resmon_reader *r) {
    resmon_str s = {0, 0};
    uint32_t n = resmon_read_u32(r);
    if (r->err || (uint64_t)(r->end - r->p) < n) { r->err = 1; return s; }
    s.p = (const char *)r->p;
    s.n = n;
    r->p += n;
    return s;
}

static inline int resmon_str_eq(resmon_str s, const char *c) {
    size_t n = strlen(c);
    return s.n == n && memcmp(s.p, c, n) == 0;
}

/* A property value. For lists and tables, body reads the elements. */
typedef struct {
    uint8_t kind;
    resmon_str str;    /* RESMON_KIND_STRING */
    int64_t i;         /* RESMON_KIND_INT, RESMON_KIND_BOOL (0/1) */
    double f;          /* RESMON_KIND_FLOAT */
    uint32_t count;    /* RESMON_KIND_LIST, RESMON_KIND_TABLE */
    resmon_reader body;
} resmon_value;

static inline void resmon__skip(resmon_reader *r, int depth);

/* Reads one value (kind byte and body). */
static inline resmon_value resmon_read_value(resmon_reader *r, int depth) {
    resmon_value v;
    memset(&v, 0, sizeof v);
    v.kind = resmon_read_u8(r);
    switch (v.kind) {
    case RESMON_KIND_NULL: break;
    case RESMON_KIND_STRING: v.str = resmon_read_str(r); break;
    case RESMON_KIND_INT: v.i = (int64_t)resmon_read_u64(r); break;
    case RESMON_KIND_FLOAT: { uint64_t b = resmon_read_u64(r); memcpy(&v.f, &b, 8); break; }
    case RESMON_KIND_BOOL: v.i = resmon_read_u8(r) != 0; break;
    case RESMON_KIND_LIST:
    case RESMON_KIND_TABLE:
        v.count = resmon_read_u32(r);
        v.body = *r;
        if (depth > 32) { r->err = 1; break; }
        for (uint32_t k = 0; k < v.count && !r->err; k++) {
            if (v.kind == RESMON_KIND_TABLE) resmon_read_str(r);
            resmon__skip(r, depth + 1);
        }
        v.body.end = r->p;
        break;
    default: r->err = 1;
    }
    return v;
}

static inline void resmon__skip(resmon_reader *r, int depth) { (void)resmon_read_value(r, depth); }

/* The open payload: str id, str name, u32 count, count x (str key, value). */
typedef struct {
    resmon_str id, name;
    uint32_t nprops;
    resmon_reader props; /* positioned at the first property */
} resmon_open_request;

/* Parses an open payload; returns RESMON_OK or RESMON_ERROR_INVALID_PARAMETER. */
static inline int32_t resmon_parse_open(const void *buf, uint32_t len, resmon_open_request *req) {
    resmon_reader r = {(const uint8_t *)buf, (const uint8_t *)buf + len, 0};
    req->id = resmon_read_str(&r);
    req->name = resmon_read_str(&r);
    req->nprops = resmon_read_u32(&r);
    req->props = r;
    return r.err ? RESMON_ERROR_INVALID_PARAMETER : RESMON_OK;
}

/* Finds top-level property name; returns 1 and fills *v if present. */
static inline int resmon_find_prop(const resmon_open_request *req, const char *name, resmon_value *v) {
    resmon_reader r = req->props;
    for (uint32_t k = 0; k < req->nprops && !r.err; k++) {
        resmon_str key = resmon_read_str(&r);
        resmon_value val = resmon_read_value(&r, 0);
        if (!r.err && resmon_str_eq(key, name)) {
            *v = val;
            return 1;
        }
    }
    return 0;
}

#ifdef __cplusplus
}
#endif
#endif /* RESMON_H */
