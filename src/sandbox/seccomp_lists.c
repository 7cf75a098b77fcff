/*
 * sandbox/seccomp_lists: what each kind of thread may call.  One row per
 * syscall with the kinds that need it (a bit per gm_thread_kind); the calls
 * whose arguments are filtered (ioctl, fcntl, socket, prctl, mmap,
 * mprotect, clone) have tables of their own, read by seccomp.c.  The
 * process baseline (main while it sets up, and the launcher) is the union
 * of every kind plus the SETUP rows.  docs/security.md says why each row is
 * there; derived from what the code calls, glibc's and the libraries'
 * internals, and the audit lines of `--seccomp log` runs of every suite.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <linux/userfaultfd.h>
#include <linux/fs.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>

#include "kvm/uapi.h"
#include "sandbox/seccomp_lists.h"

#define M (1u << GM_THREAD_MAIN)
#define V (1u << GM_THREAD_VCPU)
#define A (1u << GM_THREAD_API)
#define G (1u << GM_THREAD_MIGRATION)
#define B (1u << GM_THREAD_BLK_IO)
#define C (1u << GM_THREAD_CONSOLE)
#define N (1u << GM_THREAD_NET)
#define ALL (M | V | A | G | B | C | N)
/* the API's routes and the MHD daemon it restarts may run under an op thread: its list holds the API's */
#define AG (A | G)
/* libslirp runs on the net thread and, through slirp_input, on the vCPU that sends a frame */
#define SL (V | N | G)

