//! SeaORM entities: the table shapes, nothing else. Behaviour (hooks and
//! finders) lives beside them in `models/`, so regenerating an entity never
//! touches hand-written code.

pub mod api_token;
pub mod app_secret;
pub mod cache_cursor;
pub mod cache_outbox;
pub mod cart;
pub mod cart_claim;
pub mod cart_line;
pub mod category;
pub mod mail_outbox;
pub mod order;
pub mod order_line;
pub mod product;
pub mod product_image;
pub mod session;
pub mod throttle_counter;
pub mod user;
