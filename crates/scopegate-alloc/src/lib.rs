//! The memory allocator Scopegate's programs run with, and the one thing they ask of it:
//! to give back, once a policy load is done, the memory the load freed.
//!
//! Why it matters. A compiled policy is 10⁵ to 10⁶ small objects, and an uncached decision
//! reads a handful of them at random: index entries, a scope's subjects, a role's rules, a
//! grant. At a million bindings the 4 KiB pages a burst of decisions touches outgrow the
//! CPU's TLB, and a decision cost 1.8× what it costs at 10,000 bindings; on 2 MiB
//! transparent huge pages, about 1.5× (`BENCHMARKS.md`, "Growth").
//!
//! jemalloc puts its heap on huge pages when asked (`thp:always`: it advises the kernel to
//! back its memory with them), but every run of pages it returns to the system splits the
//! huge page around it, and a load frees its parsed objects among the policy's. Returned
//! at once (as before), they leave most of the policy on 4 KiB pages. So the options here
//! let jemalloc reuse freed pages for a second before returning them, long enough for a
//! load to fill them with the policy, and [`return_freed_memory`] returns the rest in one go
//! once the load is over. Measured at 1M bindings (`BENCHMARKS.md`, "Allocator"): 900 MB
//! resident after the load either way, 670 MB of it on huge pages against 500 MB when
//! freed pages are returned at once, and the same peak during the load.
//!
//! Use [`use_jemalloc!`] once in a program's root module, and call [`return_freed_memory`]
//! after each policy load or change. The kernel's THP mode must be `madvise` or `always`
//! (`/sys/kernel/mm/transparent_hugepage/enabled`); under `never` jemalloc uses 4 KiB pages
//! and everything else stays the same. `_RJEM_MALLOC_CONF` in the environment overrides the
//! options at start-up (e.g. `thp:default` to leave huge pages to the kernel's policy).

/// The allocator: jemalloc, through `tikv-jemallocator`. Its size-class slabs keep each
/// request's short-lived objects dense instead of scattered among the policy's objects.
#[cfg(unix)]
pub use tikv_jemallocator::Jemalloc;

/// jemalloc's options, as the NUL-terminated string jemalloc reads from the symbol
/// `_rjem_malloc_conf` ([`use_jemalloc!`] exports it):
///
/// - `thp:always`, `metadata_thp:always`: advise huge pages for the heap and jemalloc's own
///   metadata;
/// - `dirty_decay_ms:1000`, `muzzy_decay_ms:0`: reuse a freed page for up to a second, then
///   return it (without the second, most of a load's policy ends up on pages split by
///   the returns; with more, a load's peak grows);
/// - `background_thread:true`, `max_background_threads:1`: one thread returns freed pages
///   when they are due, so that an idle process does not keep them.
pub const JEMALLOC_OPTIONS: &[u8] = b"thp:always,metadata_thp:always,dirty_decay_ms:1000,muzzy_decay_ms:0,background_thread:true,max_background_threads:1\0";

/// Makes jemalloc the program's global allocator, with [`JEMALLOC_OPTIONS`] (on Linux; on
/// other Unixes with jemalloc's defaults, and elsewhere the system allocator stays). Use once,
/// in the program's root module.
#[macro_export]
macro_rules! use_jemalloc {
    () => {
        #[cfg(unix)]
        #[global_allocator]
        static SCOPEGATE_ALLOCATOR: $crate::Jemalloc = $crate::Jemalloc;

        #[cfg(target_os = "linux")]
        #[unsafe(export_name = "_rjem_malloc_conf")]
        static SCOPEGATE_JEMALLOC_OPTIONS: &u8 = &$crate::JEMALLOC_OPTIONS[0];
    };
}

/// Why freed memory could not be returned.
#[derive(Debug, thiserror::Error)]
pub enum ReturnError {
    /// jemalloc answered the purge with an error number.
    #[error("jemalloc refused to purge its arenas (error {0})")]
    Refused(i32),
    /// This platform does not build jemalloc.
    #[error("this platform runs without jemalloc")]
    Unsupported,
}

/// Returns to the system every page jemalloc holds free, in every arena, now rather than
/// when its decay would. Call it after a policy load or change, once the objects the load
/// no longer needs are dropped (see the module documentation). Its cost is a system call
/// per free run of pages, so it is cheap when little was freed.
///
/// In a program that does not use jemalloc as its allocator this purges jemalloc's own
/// (empty) arenas and does nothing else.
pub fn return_freed_memory() -> Result<(), ReturnError> {
    #[cfg(unix)]
    {
        // "arena.<i>.purge" with i = MALLCTL_ARENAS_ALL (4096): every arena.
        const PURGE_ALL_ARENAS: &[u8] = b"arena.4096.purge\0";
        // SAFETY: the name is NUL-terminated, and this control reads and writes no value
        // (jemalloc requires null old/new pointers and a zero length for it).
        let code = unsafe {
            tikv_jemalloc_sys::mallctl(
                PURGE_ALL_ARENAS.as_ptr().cast(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            )
        };
        if code == 0 {
            Ok(())
        } else {
            Err(ReturnError::Refused(code))
        }
    }
    #[cfg(not(unix))]
    {
        Err(ReturnError::Unsupported)
    }
}
