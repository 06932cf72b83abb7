/*
 * pause: the first process of a pod sandbox (node-agent). It does nothing but exist, so that the
 * pod's namespaces outlive its app containers. Because it is PID 1 of the pod's PID namespace when
 * that is shared, orphans of the app containers are re-parented to it: it must reap them, or they
 * stay zombies. It exits 0 on SIGTERM or SIGINT (`docker stop`, StopPodSandbox).
 *
 * Build: gcc -static -Os -o pause pause.c   (the image holds this binary and nothing else)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#define PAUSE_VERSION "node-agent-pause 1"

/* Never runs (the signals are blocked and taken with sigwaitinfo), but it must be installed: the
 * kernel drops signals with the default action that are sent to a PID namespace's init. */
static void unused_handler(int sig) { (void)sig; }

/* One SIGCHLD can stand for many exited children (it is not queued per child): drain them all. */
static void reap_all(void) {
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "-v") == 0) {
    puts(PAUSE_VERSION);
    return 0;
  }
  if (argc > 1) {
    fprintf(stderr, "usage: %s [-v]\n", argv[0]);
    return 2;
  }

  sigset_t wanted;
  sigemptyset(&wanted);
  sigaddset(&wanted, SIGTERM);
  sigaddset(&wanted, SIGINT);
  sigaddset(&wanted, SIGCHLD);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = unused_handler;
  sa.sa_flags = SA_NOCLDSTOP; /* only exits matter, not stopped children */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGCHLD, &sa, NULL);

  /* Blocked signals stay pending until sigwaitinfo takes them: no window in which a SIGTERM that
   * arrives between "check a flag" and "go to sleep" is lost, as with pause(). */
  sigprocmask(SIG_BLOCK, &wanted, NULL);
  reap_all(); /* children that exited before the mask was in place */

  for (;;) {
    int sig = sigwaitinfo(&wanted, NULL);
    if (sig == SIGCHLD) {
      reap_all();
    } else if (sig == SIGTERM || sig == SIGINT) {
      return 0;
    } else if (sig < 0 && errno != EINTR) {
      perror("pause: sigwaitinfo");
      return 1;
    }
  }
}
