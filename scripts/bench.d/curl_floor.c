/* scripts/bench: the libcurl floor (issue 18). The smallest proxy that still sends every request through
 * libcurl's multi interface the way the gateway does: one thread, one epoll set for the client connections and
 * curl's sockets, curl_multi_socket_action, easy handles pooled and set up with the gateway's options
 * (Sources/GatewayCore/Upstream/CurlEasy.swift, CurlLoop.swift), and the header lines the gateway sends upstream
 * for the bench's request, replayed from a file as the CURLOPT_HTTPHEADER list. No auth, no NIO: its CPU per
 * request is what libcurl (and a bare HTTP/1.1 server) costs.
 *
 * It answers with a fixed head (the upstream's status and a Content-Length) and the upstream's body, buffered.
 * Keep-alive HTTP/1.1, one request at a time per connection (pipelined requests wait their turn), request bodies
 * with Content-Length up to what fits in the connection's buffer; no chunked requests.
 *
 * Usage: curl_floor PORT UPSTREAM_BASE HEADER_LINES_FILE   (e.g. 18085 http://127.0.0.1:18080 floor-headers.txt)
 * Build: cc -O2 -o curl_floor curl_floor.c $(pkg-config --cflags --libs libcurl)
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 65536
#define IN_CAP 16384           /* a connection's request buffer: head and body */
#define HEAD_ROOM 128          /* room before the response body for the fixed head */
#define MAX_BODY (64 << 20)    /* a bigger response body aborts the transfer (502) */

enum kind { NONE, LISTENER, CLIENT, UPSTREAM };

struct conn {
    int fd;
    CURL *easy;                /* the transfer in flight, if any */
    size_t in_len, request_len;
    const char *body;          /* the request body, inside `in` */
    size_t body_len, body_off;
    char *out;                 /* HEAD_ROOM bytes, then the response body */
    size_t out_cap, out_len, write_off, write_end;
    int writing, close_after;
    uint32_t events;           /* what epoll watches for it */
    char url[IN_CAP + 256];
    char in[IN_CAP];
};

static int epfd;
static CURLM *multi;
static unsigned char kinds[MAX_FDS];
static uint32_t watched_events[MAX_FDS];
static unsigned char parked[MAX_FDS];   /* curl stopped watching it (a pooled connection); still in the epoll set */
static struct conn *conns[MAX_FDS];
static struct curl_slist *header_lines;
static const char *upstream_base;
static CURL **idle_handles;
static size_t idle_count, idle_cap;
static long timer_ms = -1;
static struct timespec timer_set;

static void die(const char *what) { perror(what); exit(1); }

static void ctl(int op, int fd, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(epfd, op, fd, &ev) != 0) {
        int other = op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (op != EPOLL_CTL_DEL) epoll_ctl(epfd, other, fd, &ev);
    }
}

/* ---- libcurl callbacks: as the gateway's, minus what the gateway does with the bytes */

static size_t on_header(char *data, size_t size, size_t count, void *userdata) {
    (void)data; (void)userdata;
    return size * count;
}

static size_t on_body(char *data, size_t size, size_t count, void *userdata) {
    struct conn *c = userdata;
    size_t n = size * count;
    size_t need = HEAD_ROOM + c->out_len + n;
    if (need > c->out_cap) {
        if (need > HEAD_ROOM + MAX_BODY) return 0;
        size_t cap = c->out_cap * 2 > need ? c->out_cap * 2 : need;
        char *grown = realloc(c->out, cap);
        if (!grown) return 0;
        c->out = grown;
        c->out_cap = cap;
    }
    memcpy(c->out + HEAD_ROOM + c->out_len, data, n);
    c->out_len += n;
    return n;
}

static size_t on_read(char *target, size_t size, size_t count, void *userdata) {
    struct conn *c = userdata;
    size_t n = c->body_len - c->body_off;
    if (n > size * count) n = size * count;
    memcpy(target, c->body + c->body_off, n);
    c->body_off += n;
    return n;
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
    (void)easy; (void)userp; (void)socketp;
    if (s < 0 || s >= MAX_FDS) return 0;
    if (what == CURL_POLL_REMOVE) {
        if (kinds[s] == UPSTREAM) parked[s] = 1;
        return 0;
    }
    uint32_t events = 0;
    if (what & CURL_POLL_IN) events |= EPOLLIN;
    if (what & CURL_POLL_OUT) events |= EPOLLOUT;
    int known = kinds[s] == UPSTREAM;
    if (known && !parked[s] && watched_events[s] == events) return 0;
    /* A parked fd may have been closed and its number reused: MOD, else ADD (ctl falls back). */
    ctl(known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, events);
    kinds[s] = UPSTREAM;
    watched_events[s] = events;
    parked[s] = 0;
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp) {
    (void)m; (void)userp;
    timer_ms = timeout_ms;
    clock_gettime(CLOCK_MONOTONIC, &timer_set);
    return 0;
}

