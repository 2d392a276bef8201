//! An order as parsed at the edge: who to ship to, what to buy, and the
//! states an order moves through. The checkout form and `POST /api/orders/`
//! both end here, with one `FieldErrors` for whatever they got wrong.

use std::collections::BTreeMap;
use std::fmt;

use rand::Rng;
use sha2::{Digest, Sha256};

use super::FieldErrors;
use super::product::REQUIRED;
use crate::auth::credentials::Email;

/// The most units of one product an order takes (as a cart line).
pub const MAX_QUANTITY: u32 = 999;
/// The most different products one order holds (as a cart).
pub const MAX_LINES: usize = 100;

/// Where an order goes. Every field is trimmed; line 2 may be empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shipping {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postal_code: String,
    pub country: Country,
}

/// An ISO 3166-1 alpha-2 country code the shop ships to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Country(&'static str);

impl Country {
    /// Any alpha-2 code, in either case.
    pub fn parse(raw: &str) -> Option<Country> {
        let code = raw.trim().to_ascii_uppercase();
        celes::Country::from_alpha2(&code).ok().map(|c| Country(c.alpha2))
    }

    pub fn code(self) -> &'static str {
        self.0
    }

    /// The country's name as listed ("United States Of America", not
    /// "The United States Of America").
    pub fn name(self) -> &'static str {
        let name = celes::Country::from_alpha2(self.0).map(|c| c.long_name).unwrap_or(self.0);
        name.strip_prefix("The ").unwrap_or(name)
    }

    /// Every country, by name, for the checkout's list.
    pub fn all() -> Vec<Country> {
        let mut all: Vec<Country> = celes::Country::get_countries().iter().map(|c| Country(c.alpha2)).collect();
        all.sort_by_key(|c| c.name());
        all
    }
}

/// One product and how many of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Line {
    pub product_id: i32,
    pub quantity: u32,
    /// Where the product first appears in the request, to name the line
    /// in an error (`lines[2].quantity`).
    pub position: usize,
}

/// A whole order request, valid in shape: whether its products exist and
/// are in stock is for the order's transaction to find out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRequest {
    pub email: Email,
    pub shipping: Shipping,
    /// In product-id order (the order stock is taken in), one per product.
    pub lines: Vec<Line>,
}

