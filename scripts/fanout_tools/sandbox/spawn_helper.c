/* The sandbox's process starter for array children: a small program the child engine keeps running
 * beside the server. It starts the processes it is asked for, captures each one's output, reaps it and
 * reports its end, so the server (one Python interpreter, one GIL) spends no system call and no
 * bytecode per child on starting, watching or reaping a process.
 *
 * Each child gets what subprocess.Popen(start_new_session=True, stdin=DEVNULL, stdout=fd, stderr=fd,
 * cwd=..., env=...) gives it: its own session, stdin /dev/null, stdout and stderr to one descriptor
 * (a memfd of its own), its working directory, exactly its environment, no blocked signals and SIGPIPE
 * and SIGXFSZ at their default action. It is started with vfork: no copy of this process's memory,
 * and none of the work glibc's posix_spawn does for a caller it cannot trust (a stack of its own
 * mapped per child, every signal's disposition read and reset: a quarter of this program's share of
 * a child's CPU). This program installs no signal handler and leaves every disposition at its
 * default, so there is nothing to reset; the child only unblocks SIGCHLD, which this program reads
 * through a signalfd.
 *
 * Protocol (native byte order; the engine that starts this program is on the same machine). Every
 * message is a u32 length (of what follows it), a type byte and a body.
 *   engine -> helper
 *     'T' u32 template id, strings: path, cwd, argc, argv..., envc, env..., nvary, "NAME=" prefixes...
 *     'S' u64 token, u32 template id, strings: the nvary values, then any extra argv entries
 *     'K' u64 token: SIGKILL the child's process group (if it still runs)
 *     'D' u32 template id: forget a template
 *   helper -> engine
 *     'R' u64 token, i32 pid, i64 start (ms since the epoch): started
 *     'F' u64 token, i32 errno: could not be started (the program is missing, not executable, ...)
 *     'E' u64 token, i32 wait status, i64 end (ms), then the bytes the child printed
 * "strings" are NUL-terminated, counts among them written as decimal strings.
 * On end of input every child still running is killed (its whole group) and reaped, then it exits. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int used;
    char *path, *cwd;
    int argc, envc, nvary;
    char **argv, **env, **vary; /* vary: "NAME=" prefixes */
    char *storage;
} Template;

typedef struct {
    pid_t pid;
    uint64_t token;
    int fd;
} Child;

static Template *templates;
static size_t ntemplates;
static Child *children;
static size_t nchildren, capchildren;
static char *out;
static size_t outlen, outcap;
static sigset_t no_signals;
static int devnull = -1;

static void die(const char *what) {
    fprintf(stderr, "fanout spawn helper: %s: %s\n", what, strerror(errno));
    exit(70);
}

static void *grow(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q) die("realloc");
    return q;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void emit(char type, const void *body, size_t n, const void *tail, size_t m) {
    uint32_t len = (uint32_t)(1 + n + m);
    if (outlen + 4 + len > outcap) {
        outcap = (outlen + 4 + len) * 2;
        out = grow(out, outcap);
    }
    memcpy(out + outlen, &len, 4);
    out[outlen + 4] = type;
    memcpy(out + outlen + 5, body, n);
    if (m) memcpy(out + outlen + 5 + n, tail, m);
    outlen += 4 + len;
}

static void flush_out(void) {
    size_t done = 0;
    while (done < outlen) {
        ssize_t w = write(1, out + done, outlen - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("write");
        }
        done += (size_t)w;
    }
    outlen = 0;
}

/* the next NUL-terminated string of [*p, end), or NULL */
static char *next_string(char **p, char *end) {
    char *s = *p;
    char *nul = memchr(s, 0, (size_t)(end - s));
    if (!nul) return NULL;
    *p = nul + 1;
    return s;
}

static int next_count(char **p, char *end) {
    char *s = next_string(p, end);
    return s ? atoi(s) : -1;
}

static void forget_template(uint32_t id) {
    if (id >= ntemplates || !templates[id].used) return;
    Template *t = &templates[id];
    free(t->argv);
    free(t->env);
    free(t->vary);
    free(t->storage);
    memset(t, 0, sizeof *t);
}

