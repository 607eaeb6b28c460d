//! A line chart of one lab test's values over time, drawn on the server as SVG.
//!
//! The chart needs neither script nor stylesheet: every colour is an attribute, the size comes
//! only from the `viewBox` (so it scales to a 360 px phone as well as to paper), and the
//! `<title>` and `<desc>` say in words what the picture shows. Shapes, not colour alone, mark
//! the highlighted result and the results outside the reference range.

use std::fmt::{self, Write};

/// One measured value.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// When it was measured, in UTC microseconds since the Unix epoch.
    pub at: i64,
    /// The measured value, in the chart's unit.
    pub value: f64,
    /// The day it was measured, as the page writes dates; empty: the UTC date, ISO.
    pub day: String,
}

/// The reference range, either bound may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Band {
    /// The lowest value still in range, if there is one.
    pub low: Option<f64>,
    /// The highest value still in range, if there is one.
    pub high: Option<f64>,
}

/// Draws the chart. `title` is the test's name (plain text, must be XML-escaped), `unit` may be empty.
/// Returns the SVG element as a String, safe to embed in HTML unescaped (askama `|safe`).
///
/// `highlight` is an index into `points` (for instance the result the page is about). Points are
/// connected in time order whatever their order in the slice. Points with a non-finite value or a
/// time outside the calendar's range are left out; with nothing left to draw the answer is empty.
pub fn trend_svg(
    title: &str,
    unit: &str,
    points: &[Point],
    band: Option<&Band>,
    highlight: Option<usize>,
) -> String {
    // Writing into a String cannot fail, so the empty fallback is never taken.
    render(title, unit, points, band, highlight).unwrap_or_default()
}

// The drawing is sized so that 18-unit text is still about 12.75 px tall when the chart is
// squeezed to 340 px wide.
const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 260.0;
const FONT_SIZE: f64 = 18.0;
/// The plot's left edge when the tick labels are short; longer labels push it right.
const MIN_PLOT_LEFT: f64 = 56.0;
/// Room between a tick label's end and the plot, enough for a marker on the first point.
const LABEL_GAP: f64 = 14.0;
const PLOT_RIGHT: f64 = WIDTH - 16.0;
const PLOT_TOP: f64 = 44.0;
const PLOT_BOTTOM: f64 = HEIGHT - 44.0;

const TEXT_COLOUR: &str = "#374151";
const LINE_COLOUR: &str = "#1d4ed8";
const GRID_COLOUR: &str = "#d1d5db";
const AXIS_COLOUR: &str = "#6b7280";
const BAND_FILL: &str = "#d9f2e3";
const BAND_EDGE: &str = "#15803d";
const OUT_OF_RANGE_COLOUR: &str = "#b91c1c";
const WHITE: &str = "#ffffff";

const POINT_RADIUS: f64 = 5.0;
const HIGHLIGHT_RADIUS: f64 = 8.0;

/// A point that survived the checks, with its date already written out.
struct Sample {
    index: usize,
    at: i64,
    value: f64,
    date: String,
}

/// The reference range with unusable bounds removed.
struct Reference {
    low: Option<f64>,
    high: Option<f64>,
}

impl Reference {
    /// Keeps only finite bounds; a band with no bound, or with its bounds the wrong way round,
    /// is not drawn at all.
    fn from_band(band: Option<&Band>) -> Option<Reference> {
        let band = band?;
        let low = band.low.filter(|v| v.is_finite());
        let high = band.high.filter(|v| v.is_finite());
        match (low, high) {
            (None, None) => None,
            (Some(low), Some(high)) if low > high => None,
            _ => Some(Reference { low, high }),
        }
    }

    fn excludes(&self, value: f64) -> bool {
        self.low.is_some_and(|low| value < low) || self.high.is_some_and(|high| value > high)
    }
}

/// The value axis: ticks at `(first + k) * step` for `k` in `0..=intervals`.
struct Scale {
    first: f64,
    step: f64,
    intervals: usize,
}

