//! Helpers for YAML sections: lists whose items may not be null, and values with locations.

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// Names what a null item in a list is, for the error Prometheus gives.
pub trait NullItemError {
    const MESSAGE: &'static str;
}

/// A list in which a null item (`- ` alone, `- ~`) is an error, as in Prometheus.
#[derive(Clone, Debug)]
pub struct NonNullList<T, E>(pub Vec<T>, PhantomData<E>);

impl<T, E> Default for NonNullList<T, E> {
    fn default() -> Self {
        NonNullList(Vec::new(), PhantomData)
    }
}

impl<'de, T: Deserialize<'de>, E: NullItemError> Deserialize<'de> for NonNullList<T, E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A null list (`scrape_configs:` with nothing after it) is an empty list.
        let items = Option::<Items<T, E>>::deserialize(deserializer)?;
        Ok(NonNullList(
            items.map(|i| i.0).unwrap_or_default(),
            PhantomData,
        ))
    }
}

/// The items of a [`NonNullList`] that is not null itself.
struct Items<T, E>(Vec<T>, PhantomData<E>);

impl<'de, T: Deserialize<'de>, E: NullItemError> Deserialize<'de> for Items<T, E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<T, E>(PhantomData<(T, E)>);
        impl<'de, T: Deserialize<'de>, E: NullItemError> Visitor<'de> for ListVisitor<T, E> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<NonNull<T, E>>()? {
                    items.push(item.0);
                }
                Ok(items)
            }
        }
        deserializer
            .deserialize_seq(ListVisitor::<T, E>(PhantomData))
            .map(|v| Items(v, PhantomData))
    }
}

/// One item that must not be null; the error is raised at the item, so it carries its location.
struct NonNull<T, E>(T, PhantomData<E>);

impl<'de, T: Deserialize<'de>, E: NullItemError> Deserialize<'de> for NonNull<T, E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Option::<T>::deserialize(deserializer)? {
            Some(value) => Ok(NonNull(value, PhantomData)),
            None => Err(serde::de::Error::custom(E::MESSAGE)),
        }
    }
}

macro_rules! null_item_errors {
    ($($name:ident => $message:literal;)*) => {
        $(
            #[derive(Clone, Debug)]
            pub struct $name;
            impl NullItemError for $name {
                const MESSAGE: &'static str = $message;
            }
        )*
    };
}

null_item_errors! {
    NullScrapeConfig => "empty or null scrape config section";
    NullStaticConfig => "empty or null section in static_configs";
    NullFileSdConfig => "empty or null section in file_sd_configs";
    NullHttpSdConfig => "empty or null section in http_sd_configs";
    NullDnsSdConfig => "empty or null section in dns_sd_configs";
    NullKubernetesSdConfig => "empty or null section in kubernetes_sd_configs";
    NullTargetRelabel => "empty or null target relabeling rule in scrape config";
    NullMetricRelabel => "empty or null metric relabeling rule in scrape config";
    NullRemoteWrite => "empty or null remote write config section";
    NullWriteRelabel => "empty or null relabeling rule in remote write config";
}

/// Line and column (1-based) of a YAML node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

impl Position {
    pub fn of(location: &serde_saphyr::Location) -> Position {
        Position {
            line: location.line(),
            column: location.column(),
        }
    }
}
