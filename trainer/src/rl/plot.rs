//! `recode-train plot`: a run's curves (reward, loss, KL, clipping and
//! lengths) from its `metrics.jsonl`, drawn to one PNG.
//!
//! Text is drawn with ab_glyph from a TrueType file read at run time
//! (`RECODE_PLOT_FONT`, else a common system font), so the binary builds
//! without fontconfig and carries no font of its own.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context};
use plotters::prelude::*;

use super::metrics::StepMetrics;

const FONT_FAMILY: &str = "sans-serif";

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers the first readable font once per process.
fn register_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let candidates: Vec<PathBuf> = std::env::var_os("RECODE_PLOT_FONT")
                .map(PathBuf::from)
                .into_iter()
                .chain(FONT_CANDIDATES.iter().map(PathBuf::from))
                .collect();
            for path in &candidates {
                if let Ok(bytes) = std::fs::read(path) {
                    // plotters keeps fonts for the life of the process.
                    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                    if plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, bytes).is_ok() {
                        return Ok(());
                    }
                }
            }
            Err("no TrueType font found for the plot's text; set RECODE_PLOT_FONT to a .ttf file".to_owned())
        })
        .clone()
        .map_err(|message| anyhow!(message))
}

/// One panel: a title and named series of (step, value).
struct Panel {
    title: &'static str,
    series: Vec<(String, Vec<(f64, f64)>)>,
}

fn series(rows: &[StepMetrics], value: impl Fn(&StepMetrics) -> Option<f64>) -> Vec<(f64, f64)> {
    rows.iter().filter_map(|row| value(row).filter(|v| v.is_finite()).map(|v| (row.step as f64, v))).collect()
}

fn panels(rows: &[StepMetrics]) -> Vec<Panel> {
    let mut reward = vec![("mean".to_owned(), series(rows, |r| Some(r.reward_mean)))];
    let mut part_names: Vec<&String> = rows.iter().flat_map(|r| r.reward_parts.keys()).collect();
    part_names.sort();
    part_names.dedup();
    for name in part_names {
        reward.push((name.clone(), series(rows, |r| r.reward_parts.get(name).copied())));
    }
    vec![
        Panel { title: "reward", series: reward },
        Panel { title: "loss", series: vec![("loss".into(), series(rows, |r| r.loss))] },
        Panel { title: "KL to the base model", series: vec![("kl".into(), series(rows, |r| r.kl))] },
        Panel {
            title: "clipped tokens (share)",
            series: vec![
                ("low".into(), series(rows, |r| Some(r.clip_low))),
                ("high".into(), series(rows, |r| Some(r.clip_high))),
            ],
        },
        Panel {
            title: "completion length (tokens)",
            series: vec![
                ("mean".into(), series(rows, |r| Some(r.completion_len_mean))),
                ("max".into(), series(rows, |r| Some(r.completion_len_max as f64))),
            ],
        },
        Panel {
            title: "zero-variance groups",
            series: vec![("groups".into(), series(rows, |r| Some(r.zero_variance_groups as f64)))],
        },
    ]
}

/// Draws `rows` to the PNG `out`.
pub fn draw(rows: &[StepMetrics], out: &Path) -> anyhow::Result<()> {
    if rows.is_empty() {
        bail!("there are no metrics to plot");
    }
    register_font()?;
    let root = BitMapBackend::new(out, (1500, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let last_step = rows.iter().map(|r| r.step).max().unwrap_or(1).max(1) as f64;
    for (area, panel) in root.split_evenly((2, 3)).iter().zip(panels(rows)) {
        let points = panel.series.iter().flat_map(|(_, points)| points.iter().map(|&(_, y)| y));
        let (low, high) = points.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| (lo.min(y), hi.max(y)));
        let (low, high) = if low.is_finite() { widen(low, high) } else { (0.0, 1.0) };
        let mut chart = ChartBuilder::on(area)
            .caption(panel.title, (FONT_FAMILY, 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..last_step, low..high)
            .map_err(plot_error)?;
        chart.configure_mesh().x_desc("step").label_style((FONT_FAMILY, 13)).draw().map_err(plot_error)?;
        for (index, (name, points)) in panel.series.iter().enumerate() {
            let color = Palette99::pick(index).to_rgba();
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
                .map_err(plot_error)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color.stroke_width(2)));
        }
        if panel.series.len() > 1 {
            chart
                .configure_series_labels()
                .label_font((FONT_FAMILY, 13))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(plot_error)?;
        }
    }
    root.present().map_err(plot_error).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// A value range with a margin, and some height when all values are equal.
fn widen(low: f64, high: f64) -> (f64, f64) {
    let span = if high > low { high - low } else { low.abs().max(1.0) };
    (low - 0.05 * span, high + 0.05 * span)
}

fn plot_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the plot: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_s_metrics_become_a_png() {
        let folder = tempfile::tempdir().unwrap();
        let rows: Vec<StepMetrics> = (1..=20)
            .map(|step| StepMetrics {
                step,
                reward_mean: step as f64 / 10.0,
                reward_parts: [("format".to_owned(), 1.0), ("correctness".to_owned(), step as f64 / 20.0)].into(),
                loss: Some(0.1 / step as f64),
                kl: Some(step as f64 * 1e-3),
                completion_len_mean: 40.0,
                completion_len_max: 64,
                ..StepMetrics::default()
            })
            .collect();
        let out = folder.path().join("curves.png");
        draw(&rows, &out).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(draw(&[], &out).is_err());
    }
}
