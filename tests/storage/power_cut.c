/* A power cut for SQLite's write-ahead log, loaded with LD_PRELOAD by
 * tests/storage/test_power_cut.py.
 *
 * Every pwrite64 or ftruncate of a file whose name ends in "-wal" first appends to the
 * undo file named by $POWER_CUT_UNDO what the write is about to replace: the offset, the
 * file's size and the bytes that were there. An fsync or fdatasync of the log empties
 * the undo file: what was synced survives a power cut. After the process is killed, the
 * test plays the undo file backwards, which leaves the log as the disk held it at the
 * last sync: what a machine that lost power would find on restart.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

static int is_log(int fd) {
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    return n > 4 && memcmp(path + n - 4, "-wal", 4) == 0;
}

static int undo_file(int flags) {
    const char *name = getenv("POWER_CUT_UNDO");
    return name == NULL ? -1 : open(name, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600);
}

/* Record that [offset, offset + length) is about to change. */
static void remember(int fd, off_t offset, size_t length) {
    struct stat st;
    if (fstat(fd, &st) != 0) abort();
    int64_t kept = st.st_size > offset ? st.st_size - offset : 0;
    if ((uint64_t)kept > length) kept = (int64_t)length;
    char *old = malloc(kept > 0 ? (size_t)kept : 1);
    if (old == NULL || pread(fd, old, (size_t)kept, offset) != kept) abort();
    int64_t head[3] = {(int64_t)offset, (int64_t)st.st_size, kept};
    int undo = undo_file(O_APPEND);
    if (undo < 0 || write(undo, head, sizeof head) != sizeof head ||
        write(undo, old, (size_t)kept) != kept)
        abort();
    close(undo);
    free(old);
}

static void synced(int fd) {
    if (!is_log(fd)) return;
    int undo = undo_file(O_TRUNC);
    if (undo >= 0) close(undo);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
    if (real_pwrite64 == NULL) real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    if (is_log(fd)) remember(fd, offset, count);
    return real_pwrite64(fd, buf, count, offset);
}

int ftruncate(int fd, off_t length) {
    if (real_ftruncate == NULL) real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    if (is_log(fd)) {
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size > length)
            remember(fd, length, (size_t)(st.st_size - length));
    }
    return real_ftruncate(fd, length);
}

int fsync(int fd) {
    if (real_fsync == NULL) real_fsync = dlsym(RTLD_NEXT, "fsync");
    int done = real_fsync(fd);
    if (done == 0) synced(fd);
    return done;
}

int fdatasync(int fd) {
    if (real_fdatasync == NULL) real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    int done = real_fdatasync(fd);
    if (done == 0) synced(fd);
    return done;
}
