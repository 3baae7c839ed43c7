/*
 * cguest: a resource type in C, written from sdk/wasm/ABI.md and resmon.h
 * alone. Its behaviour is steered by private properties, like the Go test
 * type (testutil/testtype):
 *
 *   LooksAlive, IsAlive  bool    health results (default true)
 *   CheckpointKey        string  Online adds this registry checkpoint and
 *                                lists the checkpoints back (MORE_DATA first)
 *   RegistryKey          string  Online writes DWORD "Online" = 1 here and
 *                                reads it back
 *   OnlineDelayMs        int     Online takes this long, reporting progress
 *   HangIn               string  "Online": sleep until interrupted
 *   SpinIn               string  "Online": busy-loop forever
 *   PanicIn              string  "Online": trap (unreachable)
 *   FailIn               string  "Online": fail with a message
 *
 * Control codes: 1 echo; 2 fencing token (decimal); 3 allocate the decimal
 * number of bytes in the input; 4 ERROR_MORE_DATA needing 1000 bytes;
 * 5 ERROR_ALREADY_EXISTS; 0x10 start process (input: command, then
 * arguments, each NUL-terminated; output: handle); 0x11 status of a process
 * ("running" / "exited N"); 0x12 stop a process; 0x13 read a file; 0x14
 * write a file (input: path NUL content).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "resmon.h"

#define MAX_RESOURCES 16

struct resource {
    int used;
    int looks_alive, is_alive, online;
    char checkpoint_key[256];
    char registry_key[256];
    char hang_in[32], spin_in[32], panic_in[32], fail_in[32];
    int64_t online_delay_ms;
};

static struct resource resources[MAX_RESOURCES + 1];
static char *kept; /* memory held by control code 3 */

int32_t resmon_abi_version(void) { return RESMON_ABI_VERSION; }

static void copy_str(char *dst, size_t cap, resmon_str s) {
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    memcpy(dst, s.p, n);
    dst[n] = 0;
}

static void str_prop(const resmon_open_request *req, const char *name, char *dst, size_t cap) {
    resmon_value v;
    dst[0] = 0;
    if (resmon_find_prop(req, name, &v) && v.kind == RESMON_KIND_STRING) copy_str(dst, cap, v.str);
}

static int bool_prop(const resmon_open_request *req, const char *name, int def) {
    resmon_value v;
    if (resmon_find_prop(req, name, &v) && v.kind == RESMON_KIND_BOOL) return (int)v.i;
    return def;
}

static int64_t int_prop(const resmon_open_request *req, const char *name, int64_t def) {
    resmon_value v;
    if (resmon_find_prop(req, name, &v)) {
        if (v.kind == RESMON_KIND_INT) return v.i;
        if (v.kind == RESMON_KIND_FLOAT) return (int64_t)v.f;
    }
    return def;
}

/* read_input reads the whole input into a fresh NUL-terminated buffer. */
static char *read_input(int32_t len) {
    if (len < 0) return NULL;
    char *buf = malloc((size_t)len + 1);
    if (!buf) return NULL;
    int32_t got = 0;
    while (got < len) {
        int32_t n = resmon_input_read(buf + got, (uint32_t)(len - got));
        if (n <= 0) break;
        got += n;
    }
    buf[got] = 0;
    return buf;
}

static void log_kv(int32_t level, const char *msg, const char *k, const char *v) {
    char kv[256];
    size_t kl = strlen(k), vl = strlen(v);
    if (kl + vl + 2 > sizeof kv) return;
    memcpy(kv, k, kl + 1);
    memcpy(kv + kl + 1, v, vl + 1);
    resmon_log(level, msg, (uint32_t)strlen(msg), kv, (uint32_t)(kl + vl + 2));
}

int32_t resmon_open(int32_t in_len) {
    char *in = read_input(in_len);
    if (!in) return resmon_fail(RESMON_ERROR_NOT_ENOUGH_MEMORY, "cguest: no memory for the open payload");
    resmon_open_request req;
    if (resmon_parse_open(in, (uint32_t)in_len, &req) != RESMON_OK) {
        free(in);
        return resmon_fail(RESMON_ERROR_INVALID_PARAMETER, "cguest: malformed open payload");
    }
    int32_t h = 1;
    while (h <= MAX_RESOURCES && resources[h].used) h++;
    if (h > MAX_RESOURCES) {
        free(in);
        return resmon_fail(RESMON_ERROR_NOT_ENOUGH_MEMORY, "cguest: too many resources");
    }
    struct resource *r = &resources[h];
    memset(r, 0, sizeof *r);
    r->used = 1;
    r->looks_alive = bool_prop(&req, "LooksAlive", 1);
    r->is_alive = bool_prop(&req, "IsAlive", 1);
    r->online_delay_ms = int_prop(&req, "OnlineDelayMs", 0);
    str_prop(&req, "CheckpointKey", r->checkpoint_key, sizeof r->checkpoint_key);
    str_prop(&req, "RegistryKey", r->registry_key, sizeof r->registry_key);
    str_prop(&req, "HangIn", r->hang_in, sizeof r->hang_in);
    str_prop(&req, "SpinIn", r->spin_in, sizeof r->spin_in);
    str_prop(&req, "PanicIn", r->panic_in, sizeof r->panic_in);
    str_prop(&req, "FailIn", r->fail_in, sizeof r->fail_in);
    char name[128];
    copy_str(name, sizeof name, req.name);
    log_kv(RESMON_LOG_INFO, "cguest opened", "resource", name);
    free(in);
    return h;
}

