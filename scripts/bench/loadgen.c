// loadgen: a UDP load generator for STUN Binding requests, and the trivial
// echo server that measures the generator's own ceiling. Linux only; built
// and run by scripts/bench/loadgen.ts (gcc -O2 -Wall -Wextra).
//
//   loadgen stun --host 127.0.0.1 --port P [--seconds 5] [--warmup 1]
//                [--sockets 64] [--inflight 8] [--timeout-ms 200]
//                [--fingerprint] [--echo] [--cpu-pid PID] [--peer-core N] [--spin]
//   loadgen echo-server [--host 127.0.0.1] [--port 0] [--spin]
//
// stun: closed loop. Each of --sockets connected sockets keeps --inflight
// Binding requests outstanding; a reply whose transaction id matches an
// outstanding request on that socket sends the next one. A request without a
// reply after --timeout-ms is counted lost and re-issued with a new id. Prints
// one JSON line with the counts over the measured window (after --warmup):
//   {"sent","received","lost","bad","unmatched","bad_attrs","send_errors",
//    "refused","seconds","rps","gen_cpu","peer_cpu","gen_core_other","peer_core_other"}
// bad: not a STUN success response (or malformed); unmatched: a well-formed
// response to no outstanding request (late after a timeout, duplicated);
// bad_attrs: matched, but XOR-MAPPED-ADDRESS missing or not our address, or a
// FINGERPRINT that does not check. gen_cpu and peer_cpu are CPU seconds used
// in the window by this process and by --cpu-pid (from /proc/PID/stat);
// gen_core_other and peer_core_other are CPU seconds that everything else used
// on this process's core and on --peer-core (from /proc/stat): other load on
// the machine that disturbed the measurement. -1 where unknown.
// --echo accepts the request itself as the reply (for echo-server).
//
// echo-server: prints {"port":N}, then sends every datagram back unchanged.
//
// --spin busy-polls instead of sleeping in epoll_wait/recvmmsg. On a VM,
// waking a sleeping vCPU costs tens of µs, so a closed loop whose two ends
// both sleep can settle anywhere between 1/3 and all of its rate; an echo
// server that never sleeps leaves the generator as the only limit.
//
// STUN message (RFC 8489), all big-endian:
//   0: type u16 (0x0001 Binding request, 0x0101 success response)
//   2: length u16 (bytes of attributes after the header)
//   4: magic cookie u32 0x2112A442
//   8: transaction id, 12 bytes
//  20: attributes: type u16, length u16, value padded to 4 bytes
// The request is a bare 20-byte header by default (what typical clients send);
// --fingerprint adds SOFTWARE and FINGERPRINT.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x2112A442u
#define FINGERPRINT_XOR 0x5354554eu
#define ATTR_XOR_MAPPED 0x0020
#define ATTR_SOFTWARE 0x8022
#define ATTR_FINGERPRINT 0x8028
#define SOFTWARE "hole-punch loadgen"
#define BATCH 64      /* datagrams per recvmmsg/sendmmsg */
#define MAX_DGRAM 2048
#define MAX_REQ 64
#define MS 1000000ull /* ns */

struct slot { uint8_t tid[12]; uint64_t sent_ns; };
struct sock { int fd; uint32_t ip; uint16_t port; struct slot *slots; };
struct counts { uint64_t sent, received, lost, bad, unmatched, bad_attrs, send_errors, refused; };

static struct counts c;
static int inflight = 8, fingerprint = 0, echo = 0, spin = 0, cpu_pid = 0, peer_core = -1;
static uint64_t rng;
static uint32_t crc_table[256];
static uint8_t rbuf[BATCH][MAX_DGRAM], sbuf[BATCH][MAX_REQ];
static struct iovec riov[BATCH], siov[BATCH];
static struct mmsghdr rmsg[BATCH], smsg[BATCH];

static void die(const char *what) { perror(what); exit(1); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* xorshift64*: fast, and random enough for transaction ids in a benchmark. */
static uint64_t rand64(void) {
  rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
  return rng * 0x2545F4914F6CDD1Dull;
}

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t r = i;
    for (int k = 0; k < 8; k++) r = r & 1 ? 0xEDB88320u ^ (r >> 1) : r >> 1;
    crc_table[i] = r;
  }
}

static uint32_t crc32(const uint8_t *p, size_t n) {
  uint32_t r = 0xffffffffu;
  while (n--) r = crc_table[(r ^ *p++) & 0xff] ^ (r >> 8);
  return r ^ 0xffffffffu;
}

