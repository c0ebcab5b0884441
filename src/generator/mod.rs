//! A metrics generator: HTTP targets exposing synthetic series in the Prometheus text
//! format, for the demo (the article's 6 pods of 10,045 series), tests and benchmarks.
//!
//! Three shapes: `article` (one or more metric names over every combination of `labels`
//! labels of `values_per_label` values, like the article's generator), `cadvisor`
//! (`container_*` series of pods' containers, ~230-byte lines) and `node-exporter`
//! (`node_*` series of one machine, ~70-byte lines). Every shape exposes exactly
//! `series` sample lines and nothing else, so series counts are exact.
//!
//! Values are functions of the time and of the series: counters grow at a per-series rate
//! from a fixed epoch (they never decrease, even across restarts), gauges swing on a
//! per-series wave of a few minutes. The series' names and labels are rendered once, at
//! construction; a request only formats values.

mod body;
mod run;
mod serve;
mod shapes;

#[cfg(test)]
mod tests;

pub use run::{listen_addresses, run};
pub use serve::{router, serve, serve_with_shutdown};

use body::Layout;
use std::time::{Duration, SystemTime};

/// What the generated series look like.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// Metric names built from label combinations, like the article's generator.
    #[default]
    Article,
    /// cAdvisor's `container_*` metrics of pods' containers.
    Cadvisor,
    /// node_exporter's `node_*` metrics of one machine.
    NodeExporter,
}

impl Shape {
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Article => "article",
            Shape::Cadvisor => "cadvisor",
            Shape::NodeExporter => "node-exporter",
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What every target of a generator run exposes and how it answers.
#[derive(Clone, Debug, PartialEq)]
pub struct GenOptions {
    pub shape: Shape,
    /// Sample lines per body, exactly.
    pub series: usize,
    /// Article shape: label names per series (`label_0`, `label_1`, …).
    pub labels: usize,
    /// Article shape: distinct values of each label; a metric name holds
    /// `values_per_label ^ labels` series, then the next name starts.
    pub values_per_label: usize,
    /// Article shape: characters of each label value (zero-padded numbers).
    pub label_value_length: usize,
    /// Article shape: characters of each metric name before a counter's `_total`
    /// (`a00000000000metrics0` at 20, as the article's rule queries it).
    pub metric_name_length: usize,
    /// How long each answer waits before it is sent.
    pub delay: Duration,
    /// Fraction of `/metrics` requests answered 500, in [0, 1].
    pub error_rate: f64,
    /// Varies every value, the cAdvisor pods and the node's interfaces, and which requests fail.
    pub seed: u64,
    /// Write the render time as each sample's timestamp (as cAdvisor does).
    pub timestamps: bool,
}

impl Default for GenOptions {
    /// The article's target: 10,045 series (its generator's 10,000 plus the 45 Go runtime
    /// series it also exposed; here 45 more generated series of a second metric name).
    fn default() -> Self {
        GenOptions {
            shape: Shape::Article,
            series: 10_045,
            labels: 4,
            values_per_label: 10,
            label_value_length: 20,
            metric_name_length: 20,
            delay: Duration::ZERO,
            error_rate: 0.0,
            seed: 0,
            timestamps: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// An option out of range; `flag` is the command-line flag that sets it.
    #[error("invalid value for {flag}: {message}")]
    InvalidOption { flag: &'static str, message: String },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("serving {address}: {source}")]
    Serve {
        address: String,
        source: std::io::Error,
    },
}

impl GenOptions {
    pub fn validate(&self) -> Result<(), GenError> {
        let invalid = |flag, message: String| Err(GenError::InvalidOption { flag, message });
        if !(0.0..=1.0).contains(&self.error_rate) {
            return invalid(
                "--error-rate",
                format!("{} is not in [0, 1]", self.error_rate),
            );
        }
        if self.shape == Shape::Article {
            if self.values_per_label == 0 {
                return invalid("--values-per-label", "must be at least 1".to_string());
            }
            let digits = decimal_digits(self.values_per_label - 1);
            if self.labels > 0 && self.label_value_length < digits {
                return invalid(
                    "--label-value-length",
                    format!(
                        "{} characters cannot hold {} values (at least {digits} needed)",
                        self.label_value_length, self.values_per_label
                    ),
                );
            }
        }
        Ok(())
    }
}

fn decimal_digits(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// One target's series, rendered into exposition bodies on demand.
pub struct Generator {
    options: GenOptions,
    target: usize,
    layout: Layout,
}

impl Generator {
    /// The series of target number `target`: every target of the same options has the same
    /// number of series, with values (and, for cAdvisor and node_exporter, some label values)
    /// of its own.
    pub fn new(options: &GenOptions, target: usize) -> Result<Generator, GenError> {
        options.validate()?;
        let seed = mix(options.seed ^ mix(target as u64 + 1));
        let series = shapes::build(options, seed);
        Ok(Generator {
            options: options.clone(),
            target,
            layout: Layout::new(series, seed),
        })
    }

    pub fn options(&self) -> &GenOptions {
        &self.options
    }

    pub fn target(&self) -> usize {
        self.target
    }

    /// Sample lines in every body.
    pub fn series_count(&self) -> usize {
        self.layout.series_count()
    }

    /// About the size of a body, for reserving its buffer.
    pub fn body_size_hint(&self) -> usize {
        self.layout.body_size_hint(self.options.timestamps)
    }

    /// Appends the body for time `now` to `out`: text format 0.0.4, `# HELP` and `# TYPE`
    /// before each family, one line per series.
    pub fn render(&self, now: SystemTime, out: &mut Vec<u8>) {
        self.layout.render(now, self.options.timestamps, out);
    }

    /// Whether request number `request` (0, 1, … per server) is answered with an error: a
    /// deterministic draw from the seed, target and number, true for a fraction
    /// `error_rate` of the numbers.
    pub fn should_fail(&self, request: u64) -> bool {
        if self.options.error_rate <= 0.0 {
            return false;
        }
        if self.options.error_rate >= 1.0 {
            return true;
        }
        let draw = mix(self.options.seed ^ mix(self.target as u64 ^ mix(request)));
        // The top 53 bits as a uniform number in [0, 1).
        ((draw >> 11) as f64 / (1u64 << 53) as f64) < self.options.error_rate
    }
}

/// SplitMix64's finalizer: a cheap, well-spread hash of one word.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
