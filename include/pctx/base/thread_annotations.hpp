// Clang's thread-safety annotations, so that the lock rules of every layer are checked by
// the compiler (-Wthread-safety) instead of being written only in comments. Under GCC, which
// has no such analysis, they expand to nothing.
//
// The vocabulary, in short: a lock type is a CAPABILITY; a field that a lock protects is
// GUARDED_BY it; a function that must be called with a lock held REQUIRES it, one that takes
// it ACQUIREs and one that drops it RELEASEs it; ACQUIRED_AFTER names the locks that must be
// taken before this one. See clang's "Thread Safety Analysis" documentation.
#pragma once

#if defined(__clang__)
#define PCTX_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define PCTX_THREAD_ANNOTATION(x)
#endif

#define PCTX_CAPABILITY(name) PCTX_THREAD_ANNOTATION(capability(name))
#define PCTX_SCOPED_CAPABILITY PCTX_THREAD_ANNOTATION(scoped_lockable)
#define PCTX_GUARDED_BY(x) PCTX_THREAD_ANNOTATION(guarded_by(x))
#define PCTX_PT_GUARDED_BY(x) PCTX_THREAD_ANNOTATION(pt_guarded_by(x))
#define PCTX_ACQUIRED_BEFORE(...) PCTX_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define PCTX_ACQUIRED_AFTER(...) PCTX_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define PCTX_REQUIRES(...) PCTX_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define PCTX_REQUIRES_SHARED(...) PCTX_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define PCTX_ACQUIRE(...) PCTX_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define PCTX_ACQUIRE_SHARED(...) PCTX_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define PCTX_RELEASE(...) PCTX_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define PCTX_RELEASE_SHARED(...) PCTX_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define PCTX_TRY_ACQUIRE(...) PCTX_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define PCTX_EXCLUDES(...) PCTX_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define PCTX_ASSERT_CAPABILITY(x) PCTX_THREAD_ANNOTATION(assert_capability(x))
#define PCTX_RETURN_CAPABILITY(x) PCTX_THREAD_ANNOTATION(lock_returned(x))
#define PCTX_NO_THREAD_SAFETY_ANALYSIS PCTX_THREAD_ANNOTATION(no_thread_safety_analysis)
