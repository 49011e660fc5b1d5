/*
 * A final snapshot when the program is killed by SIGINT, SIGTERM or SIGHUP
 * (Ctrl-C, `kill`, `systemctl stop`, a closed terminal): those deaths skip
 * the library destructor, so without this the last figures would be the last
 * periodic snapshot's. For each of the three signals whose disposition is
 * still the default when the shim starts, a handler writes the exit snapshot
 * (with the reachability scan), restores the default and re-raises the
 * signal, so the program still dies of it (status 128+N).
 *
 * The program must not see a difference: sigaction() and signal() report
 * SIG_DFL while our handler is installed, and a program that installs
 * SIG_DFL itself keeps ours (the same death, with a snapshot). A program that
 * installs its own handler or SIG_IGN replaces ours for good. Off with
 * LEAKAUDIT_TERM_SNAPSHOT=0.
 *
 * The handler writes only when the interrupted thread was not inside the
 * shim (its busy flag): the shim's locks may be held there. Other threads
 * keep running and release theirs.
 */
#include "shim.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const int term_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define N_TERM_SIGNALS (sizeof(term_signals) / sizeof(term_signals[0]))

static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static sighandler_t (*real_signal)(int, sighandler_t);
static int ours[NSIG];     /* our handler is installed for this signal */
static volatile int dying; /* the first terminating signal is being handled */

static void resolve(void)
{
    if (!real_sigaction)
        SHIM_UNTRACKED(real_sigaction = (__typeof__(real_sigaction))shim_dlsym_next("sigaction"));
    if (!real_signal)
        SHIM_UNTRACKED(real_signal = (__typeof__(real_signal))shim_dlsym_next("signal"));
}

static int is_term_signal(int sig)
{
    for (size_t i = 0; i < N_TERM_SIGNALS; i++)
        if (term_signals[i] == sig)
            return 1;
    return 0;
}

static void on_term(int sig)
{
    int saved_errno = errno;
    if (__atomic_exchange_n(&dying, 1, __ATOMIC_ACQ_REL)) {
        /* another thread is writing the final snapshot and will kill the
         * process when done */
        for (;;)
            pause();
    }
    if (!shim_tls.busy && shim_ready()) {
        SHIM_UNTRACKED({
            if (shim_cfg.guard)
                shim_guard_scan();
            shim_snapshot_write(SNAP_TRIGGER_EXIT);
        });
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    real_sigaction(sig, &dfl, NULL);
    ours[sig] = 0;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    raise(sig); /* pending until unblocked: the handler blocks it */
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    errno = saved_errno; /* not reached: the default action ends the process */
}

static int install(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < N_TERM_SIGNALS; i++)
        sigaddset(&sa.sa_mask, term_signals[i]); /* one handler at a time per thread */
    int rc = real_sigaction(sig, &sa, NULL);
    if (rc == 0)
        ours[sig] = 1;
    return rc;
}

void shim_termsig_init(void)
{
    const char *v = getenv(audit_env(AUDIT_TERM_SNAPSHOT));
    if (v && !strcmp(v, "0"))
        return;
    resolve();
    if (!real_sigaction)
        return;
    for (size_t i = 0; i < N_TERM_SIGNALS; i++) {
        struct sigaction old;
        int sig = term_signals[i];
        if (real_sigaction(sig, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
            old.sa_handler == SIG_DFL)
            install(sig);
    }
}

/* The program asks for or sets a disposition: it sees SIG_DFL where ours is. */
SHIM_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    resolve();
    int was_ours = sig > 0 && sig < NSIG && is_term_signal(sig) && ours[sig];
    int keep = was_ours && act && !(act->sa_flags & SA_SIGINFO) && act->sa_handler == SIG_DFL;
    int rc;
    if (keep) { /* SIG_DFL over SIG_DFL: stays ours, reports what it was */
        rc = real_sigaction(sig, NULL, old);
    } else {
        rc = real_sigaction(sig, act, old);
        if (rc == 0 && act && was_ours)
            ours[sig] = 0;
    }
    if (rc == 0 && old && was_ours && old->sa_handler == on_term) {
        memset(old, 0, sizeof(*old));
        old->sa_handler = SIG_DFL;
        sigemptyset(&old->sa_mask);
    }
    return rc;
}

SHIM_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    resolve();
    int was_ours = sig > 0 && sig < NSIG && ours[sig];
    if (was_ours && handler == SIG_DFL)
        return SIG_DFL;
    sighandler_t prev = real_signal(sig, handler);
    if (prev == SIG_ERR)
        return prev;
    if (was_ours) {
        ours[sig] = 0;
        if (prev == on_term)
            prev = SIG_DFL;
    }
    return prev;
}
