/*
 * cshare: a "file share" resource type in C, written against resmon.h and
 * ABI.md alone. The resource owns a directory the type was granted (the
 * "dirs" capability). Online creates the directory if needed and writes a
 * marker file into it; Offline and Terminate remove the marker. LooksAlive
 * says whether the marker exists, IsAlive whether its content is intact.
 *
 * Private properties:
 *   Path       string  required  absolute path of the share's directory
 *   ShareName  string  optional  recorded in the marker (default: the
 *                                resource's name)
 *
 * It uses POSIX file calls only (no stdio), which keeps the module small.
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O2 \
 *         -Wl,--strip-all -I sdk/wasm -o cshare.wasm examples/cshare/src/cshare.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* rename() only: no streams are used */
#include <sys/stat.h>
#include <unistd.h>

#include "resmon.h"

#define MARKER ".resmon-share"
#define MAX_PATH 1024
#define MAX_TEXT 2048

/* One resource per instance (ABI.md section 3): the state is static. */
static struct {
    int open;
    char dir[MAX_PATH];
    char marker[MAX_PATH + sizeof "/" MARKER ".tmp"];
    char content[MAX_TEXT]; /* what the marker must hold */
    size_t content_len;
    char name[256]; /* the resource's name, for messages */
} share;

/* ---- Messages without stdio. -------------------------------------------- */

typedef struct {
    char buf[MAX_TEXT];
    size_t n;
} text;

static void put(text *t, const char *s, size_t n) {
    if (n > sizeof t->buf - 1 - t->n) n = sizeof t->buf - 1 - t->n;
    memcpy(t->buf + t->n, s, n);
    t->n += n;
    t->buf[t->n] = 0;
}

static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

/* Fails with status and "cshare: resource "<name>": <what>[: <errno text>]". */
static int32_t fail(int32_t status, const char *what, int err) {
    text t = {.n = 0};
    puts_(&t, "cshare: resource \"");
    puts_(&t, share.name);
    puts_(&t, "\": ");
    puts_(&t, what);
    if (err) {
        puts_(&t, ": ");
        puts_(&t, strerror(err));
    }
    resmon_set_error_message(t.buf, (uint32_t)t.n);
    return status;
}

static int32_t bad_property(const char *prop, const char *problem) {
    text t = {.n = 0};
    puts_(&t, "property ");
    puts_(&t, prop);
    puts_(&t, ": ");
    puts_(&t, problem);
    return fail(RESMON_ERROR_INVALID_PARAMETER, t.buf, 0);
}

/* A file error: EACCES means the directory is outside the granted ones. */
static int32_t file_error(const char *what, const char *path, int err) {
    text t = {.n = 0};
    puts_(&t, what);
    puts_(&t, " ");
    puts_(&t, path);
    if (err == EACCES || err == EPERM) {
        puts_(&t, " (is the directory among the type's granted dirs?)");
        return fail(RESMON_ERROR_ACCESS_DENIED, t.buf, err);
    }
    return fail(RESMON_ERROR_GEN_FAILURE, t.buf, err);
}

static void copy_str(char *dst, size_t cap, resmon_str s) {
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    memcpy(dst, s.p, n);
    dst[n] = 0;
}

/* ---- Exports. ------------------------------------------------------------ */

int32_t resmon_abi_version(void) { return RESMON_ABI_VERSION; }