impl Scale {
    /// A range with round tick values that covers `min..=max`, even when the two are equal.
    fn covering(mut min: f64, mut max: f64) -> Scale {
        if max <= min {
            let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
            min -= pad;
            max += pad;
        }
        let step = nice_step((max - min) / 4.0);
        let first = (min / step).floor();
        let last = (max / step).ceil();
        let intervals = (last - first).round();
        if step.is_finite() && step > 0.0 && intervals.is_finite() && intervals >= 1.0 {
            Scale {
                first,
                step,
                // A nice step over a quarter of the span gives at most nine intervals; the cap
                // only guards against surprises in floating point.
                intervals: (intervals as usize).min(20),
            }
        } else {
            // Only reachable for values near the limits of f64; show the bare extremes.
            Scale {
                first: 0.0,
                step: 0.0,
                intervals: 0,
            }
        }
    }

    fn low(&self) -> f64 {
        self.first * self.step
    }

    fn high(&self) -> f64 {
        (self.first + self.intervals as f64) * self.step
    }

    fn ticks(&self) -> impl Iterator<Item = f64> + '_ {
        (0..=self.intervals).map(|k| (self.first + k as f64) * self.step)
    }

    /// The vertical position of `value`; larger values sit higher.
    fn y(&self, value: f64) -> f64 {
        let (low, high) = (self.low(), self.high());
        let span = high - low;
        if !(span.is_finite() && span > 0.0) {
            return (PLOT_TOP + PLOT_BOTTOM) / 2.0;
        }
        let y = PLOT_BOTTOM - (value - low) / span * (PLOT_BOTTOM - PLOT_TOP);
        y.clamp(PLOT_TOP, PLOT_BOTTOM)
    }
}

/// Rounds `raw` up to 1, 2, 2.5 or 5 times a power of ten.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 2.5 {
        2.5
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// Where the plot starts so that the widest tick label fits to its left.
fn plot_left<'a>(labels: impl Iterator<Item = &'a str>) -> f64 {
    // No font metrics on the server: digits in common sans-serif faces are about 0.6 em wide,
    // so 0.62 em a character errs on the roomy side.
    let widest = labels.map(|l| l.chars().count()).max().unwrap_or(0);
    let needed = 8.0 + widest as f64 * 0.62 * FONT_SIZE + LABEL_GAP;
    needed.ceil().clamp(MIN_PLOT_LEFT, WIDTH / 2.0)
}

/// The horizontal axis: time mapped linearly onto the plot's width.
struct TimeAxis {
    start: i64,
    end: i64,
    left: f64,
}

impl TimeAxis {
    fn x(&self, at: i64) -> f64 {
        let span = i128::from(self.end) - i128::from(self.start);
        if span <= 0 {
            return (self.left + PLOT_RIGHT) / 2.0;
        }
        let share = (i128::from(at) - i128::from(self.start)) as f64 / span as f64;
        self.left + share * (PLOT_RIGHT - self.left)
    }
}

