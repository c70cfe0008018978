#ifndef AUTH_GATEWAY_CCURL_SHIM_H
#define AUTH_GATEWAY_CCURL_SHIM_H

// Typed wrappers for libcurl's variadic entry points (Swift cannot call C variadics),
// plus the few Linux calls the transport loop needs (epoll_event is a packed struct,
// which Swift imports awkwardly; these helpers keep it on the C side).

#include <curl/curl.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

static inline CURLcode cg_easy_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode cg_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode cg_easy_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode cg_easy_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode cg_easy_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }

typedef size_t (*cg_data_callback)(char *ptr, size_t size, size_t nmemb, void *userdata);
static inline CURLcode cg_easy_setopt_data_callback(CURL *h, CURLoption o, cg_data_callback v) { return curl_easy_setopt(h, o, v); }

static inline CURLcode cg_easy_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode cg_easy_getinfo_pointer(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode cg_easy_getinfo_double(CURL *h, CURLINFO i, double *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode cg_easy_getinfo_socket(CURL *h, CURLINFO i, curl_socket_t *v) { return curl_easy_getinfo(h, i, v); }

typedef int (*cg_socket_callback)(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp);
typedef int (*cg_timer_callback)(CURLM *multi, long timeout_ms, void *userp);
static inline CURLMcode cg_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }
static inline CURLMcode cg_multi_setopt_pointer(CURLM *m, CURLMoption o, void *v) { return curl_multi_setopt(m, o, v); }
static inline CURLMcode cg_multi_setopt_socket_callback(CURLM *m, cg_socket_callback v) { return curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, v); }
static inline CURLMcode cg_multi_setopt_timer_callback(CURLM *m, cg_timer_callback v) { return curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, v); }

/// The CURLMsg union, flattened: 1 when a message was read, with the easy handle and its result.
static inline int cg_multi_info_read_done(CURLM *m, CURL **easy, CURLcode *result) {
    int queued = 0;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m, &queued)) != NULL) {
        if (msg->msg == CURLMSG_DONE) {
            *easy = msg->easy_handle;
            *result = msg->data.result;
            return 1;
        }
    }
    return 0;
}

/// Names the calling OS thread (15 bytes at most), so `top -H`, perf and /proc show it: Foundation's
/// `Thread.name` does not reach the kernel on Linux.
static inline void cg_set_current_thread_name(const char *name) { (void)prctl(PR_SET_NAME, name, 0, 0, 0); }

static inline CURLcode cg_global_init(void) { return curl_global_init(CURL_GLOBAL_ALL); }

// epoll, flattened: registrations carry the fd itself as data.
static inline int cg_epoll_ctl(int epfd, int op, int fd, uint32_t events) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = 0;
    ev.data.fd = fd;
    return epoll_ctl(epfd, op, fd, &ev);
}

/// Waits and writes up to `max` (fd, events) pairs; returns the count, or -1 with errno.
static inline int cg_epoll_wait(int epfd, int *fds, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        fds[i] = evs[i].data.fd;
        events[i] = evs[i].events;
    }
    return n;
}

static inline int cg_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
static inline void cg_eventfd_signal(int fd) { uint64_t one = 1; ssize_t r = write(fd, &one, sizeof one); (void)r; }
static inline void cg_eventfd_drain(int fd) { uint64_t v; ssize_t r = read(fd, &v, sizeof v); (void)r; }

// ThreadSanitizer does not see Synchronization.Mutex hand a contended lock over: that path (FUTEX_LOCK_PI /
// FUTEX_UNLOCK_PI) runs in the Swift runtime, which is not instrumented, so state guarded by a Mutex that two
// threads contend for is reported as a data race. These tell TSan about the hand-off (`Mutex.withLockTSan`).
// Without -sanitize=thread the weak symbols are absent (null) and the calls are a not-taken branch.
void __tsan_acquire(void *addr) __attribute__((weak));
void __tsan_release(void *addr) __attribute__((weak));
static inline void cg_tsan_acquire(const void *addr) { if (__tsan_acquire) __tsan_acquire((void *)addr); }
static inline void cg_tsan_release(const void *addr) { if (__tsan_release) __tsan_release((void *)addr); }

#endif