impl OrderRequest {
    /// A digest of what was asked, to tell a replay of a request from
    /// another request under the same idempotency key.
    pub fn digest(&self) -> String {
        let s = &self.shipping;
        let mut hash = Sha256::new();
        for part in [self.email.as_str(), &s.name, &s.line1, &s.line2, &s.city, &s.postal_code, s.country.code()] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        for line in &self.lines {
            hash.update(format!("{}x{};", line.product_id, line.quantity).as_bytes());
        }
        hex(&hash.finalize())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The fields of an order as sent, before parsing; `None` is absent.
#[derive(Clone, Debug, Default)]
pub struct RawOrder<'a> {
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub line1: Option<&'a str>,
    pub line2: Option<&'a str>,
    pub city: Option<&'a str>,
    pub postal_code: Option<&'a str>,
    pub country: Option<&'a str>,
}

/// A required text field: trimmed, not blank, at most `max` characters, no
/// NUL or other control characters (an address is printed on a label).
fn text(field: &str, raw: Option<&str>, max: usize, required: bool, errors: &mut FieldErrors) -> Option<String> {
    let value = raw.unwrap_or("").trim();
    let problem = if value.is_empty() && required {
        Some(REQUIRED.to_owned())
    } else if value.chars().count() > max {
        Some(format!("Ensure this field has no more than {max} characters."))
    } else if value.chars().any(char::is_control) {
        Some("Control characters are not allowed.".to_owned())
    } else {
        None
    };
    match problem {
        Some(message) => {
            errors.add(field, message);
            None
        }
        None => Some(value.to_owned()),
    }
}

/// Parses the address and email; `prefix` names the shipping fields as the
/// edge calls them (`shipping.` in the API, nothing in the form).
pub fn parse_contact(raw: &RawOrder<'_>, prefix: &str, errors: &mut FieldErrors) -> Option<(Email, Shipping)> {
    let email = match raw.email.map(str::trim).filter(|e| !e.is_empty()) {
        None => {
            errors.add("email", REQUIRED);
            None
        }
        Some(e) => Email::parse(e).map_err(|m| errors.add("email", m)).ok(),
    };
    let field = |name: &str| format!("{prefix}{name}");
    let name = text(&field("name"), raw.name, 200, true, errors);
    let line1 = text(&field("line1"), raw.line1, 200, true, errors);
    let line2 = text(&field("line2"), raw.line2, 200, false, errors);
    let city = text(&field("city"), raw.city, 100, true, errors);
    let postal_code = text(&field("postal_code"), raw.postal_code, 20, true, errors);
    let country = match raw.country.map(str::trim).filter(|c| !c.is_empty()) {
        None => {
            errors.add(&field("country"), REQUIRED);
            None
        }
        Some(c) => {
            let parsed = Country::parse(c);
            if parsed.is_none() {
                errors.add(&field("country"), "Select a country from the list (an ISO 3166 two-letter code).");
            }
            parsed
        }
    };
    let shipping = Shipping {
        name: name?,
        line1: line1?,
        line2: line2?,
        city: city?,
        postal_code: postal_code?,
        country: country?,
    };
    Some((email?, shipping))
}

/// Merges lines of one product and puts them in product-id order; refuses
/// an empty order, quantities out of range and too many products.
pub fn parse_lines(lines: &[(Option<i64>, Option<i64>)], errors: &mut FieldErrors) -> Option<Vec<Line>> {
    if lines.is_empty() {
        errors.add("lines", "An order needs at least one line.");
        return None;
    }
    // Product -> (quantity, first position).
    let mut merged: BTreeMap<i32, (u32, usize)> = BTreeMap::new();
    let mut ok = true;
    for (i, (product, quantity)) in lines.iter().enumerate() {
        let product = product.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 0);
        if product.is_none() {
            errors.add(&format!("lines[{i}].product_id"), "Select a product that exists.");
            ok = false;
        }
        let quantity = quantity.and_then(|q| u32::try_from(q).ok()).filter(|q| (1..=MAX_QUANTITY).contains(q));
        if quantity.is_none() {
            errors.add(&format!("lines[{i}].quantity"), format!("Enter a whole number from 1 to {MAX_QUANTITY}."));
            ok = false;
        }
        if let (Some(p), Some(q)) = (product, quantity) {
            merged.entry(p).or_insert((0, i)).0 += q;
        }
    }
    if merged.len() > MAX_LINES {
        errors.add("lines", format!("An order holds at most {MAX_LINES} different products."));
        return None;
    }
    for (product, (quantity, _)) in &merged {
        if *quantity > MAX_QUANTITY {
            errors.add("lines", format!("At most {MAX_QUANTITY} of product {product} in one order."));
            ok = false;
        }
    }
    ok.then(|| {
        merged.into_iter().map(|(product_id, (quantity, position))| Line { product_id, quantity, position }).collect()
    })
}