static long ms_since(const struct timespec *t) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* ---- easy handles: pooled; the options every transfer shares are set once (CurlEasy.prepare) */

static CURL *take_handle(void) {
    if (idle_count) return idle_handles[--idle_count];
    CURL *e = curl_easy_init();
    if (!e) die("curl_easy_init");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 64L * 1024);
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 64L * 1024);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    return e;
}

/* CurlEasy.recycle: undo every per-request option. */
static void recycle(CURL *e) {
    curl_multi_remove_handle(multi, e);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 0L);
    curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)-1);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(e, CURLOPT_PRIVATE, NULL);
    if (idle_count == idle_cap) {
        idle_cap = idle_cap ? idle_cap * 2 : 64;
        idle_handles = realloc(idle_handles, idle_cap * sizeof *idle_handles);
        if (!idle_handles) die("realloc");
    }
    idle_handles[idle_count++] = e;
}

/* ---- client connections */

static void close_conn(struct conn *c) {
    if (c->easy) recycle(c->easy);
    kinds[c->fd] = NONE;
    conns[c->fd] = NULL;
    close(c->fd);
    free(c->out);
    free(c);
}

static int flush_out(struct conn *c) {
    while (c->write_off < c->write_end) {
        ssize_t n = send(c->fd, c->out + c->write_off, c->write_end - c->write_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 0;
        if (n <= 0) return -1;
        c->write_off += n;
    }
    c->writing = 0;
    return 1;
}

/* Queues the fixed head and what is in the body buffer, and writes as much as the socket takes. */
static int respond(struct conn *c, long status) {
    char head[HEAD_ROOM];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %03ld %s\r\nContent-Length: %zu\r\n%s\r\n", status,
                     status == 200 ? "OK" : "", c->out_len, c->close_after ? "Connection: close\r\n" : "");
    memcpy(c->out + HEAD_ROOM - n, head, n);
    c->write_off = HEAD_ROOM - n;
    c->write_end = HEAD_ROOM + c->out_len;
    c->writing = 1;
    return flush_out(c);
}

static int refuse(struct conn *c, long status) {
    c->out_len = 0;
    c->close_after = 1;
    respond(c, status);
    return -1;
}

static int header_is(const char *line, const char *end, const char *name) {
    size_t n = strlen(name);
    return (size_t)(end - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':';
}

/* Starts the request at the front of the buffer when its head (and body) is complete. 0: started or incomplete,
 * -1: close the connection. */
static int start_request(struct conn *c) {
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) return c->in_len == IN_CAP ? refuse(c, 431) : 0;
    char *sp1 = memchr(c->in, ' ', end - c->in);
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', end - sp1 - 1) : NULL;
    char *eol = memmem(c->in, end + 2 - c->in, "\r\n", 2);
    if (!sp1 || !sp2 || sp2 > eol || sp1[1] != '/') return refuse(c, 400);
    size_t body_len = 0;
    c->close_after = eol - sp2 - 1 == 8 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;
    for (char *line = eol + 2; line < end + 2;) {
        char *next = memmem(line, end + 4 - line, "\r\n", 2);
        if (header_is(line, next, "content-length")) body_len = strtoul(line + 15, NULL, 10);
        else if (header_is(line, next, "transfer-encoding")) return refuse(c, 501);
        else if (header_is(line, next, "connection") && memmem(line, next - line, "close", 5)) c->close_after = 1;
        line = next + 2;
    }
    size_t head_len = end + 4 - c->in;
    if (head_len + body_len > IN_CAP) return refuse(c, 413);
    if (c->in_len < head_len + body_len) return 0;
    c->request_len = head_len + body_len;

    size_t method_len = sp1 - c->in;
    size_t base_len = strlen(upstream_base);
    memcpy(c->url, upstream_base, base_len);
    memcpy(c->url + base_len, sp1 + 1, sp2 - sp1 - 1);
    c->url[base_len + (sp2 - sp1 - 1)] = 0;
    *sp1 = 0;  /* the method, NUL-terminated in place */

    /* CurlEasy.configure: the per-request options. */
    CURL *e = take_handle();
    c->easy = e;
    c->out_len = 0;
    c->body = c->in + head_len;
    c->body_len = body_len;
    c->body_off = 0;
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_READDATA, c);
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    int get = method_len == 3 && memcmp(c->in, "GET", 3) == 0;
    int head = method_len == 4 && memcmp(c->in, "HEAD", 4) == 0;
    if (get) curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    if (head) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    if (body_len) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_len);
    }
    if ((!get && !head) || body_len) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->in);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, header_lines);
    if (curl_multi_add_handle(multi, e) != CURLM_OK) {
        recycle(e);
        c->easy = NULL;
        return refuse(c, 502);
    }
    return 0;
}

