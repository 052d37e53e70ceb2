// delay-link: a network link with a fixed one-way delay (and optional random
// loss), for the NAT harness on kernels without the netem qdisc.
//
//   delay-link [--delay-ms N] [--loss PCT] [--seed S] NS_A:IF_A NS_B:IF_B
//
// Creates two TAP devices, IF_A inside network namespace NS_A and IF_B inside
// NS_B (a name under /run/netns, an absolute path, or empty for the current
// namespace), and forwards every Ethernet frame read from one to the other
// after N ms. TAP, not TUN: the harness puts one end on a bridge, and a bridge
// port must carry Ethernet frames (ARP included). IFF_NO_PI: bare frames.
//
// stdout: {"event":"ready"} once both devices exist (still down: the caller
//         addresses them and sets them up, like the veth pair they replace);
//         {"event":"stats",...} at exit.
// Exits on SIGTERM/SIGINT, and when stdin is a pipe or socket that closes
// (the parent died). The devices are not persistent: they vanish with the process.
//
// Each direction is a fixed-size FIFO ring of frames stamped with their due
// time; the delay is constant, so the head is always the next one due and
// ppoll() sleeps exactly until then. No allocation after start.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 4096        // frames in flight per direction (power of two)
#define FRAME_BYTES 2048  // MTU 1500 + Ethernet header + VLAN tag, with room to spare
#define READ_BATCH 64     // frames read from one device per wakeup, for fairness

struct slot {
  uint64_t due_ns;
  uint32_t len;
  unsigned char data[FRAME_BYTES];
};

struct ring {
  struct slot slots[SLOTS];
  uint32_t head, count;
  uint64_t forwarded, lost, overflow, write_errors;
};

static struct ring ab, ba;  // A -> B, B -> A (static: no allocation, pages touched on use)
static unsigned char scratch[FRAME_BYTES];
static volatile sig_atomic_t stopping;
static uint64_t rng_state;

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t xorshift64(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

static void die(const char *what, const char *arg) {
  fprintf(stderr, "delay-link: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
  exit(1);
}

// Enters namespace `ns` ("" = stay) and creates TAP device `ifname` there.
static int open_tap(const char *ns, const char *ifname) {
  if (*ns) {
    char path[512];
    snprintf(path, sizeof path, ns[0] == '/' ? "%s" : "/run/netns/%s", ns);
    int nsfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) die("open namespace", path);
    if (setns(nsfd, CLONE_NEWNET) < 0) die("setns", path);
    close(nsfd);
  }
  // The device belongs to the namespace this fd is opened in.
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) die("open", "/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (strlen(ifname) >= IFNAMSIZ) {
    errno = ENAMETOOLONG;
    die("device name", ifname);
  }
  strcpy(ifr.ifr_name, ifname);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF", ifname);
  return fd;
}

// Reads up to READ_BATCH frames from `fd` into ring `r`, due at now + delay.
static void pull(int fd, struct ring *r, uint64_t now, uint64_t delay_ns, uint32_t loss_per_million) {
  for (int i = 0; i < READ_BATCH; i++) {
    int full = r->count == SLOTS;
    struct slot *s = &r->slots[(r->head + r->count) & (SLOTS - 1)];
    ssize_t n = read(fd, full ? scratch : s->data, FRAME_BYTES);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      die("read", NULL);
    }
    if (n == 0) return;
    if (full) {
      r->overflow++;  // a full queue drops, as a router's would
    } else if (loss_per_million && xorshift64() % 1000000 < loss_per_million) {
      r->lost++;
    } else {
      s->due_ns = now + delay_ns;
      s->len = (uint32_t)n;
      r->count++;
    }
  }
}

// Writes every frame of `r` that is due by `now` to `fd`.
static void flush(int fd, struct ring *r, uint64_t now) {
  while (r->count && r->slots[r->head].due_ns <= now) {
    struct slot *s = &r->slots[r->head];
    // A TAP write hands the frame to the kernel at once; EIO while the device is down.
    if (write(fd, s->data, s->len) == (ssize_t)s->len) r->forwarded++;
    else r->write_errors++;
    r->head = (r->head + 1) & (SLOTS - 1);
    r->count--;
  }
}

static void usage(void) {
  fprintf(stderr, "usage: delay-link [--delay-ms N] [--loss PCT] [--seed S] NS_A:IF_A NS_B:IF_B\n");
  exit(2);
}