static void define_template(uint32_t id, const char *body, size_t n) {
    if (id >= ntemplates) {
        size_t more = id + 16;
        templates = grow(templates, more * sizeof *templates);
        memset(templates + ntemplates, 0, (more - ntemplates) * sizeof *templates);
        ntemplates = more;
    }
    forget_template(id);
    Template *t = &templates[id];
    t->storage = grow(NULL, n + 1);
    memcpy(t->storage, body, n);
    t->storage[n] = 0;
    char *p = t->storage, *end = t->storage + n;
    t->path = next_string(&p, end);
    t->cwd = next_string(&p, end);
    t->argc = next_count(&p, end);
    if (!t->path || !t->cwd || t->argc < 1) goto bad;
    t->argv = grow(NULL, (size_t)t->argc * sizeof(char *));
    for (int i = 0; i < t->argc; i++)
        if (!(t->argv[i] = next_string(&p, end))) goto bad;
    t->envc = next_count(&p, end);
    if (t->envc < 0) goto bad;
    t->env = grow(NULL, ((size_t)t->envc + 1) * sizeof(char *));
    for (int i = 0; i < t->envc; i++)
        if (!(t->env[i] = next_string(&p, end))) goto bad;
    t->nvary = next_count(&p, end);
    if (t->nvary < 0) goto bad;
    t->vary = grow(NULL, ((size_t)t->nvary + 1) * sizeof(char *));
    for (int i = 0; i < t->nvary; i++)
        if (!(t->vary[i] = next_string(&p, end))) goto bad;
    t->used = 1;
    return;
bad:
    fprintf(stderr, "fanout spawn helper: malformed template %u\n", id);
    exit(65);
}

/* Start one child with vfork; 0 and ``*error`` set when it could not be started (then it is reaped).
 * Not inlined: only its arguments are live across vfork, and the child writes only ``*error``. */
static __attribute__((noinline)) pid_t spawn(const Template *t, char **argv, char **env, int fd, int *error) {
    volatile int *failed = error; /* shared with the child until it execs or exits */
    *failed = 0;
    pid_t pid = vfork();
    if (pid == 0) {
        /* the child, in this program's memory until execve: only system calls, then _exit */
        if (setsid() < 0 || dup2(devnull, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
            chdir(t->cwd) < 0 || sigprocmask(SIG_SETMASK, &no_signals, NULL) < 0) {
            *failed = errno;
            _exit(127);
        }
        execve(t->path, argv, env);
        *failed = errno;
        _exit(127);
    }
    if (pid < 0) {
        *failed = errno;
        return 0;
    }
    if (*failed) { /* it could not exec and has exited */
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        return 0;
    }
    return pid;
}

static void start(const char *body, size_t n) {
    uint64_t token;
    uint32_t id;
    if (n < 12) exit(65);
    memcpy(&token, body, 8);
    memcpy(&id, body + 8, 4);
    if (id >= ntemplates || !templates[id].used) {
        fprintf(stderr, "fanout spawn helper: unknown template %u\n", id);
        exit(65);
    }
    Template *t = &templates[id];
    char *copy = grow(NULL, n - 12 + 1); /* the values and extra arguments, NUL-terminated strings */
    memcpy(copy, body + 12, n - 12);
    copy[n - 12] = 0;
    char *p = copy, *end = copy + (n - 12);
    size_t envn = (size_t)t->envc + (size_t)t->nvary;
    char **env = grow(NULL, (envn + 1) * sizeof(char *));
    char **owned = grow(NULL, ((size_t)t->nvary + 1) * sizeof(char *));
    memcpy(env, t->env, (size_t)t->envc * sizeof(char *));
    for (int i = 0; i < t->nvary; i++) {
        char *value = next_string(&p, end);
        if (!value) exit(65);
        size_t a = strlen(t->vary[i]), b = strlen(value);
        owned[i] = grow(NULL, a + b + 1);
        memcpy(owned[i], t->vary[i], a);
        memcpy(owned[i] + a, value, b + 1);
        env[t->envc + i] = owned[i];
    }
    env[envn] = NULL;
    size_t extra = 0;
    for (char *q = p; q < end; q += strlen(q) + 1) extra++;
    char **argv = grow(NULL, ((size_t)t->argc + extra + 1) * sizeof(char *));
    memcpy(argv, t->argv, (size_t)t->argc * sizeof(char *));
    for (size_t i = 0; i < extra; i++) argv[t->argc + i] = next_string(&p, end);
    argv[t->argc + extra] = NULL;

    int fd = memfd_create("child", MFD_CLOEXEC);
    int error = fd < 0 ? errno : 0;
    pid_t pid = error ? 0 : spawn(t, argv, env, fd, &error);
    for (int i = 0; i < t->nvary; i++) free(owned[i]);
    free(owned);
    free(env);
    free(argv);
    free(copy);
    if (error) {
        if (fd >= 0) close(fd);
        char reply[12];
        int32_t e = error;
        memcpy(reply, &token, 8);
        memcpy(reply + 8, &e, 4);
        emit('F', reply, sizeof reply, NULL, 0);
        return;
    }
    if (nchildren == capchildren) {
        capchildren = capchildren ? capchildren * 2 : 64;
        children = grow(children, capchildren * sizeof *children);
    }
    children[nchildren++] = (Child){pid, token, fd};
    char reply[20];
    int32_t p32 = pid;
    int64_t started = now_ms();
    memcpy(reply, &token, 8);
    memcpy(reply + 8, &p32, 4);
    memcpy(reply + 12, &started, 8);
    emit('R', reply, sizeof reply, NULL, 0);
}

static void kill_child(uint64_t token) {
    for (size_t i = 0; i < nchildren; i++)
        if (children[i].token == token) killpg(children[i].pid, SIGKILL);
}

/* report every child that has ended */
static void reap(void) {
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) return;
        int64_t ended = now_ms();
        for (size_t i = 0; i < nchildren; i++) {
            if (children[i].pid != pid) continue;
            Child c = children[i];
            children[i] = children[--nchildren];
            struct stat st;
            char *printed = NULL;
            size_t size = 0;
            if (fstat(c.fd, &st) == 0 && st.st_size > 0) {
                size = (size_t)st.st_size;
                printed = grow(NULL, size);
                ssize_t got = pread(c.fd, printed, size, 0);
                size = got < 0 ? 0 : (size_t)got;
            }
            close(c.fd);
            char head[20];
            int32_t s32 = status;
            memcpy(head, &c.token, 8);
            memcpy(head + 8, &s32, 4);
            memcpy(head + 12, &ended, 8);
            emit('E', head, sizeof head, printed, size);
            free(printed);
            break;
        }
    }
}