/* One read of what the socket has (level-triggered: the next event brings the rest). -1: end of stream or error. */
static int read_in(struct conn *c) {
    ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
    if (n > 0) c->in_len += n;
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)) ? 0 : -1;
}

/* The response is out: drop its request from the buffer and start the next one, if it is there. -1: close. */
static int next_request(struct conn *c) {
    if (c->close_after) return -1;
    memmove(c->in, c->in + c->request_len, c->in_len - c->request_len);
    c->in_len -= c->request_len;
    c->request_len = 0;
    return start_request(c);
}

/* After an event: close the connection (r < 0), or watch what it waits for: input while the buffer has room
 * (a buffer full of pipelined requests waits), output while a response is only partly written. */
static void settle(struct conn *c, int r) {
    if (r < 0) { close_conn(c); return; }
    uint32_t events = (c->in_len < IN_CAP ? EPOLLIN : 0) | (c->writing ? EPOLLOUT : 0);
    if (events != c->events) {
        ctl(EPOLL_CTL_MOD, c->fd, events);
        c->events = events;
    }
}

static int client_ready(struct conn *c, uint32_t events) {
    if (events & EPOLLIN) {
        if (read_in(c) != 0) return -1;  /* EOF or error: the connection goes, with any transfer in flight */
    } else if (events & (EPOLLERR | EPOLLHUP)) {
        return -1;
    }
    if (c->writing) {
        if (!(events & EPOLLOUT)) return 0;
        int r = flush_out(c);
        return r <= 0 ? r : next_request(c);
    }
    return c->easy ? 0 : start_request(c);
}

static void finished(CURL *e, CURLcode result) {
    struct conn *c = NULL;
    long status = 502;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&c);
    if (result == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    else c->out_len = 0;
    recycle(e);
    c->easy = NULL;
    int r = respond(c, status);
    settle(c, r <= 0 ? r : next_request(c));  /* r == 0: the rest goes out on EPOLLOUT */
}

static void accept_all(int listener) {
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        if (fd >= MAX_FDS) { close(fd); continue; }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c) die("calloc");
        c->fd = fd;
        c->out_cap = HEAD_ROOM + 16384;
        c->out = malloc(c->out_cap);
        if (!c->out) die("malloc");
        kinds[fd] = CLIENT;
        parked[fd] = 0;
        conns[fd] = c;
        c->events = EPOLLIN;
        ctl(EPOLL_CTL_ADD, fd, EPOLLIN);
    }
}

static void read_header_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) die(path);
    char line[16384];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0]) header_lines = curl_slist_append(header_lines, line);
    }
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: curl_floor PORT UPSTREAM_BASE HEADER_LINES_FILE\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    upstream_base = argv[2];
    if (strlen(upstream_base) > 200) { fprintf(stderr, "UPSTREAM_BASE too long\n"); return 2; }
    read_header_lines(argv[3]);
    curl_global_init(CURL_GLOBAL_ALL);

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0) die("bind");
    if (listen(listener, 4096) != 0) die("listen");

    epfd = epoll_create1(EPOLL_CLOEXEC);
    kinds[listener] = LISTENER;
    ctl(EPOLL_CTL_ADD, listener, EPOLLIN);

    /* CurlLoop.run: the multi handle's options. */
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 256L);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 1024L);
    printf("listening on 127.0.0.1:%s, forwarding to %s\n", argv[1], upstream_base);
    fflush(stdout);

    struct epoll_event evs[256];
    int running = 0;
    for (;;) {
        int timeout = -1;
        if (timer_ms >= 0) {
            long left = timer_ms - ms_since(&timer_set);
            timeout = left < 0 ? 0 : (int)left;
        }
        int n = epoll_wait(epfd, evs, 256, timeout);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            uint32_t ev = evs[i].events;
            switch (kinds[fd]) {
            case LISTENER:
                accept_all(fd);
                break;
            case CLIENT:
                settle(conns[fd], client_ready(conns[fd], ev));
                break;
            case UPSTREAM:
                if (parked[fd]) {  /* a pooled connection the upstream closed: forget it */
                    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
                    kinds[fd] = NONE;
                    parked[fd] = 0;
                    break;
                }
                int mask = 0;
                if (ev & EPOLLIN) mask |= CURL_CSELECT_IN;
                if (ev & EPOLLOUT) mask |= CURL_CSELECT_OUT;
                if (ev & (EPOLLERR | EPOLLHUP)) mask |= CURL_CSELECT_ERR;
                curl_multi_socket_action(multi, fd, mask, &running);
                break;
            default:
                break;
            }
        }
        if (timer_ms >= 0 && ms_since(&timer_set) >= timer_ms) {
            timer_ms = -1;
            curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        CURLMsg *msg;
        int queued;
        while ((msg = curl_multi_info_read(multi, &queued)))
            if (msg->msg == CURLMSG_DONE) finished(msg->easy_handle, msg->data.result);
    }
}
