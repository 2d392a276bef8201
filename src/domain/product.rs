//! A product or category as a write takes it: every field parsed, so the
//! services store what they are given. Both edges (the admin's forms and the
//! API's JSON bodies) build these with the field parsers below, which report
//! into one [`FieldErrors`] so every mistake is named at once.

use chrono::{DateTime, Utc};

use super::fields::FieldErrors;
use super::money::Money;
use super::slug::Slug;

#[derive(Clone, Debug)]
pub struct NewCategory {
    pub name: String,
    pub slug: Slug,
    pub description: String,
}

#[derive(Clone, Debug)]
pub struct NewProduct {
    pub category_id: i32,
    pub name: String,
    pub slug: Slug,
    pub description: String,
    pub price: Money,
    pub stock: u32,
    pub is_active: bool,
    /// Set for generated catalogs; `None` means now.
    pub created_at: Option<DateTime<Utc>>,
}

/// Changes to a product; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProductChanges {
    pub category_id: Option<i32>,
    pub name: Option<String>,
    pub slug: Option<Slug>,
    pub description: Option<String>,
    pub price: Option<Money>,
    pub stock: Option<u32>,
    pub is_active: Option<bool>,
}

/// Every field of a parsed product, replacing the stored ones (its creation
/// time stays).
impl From<NewProduct> for ProductChanges {
    fn from(p: NewProduct) -> Self {
        ProductChanges {
            category_id: Some(p.category_id),
            name: Some(p.name),
            slug: Some(p.slug),
            description: Some(p.description),
            price: Some(p.price),
            stock: Some(p.stock),
            is_active: Some(p.is_active),
        }
    }
}

impl ProductChanges {
    /// The whole product these parsed fields give, or the errors: a field
    /// that is `None` here was reported in `errors` by its parser (or as
    /// missing by the caller). A product is active unless told otherwise.
    pub fn complete(self, errors: FieldErrors) -> Result<NewProduct, FieldErrors> {
        let ProductChanges { category_id, name, slug, description, price, stock, is_active } = self;
        match (category_id, name, slug, description, price, stock) {
            (Some(category_id), Some(name), Some(slug), Some(description), Some(price), Some(stock))
                if errors.is_empty() =>
            {
                let is_active = is_active.unwrap_or(true);
                Ok(NewProduct { category_id, name, slug, description, price, stock, is_active, created_at: None })
            }
            _ => Err(errors),
        }
    }
}

/// Changes to a category; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct CategoryChanges {
    pub name: Option<String>,
    pub slug: Option<Slug>,
    pub description: Option<String>,
}

impl From<NewCategory> for CategoryChanges {
    fn from(c: NewCategory) -> Self {
        CategoryChanges { name: Some(c.name), slug: Some(c.slug), description: Some(c.description) }
    }
}

/// Stock at or below this shows as "only N left" on a listing card.
pub const LOW_STOCK: i32 = 5;

/// What a listing card shows of a product's stock: a band, not the count,
/// so that selling one of many changes no listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    InStock,
    /// Only this many left (1 to [`LOW_STOCK`]).
    Low(i32),
    SoldOut,
}

impl Availability {
    pub fn of(stock: i32) -> Availability {
        match stock {
            s if s <= 0 => Availability::SoldOut,
            s if s <= LOW_STOCK => Availability::Low(s),
            _ => Availability::InStock,
        }
    }
}

pub const REQUIRED: &str = "This field is required.";
/// PostgreSQL text cannot hold NUL (inserting one is a 500 there), so it is
/// refused on both backends, with DRF's message.
const NUL: &str = "Null characters are not allowed.";
pub const NO_SUCH_CATEGORY: &str = "Select a category that exists.";

/// A display name: trimmed, not blank, at most 200 characters, no NUL.
pub fn name(raw: &str, errors: &mut FieldErrors) -> Option<String> {
    let name = raw.trim();
    let problem = if name.is_empty() {
        Some(REQUIRED)
    } else if name.chars().count() > 200 {
        Some("Ensure this field has no more than 200 characters.")
    } else if name.contains('\0') {
        Some(NUL)
    } else {
        None
    };
    match problem {
        Some(message) => {
            errors.add("name", message);
            None
        }
        None => Some(name.to_owned()),
    }
}

pub fn description(raw: &str, errors: &mut FieldErrors) -> Option<String> {
    if raw.contains('\0') {
        errors.add("description", NUL);
        return None;
    }
    Some(raw.trim().to_owned())
}

/// The slug as typed, or derived from the (trimmed, as typed) name when left
/// empty.
pub fn slug(raw: &str, name: &str, errors: &mut FieldErrors) -> Option<Slug> {
    let (raw, name) = (raw.trim(), name.trim());
    if raw.is_empty() && name.is_empty() {
        // The missing name is the error to report.
        return None;
    }
    let slug = if raw.is_empty() {
        Slug::from_name(name).ok_or("Enter a slug: the name has no letters or digits.")
    } else {
        Slug::parse(raw).map_err(|_| "Enter a valid slug: lowercase letters, numbers and hyphens.")
    };
    slug.map_err(|e| errors.add("slug", e)).ok()
}

pub fn price(parsed: Result<Money, super::money::MoneyError>, errors: &mut FieldErrors) -> Option<Money> {
    parsed.map_err(|e| errors.add("price", e.to_string())).ok()
}

/// A stock count, 0 to `i32::MAX` (the column's range); `None` in is a
/// value that was not a whole number.
pub fn stock(count: Option<i64>, errors: &mut FieldErrors) -> Option<u32> {
    match count.map(u32::try_from) {
        Some(Ok(n)) if n <= i32::MAX as u32 => Some(n),
        _ => {
            errors.add("stock", "Enter a whole number, 0 or more.");
            None
        }
    }
}

/// A category id in the form of one; whether it exists is the write's to
/// check, in its transaction.
pub fn category_id(id: Option<i32>, errors: &mut FieldErrors) -> Option<i32> {
    if id.is_none() {
        errors.add("category_id", NO_SUCH_CATEGORY);
    }
    id
}

/// The parsed parts of a category, whichever edge they came from.
pub fn new_category(raw_name: &str, raw_slug: &str, raw_description: &str) -> Result<NewCategory, FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = name(raw_name, &mut errors);
    let slug = slug(raw_slug, raw_name, &mut errors);
    let description = description(raw_description, &mut errors);
    let parts = name.zip(slug).zip(description);
    errors.or_ok(parts).map(|((name, slug), description)| NewCategory { name, slug, description })
}
