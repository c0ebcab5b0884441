//! Log output in logfmt (Prometheus' default) or JSON.

use crate::cli::{LogFormat, LogLevel};
use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

pub fn init(level: LogLevel, format: LogFormat) {
    let max_level = match level {
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Info => Level::INFO,
        LogLevel::Warn => Level::WARN,
        LogLevel::Error => Level::ERROR,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(max_level)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Logfmt => builder.event_format(Logfmt).try_init(),
    };
}

/// `ts=… level=info msg="…" key=value …`
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writer.write_str("ts=")?;
        SystemTime.format_time(&mut writer)?;
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        write!(
            writer,
            " level={level} source={}",
            event.metadata().target()
        )?;
        let mut fields = LogfmtFields {
            message: String::new(),
            rest: String::new(),
        };
        event.record(&mut fields);
        write!(writer, " msg={}", quote(&fields.message))?;
        writeln!(writer, "{}", fields.rest)
    }
}

struct LogfmtFields {
    message: String,
    rest: String,
}

impl Visit for LogfmtFields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        self.record_text(field, text);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_text(field, value.to_string());
    }
}

impl LogfmtFields {
    fn record_text(&mut self, field: &Field, text: String) {
        if field.name() == "message" {
            self.message = text;
        } else {
            let _ = write!(self.rest, " {}={}", field.name(), quote(&text));
        }
    }
}

fn quote(text: &str) -> String {
    if !text.is_empty()
        && !text
            .bytes()
            .any(|b| b <= b' ' || b == b'"' || b == b'=' || b == b'\\')
    {
        return text.to_string();
    }
    format!("{text:?}")
}
