//! `/api/products/{id}/images/`: a product's gallery, read by anyone (and
//! cached, under the product's tag) and written by an admin. A POST
//! uploads one or more images (multipart, each in a part named `image`) to
//! the end of it; a PATCH of one image moves it to the `position` given; a
//! DELETE removes it. POST and PATCH answer with the whole gallery in its
//! new order. The product's JSON is unchanged: its shape is the seed's DRF
//! serializer's, which clients compare field by field.

use axum::Json;
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ChangeRefusals, CreateRefusals, DeleteRefusals, ReadRefusals, cached_json, created};
use crate::error::{AppError, Model};
use crate::media::Media;
use crate::routes::extract::{ApiAdmin, JsonBody, ProductId, ProductImagePath, Reads, Writer};
use crate::routes::uploads;
use crate::services::{catalog, images};
use crate::state::{AppState, PublicUrl};
use crate::views::api::ProductImageList;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_images, upload_images)).routes(routes!(move_image, delete_image))
}

/// The multipart body of an upload.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImageUpload {
    /// One or more PNG, JPEG or WebP files, each at most 10 MB and 24
    /// megapixels; the body at most 32 MiB and 10 files.
    #[schema(value_type = Vec<String>, format = Binary)]
    image: Vec<Vec<u8>>,
}

/// Where an image goes in its gallery.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageMove {
    /// 0 is first; past the end is last.
    #[schema(minimum = 0, maximum = 2147483647)]
    position: u32,
}

/// The most a position may be, as documented: the column is an `i32`.
const MAX_POSITION: u32 = i32::MAX as u32;

impl ImageMove {
    fn position(&self) -> Result<u32, AppError> {
        if self.position > MAX_POSITION {
            return Err(AppError::bad_param("position", format!("Ensure this value is at most {MAX_POSITION}.")));
        }
        Ok(self.position)
    }
}

fn missing_product(error: AppError) -> AppError {
    Model::Product.not_found(error)
}

#[utoipa::path(get, path = "/api/products/{id}/images/", tag = "products",
    params(("id" = i32, Path, description = "Product id", minimum = 1)),
    responses((status = 200, description = "An active product's images, in gallery order", body = ProductImageList),
        ReadRefusals))]
async fn list_images(reads: Reads, ProductId(id): ProductId) -> Result<Response, AppError> {
    let list = async {
        // Only an active product's, as its detail: a hidden one is a 404.
        catalog::product_by_id(&reads.db, id).await.map_err(missing_product)?;
        Ok(ProductImageList::new(reads.base.as_str(), &images::gallery(&reads.db, id).await?))
    };
    cached_json(&reads, reads.cache.keys().api_product_images(id), list).await
}

#[utoipa::path(post, path = "/api/products/{id}/images/", tag = "products",
    request_body(content = ImageUpload, content_type = "multipart/form-data"),
    params(("id" = i32, Path, description = "Product id", minimum = 1)), security(("bearer" = [])),
    responses((status = 201, description = "Uploaded: the product's images, the new ones last", body = ProductImageList),
        CreateRefusals))]
async fn upload_images(
    ApiAdmin(Writer { db, cache }): ApiAdmin,
    ProductId(id): ProductId,
    State(media): State<Media>,
    State(base): State<PublicUrl>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, AppError> {
    // Refused before a file is read or decoded.
    catalog::stored_product(&db, id).await.map_err(missing_product)?;
    let body = uploads::read(multipart?, "image", &[]).await?;
    if let Some(unknown) = body.unknown.first() {
        return Err(AppError::bad_param(unknown, "Unknown field: send images as `image`."));
    }
    let stored = uploads::store_all(&media, body.files, "image").await?;
    let gallery = images::add(&db, &cache, id, stored).await?;
    Ok(created(format!("/api/products/{id}/images/"), ProductImageList::new(base.as_str(), &gallery)))
}

#[utoipa::path(patch, path = "/api/products/{id}/images/{image_id}/", tag = "products", request_body = ImageMove,
    params(("id" = i32, Path, minimum = 1), ("image_id" = i32, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, description = "Moved: the product's images in their new order", body = ProductImageList),
        ChangeRefusals))]
async fn move_image(
    ApiAdmin(Writer { db, cache }): ApiAdmin,
    ProductImagePath(id, image_id): ProductImagePath,
    State(base): State<PublicUrl>,
    JsonBody(input): JsonBody<ImageMove>,
) -> Result<Json<ProductImageList>, AppError> {
    let gallery = images::move_to(&db, &cache, id, image_id, input.position()?).await?;
    Ok(Json(ProductImageList::new(base.as_str(), &gallery)))
}

#[utoipa::path(delete, path = "/api/products/{id}/images/{image_id}/", tag = "products",
    params(("id" = i32, Path, minimum = 1), ("image_id" = i32, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), DeleteRefusals))]
async fn delete_image(
    ApiAdmin(Writer { db, cache }): ApiAdmin,
    ProductImagePath(id, image_id): ProductImagePath,
) -> Result<StatusCode, AppError> {
    images::delete(&db, &cache, id, image_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
