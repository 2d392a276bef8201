//! The admin's server-rendered pages: lists and forms. A form keeps its
//! fields as typed, so a refused one is shown again unchanged.

use askama::Template;
use serde::Deserialize;

use super::pages::Shell;
use crate::domain::FieldErrors;
use crate::domain::order::OrderStatus;
use crate::services::CategorySummary;
use crate::services::catalog::ProductView;
use crate::services::images::GalleryImage;
use crate::services::orders::OrderView;

/// A product form as typed (kept when it is shown again with errors).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProductForm {
    pub name: String,
    pub slug: String,
    pub category_id: String,
    pub price: String,
    pub stock: String,
    pub description: String,
    pub is_active: String,
    pub csrf: String,
}

impl ProductForm {
    /// Whether the box is ticked (a ticked box sends any value).
    pub fn is_active(&self) -> bool {
        !self.is_active.is_empty()
    }

    /// A product's current values, as its edit form shows them.
    pub fn from_model(p: crate::models::product::Model) -> Self {
        ProductForm {
            name: p.name,
            slug: p.slug,
            category_id: p.category_id.to_string(),
            price: crate::domain::Money::from_cents(p.price_cents).map(|m| m.to_string()).unwrap_or_default(),
            stock: p.stock.to_string(),
            description: p.description,
            is_active: if p.is_active { "1".into() } else { String::new() },
            csrf: String::new(),
        }
    }
}

/// A category form as typed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CategoryForm {
    pub name: String,
    pub slug: String,
    pub description: String,
    pub csrf: String,
}

impl CategoryForm {
    /// A category's current values, as its edit form shows them.
    pub fn from_model(c: crate::models::category::Model) -> Self {
        CategoryForm { name: c.name, slug: c.slug, description: c.description, csrf: String::new() }
    }
}

#[derive(Template)]
#[template(path = "admin/products.html")]
pub struct ProductsPage {
    pub shell: Shell,
    pub q: String,
    pub products: Vec<ProductView>,
    pub count: u64,
    pub page: u32,
    pub page_count: u32,
    pub previous: Option<String>,
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/product_form.html")]
pub struct ProductFormPage {
    pub shell: Shell,
    pub id: Option<i32>,
    /// The saved product's images, in gallery order.
    pub images: Vec<GalleryImage>,
    pub csrf: String,
    pub form: ProductForm,
    pub errors: FieldErrors,
    pub categories: Vec<CategorySummary>,
}

#[derive(Template)]
#[template(path = "admin/categories.html")]
pub struct CategoriesPage {
    pub shell: Shell,
    pub categories: Vec<CategorySummary>,
}

#[derive(Template)]
#[template(path = "admin/category_form.html")]
pub struct CategoryFormPage {
    pub shell: Shell,
    pub id: Option<i32>,
    pub csrf: String,
    pub form: CategoryForm,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "admin/orders.html")]
pub struct OrdersPage {
    pub shell: Shell,
    /// The status filtered on, `""` for all.
    pub status: String,
    pub statuses: [OrderStatus; 4],
    pub q: String,
    pub orders: Vec<OrderView>,
    pub count: u64,
    pub page: u32,
    pub page_count: u32,
    pub previous: Option<String>,
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/order.html")]
pub struct OrderDetailPage {
    pub shell: Shell,
    pub csrf: String,
    pub order: OrderView,
    pub country: String,
    /// Why the last move was refused, if it was.
    pub error: String,
}