/* Writes a Binding request with a fresh transaction id into p (and slot). */
static size_t build_request(uint8_t *p, struct slot *s) {
  uint64_t a = rand64(), b = rand64();
  memcpy(s->tid, &a, 8);
  memcpy(s->tid + 8, &b, 4);
  put16(p, 0x0001);
  put16(p + 2, 0);
  put32(p + 4, MAGIC);
  memcpy(p + 8, s->tid, 12);
  if (echo || !fingerprint) return 20;
  size_t n = 20, sw = strlen(SOFTWARE);
  put16(p + n, ATTR_SOFTWARE);
  put16(p + n + 2, (uint16_t)sw);
  memset(p + n + 4, 0, (sw + 3) & ~3u);
  memcpy(p + n + 4, SOFTWARE, sw);
  n += 4 + ((sw + 3) & ~3u);
  put16(p + 2, (uint16_t)(n - 20 + 8)); /* the length covers FINGERPRINT too */
  put16(p + n, ATTR_FINGERPRINT);
  put16(p + n + 2, 4);
  put32(p + n + 4, crc32(p, n) ^ FINGERPRINT_XOR);
  return n + 8;
}

/* 0 if the attributes hold our XOR-MAPPED-ADDRESS and any FINGERPRINT checks. */
static int check_attrs(const uint8_t *p, size_t len, const struct sock *s) {
  int mapped = 0;
  for (size_t off = 20; off + 4 <= len;) {
    uint16_t type = get16(p + off), alen = get16(p + off + 2);
    if (off + 4 + alen > len) return -1;
    const uint8_t *v = p + off + 4;
    if (type == ATTR_XOR_MAPPED && alen >= 8 && v[1] == 0x01)
      mapped = (get16(v + 2) ^ (MAGIC >> 16)) == s->port && (get32(v + 4) ^ MAGIC) == s->ip;
    if (type == ATTR_FINGERPRINT && (alen != 4 || (crc32(p, off) ^ FINGERPRINT_XOR) != get32(v))) return -1;
    off += 4 + ((alen + 3u) & ~3u);
  }
  return mapped ? 0 : -1;
}

/* Sends n prepared requests from sbuf; those the kernel refuses will time out. */
static void send_batch(int fd, int n) {
  for (int i = 0; i < n; i++) {
    smsg[i].msg_hdr.msg_iov = &siov[i];
    smsg[i].msg_hdr.msg_iovlen = 1;
  }
  int done = 0;
  while (done < n) {
    int r = sendmmsg(fd, smsg + done, (unsigned)(n - done), MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNREFUSED) c.refused++;
      else if (errno != EAGAIN && errno != ENOBUFS) die("sendmmsg");
      c.send_errors += (uint64_t)(n - done);
      return;
    }
    done += r;
    c.sent += (uint64_t)r;
  }
}

static void on_readable(struct sock *s, uint64_t now) {
  for (;;) {
    for (int i = 0; i < BATCH; i++) riov[i].iov_len = MAX_DGRAM;
    int n = recvmmsg(s->fd, rmsg, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      if (errno == ECONNREFUSED) { c.refused++; continue; }
      die("recvmmsg");
    }
    int out = 0;
    for (int i = 0; i < n; i++) {
      const uint8_t *p = rbuf[i];
      size_t len = rmsg[i].msg_len;
      uint16_t want = echo ? 0x0001 : 0x0101;
      if (len < 20 || get16(p) != want || get32(p + 4) != MAGIC || get16(p + 2) + 20u != len || (len & 3)) { c.bad++; continue; }
      struct slot *sl = NULL;
      for (int k = 0; k < inflight && !sl; k++)
        if (memcmp(s->slots[k].tid, p + 8, 12) == 0) sl = &s->slots[k];
      if (!sl) { c.unmatched++; continue; }
      c.received++;
      if (!echo && check_attrs(p, len, s) != 0) c.bad_attrs++;
      siov[out].iov_base = sbuf[out];
      siov[out].iov_len = build_request(sbuf[out], sl);
      sl->sent_ns = now;
      out++;
    }
    if (out) send_batch(s->fd, out);
    if (n < BATCH) return;
  }
}

/* Re-issues every request older than timeout, counting it lost. */
static void sweep(struct sock *socks, int nsocks, uint64_t now, uint64_t timeout) {
  for (int i = 0; i < nsocks; i++) {
    int out = 0;
    for (int k = 0; k < inflight; k++) {
      struct slot *sl = &socks[i].slots[k];
      if (now - sl->sent_ns < timeout) continue;
      if (sl->sent_ns) c.lost++;
      siov[out].iov_base = sbuf[out];
      siov[out].iov_len = build_request(sbuf[out], sl);
      sl->sent_ns = now;
      out++;
    }
    if (out) send_batch(socks[i].fd, out);
  }
}

