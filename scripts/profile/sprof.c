// A small sampling profiler for the host side of a run (the GPU machine has no perf, gdb
// or strace): preloaded, it samples every thread's stack on SIGPROF and writes one line
// per sample, "TID module+offset ...", to $SPROF_OUT.PID when the process exits (also
// through _exit, which mlxbench ends with). Offsets are symbolised later, where the
// unstripped binaries are (scripts/profile/symbolize.py).
//   gcc -O2 -shared -fPIC -o sprof.so scripts/profile/sprof.c -ldl -lpthread
//   SPROF_OUT=/tmp/prof SPROF_US=200 LD_PRELOAD=$PWD/sprof.so mlxbench models generate ...
// SPROF_US: the sampling period in microseconds of CPU time (the kernel's tick bounds it);
// SPROF_DELAY_MS: when sampling starts (default 100 ms, after a launcher's exec).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#include <pthread.h>
#define MAXS 60000
#define DEPTH 48
static void *st[MAXS][DEPTH];
static int dep[MAXS];
static int tid[MAXS];
static volatile int n;
static void handler(int sig) {
  (void)sig;
  int i = __sync_fetch_and_add(&n, 1);
  if (i >= MAXS) return;
  tid[i] = (int)syscall(SYS_gettid);
  dep[i] = backtrace(st[i], DEPTH);
}
// sampling starts from a thread after a delay: a timer armed before a launcher's exec
// would fire in the new image before its handler is installed, and kill it
static void *starter(void *a) {
  (void)a;
  int ms = getenv("SPROF_DELAY_MS") ? atoi(getenv("SPROF_DELAY_MS")) : 100;
  usleep(ms * 1000);
  int us = getenv("SPROF_US") ? atoi(getenv("SPROF_US")) : 500;
  struct itimerval t = {{0, us}, {0, us}};
  setitimer(ITIMER_PROF, &t, 0);
  return 0;
}
__attribute__((constructor)) static void init(void) {
  if (!getenv("SPROF_OUT")) return;
  void *d[2];
  backtrace(d, 2); // loads the unwinder now, not inside the first signal
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGPROF, &sa, 0);
  pthread_t th;
  pthread_create(&th, 0, starter, 0);
  pthread_detach(th);
}
static void fini(void);
// mlxbench ends with _exit (no destructors run): write the samples first
void _exit(int code) {
  fini();
  syscall(SYS_exit_group, code);
  for (;;) {}
}
__attribute__((destructor)) static void fini(void) {
  const char *p = getenv("SPROF_OUT");
  if (!p) return;
  struct itimerval t = {{0, 0}, {0, 0}};
  setitimer(ITIMER_PROF, &t, 0);
  static int done;
  if (n == 0 || done) return;
  done = 1;
  char path[512];
  snprintf(path, sizeof path, "%s.%d", p, (int)getpid());
  FILE *f = fopen(path, "w");
  if (!f) return;
  int m = n < MAXS ? n : MAXS;
  for (int i = 0; i < m; i++) {
    fprintf(f, "%d", tid[i]);
    // frames 0 and 1 are the handler and the signal trampoline
    for (int j = 2; j < dep[i]; j++) {
      Dl_info info;
      if (dladdr(st[i][j], &info) && info.dli_fname) {
        const char *b = strrchr(info.dli_fname, '/');
        fprintf(f, " %s+%lx", b ? b + 1 : info.dli_fname, (unsigned long)((char *)st[i][j] - (char *)info.dli_fbase));
      } else {
        fprintf(f, " ?+%lx", (unsigned long)st[i][j]);
      }
    }
    fputc('\n', f);
  }
  fclose(f);
}