static struct resource *lookup(int32_t h) {
    if (h < 1 || h > MAX_RESOURCES || !resources[h].used) return NULL;
    return &resources[h];
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int32_t host_error(int32_t st, const char *what) {
    char msg[512];
    int n = snprintf(msg, sizeof msg, "cguest: %s: ", what);
    int32_t full = resmon_last_error(msg + n, (uint32_t)(sizeof msg - n - 1));
    if (full < 0) full = 0;
    msg[n + (full < (int32_t)(sizeof msg - n - 1) ? full : (int32_t)(sizeof msg - n - 1))] = 0;
    return resmon_fail(st, msg);
}

int32_t resmon_online(int32_t h) {
    struct resource *r = lookup(h);
    if (!r) return resmon_fail(RESMON_ERROR_INVALID_HANDLE, "cguest: bad handle");
    if (!strcmp(r->panic_in, "Online")) __builtin_trap();
    if (!strcmp(r->spin_in, "Online")) {
        volatile uint64_t n = 0;
        for (;;) n++;
    }
    if (!strcmp(r->fail_in, "Online")) return resmon_fail(RESMON_ERROR_GEN_FAILURE, "cguest: injected failure in Online");
    if (!strcmp(r->hang_in, "Online")) {
        for (;;) sleep_ms(50);
    }
    if (r->online_delay_ms > 0) {
        int64_t end = now_ms() + r->online_delay_ms;
        while (now_ms() < end) {
            int32_t st = resmon_progress("starting", 8);
            if (st < 0) return host_error(st, "progress");
            sleep_ms(20);
        }
    }
    if (r->checkpoint_key[0]) {
        const char *k = r->checkpoint_key;
        uint32_t n = 0;
        int32_t st = resmon_host_control(RESMON_ADD_REGISTRY_CHECKPOINT, k, (uint32_t)strlen(k), NULL, 0, &n);
        if (st < 0 && st != RESMON_ERROR_ALREADY_EXISTS) return host_error(st, "adding the checkpoint");
        st = resmon_host_control(RESMON_GET_REGISTRY_CHECKPOINTS, NULL, 0, NULL, 0, &n);
        if (st != RESMON_ERROR_MORE_DATA) return resmon_fail(RESMON_ERROR_GEN_FAILURE, "cguest: GET with no buffer did not say MORE_DATA");
        char *buf = malloc(n);
        if (!buf) return RESMON_ERROR_NOT_ENOUGH_MEMORY;
        st = resmon_host_control(RESMON_GET_REGISTRY_CHECKPOINTS, NULL, 0, buf, n, &n);
        int found = st == RESMON_OK && n > strlen(k) && memcmp(buf, k, strlen(k)) == 0;
        free(buf);
        if (st < 0) return host_error(st, "listing the checkpoints");
        if (!found) return resmon_fail(RESMON_ERROR_GEN_FAILURE, "cguest: the checkpoint is not listed");
    }
    if (r->registry_key[0]) {
        const char *k = r->registry_key;
        uint32_t one = 1, got = 0, type = 0, n = 0;
        int32_t st = resmon_reg_set_value(k, (uint32_t)strlen(k), "Online", 6, RESMON_REG_DWORD, &one, 4);
        if (st < 0) return host_error(st, "writing the registry");
        st = resmon_reg_get_value(k, (uint32_t)strlen(k), "Online", 6, &type, &got, 4, &n);
        if (st < 0) return host_error(st, "reading the registry");
        if (type != RESMON_REG_DWORD || n != 4 || got != 1) return resmon_fail(RESMON_ERROR_GEN_FAILURE, "cguest: registry read back wrong");
    }
    r->online = 1;
    resmon_log(RESMON_LOG_INFO, "online", 6, NULL, 0);
    return RESMON_OK;
}

int32_t resmon_offline(int32_t h) {
    struct resource *r = lookup(h);
    if (!r) return resmon_fail(RESMON_ERROR_INVALID_HANDLE, "cguest: bad handle");
    r->online = 0;
    return RESMON_OK;
}

int32_t resmon_terminate(int32_t h) {
    struct resource *r = lookup(h);
    if (!r) return resmon_fail(RESMON_ERROR_INVALID_HANDLE, "cguest: bad handle");
    r->online = 0;
    return RESMON_OK;
}

int32_t resmon_looks_alive(int32_t h) {
    struct resource *r = lookup(h);
    if (!r) return resmon_fail(RESMON_ERROR_INVALID_HANDLE, "cguest: bad handle");
    return r->looks_alive;
}

int32_t resmon_is_alive(int32_t h) {
    struct resource *r = lookup(h);
    if (!r) return resmon_fail(RESMON_ERROR_INVALID_HANDLE, "cguest: bad handle");
    return r->is_alive;
}

static int32_t output_str(const char *s) { return resmon_output_write(s, (uint32_t)strlen(s)); }

int32_t resmon_control(int32_t h, uint32_t code, int32_t in_len) {
    struct resource *r = lookup(h);
    if (!r) return resmon_fail(RESMON_ERROR_INVALID_HANDLE, "cguest: bad handle");
    char *in = read_input(in_len);
    if (!in) return resmon_fail(RESMON_ERROR_NOT_ENOUGH_MEMORY, "cguest: no memory for the input");
    char out[128];
    int32_t st = RESMON_OK;
    switch (code) {
    case 1:
        st = resmon_output_write(in, (uint32_t)in_len);
        break;
    case 2: {
        int64_t t = resmon_fencing_token();
        if (t < 0) { st = host_error((int32_t)t, "fencing token"); break; }
        snprintf(out, sizeof out, "%lld", (long long)t);
        st = output_str(out);
        break;
    }
    case 3: {
        size_t n = (size_t)strtoull(in, NULL, 10);
        free(kept);
        kept = malloc(n); /* kept in a global so the compiler cannot elide it */
        if (!kept) { st = resmon_fail(RESMON_ERROR_NOT_ENOUGH_MEMORY, "cguest: malloc failed"); break; }
        memset(kept, 1, n);
        st = output_str("ok");
        break;
    }
    case 4:
        resmon_set_needed(1000);
        st = resmon_fail(RESMON_ERROR_MORE_DATA, "cguest: need 1000 bytes");
        break;
    case 5:
        st = resmon_fail(RESMON_ERROR_ALREADY_EXISTS, "cguest: it already exists");
        break;
    case 0x10: {
        size_t cl = strlen(in);
        int32_t p = resmon_proc_start(in, (uint32_t)cl, in + cl + 1, (uint32_t)(in_len > (int32_t)cl ? in_len - (int32_t)cl - 1 : 0));
        if (p < 0) { st = host_error(p, "starting a process"); break; }
        snprintf(out, sizeof out, "%d", p);
        st = output_str(out);
        break;
    }
    case 0x11: {
        int32_t code = 0, s = resmon_proc_status(atoi(in), &code);
        if (s < 0) { st = host_error(s, "process status"); break; }
        if (s == 1) snprintf(out, sizeof out, "running");
        else snprintf(out, sizeof out, "exited %d", code);
        st = output_str(out);
        break;
    }
    case 0x12: {
        int32_t s = resmon_proc_stop(atoi(in));
        if (s < 0) st = host_error(s, "stopping a process");
        break;
    }
    case 0x13: {
        FILE *f = fopen(in, "r");
        if (!f) {
            snprintf(out, sizeof out, "cguest: open %s: %s", in, strerror(errno));
            st = resmon_fail(errno == EACCES || errno == EPERM ? RESMON_ERROR_ACCESS_DENIED : RESMON_ERROR_NOT_FOUND, out);
            break;
        }
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) resmon_output_write(buf, (uint32_t)n);
        fclose(f);
        break;
    }
    case 0x14: {
        size_t pl = strlen(in);
        if ((size_t)in_len <= pl) { st = resmon_fail(RESMON_ERROR_INVALID_PARAMETER, "cguest: want path NUL content"); break; }
        FILE *f = fopen(in, "w");
        if (!f) {
            snprintf(out, sizeof out, "cguest: create %s: %s", in, strerror(errno));
            st = resmon_fail(errno == EACCES || errno == EPERM ? RESMON_ERROR_ACCESS_DENIED : RESMON_ERROR_NOT_FOUND, out);
            break;
        }
        fwrite(in + pl + 1, 1, (size_t)in_len - pl - 1, f);
        fclose(f);
        break;
    }
    default:
        st = resmon_fail(RESMON_ERROR_INVALID_FUNCTION, "cguest: control code not handled");
    }
    free(in);
    return st;
}

int32_t resmon_close(int32_t h) {
    struct resource *r = lookup(h);
    if (!r) return resmon_fail(RESMON_ERROR_INVALID_HANDLE, "cguest: bad handle");
    r->used = 0;
    return RESMON_OK;
}
