/* SPDX-License-Identifier: MIT */
/*
 * compiler.h - the few compiler helpers every layer uses: branch hints,
 * container_of, READ_ONCE/WRITE_ONCE (relaxed atomics), and the ThreadSanitizer
 * switch. Takes no locks.
 */
#ifndef PC_KERNEL_COMPILER_H
#define PC_KERNEL_COMPILER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define READ_ONCE(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define smp_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define smp_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
/* A full barrier: a locked no-op on the stack (what Linux uses on x86-64; and
 * unlike atomic_thread_fence it is accepted under ThreadSanitizer). */
#define smp_mb() __asm__ __volatile__("lock; addl $0,-4(%%rsp)" ::: "memory", "cc")

#define __noinline     __attribute__((noinline))
#define __cold	       __attribute__((cold))
#define __unused       __attribute__((unused))
#define __printf(a, b) __attribute__((format(printf, a, b)))
/* Thread-local data read on a hot path (the current task, the per-thread
 * page slab, the RCU registration, the glock fast path's slots): the
 * initial-exec model, one %fs-relative load per access instead of a call
 * to __tls_get_addr, which a shared library pays for each __thread access
 * (about 13 calls in a cached 4 KiB pc_pread, 11 % of its instructions
 * outside the copy). Such data must stay small: a process that dlopens
 * the library takes it from the static TLS that glibc keeps spare for
 * that (rtld.optional_static_tls, 512 bytes by default); today 127 bytes.
 * Large or cold thread-local buffers stay plain __thread. */
#define __thread_hot __thread __attribute__((tls_model("initial-exec")))

#define min_t(t, a, b) ((t)(a) < (t)(b) ? (t)(a) : (t)(b))
#define max_t(t, a, b) ((t)(a) > (t)(b) ? (t)(a) : (t)(b))

#if defined(PC_TSAN) || defined(__SANITIZE_THREAD__)
#define PC_HAVE_TSAN 1
#else
#define PC_HAVE_TSAN 0
#endif

/* Where a lock operation was called from, for the validator's reports. */
struct src_loc {
	const char *file;
	int line;
};
#define THIS_LOC ((struct src_loc){__FILE__, __LINE__})

#endif
