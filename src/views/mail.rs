//! The mail the shop sends, as plain text (askama, no HTML escaping: a
//! name is shown as typed, and a mail client never runs it).

use askama::Template;

use crate::domain::order::Country;
use crate::services::orders::OrderView;

#[derive(Template)]
#[template(path = "mail/order_confirmation.txt", escape = "none")]
struct OrderConfirmation<'a> {
    order: &'a OrderView,
    country: &'a str,
    link: String,
}

/// The subject and text of an order's confirmation; `base` is the shop's
/// public origin, for the link to the order's page.
pub fn order_confirmation(order: &OrderView, base: &str) -> Result<(String, String), askama::Error> {
    let country: &str = match Country::parse(&order.ship_country) {
        Some(country) => country.name(),
        None => &order.ship_country,
    };
    let link = format!("{base}/orders/{}", order.number);
    let text = OrderConfirmation { order, country, link }.render()?;
    Ok((format!("Your order {} is placed", order.number), text))
}
