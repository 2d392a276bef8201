//! The JSON API's wire types, shaped like the seed's Django REST Framework
//! API so its clients keep working. Entities never go on the wire directly.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::timestamp;
use crate::domain::order::OrderStatus;
use crate::services::orders::OrderView;
use crate::services::{CategoryRef, CategorySummary, ProductView};

/// A category as embedded in a product: DRF's nested category, every field.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryRefDto {
    pub id: i32,
    pub name: String,
    pub slug: String,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductDto {
    pub id: i32,
    pub name: String,
    pub slug: String,
    pub description: String,
    /// Exact decimal with two places, as a string (never a float).
    #[schema(example = "19.99", pattern = r"^[0-9]+\.[0-9]{2}$")]
    pub price: String,
    #[schema(minimum = 0)]
    pub stock: i32,
    /// Always true on the public reads, which show active products only;
    /// an admin's write answers with the stored value.
    pub is_active: bool,
    pub category: CategoryRefDto,
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(schema_with = timestamp::schema)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(schema_with = timestamp::schema)]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryDto {
    pub id: i32,
    pub name: String,
    pub slug: String,
    pub description: String,
    /// Active products in the category.
    #[schema(minimum = 0)]
    pub product_count: u64,
}

/// A page of products.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductList {
    #[schema(minimum = 0)]
    pub count: u64,
    /// Absolute URL of the next page, or null on the last.
    #[schema(required = true)]
    pub next: Option<String>,
    /// Absolute URL of the previous page, or null on the first.
    #[schema(required = true)]
    pub previous: Option<String>,
    pub results: Vec<ProductDto>,
}

/// A page of categories.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryList {
    #[schema(minimum = 0)]
    pub count: u64,
    #[schema(required = true)]
    pub next: Option<String>,
    #[schema(required = true)]
    pub previous: Option<String>,
    pub results: Vec<CategoryDto>,
}

impl From<&CategoryRef> for CategoryRefDto {
    fn from(c: &CategoryRef) -> Self {
        CategoryRefDto { id: c.id, name: c.name.clone(), slug: c.slug.clone(), description: c.description.clone() }
    }
}

impl From<&ProductView> for ProductDto {
    fn from(p: &ProductView) -> Self {
        ProductDto {
            id: p.id,
            name: p.name.clone(),
            slug: p.slug.clone(),
            description: p.description.clone(),
            price: p.price.to_string(),
            stock: p.stock,
            is_active: p.is_active,
            category: (&p.category).into(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

impl From<&CategorySummary> for CategoryDto {
    fn from(c: &CategorySummary) -> Self {
        CategoryDto {
            id: c.id,
            name: c.name.clone(),
            slug: c.slug.clone(),
            description: c.description.clone(),
            product_count: c.product_count,
        }
    }
}

/// Query parameters of `GET /api/products/`, for the OpenAPI document. The
/// handler parses the raw query itself (see `domain::listing`), so that every
/// bad parameter is reported at once in the API's error shape; a test checks
/// that each parameter documented here is accepted.
#[allow(dead_code)]
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductListParams {
    /// Every term must occur in the name or description, ignoring case (each character compared in upper case, as DRF on PostgreSQL). Terms are separated by whitespace or commas; a phrase in double or single quotes is one term. At most 200 characters, and at most 8 different terms once repeated terms and terms contained in another are dropped.
    #[param(max_length = 200)]
    search: Option<String>,
    /// Only products of the category with this id.
    #[serde(rename = "category__id")]
    category_id: Option<i32>,
    /// Only products of the category with this slug.
    #[param(pattern = "^([a-z0-9]+(-[a-z0-9]+)*)?$", max_length = 200)]
    category: Option<String>,
    /// Lowest price, a decimal with at most 2 places.
    #[param(pattern = r"^[0-9]*\.?[0-9]{0,2}$", example = "10.00")]
    min_price: Option<String>,
    /// Highest price, a decimal with at most 2 places; not below min_price.
    #[param(pattern = r"^[0-9]*\.?[0-9]{0,2}$", example = "99.99")]
    max_price: Option<String>,
    /// true: only products in stock.
    in_stock: Option<bool>,
    /// Sort order: fields separated by commas, each descending with a leading `-`, e.g. `-price,name`; then by id. Default -created_at (newest first).
    #[param(pattern = "^-?(price|name|created_at)(,-?(price|name|created_at))*$", example = "-price,name")]
    ordering: Option<String>,
    /// 1-based page number, or `last`.
    #[param(pattern = "^([1-9][0-9]{0,8}|last)$", example = "last")]
    page: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<u32>,
}

/// Query parameters of `GET /api/categories/`.
#[allow(dead_code)]
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1-based page number, or `last`.
    #[param(pattern = "^([1-9][0-9]{0,8}|last)$", example = "last")]
    page: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<u32>,
}

/// Where an order goes, as the API shows and takes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShippingDto {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "FR", pattern = "^[A-Z]{2}$")]
    pub country: String,
}

/// A line of an order: what was bought, at the price it was bought at.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLineDto {
    /// The product, or null once it has been deleted.
    #[schema(required = true)]
    pub product_id: Option<i32>,
    /// The product's name when the order was placed.
    pub name: String,
    /// The price when the order was placed: a decimal string.
    #[schema(example = "19.99", pattern = r"^[0-9]+\.[0-9]{2}$")]
    pub unit_price: String,
    #[schema(minimum = 1)]
    pub quantity: u32,
    #[schema(example = "39.98", pattern = r"^[0-9]+\.[0-9]{2}$")]
    pub line_total: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDto {
    /// `SF-` and 10 base32 characters.
    #[schema(example = "SF-7K2M9QX4TD", pattern = "^SF-[0-9A-HJKMNP-TV-Z]{10}$")]
    pub number: String,
    pub status: OrderStatus,
    pub email: String,
    pub shipping: ShippingDto,
    pub lines: Vec<OrderLineDto>,
    #[schema(example = "39.98", pattern = r"^[0-9]+\.[0-9]{2}$")]
    pub total: String,
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(schema_with = timestamp::schema)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(schema_with = timestamp::schema)]
    pub updated_at: DateTime<Utc>,
}

/// A page of orders, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderList {
    #[schema(minimum = 0)]
    pub count: u64,
    #[schema(required = true)]
    pub next: Option<String>,
    #[schema(required = true)]
    pub previous: Option<String>,
    pub results: Vec<OrderDto>,
}

