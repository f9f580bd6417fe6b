// What Glibc's Swift module does not export: epoll, eventfd and accept4.
#ifndef BOSUN_CSYSTEM_H
#define BOSUN_CSYSTEM_H


#include <sys/epoll.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>

static inline int csystem_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

static inline int csystem_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &ev);
}

/// Waits for events; writes up to `capacity` (events, token) pairs.
static inline int csystem_epoll_wait(int epfd, uint32_t *events, uint64_t *tokens, int capacity, int timeout_ms) {
    struct epoll_event buffer[64];
    if (capacity > 64) capacity = 64;
    int n = epoll_wait(epfd, buffer, capacity, timeout_ms);
    for (int i = 0; i < n; i++) {
        events[i] = buffer[i].events;
        tokens[i] = buffer[i].data.u64;
    }
    return n;
}

static inline int csystem_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

// Declared here rather than through _GNU_SOURCE, which would make our view of the system headers
// differ from Glibc's Swift module.
extern int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

static inline int csystem_accept4(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); }

/// Starts `file` (searched in PATH) in a session of its own, its signals at their defaults,
/// stdin from /dev/null, stdout and stderr appended to `log_path`, in `dir` when not NULL, with no
/// other descriptor inherited. Returns 0 and the pid, or the error number.
int csystem_spawn(const char *file, char *const argv[], char *const envp[], const char *dir, const char *log_path, int *pid_out);

static const uint32_t csystem_EPOLLIN = EPOLLIN;
static const uint32_t csystem_EPOLLOUT = EPOLLOUT;
static const uint32_t csystem_EPOLLERR = EPOLLERR;
static const uint32_t csystem_EPOLLHUP = EPOLLHUP;
static const uint32_t csystem_EPOLLRDHUP = EPOLLRDHUP;
static const int csystem_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
static const int csystem_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
static const int csystem_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

#endif
