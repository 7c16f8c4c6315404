//! [`BoxFuture`]: the future type of the crate's object-safe traits.

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future, so the crate's traits stay object-safe without extra crates.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