const struct gm_sc_row gm_sc_plain[] = {
	/* threads, memory, locks, time, stdio: glibc does these behind every call */
	{ SCMP_SYS(read), ALL }, { SCMP_SYS(write), ALL }, { SCMP_SYS(readv), ALL }, { SCMP_SYS(writev), ALL },
	{ SCMP_SYS(close), ALL }, { SCMP_SYS(fstat), ALL }, { SCMP_SYS(newfstatat), ALL }, { SCMP_SYS(statx), ALL },
	{ SCMP_SYS(lseek), ALL }, { SCMP_SYS(brk), ALL }, { SCMP_SYS(munmap), ALL }, { SCMP_SYS(madvise), ALL },
	{ SCMP_SYS(mremap), ALL }, { SCMP_SYS(futex), ALL }, { SCMP_SYS(set_robust_list), ALL },
	{ SCMP_SYS(rseq), ALL }, { SCMP_SYS(rt_sigprocmask), ALL }, { SCMP_SYS(rt_sigreturn), ALL },
	{ SCMP_SYS(sigaltstack), ALL }, { SCMP_SYS(exit), ALL }, { SCMP_SYS(exit_group), ALL },
	{ SCMP_SYS(gettid), ALL }, { SCMP_SYS(getpid), ALL }, { SCMP_SYS(tgkill), ALL }, { SCMP_SYS(sched_yield), ALL },
	{ SCMP_SYS(sched_getaffinity), ALL }, { SCMP_SYS(clock_gettime), ALL }, { SCMP_SYS(clock_getres), ALL },
	{ SCMP_SYS(gettimeofday), ALL }, { SCMP_SYS(clock_nanosleep), ALL }, { SCMP_SYS(nanosleep), ALL },
	{ SCMP_SYS(getrandom), ALL }, { SCMP_SYS(seccomp), ALL }, { SCMP_SYS(restart_syscall), ALL },
	{ SCMP_SYS(poll), ALL }, { SCMP_SYS(ppoll), ALL }, { SCMP_SYS(dup), ALL }, { SCMP_SYS(pipe2), ALL },
	{ SCMP_SYS(pipe), ALL }, { SCMP_SYS(select), ALL },
	{ SCMP_SYS(eventfd2), ALL }, { SCMP_SYS(prlimit64), ALL }, { SCMP_SYS(getuid), ALL },
	{ SCMP_SYS(geteuid), ALL }, { SCMP_SYS(membarrier), ALL },
	/* a pending vCPU kick or SIGPIPE consumed (pause.c, the event monitor's write_quiet) */
	{ SCMP_SYS(rt_sigpending), ALL }, { SCMP_SYS(rt_sigtimedwait), ALL },
	/* the event monitor's lines are written by whichever thread has the event (a socket: send) */
	{ SCMP_SYS(sendto), ALL }, { SCMP_SYS(sendmsg), ALL },

	/* guest RAM given back, disks read and written in place, flushes */
	{ SCMP_SYS(pread64), V | G | B | A }, { SCMP_SYS(pwrite64), V | G | B },
	{ SCMP_SYS(preadv), V | G | B }, { SCMP_SYS(pwritev), V | G | B }, { SCMP_SYS(preadv2), V | G | B },
	{ SCMP_SYS(pwritev2), V | G | B }, { SCMP_SYS(fsync), V | G | B | M }, { SCMP_SYS(fdatasync), V | G | B },
	{ SCMP_SYS(fallocate), V | AG | B }, { SCMP_SYS(sync_file_range), B },
	{ SCMP_SYS(io_uring_enter), V | B | G | M }, { SCMP_SYS(io_uring_register), B | G },
	{ SCMP_SYS(kill), V | AG }, /* a guest or API shutdown that signals the owner */
	{ SCMP_SYS(rt_sigaction), M | AG }, /* libmicrohttpd's SIGPIPE, the terminal's restore */

	/* sockets: slirp's (the guest's TCP/UDP/ICMP), the API's, the migration's */
	{ SCMP_SYS(connect), SL | AG }, { SCMP_SYS(bind), SL | AG }, { SCMP_SYS(listen), SL | AG },
	{ SCMP_SYS(accept), SL | AG }, { SCMP_SYS(accept4), SL | AG }, { SCMP_SYS(recvfrom), SL | AG | C },
	{ SCMP_SYS(recvmsg), SL | AG }, { SCMP_SYS(shutdown), SL | AG | M }, { SCMP_SYS(setsockopt), SL | AG },
	{ SCMP_SYS(getsockopt), SL | AG }, { SCMP_SYS(getsockname), SL | AG }, { SCMP_SYS(getpeername), SL | AG },
	{ SCMP_SYS(socketpair), G }, { SCMP_SYS(sendmmsg), SL }, { SCMP_SYS(recvmmsg), SL },
	/* /etc/resolv.conf for slirp's DNS; files for snapshots, /proc for info */
	{ SCMP_SYS(openat), SL | AG }, { SCMP_SYS(uname), SL | AG },

	/* operations: snapshots' files, migration, re-homing, the live update's child */
	{ SCMP_SYS(mkdirat), G }, { SCMP_SYS(unlinkat), G | M | A }, { SCMP_SYS(renameat), G },
	{ SCMP_SYS(renameat2), G }, { SCMP_SYS(ftruncate), G | A }, { SCMP_SYS(getdents64), G },
	{ SCMP_SYS(statfs), G | A }, { SCMP_SYS(fstatfs), G | A }, { SCMP_SYS(fchmod), G },
	{ SCMP_SYS(readlinkat), G | A }, { SCMP_SYS(faccessat), G | A }, { SCMP_SYS(faccessat2), G | A },
	{ SCMP_SYS(flock), G }, { SCMP_SYS(copy_file_range), G }, { SCMP_SYS(sendfile), G },
	{ SCMP_SYS(splice), G }, { SCMP_SYS(userfaultfd), G }, { SCMP_SYS(memfd_create), G | A },
	{ SCMP_SYS(move_pages), G | A }, { SCMP_SYS(get_mempolicy), G | A },
	{ SCMP_SYS(set_mempolicy), G }, { SCMP_SYS(mincore), G | A },
	/* a discard on pinned memory unlocks, drops, and locks and binds again (pin.c):
	 * the balloon's on the vCPU that kicked */
	{ SCMP_SYS(mlock), V | G | A }, { SCMP_SYS(mlock2), V | G | A }, { SCMP_SYS(munlock), V | G | A },
	{ SCMP_SYS(mbind), V | G | A },
	/* a lock refused for the memlock limit names the limit and CAP_IPC_LOCK (caps_host.c) */
	{ SCMP_SYS(capget), V | G | A },
	{ SCMP_SYS(wait4), G | M },
	{ SCMP_SYS(waitid), G | M }, { SCMP_SYS(getcwd), G }, { SCMP_SYS(sysinfo), G | A },
	{ SCMP_SYS(msync), G }, { SCMP_SYS(fadvise64), G }, { SCMP_SYS(dup3), G | M },
	{ SCMP_SYS(getppid), G }, { SCMP_SYS(io_uring_setup), G },
	/* glibc calls the old forms where x86-64 has them: unlink(2), not unlinkat(2) */
	{ SCMP_SYS(unlink), G | M | A }, { SCMP_SYS(rmdir), G | M | A }, { SCMP_SYS(mkdir), G },
	{ SCMP_SYS(rename), G }, { SCMP_SYS(access), G | A }, { SCMP_SYS(readlink), G | A },
	{ SCMP_SYS(dup2), G | M }, { SCMP_SYS(chmod), G },
	{ -1, 0 }
};