static double self_cpu(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* utime + stime of pid, all threads, in seconds; -1 if unreadable. */
static double peer_cpu(int pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  unsigned long ut, st;
  if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Busy time of one core in seconds, from /proc/stat; -1 if unknown. irq and
 * softirq count: a process's stime includes the softirqs it runs. */
static double core_busy(int core) {
  char want[16], line[256];
  double r = -1;
  if (core < 0) return -1;
  snprintf(want, sizeof want, "cpu%d ", core);
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long long user, nice, sys, idle, iowait, irq, softirq;
    if (strncmp(line, want, strlen(want)) == 0 &&
        sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait, &irq, &softirq) == 7) {
      r = (double)(user + nice + sys + irq + softirq) / (double)sysconf(_SC_CLK_TCK);
      break;
    }
  }
  fclose(f);
  return r;
}

struct cpu_snapshot { double gen, peer, gen_core, peer_core; };

static struct cpu_snapshot cpu_now(int gen_core) {
  return (struct cpu_snapshot){self_cpu(), cpu_pid ? peer_cpu(cpu_pid) : -1, core_busy(gen_core), core_busy(peer_core)};
}

/* CPU seconds others used on a core between two readings, given what ours used there. */
static double other(double busy0, double busy1, double ours) { return busy0 < 0 || busy1 < 0 || ours < 0 ? -1 : busy1 - busy0 - ours; }

static struct sockaddr_in parse_addr(const char *host, int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) { fprintf(stderr, "loadgen: --host must be an IPv4 literal, not %s\n", host); exit(2); }
  return a;
}

static int run_stun(struct sockaddr_in to, double seconds, double warmup, int nsocks, int timeout_ms) {
  struct sock *socks = calloc((size_t)nsocks, sizeof *socks);
  int ep = epoll_create1(0);
  if (!socks || ep < 0) die("setup");
  for (int i = 0; i < nsocks; i++) {
    struct sock *s = &socks[i];
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&to, sizeof to) < 0 || getsockname(s->fd, (struct sockaddr *)&me, &ml) < 0) die("socket");
    s->ip = ntohl(me.sin_addr.s_addr);
    s->port = ntohs(me.sin_port);
    s->slots = calloc((size_t)inflight, sizeof *s->slots);
    if (!s->slots) die("calloc");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) die("epoll_ctl");
  }
  struct counts base = {0};
  struct cpu_snapshot cpu0 = {0};
  int gen_core = sched_getcpu();
  uint64_t t0 = now_ns(), tw = t0 + (uint64_t)(warmup * 1e9), tend = tw + (uint64_t)(seconds * 1e9), last_sweep = 0, now = t0;
  int measuring = 0;
  struct epoll_event evs[BATCH];
  for (;;) {
    if (now - last_sweep >= 10 * MS) { /* also sends the first requests */
      sweep(socks, nsocks, now, (uint64_t)timeout_ms * MS);
      last_sweep = now;
    }
    int n = epoll_wait(ep, evs, BATCH, spin ? 0 : 5);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    now = now_ns();
    for (int i = 0; i < n; i++) on_readable(evs[i].data.ptr, now);
    if (!measuring && now >= tw) {
      base = c;
      cpu0 = cpu_now(gen_core);
      tw = now;
      measuring = 1;
    }
    if (now >= tend) break;
  }
  struct cpu_snapshot cpu1 = cpu_now(gen_core);
  double secs = (double)(now - tw) / 1e9, gen = cpu1.gen - cpu0.gen, peer = cpu_pid ? cpu1.peer - cpu0.peer : -1;
  uint64_t received = c.received - base.received;
  printf("{\"sent\":%llu,\"received\":%llu,\"lost\":%llu,\"bad\":%llu,\"unmatched\":%llu,\"bad_attrs\":%llu,"
         "\"send_errors\":%llu,\"refused\":%llu,\"seconds\":%.3f,\"rps\":%.0f,\"gen_cpu\":%.3f,\"peer_cpu\":%.3f,"
         "\"gen_core_other\":%.2f,\"peer_core_other\":%.2f}\n",
         (unsigned long long)(c.sent - base.sent), (unsigned long long)received, (unsigned long long)(c.lost - base.lost),
         (unsigned long long)(c.bad - base.bad), (unsigned long long)(c.unmatched - base.unmatched),
         (unsigned long long)(c.bad_attrs - base.bad_attrs), (unsigned long long)(c.send_errors - base.send_errors),
         (unsigned long long)(c.refused - base.refused), secs, (double)received / secs, gen, peer,
         other(cpu0.gen_core, cpu1.gen_core, gen), other(cpu0.peer_core, cpu1.peer_core, peer_core == gen_core ? gen + peer : peer));
  return 0;
}

