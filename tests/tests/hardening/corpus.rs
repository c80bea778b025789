//! The fuzz targets (tests/src/fuzz.rs) over their committed seed corpora
//! (`fuzz/seeds/<target>/`) and every input that once made one fail
//! (`fuzz/regressions/<target>/`), then over inputs from a fixed-seed
//! generator, so that `make test` keeps each finding fixed and each target
//! alive between `make fuzz` runs.

use std::path::{Path, PathBuf};

use egress_tests::fuzz::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Runs `f` on `data`, naming the input if it panics.
fn run(name: &str, what: &str, f: fn(&[u8]), data: &[u8]) {
    if let Err(e) = std::panic::catch_unwind(|| f(data)) {
        eprintln!("fuzz target {name} failed on {what}");
        std::panic::resume_unwind(e);
    }
}

#[test]
fn seeds_and_regressions_pass() {
    let mut counts = Vec::new();
    for (name, f) in TARGETS {
        let mut n = 0;
        for sub in ["seeds", "regressions"] {
            for p in inputs(&fuzz_dir().join(sub).join(name)) {
                run(
                    name,
                    &p.display().to_string(),
                    f,
                    &std::fs::read(&p).unwrap(),
                );
                n += 1;
            }
        }
        counts.push((name, n));
    }
    // Every target has seeds: an empty directory would test nothing.
    for (name, n) in &counts {
        assert!(*n > 0, "fuzz/seeds/{name} is empty");
    }
}

/// xorshift64*: a fixed sequence of inputs, the same on every machine.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next().to_le_bytes()[0]).collect()
    }
}

#[test]
fn generated_inputs_pass() {
    // Few for the targets that run the `.wasm` or compile large inputs.
    for (name, f) in TARGETS {
        let cases = match name {
            "filter" => 40,
            "source" | "table" | "plugin_config" => 100,
            _ => 300,
        };
        let mut g = Bytes(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
        for i in 0..cases {
            let len = (g.next() % 512) as usize;
            let data = g.fill(len);
            run(name, &format!("generated input {i}"), f, &data);
        }
    }
    // The comparisons compare something: rules decide, both ways, and
    // some requests are refused before rules.
    let seen = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let s = &egress_tests::fuzz::SEEN;
    let (compared, by_rule, allowed, refused) = (
        seen(&s.compared),
        seen(&s.by_rule),
        seen(&s.allowed),
        seen(&s.refused),
    );
    eprintln!(
        "decide: {compared} decisions compared, {by_rule} by a rule, {allowed} allowed, {refused} refused"
    );
    assert!(compared >= 200, "{compared} decisions compared");
    assert!(
        by_rule * 20 >= compared,
        "{by_rule} of {compared} decided by a rule"
    );
    assert!(
        allowed * 10 >= compared && (compared - allowed) * 10 >= compared,
        "{allowed} of {compared} allowed"
    );
    assert!(
        refused > 0 && refused * 2 < compared,
        "{refused} of {compared} refused"
    );
}
