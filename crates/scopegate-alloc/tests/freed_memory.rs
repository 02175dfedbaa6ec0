//! The options and the purge do what the crate says, in a program that uses them:
//! [`scopegate_alloc::return_freed_memory`] gives freed memory back at once (the options
//! alone would keep it for up to a second), and the heap is advised onto huge pages where
//! the kernel offers them.

scopegate_alloc::use_jemalloc!();

/// A field of `/proc/self/status` or `/proc/self/smaps_rollup`, in KiB.
fn kib(file: &str, field: &str) -> u64 {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} not in {file}"))
}

fn resident_kib() -> u64 {
    kib("/proc/self/status", "VmRSS")
}

/// Whether the kernel can back advised memory with transparent huge pages.
fn huge_pages_offered() -> bool {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .is_ok_and(|mode| !mode.contains("[never]"))
}

/// Whether some mapping of this process carries the "huge pages advised" flag.
fn some_mapping_advised_huge() -> bool {
    std::fs::read_to_string("/proc/self/smaps").is_ok_and(|smaps| {
        smaps
            .lines()
            .filter_map(|l| l.strip_prefix("VmFlags:"))
            .any(|flags| flags.split_whitespace().any(|f| f == "hg"))
    })
}

#[cfg(target_os = "linux")]
#[test]
fn freed_memory_is_given_back_when_asked() {
    const OBJECTS: usize = 100_000;
    const SIZE: usize = 2_000; // 200 MB in all, in a small size class
    let before = resident_kib();
    let objects: Vec<Vec<u8>> = (0..OBJECTS).map(|i| vec![i as u8; SIZE]).collect();
    let held = resident_kib();
    assert!(
        held > before + 150_000,
        "{before} KiB before, {held} KiB holding 200 MB"
    );
    if huge_pages_offered() {
        assert!(some_mapping_advised_huge(), "no mapping advised huge");
    }
    drop(objects);
    scopegate_alloc::return_freed_memory().expect("purge");
    let returned = resident_kib();
    assert!(
        returned < before + 50_000,
        "{before} KiB before, {returned} KiB after returning what was freed"
    );
}