int32_t resmon_open(int32_t in_len) {
    static uint8_t payload[64 << 10];
    if (in_len < 0 || (size_t)in_len > sizeof payload)
        return fail(RESMON_ERROR_INVALID_PARAMETER, "open payload too large", 0);
    int32_t got = 0;
    while (got < in_len) {
        int32_t n = resmon_input_read(payload + got, (uint32_t)(in_len - got));
        if (n <= 0) break;
        got += n;
    }
    resmon_open_request req;
    if (resmon_parse_open(payload, (uint32_t)got, &req) != RESMON_OK)
        return fail(RESMON_ERROR_INVALID_PARAMETER, "malformed open payload", 0);
    memset(&share, 0, sizeof share);
    copy_str(share.name, sizeof share.name, req.name);

    resmon_str path = {0, 0}, share_name = req.name;
    int have_path = 0;
    resmon_reader r = req.props;
    for (uint32_t k = 0; k < req.nprops; k++) {
        resmon_str key = resmon_read_str(&r);
        resmon_value v = resmon_read_value(&r, 0);
        if (r.err) return fail(RESMON_ERROR_INVALID_PARAMETER, "malformed open payload", 0);
        char prop[64];
        copy_str(prop, sizeof prop, key);
        if (v.kind == RESMON_KIND_NULL) continue;
        if (resmon_str_eq(key, "Path")) {
            if (v.kind != RESMON_KIND_STRING) return bad_property("Path", "want a string");
            path = v.str;
            have_path = 1;
        } else if (resmon_str_eq(key, "ShareName")) {
            if (v.kind != RESMON_KIND_STRING) return bad_property("ShareName", "want a string");
            share_name = v.str;
        } else {
            return bad_property(prop, "unknown property (known: Path, ShareName)");
        }
    }
    if (!have_path || path.n == 0)
        return bad_property("Path", "required: the absolute path of the share's directory");
    if (path.p[0] != '/') return bad_property("Path", "not an absolute path");
    if (path.n >= MAX_PATH) return bad_property("Path", "too long");
    if (memchr(path.p, 0, path.n)) return bad_property("Path", "contains a NUL byte");
    if (share_name.n > 255 || memchr(share_name.p, '\n', share_name.n))
        return bad_property("ShareName", "longer than 255 bytes or more than one line");

    copy_str(share.dir, sizeof share.dir, path);
    while (strlen(share.dir) > 1 && share.dir[strlen(share.dir) - 1] == '/')
        share.dir[strlen(share.dir) - 1] = 0;
    text m = {.n = 0};
    puts_(&m, share.dir);
    puts_(&m, "/" MARKER);
    memcpy(share.marker, m.buf, m.n + 1);

    /* The marker names the share and the resource that owns it, so a
     * marker left by another resource does not pass for ours. */
    text c = {.n = 0};
    puts_(&c, "resmon-share 1\nshare=");
    put(&c, share_name.p, share_name.n);
    puts_(&c, "\nresource=");
    put(&c, req.id.p, req.id.n);
    puts_(&c, "\n");
    memcpy(share.content, c.buf, c.n);
    share.content_len = c.n;
    share.open = 1;
    return 1;
}

static int32_t check(int32_t h) {
    if (h != 1 || !share.open) return resmon_fail(RESMON_ERROR_INVALID_HANDLE, "cshare: no such resource handle");
    return RESMON_OK;
}

/* write_all writes the whole buffer, across short writes. */
static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int32_t resmon_online(int32_t h) {
    int32_t st = check(h);
    if (st) return st;
    resmon_progress("preparing the share directory", 29);
    if (mkdir(share.dir, 0755) != 0 && errno != EEXIST) return file_error("creating", share.dir, errno);

    /* Write a temporary file and rename it: the marker is never seen
     * half-written, so IsAlive cannot fail on a torn write. */
    char tmp[sizeof share.marker];
    text t = {.n = 0};
    puts_(&t, share.marker);
    puts_(&t, ".tmp");
    memcpy(tmp, t.buf, t.n + 1);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return file_error("creating", tmp, errno);
    if (write_all(fd, share.content, share.content_len) != 0 || fsync(fd) != 0) {
        int err = errno;
        close(fd);
        unlink(tmp);
        return file_error("writing", tmp, err);
    }
    close(fd);
    if (rename(tmp, share.marker) != 0) {
        int err = errno;
        unlink(tmp);
        return file_error("renaming to", share.marker, err);
    }
    const char kv[] = "path\0";
    text l = {.n = 0};
    put(&l, kv, sizeof kv - 1);
    puts_(&l, share.dir);
    resmon_log(RESMON_LOG_INFO, "share online", 12, l.buf, (uint32_t)l.n + 1);
    return RESMON_OK;
}

/* remove_marker takes the share down; a missing marker is already down. */
static int32_t remove_marker(void) {
    if (unlink(share.marker) != 0 && errno != ENOENT) return file_error("removing", share.marker, errno);
    return RESMON_OK;
}

int32_t resmon_offline(int32_t h) {
    int32_t st = check(h);
    return st ? st : remove_marker();
}

/* Terminate may run in a fresh instance: open has run again there with the
 * same properties, which is all remove_marker needs. */
int32_t resmon_terminate(int32_t h) {
    int32_t st = check(h);
    return st ? st : remove_marker();
}

int32_t resmon_looks_alive(int32_t h) {
    int32_t st = check(h);
    if (st) return st;
    struct stat sb;
    return stat(share.marker, &sb) == 0 && S_ISREG(sb.st_mode);
}

int32_t resmon_is_alive(int32_t h) {
    int32_t st = check(h);
    if (st) return st;
    static char got[MAX_TEXT + 1];
    int fd = open(share.marker, O_RDONLY);
    if (fd < 0) return 0;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, got + n, sizeof got - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
        if (n == sizeof got) break; /* longer than ours can be: not intact */
    }
    close(fd);
    return n == share.content_len && memcmp(got, share.content, n) == 0;
}

int32_t resmon_close(int32_t h) {
    int32_t st = check(h);
    share.open = 0;
    return st;
}
