//! The scale benchmark's plots ([`Plot`]) as PNG: log–log line plots drawn
//! with `plotters` into an RGB buffer and encoded with `png`.
//!
//! No font is involved: `plotters` is built without a font feature (its
//! `ttf` feature needs system fonts through font-kit and fontconfig, its
//! `ab_glyph` feature needs the bytes of a font file), so no text is drawn
//! through it. The title, axis titles, tick labels and legend are drawn
//! with [`FONT`], a 5×7 pixel font (with two rows for descenders) written
//! for this file, one pixel at a time.
//!
//! Included with `#[path]` by the scale benchmark (`benches/scale.rs`) and
//! by its test (`tests/plot.rs`), so that `plotters` and `png` stay
//! dev-dependencies. The output depends only on the plot: the same numbers
//! give the same bytes.

use egress_tests::scale::{Plot, Unit};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Image width, pixels.
pub const WIDTH: u32 = 1040;
/// Image height, pixels.
pub const HEIGHT: u32 = 600;

/// Room around the plotting area: tick labels and the y-axis title on the
/// left, the legend on the right, the title above, x labels below.
const LEFT: i32 = 130;
const RIGHT: i32 = 300;
const TOP: i32 = 60;
const BOTTOM: i32 = 80;

/// Text scale: each font pixel is a `SCALE`×`SCALE` square.
const SCALE: i32 = 2;
/// Glyph cell: 5 columns and a column of space; 7 rows above the baseline
/// and 2 below.
const ADVANCE: i32 = 6;
const ASCENT: i32 = 7;

/// The x axis: hosts in the policy, 10 to 100,000.
const X_DECADES: (i32, i32) = (1, 5);

const GRID: RGBColor = RGBColor(0xd4, 0xd4, 0xd4);
const MINOR_GRID: RGBColor = RGBColor(0xee, 0xee, 0xee);
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn err(e: impl std::fmt::Debug) -> String {
    format!("drawing the plot: {e:?}")
}

/// The plot as a PNG file's bytes ([`WIDTH`]×[`HEIGHT`], 8-bit RGB).
pub fn png(plot: &Plot) -> Result<Vec<u8>, String> {
    let mut rgb = vec![0xff; WIDTH as usize * HEIGHT as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, plot)?;
        root.present().map_err(err)?;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(err)?;
        w.write_image_data(&rgb).map_err(err)?;
        w.finish().map_err(err)?;
    }
    Ok(out)
}

/// The decades the y axis spans: from the smallest value's down to the
/// largest value's up, at least one.
fn y_decades(plot: &Plot) -> (i32, i32) {
    let logs = plot
        .series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.1 > 0.0 && p.1.is_finite())
        .map(|p| p.1.log10());
    let (lo, hi) = logs.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0, 1);
    }
    let lo = lo.floor() as i32;
    (lo, (hi.ceil() as i32).max(lo + 1))
}

fn pow10(e: i32) -> f64 {
    10f64.powi(e)
}

/// A y tick's label: a time for [`Unit::Nanoseconds`], else a count with
/// an SI prefix.
fn y_label(unit: Unit, e: i32) -> String {
    let mantissa = 10usize.pow(e.rem_euclid(3) as u32);
    let group = e.div_euclid(3);
    match unit {
        Unit::Nanoseconds => match group {
            g if g < 0 => format!("{} ns", pow10(e)),
            0 => format!("{mantissa} ns"),
            1 => format!("{mantissa} µs"),
            2 => format!("{mantissa} ms"),
            _ => format!("{} s", 10u64.pow((e - 9).clamp(0, 18) as u32)),
        },
        Unit::Count => match group {
            g if g < 0 => format!("{}", pow10(e)),
            0 => format!("{mantissa}"),
            1 => format!("{mantissa}k"),
            2 => format!("{mantissa}M"),
            3 => format!("{mantissa}G"),
            _ => format!("1e{e}"),
        },
    }
}

/// An x tick's label: 10, 100, 1k, 10k, 100k.
fn x_label(e: i32) -> String {
    match e {
        e if e >= 3 => format!("{}k", 10usize.pow((e - 3) as u32)),
        e => format!("{}", 10usize.pow(e.max(0) as u32)),
    }
}