fn render(
    title: &str,
    unit: &str,
    points: &[Point],
    band: Option<&Band>,
    highlight: Option<usize>,
) -> Result<String, fmt::Error> {
    let samples = usable_samples(points);
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return Ok(String::new());
    };
    let reference = Reference::from_band(band);

    let bounds = reference
        .iter()
        .flat_map(|r| [r.low, r.high])
        .flatten()
        .chain(samples.iter().map(|s| s.value));
    let (min, max) = bounds.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let scale = Scale::covering(min, max);
    let ticks: Vec<(f64, String)> = scale.ticks().map(|t| (t, format_number(t))).collect();
    let left = plot_left(ticks.iter().map(|(_, label)| label.as_str()));
    let time = TimeAxis {
        start: first.at,
        end: last.at,
        left,
    };

    let id = chart_id(title, unit, points, band);
    let mut svg = String::new();
    write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title {id}-desc" font-family="system-ui, sans-serif" font-size="{FONT_SIZE}">"#
    )?;
    write!(
        svg,
        r#"<title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(title),
        escape(&describe(&samples, unit, reference.as_ref()))
    )?;

    if let Some(reference) = &reference {
        // An open end shades all the way to the plot's edge.
        let top = reference.high.map_or(PLOT_TOP, |high| scale.y(high));
        let bottom = reference.low.map_or(PLOT_BOTTOM, |low| scale.y(low));
        write!(
            svg,
            r#"<rect class="band" x="{}" y="{}" width="{}" height="{}" fill="{BAND_FILL}"/>"#,
            coord(left),
            coord(top),
            coord(PLOT_RIGHT - left),
            coord(bottom - top)
        )?;
    }

    for (tick, label) in &ticks {
        let y = coord(scale.y(*tick));
        write!(
            svg,
            r#"<line class="grid" x1="{}" x2="{}" y1="{y}" y2="{y}" stroke="{GRID_COLOUR}" stroke-width="1"/>"#,
            coord(left),
            coord(PLOT_RIGHT)
        )?;
        write!(
            svg,
            r#"<text class="tick" x="{}" y="{}" text-anchor="end" fill="{TEXT_COLOUR}">{}</text>"#,
            coord(left - LABEL_GAP),
            coord(scale.y(*tick) + FONT_SIZE / 3.0),
            escape(label)
        )?;
    }

    if let Some(reference) = &reference {
        // Dashed edges keep the range visible when the light fill is lost in print.
        for bound in [reference.low, reference.high].into_iter().flatten() {
            let y = coord(scale.y(bound));
            write!(
                svg,
                r#"<line class="band-edge" x1="{}" x2="{}" y1="{y}" y2="{y}" stroke="{BAND_EDGE}" stroke-width="1.5" stroke-dasharray="6 4"/>"#,
                coord(left),
                coord(PLOT_RIGHT)
            )?;
        }
    }

    write!(
        svg,
        r#"<line class="axis" x1="{}" x2="{}" y1="{bottom}" y2="{bottom}" stroke="{AXIS_COLOUR}" stroke-width="1.5"/>"#,
        coord(left),
        coord(PLOT_RIGHT),
        bottom = coord(PLOT_BOTTOM)
    )?;

    let date_y = coord(PLOT_BOTTOM + FONT_SIZE + 8.0);
    if first.date == last.date {
        write!(
            svg,
            r#"<text class="date" x="{}" y="{date_y}" text-anchor="middle" fill="{TEXT_COLOUR}">{}</text>"#,
            coord((left + PLOT_RIGHT) / 2.0),
            escape(&first.date)
        )?;
    } else {
        write!(
            svg,
            r#"<text class="date" x="{}" y="{date_y}" text-anchor="start" fill="{TEXT_COLOUR}">{}</text>"#,
            coord(left),
            escape(&first.date)
        )?;
        write!(
            svg,
            r#"<text class="date" x="{}" y="{date_y}" text-anchor="end" fill="{TEXT_COLOUR}">{}</text>"#,
            coord(PLOT_RIGHT),
            escape(&last.date)
        )?;
    }

    if !unit.trim().is_empty() {
        write!(
            svg,
            r#"<text class="unit" x="8" y="{}" fill="{TEXT_COLOUR}">{}</text>"#,
            coord(FONT_SIZE + 4.0),
            escape(unit.trim())
        )?;
    }

    if samples.len() > 1 {
        let path: Vec<String> = samples
            .iter()
            .map(|s| format!("{},{}", coord(time.x(s.at)), coord(scale.y(s.value))))
            .collect();
        write!(
            svg,
            r#"<polyline class="line" points="{}" fill="none" stroke="{LINE_COLOUR}" stroke-width="2.5" stroke-linejoin="round" stroke-linecap="round"/>"#,
            path.join(" ")
        )?;
    }

    // The highlighted point goes last so that nothing covers it.
    let is_highlight = |s: &Sample| highlight == Some(s.index);
    let ordered = samples
        .iter()
        .filter(|s| !is_highlight(s))
        .chain(samples.iter().filter(|s| is_highlight(s)));
    for sample in ordered {
        let x = time.x(sample.at);
        let y = scale.y(sample.value);
        let big = is_highlight(sample);
        let radius = if big { HIGHLIGHT_RADIUS } else { POINT_RADIUS };
        let outside = reference.as_ref().is_some_and(|r| r.excludes(sample.value));
        if outside {
            let reach = radius + 5.0;
            write!(
                svg,
                r#"<path class="out-of-range" d="M{x},{top} L{right},{y} L{x},{bottom} L{left},{y} Z" fill="{WHITE}" stroke="{OUT_OF_RANGE_COLOUR}" stroke-width="2"/>"#,
                x = coord(x),
                y = coord(y),
                top = coord(y - reach),
                bottom = coord(y + reach),
                left = coord(x - reach),
                right = coord(x + reach)
            )?;
        }
        let mut tooltip = format!("{}: {}", sample.date, with_unit(sample.value, unit));
        if outside {
            tooltip.push_str(" (outside the reference range)");
        }
        write!(
            svg,
            r#"<circle class="{class}" cx="{}" cy="{}" r="{}" fill="{LINE_COLOUR}" stroke="{WHITE}" stroke-width="{stroke}"><title>{}</title></circle>"#,
            coord(x),
            coord(y),
            coord(radius),
            escape(&tooltip),
            class = if big { "point highlight" } else { "point" },
            stroke = if big { 2 } else { 1 }
        )?;
    }

    svg.push_str("</svg>");
    Ok(svg)
}