/* Only the baseline (main setting up, the launcher and what it execs): the dynamic loader, probes, set-up. */
const int gm_sc_setup[] = {
	SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(arch_prctl), SCMP_SYS(set_tid_address),
	SCMP_SYS(access), SCMP_SYS(readlink), SCMP_SYS(open), SCMP_SYS(stat), SCMP_SYS(lstat),
	SCMP_SYS(getrlimit), SCMP_SYS(setrlimit), SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(getresuid),
	SCMP_SYS(getresgid), SCMP_SYS(getgroups), SCMP_SYS(capget), SCMP_SYS(memfd_secret), SCMP_SYS(mlockall),
	SCMP_SYS(munlockall), SCMP_SYS(chdir), SCMP_SYS(fchdir), SCMP_SYS(umask), SCMP_SYS(dup2),
	SCMP_SYS(sched_setaffinity), SCMP_SYS(getcpu), SCMP_SYS(timerfd_create), SCMP_SYS(timerfd_settime),
	SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
	SCMP_SYS(select), SCMP_SYS(pselect6), SCMP_SYS(fchmodat), SCMP_SYS(fchown), SCMP_SYS(fchownat),
	SCMP_SYS(utimensat), SCMP_SYS(chmod), SCMP_SYS(mkdir), SCMP_SYS(unlink), SCMP_SYS(rmdir),
	SCMP_SYS(rename), SCMP_SYS(pidfd_open), SCMP_SYS(pidfd_send_signal), SCMP_SYS(getrusage),
	SCMP_SYS(times), SCMP_SYS(getpgrp), SCMP_SYS(setpgid), SCMP_SYS(setsid), SCMP_SYS(getpriority),
	SCMP_SYS(setpriority), SCMP_SYS(sched_getparam), SCMP_SYS(sched_getscheduler), SCMP_SYS(readahead),
	SCMP_SYS(vfork), SCMP_SYS(fork), SCMP_SYS(tkill), SCMP_SYS(sched_setscheduler), SCMP_SYS(pipe),
	SCMP_SYS(eventfd), SCMP_SYS(getdents), SCMP_SYS(fcntl), SCMP_SYS(ioctl), SCMP_SYS(socket),
	SCMP_SYS(prctl), SCMP_SYS(mmap), SCMP_SYS(mprotect), SCMP_SYS(clone), SCMP_SYS(clone3),
	SCMP_SYS(statfs), SCMP_SYS(sync), SCMP_SYS(syncfs), SCMP_SYS(mknodat), SCMP_SYS(linkat),
	SCMP_SYS(symlinkat), SCMP_SYS(ftruncate), SCMP_SYS(truncate), SCMP_SYS(timer_create),
	SCMP_SYS(timer_settime), SCMP_SYS(timer_delete), SCMP_SYS(rt_sigtimedwait), SCMP_SYS(rt_sigsuspend),
	SCMP_SYS(rt_sigqueueinfo), SCMP_SYS(signalfd4), SCMP_SYS(inotify_init1), SCMP_SYS(process_madvise),
	-1
};