fn draw(root: &Area, plot: &Plot) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let (y0, y1) = y_decades(plot);
    let (x0, x1) = X_DECADES;
    let (xr, yr) = ((pow10(x0), pow10(x1)), (pow10(y0), pow10(y1)));
    let mut chart = ChartBuilder::on(root)
        .margin_top(TOP)
        .margin_bottom(BOTTOM)
        .margin_left(LEFT)
        .margin_right(RIGHT)
        .build_cartesian_2d((xr.0..xr.1).log_scale(), (yr.0..yr.1).log_scale())
        .map_err(err)?;

    // Grid: a line per decade, lighter lines at 2..9 × each decade.
    let mut minor = Vec::new();
    let mut major = Vec::new();
    for e in x0..=x1 {
        let x = pow10(e);
        major.push(vec![(x, yr.0), (x, yr.1)]);
        if e < x1 {
            minor.extend((2..10).map(|m| vec![(x * f64::from(m), yr.0), (x * f64::from(m), yr.1)]));
        }
    }
    for e in y0..=y1 {
        let y = pow10(e);
        major.push(vec![(xr.0, y), (xr.1, y)]);
        if e < y1 {
            minor.extend((2..10).map(|m| vec![(xr.0, y * f64::from(m)), (xr.1, y * f64::from(m))]));
        }
    }
    chart
        .draw_series(minor.into_iter().map(|p| PathElement::new(p, MINOR_GRID)))
        .map_err(err)?;
    chart
        .draw_series(major.into_iter().map(|p| PathElement::new(p, GRID)))
        .map_err(err)?;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(xr.0, yr.0), (xr.1, yr.1)],
            INK.stroke_width(1),
        )))
        .map_err(err)?;

    // The series: lines and a dot per measured size.
    for s in &plot.series {
        let colour = RGBColor(s.rgb.0, s.rgb.1, s.rgb.2);
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|p| p.1 > 0.0 && p.1.is_finite() && p.0 > 0.0)
            .collect();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))
            .map_err(err)?;
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, colour.filled())))
            .map_err(err)?;
    }

    // Text, in pixels of the whole image.
    let (left, top) = chart.backend_coord(&(xr.0, yr.1));
    let (right, bottom) = chart.backend_coord(&(xr.1, yr.0));
    let t = Text { root };
    t.bold((left + right) / 2, TOP / 2, plot.title, Anchor::Middle)?;
    for e in x0..=x1 {
        let (x, _) = chart.backend_coord(&(pow10(e), yr.0));
        root.draw(&PathElement::new(vec![(x, bottom), (x, bottom + 5)], INK))
            .map_err(err)?;
        t.line(x, bottom + 18, &x_label(e), Anchor::Middle, INK)?;
    }
    t.line(
        (left + right) / 2,
        bottom + 52,
        plot.x_title,
        Anchor::Middle,
        INK,
    )?;
    for e in y0..=y1 {
        let (_, y) = chart.backend_coord(&(xr.0, pow10(e)));
        root.draw(&PathElement::new(vec![(left - 5, y), (left, y)], INK))
            .map_err(err)?;
        t.line(left - 10, y, &y_label(plot.unit, e), Anchor::End, INK)?;
    }
    t.vertical(24, (top + bottom) / 2, plot.y_title)?;

    // The legend, right of the plotting area.
    for (i, s) in plot.series.iter().enumerate() {
        let colour = RGBColor(s.rgb.0, s.rgb.1, s.rgb.2);
        let y = top + 14 + 28 * i as i32;
        let x = right + 20;
        root.draw(&PathElement::new(
            vec![(x, y), (x + 30, y)],
            colour.stroke_width(2),
        ))
        .map_err(err)?;
        root.draw(&Circle::new((x + 15, y), 3, colour.filled()))
            .map_err(err)?;
        t.line(x + 40, y, s.name, Anchor::Start, INK)?;
    }
    Ok(())
}

/// Where a line of text sits relative to the point it is drawn at.
#[derive(Debug, Clone, Copy)]
enum Anchor {
    Start,
    Middle,
    End,
}

/// Draws text with [`FONT`], pixel by pixel.
struct Text<'r, 'a> {
    root: &'r Area<'a>,
}

impl Text<'_, '_> {
    /// The width of `s` in pixels.
    fn width(s: &str) -> i32 {
        (s.chars().count() as i32 * ADVANCE - 1).max(0) * SCALE
    }

    /// One line of `s`, its x-height centred on `y`.
    fn line(
        &self,
        x: i32,
        y: i32,
        s: &str,
        anchor: Anchor,
        colour: RGBColor,
    ) -> Result<(), String> {
        let x = match anchor {
            Anchor::Start => x,
            Anchor::Middle => x - Self::width(s) / 2,
            Anchor::End => x - Self::width(s),
        };
        let top = y - (ASCENT + 2) * SCALE / 2;
        self.glyphs(s, |col, row| (x + col * SCALE, top + row * SCALE), colour)
    }

