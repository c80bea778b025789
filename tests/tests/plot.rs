//! The scale benchmark's plots (`src/plot.rs`, drawn by `benches/scale.rs`)
//! from a small synthetic report: the plot data survives the trip through
//! `results.json` (`EGRESS_BENCH_REPLOT=1`), and each PNG decodes, has the
//! expected size and is not blank. Nothing is measured: no `.wasm` needed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

#[path = "../src/plot.rs"]
mod plot;

use egress_tests::scale::{self, CedarRun, Plot, Report, SizeReport, Stats};

fn stats(p50: f64) -> Stats {
    Stats {
        p50,
        p90: p50 * 1.5,
        p99: p50 * 2.0,
        n: 100,
    }
}

/// Three sizes; Cedar and the naive matcher only at the smaller two, as
/// the full run leaves them out at the largest sizes. Values are exact in
/// binary with at most three decimals, so `results.json` keeps them.
fn report() -> Report {
    let size = |hosts: usize, k: f64, slow: bool| SizeReport {
        hosts,
        rules: hosts * 2,
        compile_ms: 0.125 * k,
        table_bytes: 300 * hosts,
        plugin_config_bytes: 420 * hosts,
        linear_memory_bytes: 1_114_112 + 512 * hosts,
        wasm: stats(500.0 + 50.0 * k),
        native: stats(250.0 + 25.0 * k),
        naive: slow.then(|| stats(400.0 * k)),
        cedar_per_host: slow.then(|| (stats(90_000.0 * k), CedarRun::default())),
        cedar_grouped: slow.then(|| (stats(20_000.0 * k), CedarRun::default())),
        ..SizeReport::default()
    };
    Report {
        sizes: vec![
            size(10, 1.0, true),
            size(100, 8.0, true),
            size(1_000, 64.0, false),
        ],
        wasm_bytes: vec![("wasm32-wasip1", 150_000)],
    }
}

/// The RGB pixels of a PNG, after checking its signature, size and format.
fn decode(png_bytes: &[u8]) -> Vec<u8> {
    assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (plot::WIDTH, plot::HEIGHT));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    buf
}

fn pixels_of(rgb: &[u8], c: (u8, u8, u8)) -> usize {
    rgb.chunks_exact(3)
        .filter(|p| (p[0], p[1], p[2]) == c)
        .count()
}

#[test]
fn plots_keep_the_figures_and_survive_results_json() {
    let report = report();
    let plots = report.plots();
    let files: Vec<&str> = plots.iter().map(|p| p.file).collect();
    assert_eq!(files, ["scale-decisions.png", "scale-sizes.png"]);
    let points = |p: &Plot, name: &str| {
        p.series
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no series {name}"))
            .points
            .clone()
    };
    assert_eq!(
        points(&plots[0], "native"),
        [(10.0, 275.0), (100.0, 450.0), (1000.0, 1850.0)]
    );
    assert_eq!(
        points(&plots[0], "Cedar per host"),
        [(10.0, 90_000.0), (100.0, 720_000.0)]
    );
    assert_eq!(
        points(&plots[1], "compile µs").last(),
        Some(&(1000.0, 8000.0))
    );
    // The replot path reads the numbers back from results.json.
    let again = scale::plots(&scale::results_from_json(&report.json()).unwrap());
    assert_eq!(again, plots);
}

#[test]
fn png_plots_decode_and_are_drawn() {
    for p in report().plots() {
        let bytes = plot::png(&p).unwrap();
        assert_eq!(
            plot::png(&p).unwrap(),
            bytes,
            "{}: not deterministic",
            p.file
        );
        let rgb = decode(&bytes);
        let white = pixels_of(&rgb, (0xff, 0xff, 0xff));
        let all = rgb.len() / 3;
        assert!(white < all * 95 / 100, "{}: almost blank", p.file);
        assert!(white > all / 2, "{}: hardly any background", p.file);
        // Every series' line and the text are there.
        for s in &p.series {
            assert!(
                pixels_of(&rgb, s.rgb) > 200,
                "{}: series {} not drawn",
                p.file,
                s.name
            );
        }
        assert!(
            pixels_of(&rgb, (0x22, 0x22, 0x22)) > 2000,
            "{}: no text",
            p.file
        );
    }
}

#[test]
fn an_empty_report_still_draws_axes() {
    for p in Report::default().plots() {
        assert!(p.series.iter().all(|s| s.points.is_empty()));
        let rgb = decode(&plot::png(&p).unwrap());
        assert!(pixels_of(&rgb, (0xff, 0xff, 0xff)) < rgb.len() / 3);
    }
}
