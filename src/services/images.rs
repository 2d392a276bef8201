//! Product images in the catalog: which stored images a product shows, in
//! what order, and the writes that change that (add, delete, move), shared
//! by the admin and the API. Each write runs as the other catalog writes
//! do (`writes::write`): in a transaction whose hooks record the product's
//! tags, applied after commit, so every page and API entry showing the
//! product is retired at once. The files are `media`'s, written before the
//! transaction; a file no row names any more is left in place (another
//! product may show the same picture).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};

use crate::cache::Cache;
use crate::error::{AppError, Model as Missing};
use crate::media::{ImageHash, Stored};
use crate::models::{product, product_entity, product_image};
use crate::services::catalog::ProductView;
use crate::services::writes;

/// One image of a product's gallery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GalleryImage {
    pub id: i32,
    pub position: i32,
    pub image: Stored,
}

fn stored(row: &product_image::Model) -> Result<Stored, AppError> {
    let hash = ImageHash::parse(&row.hash)
        .ok_or_else(|| AppError::Internal(format!("product image {} has hash {:?}", row.id, row.hash)))?;
    let size = |v: i32| u32::try_from(v).ok().filter(|v| *v > 0);
    match (size(row.width), size(row.height)) {
        (Some(width), Some(height)) => Ok(Stored { hash, width, height }),
        _ => Err(AppError::Internal(format!("product image {} has size {}x{}", row.id, row.width, row.height))),
    }
}

fn gallery_image(row: &product_image::Model) -> Result<GalleryImage, AppError> {
    Ok(GalleryImage { id: row.id, position: row.position, image: stored(row)? })
}

/// Fills each product's `images`, in one query however many there are.
#[tracing::instrument(name = "images.attach", level = "debug", skip_all, fields(products = products.len()))]
pub async fn attach(db: &impl ConnectionTrait, products: &mut [ProductView]) -> Result<(), AppError> {
    let ids: Vec<i32> = products.iter().map(|p| p.id).collect();
    let rows = product_image::of_products(db, &ids).await?;
    for p in products.iter_mut() {
        p.images = rows.iter().filter(|r| r.product_id == p.id).map(stored).collect::<Result<_, _>>()?;
    }
    Ok(())
}

/// A product's gallery, in order.
#[tracing::instrument(name = "images.gallery", level = "debug", skip(db))]
pub async fn gallery(db: &impl ConnectionTrait, product_id: i32) -> Result<Vec<GalleryImage>, AppError> {
    product_image::of_products(db, &[product_id]).await?.iter().map(gallery_image).collect()
}

/// The product, held until the write commits, so two writes to one
/// gallery take their turns; a 404 in DRF's words when there is none.
async fn lock_product(txn: &DatabaseTransaction, id: i32) -> Result<product::Model, AppError> {
    let found = product_entity::Entity::find_by_id(id).lock_exclusive().one(txn).await?;
    found.ok_or(AppError::NotFound(Missing::Product.missing()))
}

/// Numbers the gallery's rows 0, 1, … in the order `ids` gives. A bulk
/// statement per row, without hooks: the write's own insert, delete or
/// explicit record has recorded the product's tags.
async fn renumber(txn: &DatabaseTransaction, ids: &[i32]) -> Result<(), AppError> {
    for (position, id) in ids.iter().enumerate() {
        product_image::Entity::update_many()
            .col_expr(product_image::Column::Position, Expr::value(i32::try_from(position).unwrap_or(i32::MAX)))
            .filter(product_image::Column::Id.eq(*id))
            .exec(txn)
            .await?;
    }
    Ok(())
}

async fn ids_in_order(txn: &DatabaseTransaction, product_id: i32) -> Result<Vec<i32>, AppError> {
    Ok(product_image::Entity::find()
        .select_only()
        .column(product_image::Column::Id)
        .filter(product_image::Column::ProductId.eq(product_id))
        .order_by_asc(product_image::Column::Position)
        .order_by_asc(product_image::Column::Id)
        .into_tuple()
        .all(txn)
        .await?)
}

/// Adds stored images at the end of a product's gallery, in the order
/// given; returns the whole gallery.
#[tracing::instrument(name = "images.add", skip(db, cache, images), fields(count = images.len()))]
pub async fn add(
    db: &DatabaseConnection,
    cache: &Cache,
    product_id: i32,
    images: Vec<Stored>,
) -> Result<Vec<GalleryImage>, AppError> {
    writes::write(db, cache, |txn| {
        Box::pin(async move {
            lock_product(txn, product_id).await?;
            let next = ids_in_order(txn, product_id).await?.len();
            for (offset, image) in images.into_iter().enumerate() {
                let dimension = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
                product_image::ActiveModel {
                    product_id: Set(product_id),
                    hash: Set(image.hash.to_string()),
                    width: Set(dimension(image.width)),
                    height: Set(dimension(image.height)),
                    position: Set(i32::try_from(next + offset).unwrap_or(i32::MAX)),
                    ..Default::default()
                }
                .insert(txn)
                .await?;
            }
            gallery(txn, product_id).await
        })
    })
    .await
}

/// The image `image_id` of product `product_id`, or DRF's 404.
async fn image_of(txn: &DatabaseTransaction, product_id: i32, image_id: i32) -> Result<product_image::Model, AppError> {
    let found = product_image::Entity::find_by_id(image_id)
        .filter(product_image::Column::ProductId.eq(product_id))
        .one(txn)
        .await?;
    found.ok_or(AppError::NotFound(Missing::ProductImage.missing()))
}

/// Removes an image from a product's gallery; the rest close up.
#[tracing::instrument(name = "images.delete", skip(db, cache))]
pub async fn delete(db: &DatabaseConnection, cache: &Cache, product_id: i32, image_id: i32) -> Result<(), AppError> {
    writes::write(db, cache, |txn| {
        Box::pin(async move {
            lock_product(txn, product_id).await?;
            image_of(txn, product_id, image_id).await?.into_active_model().delete(txn).await?;
            renumber(txn, &ids_in_order(txn, product_id).await?).await
        })
    })
    .await
}

/// Moves an image to `position` in its gallery (0 is first; past the end
/// is last); returns the gallery in its new order.
#[tracing::instrument(name = "images.move_to", skip(db, cache))]
pub async fn move_to(
    db: &DatabaseConnection,
    cache: &Cache,
    product_id: i32,
    image_id: i32,
    position: u32,
) -> Result<Vec<GalleryImage>, AppError> {
    writes::write(db, cache, |txn| {
        Box::pin(async move {
            lock_product(txn, product_id).await?;
            image_of(txn, product_id, image_id).await?;
            let mut ids = ids_in_order(txn, product_id).await?;
            ids.retain(|id| *id != image_id);
            let at = usize::try_from(position).unwrap_or(usize::MAX).min(ids.len());
            ids.insert(at, image_id);
            renumber(txn, &ids).await?;
            // Renumbering runs no hooks: the move is recorded here.
            product::record_shown_change(txn, product_id).await?;
            gallery(txn, product_id).await
        })
    })
    .await
}
