//! Use cases shared by the HTML pages and the JSON API, so both read the same
//! data the same way.

pub mod cart;
pub mod catalog;
pub mod facets;
pub mod images;
pub mod listings;
pub mod orders;
pub mod search;
pub mod search_rows;
pub mod writes;

pub use catalog::{CategoryRef, CategorySummary, ProductView};
pub use listings::ProductPage;