impl From<&OrderView> for OrderDto {
    fn from(o: &OrderView) -> Self {
        OrderDto {
            number: o.number.clone(),
            status: o.status,
            email: o.email.clone(),
            shipping: ShippingDto {
                name: o.ship_name.clone(),
                line1: o.ship_line1.clone(),
                line2: o.ship_line2.clone(),
                city: o.ship_city.clone(),
                postal_code: o.ship_postal_code.clone(),
                country: o.ship_country.clone(),
            },
            lines: o
                .lines
                .iter()
                .map(|l| OrderLineDto {
                    product_id: l.product_id,
                    name: l.name.clone(),
                    unit_price: l.unit_price.to_string(),
                    quantity: l.quantity,
                    line_total: l.line_total.to_string(),
                })
                .collect(),
            total: o.total.to_string(),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

/// Query parameters of `GET /api/orders/`.
#[allow(dead_code)]
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderListParams {
    /// Only orders in this state.
    #[param(inline)]
    status: Option<OrderStatus>,
    /// An order number, or part of an email address.
    #[param(max_length = 200)]
    search: Option<String>,
    /// 1-based page number, or `last`.
    #[param(pattern = "^([1-9][0-9]{0,8}|last)$", example = "last")]
    page: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<u32>,
}

/// The API's root: the absolute URL of each resource's list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiRoot {
    #[schema(example = "https://shop.example/api/products/")]
    pub products: String,
    #[schema(example = "https://shop.example/api/categories/")]
    pub categories: String,
    #[schema(example = "https://shop.example/api/orders/")]
    pub orders: String,
}

/// One file of a product image: a width, in both formats.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageVariantDto {
    #[schema(minimum = 1)]
    pub width: u32,
    #[schema(minimum = 1)]
    pub height: u32,
    /// Absolute URL of the WebP file.
    pub webp: String,
    /// Absolute URL of the JPEG file, for clients without WebP.
    pub jpeg: String,
}

/// An image of a product's gallery.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductImageDto {
    pub id: i32,
    /// Place in the gallery, from 0; the first is the product's picture.
    #[schema(minimum = 0)]
    pub position: i32,
    /// The original's size, upright.
    #[schema(minimum = 1)]
    pub width: u32,
    #[schema(minimum = 1)]
    pub height: u32,
    /// The widths it is served at, narrowest first (never wider than the
    /// original).
    pub variants: Vec<ImageVariantDto>,
}

/// A product's images, in gallery order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductImageList {
    pub images: Vec<ProductImageDto>,
}

impl ProductImageList {
    /// The gallery, with URLs under `base` (the public origin).
    pub fn new(base: &str, gallery: &[crate::services::images::GalleryImage]) -> Self {
        use crate::media::Format;
        let dto = |g: &crate::services::images::GalleryImage| {
            let image = &g.image;
            let variants = image
                .widths()
                .into_iter()
                .map(|width| ImageVariantDto {
                    width,
                    height: crate::media::process::scaled_height((image.width, image.height), width),
                    webp: format!("{base}{}", image.url(width, Format::Webp)),
                    jpeg: format!("{base}{}", image.url(width, Format::Jpeg)),
                })
                .collect();
            ProductImageDto { id: g.id, position: g.position, width: image.width, height: image.height, variants }
        };
        ProductImageList { images: gallery.iter().map(dto).collect() }
    }
}
