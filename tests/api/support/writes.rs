//! Changes for the application's write layer, for tests that write
//! without going through HTTP.

use storefront::domain::Money;
use storefront::services::writes::ProductChanges;

/// A change of a product's price, and of nothing else.
pub fn price_change(cents: i64) -> ProductChanges {
    ProductChanges { price: Some(Money::from_cents(cents).unwrap()), ..Default::default() }
}