static void shut_down(void) {
    for (size_t i = 0; i < nchildren; i++) killpg(children[i].pid, SIGKILL);
    while (nchildren) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) break;
        for (size_t i = 0; i < nchildren; i++)
            if (children[i].pid == pid) {
                close(children[i].fd);
                children[i] = children[--nchildren];
                break;
            }
    }
    exit(0);
}

int main(void) {
    sigset_t chld;
    sigemptyset(&chld);
    sigemptyset(&no_signals);
    sigaddset(&chld, SIGCHLD);
    /* every disposition at its default (whatever started this program), so children inherit no
     * ignored signal; SIGPIPE included: a write to a closed pipe ends this program, as it should */
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    if (sigprocmask(SIG_BLOCK, &chld, NULL) != 0) die("sigprocmask");
    int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) die("signalfd");
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) die("/dev/null");
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = 0};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) != 0) die("epoll");
    ev.data.fd = sfd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) != 0) die("epoll");

    size_t cap = 1 << 20, have = 0;
    char *in = grow(NULL, cap);
    int input_open = 1;
    while (input_open || nchildren) {
        if (!input_open) shut_down();
        struct epoll_event events[2];
        int n = epoll_wait(ep, events, 2, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int e = 0; e < n; e++) {
            if (events[e].data.fd == sfd) {
                struct signalfd_siginfo info;
                while (read(sfd, &info, sizeof info) > 0) {
                }
                reap();
                continue;
            }
            for (;;) {
                if (have == cap) in = grow(in, cap *= 2);
                ssize_t got = read(0, in + have, cap - have);
                if (got == 0) {
                    input_open = 0;
                    break;
                }
                if (got < 0) {
                    if (errno == EINTR) continue;
                    if (errno == EAGAIN) break;
                    die("read");
                }
                have += (size_t)got;
            }
            size_t at = 0;
            while (have - at >= 5) {
                uint32_t len;
                memcpy(&len, in + at, 4);
                if (len < 1) exit(65);
                if (have - at < 4 + (size_t)len) break;
                char type = in[at + 4];
                const char *body = in + at + 5;
                size_t blen = len - 1;
                if (type == 'T' && blen >= 4) {
                    uint32_t id;
                    memcpy(&id, body, 4);
                    define_template(id, body + 4, blen - 4);
                } else if (type == 'S') {
                    start(body, blen);
                } else if (type == 'K' && blen == 8) {
                    uint64_t token;
                    memcpy(&token, body, 8);
                    kill_child(token);
                } else if (type == 'D' && blen == 4) {
                    uint32_t id;
                    memcpy(&id, body, 4);
                    forget_template(id);
                } else {
                    fprintf(stderr, "fanout spawn helper: unknown message %c\n", type);
                    exit(65);
                }
                at += 4 + (size_t)len;
            }
            memmove(in, in + at, have - at);
            have -= at;
        }
        reap(); /* a child may have ended while starting others */
        flush_out();
    }
    return 0;
}