// "NS:IF" (or "IF") -> namespace and device name, copied into `ns_buf`.
static void split_end(const char *arg, char *ns_buf, size_t size, const char **ifname) {
  const char *colon = strrchr(arg, ':');
  size_t n = colon ? (size_t)(colon - arg) : 0;
  if (n >= size) usage();
  memcpy(ns_buf, arg, n);
  ns_buf[n] = '\0';
  *ifname = colon ? colon + 1 : arg;
}

int main(int argc, char **argv) {
  double delay_ms = 0, loss_pct = 0;
  uint64_t seed = now_ns() ^ ((uint64_t)getpid() << 32);
  char *ends[2] = {0};
  int nends = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--delay-ms") && i + 1 < argc) delay_ms = atof(argv[++i]);
    else if (!strcmp(argv[i], "--loss") && i + 1 < argc) loss_pct = atof(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
    else if (argv[i][0] != '-' && nends < 2) ends[nends++] = argv[i];
    else usage();
  }
  if (nends != 2 || delay_ms < 0 || delay_ms > 60000 || loss_pct < 0 || loss_pct > 100) usage();
  rng_state = seed ? seed : 1;
  prctl(PR_SET_TIMERSLACK, 1UL);  // wake at the due time, not up to 50 µs later
  uint64_t delay_ns = (uint64_t)(delay_ms * 1e6);
  uint32_t loss_per_million = (uint32_t)(loss_pct * 10000);

  // SIGTERM/SIGINT are blocked except inside ppoll(), so they can only land there.
  sigset_t block, waitmask;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &waitmask);
  sigdelset(&waitmask, SIGTERM);
  sigdelset(&waitmask, SIGINT);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  char ns_a[256], ns_b[256];
  const char *if_a, *if_b;
  split_end(ends[0], ns_a, sizeof ns_a, &if_a);
  split_end(ends[1], ns_b, sizeof ns_b, &if_b);
  int fd_a = open_tap(ns_a, if_a);
  int fd_b = open_tap(ns_b, if_b);
  printf("{\"event\":\"ready\",\"a\":\"%s\",\"b\":\"%s\",\"delay_ms\":%g,\"loss_pct\":%g}\n", if_a, if_b, delay_ms, loss_pct);
  fflush(stdout);

  struct stat st;
  int watch_stdin = fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));  // Bun's "pipe" is a socket
  struct pollfd fds[3] = {
      {.fd = fd_a, .events = POLLIN},
      {.fd = fd_b, .events = POLLIN},
      {.fd = watch_stdin ? 0 : -1, .events = POLLIN},
  };
  while (!stopping) {
    uint64_t now = now_ns();
    flush(fd_b, &ab, now);
    flush(fd_a, &ba, now);
    uint64_t next = UINT64_MAX;
    if (ab.count) next = ab.slots[ab.head].due_ns;
    if (ba.count && ba.slots[ba.head].due_ns < next) next = ba.slots[ba.head].due_ns;
    struct timespec timeout, *tp = NULL;
    if (next != UINT64_MAX) {
      uint64_t wait = next > now ? next - now : 0;
      timeout.tv_sec = (time_t)(wait / 1000000000u);
      timeout.tv_nsec = (long)(wait % 1000000000u);
      tp = &timeout;
    }
    int n = ppoll(fds, 3, tp, &waitmask);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("ppoll", NULL);
    }
    if (n == 0) continue;
    now = now_ns();
    if (fds[0].revents & POLLIN) pull(fd_a, &ab, now, delay_ns, loss_per_million);
    if (fds[1].revents & POLLIN) pull(fd_b, &ba, now, delay_ns, loss_per_million);
    if ((fds[0].revents | fds[1].revents) & (POLLERR | POLLHUP | POLLNVAL)) break;
    if (fds[2].revents) {  // input is ignored; end of input ends the link
      ssize_t r = read(0, scratch, sizeof scratch);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) break;  // parent gone
    }
  }
  printf("{\"event\":\"stats\",\"forwarded\":[%llu,%llu],\"lost\":[%llu,%llu],\"overflow\":[%llu,%llu],\"write_errors\":[%llu,%llu]}\n",
         (unsigned long long)ab.forwarded, (unsigned long long)ba.forwarded, (unsigned long long)ab.lost,
         (unsigned long long)ba.lost, (unsigned long long)ab.overflow, (unsigned long long)ba.overflow,
         (unsigned long long)ab.write_errors, (unsigned long long)ba.write_errors);
  return 0;
}