/// Where an order is. Placed as `Pending` (paid on delivery); an admin
/// marks it paid, then shipped, or cancels it before it ships.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Paid,
    Shipped,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 4] =
        [OrderStatus::Pending, OrderStatus::Paid, OrderStatus::Shipped, OrderStatus::Cancelled];

    pub fn parse(raw: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == raw.trim())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            OrderStatus::Pending => "Pending (pay on delivery)",
            OrderStatus::Paid => "Paid",
            OrderStatus::Shipped => "Shipped",
            OrderStatus::Cancelled => "Cancelled",
        }
    }

    /// The moves an admin may make from here. Shipped and cancelled are
    /// final: a shipped order cannot be cancelled, a cancelled one cannot ship.
    pub fn next(self) -> &'static [OrderStatus] {
        match self {
            OrderStatus::Pending => &[OrderStatus::Paid, OrderStatus::Cancelled],
            OrderStatus::Paid => &[OrderStatus::Shipped, OrderStatus::Cancelled],
            OrderStatus::Shipped | OrderStatus::Cancelled => &[],
        }
    }

    pub fn can_move_to(self, to: OrderStatus) -> bool {
        self.next().contains(&to)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Crockford's base32: no I, L, O or U, so a number read aloud or typed
/// from paper comes out right.
const BASE32: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// An order's public number: `SF-` and 10 random base32 characters (50
/// bits), so numbers cannot be guessed or counted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrderNumber(String);

impl OrderNumber {
    pub fn generate() -> OrderNumber {
        let mut rng = rand::rng();
        let tail: String = (0..10).map(|_| BASE32[rng.random_range(0..32)] as char).collect();
        OrderNumber(format!("SF-{tail}"))
    }

    /// A number as typed: case and the letters Crockford reads as digits
    /// are forgiven; anything else is not an order number.
    pub fn parse(raw: &str) -> Option<OrderNumber> {
        let upper = raw.trim().to_ascii_uppercase();
        let tail = upper.strip_prefix("SF-")?;
        if tail.len() != 10 {
            return None;
        }
        let tail: String = tail
            .chars()
            .map(|c| match c {
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            })
            .collect();
        tail.bytes().all(|b| BASE32.contains(&b)).then(|| OrderNumber(format!("SF-{tail}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What makes two requests one order: an API client's `Idempotency-Key`
/// (1 to 255 visible ASCII characters), or a checkout form's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey {
    key: String,
    /// A form's token names one checkout, whatever was typed into it the
    /// second time (another tab, a resubmit); a header names one request,
    /// so sending it with another body is an error.
    any_body: bool,
}

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<IdempotencyKey, &'static str> {
        let key = raw.trim();
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("An Idempotency-Key is 1 to 255 visible ASCII characters.");
        }
        Ok(IdempotencyKey { key: key.to_owned(), any_body: false })
    }

    /// A checkout form's token (see `routes::checkout`).
    pub fn of_checkout(token: &str) -> Result<IdempotencyKey, &'static str> {
        let mut key = IdempotencyKey::parse(&format!("checkout:{}", token.trim()))?;
        key.any_body = true;
        Ok(key)
    }

    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// Whether a replay with another body is still the same order.
    pub fn any_body(&self) -> bool {
        self.any_body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_numbers_parse_back_and_forgive_case_and_lookalikes() {
        for _ in 0..100 {
            let n = OrderNumber::generate();
            assert_eq!(OrderNumber::parse(n.as_str()), Some(n.clone()));
            assert_eq!(OrderNumber::parse(&n.as_str().to_lowercase()), Some(n));
        }
        assert_eq!(OrderNumber::parse("sf-o1l0000000").unwrap().as_str(), "SF-0110000000");
        for bad in ["", "SF-", "SF-123", "SF-12345678901", "XX-1234567890", "SF-12345678U0", "SF-1234 67890"] {
            assert_eq!(OrderNumber::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_listed_moves_are_allowed_and_final_states_stay() {
        use OrderStatus::*;
        assert!(Pending.can_move_to(Paid) && Pending.can_move_to(Cancelled) && Paid.can_move_to(Shipped));
        assert!(Paid.can_move_to(Cancelled));
        assert!(!Shipped.can_move_to(Cancelled), "a shipped order cannot be cancelled");
        assert!(!Cancelled.can_move_to(Shipped), "a cancelled order cannot ship");
        assert!(!Pending.can_move_to(Shipped), "unpaid orders do not ship");
        assert!(!Paid.can_move_to(Pending));
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn lines_merge_per_product_in_id_order_and_refuse_bad_quantities() {
        let mut errors = FieldErrors::default();
        let lines = parse_lines(&[(Some(9), Some(1)), (Some(3), Some(2)), (Some(9), Some(4))], &mut errors).unwrap();
        let expected =
            vec![Line { product_id: 3, quantity: 2, position: 1 }, Line { product_id: 9, quantity: 5, position: 0 }];
        assert_eq!(lines, expected);
        let mut errors = FieldErrors::default();
        assert_eq!(parse_lines(&[(Some(1), Some(0)), (None, Some(1))], &mut errors), None);
        assert!(!errors.get("lines[0].quantity").is_empty() && !errors.get("lines[1].product_id").is_empty());
        let mut errors = FieldErrors::default();
        assert_eq!(parse_lines(&[], &mut errors), None);
        assert!(!errors.get("lines").is_empty());
    }

    #[test]
    fn contact_fields_are_required_trimmed_and_the_country_comes_from_the_list() {
        let raw = RawOrder {
            email: Some(" Ann@Example.com "),
            name: Some(" Ann "),
            line1: Some("1 Main St"),
            line2: None,
            city: Some("Lyon"),
            postal_code: Some("69001"),
            country: Some("fr"),
        };
        let mut errors = FieldErrors::default();
        let (email, shipping) = parse_contact(&raw, "shipping.", &mut errors).unwrap();
        assert_eq!((email.as_str(), shipping.name.as_str(), shipping.country.code()), ("ann@example.com", "Ann", "FR"));
        assert_eq!(shipping.country.name(), "France");
        let mut errors = FieldErrors::default();
        let bad = RawOrder { country: Some("XX"), city: Some("  "), ..raw };
        assert!(parse_contact(&bad, "shipping.", &mut errors).is_none());
        assert!(!errors.get("shipping.country").is_empty() && !errors.get("shipping.city").is_empty());
    }
}