/// The points worth drawing, oldest first, remembering where each came from.
fn usable_samples(points: &[Point]) -> Vec<Sample> {
    let mut samples: Vec<Sample> = points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.value.is_finite())
        .filter_map(|(index, p)| {
            let iso = utc_date(p.at)?;
            let date = if p.day.is_empty() { iso } else { p.day.clone() };
            Some(Sample {
                index,
                at: p.at,
                value: p.value,
                date,
            })
        })
        .collect();
    // A stable sort, so of two results taken at the same instant the later one listed is "latest".
    samples.sort_by_key(|s| s.at);
    samples
}

/// The calendar date of `at` in UTC as YYYY-MM-DD, or `None` when it is beyond the calendar.
fn utc_date(at: i64) -> Option<String> {
    let timestamp = jiff::Timestamp::from_microsecond(at).ok()?;
    Some(
        jiff::tz::Offset::UTC
            .to_datetime(timestamp)
            .date()
            .to_string(),
    )
}

/// The sentence a screen reader speaks for the chart (not yet escaped).
fn describe(samples: &[Sample], unit: &str, reference: Option<&Reference>) -> String {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return String::new();
    };
    let count = samples.len();
    let latest = with_unit(last.value, unit);
    let mut text = if count == 1 {
        format!("1 result on {}, {latest}", first.date)
    } else if first.date == last.date {
        format!("{count} results on {}, latest {latest}", first.date)
    } else {
        format!(
            "{count} results from {} to {}, latest {latest}",
            first.date, last.date
        )
    };
    if let Some(reference) = reference {
        let range = match (reference.low, reference.high) {
            (Some(low), Some(high)) => {
                format!("{}–{}", format_number(low), with_unit(high, unit))
            }
            (Some(low), None) => format!("at least {}", with_unit(low, unit)),
            (None, Some(high)) => format!("at most {}", with_unit(high, unit)),
            (None, None) => String::new(),
        };
        text.push_str("; the shaded band is the reference range ");
        text.push_str(&range);
        let outside = samples
            .iter()
            .filter(|s| reference.excludes(s.value))
            .count();
        match outside {
            0 => {}
            1 => text.push_str("; 1 result is outside it, marked with a diamond"),
            n => text.push_str(&format!(
                "; {n} results are outside it, marked with diamonds"
            )),
        }
    }
    text
}

fn with_unit(value: f64, unit: &str) -> String {
    let unit = unit.trim();
    if unit.is_empty() {
        format_number(value)
    } else {
        format!("{} {unit}", format_number(value))
    }
}

