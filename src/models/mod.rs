//! The catalog's data model: generated entities in `_entities`, and beside
//! them the hand-written behaviour of each (hooks, finders).

pub mod _entities;
pub mod category;
pub mod product;
pub mod product_image;
mod transaction;

pub use _entities::{category as category_entity, product as product_entity};
pub use transaction::begin_immediate;
