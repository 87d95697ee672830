/* loadgen: a closed-loop TCP echo load generator for bench/bm_net.py.
 *
 *   loadgen HOST PORT CONNECTIONS SECONDS [MESSAGE_BYTES] [WARMUP_SECONDS]
 *
 * Opens CONNECTIONS connections to HOST:PORT; each sends a MESSAGE_BYTES
 * message (default 64), waits until the whole message has come back, and
 * sends the next one at once (one message in flight per connection, like
 * wrk's one request per connection).  The first WARMUP_SECONDS (default 0)
 * are not counted.  Then it counts round trips for SECONDS and prints one
 * JSON line:
 *
 *   {"requests": N, "seconds": S, "rps": R, "p50_us": A, "p90_us": B,
 *    "p99_us": C, "max_us": D, "errors": E}
 *
 * A latency is the time from the send() of a message to the recv() that
 * completes its echo.  Single-threaded, epoll, non-blocking sockets:
 * it needs far less CPU than the servers it drives.  It only talks to the
 * address it is given (the benchmarks give it 127.0.0.1).  Exit status 0
 * when every connection worked, 1 on a usage, connect or protocol error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    size_t sent;     /* bytes of the current message sent */
    size_t received; /* bytes of its echo received */
    uint64_t start;  /* ns, when the message's first byte was sent */
    int want_out;    /* EPOLLOUT is being watched */
} conn_t;

static uint64_t *lat;
static size_t nlat, caplat;

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
record(uint64_t ns)
{
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 1 << 16;
        lat = realloc(lat, caplat * sizeof *lat);
        if (!lat) {
            perror("realloc");
            exit(1);
        }
    }
    lat[nlat++] = ns;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double
percentile(double p)
{
    size_t i;
    if (!nlat) {
        return 0.0;
    }
    i = (size_t)(p / 100.0 * (double)(nlat - 1) + 0.5);
    return (double)lat[i] / 1000.0;
}

static int ep;

/* Watch the connection for writability too while a message is half sent. */
static int
want_out(conn_t *c, int idx, int on)
{
    struct epoll_event ev;
    if (c->want_out == on) {
        return 0;
    }
    c->want_out = on;
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
    ev.data.u32 = (uint32_t)idx;
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Send what is left of the current message; -1 on a hard error. */
static int
pump_send(conn_t *c, int idx, const char *msg, size_t len)
{
    while (c->sent < len) {
        ssize_t n = send(c->fd, msg + c->sent, len - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return want_out(c, idx, 1);
            }
            return -1;
        }
        c->sent += (size_t)n;
    }
    return want_out(c, idx, 0);
}

int
main(int argc, char **argv)
{
    struct sockaddr_in addr;
    struct epoll_event ev, events[256];
    conn_t *conns;
    char *msg, buf[65536];
    int nconn, i, one = 1;
    double seconds, warmup = 0.0;
    size_t len = 64;
    uint64_t t0, counting_from, until, requests = 0, errors = 0;

    if (argc < 5) {
        fprintf(stderr, "usage: %s HOST PORT CONNECTIONS SECONDS [MESSAGE_BYTES] [WARMUP]\n",
                argv[0]);
        return 1;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        fprintf(stderr, "loadgen: not an IPv4 address: %s\n", argv[1]);
        return 1;
    }
    nconn = atoi(argv[3]);
    seconds = atof(argv[4]);
    if (argc > 5) {
        len = (size_t)atol(argv[5]);
    }
    if (argc > 6) {
        warmup = atof(argv[6]);
    }
    if (nconn < 1 || seconds <= 0 || len < 1 || len > sizeof buf) {
        fprintf(stderr, "loadgen: bad arguments\n");
        return 1;
    }
    msg = malloc(len);
    conns = calloc((size_t)nconn, sizeof *conns);
    if (!msg || !conns) {
        perror("malloc");
        return 1;
    }
    for (size_t k = 0; k < len; k++) {
        msg[k] = (char)('a' + k % 26);
    }
    ep = epoll_create1(0);
    if (ep < 0) {
        perror("epoll_create1");
        return 1;
    }
    /* Connect blocking (simple, and the server's accept loop is not what is measured). */
    for (i = 0; i < nconn; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
            perror("loadgen: connect");
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
            perror("fcntl");
            return 1;
        }
        conns[i].fd = fd;
        ev.events = EPOLLIN;
        ev.data.u32 = (uint32_t)i;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            perror("epoll_ctl");
            return 1;
        }
    }
    t0 = now_ns();
    counting_from = t0 + (uint64_t)(warmup * 1e9);
    until = counting_from + (uint64_t)(seconds * 1e9);
    for (i = 0; i < nconn; i++) {
        conns[i].start = now_ns();
        if (pump_send(&conns[i], i, msg, len) < 0) {
            perror("loadgen: send");
            return 1;
        }
    }
    for (;;) {
        uint64_t t = now_ns();
        int n, timeout_ms;
        if (t >= until) {
            break;
        }
        timeout_ms = (int)((until - t) / 1000000u) + 1;
        n = epoll_wait(ep, events, 256, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("epoll_wait");
            return 1;
        }
        for (int e = 0; e < n; e++) {
            conn_t *c = &conns[events[e].data.u32];
            for (;;) {
                ssize_t got = recv(c->fd, buf, sizeof buf, 0);
                if (got < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        break;
                    }
                    errors++;
                    fprintf(stderr, "loadgen: recv: %s\n", strerror(errno));
                    return 1;
                }
                if (got == 0) {
                    fprintf(stderr, "loadgen: the server closed a connection\n");
                    return 1;
                }
                c->received += (size_t)got;
                if (c->received > len) {
                    fprintf(stderr, "loadgen: more bytes back than sent\n");
                    return 1;
                }
                if (c->received == len) {
                    uint64_t done = now_ns();
                    if (c->start >= counting_from && done <= until) {
                        record(done - c->start);
                        requests++;
                    }
                    c->sent = c->received = 0;
                    c->start = done;
                    if (pump_send(c, (int)events[e].data.u32, msg, len) < 0) {
                        perror("loadgen: send");
                        return 1;
                    }
                    break; /* one message in flight: its echo cannot be here yet */
                }
                if ((size_t)got < sizeof buf) {
                    break; /* short read: the socket is drained */
                }
            }
            if (c->sent < len && pump_send(c, (int)events[e].data.u32, msg, len) < 0) {
                perror("loadgen: send");
                return 1;
            }
        }
    }
    qsort(lat, nlat, sizeof *lat, cmp_u64);
    printf("{\"requests\": %llu, \"seconds\": %.3f, \"rps\": %.1f, \"p50_us\": %.1f, "
           "\"p90_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f, \"errors\": %llu}\n",
           (unsigned long long)requests, seconds, (double)requests / seconds, percentile(50),
           percentile(90), percentile(99), nlat ? (double)lat[nlat - 1] / 1000.0 : 0.0,
           (unsigned long long)errors);
    for (i = 0; i < nconn; i++) {
        close(conns[i].fd);
    }
    return 0;
}
