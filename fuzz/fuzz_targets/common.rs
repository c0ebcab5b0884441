//! Shared body of the parser fuzz targets.

use promshard::scrape::parse::{Entry, Format, Parser};

/// Runs the parser over `data`: every sample's labels (and exemplar labels) are decoded,
/// and the output must equal that of the reference parser (no fast paths).
pub fn run(data: &[u8], format: Format) {
    let fast = trace(Parser::new(data, format));
    let reference = trace(Parser::new_reference(data, format));
    assert_eq!(fast, reference, "fast paths differ from the general path");
}

fn trace(mut p: Parser<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let mut labels = Vec::new();
    let mut exemplar = Vec::new();
    loop {
        match p.next_entry() {
            Ok(None) => {
                assert_eq!(p.next_entry(), Ok(None));
                return out;
            }
            Err(e) => {
                assert_eq!(p.next_entry(), Err(e.clone()), "errors are sticky");
                out.push(format!("error {e:?}"));
                return out;
            }
            Ok(Some(e)) => {
                if let Entry::Series { series, value, .. } = &e {
                    assert!(!series.is_empty());
                    assert!(!value.is_nan() || value.to_bits() == 0x7ff8_0000_0000_0001);
                    let r = p.series_labels(&mut labels).map(|_| labels.clone());
                    if let Ok(l) = &r {
                        assert!(l.iter().any(|(n, _)| n == "__name__"));
                        assert!(l.windows(2).all(|w| w[0].0 <= w[1].0), "sorted");
                    }
                    out.push(format!("{r:?}"));
                    let x = p.exemplar_labels(&mut exemplar).map(|_| exemplar.clone());
                    out.push(format!("{x:?}"));
                }
                out.push(format!("{e:?}"));
            }
        }
    }
}