    /// A heavier line for the title: drawn twice, a pixel apart.
    fn bold(&self, x: i32, y: i32, s: &str, anchor: Anchor) -> Result<(), String> {
        self.line(x, y, s, anchor, INK)?;
        self.line(x + 1, y, s, anchor, INK)
    }

    /// A line read from bottom to top, centred on `(x, y)`.
    fn vertical(&self, x: i32, y: i32, s: &str) -> Result<(), String> {
        let bottom = y + Self::width(s) / 2;
        let left = x - ASCENT * SCALE / 2;
        self.glyphs(
            s,
            |col, row| (left + row * SCALE, bottom - col * SCALE),
            INK,
        )
    }

    /// Draws the lit pixels of `s`; `at(column, row)` places the font pixel
    /// `row` of column `column` (counted over the whole line).
    fn glyphs(
        &self,
        s: &str,
        at: impl Fn(i32, i32) -> (i32, i32),
        colour: RGBColor,
    ) -> Result<(), String> {
        for (i, c) in s.chars().enumerate() {
            let rows = glyph(c);
            for (row, bits) in rows.split(' ').enumerate() {
                for (col, b) in bits.bytes().enumerate() {
                    if b != b'#' {
                        continue;
                    }
                    let (px, py) = at(i as i32 * ADVANCE + col as i32, row as i32);
                    for dy in 0..SCALE {
                        for dx in 0..SCALE {
                            self.root
                                .draw_pixel((px + dx, py + dy), &colour)
                                .map_err(err)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The rows of `c`'s glyph (a box for a character [`FONT`] lacks).
fn glyph(c: char) -> &'static str {
    FONT.iter()
        .find(|g| g.0 == c)
        .map_or("##### #...# #...# #...# #...# #...# #####", |g| g.1)
}

/// A 5×7 pixel font: per character, its rows from the top separated by
/// spaces, `#` lit. Rows 1 to 7 stand on the baseline; rows 8 and 9, when
/// present, are descenders.
const FONT: &[(char, &str)] = &[
    (' ', ""),
    ('0', ".###. #...# #..## #.#.# ##..# #...# .###."),
    ('1', "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###."),
    ('2', ".###. #...# ....# ...#. ..#.. .#... #####"),
    ('3', "####. ....# ....# .###. ....# ....# ####."),
    ('4', "...#. ..##. .#.#. #..#. ##### ...#. ...#."),
    ('5', "##### #.... ####. ....# ....# #...# .###."),
    ('6', "..##. .#... #.... ####. #...# #...# .###."),
    ('7', "##### ....# ...#. ..#.. .#... .#... .#..."),
    ('8', ".###. #...# #...# .###. #...# #...# .###."),
    ('9', ".###. #...# #...# .#### ....# ...#. .##.."),
    ('A', ".###. #...# #...# ##### #...# #...# #...#"),
    ('B', "####. #...# #...# ####. #...# #...# ####."),
    ('C', ".###. #...# #.... #.... #.... #...# .###."),
    ('D', "####. #...# #...# #...# #...# #...# ####."),
    ('E', "##### #.... #.... ####. #.... #.... #####"),
    ('F', "##### #.... #.... ####. #.... #.... #...."),
    ('G', ".###. #...# #.... #.### #...# #...# .####"),
    ('H', "#...# #...# #...# ##### #...# #...# #...#"),
    ('I', ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###."),
    ('J', "..### ...#. ...#. ...#. ...#. #..#. .##.."),
    ('K', "#...# #..#. #.#.. ##... #.#.. #..#. #...#"),
    ('L', "#.... #.... #.... #.... #.... #.... #####"),
    ('M', "#...# ##.## #.#.# #.#.# #...# #...# #...#"),
    ('N', "#...# #...# ##..# #.#.# #..## #...# #...#"),
    ('O', ".###. #...# #...# #...# #...# #...# .###."),
    ('P', "####. #...# #...# ####. #.... #.... #...."),
    ('Q', ".###. #...# #...# #...# #.#.# #..#. .##.#"),
    ('R', "####. #...# #...# ####. #.#.. #..#. #...#"),
    ('S', ".#### #.... #.... .###. ....# ....# ####."),
    ('T', "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#.."),
    ('U', "#...# #...# #...# #...# #...# #...# .###."),
    ('V', "#...# #...# #...# #...# #...# .#.#. ..#.."),
    ('W', "#...# #...# #...# #.#.# #.#.# #.#.# .#.#."),
    ('X', "#...# #...# .#.#. ..#.. .#.#. #...# #...#"),
    ('Y', "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#.."),
    ('Z', "##### ....# ...#. ..#.. .#... #.... #####"),
    ('a', "..... ..... .###. ....# .#### #...# .####"),
    ('b', "#.... #.... #.##. ##..# #...# #...# ####."),
    ('c', "..... ..... .###. #.... #.... #...# .###."),
    ('d', "....# ....# .##.# #..## #...# #...# .####"),
    ('e', "..... ..... .###. #...# ##### #.... .###."),
    ('f', "..##. .#..# .#... ###.. .#... .#... .#..."),
    ('g', "..... ..... .#### #...# #...# #...# .#### ....# .###."),
    ('h', "#.... #.... #.##. ##..# #...# #...# #...#"),
    ('i', "..#.. ..... .##.. ..#.. ..#.. ..#.. .###."),
    ('j', "...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##.."),
    ('k', "#.... #.... #..#. #.#.. ##... #.#.. #..#."),
    ('l', ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###."),
    ('m', "..... ..... ##.#. #.#.# #.#.# #.#.# #.#.#"),
    ('n', "..... ..... #.##. ##..# #...# #...# #...#"),
    ('o', "..... ..... .###. #...# #...# #...# .###."),
    ('p', "..... ..... ####. #...# #...# #...# ####. #.... #...."),
    ('q', "..... ..... .#### #...# #...# #...# .#### ....# ....#"),
    ('r', "..... ..... #.##. ##..# #.... #.... #...."),
    ('s', "..... ..... .###. #.... .###. ....# ####."),
    ('t', ".#... .#... ###.. .#... .#... .#..# ..##."),
    ('u', "..... ..... #...# #...# #...# #..## .##.#"),
    ('v', "..... ..... #...# #...# #...# .#.#. ..#.."),
    ('w', "..... ..... #...# #...# #.#.# #.#.# .#.#."),
    ('x', "..... ..... #...# .#.#. ..#.. .#.#. #...#"),
    ('y', "..... ..... #...# #...# #...# #...# .#### ....# .###."),
    ('z', "..... ..... ##### ...#. ..#.. .#... #####"),
    ('.', "..... ..... ..... ..... ..... .##.. .##.."),
    (',', "..... ..... ..... ..... ..... .##.. .##.. ..#.. .#..."),
    (':', "..... .##.. .##.. ..... .##.. .##.. ....."),
    (';', "..... .##.. .##.. ..... .##.. .##.. ..#.. .#..."),
    ('(', "...#. ..#.. .#... .#... .#... ..#.. ...#."),
    (')', ".#... ..#.. ...#. ...#. ...#. ..#.. .#..."),
    ('-', "..... ..... ..... ##### ..... ..... ....."),
    ('+', "..... ..#.. ..#.. ##### ..#.. ..#.. ....."),
    ('=', "..... ..... ##### ..... ##### ..... ....."),
    ('/', "..... ....# ...#. ..#.. .#... #.... ....."),
    ('%', "##..# ##..# ...#. ..#.. .#... #..## #..##"),
    ('\'', "..#.. ..#.. .#... ..... ..... ..... ....."),
    ('_', "..... ..... ..... ..... ..... ..... #####"),
    ('µ', "..... ..... #...# #...# #...# #..## ###.# #.... #...."),
    ('×', "..... #...# .#.#. ..#.. .#.#. #...# ....."),
];

#[cfg(test)]
mod font_tests {
    #[test]
    fn every_glyph_is_5_wide_7_to_9_high_and_listed_once() {
        const FONT: &[(char, &str)] = super::FONT;
        for (i, (c, rows)) in FONT.iter().enumerate() {
            assert!(FONT.iter().skip(i + 1).all(|g| g.0 != *c), "{c:?} twice");
            if *c == ' ' {
                continue;
            }
            let rows: Vec<&str> = rows.split(' ').collect();
            assert!((7..=9).contains(&rows.len()), "{c:?}: {} rows", rows.len());
            for r in rows {
                assert!(
                    r.len() == 5 && r.bytes().all(|b| b == b'#' || b == b'.'),
                    "{c:?}: row {r:?}"
                );
            }
        }
        for c in ('0'..='9').chain('A'..='Z').chain('a'..='z') {
            assert!(FONT.iter().any(|g| g.0 == c), "{c:?} missing");
        }
    }
}