/* ioctl, by request: KVM_* per kind, the terminal, TUN to the net thread */
#define KVM_COMMON (M | V | AG)
const struct gm_sc_row gm_sc_ioctl[] = {
	{ KVM_RUN, V }, { KVM_GET_REGS, KVM_COMMON }, { KVM_SET_REGS, V | AG }, { KVM_GET_SREGS, KVM_COMMON },
	{ KVM_SET_SREGS, V | AG }, { KVM_GET_MSRS, KVM_COMMON }, { KVM_SET_MSRS, V | AG },
	{ KVM_GET_MP_STATE, KVM_COMMON }, { KVM_SET_MP_STATE, V | AG }, { KVM_GET_LAPIC, KVM_COMMON },
	{ KVM_SET_LAPIC, V | AG }, { KVM_GET_XSAVE, KVM_COMMON }, { KVM_SET_XSAVE, V | AG },
	{ KVM_GET_XCRS, KVM_COMMON }, { KVM_SET_XCRS, V | AG }, { KVM_GET_VCPU_EVENTS, KVM_COMMON },
	{ KVM_SET_VCPU_EVENTS, V | AG }, { KVM_GET_DEBUGREGS, KVM_COMMON }, { KVM_SET_DEBUGREGS, V | AG },
	{ KVM_SET_SIGNAL_MASK, V }, { KVM_SET_CPUID2, V | G }, { KVM_GET_FPU, KVM_COMMON },
	{ KVM_SIGNAL_MSI, V | AG | B | C | N }, { KVM_IRQ_LINE, V | AG | C | N }, { KVM_IRQ_LINE_STATUS, V | AG | C | N },
	{ KVM_GET_CLOCK, KVM_COMMON }, { KVM_SET_CLOCK, V | AG }, { KVM_GET_TSC_KHZ, KVM_COMMON },
	{ KVM_SET_GSI_ROUTING, V | AG }, { KVM_CHECK_EXTENSION, KVM_COMMON },
	{ KVM_SET_USER_MEMORY_REGION, V | AG | M }, { KVM_SET_USER_MEMORY_REGION2, V | AG | M },
	/* main too: tearing down stops the dirty tracking an update or migration left */
	{ KVM_SET_MEMORY_ATTRIBUTES, V | AG }, { KVM_GET_DIRTY_LOG, KVM_COMMON }, { KVM_CLEAR_DIRTY_LOG, KVM_COMMON },
	{ KVM_RESET_DIRTY_RINGS, KVM_COMMON }, { KVM_PRE_FAULT_MEMORY, V | AG }, { KVM_CREATE_GUEST_MEMFD, G },
	{ GM_KVM_LINK_GUEST_MEMFD, G }, { KVM_ENABLE_CAP, G }, { KVM_GET_VCPU_MMAP_SIZE, KVM_COMMON | G },
	{ KVM_GET_SUPPORTED_CPUID, G }, { KVM_GET_MSR_INDEX_LIST, G }, { KVM_GET_API_VERSION, G },
	{ KVM_IOEVENTFD, G }, { KVM_IRQFD, G },
	/* /dev/userfaultfd's ioctl: the postcopy check's fallback where the syscall is denied (caps.c) */
	{ USERFAULTFD_IOC_NEW, G },
	{ UFFDIO_API, G }, { UFFDIO_REGISTER, G }, { UFFDIO_UNREGISTER, G | M | A }, { UFFDIO_COPY, G },
	{ UFFDIO_ZEROPAGE, G }, { UFFDIO_WAKE, G | M }, { BLKGETSIZE64, G },
	{ TCGETS, ALL }, { TCSETS, M | C }, { TCSETSW, M | C }, { TCSETSF, M | C }, { TIOCGWINSZ, M | C | G },
	{ FIONREAD, SL | AG | C }, { FIONBIO, SL | AG },
	{ TUNSETOFFLOAD, V | N | G }, { TUNSETVNETHDRSZ, N | G }, { TUNGETFEATURES, N | G }, { TUNSETIFF, N | G },
	{ 0, 0 }
};

const struct gm_sc_row gm_sc_fcntl[] = {
	{ F_GETFD, ALL }, { F_SETFD, ALL }, { F_GETFL, ALL }, { F_SETFL, ALL }, { F_DUPFD, ALL },
	{ F_DUPFD_CLOEXEC, ALL }, { F_GET_SEALS, ALL }, { F_ADD_SEALS, G | A }, { F_OFD_GETLK, G | M },
	{ F_OFD_SETLK, G | M }, { F_OFD_SETLKW, G | M }, { F_GETLK, G | M }, { F_SETLK, G | M },
	{ F_SETLKW, G | M }, { F_SETPIPE_SZ, G }, { F_GETPIPE_SZ, G },
	{ -1, 0 }
};

const struct gm_sc_row gm_sc_socket[] = {
	{ AF_UNIX, A | G | M | V },
	{ AF_INET, SL | G },
	{ AF_INET6, SL | G },
	/* getaddrinfo of a name with several addresses (tcp:localhost:N) asks the routes over NETLINK_ROUTE */
	{ AF_NETLINK, G },
	{ -1, 0 }
};

/* PR_SET_NAME and the no_new_privs that loading a filter needs; PR_SET_VMA: newer glibc names its maps */
const struct gm_sc_row gm_sc_prctl[] = {
	{ PR_SET_NAME, ALL }, { PR_GET_NAME, ALL }, { PR_SET_NO_NEW_PRIVS, ALL }, { PR_GET_NO_NEW_PRIVS, ALL },
	{ PR_GET_SECCOMP, ALL }, { 0x53564d41 /* PR_SET_VMA */, ALL }, { PR_CAPBSET_READ, ALL },
	{ -1, 0 }
};