/// Writes a value the way a person would: at most three decimals (more for values below one, so
/// that 0.004 keeps its digits), no trailing zeros and never "-0".
fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return String::new();
    }
    let magnitude = value.abs();
    let decimals = if magnitude > 0.0 && magnitude < 1.0 {
        // Zeros between the decimal point and the first digit, plus three significant digits.
        let leading_zeros = (-magnitude.log10()).floor() as usize;
        (leading_zeros + 3).min(12)
    } else {
        3
    };
    let text = format!("{value:.decimals$}");
    let trimmed = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    if trimmed == "-0" {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A coordinate with one decimal, enough for a 480-unit drawing. Counted in tenths as an
/// integer: formatting a float to a fixed number of decimals exactly (`{:.1}`) took a tenth of
/// the time a result page with its trend spent in the portal. Halves round away from zero,
/// which no drawing can show.
fn coord(value: f64) -> String {
    if value.is_finite() && value.abs() < 1e12 {
        // In range: the cast is exact.
        let tenths = (value * 10.0).round() as i64;
        let (whole, tenth) = (tenths / 10, (tenths % 10).abs());
        let sign = if tenths < 0 && whole == 0 { "-" } else { "" };
        return if tenth == 0 {
            format!("{whole}")
        } else {
            format!("{sign}{whole}.{tenth}")
        };
    }
    let text = format!("{value:.1}");
    let trimmed = text.strip_suffix(".0").unwrap_or(&text);
    if trimmed == "-0" {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Makes text safe inside SVG elements and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML does not allow most control characters, and none of them belong in a label.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// An id prefix that differs between charts on one page: FNV-1a over everything drawn.
fn chart_id(title: &str, unit: &str, points: &[Point], band: Option<&Band>) -> String {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    let mut hash = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for &byte in bytes {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    feed(title.as_bytes());
    feed(&[0]);
    feed(unit.as_bytes());
    feed(&[0]);
    feed(&(points.len() as u64).to_le_bytes());
    for point in points {
        feed(&point.at.to_le_bytes());
        feed(&point.value.to_bits().to_le_bytes());
    }
    if let Some(band) = band {
        for bound in [band.low, band.high] {
            feed(&bound.map_or(u64::MAX, f64::to_bits).to_le_bytes());
        }
    }
    format!("trend-{hash:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_have_one_decimal_and_never_a_negative_zero() {
        for (value, text) in [
            (0.0, "0"),
            (-0.0, "0"),
            (-0.04, "0"),
            (-0.06, "-0.1"),
            (-0.3, "-0.3"),
            (12.0, "12"),
            (12.04, "12"),
            (12.25, "12.3"),
            (479.96, "480"),
            (-1.5, "-1.5"),
            (-17.94, "-17.9"),
            (1234.56, "1234.6"),
        ] {
            assert_eq!(coord(value), text, "{value}");
        }
        assert_eq!(coord(f64::NAN), "NaN");
    }

    const DAY: i64 = 86_400_000_000;
    /// 2024-01-01T00:00:00Z in microseconds.
    const JAN_1: i64 = 1_704_067_200_000_000;

    fn at(day: i64, value: f64) -> Point {
        Point {
            at: JAN_1 + day * DAY,
            value,
            day: String::new(),
        }
    }

    /// The value of `name="…"` in one tag.
    fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
        let needle = format!(" {name}=\"");
        let start = tag.find(&needle)? + needle.len();
        let len = tag[start..].find('"')?;
        Some(&tag[start..start + len])
    }

    fn number(tag: &str, name: &str) -> f64 {
        attr(tag, name)
            .and_then(|v| v.parse().ok())
            .expect("the attribute holds a number")
    }

    /// Every opening tag of `element` (up to its closing `>`), in document order.
    fn tags<'a>(svg: &'a str, element: &str) -> Vec<&'a str> {
        let needle = format!("<{element} ");
        svg.match_indices(&needle)
            .filter_map(|(i, _)| svg[i..].find('>').map(|end| &svg[i..=i + end]))
            .collect()
    }

    fn texts(svg: &str, class: &str) -> Vec<String> {
        let needle = format!("<text class=\"{class}\"");
        svg.match_indices(&needle)
            .filter_map(|(i, _)| {
                let rest = &svg[i..];
                let open = rest.find('>')? + 1;
                let close = rest.find("</text>")?;
                Some(rest[open..close].to_owned())
            })
            .collect()
    }

    /// The plot's left and right edges, read off the time axis.
    fn plot_edges(svg: &str) -> (f64, f64) {
        let axis = tags(svg, "line")
            .into_iter()
            .find(|l| attr(l, "class") == Some("axis"))
            .expect("the chart has a time axis");
        (number(axis, "x1"), number(axis, "x2"))
    }

    fn desc(svg: &str) -> &str {
        let start = svg
            .find("<desc")
            .and_then(|i| svg[i..].find('>').map(|j| i + j + 1));
        let start = start.expect("the chart has a desc");
        let end = svg.find("</desc>").expect("the desc is closed");
        &svg[start..end]
    }

    #[test]
    fn title_and_unit_are_escaped() {
        let svg = trend_svg(
            "<script>alert(\"x\")</script> & 'co'",
            "<b>",
            &[at(0, 1.0), at(1, 2.0)],
            None,
            None,
        );
        assert!(!svg.contains("<script"));
        assert!(!svg.contains("<b>"));
        assert!(svg.contains(
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;</title>"
        ));
        assert_eq!(texts(&svg, "unit"), ["&lt;b&gt;"]);
    }

    #[test]
    fn no_drawable_points_give_an_empty_string() {
        assert_eq!(trend_svg("Glucose", "mmol/L", &[], None, None), "");
        let nonsense = [at(0, f64::NAN), at(1, f64::INFINITY)];
        assert_eq!(trend_svg("Glucose", "mmol/L", &nonsense, None, None), "");
    }

    #[test]
    fn chart_scales_by_view_box_and_names_itself() {
        let svg = trend_svg("Glucose", "mmol/L", &[at(0, 5.0), at(2, 6.0)], None, None);
        let root = tags(&svg, "svg")[0];
        assert_eq!(attr(root, "viewBox"), Some("0 0 480 260"));
        assert_eq!(attr(root, "class"), Some("trend"));
        assert_eq!(attr(root, "role"), Some("img"));
        assert_eq!(attr(root, "width"), None);
        assert_eq!(attr(root, "height"), None);
        assert!(number(root, "font-size") >= 14.0);
        let id = attr(root, "aria-labelledby").expect("the chart is labelled");
        let (title_id, desc_id) = id.split_once(' ').expect("title and desc");
        assert!(svg.contains(&format!("<title id=\"{title_id}\">Glucose</title>")));
        assert!(svg.contains(&format!("<desc id=\"{desc_id}\">")));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn two_charts_on_a_page_get_different_ids() {
        let a = trend_svg("Glucose", "mmol/L", &[at(0, 5.0)], None, None);
        let b = trend_svg("HbA1c", "mmol/mol", &[at(0, 40.0)], None, None);
        let id = |svg: &str| {
            attr(tags(svg, "svg")[0], "aria-labelledby")
                .expect("labelled")
                .to_owned()
        };
        assert!(id(&a).starts_with("trend-"));
        assert_ne!(id(&a), id(&b));
    }

    #[test]
    fn description_summarises_dates_latest_value_and_range() {
        let band = Band {
            low: Some(3.5),
            high: Some(5.5),
        };
        let points = [at(0, 4.2), at(4, 6.0), at(2, 5.1)];
        let svg = trend_svg("Glucose", "mmol/L", &points, Some(&band), None);
        assert_eq!(
            desc(&svg),
            "3 results from 2024-01-01 to 2024-01-05, latest 6 mmol/L; the shaded band is the \
             reference range 3.5–5.5 mmol/L; 1 result is outside it, marked with a diamond"
        );
        assert_eq!(texts(&svg, "date"), ["2024-01-01", "2024-01-05"]);
    }

    #[test]
    fn single_point_is_centred_without_a_line() {
        let svg = trend_svg("Glucose", "mmol/L", &[at(0, 5.4)], None, None);
        let circles = tags(&svg, "circle");
        assert_eq!(circles.len(), 1);
        let (left, right) = plot_edges(&svg);
        assert_eq!(number(circles[0], "cx"), (left + right) / 2.0);
        assert!(!svg.contains("<polyline"));
        assert_eq!(desc(&svg), "1 result on 2024-01-01, 5.4 mmol/L");
        assert_eq!(texts(&svg, "date"), ["2024-01-01"]);
    }

    #[test]
    fn x_position_is_proportional_to_time() {
        // Given out of order on purpose: points are drawn, and joined, oldest first.
        let points = [at(4, 3.0), at(0, 1.0), at(1, 2.0)];
        let svg = trend_svg("Glucose", "", &points, None, None);
        let xs: Vec<f64> = tags(&svg, "circle")
            .iter()
            .map(|c| number(c, "cx"))
            .collect();
        let (left, right) = plot_edges(&svg);
        let quarter = left + (right - left) / 4.0;
        assert_eq!(xs, [left, quarter, right]);
        let line = tags(&svg, "polyline")[0];
        let line_xs: Vec<f64> = attr(line, "points")
            .expect("the line has points")
            .split(' ')
            .filter_map(|pair| pair.split_once(',')?.0.parse().ok())
            .collect();
        assert_eq!(line_xs, [left, quarter, right]);
    }

    #[test]
    fn larger_values_sit_higher() {
        let svg = trend_svg("Glucose", "", &[at(0, 1.0), at(1, 9.0)], None, None);
        let circles = tags(&svg, "circle");
        assert!(number(circles[1], "cy") < number(circles[0], "cy"));
    }

    #[test]
    fn highlighted_point_is_drawn_larger() {
        let points = [at(0, 4.0), at(1, 5.0), at(2, 6.0)];
        let svg = trend_svg("Glucose", "mmol/L", &points, None, Some(1));
        let circles = tags(&svg, "circle");
        let big: Vec<_> = circles
            .iter()
            .filter(|c| attr(c, "class") == Some("point highlight"))
            .collect();
        assert_eq!(big.len(), 1);
        let small_radius = number(circles[0], "r");
        assert!(number(big[0], "r") > small_radius);
        // The highlighted circle is the one for the second point, whose tooltip names its value.
        assert!(svg.contains("<title>2024-01-02: 5 mmol/L</title></circle></svg>"));

        let none = trend_svg("Glucose", "mmol/L", &points, None, Some(7));
        assert!(!none.contains("highlight"));
    }

    #[test]
    fn results_outside_the_range_get_a_diamond() {
        let band = Band {
            low: Some(3.5),
            high: Some(5.5),
        };
        let points = [at(0, 4.0), at(1, 6.0), at(2, 3.0), at(3, 5.5)];
        let svg = trend_svg("Glucose", "mmol/L", &points, Some(&band), None);
        let diamonds = tags(&svg, "path");
        assert_eq!(diamonds.len(), 2);
        assert!(
            diamonds
                .iter()
                .all(|d| attr(d, "class") == Some("out-of-range"))
        );
        assert!(desc(&svg).ends_with("2 results are outside it, marked with diamonds"));
        assert!(svg.contains("2024-01-02: 6 mmol/L (outside the reference range)"));

        let all_inside = trend_svg("Glucose", "mmol/L", &points[..1], Some(&band), None);
        assert!(!all_inside.contains("out-of-range"));
    }

    #[test]
    fn band_with_both_bounds_spans_between_them() {
        let band = Band {
            low: Some(3.5),
            high: Some(5.5),
        };
        let svg = trend_svg("Glucose", "", &[at(0, 1.0), at(1, 9.0)], Some(&band), None);
        let rect = tags(&svg, "rect")[0];
        let top = number(rect, "y");
        let bottom = top + number(rect, "height");
        assert!(top > PLOT_TOP && bottom < PLOT_BOTTOM);
        assert_eq!(attr(rect, "fill"), Some(BAND_FILL));
    }

    #[test]
    fn open_ended_band_shades_to_the_plot_edge() {
        let points = [at(0, 4.0), at(1, 6.0)];

        let low_only = Band {
            low: Some(5.0),
            high: None,
        };
        let svg = trend_svg("Vitamin D", "nmol/L", &points, Some(&low_only), None);
        let rect = tags(&svg, "rect")[0];
        assert_eq!(attr(rect, "class"), Some("band"));
        assert_eq!(number(rect, "y"), PLOT_TOP);
        let bottom = number(rect, "y") + number(rect, "height");
        assert!(bottom < PLOT_BOTTOM);
        assert_eq!(tags(&svg, "path").len(), 1, "only 4 is below 5");
        assert!(desc(&svg).contains("reference range at least 5 nmol/L"));

        let high_only = Band {
            low: None,
            high: Some(5.0),
        };
        let svg = trend_svg("LDL", "mmol/L", &points, Some(&high_only), None);
        let rect = tags(&svg, "rect")[0];
        assert!(number(rect, "y") > PLOT_TOP);
        assert_eq!(number(rect, "y") + number(rect, "height"), PLOT_BOTTOM);
        assert!(desc(&svg).contains("reference range at most 5 mmol/L"));
    }

    #[test]
    fn band_without_usable_bounds_is_not_drawn() {
        let points = [at(0, 4.0), at(1, 6.0)];
        for band in [
            Band::default(),
            Band {
                low: Some(f64::NAN),
                high: None,
            },
            Band {
                low: Some(6.0),
                high: Some(2.0),
            },
        ] {
            let svg = trend_svg("Glucose", "", &points, Some(&band), None);
            assert!(!svg.contains("<rect"));
            assert!(!desc(&svg).contains("reference range"));
        }
    }

    #[test]
    fn y_range_includes_the_band_and_every_point() {
        let band = Band {
            low: Some(3.5),
            high: Some(5.5),
        };
        let svg = trend_svg("Glucose", "", &[at(0, 4.2), at(1, 5.1)], Some(&band), None);
        assert_eq!(texts(&svg, "tick"), ["3.5", "4", "4.5", "5", "5.5"]);

        let svg = trend_svg("Glucose", "", &[at(0, 2.0), at(1, 12.0)], Some(&band), None);
        assert_eq!(texts(&svg, "tick"), ["0", "2.5", "5", "7.5", "10", "12.5"]);
    }

    #[test]
    fn equal_values_still_get_a_range_around_them() {
        let points = [at(0, 5.0), at(1, 5.0), at(2, 5.0)];
        let svg = trend_svg("Glucose", "", &points, None, None);
        let ticks = texts(&svg, "tick");
        assert!(ticks.len() >= 3);
        assert!(ticks.contains(&"5".to_owned()));
        for circle in tags(&svg, "circle") {
            let cy = number(circle, "cy");
            assert!(cy > PLOT_TOP && cy < PLOT_BOTTOM);
        }

        let zeros = trend_svg("Glucose", "", &[at(0, 0.0), at(1, 0.0)], None, None);
        assert!(texts(&zeros, "tick").contains(&"0".to_owned()));
    }

    #[test]
    fn non_finite_values_are_left_out() {
        let points = [
            at(0, 1.0),
            at(1, f64::NAN),
            at(2, f64::NEG_INFINITY),
            at(3, 2.0),
        ];
        let svg = trend_svg("Glucose", "", &points, None, Some(3));
        assert_eq!(tags(&svg, "circle").len(), 2);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert!(desc(&svg).starts_with("2 results from 2024-01-01 to 2024-01-04, latest 2"));
        // The highlight index still refers to the caller's slice.
        assert!(svg.contains("class=\"point highlight\""));
    }

    #[test]
    fn long_tick_labels_push_the_plot_right_instead_of_off_the_edge() {
        let short = trend_svg("Glucose", "", &[at(0, 4.0), at(1, 6.0)], None, None);
        let long = trend_svg("TSH", "", &[at(0, 0.0011), at(1, 0.0019)], None, None);
        assert_eq!(texts(&long, "tick")[0], "0.001");
        assert!(plot_edges(&long).0 > plot_edges(&short).0);
        let anchors = tags(&long, "text")
            .into_iter()
            .filter(|t| attr(t, "class") == Some("tick"));
        for (tag, label) in anchors.zip(texts(&long, "tick")) {
            // Right-aligned, so the label starts its own width left of x; digits are ~0.6 em.
            let width = label.chars().count() as f64 * 0.6 * FONT_SIZE;
            assert!(number(tag, "x") - width >= 0.0, "{label} is cut off");
        }
    }

    #[test]
    fn numbers_are_written_without_needless_decimals() {
        assert_eq!(format_number(5.0), "5");
        assert_eq!(format_number(5.25), "5.25");
        assert_eq!(format_number(0.1 + 0.2), "0.3");
        assert_eq!(format_number(1234.5678), "1234.568");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(-2.5), "-2.5");
        assert_eq!(format_number(0.004), "0.004");
        assert_eq!(format_number(0.000_123_4), "0.000123");
        assert_eq!(format_number(3.0 * 0.1), "0.3");
    }
}
