//! Parsed value types. Input is parsed into these at the edge ("parse, don't
//! validate"): a value that exists is valid, so nothing past the handlers
//! re-checks it.

pub mod fields;
pub mod listing;
pub mod money;
pub mod order;
pub mod page;
pub mod price_band;
pub mod product;
pub mod search;
pub mod shopper;
pub mod slug;

pub use fields::FieldErrors;
pub use listing::{Dialect, ListingFilter, ListingQuery, ProductSort, QueryPairs, page_request};
pub use money::Money;
pub use page::PageRequest;
pub use price_band::PriceBand;
pub use search::SearchQuery;
pub use shopper::ShopperQuery;
pub use slug::Slug;