static _Noreturn void run_echo(struct sockaddr_in at) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0), size = 4 << 20;
  struct sockaddr_in bound;
  socklen_t bl = sizeof bound;
  static struct sockaddr_in from[BATCH];
  if (fd < 0) die("socket");
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (bind(fd, (struct sockaddr *)&at, sizeof at) < 0 || getsockname(fd, (struct sockaddr *)&bound, &bl) < 0) die("bind");
  printf("{\"port\":%d}\n", ntohs(bound.sin_port));
  fflush(stdout);
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      riov[i].iov_len = MAX_DGRAM;
      rmsg[i].msg_hdr.msg_name = &from[i];
      rmsg[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    int n = recvmmsg(fd, rmsg, BATCH, spin ? MSG_DONTWAIT : MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      die("recvmmsg");
    }
    for (int i = 0; i < n; i++) {
      siov[i].iov_base = rbuf[i];
      siov[i].iov_len = rmsg[i].msg_len;
      smsg[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = rmsg[i].msg_hdr.msg_namelen, .msg_iov = &siov[i], .msg_iovlen = 1};
    }
    for (int done = 0; done < n;) {
      int r = sendmmsg(fd, smsg + done, (unsigned)(n - done), 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        break; /* a full client buffer: drop the rest, as a server would */
      }
      done += r;
    }
  }
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"host", 1, 0, 'h'},    {"port", 1, 0, 'p'},      {"seconds", 1, 0, 's'},     {"warmup", 1, 0, 'w'},
      {"sockets", 1, 0, 'n'}, {"inflight", 1, 0, 'k'},  {"timeout-ms", 1, 0, 't'},  {"fingerprint", 0, 0, 'f'},
      {"echo", 0, 0, 'e'},    {"cpu-pid", 1, 0, 'c'},   {"spin", 0, 0, 'S'}, {"peer-core", 1, 0, 'P'}, {0, 0, 0, 0}};
  const char *host = "127.0.0.1";
  int port = -1, nsocks = 64, timeout_ms = 200, o;
  double seconds = 5, warmup = 1;
  if (argc < 2 || (strcmp(argv[1], "stun") != 0 && strcmp(argv[1], "echo-server") != 0)) {
    fprintf(stderr, "usage: loadgen stun|echo-server [options] (see the top of loadgen.c)\n");
    return 2;
  }
  int server = strcmp(argv[1], "echo-server") == 0;
  for (int i = 0; i < BATCH; i++) {
    riov[i].iov_base = rbuf[i];
    rmsg[i].msg_hdr.msg_iov = &riov[i];
    rmsg[i].msg_hdr.msg_iovlen = 1;
  }
  optind = 2;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
      case 'h': host = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 's': seconds = atof(optarg); break;
      case 'w': warmup = atof(optarg); break;
      case 'n': nsocks = atoi(optarg); break;
      case 'k': inflight = atoi(optarg); break;
      case 't': timeout_ms = atoi(optarg); break;
      case 'f': fingerprint = 1; break;
      case 'e': echo = 1; break;
      case 'c': cpu_pid = atoi(optarg); break;
      case 'S': spin = 1; break;
      case 'P': peer_core = atoi(optarg); break;
      default: return 2;
    }
  }
  if (server) run_echo(parse_addr(host, port < 0 ? 0 : port));
  if (port <= 0 || port > 65535 || nsocks < 1 || inflight < 1 || inflight > BATCH || timeout_ms < 1 || seconds <= 0 || warmup < 0) {
    fprintf(stderr, "loadgen: need --port 1..65535, --sockets >= 1, --inflight 1..%d, --timeout-ms >= 1, --seconds > 0\n", BATCH);
    return 2;
  }
  if (getrandom(&rng, sizeof rng, 0) != sizeof rng || !rng) rng = (uint64_t)now_ns() | 1;
  crc_init();
  return run_stun(parse_addr(host, port), seconds, warmup, nsocks, timeout_ms);
}
